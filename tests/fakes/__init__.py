"""Fake sysfs/dev trees for the hardware backends' tests.

:class:`FakeSysfs` lays out, under a temporary directory, what the kernel shows for
``uio_pdrv_genirq`` nodes (rk3588-platform-and-uio.md §3.2) with the same shapes as a real board:

* ``sys/devices/platform/<dev>/uio/uioN/{name,version,event,maps/mapM/{name,addr,size,offset}}``,
* ``sys/class/uio/uioN`` -> that directory, ``.../uioN/device`` -> the platform device,
* ``<platform device>/of_node`` -> ``sys/firmware/devicetree/base/<node>`` with ``compatible``
  (NUL-separated) and ``interrupts`` (big-endian cells),
* ``dev/uioN``: a regular file standing in for the character device.

Limits of the stand-in, which the tests take into account: mmap offset ``M * PAGESIZE`` of a regular
file maps the file's bytes from there, so the maps of one node overlap in the file (map1 starts one
page into map0); ``read``/``write`` on the file move a file position instead of talking to an IRQ;
``poll`` always reports it readable. The IRQ protocol is therefore tested on a socketpair.
"""

from __future__ import annotations

import mmap
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

PAGESIZE = mmap.PAGESIZE

GPU_BASE = 0xFB000000
GPU_SIZE = 0x200000
#: The example overlay's carveout (reference §7.4): 0x30000000, 256 MiB.
CARVEOUT_BASE = 0x30000000
CARVEOUT_SIZE = 0x10000000
#: GIC SPI numbers of the GPU lines (reference §0), written here independently of the driver.
SPI = {"job": 92, "mmu": 93, "gpu": 94}


