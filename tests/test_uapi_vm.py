"""VM_CREATE, VM_DESTROY, VM_GET_STATE and VM_BIND (cs-isa-and-uapi.md §3.7, §3.8, §7.2, §8).

Every refusal is checked for panthor's errno and for an unchanged device: handle tables, page tables
(the VM's dump) and the DMA allocator.
"""

from __future__ import annotations

import ctypes
import errno
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

import uio_driver
from uio_driver.api import GpuDevice, Vm
from uio_driver.errors import OutOfMemory
from uio_driver.mmu import VM as MmuVm
from uio_driver.uapi import drm as D
from uio_driver.uapi import ioctls as I
from uio_driver.uapi import structs as S
from uio_driver.uapi.usercopy import address_of

pytestmark = pytest.mark.sim_only

MAP, UNMAP, SYNC_ONLY = 0, 1 << 28, 2 << 28
RO, NOEXEC, UNCACHED = 1, 2, 4
SIGNAL = 1 << 31


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


class Bind:
    """A VM_BIND argument with its op array kept alive."""

    def __init__(
        self, vm_id: int, ops: Sequence[S.DrmPanthorVmBindOp], flags: int = 0, stride: int = 48
    ) -> None:
        self.ops = (S.DrmPanthorVmBindOp * max(1, len(ops)))(*ops)
        self.args = S.DrmPanthorVmBind(
            vm_id=vm_id,
            flags=flags,
            ops=S.DrmPanthorObjArray(stride=stride, count=len(ops), array=address_of(self.ops)),
        )
        self.args._keep = self.ops  # the array must outlive every use of the pointer


def op(
    kind: int = MAP,
    bo: int = 0,
    va: int = 0,
    size: int = 0,
    offset: int = 0,
    flags: int = 0,
    syncs: Any = None,
) -> S.DrmPanthorVmBindOp:
    o = S.DrmPanthorVmBindOp(flags=kind | flags, bo_handle=bo, bo_offset=offset, va=va, size=size)
    if syncs is not None:
        o.syncs = syncs
    return o


def bind(dev: GpuDevice, vm: Vm, *ops: S.DrmPanthorVmBindOp, flags: int = 0) -> Bind:
    b = Bind(vm.id, ops, flags)
    dev.ioctl(I.DRM_IOCTL_PANTHOR_VM_BIND, b.args)
    return b


def refused(dev: GpuDevice, request: int, arg: Any) -> int:
    before = snapshot(dev)
    with pytest.raises(OSError) as info:
        dev.ioctl(request, arg)
    assert snapshot(dev) == before
    return int(info.value.errno or 0)


def mmu_vm(dev: GpuDevice, vm: Vm) -> MmuVm:
    vmo = dev.objects.vms.get(vm.id)
    assert vmo is not None
    return vmo.vm


# -- VM_CREATE / DESTROY / GET_STATE -------------------------------------------------------------------


def test_vm_create_layouts(dev: GpuDevice) -> None:
    a = S.DrmPanthorVmCreate()
    dev.ioctl(I.DRM_IOCTL_PANTHOR_VM_CREATE, a)
    assert a.id == 1 and a.user_va_range == 1 << 47  # worked value §3.7
    b = S.DrmPanthorVmCreate(user_va_range=1 << 39)
    dev.ioctl(I.DRM_IOCTL_PANTHOR_VM_CREATE, b)
    assert b.id == 2 and b.user_va_range == 1 << 47  # can be larger than asked (§7.2 #8)
    c = S.DrmPanthorVmCreate(user_va_range=(1 << 48) - (256 << 20))
    dev.ioctl(I.DRM_IOCTL_PANTHOR_VM_CREATE, c)
    assert c.user_va_range == (1 << 48) - (256 << 20)


