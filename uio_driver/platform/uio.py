"""UIO backend: the GPU through ``uio_pdrv_genirq`` nodes (``/dev/uioN`` + ``/sys/class/uio``).

The example overlay (rk3588-platform-and-uio.md §7.4) creates three UIO nodes, one per GPU interrupt
line, named ``mali-hil-job``, ``mali-hil-mmu`` and ``mali-hil-gpu``; ``mali-hil-job`` also carries map0
= the GPU registers (0xfb000000, 2 MiB) and map1 = the ``no-map`` DMA carveout. Facts used here
(same document, §3):

* map M is selected by the mmap *offset* M x page size; the byte offset of the data inside the first
  page is ``maps/mapM/offset`` (§3.3);
* UIO maps are Device-nGnRnE, so the carveout allocator runs in ``device_memory`` mode (§3.8);
* ``read(fd, 4)`` blocks until the event count changes and returns it (native-endian s32);
  ``write(fd, s32)`` with 1/0 unmasks/masks the line; after delivery the line stays masked until
  userspace writes 1 (§3.4);
* the last ``close()`` of a node may power the GPU domain off, so every fd stays open for the whole
  run (§3.5).

Nodes are discovered by name (never by ``uioN`` number, which is allocation order), or, when the
names differ, by the map at the GPU's physical address; the sysfs side of that lives in
:mod:`uio_driver.platform.uio_sysfs` and is re-exported here.
"""

from __future__ import annotations

import errno
import logging
import math
import mmap
import os
import select
import stat
import struct

from ..errors import AccessDenied, DeviceNotFound, HardwareFault, InvalidArgument, MaliError, NotSupported
from .base import RK3588_GPU_BASE, RK3588_GPU_SIZE, Clock, IrqLine, MappedMmioRegion, Platform
from .clock import RealClock
from .dma import DmaAllocator

# Discovery lives in uio_sysfs.py; every name is re-exported so existing imports keep working.
from .uio_sysfs import (
    _MAP_DIR,  # noqa: F401
    _UIO_DIR,  # noqa: F401
    CARVEOUT_MAP_NAME,
    DEFAULT_PREFIX,
    GPU_REGS_MAP_NAME,  # noqa: F401
    GPU_SPI_TO_IRQ,  # noqa: F401
    PAGESIZE,  # noqa: F401
    UioMap,
    UioNodeInfo,
    _find_by_address,  # noqa: F401
    _list_uio,  # noqa: F401
    _list_uio_pyudev,  # noqa: F401
    _read_bytes,  # noqa: F401
    _read_int,  # noqa: F401
    _read_maps,  # noqa: F401
    _read_node,  # noqa: F401
    _read_of_node,  # noqa: F401
    _read_text,  # noqa: F401
    _walk_uio_class,  # noqa: F401
    find_gpu_uio_nodes,
)

log = logging.getLogger(__name__)

_S32 = struct.Struct("=i")  # uio.c: irqcontrol/event count are a native-endian s32

UDEV_HINT = (
    "install the udev rule (`mali-uio setup udev`: /etc/udev/rules.d/60-mali-hil.rules gives the "
    "mali-hil-* nodes GROUP=gpuhil MODE=0660) and add your user to group gpuhil, or run as root"
)


# --------------------------------------------------------------------------------------------
# Device files and maps
# --------------------------------------------------------------------------------------------


def open_uio_device(node: UioNodeInfo, dev_root: str = "/dev") -> tuple[int, str]:
    """Open ``<dev_root>/uioN`` read/write.

    Returns:
        (fd, path). Keep the fd open for the whole run: the last close may power the GPU off.

    Raises:
        AccessDenied: permission denied (names the node and the udev rule to install).
        DeviceNotFound: sysfs lists the node but the device file is missing.
    """
    path = os.path.join(dev_root, node.uio)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except PermissionError:
        raise AccessDenied(f"cannot open {path} (UIO node {node.name!r}): permission denied; "
                           f"{UDEV_HINT}") from None
    except FileNotFoundError:
        raise DeviceNotFound(f"sysfs lists {node.uio} ({node.name!r}) but {path} does not exist "
                             f"(dev_root={dev_root!r})") from None
    except OSError as err:
        raise DeviceNotFound(f"cannot open {path} (UIO node {node.name!r}): {err.strerror}",
                             errno=err.errno) from None
    return fd, path


