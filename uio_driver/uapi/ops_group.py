"""GROUP_CREATE (0x47), GROUP_DESTROY (0x48), GROUP_SUBMIT (0x49), GROUP_GET_STATE (0x4A).

The scheduler layer (:mod:`uio_driver.csf`) owns groups, rings and job completion; this module adds what
panthor's ioctl layer and ``drm_sched`` do on top (cs-isa-and-uapi.md §3.11-§3.13, §3.5, §7):

* per-file group handles 1..128 (EBUSY when full), checks in panthor's order with its errnos, the
  HIGH/REALTIME permission check (EACCES, a :class:`~uio_driver.uapi.device.Device` option);
* GROUP_SUBMIT is atomic: every job is checked, every sync-op array copied and every sync op resolved
  before anything is queued; WAIT dependencies only point backwards inside a batch; the group handle
  is narrowed to u16 before lookup (§7.2 #7);
* each queue has a FIFO of jobs waiting for their WAIT fences (the drm_sched entity); :func:`pump`
  hands the head job to the scheduler once its dependencies signalled and its ring has room. A job
  whose group can no longer run when its turn comes fails with ECANCELED;
* GROUP_GET_STATE zeroes the whole argument first, so ``group_handle`` reads back 0 (§7.2 #6).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from uio_driver.csf.group import QueueSpec
from uio_driver.errors import AccessDenied, InvalidArgument, MaliError
from uio_driver.uapi import structs as S
from uio_driver.uapi.objects import VmObject
from uio_driver.uapi.ops_vm import lookup_vm
from uio_driver.uapi.syncobj import Fence, SubmitContext
from uio_driver.uapi.uobj import get_uobj_array

if TYPE_CHECKING:
    from uio_driver.uapi.device import Device

#: MAX_CS_PER_CSG (panthor_fw.h): the GROUP_CREATE queue limit (§7.1 #1).
MAX_CS_PER_CSG = 32
RING_MIN, RING_MAX = 4 << 10, 64 << 10
#: latest_flush bits 30:24 must be zero (panthor_job_create).
LATEST_FLUSH_RESERVED = 0x7F << 24


@dataclass(eq=False)
class FrontJob:
    """A submitted job as the ioctl layer sees it: waiting for its dependencies, then on the ring."""

    queue_index: int
    stream_addr: int
    stream_size: int
    latest_flush: int
    deps: list[Fence]
    job: Any = None
    fence: Fence = field(default_factory=lambda: Fence("job"))

    def __post_init__(self) -> None:
        self.fence = Fence(f"job q{self.queue_index}", probe=self._probe)

    def _probe(self) -> tuple[bool, int]:
        job = self.job
        if job is None or not job.done:
            return False, 0
        return True, -int(job.error) if job.error else 0


@dataclass(eq=False)
class GroupObject:
    """One group of this file."""

    handle: int
    group: Any
    vmo: VmObject
    pending: list[list[FrontJob]]


def _groups(dev: Device) -> Any:
    return dev.objects.groups


# -- GROUP_CREATE ----------------------------------------------------------------------------------------


def _check_create(dev: Device, args: S.DrmPanthorGroupCreate, queues: list[S.DrmPanthorQueueCreate]) -> None:
    info = dev.gpu.info or dev.gpu.probe()
    prio = int(args.priority)
    if prio > S.PANTHOR_GROUP_PRIORITY_REALTIME:
        raise InvalidArgument(f"GROUP_CREATE: priority {prio} is not 0..3", value=prio)
    if prio >= S.PANTHOR_GROUP_PRIORITY_HIGH and not dev.privileged:
        raise AccessDenied(f"GROUP_CREATE: priority {prio} needs CAP_SYS_NICE or DRM master", value=prio)
    if args.pad:
        raise InvalidArgument(f"GROUP_CREATE: pad is {int(args.pad):#x}", value=int(args.pad))
    for name, present, maximum in (("compute", info.shader_present, args.max_compute_cores),
                                   ("fragment", info.shader_present, args.max_fragment_cores),
                                   ("tiler", info.tiler_present, args.max_tiler_cores)):
        mask = int(getattr(args, f"{name}_core_mask"))
        if mask & ~present:
            raise InvalidArgument(f"GROUP_CREATE: {name}_core_mask {mask:#x} is not a subset of {present:#x}",
                                  value=mask)
        if bin(mask).count("1") < int(maximum):
            raise InvalidArgument(f"GROUP_CREATE: max_{name}_cores {int(maximum)} exceeds the cores of "
                                  f"{mask:#x}", value=int(maximum))
    lookup_vm(dev, int(args.vm_id), "GROUP_CREATE")
    for i, q in enumerate(queues):
        size = int(q.ringbuf_size)
        if any(q.pad):
            raise InvalidArgument(f"GROUP_CREATE: queue {i} pad is not zero", value=i)
        if size & (size - 1) or not RING_MIN <= size <= RING_MAX:
            raise InvalidArgument(f"GROUP_CREATE: queue {i} ringbuf_size {size:#x} is not a power of two in "
                                  f"[{RING_MIN:#x}, {RING_MAX:#x}]", value=size)
        if q.priority > 15:
            raise InvalidArgument(f"GROUP_CREATE: queue {i} priority {int(q.priority)} is not 0..15",
                                  value=int(q.priority))


def group_create(dev: Device, args: S.DrmPanthorGroupCreate) -> None:
    """DRM_IOCTL_PANTHOR_GROUP_CREATE."""
    dev.check_alive()
    count = int(args.queues.count)
    if count == 0 or count > MAX_CS_PER_CSG:
        raise InvalidArgument(f"GROUP_CREATE: {count} queues (1..{MAX_CS_PER_CSG})", value=count)
    queues = get_uobj_array(args.queues, S.DrmPanthorQueueCreate)
    _check_create(dev, args, queues)
    vmo = lookup_vm(dev, int(args.vm_id), "GROUP_CREATE")
    _groups(dev).check_free()  # MAX_GROUPS_PER_POOL: EBUSY before anything is allocated
    specs = [QueueSpec(int(q.priority), int(q.ringbuf_size)) for q in queues]
    group = dev.core.create_group(
        vmo.vm, specs, priority=int(args.priority),
        compute_core_mask=int(args.compute_core_mask), fragment_core_mask=int(args.fragment_core_mask),
        tiler_core_mask=int(args.tiler_core_mask), max_compute_cores=int(args.max_compute_cores),
        max_fragment_cores=int(args.max_fragment_cores), max_tiler_cores=int(args.max_tiler_cores))
    obj = GroupObject(0, group, vmo, [[] for _ in queues])
    obj.handle = _groups(dev).alloc(obj)
    vmo.groups.add(obj.handle)
    args.group_handle = obj.handle


# -- GROUP_DESTROY / GROUP_GET_STATE -----------------------------------------------------------------------


def _lookup(dev: Device, handle: int, what: str) -> GroupObject:
    obj = _groups(dev).get(handle)
    if obj is None:
        raise InvalidArgument(f"{what}: no group with handle {handle}", value=handle)
    return obj


def destroy_group(dev: Device, obj: GroupObject) -> None:
    """Cancel the jobs still waiting for dependencies, then let the scheduler terminate the group."""
    _groups(dev).remove(obj.handle)
    for fifo in obj.pending:
        for job in fifo:
            job.fence.signal(-errno.ECANCELED)
        fifo.clear()
    obj.vmo.groups.discard(obj.handle)
    dev.core.destroy_group(obj.group)


def group_destroy(dev: Device, args: S.DrmPanthorGroupDestroy) -> None:
    """DRM_IOCTL_PANTHOR_GROUP_DESTROY: pad or unknown handle -> EINVAL; pending jobs -> ECANCELED."""
    if args.pad:
        raise InvalidArgument(f"GROUP_DESTROY: pad is {int(args.pad):#x}", value=int(args.pad))
    destroy_group(dev, _lookup(dev, int(args.group_handle), "GROUP_DESTROY"))


def group_get_state(dev: Device, args: S.DrmPanthorGroupGetState) -> None:
    """DRM_IOCTL_PANTHOR_GROUP_GET_STATE."""
    if args.pad:
        raise InvalidArgument(f"GROUP_GET_STATE: pad is {int(args.pad):#x}", value=int(args.pad))
    obj = _lookup(dev, int(args.group_handle), "GROUP_GET_STATE")
    state = dev.core.group_state(obj.group)
    args.group_handle = 0  # the kernel memsets the whole struct (§7.2 #6)
    args.state = int(state.flags)
    args.fatal_queues = int(state.fatal_queues)
    args.pad = 0


# -- GROUP_SUBMIT --------------------------------------------------------------------------------------------


def _check_job(dev: Device, handle: int, q: S.DrmPanthorQueueSubmit, i: int) -> GroupObject:
    """``panthor_job_create`` checks for job ``i`` (all EINVAL)."""
    addr, size, flush = int(q.stream_addr), int(q.stream_size), int(q.latest_flush)
    if q.pad:
        raise InvalidArgument(f"GROUP_SUBMIT job {i}: pad is {int(q.pad):#x}", value=int(q.pad))
    if (size == 0) != (addr == 0):
        raise InvalidArgument(f"GROUP_SUBMIT job {i}: stream_addr {addr:#x} and stream_size {size:#x} "
                              "must be both zero or both nonzero", value=addr)
    if addr & 63 or size & 7:
        raise InvalidArgument(f"GROUP_SUBMIT job {i}: stream_addr {addr:#x} must be 64-byte and stream_size "
                              f"{size:#x} 8-byte aligned", value=addr)
    if flush & LATEST_FLUSH_RESERVED:
        raise InvalidArgument(f"GROUP_SUBMIT job {i}: latest_flush {flush:#x} has bits 30:24 set",
                              value=flush)
    obj = _lookup(dev, handle & 0xFFFF, f"GROUP_SUBMIT job {i}")  # u16 handle (§7.2 #7)
    if not obj.group.can_run:
        raise InvalidArgument(f"GROUP_SUBMIT job {i}: group {obj.handle} cannot run any more (timed out or "
                              "faulted)", value=obj.handle)
    if int(q.queue_index) >= len(obj.pending):
        raise InvalidArgument(f"GROUP_SUBMIT job {i}: queue_index {int(q.queue_index)} is outside "
                              f"0..{len(obj.pending) - 1}", value=int(q.queue_index))
    return obj


def group_submit(dev: Device, args: S.DrmPanthorGroupSubmit) -> None:
    """DRM_IOCTL_PANTHOR_GROUP_SUBMIT: all jobs or none."""
    if args.pad:
        raise InvalidArgument(f"GROUP_SUBMIT: pad is {int(args.pad):#x}", value=int(args.pad))
    dev.check_alive()
    entries = get_uobj_array(args.queue_submits, S.DrmPanthorQueueSubmit)
    if not entries:
        return
    objs, syncs = [], []
    for i, q in enumerate(entries):  # panthor_job_create, then the job's sync array
        objs.append(_check_job(dev, int(args.group_handle), q, i))
        syncs.append(get_uobj_array(q.syncs, S.DrmPanthorSyncOp))
    ctx = SubmitContext(dev.objects)
    for job_syncs in syncs:
        ctx.collect_signals(job_syncs)
    jobs = []
    for q, job_syncs in zip(entries, syncs, strict=True):
        job = FrontJob(int(q.queue_index), int(q.stream_addr), int(q.stream_size), int(q.latest_flush),
                       ctx.job_dependencies(job_syncs))
        ctx.arm(job_syncs, job.fence)
        jobs.append(job)
    obj = objs[0]
    for job in jobs:  # the push point: nothing below can fail
        obj.pending[job.queue_index].append(job)
    ctx.push()
    pump(dev)


def _push(dev: Device, obj: GroupObject, job: FrontJob) -> bool:
    """Hand ``job`` to the scheduler; False when its ring has no room yet (try again later)."""
    group = obj.group
    if not group.can_run:
        job.fence.signal(-errno.ECANCELED)  # panthor fails jobs of a group that cannot run
        return True
    if job.stream_size and not group.queues[job.queue_index].has_room():
        return False
    try:
        job.job = dev.core.scheduler.submit_many(
            group, [(job.queue_index, job.stream_addr, job.stream_size, job.latest_flush)], room_timeout=0)[0]
    except MaliError as err:
        if err.errno == errno.EBUSY:
            return False
        job.fence.signal(-errno.ECANCELED)
    return True


def pump(dev: Device) -> None:
    """Queue every job whose dependencies signalled, in submission order per queue."""
    for _, obj in _groups(dev).items():
        for fifo in obj.pending:
            while fifo and all(dep.signaled for dep in fifo[0].deps):
                if not _push(dev, obj, fifo[0]):
                    break
                fifo.pop(0)


def release_all(dev: Device) -> None:
    """Destroy every group of the file (file close / unplug)."""
    for handle in list(_groups(dev)):
        obj = _groups(dev).get(handle)
        if obj is not None:
            destroy_group(dev, obj)


HANDLERS = {
    0x40 + S.DRM_PANTHOR_GROUP_CREATE: group_create,
    0x40 + S.DRM_PANTHOR_GROUP_DESTROY: group_destroy,
    0x40 + S.DRM_PANTHOR_GROUP_SUBMIT: group_submit,
    0x40 + S.DRM_PANTHOR_GROUP_GET_STATE: group_get_state,
}
