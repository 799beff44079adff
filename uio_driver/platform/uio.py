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
names differ, by the map at the GPU's physical address.
"""

from __future__ import annotations

import errno
import logging
import math
import mmap
import os
import re
import select
import stat
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import AccessDenied, DeviceNotFound, HardwareFault, InvalidArgument, MaliError, NotSupported
from .base import IRQ_NAMES, RK3588_GPU_BASE, RK3588_GPU_SIZE, Clock, IrqLine, MappedMmioRegion, Platform
from .clock import RealClock
from .dma import DmaAllocator

log = logging.getLogger(__name__)

#: Page size of the running kernel; UIO map M lives at mmap offset M * PAGESIZE (§3.3: do not
#: hard-code 4096).
PAGESIZE = mmap.PAGESIZE

#: GIC SPI numbers of the Mali node's interrupts (rk3588-base.dtsi; reference §0).
GPU_SPI_TO_IRQ = {92: "job", 93: "mmu", 94: "gpu"}

#: ``reg-names`` entries of the example overlay (§7.4).
GPU_REGS_MAP_NAME = "gpu-regs"
CARVEOUT_MAP_NAME = "dma"

DEFAULT_PREFIX = "mali-hil-"

_UIO_DIR = re.compile(r"^uio(\d+)$")
_MAP_DIR = re.compile(r"^map(\d+)$")
_S32 = struct.Struct("=i")  # uio.c: irqcontrol/event count are a native-endian s32

UDEV_HINT = (
    "install the udev rule (`mali-uio setup udev`: /etc/udev/rules.d/60-mali-hil.rules gives the "
    "mali-hil-* nodes GROUP=gpuhil MODE=0660) and add your user to group gpuhil, or run as root"
)


# --------------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UioMap:
    """One ``maps/mapN`` entry of a UIO node.

    Attributes:
        index: N; the map is selected with mmap offset ``N * PAGESIZE``.
        name: ``reg-names`` entry (or the node's path when the node has none).
        addr: ``maps/mapN/addr`` (page aligned in current kernels).
        size: ``maps/mapN/size`` (current kernels round ``offset + size`` up to a page).
        offset: byte offset of the resource inside its first page.
    """

    index: int
    name: str
    addr: int
    size: int
    offset: int

    @property
    def phys(self) -> int:
        """Physical address of the first byte of the resource."""
        # Current kernels report the page-aligned address plus an in-page offset; older ones
        # reported the unaligned start itself (reference §3.2).
        return self.addr + self.offset if self.addr % PAGESIZE == 0 else self.addr

    @property
    def length(self) -> int:
        """Usable bytes of the resource starting at :attr:`phys`."""
        return self.size - self.offset if self.addr % PAGESIZE == 0 else self.size

    @property
    def mmap_offset(self) -> int:
        return self.index * PAGESIZE

    @property
    def mmap_length(self) -> int:
        return -(-(self.offset + self.length) // PAGESIZE) * PAGESIZE


@dataclass
class UioNodeInfo:
    """What sysfs says about one UIO node.

    Attributes:
        key: "job"/"mmu"/"gpu" (the name suffix), or the IRQ/"regs" role of a node found by address.
        name: ``/sys/class/uio/uioN/name`` (``linux,uio-name``).
        uio: "uioN"; the character device is ``<dev_root>/uioN``.
        sys_path: the node's sysfs directory.
        maps: its maps, by index.
        event: interrupt count at discovery time (None when unreadable).
        compatible: ``device/of_node/compatible`` entries.
        irq: the GPU interrupt line this node delivers, None when it has none or it is unknown.
        matched_by: "name" or "address".
        device_node: device file reported by udev, when pyudev was used.
        notes: remarks made while reading the node.
    """

    key: str
    name: str
    uio: str
    sys_path: str
    maps: tuple[UioMap, ...] = ()
    event: int | None = None
    compatible: tuple[str, ...] = ()
    irq: str | None = None
    matched_by: str = "name"
    device_node: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def gpu_map(self) -> UioMap | None:
        """The map at the GPU's physical address (or named ``gpu-regs``), if this node has one."""
        for m in self.maps:
            if m.phys == RK3588_GPU_BASE:
                return m
        for m in self.maps:
            if m.name == GPU_REGS_MAP_NAME:
                return m
        return None

    def map(self, which: int | str) -> UioMap | None:
        """The map with this index or name."""
        for m in self.maps:
            if m.index == which if isinstance(which, int) else m.name == which:
                return m
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "name": self.name, "uio": self.uio, "irq": self.irq,
            "matched_by": self.matched_by, "event": self.event, "compatible": list(self.compatible),
            "maps": [{"index": m.index, "name": m.name, "phys": m.phys, "length": m.length}
                     for m in self.maps],
        }