@pytest.mark.parametrize("fields", [{"flags": 1}, {"user_va_range": (1 << 48) - (256 << 20) + 4096}])
def test_vm_create_refusals(dev: GpuDevice, fields: dict[str, int]) -> None:
    assert refused(dev, I.DRM_IOCTL_PANTHOR_VM_CREATE, S.DrmPanthorVmCreate(**fields)) == errno.EINVAL


def test_vm_ids_are_1_to_32_then_ebusy(dev: GpuDevice) -> None:
    ids = [dev.vm_create().id for _ in range(32)]
    assert ids == list(range(1, 33))
    assert refused(dev, I.DRM_IOCTL_PANTHOR_VM_CREATE, S.DrmPanthorVmCreate()) == errno.EBUSY
    dev.ioctl(I.DRM_IOCTL_PANTHOR_VM_DESTROY, S.DrmPanthorVmDestroy(id=7))
    assert dev.vm_create().id == 7


def test_vm_destroy(dev: GpuDevice) -> None:
    before = dev.allocator.state()
    vm = dev.vm_create()
    bo = dev.bo_create(4096)
    vm.map(bo, 0x10000)
    assert refused(dev, I.DRM_IOCTL_PANTHOR_VM_DESTROY, S.DrmPanthorVmDestroy(id=0xDEADBEEF)) == errno.EINVAL
    assert (
        refused(dev, I.DRM_IOCTL_PANTHOR_VM_DESTROY, S.DrmPanthorVmDestroy(id=vm.id, pad=1)) == errno.EINVAL
    )
    vm.destroy()
    bo.close()
    assert dev.allocator.state() == before  # tables and BO returned
    assert refused(dev, I.DRM_IOCTL_PANTHOR_VM_GET_STATE, S.DrmPanthorVmGetState(vm_id=vm.id)) == errno.EINVAL


def test_vm_get_state(dev: GpuDevice) -> None:
    vm = dev.vm_create()
    args = S.DrmPanthorVmGetState(vm_id=vm.id, state=7)
    dev.ioctl(I.DRM_IOCTL_PANTHOR_VM_GET_STATE, args)
    assert args.state == S.DRM_PANTHOR_VM_STATE_USABLE


# -- synchronous VM_BIND -------------------------------------------------------------------------------


def test_igt_bind_and_unbind(dev: GpuDevice) -> None:
    vm, bo = dev.vm_create(), dev.bo_create(4096)
    bind(dev, vm, op(MAP, bo.handle, 0x1000, 4096))
    pa = dev.objects.bos.get(bo.handle).buffer.phys  # type: ignore[union-attr]
    assert mmu_vm(dev, vm).translate(0x1000).pa == pa
    bind(dev, vm, op(UNMAP, 0, 0x1000, 4096))
    assert mmu_vm(dev, vm).dump() == []
    b = Bind(vm.id, [op(UNMAP, bo.handle, 0x1000, 4096)])  # IGT vm_unbind_invalid_address (§7.2 #11)
    assert refused(dev, I.DRM_IOCTL_PANTHOR_VM_BIND, b.args) == errno.EINVAL


def test_map_flags_reach_the_page_table(dev: GpuDevice) -> None:
    vm, bo = dev.vm_create(), dev.bo_create(8192)
    bind(dev, vm, op(MAP, bo.handle, 0x20000, 8192, flags=RO | NOEXEC | UNCACHED))
    assert int(mmu_vm(dev, vm).translate(0x21000).prot) == RO | NOEXEC | UNCACHED


