"""GROUP_CREATE / DESTROY / SUBMIT / GET_STATE through Device.ioctl (cs-isa-and-uapi.md §3.11-§3.13,
§3.5, §7). Jobs run on the simulated GPU; refusals are checked for panthor's errno and for nothing
queued, allocated or signalled."""

from __future__ import annotations

import ctypes
import errno
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

import uio_driver
from uio_driver.api import Bo, GpuDevice, Group, Submit, SyncObj, Vm
from uio_driver.csf import CsBuilder
from uio_driver.uapi import ioctls as I
from uio_driver.uapi import structs as S
from uio_driver.uapi.usercopy import address_of

pytestmark = pytest.mark.sim_only

CODE_VA, RESULT_VA = 0x1000000, 0x2000000
SIGNAL = 1 << 31


@dataclass
class Rig:
    dev: GpuDevice
    vm: Vm
    code: Bo
    result: Bo
    group: Group

    def store(self, offset: int, value: int, slot: int = 0) -> tuple[int, int]:
        """Write a stream storing ``value`` at RESULT_VA + offset into code slot ``slot``; (addr, size)."""
        b = CsBuilder()
        b.move48(68, RESULT_VA + offset).move32(70, value).store_multiple(68, 70, 1).wait(0xFF)
        b.move32(70, 0).flush_cache2(70, signal_slot=1).wait(0xFF)
        text = b.to_bytes()
        self.code.mmap()[slot * 256 : slot * 256 + len(text)] = text
        return CODE_VA + slot * 256, len(text)

    def word(self, offset: int) -> int:
        return int(struct.unpack_from("<I", self.result.mmap(), offset)[0])


@pytest.fixture
def rig() -> Iterator[Rig]:
    dev = uio_driver.open(backend="sim", strict=True)
    try:
        vm = dev.vm_create()
        code, result = dev.bo_create(8192), dev.bo_create(4096)
        vm.map(code, CODE_VA)
        vm.map(result, RESULT_VA, flags="noexec")
        yield Rig(dev, vm, code, result, dev.group_create(vm, [(0, 16 << 10), (0, 16 << 10)]))
    finally:
        dev.close()


def snapshot(dev: GpuDevice) -> tuple[Any, ...]:
    sched = dev.core.scheduler
    rings = {h: [q.insert for q in g.queues] for h, g in sched.groups.items()}
    pending = [[len(f) for f in obj.pending] for _, obj in dev.objects.groups.items()]
    return dev.objects.snapshot(), dev.allocator.state(), rings, pending, sched.stats.jobs_submitted


def refused(dev: GpuDevice, request: int, arg: Any) -> int:
    before = snapshot(dev)
    with pytest.raises(OSError) as info:
        dev.ioctl(request, arg)
    assert snapshot(dev) == before
    return int(info.value.errno or 0)


# -- GROUP_CREATE ------------------------------------------------------------------------------------------


class Create:
    def __init__(
        self,
        dev: GpuDevice,
        vm: int,
        queues: Sequence[S.DrmPanthorQueueCreate] = (),
        *,
        stride: int = 8,
        **fields: Any,
    ) -> None:
        info = dev.gpu_info()
        qs = list(queues) or [S.DrmPanthorQueueCreate(priority=0, ringbuf_size=16 << 10)]
        self.queues = (S.DrmPanthorQueueCreate * len(qs))(*qs)
        base: dict[str, Any] = {
            "max_compute_cores": 4,
            "max_fragment_cores": 4,
            "max_tiler_cores": 1,
            "priority": 1,
            "compute_core_mask": info.shader_present,
            "fragment_core_mask": info.shader_present,
            "tiler_core_mask": info.tiler_present,
            "vm_id": vm,
        }
        base.update(fields)
        self.args = S.DrmPanthorGroupCreate(
            queues=S.DrmPanthorObjArray(stride=stride, count=len(qs), array=address_of(self.queues)), **base
        )
        self.args._keep = self.queues  # the array must outlive every use of the pointer


def test_group_create_and_handles(rig: Rig) -> None:
    c = Create(rig.dev, rig.vm.id)
    rig.dev.ioctl(I.DRM_IOCTL_PANTHOR_GROUP_CREATE, c.args)
    assert c.args.group_handle == 2  # the fixture's group is 1


