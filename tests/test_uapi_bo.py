"""BO_CREATE, BO_MMAP_OFFSET, GEM_CLOSE and Device.mmap (cs-isa-and-uapi.md §3.9, §4.2, §8 IGT cases)."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import uio_driver
from uio_driver.api import GpuDevice
from uio_driver.uapi import drm as D
from uio_driver.uapi import ioctls as I
from uio_driver.uapi import structs as S

pytestmark = pytest.mark.sim_only


@pytest.fixture
def dev() -> Iterator[GpuDevice]:
    d = uio_driver.open(backend="sim", strict=True)
    try:
        yield d
    finally:
        d.close()


def snapshot(dev: GpuDevice) -> tuple[Any, ...]:
    return (
        dev.objects.snapshot(),
        dev.allocator.state(),
        {i: v.vm.dump() for i, v in dev.objects.vms.items()},
    )


def refused(dev: GpuDevice, request: int, arg: Any) -> int:
    before = snapshot(dev)
    with pytest.raises(OSError) as info:
        dev.ioctl(request, arg)
    assert snapshot(dev) == before
    return int(info.value.errno or 0)


def test_igt_bo_create_and_round_size(dev: GpuDevice) -> None:
    a = S.DrmPanthorBoCreate(size=4096)
    dev.ioctl(I.DRM_IOCTL_PANTHOR_BO_CREATE, a)
    assert a.handle != 0 and a.size == 4096
    b = S.DrmPanthorBoCreate(size=5000)
    dev.ioctl(I.DRM_IOCTL_PANTHOR_BO_CREATE, b)
    assert b.size == 8192 and b.handle == a.handle + 1


def test_bo_memory_comes_from_the_carveout_and_is_zeroed(dev: GpuDevice) -> None:
    used = dev.allocator.used_bytes
    bo = dev.bo_create(3 << 20)
    assert dev.allocator.used_bytes == used + (3 << 20)
    assert not np.frombuffer(bo.mmap(), dtype=np.uint8).any()


@pytest.mark.parametrize(
    "fields, code",
    [
        ({"size": 0}, errno.EINVAL),
        ({"size": 4096, "pad": 1}, errno.EINVAL),
        ({"size": 4096, "flags": S.DRM_PANTHOR_BO_WB_MMAP}, errno.EINVAL),  # a 1.3 driver does not know it
        ({"size": 4096, "flags": 1 << 7}, errno.EINVAL),
        ({"size": 4096, "exclusive_vm_id": 7}, errno.EINVAL),
        ({"size": 1 << 40}, errno.ENOMEM),
        ({"size": (1 << 64) - 1}, errno.ENOMEM),
    ],
)
def test_bo_create_refusals(dev: GpuDevice, fields: dict[str, int], code: int) -> None:
    assert refused(dev, I.DRM_IOCTL_PANTHOR_BO_CREATE, S.DrmPanthorBoCreate(**fields)) == code


def test_bo_create_when_the_carveout_is_exhausted_changes_nothing(dev: GpuDevice) -> None:
    size = dev.allocator.largest_free + 4096
    assert refused(dev, I.DRM_IOCTL_PANTHOR_BO_CREATE, S.DrmPanthorBoCreate(size=size)) == errno.ENOMEM


def test_mmap_offset_rules(dev: GpuDevice) -> None:
    bo = dev.bo_create(8192)
    assert (
        refused(dev, I.DRM_IOCTL_PANTHOR_BO_MMAP_OFFSET, S.DrmPanthorBoMmapOffset(handle=0xDEADBEEF))
        == errno.ENOENT
    )  # IGT
    assert (
        refused(dev, I.DRM_IOCTL_PANTHOR_BO_MMAP_OFFSET, S.DrmPanthorBoMmapOffset(handle=bo.handle, pad=1))
        == errno.EINVAL
    )
    offset = bo.mmap_offset()
    assert offset != 0 and offset % 4096 == 0
    assert bo.mmap_offset() == offset  # stable
    hidden = dev.bo_create(4096, no_mmap=True)
    assert (
        refused(dev, I.DRM_IOCTL_PANTHOR_BO_MMAP_OFFSET, S.DrmPanthorBoMmapOffset(handle=hidden.handle))
        == errno.EPERM
    )


def test_mmap_is_the_bo_memory(dev: GpuDevice) -> None:
    bo = dev.bo_create(8192)
    view = dev.mmap(bo.mmap_offset(), 8192)
    view[100:104] = b"\x11\x22\x33\x44"
    buf = dev.objects.bos.get(bo.handle).buffer  # type: ignore[union-attr]
    assert buf.read(100, 4) == b"\x11\x22\x33\x44"
    assert len(dev.mmap(bo.mmap_offset(), 5000)) == 5000  # rounded to pages for the check


@pytest.mark.parametrize("delta, length", [(4096, 4096), (1, 4096), (0, 0), (0, 8193)])
def test_mmap_refusals(dev: GpuDevice, delta: int, length: int) -> None:
    bo = dev.bo_create(8192)
    with pytest.raises(OSError) as info:
        dev.mmap(bo.mmap_offset() + delta, length)
    assert info.value.errno == errno.EINVAL


def test_gem_close(dev: GpuDevice) -> None:
    bo = dev.bo_create(4096)
    offset = bo.mmap_offset()
    used = dev.allocator.used_bytes
    dev.ioctl(I.DRM_IOCTL_GEM_CLOSE, D.DrmGemClose(handle=bo.handle))
    assert dev.allocator.used_bytes == used - 4096
    assert refused(dev, I.DRM_IOCTL_GEM_CLOSE, D.DrmGemClose(handle=bo.handle)) == errno.EINVAL
    with pytest.raises(OSError) as info:
        dev.mmap(offset, 4096)
    assert info.value.errno == errno.EINVAL
    again = dev.bo_create(4096)
    assert again.handle == bo.handle  # lowest free handle (idr_alloc)


def test_gem_close_of_a_mapped_bo_keeps_the_memory_until_unmapped(dev: GpuDevice) -> None:
    vm = dev.vm_create()
    bo = dev.bo_create(8192)
    vm.map(bo, 0x100000)
    used = dev.allocator.used_bytes
    bo.close()
    assert dev.allocator.used_bytes == used
    assert dev.objects.vms.get(vm.id).vm.translate(0x101000) is not None  # type: ignore[union-attr]
    vm.unmap(0x100000, 0x1000)
    assert dev.allocator.used_bytes == used  # half still mapped
    vm.unmap(0x101000, 0x1000)
    assert dev.allocator.used_bytes <= used - 8192


def test_exclusive_vm_bo(dev: GpuDevice) -> None:
    vm1, vm2 = dev.vm_create(), dev.vm_create()
    bo = dev.bo_create(4096, vm=vm1)
    vm1.map(bo, 0x10000)
    op = S.DrmPanthorVmBindOp(flags=0, bo_handle=bo.handle, va=0x10000, size=4096)
    from uio_driver.uapi.usercopy import address_of

    args = S.DrmPanthorVmBind(
        vm_id=vm2.id, ops=S.DrmPanthorObjArray(stride=48, count=1, array=address_of(op))
    )
    assert refused(dev, I.DRM_IOCTL_PANTHOR_VM_BIND, args) == errno.EINVAL