def _refusal_cases(bo: int, big: int, user_end: int) -> list[tuple[S.DrmPanthorVmBindOp, str]]:
    return [
        (op(MAP, bo, 0x1800, 4096), "va not aligned"),
        (op(MAP, bo, 0x1000, 4095 + 4096), "size not aligned"),
        (op(3 << 28, 0, 0x1000, 4096), "unknown type"),
        (op(MAP, bo, 0x1000, 4096, flags=1 << 3), "unknown MAP flag"),
        (op(MAP, 0xDEAD, 0x1000, 4096), "unknown BO is EINVAL, not ENOENT"),
        (op(MAP, bo, 0x1000, 0x3000), "larger than the BO"),
        (op(MAP, bo, 0x1000, 0x1000, offset=0x2000), "offset beyond the BO"),
        (op(MAP, big, user_end - 0x1000, 0x2000), "into the kernel VA range"),
        (op(MAP, bo, (1 << 48) - 0x1000, 0x2000), "beyond 48 bits"),
        (op(UNMAP, 0, 0x1000, 4096, flags=RO), "UNMAP with a MAP flag"),
        (op(UNMAP, 0, 0x1000, 4096, offset=0x1000), "UNMAP with bo_offset"),
        (op(SYNC_ONLY, 0, 0x1000, 4096), "SYNC_ONLY with a range"),
        (op(SYNC_ONLY, 3, 0, 4096), "SYNC_ONLY with a BO"),
    ]


def test_bind_refusals(dev: GpuDevice) -> None:
    vm = dev.vm_create()
    bo, big = dev.bo_create(0x2000), dev.bo_create(0x2000)
    for case, why in _refusal_cases(bo.handle, big.handle, vm.user_va_range):
        b = Bind(vm.id, [case])
        assert refused(dev, I.DRM_IOCTL_PANTHOR_VM_BIND, b.args) == errno.EINVAL, why
        assert b.args.ops.count == 0, why


def test_sync_bind_with_sync_ops_is_einval(dev: GpuDevice) -> None:
    vm, bo = dev.vm_create(), dev.bo_create(4096)
    syncs = S.DrmPanthorObjArray(stride=16, count=1, array=8)
    b = Bind(vm.id, [op(MAP, bo.handle, 0x1000, 4096, syncs=syncs)])
    assert refused(dev, I.DRM_IOCTL_PANTHOR_VM_BIND, b.args) == errno.EINVAL


def test_zero_size_op_is_skipped_before_any_check(dev: GpuDevice) -> None:
    vm = dev.vm_create()
    bind(dev, vm, op(7 << 28, 0xDEAD, 0x123, 0, offset=5, flags=0xFF))  # §7.2 #2
    assert mmu_vm(dev, vm).dump() == []


def test_failure_reports_the_index_and_keeps_earlier_ops(dev: GpuDevice) -> None:
    vm, bo = dev.vm_create(), dev.bo_create(4096)
    b = Bind(
        vm.id,
        [
            op(MAP, bo.handle, 0x1000, 4096),
            op(MAP, bo.handle, 0x2000, 4096),
            op(MAP, 0xDEAD, 0x3000, 4096),
            op(MAP, bo.handle, 0x4000, 4096),
        ],
    )
    with pytest.raises(OSError) as info:
        dev.ioctl(I.DRM_IOCTL_PANTHOR_VM_BIND, b.args)
    assert info.value.errno == errno.EINVAL
    assert b.args.ops.count == 2  # copied back with the error (§3.3)
    assert [(r.va, r.size) for r in mmu_vm(dev, vm).dump()] == [(0x1000, 0x1000), (0x2000, 0x1000)]


def test_unknown_vm_and_bad_op_arrays(dev: GpuDevice) -> None:
    vm, bo = dev.vm_create(), dev.bo_create(4096)
    assert (
        refused(dev, I.DRM_IOCTL_PANTHOR_VM_BIND, Bind(99, [op(MAP, bo.handle, 0x1000, 4096)]).args)
        == errno.EINVAL
    )
    assert (
        refused(
            dev, I.DRM_IOCTL_PANTHOR_VM_BIND, Bind(vm.id, [op(MAP, bo.handle, 0x1000, 4096)], stride=40).args
        )
        == errno.EINVAL
    )
    raw = (ctypes.c_uint8 * 56)()
    ctypes.memmove(raw, ctypes.byref(op(MAP, bo.handle, 0x1000, 4096)), 48)
    raw[50] = 1
    args = S.DrmPanthorVmBind(
        vm_id=vm.id, ops=S.DrmPanthorObjArray(stride=56, count=1, array=address_of(raw))
    )
    assert refused(dev, I.DRM_IOCTL_PANTHOR_VM_BIND, args) == errno.E2BIG
    raw[50] = 0
    dev.ioctl(I.DRM_IOCTL_PANTHOR_VM_BIND, args)  # a zero tail is fine
    args2 = S.DrmPanthorVmBind(vm_id=vm.id, ops=S.DrmPanthorObjArray(stride=48, count=1, array=16))
    assert refused(dev, I.DRM_IOCTL_PANTHOR_VM_BIND, args2) == errno.EFAULT
    args3 = S.DrmPanthorVmBind(vm_id=vm.id, ops=S.DrmPanthorObjArray(stride=48, count=0xFFFFFFFF, array=16))
    assert refused(dev, I.DRM_IOCTL_PANTHOR_VM_BIND, args3) == errno.ENOMEM