def _q(priority: int = 0, ring: int = 16 << 10, pad: int = 0) -> S.DrmPanthorQueueCreate:
    q = S.DrmPanthorQueueCreate(priority=priority, ringbuf_size=ring)
    q.pad[1] = pad
    return q


@pytest.mark.parametrize(
    "queues, fields, code",
    [
        ([_q()] * 33, {}, errno.EINVAL),  # more than MAX_CS_PER_CSG
        ([_q()] * 9, {}, errno.EINVAL),  # more than the firmware's 8 CS slots
        ([_q()], {"priority": 4}, errno.EINVAL),
        ([_q()], {"priority": 2}, errno.EACCES),  # HIGH needs privilege
        ([_q()], {"priority": 3}, errno.EACCES),  # REALTIME too
        ([_q()], {"pad": 1}, errno.EINVAL),
        ([_q()], {"compute_core_mask": 0x2}, errno.EINVAL),  # core 1 is not present (0x50005)
        ([_q()], {"tiler_core_mask": 0x3}, errno.EINVAL),
        ([_q()], {"max_compute_cores": 5}, errno.EINVAL),  # popcount(0x50005) = 4
        ([_q()], {"max_tiler_cores": 2}, errno.EINVAL),
        ([_q()], {"vm_id": 9}, errno.EINVAL),
        ([_q(pad=1)], {}, errno.EINVAL),
        ([_q(priority=16)], {}, errno.EINVAL),
        ([_q(ring=2048)], {}, errno.EINVAL),
        ([_q(ring=128 << 10)], {}, errno.EINVAL),
        ([_q(ring=12 << 10)], {}, errno.EINVAL),
    ],
)
def test_group_create_refusals(
    rig: Rig, queues: list[S.DrmPanthorQueueCreate], fields: dict[str, int], code: int
) -> None:
    c = Create(rig.dev, rig.vm.id, queues, **fields)
    assert refused(rig.dev, I.DRM_IOCTL_PANTHOR_GROUP_CREATE, c.args) == code


def test_group_create_array_errors(rig: Rig) -> None:
    c = Create(rig.dev, rig.vm.id)
    c.args.queues.count = 0
    assert refused(rig.dev, I.DRM_IOCTL_PANTHOR_GROUP_CREATE, c.args) == errno.EINVAL
    assert (
        refused(rig.dev, I.DRM_IOCTL_PANTHOR_GROUP_CREATE, Create(rig.dev, rig.vm.id, stride=4).args)
        == errno.EINVAL
    )
    c = Create(rig.dev, rig.vm.id)
    c.args.queues.array = 8
    assert refused(rig.dev, I.DRM_IOCTL_PANTHOR_GROUP_CREATE, c.args) == errno.EFAULT


def test_privileged_device_may_create_realtime_groups() -> None:
    with uio_driver.open(backend="sim", privileged=True) as dev:
        vm = dev.vm_create()
        assert dev.group_create(vm, priority="realtime").handle == 1
        assert dev.group_create(vm, priority="high").handle == 2


def test_zero_max_cores_are_accepted(rig: Rig) -> None:
    c = Create(rig.dev, rig.vm.id, max_compute_cores=0, max_fragment_cores=0, max_tiler_cores=0)
    rig.dev.ioctl(I.DRM_IOCTL_PANTHOR_GROUP_CREATE, c.args)  # §7.2 #10


# -- GROUP_DESTROY / GET_STATE -----------------------------------------------------------------------------


def test_destroy_and_get_state_refusals(rig: Rig) -> None:
    dev = rig.dev
    assert (
        refused(dev, I.DRM_IOCTL_PANTHOR_GROUP_DESTROY, S.DrmPanthorGroupDestroy(group_handle=1, pad=1))
        == errno.EINVAL
    )
    assert (
        refused(dev, I.DRM_IOCTL_PANTHOR_GROUP_DESTROY, S.DrmPanthorGroupDestroy(group_handle=5))
        == errno.EINVAL
    )
    assert (
        refused(dev, I.DRM_IOCTL_PANTHOR_GROUP_GET_STATE, S.DrmPanthorGroupGetState(group_handle=5))
        == errno.EINVAL
    )
    assert (
        refused(dev, I.DRM_IOCTL_PANTHOR_GROUP_GET_STATE, S.DrmPanthorGroupGetState(group_handle=1, pad=1))
        == errno.EINVAL
    )
    state = S.DrmPanthorGroupGetState(group_handle=1, state=9, fatal_queues=9)
    dev.ioctl(I.DRM_IOCTL_PANTHOR_GROUP_GET_STATE, state)
    assert (state.group_handle, state.state, state.fatal_queues) == (0, 0, 0)  # §7.2 #6
    rig.group.destroy()
    assert (
        refused(dev, I.DRM_IOCTL_PANTHOR_GROUP_DESTROY, S.DrmPanthorGroupDestroy(group_handle=1))
        == errno.EINVAL
    )


