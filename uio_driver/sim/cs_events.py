"""Events of the simulated command-stream executor: idle and progress, wake-ups, faults, tiler OOM.

A mixin of :class:`~uio_driver.sim.cs_exec.CsExec` (see that module for the execution model). Facts:
``csf-firmware-and-interfaces.md`` §7.3-§7.7 and §9.4-§9.6: events are raised ACK/output first, then
the interrupt; CS_FAULT stalls the stream until the host acknowledges; CS_FATAL stops it for good;
TILER_OOM waits for the host's answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import cs_decode as isa
from . import csf_iface as ci
from .clock import NS_PER_S
from .cs_state import STALL_FAULT, STALL_OOM, CsException, StreamState, TilerOom

if TYPE_CHECKING:
    from .gpu import SimGpu
    from .mcu import SimMcu
    from .mcu_config import McuConfig


class CsEvents:
    """Idle/progress tracking, sync-wait wake-ups and fault/OOM delivery for :class:`CsExec`."""

    mcu: SimMcu
    sim: SimGpu
    config: McuConfig
    streams: dict[tuple[int, int], StreamState]
    events: list[tuple[int, str, int, int, int, int]]
    _group_events: dict[int, int]
    _poll_event: object | None
    _active: StreamState | None

    if TYPE_CHECKING:  # provided by CsExec

        def _kick(self, st: StreamState) -> None: ...

        def _settle(self, st: StreamState, executed: int, more: bool) -> None: ...

    # -- idle and progress ----------------------------------------------------------------------------------

    def _is_idle(self, st: StreamState) -> bool:
        return st.idle_now(st.cs_slot.out.ack if st.cs_slot is not None else 0)

    def _mark_busy(self, st: StreamState) -> None:
        """New work arrived: the stream (and its group) is busy until a run finds it idle again."""
        if st.idle and st.extract < st.insert and not st.fatal:
            st.idle = False
            self.mcu.csg[st.g].out.status_state &= ~ci.CSG_STATUS_STATE_IDLE

    def _update_idle(self, st: StreamState) -> None:
        idle = self._is_idle(st)
        if idle == st.idle:
            return
        st.idle = idle
        slot = self.mcu.csg[st.g]
        if not idle:
            slot.out.status_state &= ~ci.CSG_STATUS_STATE_IDLE
            return
        group = [self.streams.get((st.g, cs.index)) for cs in slot.streams]
        if all(other is None or not other.running or other.idle for other in group):
            slot.out.status_state |= ci.CSG_STATUS_STATE_IDLE
            # every started CS of the group is idle (§9.4): raised with the run's other events
            self._group_events[st.g] = self._group_events.get(st.g, 0) | ci.CSG_IDLE

    def _progress_timeout_ns(self) -> int:
        """GLB progress_timer x 1024 GPU cycles in virtual ns (§4.2, §7.8); 0 = disabled."""
        cycles = self.mcu.glb.progress_timer * 1024
        return -(-cycles * NS_PER_S // self.sim.config.gpu_clock_hz) if cycles else 0

    def _arm_progress(self, st: StreamState) -> None:
        timeout = self._progress_timeout_ns()
        if (not timeout or st.idle or st.stall or st.fatal or not st.running or st.progress_reported
                or st.progress_event is not None):
            return
        due = max(self.sim.clock.now_ns(), st.last_progress_ns + timeout)
        st.progress_event = self.sim.clock.schedule_at(
            due, lambda: self.mcu.run_guarded(lambda: self._progress_check(st)), "CS progress timer")

    def _progress_check(self, st: StreamState) -> None:
        st.progress_event = None
        timeout = self._progress_timeout_ns()
        if not timeout or st.idle or st.stall or st.fatal or not st.running or st.progress_reported:
            return
        if self.sim.clock.now_ns() - st.last_progress_ns < timeout:
            self._arm_progress(st)
            return
        st.progress_reported = True
        self.events.append((self.sim.clock.now_ns(), "progress-timer", st.g, st.s, 0, st.cmd_ptr()))
        self.mcu.csg[st.g].signal_event(ci.CSG_PROGRESS_TIMER_EVENT)

    # -- wake-ups -------------------------------------------------------------------------------------------

    def _arm_sync_poll(self) -> None:
        period = self.config.sync_poll_ns
        if self._poll_event is None and period:
            self._poll_event = self.sim.clock.schedule(period, self._sync_poll, "CS sync-wait poll")

    def _sync_poll(self) -> None:
        """Sync objects may change behind the firmware's back (the host CPU): look again (§5.2)."""
        self._poll_event = None
        for st in self.streams.values():
            if st.running and st.block == isa.BLOCKED_SYNC_WAIT:
                self._kick(st)

    def _sync_updated(self, st: StreamState) -> None:
        # §9.4: SYNC_UPDATE after any sync-object write of the group; writes made during a run are
        # reported once at its end (same virtual instant), so a batch of jobs raises one event.
        self._group_events[st.g] = self._group_events.get(st.g, 0) | ci.CSG_SYNC_UPDATE
        if self._active is None:
            self._flush_group_events()
        for other in self.streams.values():
            if other.running and other.block == isa.BLOCKED_SYNC_WAIT:
                self._kick(other)

    def _flush_group_events(self) -> None:
        """Raise the CSG events collected during a run: one ACK update and interrupt per group."""
        while self._group_events:
            g, bits = self._group_events.popitem()
            if g < len(self.mcu.csg):
                self.mcu.csg[g].signal_event(bits)

    def _progress_changed(self, st: StreamState) -> None:
        for other in self.streams.values():
            if other.running and other.g == st.g and other.block == isa.BLOCKED_PROGRESS_WAIT:
                self._kick(other)

    def _heap_released(self) -> None:
        for other in self.streams.values():
            if other.oom_wait:
                other.oom_wait = False
                self._kick(other)

    def stream_progress(self, g: int, queue: int) -> int:
        st = self.streams.get((g, queue))
        return st.progress if st is not None else 0

    # -- faults, fatal errors, tiler OOM --------------------------------------------------------------------

    def _deliver(self, st: StreamState, exc: CsException) -> None:
        """Report CS_FAULT or CS_FATAL (§9.6): output fields, ACK bit, cs_irq_req, JOB IRQ bit g."""
        cs, slot = st.cs_slot, self.mcu.csg[st.g]
        now = self.sim.clock.now_ns()
        if cs is None:
            return
        if exc.fatal:
            st.fatal = True
            for op in st.ops:
                if op.event is not None:
                    op.event.cancel()  # the stream is dead: nothing it issued completes
                    op.event = None
            cs.out.fatal, cs.out.fatal_info = exc.exception_type | exc.data << 8, exc.info
            kind, bit = "fatal", ci.CS_FATAL
        else:
            st.error = True  # error state until ERROR_BARRIER (§1.7)
            if st.stall & STALL_FAULT:
                self.sim.note(f"CS{st.g}.{st.s}: fault {exc.exception_type:#x} at {exc.info:#x} while an "
                              "earlier fault is unacknowledged: not reported")
                return
            st.stall |= STALL_FAULT
            st.fetch_fault = exc.fetch and bool(st.frames)
            cs.out.fault, cs.out.fault_info = exc.exception_type | exc.data << 8, exc.info
            kind, bit = "fault", ci.CS_FAULT
        self.events.append((now, kind, st.g, st.s, exc.exception_type, exc.info))
        self.sim.note(f"CS{st.g}.{st.s} {kind} {exc.exception_type:#04x} at {exc.info:#x}: {exc.reason}")
        self._settle(st, 0, False)
        slot.signal_cs_event(st.s, bit)

    def _raise_oom(self, st: StreamState, oom: TilerOom) -> None:
        """TILER_OOM (§7.7): heap_address and the pass counters, ACK bit 26, IRQ; the pass waits."""
        cs = st.cs_slot
        if cs is None:
            return
        st.stall |= STALL_OOM
        st.oom_ctx = oom.ctx_va
        out = cs.out
        out.heap_address = oom.ctx_va
        ctx = oom.ctx
        out.heap_vt_start, out.heap_vt_end, out.heap_frag_end = ctx.vt_start, ctx.vt_end, ctx.frag_end
        self.events.append((self.sim.clock.now_ns(), "tiler-oom", st.g, st.s, 0, oom.ctx_va))
        self._settle(st, 0, False)
        self.mcu.csg[st.g].signal_cs_event(st.s, ci.CS_TILER_OOM)
