"""The CSG scheduler: groups on the firmware's CSG slots, submission, the tick, completion and waits.

Facts: cs-isa-and-uapi.md §5.1 (8 CSG slots on the G610, distinct firmware priorities 15, 14, … for the
resident groups, AS1..7 for their VMs), §5.2 (life cycle, "can run", idle groups), §5.3 (the tick:
old groups, fill by descending kernel priority — waiting non-idle groups, then resident non-idle ones,
then idle ones —, SUSPEND the groups not picked or TERMINATE those that cannot run, START/RESUME the
new ones, round-robin inside a priority, a 10 ms tick only while groups wait for a slot), §5.4 (job
timeout) and §2.4 (submission: ring the doorbell of a resident group, otherwise let the tick pick it);
csf-firmware-and-interfaces.md §7.4-§7.6 (the CSG request protocol, in :mod:`.csg_slots`, and event
handling, in :mod:`.events`). The tick itself is in :mod:`.tick`; faults, timeouts and resets are in
:mod:`.recovery`.

Time: the scheduler owns no thread. Every wait goes through :meth:`Scheduler.wait_for`, which services
the JOB and MMU interrupts (so completion is learnt from the CSG SYNC_UPDATE interrupt and the sync
objects in memory), runs the deferred work (heap growth, resets, ticks, job timeouts) and waits with
``clock.poll`` — on the simulator this advances virtual time, so the 10 ms tick and the 5 s job timeout
cost no real time.
"""

from __future__ import annotations

import errno as _errno
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DeviceNotFound, InvalidArgument, MaliError, Timeout
from ..firmware.blocks import CsgState
from ..firmware.device import CsfFirmware
from ..firmware.interface import CsgIface
from ..gpu import Gpu
from ..mmu import VM, Mmu
from .csg_slots import SlotRequests, request_state
from .events import EventHandler
from .group import Group, GroupParams, GroupPriority, GroupState, QueueSpec, group_params
from .kmem import KernelMemory
from .queue import Job, Queue, check_job
from .recovery import Recovery
from .tick import TickMixin

if TYPE_CHECKING:
    from .heap import HeapPool

log = logging.getLogger(__name__)