def test_destroying_groups_and_the_vm_returns_all_memory(rig: Rig) -> None:
    dev = rig.dev
    rig.group.destroy()
    rig.vm.destroy()
    rig.code.close()
    rig.result.close()
    assert (
        dev.allocator.used_bytes == sum(b.size for b in dev.allocator.allocations())
        and not dev.core.scheduler.groups
        and len(dev.objects.vms) == 0
    )


# -- GROUP_SUBMIT ------------------------------------------------------------------------------------------


def test_submit_runs_and_signals(rig: Rig) -> None:
    done = rig.dev.syncobj_create()
    addr, size = rig.store(0, 0x12345678)
    rig.group.submit([Submit(0, addr, size, signal=[done])])
    done.wait(timeout=1.0)
    assert rig.word(0) == 0x12345678


class SubmitArgs:
    def __init__(
        self, handle: int, jobs: Sequence[S.DrmPanthorQueueSubmit], *, stride: int = 40, pad: int = 0
    ) -> None:
        self.jobs = (S.DrmPanthorQueueSubmit * max(1, len(jobs)))(*jobs)
        self.args = S.DrmPanthorGroupSubmit(
            group_handle=handle,
            pad=pad,
            queue_submits=S.DrmPanthorObjArray(stride=stride, count=len(jobs), array=address_of(self.jobs)),
        )
        self.args._keep = self.jobs  # the array must outlive every use of the pointer


def _syncs(*ops: S.DrmPanthorSyncOp) -> tuple[Any, S.DrmPanthorObjArray]:
    arr = (S.DrmPanthorSyncOp * max(1, len(ops)))(*ops)
    return arr, S.DrmPanthorObjArray(stride=16, count=len(ops), array=address_of(arr))


def _job(
    addr: int, size: int, queue: int = 0, syncs: S.DrmPanthorObjArray | None = None, **fields: int
) -> S.DrmPanthorQueueSubmit:
    job = S.DrmPanthorQueueSubmit(queue_index=queue, stream_addr=addr, stream_size=size, **fields)
    if syncs is not None:
        job.syncs = syncs
    return job


@pytest.mark.parametrize(
    "bad, why",
    [
        ({"pad": 1}, "job pad"),
        ({"stream_addr": 0}, "size without address"),
        ({"stream_size": 0}, "address without size"),
        ({"stream_addr": CODE_VA + 8}, "address not 64-byte aligned"),
        ({"stream_size": 12}, "size not a multiple of 8"),
        ({"latest_flush": 1 << 24}, "latest_flush bits 30:24"),
        ({"queue_index": 2}, "queue index out of range"),
    ],
)
def test_one_bad_job_queues_nothing(rig: Rig, bad: dict[str, int], why: str) -> None:
    done = rig.dev.syncobj_create()
    arr, syncs = _syncs(S.DrmPanthorSyncOp(flags=SIGNAL, handle=done.handle))
    addr, size = rig.store(0, 1)
    fields = {"stream_addr": addr, "stream_size": size, **bad}
    last = S.DrmPanthorQueueSubmit(**fields)
    jobs = [_job(addr, size, syncs=syncs), _job(addr, size, queue=1), last]
    s = SubmitArgs(rig.group.handle, jobs)
    assert refused(rig.dev, I.DRM_IOCTL_PANTHOR_GROUP_SUBMIT, s.args) == errno.EINVAL, why
    with pytest.raises(OSError):
        done.wait(timeout=0)  # untouched: still no fence
    del arr


