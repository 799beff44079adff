"""Job timeouts, fault isolation, group termination and GPU reset with recovery.

Facts: cs-isa-and-uapi.md §5.4 (job timeout: 5 s of no progress on a queue with pending jobs, frozen
while the group is off-slot, reset on every completion; the group is marked timed out and its jobs
fail with ETIMEDOUT), §5.5 (CS_FAULT, CS_FATAL, CS_UNRECOVERABLE → reset, MMU faults kill the groups of
that VM), §5.6 (GPU reset: suspend every resident group — those whose suspension fails are marked
timed out and innocent, then terminated —, flush caches, firmware reset with a full reload after a
hang, restart the stopped groups from their suspend buffers) and §2.5 (killed queues: jobs get an
error, the sync object gets ``seqno = last``, ``status = ~0``).

Policy note: upstream panthor resets the GPU after a job timeout only when terminating the group
fails; kbase resets on a hang. :attr:`SchedulerConfig.reset_on_timeout` (default True, as the project's
issue asks) chooses the reset; with False the group is terminated and the GPU reset only if that
termination times out.
"""

from __future__ import annotations

import errno as _errno
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import MaliError
from ..firmware.blocks import CsgState
from .csg_slots import SlotRequests, request_state
from .group import Group, GroupStatus

if TYPE_CHECKING:
    from .queue import Job
    from .scheduler import Scheduler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResetRecord:
    """One GPU reset: when, why, the firmware restart kind, and what happened to the groups."""

    time_ns: int
    reason: str
    kind: str
    suspended: tuple[int, ...]
    killed: tuple[int, ...]
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"time_ns": self.time_ns, "reason": self.reason, "kind": self.kind,
                "suspended": list(self.suspended), "killed": list(self.killed), "error": self.error}