def map_uio(fd: int, path: str, node: UioNodeInfo, m: UioMap) -> mmap.mmap:
    """mmap map ``m`` of an open UIO node (read/write, MAP_SHARED).

    Raises:
        InvalidArgument: the kernel refused the length/offset, or (fake tree) the file is too short.
        AccessDenied: the kernel refused the mapping for permissions.
    """
    where = f"{path} ({node.name!r}) map{m.index} {m.name!r}"
    st = os.fstat(fd)
    # A regular file stands in for /dev/uioN in tests; touching a mapping past its end would kill
    # the process with SIGBUS, so refuse up front.
    if stat.S_ISREG(st.st_mode) and st.st_size < m.mmap_offset + m.mmap_length:
        raise InvalidArgument(f"{where}: backing file has {st.st_size:#x} bytes, map needs "
                              f"{m.mmap_offset + m.mmap_length:#x}")
    try:
        return mmap.mmap(fd, m.mmap_length, flags=mmap.MAP_SHARED,
                         prot=mmap.PROT_READ | mmap.PROT_WRITE, offset=m.mmap_offset)
    except PermissionError:
        raise AccessDenied(f"{where}: mmap refused (permission denied); {UDEV_HINT}") from None
    except OSError as err:
        raise InvalidArgument(f"{where}: mmap of {m.mmap_length:#x} bytes at offset {m.mmap_offset:#x} "
                              f"failed: {err.strerror}", errno=err.errno) from None


# --------------------------------------------------------------------------------------------
# IRQ line
# --------------------------------------------------------------------------------------------


