"""UIO backend against a fake sysfs/dev tree (tests/fakes): discovery, maps, carveout, errors."""

from __future__ import annotations

import errno
import gc
import json
import mmap
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import CARVEOUT_BASE, GPU_BASE, GPU_SIZE, FakeMap, FakeSysfs

from uio_driver.errors import AccessDenied, DeviceNotFound, InvalidArgument
from uio_driver.platform import open_platform
from uio_driver.platform.uio import UioMap, UioPlatform, find_gpu_uio_nodes

PAGESIZE = mmap.PAGESIZE


@pytest.fixture
def tree(tmp_path: Path) -> FakeSysfs:
    return FakeSysfs(tmp_path)


@pytest.fixture
def opened() -> Iterator[list[UioPlatform]]:
    platforms: list[UioPlatform] = []
    yield platforms
    for p in platforms:
        p.close()


def discover(tree: FakeSysfs, opened: list[UioPlatform], **opts: object) -> UioPlatform:
    platform = UioPlatform.discover(sysfs_root=tree.sysfs_root, dev_root=tree.dev_root, **opts)  # type: ignore[arg-type]
    opened.append(platform)
    return platform


def open_fds() -> set[str]:
    """Open fd numbers; collect garbage first so leftovers of earlier tests do not close meanwhile."""
    gc.collect()
    return set(os.listdir("/proc/self/fd"))


# -- discovery ---------------------------------------------------------------------------------


def test_discovery_by_name_reads_the_example_overlay(tree: FakeSysfs) -> None:
    tree.add_uio("other-device", [FakeMap("regs", 0xFE000000, 0x1000)], spi=40)
    tree.add_example_overlay(carveout_size=0x10000000)  # the real 256 MiB (sparse file)
    nodes = find_gpu_uio_nodes(tree.sysfs_root)
    assert sorted(nodes) == ["gpu", "job", "mmu"]
    job = nodes["job"]
    assert (job.name, job.uio, job.matched_by, job.irq) == ("mali-hil-job", "uio1", "name", "job")
    assert [(m.index, m.name, m.phys, m.length) for m in job.maps] == [
        (0, "gpu-regs", 0xFB000000, 0x200000), (1, "dma", 0x30000000, 0x10000000)]
    assert job.compatible == ("generic-uio",)
    assert (nodes["mmu"].maps, nodes["mmu"].irq, nodes["gpu"].irq) == ((), "mmu", "gpu")
    assert job.gpu_map is job.maps[0] and nodes["mmu"].gpu_map is None


def test_event_count_and_custom_prefix(tree: FakeSysfs) -> None:
    tree.add_uio("lab-gpu-job", [FakeMap("gpu-regs", GPU_BASE, GPU_SIZE)], event=41, spi=92)
    tree.add_uio("lab-gpu-mmu", spi=93)
    nodes = find_gpu_uio_nodes(tree.sysfs_root, prefix="lab-gpu-")
    assert sorted(nodes) == ["job", "mmu"] and nodes["job"].event == 41
    assert nodes["job"].matched_by == "name"
    # with the default prefix only the register node is found, by its address
    nodes = find_gpu_uio_nodes(tree.sysfs_root)
    assert list(nodes) == ["job"] and nodes["job"].matched_by == "address"


def test_discovery_by_map_address_when_names_differ(tree: FakeSysfs) -> None:
    tree.add_uio("mali-hil-mmu", spi=93)
    tree.add_uio("gpu-uio", [FakeMap("gpu-regs", GPU_BASE, GPU_SIZE)], spi=92)
    nodes = find_gpu_uio_nodes(tree.sysfs_root)
    assert sorted(nodes) == ["job", "mmu"]
    job = nodes["job"]
    assert (job.name, job.uio, job.matched_by, job.irq) == ("gpu-uio", "uio1", "address", "job")
    assert "not mali-hil-*" in job.notes[0] and "0xfb000000" in job.notes[0]


