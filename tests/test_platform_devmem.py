"""/dev/mem backend against a sparse fake ``mem`` file (only truncated: nothing is written to disk)."""

from __future__ import annotations

import errno
import fcntl
import gc
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import GPU_BASE, GPU_SIZE, FakeSysfs

from uio_driver.errors import AccessDenied, BadAddress, DeviceNotFound, InvalidArgument
from uio_driver.platform import open_platform
from uio_driver.platform.devmem import DevMemPlatform


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[FakeSysfs]:
    t = FakeSysfs(tmp_path)
    t.add_mem()  # 0xfb200000 bytes, sparse
    yield t


def test_window_is_read_only_by_default(tree: FakeSysfs) -> None:
    tree.mem_write_u32(GPU_BASE, 0xA8670000)
    tree.mem_write_u32(GPU_BASE + 0x1FFFFC, 0x600D)
    with DevMemPlatform(dev_root=tree.dev_root) as p:
        assert (p.mmio.size, p.mmio.phys_base) == (GPU_SIZE, GPU_BASE)
        assert p.mmio.read32(0) == 0xA8670000 and p.mmio.read32(0x1FFFFC) == 0x600D
        assert fcntl.fcntl(p.fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY
        with pytest.raises(AccessDenied, match="allow_writes=True") as exc:
            p.mmio.write32(0x30, 1)
        assert exc.value.errno == errno.EACCES
        with pytest.raises(BadAddress):
            p.mmio.write32(0x200000, 1)
        assert p.irqs == {} and p.dma is None
    assert tree.mem_read_u32(GPU_BASE + 0x30) == 0


def test_writes_land_at_the_physical_address(tree: FakeSysfs) -> None:
    with DevMemPlatform(dev_root=tree.dev_root, allow_writes=True) as p:
        assert fcntl.fcntl(p.fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDWR
        p.mmio.write32(0x34, 0x12345678)
        p.mmio.write64(0x100, 0x0123456789ABCDEF)
    assert tree.mem_read_u32(0xFB000034) == 0x12345678
    assert (tree.mem_read_u32(0xFB000100), tree.mem_read_u32(0xFB000104)) == (0x89ABCDEF, 0x01234567)


def test_unaligned_base_is_mapped_from_its_page(tree: FakeSysfs) -> None:
    tree.mem_write_u32(0xFB000104, 0xBEEF)
    with DevMemPlatform(dev_root=tree.dev_root, base=0xFB000100, size=0x100) as p:
        assert p.mmio.read32(4) == 0xBEEF and p.mmio.phys_base == 0xFB000100
        with pytest.raises(BadAddress):
            p.mmio.read32(0x100)


def test_carveout_is_device_memory_at_its_address(tree: FakeSysfs) -> None:
    with DevMemPlatform(dev_root=tree.dev_root, allow_writes=True, carveout=(0x30000000, 0x100000)) as p:
        dma = p.dma_allocator()
        assert (dma.phys_base, dma.size, dma.device_memory) == (0x30000000, 0x100000, True)
        dma.alloc(0x1000)
        buf = dma.alloc(0x1000)
        buf.write(8, (0xFEEDFACE).to_bytes(4, sys.byteorder))
        buf.free()
    assert tree.mem_read_u32(0x30001008) == 0xFEEDFACE


@pytest.mark.parametrize("kwargs,error,words", [
    ({"carveout": (0x30000000, 0x100000)}, AccessDenied, "allow_writes=True"),
    ({"allow_writes": True, "carveout": (0x30000800, 0x1000)}, InvalidArgument, "aligned"),
    ({"allow_writes": True, "carveout": (0xFAFFF000, 0x2000)}, InvalidArgument, "overlaps the GPU window"),
    ({"allow_writes": True, "carveout": (0x30000000,)}, InvalidArgument, "(phys, size)"),
    ({"base": 0xFB000002}, InvalidArgument, "aligned"),
    ({"size": 0}, InvalidArgument, "positive size"),
    ({"base": 0xFC000000}, InvalidArgument, "past the end of the file"),
])
def test_bad_options_are_refused_and_leave_nothing_open(tree: FakeSysfs, kwargs: dict[str, object],
                                                        error: type, words: str) -> None:
    gc.collect()  # leftovers of earlier tests must not close fds meanwhile
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(error, match=words):
        DevMemPlatform(dev_root=tree.dev_root, **kwargs)  # type: ignore[arg-type]
    assert not set(os.listdir("/proc/self/fd")) - before


def test_missing_dev_mem(tmp_path: Path) -> None:
    with pytest.raises(DeviceNotFound, match="CONFIG_DEVMEM") as exc:
        DevMemPlatform(dev_root=str(tmp_path))
    assert str(tmp_path / "mem") in str(exc.value)


def test_irqs_from_irq_only_uio_nodes(tree: FakeSysfs) -> None:
    tree.add_uio("mali-hil-mmu", spi=93)
    tree.add_uio("mali-hil-gpu", spi=94)
    tree.add_uio("unrelated", spi=50)
    with DevMemPlatform(dev_root=tree.dev_root, sysfs_root=tree.sysfs_root, uio_irqs=True) as p:
        assert sorted(p.irqs) == ["gpu", "mmu"]
        fds = list(p.uio_fds)
        assert p.irq("gpu").fd == fds[1]  # type: ignore[attr-defined]
        with pytest.raises(DeviceNotFound, match="'job' is not available"):
            p.irq("job")
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)


def test_uio_irqs_without_nodes_is_noted(tree: FakeSysfs) -> None:
    with DevMemPlatform(dev_root=tree.dev_root, sysfs_root=tree.sysfs_root, uio_irqs=True) as p:
        assert p.irqs == {} and "poll the IRQ registers" in p.notes[-1]


def test_open_platform_devmem(tree: FakeSysfs) -> None:
    with open_platform("devmem", dev_root=tree.dev_root, allow_writes=True, strict=True) as p:
        assert p.name == "devmem" and p.mmio.size == GPU_SIZE
        assert "read/write" in p.notes[0]