class UioIrqLine(IrqLine):
    """One GPU interrupt line delivered through a UIO node's fd (reference §3.4).

    Args:
        name: "job", "mmu" or "gpu".
        fd: open fd of the node (not closed by this object unless ``owns_fd``).
        path: device path, for messages.
        node: UIO node name, for messages.
        initial_count: event count at discovery, the base for :attr:`last_delta`.
        clock: time source for the wait deadline (real time).
        owns_fd: close ``fd`` in :meth:`close`.
    """

    def __init__(self, name: str, fd: int, path: str, *, node: str = "", initial_count: int | None = None,
                 clock: Clock | None = None, owns_fd: bool = False) -> None:
        self.name = name
        self.fd = fd
        self.path = path
        self.node = node or path
        self.clock = clock if clock is not None else RealClock()
        self.owns_fd = owns_fd
        #: Event count returned by the last read (the kernel's running total).
        self.last_count: int | None = initial_count
        #: Interrupts counted by the last read (>= 1; the count may jump by more, §3.4).
        self.last_delta = 0
        self.closed = False
        # Non-blocking reads: if poll() reported readable but another reader took the event, the read
        # says EAGAIN instead of blocking past the caller's timeout.
        os.set_blocking(fd, False)
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN | select.POLLPRI)

    def enable(self) -> None:
        """Unmask the line (write s32 1)."""
        self._control(1)

    def disable(self) -> None:
        """Mask the line (write s32 0)."""
        self._control(0)

    def acknowledge(self) -> None:
        """Unmask the line after the device-level cause was cleared (write s32 1)."""
        self._control(1)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for an interrupt; read the 4-byte event count on delivery.

        Returns:
            True when an interrupt was delivered (the kernel masked the line; :meth:`acknowledge`
            unmasks it), False on timeout.

        Raises:
            InvalidArgument: negative, NaN or infinite timeout.
            DeviceNotFound: the node has no interrupt (read gives EIO) or the fd is closed.
        """
        if not 0 <= timeout < math.inf:
            raise InvalidArgument(f"irq {self.name}: wait timeout {timeout!r} must be finite and >= 0")
        self._check_open()
        deadline = self.clock.now() + timeout
        while True:
            remaining = max(0.0, deadline - self.clock.now())
            # poll() takes whole milliseconds; round up so a wait never ends before its timeout.
            if self._poll.poll(math.ceil(remaining * 1000)) and self._read_count():
                return True
            if self.clock.now() >= deadline:
                return False

    def _read_count(self) -> bool:
        try:
            data = os.read(self.fd, _S32.size)
        except BlockingIOError:
            return False  # readable was stale: keep waiting until the deadline
        except OSError as err:
            raise self._os_error(err, "read") from None
        if len(data) != _S32.size:
            raise HardwareFault(f"irq {self.name}: read of {self.path} returned {len(data)} bytes, "
                                f"expected the {_S32.size}-byte event count")
        (count,) = _S32.unpack(data)
        previous = self.last_count
        self.last_delta = max(1, (count - previous) & 0xFFFFFFFF) if previous is not None else 1
        self.last_count = count
        return True

    def _control(self, value: int) -> None:
        self._check_open()
        try:
            written = os.write(self.fd, _S32.pack(value))
        except OSError as err:
            raise self._os_error(err, "write") from None
        if written != _S32.size:
            raise HardwareFault(f"irq {self.name}: write of {value} to {self.path} stored {written} of "
                                f"{_S32.size} bytes")

    def _os_error(self, err: OSError, op: str) -> MaliError:
        if err.errno == errno.EIO:
            return DeviceNotFound(f"irq {self.name}: {op} on {self.path} ({self.node}) failed with EIO: "
                                  "the node has no interrupt or the device is gone", errno=errno.EIO)
        if err.errno == errno.ENOSYS:
            return NotSupported(f"irq {self.name}: {self.path} ({self.node}) cannot mask/unmask its "
                                "interrupt (driver has no irqcontrol)")
        return HardwareFault(f"irq {self.name}: {op} on {self.path} ({self.node}) failed: {err.strerror}",
                             errno=err.errno)

    def _check_open(self) -> None:
        if self.closed:
            raise DeviceNotFound(f"irq {self.name}: {self.path} used after close()", errno=errno.EBADF)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self._poll.unregister(self.fd)
        except (KeyError, ValueError):
            pass
        if self.owns_fd:
            os.close(self.fd)


# --------------------------------------------------------------------------------------------
# Platform
# --------------------------------------------------------------------------------------------


class UioPlatform(Platform):
    """The GPU through UIO: MMIO from the GPU node's register map, DMA from the carveout map, one
    :class:`UioIrqLine` per node that delivers a GPU interrupt, real time.

    Build it with :meth:`discover`. Every node's fd stays open until :meth:`close`.
    """

    name = "uio"
    OPTIONS = ("sysfs_root", "dev_root", "prefix", "carveout")

    def __init__(self) -> None:
        super().__init__()
        self.clock = RealClock()
        self.nodes: dict[str, UioNodeInfo] = {}
        self.fds: dict[str, int] = {}
        self._mappings: list[mmap.mmap] = []

    @classmethod
    def discover(cls, sysfs_root: str = "/sys", dev_root: str = "/dev", prefix: str = DEFAULT_PREFIX,
                 carveout: bool | int | str | None = None) -> UioPlatform:
        """Find the GPU's UIO nodes, open them and map the GPU registers and the carveout.

        Args:
            sysfs_root: sysfs mount point (a fake tree in tests).
            dev_root: directory holding the ``uioN`` device files.
            prefix: UIO name prefix of the GPU nodes.
            carveout: which map is the DMA carveout: None = the map named "dma", else the GPU node's
                first other map, else none; True = the same but required; False = none; an int = that
                map index of the GPU node; a str = the map of that name on any GPU node.

        Returns:
            An open platform; nothing is left open when this raises.

        Raises:
            DeviceNotFound: no node with the GPU register map, a requested carveout map is missing,
                or a device file is missing.
            AccessDenied: a device file or map cannot be opened for permissions.
            InvalidArgument: the GPU map has the wrong size, the carveout is not page aligned, or
                an option is malformed.
        """
        nodes = find_gpu_uio_nodes(sysfs_root, prefix)
        gpu_node, gpu_map = _select_gpu_map(nodes, sysfs_root, prefix)
        carve = _select_carveout(nodes, gpu_node, gpu_map, carveout)
        platform = cls()
        try:
            platform._open(nodes, dev_root, gpu_node, gpu_map, carve)
        except BaseException:
            platform.close()
            raise
        return platform

    def _open(self, nodes: dict[str, UioNodeInfo], dev_root: str, gpu_node: UioNodeInfo, gpu_map: UioMap,
              carve: tuple[UioNodeInfo, UioMap] | None) -> None:
        self.nodes = dict(nodes)
        for node in nodes.values():
            self.notes.extend(node.notes)
        paths = {}
        for key, node in nodes.items():
            self.fds[key], paths[key] = open_uio_device(node, dev_root)
        mm = self._map(gpu_node, paths[gpu_node.key], gpu_map)
        self.regions["gpu"] = MappedMmioRegion("gpu", mm, size=RK3588_GPU_SIZE, phys_base=gpu_map.phys,
                                               offset=gpu_map.offset)
        self.notes.append(f"uio: GPU registers = {gpu_node.name} ({gpu_node.uio}) map{gpu_map.index} "
                          f"{gpu_map.name!r} at {gpu_map.phys:#x}+{RK3588_GPU_SIZE:#x}")
        if carve is not None:
            self.dma = self._carveout(*carve, paths[carve[0].key])
        else:
            self.notes.append("uio: no carveout map; DMA allocation is unavailable")
        for key, node in nodes.items():
            if node.irq is None:
                continue
            if node.irq in self.irqs:
                self.notes.append(f"uio: {node.name} also delivers {node.irq}; keeping the first node")
                continue
            self.irqs[node.irq] = UioIrqLine(node.irq, self.fds[key], paths[key], node=node.name,
                                             initial_count=node.event, clock=self.clock)
            self.notes.append(f"uio: irq {node.irq} = {node.name} ({node.uio})")

    def _map(self, node: UioNodeInfo, path: str, m: UioMap) -> mmap.mmap:
        mm = map_uio(self.fds[node.key], path, node, m)
        self._mappings.append(mm)
        return mm

    def _carveout(self, node: UioNodeInfo, m: UioMap, path: str) -> DmaAllocator:
        mm = self._map(node, path, m)
        view = memoryview(mm)[m.offset:m.offset + m.length]
        try:
            # UIO maps are Device-nGnRnE (reference §3.3/§3.8): no memset/memcpy on them.
            allocator = DmaAllocator(m.phys, m.length, view, device_memory=True,
                                     name=f"{node.name} map{m.index} {m.name!r}")
        finally:
            view.release()
        self.notes.append(f"uio: carveout = {node.name} ({node.uio}) map{m.index} {m.name!r} at "
                          f"{m.phys:#x}+{m.length:#x}")
        return allocator

    def describe(self) -> dict[str, object]:
        info = super().describe()
        info["nodes"] = {key: node.to_dict() for key, node in self.nodes.items()}
        return info

    def close(self) -> None:
        """Unmap and close every node (the GPU domain may power off after the last close)."""
        if self.closed:
            return
        super().close()
        for mm in self._mappings:
            try:
                mm.close()
            except BufferError:
                # Callers still hold views (DMA buffers, NumPy arrays); the mapping goes away with
                # the last of them.
                log.debug("uio: mapping still exported at close; left to the garbage collector")
        self._mappings.clear()
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()


def _select_gpu_map(nodes: dict[str, UioNodeInfo], sysfs_root: str,
                    prefix: str) -> tuple[UioNodeInfo, UioMap]:
    """The node and map holding the GPU registers; checks the map's size."""
    for node in nodes.values():
        m = node.gpu_map
        if m is None:
            continue
        if m.length < RK3588_GPU_SIZE:
            raise InvalidArgument(
                f"{node.name} ({node.uio}) map{m.index} {m.name!r} is {m.length:#x} bytes, too small for "
                f"the {RK3588_GPU_SIZE:#x}-byte GPU window (reg of gpu@fb000000)", value=m.length)
        if m.length != RK3588_GPU_SIZE:
            raise InvalidArgument(
                f"{node.name} ({node.uio}) map{m.index} {m.name!r} is {m.length:#x} bytes; the GPU window "
                f"is exactly {RK3588_GPU_SIZE:#x} (reg of gpu@fb000000): check the overlay", value=m.length)
        return node, m
    where = os.path.join(sysfs_root, "class", "uio")
    seen = ", ".join(f"{n.name} ({n.uio})" for n in nodes.values()) or "none"
    raise DeviceNotFound(
        f"no GPU UIO node: searched {where} for a node named {prefix}* with the GPU register map "
        f"({RK3588_GPU_BASE:#x}, {RK3588_GPU_SIZE:#x} bytes) or any node mapping {RK3588_GPU_BASE:#x}; "
        f"matching nodes: {seen}")


