"""/dev/mem backend: the GPU window mapped straight from physical memory (last-resort fallback).

Facts (rk3588-platform-and-uio.md §5): opening /dev/mem needs root (``CAP_SYS_RAWIO``) and no
lockdown; the mapping offset must be page aligned (``pread``/``pwrite`` do not work for MMIO on
arm64); non-RAM pages are mapped Device-nGnRnE whatever the flags (``O_SYNC`` is passed anyway for
portability); ``CONFIG_IO_STRICT_DEVMEM`` refuses ranges a driver has claimed (panthor bound to
``fb000000.gpu``). /dev/mem gives no interrupts and no power management: interrupts can come from
IRQ-only UIO nodes (§7.4), and power, clocks and regulator must already be on (§6) — touching the
window while the GPU domain is off can hang the CPU, which is why the window is read-only unless
``allow_writes=True``.
"""

from __future__ import annotations

import mmap
import os
import stat

from ..errors import AccessDenied, DeviceNotFound, InvalidArgument
from .base import RK3588_GPU_BASE, RK3588_GPU_SIZE, MappedMmioRegion, Platform
from .clock import RealClock
from .dma import DmaAllocator
from .uio import DEFAULT_PREFIX, PAGESIZE, UioIrqLine, find_gpu_uio_nodes, open_uio_device


class DevMemMmioRegion(MappedMmioRegion):
    """A :class:`MappedMmioRegion` whose write refusal names the option that enables writes."""

    def _refuse_write(self, offset: int, value: object) -> None:
        if not self.writable:
            self._check_open()
            self.check_offset(offset)
            raise AccessDenied(
                f"{self.name}: the devmem backend maps the GPU window read-only (write of {value!r} to "
                f"{offset:#x} refused); open it with allow_writes=True to enable writes",
                offset=offset,
            )
        super()._refuse_write(offset, value)