def test_partial_unmap_of_a_huge_mapping(dev: GpuDevice) -> None:
    vm, bo = dev.vm_create(), dev.bo_create(4 << 20)
    pa = dev.objects.bos.get(bo.handle).buffer.phys  # type: ignore[union-attr]
    vm.map(bo, 0x4000000)
    pt = mmu_vm(dev, vm)
    assert [r.block_size for r in pt.dump()] == [2 << 20]  # 2 MiB blocks
    vm.unmap(0x4000000 + 0x201000, 0x1000)  # one page in the middle of the second block
    with pytest.raises(OSError):
        pt.translate(0x4201000)
    assert pt.translate(0x4200000).pa == pa + 0x200000
    assert pt.translate(0x4202000).pa == pa + 0x202000
    assert pt.translate(0x4100000).level == 2  # the first block is still a block
    assert sum(r.size for r in pt.dump()) == (4 << 20) - 0x1000


def test_map_replaces_what_it_overlaps(dev: GpuDevice) -> None:
    vm, a, b = dev.vm_create(), dev.bo_create(0x4000), dev.bo_create(0x2000)
    pa_a = dev.objects.bos.get(a.handle).buffer.phys  # type: ignore[union-attr]
    pa_b = dev.objects.bos.get(b.handle).buffer.phys  # type: ignore[union-attr]
    vm.map(a, 0x10000)
    vm.map(b, 0x11000)  # over the middle of A
    pt = mmu_vm(dev, vm)
    assert [pt.translate(0x10000 + i * 0x1000).pa for i in range(4)] == [
        pa_a,
        pa_b,
        pa_b + 0x1000,
        pa_a + 0x3000,
    ]
    records = [(m.va, m.size, m.bo_offset) for m in dev.objects.vms.get(vm.id).mappings]  # type: ignore[union-attr]
    assert records == [(0x10000, 0x1000, 0), (0x11000, 0x2000, 0), (0x13000, 0x1000, 0x3000)]


