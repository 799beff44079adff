"""TILER_HEAP_CREATE / TILER_HEAP_DESTROY through Device.ioctl (cs-isa-and-uapi.md §3.14, §6.1-§6.2,
§7.1 #4-#6): rules, handles ``(vm_id << 16) | heap_id``, chunk list in GPU memory, memory returned."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from typing import Any

import pytest

import uio_driver
from uio_driver.api import GpuDevice, Vm
from uio_driver.uapi import ioctls as I
from uio_driver.uapi import structs as S

pytestmark = pytest.mark.sim_only

KIB, MIB = 1 << 10, 1 << 20


@pytest.fixture
def dev() -> Iterator[GpuDevice]:
    d = uio_driver.open(backend="sim", strict=True)
    try:
        yield d
    finally:
        d.close()


def snapshot(dev: GpuDevice) -> tuple[Any, ...]:
    pools = {vm_id: sorted(p.heaps) for vm_id, p in dev.core.scheduler.heap_pools.items()}
    return dev.objects.snapshot(), dev.allocator.state(), pools


def refused(dev: GpuDevice, request: int, arg: Any) -> int:
    before = snapshot(dev)
    with pytest.raises(OSError) as info:
        dev.ioctl(request, arg)
    assert snapshot(dev) == before
    return int(info.value.errno or 0)


def create(dev: GpuDevice, vm: Vm, **fields: int) -> S.DrmPanthorTilerHeapCreate:
    base = {
        "vm_id": vm.id,
        "initial_chunk_count": 1,
        "chunk_size": 128 * KIB,
        "max_chunks": 4,
        "target_in_flight": 0,
    }
    base.update(fields)
    return S.DrmPanthorTilerHeapCreate(**base)


def read_u64(dev: GpuDevice, vm: Vm, va: int) -> int:
    mmu_vm = dev.objects.vms.get(vm.id).vm  # type: ignore[union-attr]
    return int.from_bytes(dev.allocator.peek(mmu_vm.translate(va).pa, 8), "little")


def test_create_outputs_and_chunk_list(dev: GpuDevice) -> None:
    vm1, vm2 = dev.vm_create(), dev.vm_create()
    args = create(dev, vm2, initial_chunk_count=3, chunk_size=256 * KIB, max_chunks=8)
    dev.ioctl(I.DRM_IOCTL_PANTHOR_TILER_HEAP_CREATE, args)
    assert args.handle == (vm2.id << 16) | 0  # heap ids start at 0 (§7.1 #4)
    kernel_start = vm2.user_va_range
    assert args.tiler_heap_ctx_gpu_va >= kernel_start and args.first_heap_chunk_gpu_va >= kernel_start
    # the first chunk is the last allocated; the chain has 3 chunks and ends with next = 0 (§6.2)
    va, seen = int(args.first_heap_chunk_gpu_va), 0
    while va:
        seen += 1
        nxt = read_u64(dev, vm2, va)
        assert nxt == 0 or nxt & 0xFFF == (256 * KIB) >> 12
        va = nxt & ~0xFFF
    assert seen == 3
    second = create(dev, vm2)
    dev.ioctl(I.DRM_IOCTL_PANTHOR_TILER_HEAP_CREATE, second)
    assert second.handle == (vm2.id << 16) | 1
    assert second.tiler_heap_ctx_gpu_va == args.tiler_heap_ctx_gpu_va + 64  # 64-byte context stride
    del vm1


@pytest.mark.parametrize(
    "fields",
    [
        {"initial_chunk_count": 0},
        {"initial_chunk_count": 5, "max_chunks": 4},  # upstream rule (§7.1 #6)
        {"chunk_size": 124 * KIB},
        {"chunk_size": 8 * MIB + 4 * KIB},
        {"chunk_size": 128 * KIB + 512},
        {"vm_id": 9},
    ],
)
def test_create_refusals(dev: GpuDevice, fields: dict[str, int]) -> None:
    vm = dev.vm_create()
    assert refused(dev, I.DRM_IOCTL_PANTHOR_TILER_HEAP_CREATE, create(dev, vm, **fields)) == errno.EINVAL


def test_non_power_of_two_chunk_sizes_are_fine_upstream(dev: GpuDevice) -> None:
    vm = dev.vm_create()
    dev.ioctl(I.DRM_IOCTL_PANTHOR_TILER_HEAP_CREATE, create(dev, vm, chunk_size=132 * KIB))
    dev.ioctl(I.DRM_IOCTL_PANTHOR_TILER_HEAP_CREATE, create(dev, vm, chunk_size=8 * MIB, max_chunks=1))


def test_too_much_memory_is_enomem(dev: GpuDevice) -> None:
    vm = dev.vm_create()
    count = dev.allocator.size // (8 * MIB) + 1
    args = create(dev, vm, chunk_size=8 * MIB, initial_chunk_count=count, max_chunks=count)
    dev.ioctl(I.DRM_IOCTL_PANTHOR_TILER_HEAP_CREATE, create(dev, vm))  # the pool exists already
    assert refused(dev, I.DRM_IOCTL_PANTHOR_TILER_HEAP_CREATE, args) == errno.ENOMEM


def test_destroy_rules_and_memory(dev: GpuDevice) -> None:
    vm, other = dev.vm_create(), dev.vm_create()
    assert (
        refused(
            dev, I.DRM_IOCTL_PANTHOR_TILER_HEAP_DESTROY, S.DrmPanthorTilerHeapDestroy(handle=other.id << 16)
        )
        == errno.ENOENT
    )  # no pool (§7.1 #5)
    heap = dev.heap_create(vm, chunk_size=128 * KIB, initial_chunks=2, max_chunks=2)
    used = dev.allocator.used_bytes
    extra = dev.heap_create(vm, chunk_size=512 * KIB, initial_chunks=2, max_chunks=4)
    assert (
        refused(
            dev,
            I.DRM_IOCTL_PANTHOR_TILER_HEAP_DESTROY,
            S.DrmPanthorTilerHeapDestroy(handle=extra.handle, pad=1),
        )
        == errno.EINVAL
    )
    assert (
        refused(
            dev,
            I.DRM_IOCTL_PANTHOR_TILER_HEAP_DESTROY,
            S.DrmPanthorTilerHeapDestroy(handle=(vm.id << 16) | 7),
        )
        == errno.EINVAL
    )
    assert (
        refused(dev, I.DRM_IOCTL_PANTHOR_TILER_HEAP_DESTROY, S.DrmPanthorTilerHeapDestroy(handle=(9 << 16)))
        == errno.EINVAL
    )
    extra.destroy()
    assert dev.allocator.used_bytes == used  # its two chunks went back
    assert (
        refused(
            dev, I.DRM_IOCTL_PANTHOR_TILER_HEAP_DESTROY, S.DrmPanthorTilerHeapDestroy(handle=extra.handle)
        )
        == errno.EINVAL
    )
    del heap


def test_heaps_go_with_their_vm(dev: GpuDevice) -> None:
    before = dev.allocator.state()
    vm = dev.vm_create()
    for _ in range(3):
        dev.heap_create(vm, chunk_size=128 * KIB, initial_chunks=1, max_chunks=1)
    vm.destroy()
    assert dev.allocator.state() == before


def test_128_heaps_per_vm(dev: GpuDevice) -> None:
    vm = dev.vm_create()
    handles = [
        dev.heap_create(vm, chunk_size=128 * KIB, initial_chunks=1, max_chunks=1).handle for _ in range(128)
    ]
    assert handles[-1] == (vm.id << 16) | 127
    assert refused(dev, I.DRM_IOCTL_PANTHOR_TILER_HEAP_CREATE, create(dev, vm)) == errno.EBUSY