class DevMemPlatform(Platform):
    """The GPU window (and optionally a carveout) through ``<dev_root>/mem``.

    Args:
        dev_root: directory holding ``mem`` (and the ``uioN`` files for ``uio_irqs``).
        allow_writes: map read/write; otherwise the window is read-only and writes raise
            :class:`AccessDenied`.
        base: physical address of the GPU window (RK3588: 0xfb000000).
        size: window size in bytes (RK3588: 0x200000).
        carveout: ``(phys, size)`` of a ``no-map`` DMA carveout to map (needs ``allow_writes``).
        uio_irqs: take the GPU interrupts from IRQ-only UIO nodes (``mali-hil-job/mmu/gpu``).
        sysfs_root: sysfs mount point used to find those nodes.
        prefix: their UIO name prefix.

    Raises:
        InvalidArgument: malformed base/size/carveout, or the file is too short (fake trees).
        AccessDenied: /dev/mem cannot be opened or mapped (needs root; STRICT_DEVMEM), or a carveout
            was requested without ``allow_writes``.
        DeviceNotFound: /dev/mem does not exist.
    """

    name = "devmem"
    OPTIONS = ("dev_root", "allow_writes", "base", "size", "carveout", "uio_irqs", "sysfs_root", "prefix")

    def __init__(self, dev_root: str = "/dev", allow_writes: bool = False, base: int = RK3588_GPU_BASE,
                 size: int = RK3588_GPU_SIZE, carveout: tuple[int, int] | None = None,
                 uio_irqs: bool = False, sysfs_root: str = "/sys", prefix: str = DEFAULT_PREFIX) -> None:
        super().__init__()
        _check_range("GPU window", base, size, align=4)
        if carveout is not None:
            _check_carveout(carveout, base, size, allow_writes)
        self.clock = RealClock()
        self.allow_writes = bool(allow_writes)
        self.path = os.path.join(dev_root, "mem")
        self.fd = -1
        self.uio_fds: list[int] = []
        self._mappings: list[mmap.mmap] = []
        try:
            self._open(base, size, carveout)
            if uio_irqs:
                self._open_irqs(sysfs_root, dev_root, prefix)
        except BaseException:
            self.close()
            raise

    def _open(self, base: int, size: int, carveout: tuple[int, int] | None) -> None:
        flags = (os.O_RDWR if self.allow_writes else os.O_RDONLY) | os.O_SYNC | os.O_CLOEXEC
        try:
            self.fd = os.open(self.path, flags)
        except PermissionError:
            raise AccessDenied(f"cannot open {self.path}: permission denied (needs root / CAP_SYS_RAWIO "
                               "and no kernel lockdown); prefer the uio backend") from None
        except FileNotFoundError:
            raise DeviceNotFound(f"{self.path} does not exist (kernel without CONFIG_DEVMEM?)") from None
        mm, skew = self._map(base, size, "GPU window")
        self.regions["gpu"] = DevMemMmioRegion("gpu", mm, size=size, phys_base=base, offset=skew,
                                               writable=self.allow_writes)
        mode = "read/write" if self.allow_writes else "read-only (allow_writes=False)"
        self.notes.append(f"devmem: GPU window {base:#x}+{size:#x} from {self.path}, {mode}")
        if carveout is not None:
            phys, length = carveout
            mm, skew = self._map(phys, length, "carveout")
            view = memoryview(mm)[skew:skew + length]
            try:
                # /dev/mem maps of no-map RAM are Device-nGnRnE (§5): no memset/memcpy on them.
                self.dma = DmaAllocator(phys, length, view, device_memory=True, name="devmem carveout")
            finally:
                view.release()
            self.notes.append(f"devmem: carveout {phys:#x}+{length:#x}")
        else:
            self.notes.append("devmem: no carveout given; DMA allocation is unavailable")

    def _map(self, phys: int, size: int, what: str) -> tuple[mmap.mmap, int]:
        """Map ``[phys, phys+size)``; returns the mapping and the offset of ``phys`` inside it."""
        start = phys - phys % PAGESIZE
        length = -(-(phys + size - start) // PAGESIZE) * PAGESIZE
        st = os.fstat(self.fd)
        # A sparse regular file stands in for /dev/mem in tests; reading past its end is SIGBUS.
        if stat.S_ISREG(st.st_mode) and st.st_size < start + length:
            raise InvalidArgument(f"{self.path}: {what} {phys:#x}+{size:#x} lies past the end of the "
                                  f"file ({st.st_size:#x} bytes)")
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if self.allow_writes else 0)
        try:
            mm = mmap.mmap(self.fd, length, flags=mmap.MAP_SHARED, prot=prot, offset=start)
        except PermissionError:
            raise AccessDenied(
                f"{self.path}: mapping the {what} {phys:#x}+{size:#x} was refused (CONFIG_STRICT_DEVMEM / "
                "CONFIG_IO_STRICT_DEVMEM: is panthor bound to fb000000.gpu? boot with iomem=relaxed)"
            ) from None
        except OSError as err:
            raise InvalidArgument(f"{self.path}: mapping the {what} {phys:#x}+{size:#x} failed: "
                                  f"{err.strerror}", errno=err.errno) from None
        self._mappings.append(mm)
        return mm, phys - start

    def _open_irqs(self, sysfs_root: str, dev_root: str, prefix: str) -> None:
        nodes = find_gpu_uio_nodes(sysfs_root, prefix)
        for node in nodes.values():
            if node.irq is None or node.irq in self.irqs:
                continue
            fd, path = open_uio_device(node, dev_root)
            self.uio_fds.append(fd)
            self.irqs[node.irq] = UioIrqLine(node.irq, fd, path, node=node.name,
                                             initial_count=node.event, clock=self.clock)
            self.notes.append(f"devmem: irq {node.irq} = {node.name} ({node.uio})")
        if not self.irqs:
            self.notes.append(f"devmem: uio_irqs=True but no {prefix}* UIO node delivers a GPU interrupt "
                              f"under {os.path.join(sysfs_root, 'class', 'uio')}; poll the IRQ registers")

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        for mm in self._mappings:
            try:
                mm.close()
            except BufferError:
                pass  # callers still hold views; the mapping goes away with the last of them
        self._mappings.clear()
        for fd in self.uio_fds:
            os.close(fd)
        self.uio_fds.clear()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _check_range(what: str, phys: object, size: object, align: int) -> None:
    if not isinstance(phys, int) or not isinstance(size, int) or phys < 0 or size <= 0:
        raise InvalidArgument(f"devmem: {what} {phys!r}+{size!r} must be a non-negative address and a "
                              "positive size")
    if phys % align or size % align:
        raise InvalidArgument(f"devmem: {what} {phys:#x}+{size:#x} is not {align}-byte aligned")


def _check_carveout(carveout: object, base: int, size: int, allow_writes: bool) -> None:
    if not isinstance(carveout, (tuple, list)) or len(carveout) != 2:
        raise InvalidArgument(f"devmem: carveout must be (phys, size), got {carveout!r}")
    phys, length = carveout
    _check_range("carveout", phys, length, align=PAGESIZE)
    if phys < base + size and base < phys + length:
        raise InvalidArgument(f"devmem: carveout {phys:#x}+{length:#x} overlaps the GPU window "
                              f"{base:#x}+{size:#x}")
    if not allow_writes:
        raise AccessDenied("devmem: a carveout must be writable; open with allow_writes=True to map "
                           f"{phys:#x}+{length:#x}")