def test_a_failed_replacing_map_restores_the_old_mapping(
    dev: GpuDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    vm, a, b = dev.vm_create(), dev.bo_create(0x4000), dev.bo_create(0x2000)
    vm.map(a, 0x10000)
    before = snapshot(dev)
    real_map = MmuVm.map
    calls: list[int] = []

    def failing(self: MmuVm, buffer: Any, va: int, **kw: Any) -> None:
        calls.append(va)
        if len(calls) == 1:  # the new mapping fails once; the restore of the old one goes through
            raise OutOfMemory("injected: no memory for page tables")
        real_map(self, buffer, va, **kw)

    monkeypatch.setattr(MmuVm, "map", failing)
    with pytest.raises(OSError) as info:
        vm.map(b, 0x11000)
    assert info.value.errno == errno.ENOMEM
    assert snapshot(dev) == before


# -- asynchronous VM_BIND ------------------------------------------------------------------------------


def _syncs(*ops: S.DrmPanthorSyncOp) -> tuple[Any, S.DrmPanthorObjArray]:
    arr = (S.DrmPanthorSyncOp * len(ops))(*ops)
    return arr, S.DrmPanthorObjArray(stride=16, count=len(ops), array=address_of(arr))


def test_async_bind_waits_for_its_dependency(dev: GpuDevice) -> None:
    from uio_driver.uapi.syncobj import Fence

    vm, bo = dev.vm_create(), dev.bo_create(4096)
    gate, done = dev.syncobj_create(), dev.syncobj_create()
    gate.signal(point=1)
    arr, syncs = _syncs(
        S.DrmPanthorSyncOp(flags=1, handle=gate.handle, timeline_value=2),
        S.DrmPanthorSyncOp(flags=SIGNAL, handle=done.handle),
    )
    b = Bind(vm.id, [op(MAP, bo.handle, 0x1000, 4096, syncs=syncs)], flags=1)
    # point 2 is not submitted yet: EINVAL (panthor has no WAIT_FOR_SUBMIT), nothing queued
    assert refused(dev, I.DRM_IOCTL_PANTHOR_VM_BIND, b.args) == errno.EINVAL
    pending = Fence("test gate")  # stands for a GPU job that has not finished
    dev.objects.syncobjs.get(gate.handle).add_point(pending, 2)  # type: ignore[union-attr]
    dev.ioctl(I.DRM_IOCTL_PANTHOR_VM_BIND, b.args)
    assert mmu_vm(dev, vm).dump() == []  # queued, not run
    with pytest.raises(OSError) as info:
        done.wait(timeout=0)
    assert info.value.errno == errno.ETIME
    pending.signal()
    done.wait(timeout=0)  # the bind queue runs on the next call and signals `done`
    assert [r.va for r in mmu_vm(dev, vm).dump()] == [0x1000]
    del arr


def test_async_batch_dependencies_point_backwards(dev: GpuDevice) -> None:
    vm, bo = dev.vm_create(), dev.bo_create(8192)
    mid, end = dev.syncobj_create(), dev.syncobj_create()
    arr1, s1 = _syncs(S.DrmPanthorSyncOp(flags=SIGNAL, handle=mid.handle))
    arr2, s2 = _syncs(
        S.DrmPanthorSyncOp(flags=0, handle=mid.handle), S.DrmPanthorSyncOp(flags=SIGNAL, handle=end.handle)
    )
    # mid has no fence before this call: the second op's WAIT resolves to the first op's fence
    bind(
        dev,
        vm,
        op(MAP, bo.handle, 0x1000, 4096, syncs=s1),
        op(MAP, bo.handle, 0x2000, 4096, offset=4096, syncs=s2),
        flags=1,
    )
    end.wait(timeout=1.0)
    assert len(mmu_vm(dev, vm).dump()) == 1 and mmu_vm(dev, vm).dump()[0].size == 0x2000
    # reversed order: the WAIT comes first, so it cannot see the later SIGNAL -> EINVAL, nothing queued
    other = dev.syncobj_create()
    arr3, s3 = _syncs(S.DrmPanthorSyncOp(flags=0, handle=other.handle))
    arr4, s4 = _syncs(S.DrmPanthorSyncOp(flags=SIGNAL, handle=other.handle))
    b = Bind(vm.id, [op(UNMAP, 0, 0x1000, 4096, syncs=s3), op(SYNC_ONLY, syncs=s4)], flags=1)
    assert refused(dev, I.DRM_IOCTL_PANTHOR_VM_BIND, b.args) == errno.EINVAL
    del arr1, arr2, arr3, arr4


@pytest.mark.parametrize(
    "sync, code",
    [
        (S.DrmPanthorSyncOp(flags=SIGNAL, handle=999), errno.EINVAL),  # signal on unknown: EINVAL
        (S.DrmPanthorSyncOp(flags=0, handle=999), errno.ENOENT),  # wait on unknown: ENOENT
        (S.DrmPanthorSyncOp(flags=SIGNAL | 2, handle=1), errno.EINVAL),  # handle type 2
        (S.DrmPanthorSyncOp(flags=SIGNAL | (1 << 8), handle=1), errno.EINVAL),  # unknown flag bit
        (S.DrmPanthorSyncOp(flags=SIGNAL, handle=1, timeline_value=3), errno.EINVAL),  # binary with point
    ],
)
def test_async_sync_op_refusals(dev: GpuDevice, sync: S.DrmPanthorSyncOp, code: int) -> None:
    vm, bo = dev.vm_create(), dev.bo_create(4096)
    dev.syncobj_create()  # handle 1
    arr, syncs = _syncs(sync)
    b = Bind(vm.id, [op(MAP, bo.handle, 0x1000, 4096, syncs=syncs)], flags=1)
    assert refused(dev, I.DRM_IOCTL_PANTHOR_VM_BIND, b.args) == code
    del arr


def test_async_sync_only_needs_sync_ops(dev: GpuDevice) -> None:
    vm = dev.vm_create()
    assert (
        refused(dev, I.DRM_IOCTL_PANTHOR_VM_BIND, Bind(vm.id, [op(SYNC_ONLY)], flags=1).args) == errno.EINVAL
    )
    done = dev.syncobj_create()
    arr, syncs = _syncs(S.DrmPanthorSyncOp(flags=SIGNAL | 1, handle=done.handle, timeline_value=5))
    bind(dev, vm, op(SYNC_ONLY, syncs=syncs), flags=1)
    done.wait(point=5, timeout=0)
    assert done.query() == 5
    del arr


def test_failed_async_bind_makes_the_vm_unusable(dev: GpuDevice, monkeypatch: pytest.MonkeyPatch) -> None:
    vm, bo = dev.vm_create(), dev.bo_create(8192)
    vm.map(bo, 0x1000, size=4096)
    done = dev.syncobj_create()

    def failing(self: MmuVm, *a: Any, **kw: Any) -> None:
        raise OutOfMemory("injected: no memory for page tables")

    monkeypatch.setattr(MmuVm, "map", failing)
    arr, syncs = _syncs(S.DrmPanthorSyncOp(flags=SIGNAL, handle=done.handle))
    bind(dev, vm, op(MAP, bo.handle, 0x10000, 4096, syncs=syncs), flags=1)  # validated, fails when run
    done.wait(timeout=0)  # the fence signalled (with an error, which waits do not report)
    assert not vm.usable
    monkeypatch.undo()
    b = Bind(vm.id, [op(MAP, bo.handle, 0x20000, 4096)])
    assert refused(dev, I.DRM_IOCTL_PANTHOR_VM_BIND, b.args) == errno.EINVAL  # MAP refused
    vm.unmap(0x1000, 4096)  # UNMAP still allowed
    assert mmu_vm(dev, vm).dump() == []
    assert (
        refused(dev, I.DRM_IOCTL_PANTHOR_VM_BIND, Bind(vm.id, [op(SYNC_ONLY, syncs=syncs)], flags=1).args)
        == errno.EINVAL
    )
    del arr


def test_gem_close_while_an_async_map_is_queued(dev: GpuDevice) -> None:
    from uio_driver.uapi.syncobj import Fence

    vm, bo = dev.vm_create(), dev.bo_create(4096)
    gate = dev.syncobj_create()
    pending = Fence("gate")
    dev.objects.syncobjs.get(gate.handle).replace_fence(pending)  # type: ignore[union-attr]
    arr, syncs = _syncs(S.DrmPanthorSyncOp(flags=0, handle=gate.handle))
    bind(dev, vm, op(MAP, bo.handle, 0x1000, 4096, syncs=syncs), flags=1)
    dev.ioctl(I.DRM_IOCTL_GEM_CLOSE, D.DrmGemClose(handle=bo.handle))
    pending.signal()
    dev.progress()
    assert [r.va for r in mmu_vm(dev, vm).dump()] == [0x1000]  # the job kept the BO alive
    del arr