def _select_carveout(nodes: dict[str, UioNodeInfo], gpu_node: UioNodeInfo, gpu_map: UioMap,
                     carveout: bool | int | str | None) -> tuple[UioNodeInfo, UioMap] | None:
    """Apply the ``carveout`` option (see :meth:`UioPlatform.discover`)."""
    if carveout is False:
        return None
    if carveout is None or carveout is True:
        for node in nodes.values():
            m = node.map(CARVEOUT_MAP_NAME)
            if m is not None:
                return node, m
        others = [m for m in gpu_node.maps if m.index != gpu_map.index]
        if others:
            return gpu_node, others[0]
        if carveout is True:
            raise DeviceNotFound(f"no carveout map: no map named {CARVEOUT_MAP_NAME!r} and {gpu_node.name} "
                                 "has no map besides the GPU registers")
        return None
    if isinstance(carveout, int):
        m = gpu_node.map(carveout)
        if m is None or m.index == gpu_map.index:
            have = ", ".join(f"map{x.index} {x.name!r}" for x in gpu_node.maps)
            raise DeviceNotFound(f"carveout=map{carveout}: {gpu_node.name} ({gpu_node.uio}) has no such "
                                 f"non-register map (have: {have})")
        return gpu_node, m
    if isinstance(carveout, str):
        for node in nodes.values():
            m = node.map(carveout)
            if m is not None and m != gpu_map:
                return node, m
        raise DeviceNotFound(f"carveout={carveout!r}: no GPU UIO node has a map of that name")
    raise InvalidArgument(f"carveout option must be None, a bool, a map index or a map name, "
                          f"got {carveout!r}")
