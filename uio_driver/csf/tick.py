"""The scheduler's tick: which groups are resident on the CSG slots, and the slot transitions.

Facts: cs-isa-and-uapi.md §5.1 (8 CSG slots, distinct firmware priorities 15, 14, … for the resident
groups, AS1..7 for their VMs), §5.3 (the tick: fill the slots by descending kernel priority — waiting
non-idle groups, then resident non-idle ones, then idle ones —, SUSPEND the groups not picked or
TERMINATE those that cannot run, START/RESUME the new ones, round-robin inside a priority, a 10 ms tick
only while groups wait for a slot) and §6.4 (TILER_OOM answers); csf-firmware-and-interfaces.md
§7.4-§7.5 (the CSG request protocol, in :mod:`.csg_slots`).

:class:`TickMixin` is part of :class:`~uio_driver.csf.scheduler.Scheduler` (split out to keep modules
small); it uses the scheduler's state declared below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InvalidArgument, MaliError
from ..firmware.blocks import CsgState, CsReq
from ..firmware.device import CsfFirmware
from ..firmware.interface import CsgIface
from ..mmu import VM, Mmu
from ..platform.base import Clock
from .csg_slots import (
    SlotRequests,
    acked_state,
    program_group,
    read_queue_status,
    request_priority,
    request_state,
    request_status_update,
    stop_queue,
)
from .group import Group, GroupPriority, GroupStatus

if TYPE_CHECKING:
    from .events import EventHandler
    from .heap import HeapPool
    from .queue import Job
    from .recovery import Recovery
    from .scheduler import SchedStats, SchedulerConfig

#: Highest CSG priority (endpoint_req 31:28, §5.5).
MAX_FW_PRIORITY = 15


class TickMixin:
    """The tick, slot binding and eviction, and tiler-OOM answers of the scheduler."""

    fw: CsfFirmware
    mmu: Mmu
    clock: Clock
    config: SchedulerConfig
    stats: SchedStats
    events: EventHandler
    recovery: Recovery
    slots: list[Group | None]
    heap_pools: dict[int, HeapPool]
    _runlist: list[Group]
    _tick_reason: str | None
    _next_tick_ns: int | None
    _ooms: list[tuple[Group, int]]

    if TYPE_CHECKING:  # provided by Scheduler
        def csg(self, slot: int) -> CsgIface: ...

        def resident_groups(self) -> list[Group]: ...

        def check_completion(self, group: Group) -> list[Job]: ...

        def request_tick(self, reason: str) -> None: ...

        def _reeval_blocked(self) -> bool: ...

    @property
    def user_as_count(self) -> int:
        """Address spaces for user VMs (AS0 is the MCU's)."""
        return len(self.mmu.as_numbers) - 1

    # -- the tick --------------------------------------------------------------------------------------

    def tick(self) -> None:
        """One scheduling pass (§5.3); on return the picked groups are resident and acknowledged (or a
        GPU reset is pending)."""
        reason = self._tick_reason or "periodic"
        self._tick_reason = None
        self._next_tick_ns = None
        if not self.fw.ready:
            return
        self.stats.ticks += 1
        self.stats.tick_reasons[reason] = self.stats.tick_reasons.get(reason, 0) + 1
        self._reeval_blocked()
        resident = self.resident_groups()
        doomed = [g for g in resident if not g.can_run]
        waiting = [g for g in self._runlist if not g.resident and g.can_run and g.has_work]
        if not doomed and not waiting:
            return  # the firmware schedules the resident groups itself (§5.3)
        if waiting and len(resident) - len(doomed) >= len(self.slots):
            self._status_update([g for g in resident if g.can_run])
        picked = self._pick(resident, waiting)
        self._apply(resident, picked)
        # Keep ticking while runnable groups with work wait for a slot (§5.3 step 5).
        if self.recovery.reset_reason is None and any(
                not g.resident and g.can_run and g.has_work for g in self._runlist):
            self._next_tick_ns = self.clock.now_ns() + int(self.config.tick_period_s * 1e9)

    def _pick(self, resident: list[Group], waiting: list[Group]) -> list[Group]:
        """Fill the slots by descending priority: waiting non-idle groups (round-robin order), resident
        non-idle groups (by firmware priority), then resident idle groups; at most one VM per user AS."""
        old = sorted((g for g in resident if g.can_run), key=lambda g: -g.fw_priority)
        order: list[Group] = []
        for prio in sorted(GroupPriority, reverse=True):
            order += [g for g in waiting if g.priority is prio]
            order += [g for g in old if g.priority is prio and g.has_work]
        for prio in sorted(GroupPriority, reverse=True):
            order += [g for g in old if g.priority is prio and not g.has_work]
        picked: list[Group] = []
        vms: set[int] = set()
        for g in order:
            if len(picked) == len(self.slots):
                break
            if g.vm.id not in vms and len(vms) >= self.user_as_count:
                continue
            picked.append(g)
            vms.add(g.vm.id)
        return picked

    def _apply(self, resident: list[Group], picked: list[Group]) -> None:
        """Evict, re-prioritise and start (§5.3 step 3, §7.4-§7.5)."""
        prio = {g.handle: max(0, MAX_FW_PRIORITY - i) for i, g in enumerate(picked)}
        evict = [g for g in resident if g not in picked]
        batch = SlotRequests()
        for g in evict:
            state = CsgState.SUSPEND if g.can_run else CsgState.TERMINATE
            batch.add(self._slot(g), request_state(self.csg(self._slot(g)), state))
        for g in resident:
            if g in picked and prio[g.handle] != g.fw_priority:
                batch.add(self._slot(g), request_priority(self.csg(self._slot(g)), prio[g.handle]))
        failed = batch.apply(self.fw, self.config.csg_timeout_s)
        for g in resident:
            if g in picked:
                g.fw_priority = prio[g.handle]
        for g in evict:
            self._after_evict(g, failed.get(self._slot(g)))
        if evict or any(not g.resident for g in picked):
            self.stats.rotations += 1
        if self.recovery.reset_reason is None:
            self._start([g for g in picked if not g.resident], prio)

    def _slot(self, group: Group) -> int:
        if group.csg_slot is None:
            raise InvalidArgument(f"group {group.handle} is not resident")
        return group.csg_slot

    def _after_evict(self, group: Group, error: MaliError | None) -> None:
        slot = self._slot(group)
        state = acked_state(self.csg(slot))
        if error is not None or state not in (CsgState.SUSPEND, CsgState.TERMINATE):
            why = error.message if error is not None else f"unknown CSG state {state}"
            group.faults.append(f"eviction from CSG slot {slot} failed: {why}")
            if group.can_run:
                group.timed_out = True
            self.recovery.request_reset(f"CSG {slot} update request timedout ({why})")
            self.unbind(group)
            self.recovery.kill(group, f"eviction failed: {why}")
            return
        if state is CsgState.SUSPEND:
            self.after_suspend(group)
            return
        self.stats.terminates += 1
        self.events.process_csg(self.csg(slot))
        self._stop_queues(group)
        self.check_completion(group)
        self.unbind(group)
        self.recovery.kill(group, "; ".join(group.faults[-1:]) or "terminated")

    def after_suspend(self, group: Group) -> None:
        """A SUSPEND was acknowledged: handle the slot's pending events, read every queue's status (§7.5),
        queue CS STATE = STOP, learn completions from memory and unbind the slot."""
        slot = self._slot(group)
        csg = self.csg(slot)
        self.events.process_csg(csg)
        for q in group.queues:
            read_queue_status(csg.streams[q.index], q)
        self._stop_queues(group)
        self.check_completion(group)
        self.unbind(group)
        group.status = GroupStatus.SUSPENDED
        group.was_suspended = True
        self.stats.suspends += 1

    def _stop_queues(self, group: Group) -> None:
        csg = self.csg(self._slot(group))
        for q in group.queues:
            stop_queue(csg.streams[q.index])

    def unbind(self, group: Group) -> None:
        """Free the group's slot: doorbells invalidated, job timers frozen, round-robin tail (§5.3 step 4)."""
        slot = self._slot(group)
        now = self.clock.now_ns()
        for q in group.queues:
            if q.timer_start_ns is not None:
                q.timeout_budget_ns = max(0, q.timeout_budget_ns - (now - q.timer_start_ns))
                q.timer_start_ns = None
            q.doorbell = None
        self.slots[slot] = None
        group.csg_slot = None
        if group in self._runlist:
            self._runlist.remove(group)
            self._runlist.append(group)

    def _start(self, groups: list[Group], prio: dict[int, int]) -> None:
        """Bind ``groups`` to the lowest free slots and START or RESUME them in one batch (§7.4)."""
        batch = SlotRequests()
        started: list[Group] = []
        for g in groups:
            free = [i for i, s in enumerate(self.slots) if s is None]
            as_nr = self._activate(g.vm) if free else None
            if as_nr is None:
                continue
            slot = free[0]
            self.slots[slot] = g
            g.csg_slot = slot
            g.fw_priority = prio[g.handle]
            batch.add(slot, program_group(self.csg(slot), g, as_nr, g.fw_priority))
            for q in g.queues:
                q.doorbell = slot + 1
            started.append(g)
        failed = batch.apply(self.fw, self.config.csg_timeout_s)
        now = self.clock.now_ns()
        for g in started:
            slot = self._slot(g)
            want = CsgState.RESUME if g.was_suspended else CsgState.START
            if slot in failed or acked_state(self.csg(slot)) is not want:
                # The firmware did not take the group (§5.3 step 6): its state on the slot is unknown,
                # so the reset terminates it rather than suspending it; it was not the group's fault.
                why = failed[slot].message if slot in failed else "unexpected CSG state"
                g.faults.append(f"start on CSG slot {slot} failed: {why}")
                g.status = GroupStatus.UNKNOWN
                g.timed_out = g.innocent = True
                self.recovery.request_reset(f"CSG {slot} update request timedout ({why})")
                continue
            self.stats.resumes += g.was_suspended
            self.stats.starts += not g.was_suspended
            g.status = GroupStatus.ACTIVE
            for q in g.queues:
                if q.in_flight:
                    q.timer_start_ns = now

    def _activate(self, vm: VM) -> int | None:
        """Bind ``vm`` to an address space without evicting one a resident group uses (panthor refuses
        rather than steal an active AS); None when every user AS is busy."""
        if vm.as_nr is None and all(self.mmu.owner[n] is not None for n in self.mmu.as_numbers if n):
            busy = {g.vm.id for g in self.resident_groups() if g.vm is not vm}
            idle = [v for n, v in self.mmu.owner.items() if n and v is not None and v.id not in busy]
            if not idle:
                return None
            self.mmu.deactivate(idle[0])
        return self.mmu.activate(vm)

    def _status_update(self, groups: list[Group]) -> None:
        """STATUS_UPDATE on the groups' slots, then classify their queues (§7.5)."""
        batch = SlotRequests()
        for g in groups:
            batch.add(self._slot(g), request_status_update(self.csg(self._slot(g))))
        failed = batch.apply(self.fw, self.config.csg_timeout_s)
        if failed:
            self.recovery.request_reset(f"CSG status update not acknowledged on slots {sorted(failed)}")
            return
        for g in groups:
            csg = self.csg(self._slot(g))
            for q in g.queues:
                read_queue_status(csg.streams[q.index], q)

    # -- tiler OOM (§6.4) --------------------------------------------------------------------------------

    def _handle_ooms(self) -> None:
        pending, self._ooms = self._ooms, []
        for group, cs_index in pending:
            self._handle_oom(group, cs_index)

    def _handle_oom(self, group: Group, cs_index: int) -> None:
        """Answer one TILER_OOM: a new chunk or 0 (ENOMEM); any other error makes the queue fatal and the
        event stays unacknowledged. A group evicted meanwhile is left alone (the FW asks again)."""
        slot = group.csg_slot
        if slot is None or not group.can_run or group.destroyed:
            return
        csg = self.csg(slot)
        cs = csg.streams[cs_index]
        if not cs.req.pending(int(CsReq.TILER_OOM)):
            return
        out = cs.output
        pool = self.heap_pools.get(group.vm.id)
        try:
            if pool is None:
                raise InvalidArgument(f"{group.vm.name} has no tiler heap pool")
            value = pool.handle_oom(out.read("heap_address"), out.read("heap_vt_start"),
                                    out.read("heap_vt_end"), out.read("heap_frag_end"))
        except MaliError as err:
            group.fatal_queues |= 1 << cs_index
            group.faults.append(f"tiler OOM on queue {cs_index} cannot be handled: {err.message}")
            self.request_tick(f"group {group.handle} heap error")
            return
        cs.input.write("heap_start", value)
        cs.input.write("heap_end", value)
        cs.req.update(cs.req.ack, int(CsReq.TILER_OOM))
        csg.toggle_cs_doorbells(1 << cs_index)
        glb = self.fw.glb
        if glb is not None:
            glb.ring_csg_doorbells(1 << slot)