def find_gpu_uio_nodes(sysfs_root: str = "/sys", prefix: str = DEFAULT_PREFIX) -> dict[str, UioNodeInfo]:
    """Find the GPU's UIO nodes.

    Nodes whose name starts with ``prefix`` are returned under their name suffix ("job", "mmu",
    "gpu"). If none of them holds the GPU register map, a node of another name whose map sits at
    the GPU's address (0xfb000000) is accepted too, and its ``notes`` say so.

    Args:
        sysfs_root: sysfs mount point; pyudev enumerates the nodes when this is the real "/sys",
            otherwise ``<sysfs_root>/class/uio`` is walked (tests use a fake tree).
        prefix: UIO name prefix (``linux,uio-name`` of the overlay's nodes).

    Returns:
        ``{key: UioNodeInfo}``; empty when no node matches.

    Raises:
        InvalidArgument: empty prefix, two nodes with the same name, or unparsable sysfs entries of a
            matching node.
    """
    if not isinstance(prefix, str) or not prefix:
        raise InvalidArgument(f"UIO name prefix must be a non-empty string, got {prefix!r}")
    found: dict[str, UioNodeInfo] = {}
    others: list[tuple[str, str, str | None]] = []
    for uio, sys_path, device_node in _list_uio(sysfs_root):
        name = _read_text(os.path.join(sys_path, "name"))
        if name is None or not name.startswith(prefix):
            others.append((uio, sys_path, device_node))
            continue
        key = name[len(prefix):] or name
        node = _read_node(key, name, uio, sys_path, device_node)
        if key in found:
            raise InvalidArgument(
                f"two UIO nodes are named {name!r} ({found[key].uio} and {uio}) under {sysfs_root}")
        found[key] = node
    if not any(n.gpu_map is not None for n in found.values()):
        extra = _find_by_address(others, found, prefix)
        if extra is not None:
            found[extra.key] = extra
    return found


def _list_uio(sysfs_root: str) -> list[tuple[str, str, str | None]]:
    """(uioN, sysfs directory, udev device node) of every UIO device, in uio number order."""
    entries: list[tuple[str, str, str | None]] | None = None
    if os.path.realpath(sysfs_root) == "/sys":
        entries = _list_uio_pyudev()
    if entries is None:
        entries = _walk_uio_class(sysfs_root)
    return sorted(entries, key=lambda e: int(e[0][3:]) if _UIO_DIR.match(e[0]) else 1 << 30)


def _walk_uio_class(sysfs_root: str) -> list[tuple[str, str, str | None]]:
    class_dir = os.path.join(sysfs_root, "class", "uio")
    try:
        names = os.listdir(class_dir)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [(n, os.path.join(class_dir, n), None) for n in names if _UIO_DIR.match(n)]


def _list_uio_pyudev() -> list[tuple[str, str, str | None]] | None:
    """Enumerate through udev (reference §8.2); None when pyudev/libudev is unusable here."""
    try:
        import pyudev

        context = pyudev.Context()
        return [(d.sys_name, d.sys_path, d.device_node) for d in context.list_devices(subsystem="uio")]
    except (ImportError, OSError, RuntimeError, ValueError) as err:
        log.debug("pyudev unusable (%s); walking /sys/class/uio instead", err)
        return None