@dataclass
class SchedulerConfig:
    """Scheduler timings and policy (panthor's defaults, §5.1, §5.4, §7.8).

    Attributes:
        tick_period_s: the rotation tick (10 ms).
        job_timeout_s: no-progress time after which a queue's group times out (5000 ms).
        csg_timeout_s: CSG request acknowledgement timeout (100 ms).
        reset_on_timeout: reset the GPU when a job times out (see :mod:`.recovery`).
        poll_interval_s: polling interval of waits without a JOB interrupt line.
        wait_on_irq_line: sleep on the JOB interrupt line instead of polling (less CPU on a board; on
            the simulator polling coalesces completions and is faster).
        wait_slice_s: longest sleep on the JOB interrupt line before memory-only conditions and the
            MMU line are checked again.
    """

    tick_period_s: float = 0.010
    job_timeout_s: float = 5.0
    csg_timeout_s: float = 0.100
    reset_on_timeout: bool = True
    poll_interval_s: float = 10e-6
    wait_on_irq_line: bool = False
    wait_slice_s: float = 0.001

    def validate(self) -> None:
        """Raises InvalidArgument naming the first bad value."""
        for name in ("tick_period_s", "job_timeout_s", "csg_timeout_s", "poll_interval_s", "wait_slice_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 3600:
                raise InvalidArgument(f"SchedulerConfig.{name} must be a positive number of seconds, "
                                      f"got {value!r}")
        for flag in ("reset_on_timeout", "wait_on_irq_line"):
            if not isinstance(getattr(self, flag), bool):
                raise InvalidArgument(f"SchedulerConfig.{flag} must be a bool, got {getattr(self, flag)!r}")


@dataclass
class SchedStats:
    """Counters: ticks run, rotations (ticks that changed residency), starts, resumes, suspends."""

    ticks: int = 0
    rotations: int = 0
    starts: int = 0
    resumes: int = 0
    suspends: int = 0
    terminates: int = 0
    jobs_submitted: int = 0
    jobs_completed: int = 0
    tick_reasons: dict[str, int] = field(default_factory=dict)


class Scheduler(TickMixin):
    """Groups, their CSG slots and their jobs on one booted firmware.

    Args:
        gpu, mmu, fw: the device layers (the firmware must be ready: booted and initialised).
        kmem: kernel-object memory (queue rings, sync objects, suspend buffers).
        config: :class:`SchedulerConfig`.

    Raises:
        InvalidArgument: a bad config. DeviceNotFound: the firmware is not ready.
    """

    def __init__(self, gpu: Gpu, mmu: Mmu, fw: CsfFirmware, kmem: KernelMemory,
                 config: SchedulerConfig | None = None) -> None:
        self.config = config or SchedulerConfig()
        self.config.validate()
        if not fw.ready or fw.info is None or fw.vm is None:
            raise DeviceNotFound("scheduler: the CSF firmware is not booted and initialised")
        self.gpu, self.mmu, self.fw, self.kmem = gpu, mmu, fw, kmem
        self.clock = gpu.clock
        self.info = fw.info
        self.slots: list[Group | None] = [None] * self.info.csg_slot_count
        self.groups: dict[int, Group] = {}
        self.heap_pools: dict[int, HeapPool] = {}
        self.stats = SchedStats()
        self.events = EventHandler(self)
        self.recovery = Recovery(self)
        self._runlist: list[Group] = []
        self._next_handle = 1
        self._tick_reason: str | None = None
        self._next_tick_ns: int | None = None
        self._ooms: list[tuple[Group, int]] = []
        self._busy = False
        self._closed = False
        fw.mcu.add_listener(self.events.on_job_irq)

    # -- helpers ---------------------------------------------------------------------------------------

    def csg(self, slot: int) -> CsgIface:
        """The firmware's CSG interface of ``slot`` (re-read after every firmware reboot)."""
        if self.fw.interface is None:
            raise DeviceNotFound("the firmware interface is gone (MCU not booted)")
        return self.fw.interface.csg(slot)

    def resident_groups(self) -> list[Group]:
        return [g for g in self.slots if g is not None]

    def request_tick(self, reason: str) -> None:
        """Run a tick at the next :meth:`process` (an event, a new job, a fault)."""
        if self._tick_reason is None:
            self._tick_reason = reason

    def defer_tiler_oom(self, group: Group, cs_index: int) -> None:
        """A TILER_OOM event: handled (heap growth) at the next :meth:`process` (§6.4, §7.7)."""
        if (group, cs_index) not in self._ooms:
            self._ooms.append((group, cs_index))

    # -- groups ----------------------------------------------------------------------------------------

    def create_group(self, vm: VM, queues: Sequence[QueueSpec], **params: Any) -> Group:
        """Create a group (GROUP_CREATE, §3.11): checks in panthor's order (EINVAL), then all-or-nothing
        allocation (ENOMEM). Keyword parameters: ``priority``, ``compute_core_mask``,
        ``fragment_core_mask``, ``tiler_core_mask``, ``max_compute_cores``, ``max_fragment_cores``,
        ``max_tiler_cores`` (see :func:`~uio_driver.csf.group.group_params`).

        Raises:
            InvalidArgument: a bad parameter or an unknown VM. OutOfMemory: allocation failed.
            DeviceNotFound: the device was lost in a failed reset.
        """
        self._check_alive()
        info = self.gpu.info or self.gpu.probe()
        checked: GroupParams = group_params(info, self.info, list(queues) if isinstance(queues, (list, tuple))
                                            else queues, **params)
        if not isinstance(vm, VM) or vm.destroyed or vm.is_mcu or self.mmu.vms.get(vm.id) is not vm:
            raise InvalidArgument(f"group VM {vm!r} is not a live user VM of this device")
        if self.fw.vm is None:
            raise DeviceNotFound("the firmware has no MCU VM")
        group = Group.create(self._next_handle, vm, checked, self.kmem, self.fw.vm, self.info)
        self._next_handle += 1
        self.groups[group.handle] = group
        self._runlist.append(group)
        return group

    def group(self, handle: int) -> Group:
        """The live group ``handle``, else EINVAL (GROUP_* on an unknown handle)."""
        group = self.groups.get(handle) if isinstance(handle, int) and not isinstance(handle, bool) else None
        if group is None:
            raise InvalidArgument(f"unknown group handle {handle!r}")
        return group

    def group_state(self, group: Group) -> GroupState:
        """GROUP_GET_STATE (§3.13) after handling pending events."""
        self._check_group(group)
        self.process()
        return group.state()

    def destroy_group(self, group: Group) -> None:
        """GROUP_DESTROY: terminate it if resident, cancel its jobs (ECANCELED), free its memory.

        Raises:
            InvalidArgument: not a live group of this scheduler.
        """
        self._check_group(group)
        group.destroyed = True
        if group.resident and self.fw.ready:
            slot = self._slot(group)
            batch = SlotRequests()
            batch.add(slot, request_state(self.csg(slot), CsgState.TERMINATE))
            if batch.apply(self.fw, self.config.csg_timeout_s):
                # The firmware may still use the group's memory: reset now, before it is freed.
                self.recovery.request_reset(f"group {group.handle}: TERMINATE not acknowledged")
                if not self.recovery.in_reset:
                    self.recovery.reset()
            else:
                self.stats.terminates += 1
                self._stop_queues(group)
        if group.resident:
            self.unbind(group)
        self.recovery.kill(group, "group destroyed")
        del self.groups[group.handle]
        if group in self._runlist:
            self._runlist.remove(group)
        self._ooms = [(g, s) for g, s in self._ooms if g is not group]
        group.release()

    def _check_group(self, group: Group) -> None:
        if not isinstance(group, Group) or self.groups.get(group.handle) is not group:
            raise InvalidArgument(f"{group!r} is not a live group of this scheduler")

    def _check_alive(self) -> None:
        if self._closed:
            raise DeviceNotFound("the scheduler is closed")
        if self.recovery.device_lost:
            raise DeviceNotFound(f"device lost: {self.recovery.device_lost}")

    # -- submission ------------------------------------------------------------------------------------

    def submit(self, group: Group, queue_index: int, stream_addr: int, stream_size: int,
               latest_flush: int = 0, *, room_timeout: float | None = None) -> Job:
        """Submit one job (see :meth:`submit_many`)."""
        return self.submit_many(group, [(queue_index, stream_addr, stream_size, latest_flush)],
                                room_timeout=room_timeout)[0]

    def submit_many(self, group: Group, jobs: Sequence[tuple[int, int, int, int]], *,
                    room_timeout: float | None = None) -> list[Job]:
        """Submit jobs ``(queue_index, stream_addr, stream_size, latest_flush)`` to ``group`` (GROUP_SUBMIT).

        Every job is checked before any is pushed (§3.12 atomicity), and the first job's ring room is
        waited for (at most ``room_timeout``, default the job timeout) before the push point. Then each
        job is appended to its ring (panthor's sequence); after each run of appends the doorbells of a
        resident group are rung once per queue, otherwise the tick picks the group. Past the push point
        nothing raises: when a later job has to wait for ring room and the group dies meanwhile (or the
        room never comes), that job is returned failed with ECANCELED, as panthor fails jobs of a group
        that cannot run.

        Raises:
            InvalidArgument: the group cannot run (timed out, fatal fault, destroyed), a bad queue index
                or job parameters (EINVAL; nothing is queued).
            MaliError: (EBUSY) the first job's ring stayed full for ``room_timeout`` (nothing is queued).
            DeviceNotFound: the device was lost.
        """
        self._check_alive()
        self._check_group(group)
        self._check_runnable(group)
        checked = [(self._queue(group, qi), *check_job(addr, size, flush)) for qi, addr, size, flush in jobs]
        limit = self.config.job_timeout_s if room_timeout is None else room_timeout
        first = next((q for q, _, size, _ in checked if size), None)
        if first is not None and not self._room(first):
            try:
                self.wait_for(lambda: self._room(first) or not group.can_run, limit,
                              f"room in the ring of group {group.handle} queue {first.index}")
            except Timeout as err:
                raise MaliError(f"{err.message}: the ring is full", errno=_errno.EBUSY) from None
            self._check_runnable(group)
        out: list[Job] = []
        touched: list[Queue] = []
        for queue, addr, size, flush in checked:
            if size and not self._room(queue):
                self._kick(group, touched)
                touched = []
                if not self._wait_room(group, queue, limit):
                    out.append(self._failed_job(queue, addr, size, flush, group))
                    continue
            now = self.clock.now_ns()
            if size and not queue.in_flight:
                self._reset_timer(queue, now)
            out.append(queue.append(addr, size, flush, now))
            if size and queue not in touched:
                touched.append(queue)
        self.stats.jobs_submitted += len(out)
        self._kick(group, touched)
        return out

    @staticmethod
    def _room(queue: Queue) -> bool:
        return queue.has_room()

    def _wait_room(self, group: Group, queue: Queue, limit: float) -> bool:
        try:
            self.wait_for(lambda: queue.has_room() or not group.can_run, limit,
                          f"room in the ring of group {group.handle} queue {queue.index}")
        except Timeout:
            return False
        return group.can_run

    def _failed_job(self, queue: Queue, addr: int, size: int, flush: int, group: Group) -> Job:
        now = self.clock.now_ns()
        why = "the group can no longer run" if not group.can_run else "no ring room within the wait"
        return Job(queue, queue.last_seqno, queue.insert, queue.insert, addr, size, flush, 0, now, done=True,
                   error=_errno.ECANCELED, fault=f"not run: {why}", completed_ns=now)

    def _queue(self, group: Group, index: object) -> Queue:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(group.queues):
            raise InvalidArgument(f"queue_index {index!r} is outside 0..{len(group.queues) - 1} of group "
                                  f"{group.handle}")
        return group.queues[index]

    def _check_runnable(self, group: Group) -> None:
        if not group.can_run:
            state = group.state()
            raise InvalidArgument(f"group {group.handle} cannot run any more (state {int(state.flags):#x}, "
                                  f"fatal_queues {state.fatal_queues:#x}, {group.status.value}): submission "
                                  "refused", value=int(state.flags))

    def _kick(self, group: Group, queues: list[Queue]) -> None:
        """§2.4 step 6: ring the doorbell of a resident group's queues, else get the group scheduled."""
        if not queues:
            return
        if group.resident:
            for queue in queues:
                if queue.doorbell is not None:
                    self.fw.mcu.ring(queue.doorbell)
            return
        if group.priority is GroupPriority.REALTIME or None in self.slots:
            self.request_tick(f"group {group.handle} has work")
        elif self._next_tick_ns is None:
            self._next_tick_ns = self.clock.now_ns() + int(self.config.tick_period_s * 1e9)

    # -- completion ------------------------------------------------------------------------------------

    def _reset_timer(self, queue: Queue, now: int) -> None:
        queue.timeout_budget_ns = int(self.config.job_timeout_s * 1e9)
        queue.timer_start_ns = now if queue.group.resident else None

    def check_completion(self, group: Group) -> list[Job]:
        """Complete the jobs whose seqno the sync objects reached; a completion is progress (§5.4)."""
        done: list[Job] = []
        now = self.clock.now_ns()
        for q in group.queues:
            if q.in_flight:
                finished = q.check_completion(now)
                if finished:
                    done += finished
                    if q.in_flight:
                        self._reset_timer(q, now)
                    else:
                        q.timer_start_ns = None
        self.stats.jobs_completed += len(done)
        return done

    def on_sync_update(self, group: Group) -> None:
        """CSG SYNC_UPDATE: job completion, then re-evaluate queues blocked on sync waits (§7.6 step 6)."""
        self.check_completion(group)
        if self._reeval_blocked():
            self.request_tick("sync wait satisfied")

    def _reeval_blocked(self) -> bool:
        """Host-side evaluation of recorded sync waits (§6.5); True when a queue was released."""
        released = False
        for group in self.groups.values():
            for q in group.queues:
                if q.blocked is None:
                    continue
                ptr, ref, is64, greater = q.blocked
                value = self._read_gpu(group.vm, ptr, 8 if is64 else 4)
                if value is None or (value > ref if greater else value <= ref):
                    q.blocked = None
                    released = True
        return released

    def _read_gpu(self, vm: VM, va: int, size: int) -> int | None:
        try:
            pa = vm.translate(va).pa
            data = self.mmu.allocator.peek(pa, size)
        except MaliError:
            return None
        return int(np.frombuffer(data, dtype=np.uint64 if size == 8 else np.uint32)[0])

    # -- processing and waiting ------------------------------------------------------------------------

    def process(self, *, service: bool = True) -> None:
        """Service interrupts (unless the caller just did) and run deferred work: MMU-fault isolation,
        heap growth, job timeouts, a pending GPU reset, a due tick. Re-entrant calls (from inside a wait
        of this work) return at once."""
        if self._busy or self._closed:
            return
        self._busy = True
        try:
            if service:
                self.fw.mcu.service()
                self.mmu.service()
            for group in self.resident_groups():
                self.check_completion(group)
            self.recovery.check_vm_faults()
            self._handle_ooms()
            self.recovery.check_timeouts(self.clock.now_ns())
            if self.recovery.reset_reason is not None and not self.recovery.device_lost:
                self.recovery.reset()
            due = self._next_tick_ns is not None and self.clock.now_ns() >= self._next_tick_ns
            if (self._tick_reason is not None or due) and not self.recovery.device_lost:
                self.tick()
        finally:
            self._busy = False

    def _work_pending(self) -> bool:
        return (self._tick_reason is not None or bool(self._ooms) or self.recovery.reset_reason is not None
                or any(vm.faulty for vm in self.mmu.vms.values()))

    def next_deadline_ns(self) -> int | None:
        """The next time the scheduler must act by itself (a tick or a job timeout), or None."""
        times = [t for t in (self._next_tick_ns, self.recovery.next_deadline_ns()) if t is not None]
        return min(times) if times else None

    def wait_for(self, predicate: Callable[[], object], timeout: float, what: str) -> None:
        """Run the scheduler until ``predicate()`` is truthy, for at most ``timeout`` seconds.

        By default it polls (``clock.poll``: the interrupts are serviced at every step, so several
        completions that land within one poll interval are handled by one pass). With
        ``wait_on_irq_line`` and a JOB interrupt line (UIO, vfio, the simulator) it sleeps on the line
        instead — woken by the firmware's interrupts — in slices of at most ``wait_slice_s`` (the MMU
        line and memory-only conditions such as ring room are checked between slices). Either way it
        never sleeps past the scheduler's next deadline (tick, job timeout).

        Raises:
            Timeout: naming ``what``.
        """
        if not 0 <= timeout < float("inf"):
            raise InvalidArgument(f"wait for {what}: timeout {timeout!r} must be finite and >= 0")
        clock = self.clock
        deadline = clock.now_ns() + int(timeout * 1e9)
        platform = self.gpu.platform
        line = platform.irq("job") if self.config.wait_on_irq_line and platform.has_irq("job") else None
        slice_ns = int(self.config.wait_slice_s * 1e9)
        serviced = False
        while True:
            self.process(service=not serviced)
            if predicate():
                return
            now = clock.now_ns()
            if now >= deadline:
                raise Timeout(f"{what}: not reached after {timeout * 1e3:.6g} ms")
            nxt = self.next_deadline_ns()
            limit = min(deadline, now + slice_ns if nxt is None else max(min(nxt, now + slice_ns), now + 1))
            if line is not None:
                line.wait((limit - now) / 1e9)  # serviced (and re-enabled) by process()
                serviced = False
            else:
                serviced = self._poll(predicate, limit - now, what)

    def _poll(self, predicate: Callable[[], object], wait_ns: int, what: str) -> bool:
        """Poll until ``predicate`` or deferred work; True when the interrupts were just serviced."""
        mcu, mmu = self.fw.mcu, self.mmu

        def ready() -> bool:
            if not mcu.service():  # a JOB interrupt's handler services the MMU first itself
                mmu.service()
            return bool(predicate()) or self._work_pending()

        try:
            self.clock.poll(ready, wait_ns / 1e9, what, self.config.poll_interval_s)
        except Timeout:
            return False
        return True

    def wait_jobs(self, jobs: Sequence[Job], timeout: float | None = None) -> None:
        """Wait until every job is done (successfully or not); default timeout: twice the job timeout
        plus a second (a job that makes no progress fails with ETIMEDOUT before that)."""
        limit = 2 * self.config.job_timeout_s + 1.0 if timeout is None else timeout
        pending = deque(j for j in jobs if not j.done)
        count = len(pending)

        def all_done() -> bool:  # amortised O(1) per wake-up: drop the finished jobs at the front
            while pending and pending[0].done:
                pending.popleft()
            return not pending

        self.wait_for(all_done, limit, f"{count} job(s) to complete")

    # -- reset hooks and life cycle ---------------------------------------------------------------------

    def after_reset(self) -> None:
        """After a GPU reset: every slot is free; runnable groups are picked at an immediate tick (§5.6)."""
        self.slots = [None] * len(self.slots)
        for group in self.groups.values():
            group.csg_slot = None
            for q in group.queues:
                q.doorbell = None
        self._ooms.clear()
        if not self.recovery.device_lost:
            self.request_tick("post-reset")

    def close(self) -> None:
        """Destroy every group (terminating the resident ones) and detach from the JOB interrupt."""
        if self._closed:
            return
        for group in list(self.groups.values()):
            try:
                self.destroy_group(group)
            except MaliError as err:
                log.warning("close: group %d: %s", group.handle, err.message)
        self.fw.mcu.remove_listener(self.events.on_job_irq)
        self._closed = True

    def to_dict(self) -> dict[str, Any]:
        s = self.stats
        return {"csg_slots": len(self.slots), "slots": [None if g is None else g.handle for g in self.slots],
                "groups": len(self.groups), "ticks": s.ticks, "rotations": s.rotations, "starts": s.starts,
                "resumes": s.resumes, "suspends": s.suspends, "terminates": s.terminates,
                "jobs_submitted": s.jobs_submitted, "jobs_completed": s.jobs_completed,
                "resets": [r.to_dict() for r in self.recovery.resets], "events": dict(self.events.counts)}