class Recovery:
    """Timeouts, faults and resets for one :class:`~uio_driver.csf.scheduler.Scheduler`.

    Attributes:
        reset_reason: a pending reset request (handled by :meth:`Scheduler.process`), or None.
        resets: every reset performed.
        device_lost: a reset failed; nothing runs any more.
    """

    def __init__(self, sched: Scheduler) -> None:
        self.sched = sched
        self.reset_reason: str | None = None
        self.resets: list[ResetRecord] = []
        self.device_lost: str | None = None
        self.in_reset = False

    # -- requests --------------------------------------------------------------------------------------

    def request_reset(self, reason: str) -> None:
        """Schedule a GPU reset (the first reason wins until it is handled; requests made while a reset
        runs are part of it and ignored)."""
        if self.in_reset:
            log.info("reset already in progress: %s", reason)
            return
        if self.reset_reason is None:
            log.warning("scheduling a GPU reset: %s", reason)
            self.reset_reason = reason

    def mark_timed_out(self, group: Group, reason: str) -> None:
        """Mark ``group`` timed out (§5.4): no more submissions; its jobs fail with ETIMEDOUT when it is
        terminated — at the GPU reset (``reset_on_timeout``) or at an immediate tick."""
        if group.timed_out:
            return
        group.timed_out = True
        group.faults.append(reason)
        log.warning("group %d timed out: %s", group.handle, reason)
        if self.sched.config.reset_on_timeout and group.resident:
            self.request_reset(f"group {group.handle}: {reason}")
        elif group.resident:
            self.sched.request_tick(f"group {group.handle} timed out")
        else:
            self.kill(group, reason)

    # -- termination -----------------------------------------------------------------------------------

    def kill(self, group: Group, reason: str) -> list[Job]:
        """Fail every in-flight job of a group that can no longer run and mark it TERMINATED (§2.5, §5.4):
        EINVAL on fatal queues, ETIMEDOUT if the group timed out, else ECANCELED."""
        now = self.sched.clock.now_ns()
        failed: list[Job] = []
        for q in group.queues:
            if group.fatal_queues >> q.index & 1:
                err = _errno.EINVAL
            elif group.timed_out:
                err = _errno.ETIMEDOUT
            else:
                err = _errno.ECANCELED
            failed += q.fail_all(err, reason, now)
        group.status = GroupStatus.TERMINATED
        group.was_suspended = False
        return failed

    # -- timeouts and MMU faults ---------------------------------------------------------------------

    def check_timeouts(self, now_ns: int) -> None:
        """Mark timed out every resident group with a queue that made no progress for the job timeout."""
        for group in self.sched.resident_groups():
            if not group.can_run:
                continue
            for q in group.queues:
                start = q.timer_start_ns
                if q.in_flight and start is not None and now_ns - start >= q.timeout_budget_ns:
                    ms = self.sched.config.job_timeout_s * 1e3
                    self.mark_timed_out(group, f"job timeout: queue {q.index} made no progress for "
                                               f"{ms:.0f} ms (job {q.in_flight[0].seqno})")
                    break

    def next_deadline_ns(self) -> int | None:
        """Earliest job-timeout expiry of a resident queue, or None."""
        best: int | None = None
        for group in self.sched.resident_groups():
            for q in group.queues:
                if q.in_flight and q.timer_start_ns is not None:
                    t = q.timer_start_ns + q.timeout_budget_ns
                    best = t if best is None else min(best, t)
        return best

    def check_vm_faults(self) -> None:
        """An unhandled MMU fault kills the resident groups of that VM (§5.5); a fault in the MCU VM
        (AS0) means the firmware cannot run: reset. The VM stays usable for new groups."""
        for vm in list(self.sched.mmu.vms.values()):
            if not vm.faulty:
                continue
            fault = vm.faults[-1] if vm.faults else None
            text = f"MMU fault in {vm.name}" + (f": {fault.describe()}" if fault is not None else "")
            vm.acknowledge_fault()
            if vm.is_mcu:
                self.request_reset(text)
                continue
            for group in self.sched.resident_groups():
                if group.vm is vm and group.can_run:
                    group.fatal_queues |= (1 << len(group.queues)) - 1
                    group.faults.append(text)
                    self.sched.request_tick(f"group {group.handle}: {text}")

    # -- GPU reset ---------------------------------------------------------------------------------------

    def reset(self) -> ResetRecord:
        """Reset the GPU and recover (§5.6); on return every group that was suspended cleanly is
        runnable again (the next tick resumes it) and the others are terminated."""
        self.in_reset = True
        try:
            return self._reset()
        finally:
            self.in_reset = False

    def _reset(self) -> ResetRecord:
        sched = self.sched
        reason, self.reset_reason = self.reset_reason or "requested", None
        now = sched.clock.now_ns()
        suspended, killed = self._pre_reset(reason)
        try:
            sched.gpu.flush_caches()
        except MaliError as err:
            log.warning("reset: cache flush failed: %s", err.message)
        error = None
        try:
            kind = sched.fw.reset(on_hang=True)
        except MaliError as err:
            kind, error = "failed", err.message
            self.device_lost = f"GPU reset failed: {err.message}"
            for group in list(sched.groups.values()):
                if group.status is not GroupStatus.TERMINATED:
                    killed.append(group.handle)
                    self.kill(group, self.device_lost)
        record = ResetRecord(now, reason, kind, tuple(suspended), tuple(killed), error)
        self.resets.append(record)
        sched.after_reset()
        return record

    def _pre_reset(self, reason: str) -> tuple[list[int], list[int]]:
        """SUSPEND every runnable resident group, TERMINATE the rest; unbind all (§5.6 step 1)."""
        sched = self.sched
        resident = sched.resident_groups()
        batch = SlotRequests()
        fw_running = sched.fw.ready
        if fw_running:
            for g in resident:
                slot = g.csg_slot
                if slot is not None:
                    state = CsgState.SUSPEND if g.can_run else CsgState.TERMINATE
                    batch.add(slot, request_state(sched.csg(slot), state))
        failed = batch.apply(sched.fw, sched.config.csg_timeout_s) if fw_running else {}
        suspended: list[int] = []
        killed: list[int] = []
        for g in resident:
            slot = g.csg_slot
            clean = fw_running and g.can_run and slot not in failed
            if clean:
                sched.after_suspend(g)
                suspended.append(g.handle)
                continue
            if g.can_run:  # suspension failed while it could still run: not its fault (§5.6)
                g.timed_out = g.innocent = True
                g.faults.append(f"killed by a GPU reset ({reason})")
            sched.unbind(g)
            self.kill(g, f"GPU reset: {reason}")
            killed.append(g.handle)
        return suspended, killed