def test_address_match_without_dt_interrupts_gets_no_irq(tree: FakeSysfs) -> None:
    tree.add_uio("regs-only", [FakeMap("", GPU_BASE, GPU_SIZE)], of_node=False)
    nodes = find_gpu_uio_nodes(tree.sysfs_root)
    assert list(nodes) == ["regs"] and nodes["regs"].irq is None


def test_dt_interrupt_wins_over_the_name_and_is_reported(tree: FakeSysfs) -> None:
    tree.add_uio("mali-hil-mmu", spi=94)  # wired to the gpu line
    tree.add_uio("mali-hil-job", [FakeMap("gpu-regs", GPU_BASE, GPU_SIZE)], compatible=None)
    nodes = find_gpu_uio_nodes(tree.sysfs_root)
    assert nodes["mmu"].irq == "gpu" and "SPI 94" in nodes["mmu"].notes[0]
    assert nodes["job"].irq is None  # its DT node has no interrupts property
    assert "no IRQ line" in nodes["job"].notes[0]


def test_no_uio_class_at_all(tmp_path: Path) -> None:
    assert find_gpu_uio_nodes(str(tmp_path)) == {}


def test_duplicate_names_and_empty_prefix_are_refused(tree: FakeSysfs) -> None:
    tree.add_uio("mali-hil-mmu", spi=93)
    tree.add_uio("mali-hil-mmu", spi=93)
    with pytest.raises(InvalidArgument, match="uio0 and uio1"):
        find_gpu_uio_nodes(tree.sysfs_root)
    with pytest.raises(InvalidArgument):
        find_gpu_uio_nodes(tree.sysfs_root, prefix="")