def test_submit_header_and_array_errors(rig: Rig) -> None:
    addr, size = rig.store(0, 1)
    dev = rig.dev
    assert (
        refused(dev, I.DRM_IOCTL_PANTHOR_GROUP_SUBMIT, SubmitArgs(1, [_job(addr, size)], pad=1).args)
        == errno.EINVAL
    )
    assert (
        refused(dev, I.DRM_IOCTL_PANTHOR_GROUP_SUBMIT, SubmitArgs(7, [_job(addr, size)]).args) == errno.EINVAL
    )
    assert (
        refused(dev, I.DRM_IOCTL_PANTHOR_GROUP_SUBMIT, SubmitArgs(1, [_job(addr, size)], stride=32).args)
        == errno.EINVAL
    )
    empty = SubmitArgs(7, [])  # count 0: success, nothing happens (even for an unknown group)
    dev.ioctl(I.DRM_IOCTL_PANTHOR_GROUP_SUBMIT, empty.args)


def test_group_handle_is_narrowed_to_u16(rig: Rig) -> None:
    done = rig.dev.syncobj_create()
    arr, syncs = _syncs(S.DrmPanthorSyncOp(flags=SIGNAL, handle=done.handle))
    addr, size = rig.store(0, 0xABCD)
    rig.dev.ioctl(
        I.DRM_IOCTL_PANTHOR_GROUP_SUBMIT,
        SubmitArgs(0x10000 | rig.group.handle, [_job(addr, size, syncs=syncs)]).args,
    )
    done.wait(timeout=1.0)
    assert rig.word(0) == 0xABCD
    del arr


@pytest.mark.parametrize(
    "sync, code",
    [
        (S.DrmPanthorSyncOp(flags=SIGNAL, handle=99), errno.EINVAL),
        (S.DrmPanthorSyncOp(flags=0, handle=99), errno.ENOENT),
        (S.DrmPanthorSyncOp(flags=0, handle=1), errno.EINVAL),  # binary syncobj without a fence
        (S.DrmPanthorSyncOp(flags=SIGNAL | 0x40, handle=1), errno.EINVAL),
        (S.DrmPanthorSyncOp(flags=SIGNAL, handle=1, timeline_value=1), errno.EINVAL),
    ],
)
def test_sync_op_errors_in_the_last_job_queue_nothing(rig: Rig, sync: S.DrmPanthorSyncOp, code: int) -> None:
    rig.dev.syncobj_create()  # handle 1
    addr, size = rig.store(0, 1)
    arr, syncs = _syncs(sync)
    s = SubmitArgs(rig.group.handle, [_job(addr, size), _job(addr, size, syncs=syncs)])
    assert refused(rig.dev, I.DRM_IOCTL_PANTHOR_GROUP_SUBMIT, s.args) == code
    del arr


def test_dependencies_point_backwards_within_a_batch(rig: Rig) -> None:
    mid, end = rig.dev.syncobj_create(), rig.dev.syncobj_create()
    a, b = rig.store(0, 0x1111, slot=0), rig.store(4, 0x2222, slot=1)
    rig.group.submit([Submit(0, *a, signal=[mid]), Submit(1, *b, wait=[mid], signal=[end])])
    end.wait(timeout=1.0)
    assert (rig.word(0), rig.word(4)) == (0x1111, 0x2222)
    other = rig.dev.syncobj_create()
    a1, s1 = _syncs(S.DrmPanthorSyncOp(flags=0, handle=other.handle))
    a2, s2 = _syncs(S.DrmPanthorSyncOp(flags=SIGNAL, handle=other.handle))
    s = SubmitArgs(rig.group.handle, [_job(*a, syncs=s1), _job(*b, queue=1, syncs=s2)])
    assert refused(rig.dev, I.DRM_IOCTL_PANTHOR_GROUP_SUBMIT, s.args) == errno.EINVAL  # forward: refused
    del a1, a2


def test_job_waits_for_a_cpu_signalled_syncobj(rig: Rig) -> None:
    gate, done = rig.dev.syncobj_create(), rig.dev.syncobj_create()
    gate.signal(point=1)
    addr, size = rig.store(0, 0x5555)
    rig.dev.objects.syncobjs.get(gate.handle).add_point(  # type: ignore[union-attr]
        __import__("uio_driver.uapi.syncobj", fromlist=["Fence"]).Fence("cpu gate"), 2
    )
    rig.group.submit([Submit(0, addr, size, wait=[(gate, 2)], signal=[done])])
    with pytest.raises(OSError) as info:
        done.wait(timeout=0.1)
    assert info.value.errno == errno.ETIME and rig.word(0) == 0  # not run: its dependency is pending
    gate.signal(point=3)  # a later point does not release point 2's fence
    with pytest.raises(OSError):
        done.wait(timeout=0.1)
    rig.dev.objects.syncobjs.get(gate.handle).fence.prev.fence.signal()  # type: ignore[union-attr]
    done.wait(timeout=1.0)
    assert rig.word(0) == 0x5555


