"""UIO discovery: the GPU's ``uio_pdrv_genirq`` nodes as sysfs describes them (no device access).

Facts (shared/reference/rk3588-platform-and-uio.md §3.2, §7.4, §8.2): every UIO node has
``/sys/class/uio/uioN/{name,event,maps/mapM/{name,addr,size,offset}}`` and a ``device`` link to its
platform device, whose ``of_node`` carries the DT ``compatible`` and ``interrupts``. ``name`` is the
node's ``linux,uio-name``; ``uioN`` numbers are allocation order, so nodes are found by name, or by the
map at the GPU's physical address. Map M is selected with mmap offset M x page size (§3.3).

Split out of :mod:`uio_driver.platform.uio`, which re-exports every name defined here.
"""

from __future__ import annotations

import logging
import mmap
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import AccessDenied, InvalidArgument
from .base import IRQ_NAMES, RK3588_GPU_BASE

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
