"""vfio-platform backend against a fake kernel (tests/fakes FakeVfioKernel) and a fake sysfs tree.

Expected values come from the reference (rk3588-platform-and-uio.md §4) and the fake's own files, never
from the backend's output.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import CARVEOUT_BASE, GPU_BASE, GPU_SIZE, IRQ_EVENTFD, FakeMap, FakeSysfs, FakeVfioKernel

from uio_driver.errors import AccessDenied, Busy, DeviceNotFound, InvalidArgument, MaliError, NotSupported
from uio_driver.platform import open_platform
from uio_driver.platform.vfio import VfioPlatform


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture
def tree(tmp_path: Path) -> FakeSysfs:
    t = FakeSysfs(tmp_path)
    t.add_vfio_gpu()
    return t


@pytest.fixture
def kernel(tree: FakeSysfs) -> FakeVfioKernel:
    return FakeVfioKernel(tree)


@pytest.fixture
def platform(tree: FakeSysfs, kernel: FakeVfioKernel) -> Iterator[VfioPlatform]:
    p = VfioPlatform.discover(dev_root=tree.dev_root, sysfs_root=tree.sysfs_root, ops=kernel)
    yield p
    p.close()


def test_open_path_follows_the_kernel_sequence(platform: VfioPlatform, kernel: FakeVfioKernel) -> None:
    # §4.8 order; then region info 0 and 1, and per IRQ: info + arm (SET_IRQS trigger).
    assert kernel.calls == [
        "GET_API_VERSION", "CHECK_EXTENSION", "GROUP_GET_STATUS", "GROUP_SET_CONTAINER", "SET_IOMMU",
        "GROUP_GET_DEVICE_FD", "DEVICE_GET_INFO", "DEVICE_GET_REGION_INFO", "DEVICE_GET_REGION_INFO",
        *["DEVICE_GET_IRQ_INFO", "DEVICE_SET_IRQS"] * 3,
    ]
    assert platform.name == "vfio" and not platform.simulated
    assert sorted(platform.irqs) == ["gpu", "job", "mmu"]
    assert kernel.open_fake_fds() == ["container", "device", "group"]


def test_mmio_lands_in_region_0(platform: VfioPlatform, kernel: FakeVfioKernel) -> None:
    kernel.region_write_u32(0, 0x0, 0xA8670005)  # GPU_ID of the RK3588 (reference §6.6)
    kernel.region_write_u32(0, GPU_SIZE - 4, 0x600D)
    mmio = platform.mmio
    assert (mmio.size, mmio.phys_base) == (GPU_SIZE, GPU_BASE)
    assert mmio.read32(0) == 0xA8670005 and mmio.read32(GPU_SIZE - 4) == 0x600D
    mmio.write32(0x34, 0x12345678)
    mmio.write64(0x100, 0x0123456789ABCDEF)
    assert kernel.region_read_u32(0, 0x34) == 0x12345678
    assert (kernel.region_read_u32(0, 0x100), kernel.region_read_u32(0, 0x104)) == (0x89ABCDEF, 0x01234567)


def test_carveout_is_region_1_at_its_dt_address(platform: VfioPlatform, kernel: FakeVfioKernel) -> None:
    dma = platform.dma_allocator()
    assert (dma.phys_base, dma.size, dma.device_memory) == (CARVEOUT_BASE, 0x100000, True)
    dma.alloc(0x2000)
    buf = dma.alloc(0x1000)
    assert buf.phys == CARVEOUT_BASE + 0x2000
    buf.write(8, (0xFEEDFACE).to_bytes(4, sys.byteorder))
    assert kernel.region_read_u32(1, 0x2008) == 0xFEEDFACE


def test_pread_mode_is_exact_width_syscalls(tree: FakeSysfs, kernel: FakeVfioKernel) -> None:
    kernel.region_write_u32(0, 0x4, 0xCAFE)
    with VfioPlatform.discover(dev_root=tree.dev_root, sysfs_root=tree.sysfs_root, ops=kernel,
                               mmio="pread", carveout=False) as p:
        assert p.mmio.read32(4) == 0xCAFE
        p.mmio.write32(0x30, 0xABCD)
        assert p.dma is None
    assert kernel.region_read_u32(0, 0x30) == 0xABCD


def test_region_without_mmap_needs_pread(tree: FakeSysfs) -> None:
    kernel = FakeVfioKernel(tree, gpu_flags=1 | 2)  # READ|WRITE, no MMAP
    before = _fds()
    with pytest.raises(NotSupported, match=r"offers no mmap.*mmio='pread'"):
        VfioPlatform.discover(dev_root=tree.dev_root, sysfs_root=tree.sysfs_root, ops=kernel)
    assert kernel.open_fake_fds() == [] and _fds() <= before
    kernel.region_write_u32(0, 0, 0x1234)
    with VfioPlatform.discover(dev_root=tree.dev_root, sysfs_root=tree.sysfs_root, ops=kernel,
                               mmio="pread") as p:
        assert p.mmio.read32(0) == 0x1234


def test_irq_wait_and_acknowledge_follow_the_automask(platform: VfioPlatform, kernel: FakeVfioKernel) -> None:
    gpu = platform.irq("gpu")  # index 2 (§4.5: 0 job, 1 mmu, 2 gpu)
    assert gpu.wait(0) is False
    kernel.raise_irq(2)
    assert gpu.wait(0) is True and gpu.last_delta == 1  # type: ignore[attr-defined]
    assert kernel.irqs[2].masked  # the kernel masked the level line when it fired
    assert gpu.wait(0) is False  # masked: nothing more until acknowledged
    kernel.lower_irq(2)  # the driver cleared the cause ...
    gpu.acknowledge()  # ... then unmasks: no new interrupt
    assert not kernel.irqs[2].masked and gpu.wait(0) is False
    kernel.raise_irq(2)
    assert gpu.wait(0) is True
    gpu.acknowledge()  # cause still asserted: a level line fires again at once
    assert gpu.wait(0) is True and kernel.irqs[2].fired == 3
    assert platform.irq("job").wait(0) is False  # other lines untouched


def test_disable_masks_and_enable_unmasks(platform: VfioPlatform, kernel: FakeVfioKernel) -> None:
    mmu = platform.irq("mmu")
    mmu.disable()
    kernel.raise_irq(1)
    assert mmu.wait(0) is False and kernel.irqs[1].fired == 0
    mmu.enable()
    assert mmu.wait(0) is True


def test_wait_rejects_bad_timeouts(platform: VfioPlatform) -> None:
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(InvalidArgument):
            platform.irq("job").wait(bad)


def test_interrupt_names_select_the_lines(tmp_path: Path) -> None:
    tree = FakeSysfs(tmp_path)
    tree.add_vfio_gpu(interrupt_names=("GPU", "MMU", "JOB"))  # vendor spelling and order (§1.8)
    kernel = FakeVfioKernel(tree)
    with VfioPlatform.discover(dev_root=tree.dev_root, sysfs_root=tree.sysfs_root, ops=kernel) as p:
        kernel.raise_irq(0)
        assert p.irq("gpu").wait(0) and not p.irq("job").wait(0)


def test_close_releases_everything(tree: FakeSysfs, kernel: FakeVfioKernel) -> None:
    before = _fds()
    p = VfioPlatform.discover(dev_root=tree.dev_root, sysfs_root=tree.sysfs_root, ops=kernel)
    eventfds = [line.eventfd for line in p.irqs.values()]  # type: ignore[attr-defined]
    p.close()
    p.close()
    assert kernel.open_fake_fds() == []
    assert all(irq.trigger is None for irq in kernel.irqs)
    assert kernel.calls[-3:] == ["DEVICE_SET_IRQS"] * 3  # triggers torn down before the device closes
    assert sorted(kernel.closed_real) == sorted(eventfds)
    assert _fds() <= before


def test_open_platform_routes_vfio(tree: FakeSysfs, kernel: FakeVfioKernel) -> None:
    with open_platform("vfio", dev_root=tree.dev_root, sysfs_root=tree.sysfs_root, ops=kernel,
                       strict=True) as p:
        assert isinstance(p, VfioPlatform) and p.describe()["device"] == "fb000000.mali-hil"


def test_gpu_node_itself_can_be_the_device(tmp_path: Path) -> None:
    tree = FakeSysfs(tmp_path)
    tree.add_vfio_gpu("fb000000.gpu", group=3)
    kernel = FakeVfioKernel(tree, device="fb000000.gpu", group=3)
    with VfioPlatform.discover(dev_root=tree.dev_root, sysfs_root=tree.sysfs_root, ops=kernel) as p:
        assert p.sys_device is not None and p.sys_device.group == 3


def test_carveout_from_dev_mem(tree: FakeSysfs, kernel: FakeVfioKernel) -> None:
    tree.add_mem(CARVEOUT_BASE + 0x40000)
    with VfioPlatform.discover(dev_root=tree.dev_root, sysfs_root=tree.sysfs_root, ops=kernel,
                               carveout=(CARVEOUT_BASE, 0x40000)) as p:
        buf = p.dma_allocator().alloc(0x1000)
        buf.write(0, (0x5A5A).to_bytes(4, sys.byteorder))
        assert p.dma_allocator().phys_base == CARVEOUT_BASE
    assert tree.mem_read_u32(CARVEOUT_BASE) == 0x5A5A


def test_carveout_from_a_uio_map(tree: FakeSysfs, kernel: FakeVfioKernel) -> None:
    node = tree.add_uio("mali-hil-dma", [FakeMap("dma", 0x38000000, 0x10000)])
    with VfioPlatform.discover(dev_root=tree.dev_root, sysfs_root=tree.sysfs_root, ops=kernel,
                               carveout="dma") as p:
        buf = p.dma_allocator().alloc(0x1000, name="x")
        assert buf.phys == 0x38000000
        buf.write(4, (0x77).to_bytes(4, sys.byteorder))
    assert node.read_u32(0, 4) == 0x77


def test_no_carveout_region(tmp_path: Path) -> None:
    tree = FakeSysfs(tmp_path)
    tree.add_vfio_gpu(carveout=None)
    kernel = FakeVfioKernel(tree, carveout_size=None)
    with VfioPlatform.discover(dev_root=tree.dev_root, sysfs_root=tree.sysfs_root, ops=kernel) as p:
        assert p.dma is None and any("no carveout" in n for n in p.notes)
    with pytest.raises(DeviceNotFound, match="carveout region 1"):
        VfioPlatform.discover(dev_root=tree.dev_root, sysfs_root=tree.sysfs_root, ops=kernel, carveout=True)
    assert kernel.open_fake_fds() == []


# -- each missing prerequisite names its fix, and nothing stays open ------------------------------


def _no_container(tree: FakeSysfs, kernel: FakeVfioKernel) -> None:
    os.unlink(tree.dev / "vfio" / "vfio")


def _container_denied(tree: FakeSysfs, kernel: FakeVfioKernel) -> None:
    kernel.open_errno[kernel.container_path] = errno.EACCES


def _api_version(tree: FakeSysfs, kernel: FakeVfioKernel) -> None:
    kernel.api_version = 1


def _noiommu_off(tree: FakeSysfs, kernel: FakeVfioKernel) -> None:
    kernel.noiommu = False
    tree.set_param("vfio", "enable_unsafe_noiommu_mode", "N")


def _no_noiommu_support(tree: FakeSysfs, kernel: FakeVfioKernel) -> None:
    kernel.noiommu = False
    os.unlink(tree.sys / "module" / "vfio" / "parameters" / "enable_unsafe_noiommu_mode")


def _no_rawio(tree: FakeSysfs, kernel: FakeVfioKernel) -> None:
    kernel.cap_sys_rawio = False


def _not_viable(tree: FakeSysfs, kernel: FakeVfioKernel) -> None:
    kernel.viable = False


def _reset_fails(tree: FakeSysfs, kernel: FakeVfioKernel) -> None:
    kernel.device_open_errno = errno.EINVAL
    tree.set_param("vfio_platform", "reset_required", "Y")


def _not_platform(tree: FakeSysfs, kernel: FakeVfioKernel) -> None:
    kernel.device_flags = 2  # PCI


def _edge_irq(tree: FakeSysfs, kernel: FakeVfioKernel) -> None:
    kernel.irqs[1].flags = IRQ_EVENTFD


def _no_group_node(tree: FakeSysfs, kernel: FakeVfioKernel) -> None:
    os.unlink(tree.dev / "vfio" / "noiommu-0")


def _small_window(tree: FakeSysfs, kernel: FakeVfioKernel) -> None:
    kernel.regions[0].size = 0x100000


@pytest.mark.parametrize("breakage,error,words", [
    (_no_container, DeviceNotFound, r"no .*/vfio/vfio: vfio is not loaded \(modprobe vfio"),
    (_container_denied, AccessDenied, r"open .*/vfio/vfio failed.*setup udev --vfio"),
    (_api_version, NotSupported, "API version 1"),
    (_noiommu_off, NotSupported, r"no-IOMMU mode is not enabled.*echo Y > /sys/module/vfio/parameters/"
                                 "enable_unsafe_noiommu_mode"),
    (_no_noiommu_support, NotSupported, "CONFIG_VFIO_NOIOMMU"),
    (_no_group_node, DeviceNotFound, "no group node .*noiommu-0"),
    (_no_rawio, AccessDenied, "CAP_SYS_RAWIO"),
    (_not_viable, Busy, "not viable"),
    (_reset_fails, MaliError, r"GET_DEVICE_FD.*reset_required=0"),
    (_not_platform, NotSupported, "not a platform device"),
    (_small_window, InvalidArgument, "exactly 0x200000"),
    (_edge_irq, NotSupported, r"irq 1 \(mmu\).*level-high"),
], ids=lambda x: getattr(x, "__name__", None))
def test_prerequisite_errors(tree: FakeSysfs, kernel: FakeVfioKernel, breakage: Callable[..., None],
                             error: type, words: str) -> None:
    breakage(tree, kernel)
    before = _fds()
    with pytest.raises(error, match=words):
        VfioPlatform.discover(dev_root=tree.dev_root, sysfs_root=tree.sysfs_root, ops=kernel)
    assert kernel.open_fake_fds() == [] and _fds() <= before
    assert all(irq.trigger is None for irq in kernel.irqs)


def test_no_rawio_keeps_the_errno(tree: FakeSysfs, kernel: FakeVfioKernel) -> None:
    kernel.cap_sys_rawio = False
    with pytest.raises(AccessDenied) as exc:
        VfioPlatform.discover(dev_root=tree.dev_root, sysfs_root=tree.sysfs_root, ops=kernel)
    assert exc.value.errno == errno.EPERM


@pytest.mark.parametrize("driver,reset,error,words", [
    (None, "Y", DeviceNotFound, r"not bound to vfio-platform.*driver_override.*reset_required=0"),
    (None, None, DeviceNotFound, "vfio-platform is not loaded: modprobe vfio-platform reset_required=0"),
    ("panthor", "N", Busy, r"bound to panthor.*drivers/panthor/unbind"),
])
def test_device_binding_errors(tmp_path: Path, driver: str | None, reset: str | None, error: type,
                               words: str) -> None:
    tree = FakeSysfs(tmp_path)
    tree.add_vfio_gpu(driver=driver, reset_required=reset)
    with pytest.raises(error, match=words):
        VfioPlatform.discover(dev_root=tree.dev_root, sysfs_root=tree.sysfs_root, ops=FakeVfioKernel(tree))


def test_missing_device_and_group(tmp_path: Path) -> None:
    tree = FakeSysfs(tmp_path)
    (tree.dev / "vfio").mkdir()
    (tree.dev / "vfio" / "vfio").touch()
    tree.set_param("vfio", "enable_unsafe_noiommu_mode", "Y")
    kernel = FakeVfioKernel(tree)
    with pytest.raises(DeviceNotFound, match=r"fb000000.mali-hil or fb000000.gpu.*--variant vfio"):
        VfioPlatform.discover(dev_root=tree.dev_root, sysfs_root=tree.sysfs_root, ops=kernel)
    with pytest.raises(DeviceNotFound, match="no platform device fb000000.other"):
        VfioPlatform.discover(dev_root=tree.dev_root, sysfs_root=tree.sysfs_root, ops=kernel,
                              device="fb000000.other")
    tree.add_platform_device("fb000000.mali-hil", driver="vfio-platform")  # bound, but no iommu_group
    with pytest.raises(DeviceNotFound, match="no iommu_group"):
        VfioPlatform.discover(dev_root=tree.dev_root, sysfs_root=tree.sysfs_root, ops=kernel)
    assert kernel.open_fake_fds() == []


@pytest.mark.parametrize("options,words", [
    ({"mmio": "ioctl"}, "mmio option"),
    ({"carveout": 0}, "region 0 is the"),
    ({"carveout": (0x30000000,)}, "carveout option"),
    ({"carveout": 1.5}, "carveout option"),
])
def test_bad_options_open_nothing(tree: FakeSysfs, kernel: FakeVfioKernel, options: dict[str, Any],
                                  words: str) -> None:
    with pytest.raises(InvalidArgument, match=words):
        VfioPlatform.discover(dev_root=tree.dev_root, sysfs_root=tree.sysfs_root, ops=kernel, **options)
    assert kernel.calls == []


def test_closed_lines_refuse_use(tree: FakeSysfs, kernel: FakeVfioKernel) -> None:
    p = VfioPlatform.discover(dev_root=tree.dev_root, sysfs_root=tree.sysfs_root, ops=kernel)
    line = p.irq("job")
    p.close()
    with pytest.raises(DeviceNotFound, match="after close"):
        line.wait(0)
    with pytest.raises(DeviceNotFound, match="after close"):
        line.acknowledge()