def test_zero_size_job_is_a_sync_point_after_the_queue(rig: Rig) -> None:
    first, point = rig.dev.syncobj_create(), rig.dev.syncobj_create()
    addr, size = rig.store(0, 0x7777)
    rig.group.submit([Submit(0, addr, size, signal=[first]), Submit(0, 0, 0, signal=[(point, 1)])])
    point.wait(point=1, timeout=1.0)
    assert rig.word(0) == 0x7777  # signalled only after the queue's previous job finished
    assert point.query() == 1


def test_timeline_points_from_jobs(rig: Rig) -> None:
    tl = rig.dev.syncobj_create()
    jobs = [Submit(i % 2, *rig.store(4 * i, 100 + i, slot=i), signal=[(tl, i + 1)]) for i in range(4)]
    rig.group.submit(jobs)
    tl.wait(point=4, timeout=1.0)
    assert tl.query() == 4 and [rig.word(4 * i) for i in range(4)] == [100, 101, 102, 103]


def test_destroy_cancels_jobs_waiting_for_dependencies(rig: Rig) -> None:
    from uio_driver.uapi.syncobj import Fence

    gate, done = rig.dev.syncobj_create(), rig.dev.syncobj_create()
    rig.dev.objects.syncobjs.get(gate.handle).replace_fence(Fence("never"))  # type: ignore[union-attr]
    addr, size = rig.store(0, 1)
    rig.group.submit([Submit(0, addr, size, wait=[gate], signal=[done])])
    rig.group.destroy()
    done.wait(timeout=0)  # signalled (ECANCELED), not left hanging
    assert rig.word(0) == 0


def _fatal_stream(rig: Rig) -> tuple[int, int]:
    words = [0x0A << 56, 0]  # opcode 0x0A is not defined for v10: CS_FATAL INVALID_INSTRUCTION (§1.2)
    rig.code.mmap()[0x1000:0x1010] = struct.pack("<2Q", *words)
    return CODE_VA + 0x1000, 16


def test_fatal_fault_refuses_later_submissions(rig: Rig) -> None:
    done = rig.dev.syncobj_create()
    rig.group.submit([Submit(1, *_fatal_stream(rig), signal=[done])])
    done.wait(timeout=2.0)  # the failed job's fence signals (with an error)
    state = rig.group.state()
    assert state.fatal_fault and state.fatal_queues == 0b10 and not state.timed_out
    addr, size = rig.store(0, 1)
    s = SubmitArgs(rig.group.handle, [_job(addr, size)])
    assert refused(rig.dev, I.DRM_IOCTL_PANTHOR_GROUP_SUBMIT, s.args) == errno.EINVAL
    other = rig.dev.group_create(rig.vm)  # the VM and the device keep working
    ok = rig.dev.syncobj_create()
    other.submit([Submit(0, addr, size, signal=[ok])])
    ok.wait(timeout=1.0)
    assert rig.word(0) == 1


def test_group_limit_is_128(rig: Rig) -> None:
    handles = [rig.dev.group_create(rig.vm).handle for _ in range(127)]
    assert handles[-1] == 128
    c = Create(rig.dev, rig.vm.id)
    assert refused(rig.dev, I.DRM_IOCTL_PANTHOR_GROUP_CREATE, c.args) == errno.EBUSY


def test_syncobj_is_untouched_by_a_refused_submit(rig: Rig) -> None:
    so: SyncObj = rig.dev.syncobj_create(signaled=True)
    arr, syncs = _syncs(S.DrmPanthorSyncOp(flags=SIGNAL, handle=so.handle))
    addr, size = rig.store(0, 1)
    s = SubmitArgs(rig.group.handle, [_job(addr, size, syncs=syncs), _job(addr, size, queue=5)])
    assert refused(rig.dev, I.DRM_IOCTL_PANTHOR_GROUP_SUBMIT, s.args) == errno.EINVAL
    so.wait(timeout=0)  # still the signalled stub it was created with
    del arr
    assert ctypes.sizeof(S.DrmPanthorQueueSubmit) == 40