def _page_up(n: int) -> int:
    return -(-n // PAGESIZE) * PAGESIZE


@dataclass
class FakeMap:
    """One ``maps/mapM`` entry as the kernel prints it."""

    name: str
    addr: int
    size: int
    offset: int = 0


@dataclass
class FakeUioNode:
    """A fake UIO node and its device file."""

    index: int
    name: str
    sys_dir: Path
    dev_path: Path
    maps: list[FakeMap] = field(default_factory=list)

    @property
    def uio(self) -> str:
        return f"uio{self.index}"

    def file_offset(self, map_index: int, byte: int = 0) -> int:
        """Where byte ``byte`` of map ``map_index`` lives in the device file (mmap semantics)."""
        return map_index * PAGESIZE + self.maps[map_index].offset + byte

    def pread(self, offset: int, size: int) -> bytes:
        with open(self.dev_path, "rb") as f:
            f.seek(offset)
            return f.read(size)

    def pwrite(self, offset: int, data: bytes) -> None:
        with open(self.dev_path, "r+b") as f:
            f.seek(offset)
            f.write(data)

    def read_u32(self, map_index: int, byte: int) -> int:
        return int.from_bytes(self.pread(self.file_offset(map_index, byte), 4), sys.byteorder)

    def write_u32(self, map_index: int, byte: int, value: int) -> None:
        self.pwrite(self.file_offset(map_index, byte), value.to_bytes(4, sys.byteorder))


class FakeSysfs:
    """Builder of a fake ``sys/`` + ``dev/`` tree under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.sys = self.root / "sys"
        self.dev = self.root / "dev"
        (self.sys / "class" / "uio").mkdir(parents=True, exist_ok=True)
        (self.sys / "devices" / "platform").mkdir(parents=True, exist_ok=True)
        (self.sys / "firmware" / "devicetree" / "base").mkdir(parents=True, exist_ok=True)
        self.dev.mkdir(parents=True, exist_ok=True)
        self.nodes: list[FakeUioNode] = []

    @property
    def sysfs_root(self) -> str:
        return str(self.sys)

    @property
    def dev_root(self) -> str:
        return str(self.dev)

    def add_uio(self, name: str, maps: list[FakeMap] | tuple[FakeMap, ...] = (), *, event: int = 0,
                compatible: tuple[str, ...] | None = ("generic-uio",), spi: int | None = None,
                of_node: bool = True, dev_file: bool = True, dev_size: int | None = None,
                index: int | None = None) -> FakeUioNode:
        """Add ``uioN`` named ``name`` with ``maps``; ``spi`` writes an ``interrupts`` property."""
        n = len(self.nodes) if index is None else index
        node_name = f"{name}@{maps[0].addr:x}" if maps else name
        plat_name = f"{maps[0].addr:x}.{name}" if maps else name
        plat = self.sys / "devices" / "platform" / plat_name
        if plat.exists():
            plat = plat.with_name(f"{plat_name}.{n}")
        uio_dir = plat / "uio" / f"uio{n}"
        uio_dir.mkdir(parents=True)
        (uio_dir / "name").write_text(name + "\n")
        (uio_dir / "version").write_text("devicetree\n")
        (uio_dir / "event").write_text(f"{event}\n")
        for i, m in enumerate(maps):
            d = uio_dir / "maps" / f"map{i}"
            d.mkdir(parents=True)
            (d / "name").write_text(m.name + "\n")
            (d / "addr").write_text(f"0x{m.addr:016x}\n")  # %pa on a 64-bit phys_addr_t
            (d / "size").write_text(f"0x{m.size:016x}\n")
            (d / "offset").write_text(f"0x{m.offset:x}\n")
        os.symlink(os.path.relpath(plat, uio_dir), uio_dir / "device")
        class_dir = self.sys / "class" / "uio"
        os.symlink(os.path.relpath(uio_dir, class_dir), class_dir / f"uio{n}")
        if of_node:
            of = self.sys / "firmware" / "devicetree" / "base" / node_name
            if of.exists():  # same-named nodes (a misconfiguration under test): keep both
                of = of.with_name(f"{node_name}-{n}")
            of.mkdir(parents=True)
            if compatible is not None:
                (of / "compatible").write_bytes(b"".join(c.encode() + b"\0" for c in compatible))
            if spi is not None:
                # <GIC_SPI n IRQ_TYPE_LEVEL_HIGH 0>: 4-cell GIC specifier, big-endian (§7.4).
                (of / "interrupts").write_bytes(b"".join(v.to_bytes(4, "big") for v in (0, spi, 4, 0)))
            os.symlink(os.path.relpath(of, plat), plat / "of_node")
        node = FakeUioNode(n, name, uio_dir, self.dev / f"uio{n}", list(maps))
        if dev_file:
            need = max((i * PAGESIZE + _page_up(m.offset + m.size) for i, m in enumerate(maps)),
                       default=PAGESIZE)
            with open(node.dev_path, "wb") as f:
                f.truncate(need if dev_size is None else dev_size)
        self.nodes.append(node)
        return node

    def add_example_overlay(self, carveout_size: int = 0x100000, prefix: str = "mali-hil-") -> FakeUioNode:
        """The three nodes of the reference's example overlay (§7.4); returns the ``job`` node.

        The carveout defaults to 1 MiB instead of 256 MiB to keep the fake file small.
        """
        job = self.add_uio(f"{prefix}job", [FakeMap("gpu-regs", GPU_BASE, GPU_SIZE),
                                             FakeMap("dma", CARVEOUT_BASE, carveout_size)], spi=SPI["job"])
        self.add_uio(f"{prefix}mmu", spi=SPI["mmu"])
        self.add_uio(f"{prefix}gpu", spi=SPI["gpu"])
        return job

    def add_mem(self, size: int = GPU_BASE + GPU_SIZE) -> Path:
        """A sparse ``dev/mem`` of ``size`` bytes (truncate only: nothing is written)."""
        path = self.dev / "mem"
        with open(path, "wb") as f:
            f.truncate(size)
        return path

    def mem_read_u32(self, phys: int) -> int:
        with open(self.dev / "mem", "rb") as f:
            f.seek(phys)
            return int.from_bytes(f.read(4), sys.byteorder)

    def mem_write_u32(self, phys: int, value: int) -> None:
        with open(self.dev / "mem", "r+b") as f:
            f.seek(phys)
            f.write(value.to_bytes(4, sys.byteorder))