def test_unreadable_sysfs_attribute_is_access_denied(tree: FakeSysfs,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    node = tree.add_uio("mali-hil-job", [FakeMap("gpu-regs", GPU_BASE, GPU_SIZE)], spi=92)
    denied = str(node.sys_dir / "maps" / "map0" / "size")
    real_open = open

    def guarded_open(path: object, *args: object, **kwargs: object) -> object:
        if os.path.realpath(str(path)) == os.path.realpath(denied):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", guarded_open)
    with pytest.raises(AccessDenied, match=r"map0/size: permission denied reading sysfs"):
        find_gpu_uio_nodes(tree.sysfs_root)


def test_malformed_map_of_a_matching_node_names_the_file(tree: FakeSysfs) -> None:
    node = tree.add_uio("mali-hil-job", [FakeMap("gpu-regs", GPU_BASE, GPU_SIZE)])
    (node.sys_dir / "maps" / "map0" / "addr").write_text("garbage\n")
    with pytest.raises(InvalidArgument, match=r"map0/addr: cannot parse 'garbage'"):
        find_gpu_uio_nodes(tree.sysfs_root)


def test_pyudev_and_the_tree_walk_agree_on_this_machine() -> None:
    from uio_driver.platform import uio

    via_udev = uio._list_uio_pyudev()
    if via_udev is None:
        pytest.skip("pyudev cannot load libudev on this machine")
    walked = uio._walk_uio_class("/sys")
    real = sorted(os.path.realpath(path) for _, path, _ in via_udev)
    assert real == sorted(os.path.realpath(path) for _, path, _ in walked)


def test_uio_map_geometry_follows_the_kernel_conventions() -> None:
    # current kernels: page-aligned addr, in-page offset, size rounded up to a page (reference §3.2)
    m = UioMap(1, "dma", 0x30000000, 0x3000, 0x100)
    assert (m.phys, m.length, m.mmap_offset) == (0x30000100, 0x2F00, PAGESIZE)
    assert m.mmap_length == -(-0x3000 // PAGESIZE) * PAGESIZE
    # older kernels reported the unaligned start and the raw size
    old = UioMap(2, "dma", 0x30000100, 0x2F00, 0x100)
    assert (old.phys, old.length, old.mmap_offset) == (0x30000100, 0x2F00, 2 * PAGESIZE)


# -- opening the platform ----------------------------------------------------------------------


def test_mmio_lands_in_the_device_file(tree: FakeSysfs, opened: list[UioPlatform]) -> None:
    job = tree.add_example_overlay()
    platform = discover(tree, opened)
    gpu = platform.mmio
    assert (gpu.size, gpu.phys_base) == (0x200000, 0xFB000000)
    gpu.write32(0x1FFFFC, 0xCAFEF00D)  # last register of the window
    gpu.write32(0x34, 0x12345678)
    assert job.pread(0x1FFFFC, 4) == (0xCAFEF00D).to_bytes(4, sys.byteorder)  # map0 = file offset 0
    assert job.pread(0x34, 4) == (0x12345678).to_bytes(4, sys.byteorder)
    job.pwrite(0x0, (0xA8670000).to_bytes(4, sys.byteorder))
    assert gpu.read32(0) == 0xA8670000
    job.pwrite(0x100, (0x89ABCDEF).to_bytes(4, sys.byteorder) + (0x01234567).to_bytes(4, sys.byteorder))
    assert gpu.read64(0x100) == 0x0123456789ABCDEF


def test_map_index_selects_the_mmap_offset(tree: FakeSysfs, opened: list[UioPlatform]) -> None:
    node = tree.add_uio("mali-hil-job", [FakeMap("ctl", 0xFE000000, PAGESIZE),
                                         FakeMap("gpu-regs", GPU_BASE, GPU_SIZE)], spi=92)
    platform = discover(tree, opened)
    platform.mmio.write32(0x40, 0x5A5A0001)
    # map1 is mmap offset 1 * PAGESIZE, so register 0x40 is file byte PAGESIZE + 0x40
    assert node.pread(PAGESIZE + 0x40, 4) == (0x5A5A0001).to_bytes(4, sys.byteorder)
    assert node.pread(0x40, 4) == bytes(4)
    assert "map1 'gpu-regs'" in " ".join(platform.notes)


def test_carveout_allocator_is_device_memory_over_map1(tree: FakeSysfs, opened: list[UioPlatform]) -> None:
    job = tree.add_example_overlay(carveout_size=0x100000)
    platform = discover(tree, opened)
    dma = platform.dma_allocator()
    assert (dma.phys_base, dma.size, dma.device_memory) == (CARVEOUT_BASE, 0x100000, True)
    a = dma.alloc(0x2000, name="fw")
    b = dma.alloc(0x1000, name="ring")
    assert (a.phys, b.phys) == (0x30000000, 0x30002000)
    b.write(0x10, b"\x11\x22\x33\x44")
    assert job.pread(PAGESIZE + 0x2010, 4) == b"\x11\x22\x33\x44"  # map1 at mmap offset PAGESIZE
    assert dma.find(0x30002010, 4) is b


@pytest.mark.parametrize("option,expect", [(False, None), (1, 1), ("dma", 1), (True, 1), (None, 1)])
def test_carveout_option_picks_the_map(tree: FakeSysfs, opened: list[UioPlatform], option: object,
                                       expect: int | None) -> None:
    tree.add_example_overlay()
    platform = discover(tree, opened, carveout=option)
    if expect is None:
        with pytest.raises(DeviceNotFound, match="no DMA carveout"):
            platform.dma_allocator()
    else:
        assert platform.dma_allocator().phys_base == CARVEOUT_BASE


@pytest.mark.parametrize("option,error", [(5, DeviceNotFound), (0, DeviceNotFound), ("nope", DeviceNotFound),
                                          (1.5, InvalidArgument)])
def test_bad_carveout_options_leave_nothing_open(tree: FakeSysfs, option: object, error: type) -> None:
    tree.add_example_overlay()
    before = open_fds()
    with pytest.raises(error):
        UioPlatform.discover(sysfs_root=tree.sysfs_root, dev_root=tree.dev_root, carveout=option)  # type: ignore[arg-type]
    assert not open_fds() - before


def test_required_carveout_missing(tree: FakeSysfs) -> None:
    tree.add_uio("mali-hil-job", [FakeMap("gpu-regs", GPU_BASE, GPU_SIZE)], spi=92)
    with pytest.raises(DeviceNotFound, match="no carveout map"):
        UioPlatform.discover(sysfs_root=tree.sysfs_root, dev_root=tree.dev_root, carveout=True)


def test_irq_lines_share_the_node_fds(tree: FakeSysfs, opened: list[UioPlatform]) -> None:
    tree.add_example_overlay()
    platform = discover(tree, opened)
    assert sorted(platform.irqs) == ["gpu", "job", "mmu"]
    for key in ("job", "mmu", "gpu"):
        line = platform.irq(key)
        assert line.fd == platform.fds[key]  # type: ignore[attr-defined]
        assert os.fstat(line.fd).st_ino == os.stat(Path(tree.dev_root) / f"uio{'jmg'.index(key[0])}").st_ino  # type: ignore[attr-defined]
    # On the stand-in file the control write lands at the file position: exactly one native s32 1.
    platform.irq("mmu").enable()
    assert (Path(tree.dev_root) / "uio1").read_bytes()[:4] == (1).to_bytes(4, sys.byteorder, signed=True)


def test_fds_stay_open_until_close(tree: FakeSysfs) -> None:
    tree.add_example_overlay()
    before = open_fds()
    platform = UioPlatform.discover(sysfs_root=tree.sysfs_root, dev_root=tree.dev_root)
    fds = dict(platform.fds)
    assert len(fds) == 3 and all(os.fstat(fd) for fd in fds.values())
    platform.dma_allocator().alloc(0x1000).free()
    platform.close()
    platform.close()  # idempotent
    for fd in fds.values():
        with pytest.raises(OSError) as exc:
            os.fstat(fd)
        assert exc.value.errno == errno.EBADF
    assert not open_fds() - before  # both mappings are gone too (mmap keeps a dup of the fd)
    with pytest.raises(DeviceNotFound):
        platform.mmio.read32(0)


def test_close_keeps_memory_under_live_dma_buffers_valid(tree: FakeSysfs) -> None:
    job = tree.add_example_overlay()
    platform = UioPlatform.discover(sysfs_root=tree.sysfs_root, dev_root=tree.dev_root)
    buf = platform.dma_allocator().alloc(0x1000)
    platform.close()
    buf.write(0, b"still mapped")  # no SIGSEGV: the mapping goes with the last buffer
    assert job.pread(PAGESIZE, 12) == b"still mapped"
    with pytest.raises(DeviceNotFound):
        platform.dma_allocator().alloc(0x1000)


def test_describe_lists_nodes(tree: FakeSysfs, opened: list[UioPlatform]) -> None:
    tree.add_example_overlay()
    info = discover(tree, opened).describe()
    assert info["backend"] == "uio" and info["irqs"] == ["gpu", "job", "mmu"]
    assert info["nodes"]["job"]["maps"][0]["phys"] == 0xFB000000  # type: ignore[index]
    json.dumps(info)


# -- errors ------------------------------------------------------------------------------------


def test_missing_gpu_node_names_the_path_and_prefix(tree: FakeSysfs) -> None:
    tree.add_uio("mali-hil-mmu", spi=93)
    with pytest.raises(DeviceNotFound) as exc:
        UioPlatform.discover(sysfs_root=tree.sysfs_root, dev_root=tree.dev_root)
    msg = str(exc.value)
    assert exc.value.errno == errno.ENODEV
    assert os.path.join(tree.sysfs_root, "class", "uio") in msg and "mali-hil-*" in msg
    assert "mali-hil-mmu (uio0)" in msg


@pytest.mark.parametrize("size,words", [(0x100000, "too small"), (0x400000, "exactly 0x200000")])
def test_gpu_map_of_the_wrong_size(tree: FakeSysfs, size: int, words: str) -> None:
    tree.add_uio("mali-hil-job", [FakeMap("gpu-regs", GPU_BASE, size)], spi=92)
    with pytest.raises(InvalidArgument, match=words):
        UioPlatform.discover(sysfs_root=tree.sysfs_root, dev_root=tree.dev_root)


def test_device_file_shorter_than_the_map(tree: FakeSysfs) -> None:
    tree.add_uio("mali-hil-job", [FakeMap("gpu-regs", GPU_BASE, GPU_SIZE)], spi=92, dev_size=0x1000)
    before = open_fds()
    with pytest.raises(InvalidArgument, match="backing file has 0x1000 bytes"):
        UioPlatform.discover(sysfs_root=tree.sysfs_root, dev_root=tree.dev_root)
    assert not open_fds() - before


def test_missing_device_file(tree: FakeSysfs) -> None:
    tree.add_example_overlay()
    os.unlink(Path(tree.dev_root) / "uio2")
    with pytest.raises(DeviceNotFound, match=r"uio2 \('mali-hil-gpu'\) but .*/dev/uio2 does not exist"):
        UioPlatform.discover(sysfs_root=tree.sysfs_root, dev_root=tree.dev_root)


def _discover_as(uid: int, sysfs_root: str, dev_root: str) -> dict[str, object]:
    """Run discovery in a forked child with ``uid``; returns what it raised."""
    rd, wr = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        code = 0
        try:
            os.close(rd)
            try:
                os.setgid(uid)
                os.setuid(uid)
            except PermissionError:
                code = 77
            else:
                try:
                    UioPlatform.discover(sysfs_root=sysfs_root, dev_root=dev_root).close()
                    out: dict[str, object] = {"error": None}
                except Exception as err:  # report whatever it was to the parent
                    out = {"error": type(err).__name__, "errno": getattr(err, "errno", None), "msg": str(err)}
                os.write(wr, json.dumps(out).encode())
        finally:
            os._exit(code)
    os.close(wr)
    with os.fdopen(rd, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if os.WEXITSTATUS(status) == 77:
        pytest.skip("running as root without CAP_SETUID: cannot drop privileges, and chmod 000 does not "
                    "stop root from opening the node")
    result: dict[str, object] = json.loads(data)
    return result


def test_permission_denied_names_the_node_and_the_udev_rule() -> None:
    root = tempfile.mkdtemp(prefix="mali-uio-perm-")
    try:
        tree = FakeSysfs(Path(root))
        tree.add_example_overlay()
        # readable by the unprivileged child, whatever the umask
        for path in [Path(root), *Path(root).rglob("*")]:
            if not path.is_symlink():
                os.chmod(path, 0o755 if path.is_dir() else 0o644)
        os.chmod(Path(tree.dev_root) / "uio0", 0)
        if os.geteuid() == 0:
            result = _discover_as(65534, tree.sysfs_root, tree.dev_root)
        else:
            try:
                UioPlatform.discover(sysfs_root=tree.sysfs_root, dev_root=tree.dev_root)
                result = {"error": None}
            except AccessDenied as err:
                result = {"error": "AccessDenied", "errno": err.errno, "msg": str(err)}
        assert result["error"] == "AccessDenied" and result["errno"] == errno.EACCES
        msg = str(result["msg"])
        assert "/dev/uio0" in msg and "'mali-hil-job'" in msg
        assert "udev" in msg and "gpuhil" in msg
    finally:
        import shutil

        shutil.rmtree(root)


# -- backend selection -------------------------------------------------------------------------


def test_open_platform_uio_and_auto_find_the_fake_tree(tree: FakeSysfs) -> None:
    tree.add_example_overlay()
    with open_platform("uio", sysfs_root=tree.sysfs_root, dev_root=tree.dev_root) as p:
        assert p.name == "uio"
    with open_platform("auto", sysfs_root=tree.sysfs_root, dev_root=tree.dev_root) as p:
        assert p.name == "uio" and "GPU UIO node found" in p.notes[0]