def _read_bytes(path: str) -> bytes | None:
    """A sysfs attribute's bytes, None when absent."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    except PermissionError:
        raise AccessDenied(f"{path}: permission denied reading sysfs") from None


def _read_text(path: str) -> str | None:
    data = _read_bytes(path)
    return None if data is None else data.decode(errors="replace").strip()


def _read_int(path: str, base: int) -> int:
    text = _read_text(path)
    try:
        return int(text or "", base)
    except ValueError:
        raise InvalidArgument(f"{path}: cannot parse {text!r} as a base-{base} integer") from None


def _read_maps(sys_path: str) -> tuple[UioMap, ...]:
    maps_dir = os.path.join(sys_path, "maps")
    try:
        entries = os.listdir(maps_dir)
    except (FileNotFoundError, NotADirectoryError):
        return ()  # an IRQ-only node has no maps (§3.2)
    maps = []
    for entry in entries:
        match = _MAP_DIR.match(entry)
        if not match:
            continue
        d = os.path.join(maps_dir, entry)
        maps.append(UioMap(
            index=int(match.group(1)),
            name=_read_text(os.path.join(d, "name")) or "",
            # sysfs prints addr/size with %pa ("0x00000000fb000000") and offset as 0x%llx.
            addr=_read_int(os.path.join(d, "addr"), 16),
            size=_read_int(os.path.join(d, "size"), 16),
            offset=_read_int(os.path.join(d, "offset"), 16) if os.path.exists(os.path.join(d, "offset"))
            else 0,
        ))
    return tuple(sorted(maps, key=lambda m: m.index))


def _read_of_node(sys_path: str) -> tuple[bool, tuple[str, ...], int | None, bool]:
    """(has of_node, compatible, first SPI number or None, has an interrupts property)."""
    of_node = os.path.join(sys_path, "device", "of_node")
    if not os.path.isdir(of_node):
        return False, (), None, False
    raw = _read_bytes(os.path.join(of_node, "compatible")) or b""
    compatible = tuple(s.decode(errors="replace") for s in raw.split(b"\0") if s)
    cells = _read_bytes(os.path.join(of_node, "interrupts"))
    spi = None
    # Big-endian cells; the GIC specifier starts <type number ...>, type 0 = SPI (§0, §7.4).
    if cells is not None and len(cells) >= 8 and int.from_bytes(cells[0:4], "big") == 0:
        spi = int.from_bytes(cells[4:8], "big")
    has_irq = cells is not None or os.path.exists(os.path.join(of_node, "interrupts-extended"))
    return True, compatible, spi, has_irq


def _read_node(key: str, name: str, uio: str, sys_path: str, device_node: str | None) -> UioNodeInfo:
    node = UioNodeInfo(key=key, name=name, uio=uio, sys_path=sys_path, device_node=device_node,
                       maps=_read_maps(sys_path))
    event = _read_text(os.path.join(sys_path, "event"))
    node.event = int(event) if event and event.isdigit() else None
    has_of, node.compatible, spi, has_irq = _read_of_node(sys_path)
    by_name = key if key in IRQ_NAMES else None
    by_spi = GPU_SPI_TO_IRQ.get(spi) if spi is not None else None
    if not has_of:
        node.irq = by_name
    elif not has_irq:
        node.irq = None
        if by_name:
            node.notes.append(f"{name} ({uio}): named for the {by_name} line but its DT node has no "
                              "interrupts; no IRQ line from it")
    else:
        node.irq = by_spi or by_name
        if by_spi and by_name and by_spi != by_name:
            node.notes.append(f"{name} ({uio}): name says {by_name} but its interrupt is SPI {spi} "
                              f"= {by_spi}; using {by_spi}")
    return node


def _find_by_address(candidates: Iterable[tuple[str, str, str | None]], found: dict[str, UioNodeInfo],
                     prefix: str) -> UioNodeInfo | None:
    """A node of another name whose map sits at the GPU's physical address."""
    for uio, sys_path, device_node in candidates:
        try:
            maps = _read_maps(sys_path)
        except InvalidArgument:
            continue  # not ours and unreadable: nothing to claim
        if not any(m.phys == RK3588_GPU_BASE for m in maps):
            continue
        name = _read_text(os.path.join(sys_path, "name")) or uio
        node = _read_node("regs", name, uio, sys_path, device_node)
        node.matched_by = "address"
        node.key = node.irq if node.irq and node.irq not in found else "regs"
        if node.key == "regs":
            node.irq = None
        note = (f"{uio} is named {name!r}, not {prefix}*, but maps the GPU registers at "
                f"{RK3588_GPU_BASE:#x}; using it as the GPU node ({node.key})")
        node.notes.insert(0, note)
        log.info("%s", note)
        return node
    return None


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
