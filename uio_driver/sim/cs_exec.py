"""The simulated firmware's command-stream executor: runs the rings of started CS slots.

Facts: ``csf-firmware-and-interfaces.md`` §6, §7.3-§7.7, §9.4-§9.6; ``cs-isa-and-uapi.md`` §1
(:mod:`.csf`, :mod:`.cs_decode`), §2, §5 and §6 (:mod:`.heap`). :class:`CsExec` implements the
:class:`~uio_driver.sim.mcu.CsExecutor` hooks of :class:`~uio_driver.sim.mcu.SimMcu`.

Running a stream:

* it runs after START/RESUME and whenever a doorbell n >= 1 equal to CS_CONFIG bits 15:8 is rung
  (``insert`` is re-read from the user input page then — only then, like the firmware, §7.3);
* instructions are fetched from ``ringbuf_base + (extract mod size)`` through the group's AS (CSG
  ``config``) while ``extract < insert``, one ``gpu_read`` per batch (at most one page), so MMU
  faults and stale TLBs are real; the user I/O pages are read/written through AS0;
* each run executes up to ``McuConfig.cs_batch_instructions`` instructions in one virtual instant,
  then continues ``cs_instr_ns`` per instruction later (so an endless loop cannot hang the host);
* at the end of each run ``output.extract`` (u64) and ``output.active`` bit 0 are published and the
  status fields of the CS output block (cmd_ptr, wait, scoreboards, blocked reason, req_resource)
  are updated in the firmware's copy, which CSG STATUS_UPDATE and SUSPEND publish (§7.5).

Events (§7.3, §9.4, §9.6), always ACK/output first, then the interrupt:

* SYNC_UPDATE (CSG ACK bit 28, JOB IRQ bit g) after every sync-object write;
* CSG IDLE (bit 29, ``status_state`` bit 0) when the last busy started CS of a group becomes idle
  (IDLE_EMPTY: ring empty and no op in flight; IDLE_SYNC_WAIT: blocked in SYNC_WAIT);
* PROGRESS_TIMER_EVENT (bit 31) when a started, non-idle CS retires nothing and completes no op for
  GLB ``progress_timer`` x 1024 GPU cycles (once per stall);
* CS_FAULT (CS ACK bit 31): ``fault`` = type | data << 8, ``fault_info`` = VA; the stream is in the
  error state and stalls until the host copied the bit into REQ **and** toggled the CS's CSG
  doorbell bit (plus doorbell 0). A fetch fault inside a CALLed stream abandons that stream (the
  caller continues); at ring level the fetch is retried **[model choice]**;
* CS_FATAL (bit 30): the stream never runs again until its group is terminated;
* TILER_OOM (bit 26): see :mod:`.heap`; on the host's answer ``heap_start`` 0 means "no memory": the
  stream calls its tiler-OOM exception handler if one is installed, else waits for fragment work to
  return chunks, else gets a CS_FAULT CS_RESOURCE_TERMINATED and skips the pass **[model choice]**.

Strict mode (``SimProtocolError``; non-strict: recorded in ``sim.violations``): a doorbell rung
while no CS listening to it has a new INSERT (``doorbell-no-insert``), INSERT moving backwards
(``ring-insert-backwards``), INSERT more than a ring ahead of EXTRACT (``ring-overflow``), INSERT not
a multiple of 8 (``ring-insert``), execution with the L2 off (``l2-off``, then retried every 1 ms).

SUSPEND saves each stream's complete state after the CSG suspend record (:mod:`.cs_state`); RESUME
restores it exactly, on whichever slot the group comes back.

Fault hooks (``sim.mcu.faults``): ``run_never_completes`` (RUN_* never signal their entry — for job
timeouts), ``instruction_fault_at`` N (the N-th instruction executed from now raises CS_FAULT
``instruction_fault_type``, or CS_FATAL with ``instruction_fault_fatal`` — e.g. 0x41), and
:meth:`CsExec.inject_fatal`; an MMU fault mid-stream is ``sim.mmu.inject_fault`` or an unmapped VA.
"""

from __future__ import annotations

import struct
from functools import partial
from typing import TYPE_CHECKING

from ..errors import BadAddress, InvalidArgument
from . import cs_decode as isa
from . import csf_iface as ci
from .access import DEFER, STALL_RETRY_NS, SimAccessStalled
from .cs_events import CsEvents
from .cs_state import (
    GROUP_HEADER_SIZE,
    STALL_FAULT,
    STALL_OOM,
    CsException,
    StreamState,
    TilerOom,
    group_record_size,
    pack_group,
    record_offset,
    unpack_group,
)
from .csf import CsInterpreter, _mmu_exception
from .mcu_config import McuCrash
from .walker import SimGpuFault

if TYPE_CHECKING:
    from .csg import CsgSlot
    from .mcu import SimMcu

_U64 = struct.Struct("<Q").unpack_from
_IO_OUT = struct.Struct("<QI")
#: Most bytes one ring/stream fetch reads (64 instructions); never more than to the end of the page.
FETCH_MAX = 0x200
#: Retry period of a stream that could not run because the L2 was off (non-strict mode).
L2_RETRY_NS = 1_000_000
_PAGE = 0x1000

#: A stream blocked only on async ops due within this much virtual time publishes EXTRACT when it
#: resumes instead of now (the firmware publishes after an instruction or a batch; a long wait such
#: as a RUN_* in flight is published at once so the host sees where the stream stands).
PUBLISH_DEFER_NS = 10_000


class CsExec(CsEvents, CsInterpreter):
    """The default :class:`~uio_driver.sim.mcu.CsExecutor` of :class:`~uio_driver.sim.mcu.SimMcu`.

    Attributes:
        streams: per started-or-stopped CS slot ``(g, s)``, its :class:`~.csf.StreamState`.
        events: every fault/fatal/OOM raised, as ``(time_ns, kind, g, s, exception_type, info)``.
        instructions: instructions executed so far (all streams). fetches: ring/stream fetches.
        stalls: runs and op completions retried because an access stalled behind a driver LOCK.
    """

    def __init__(self, mcu: SimMcu) -> None:
        super().__init__(mcu)
        self.streams: dict[tuple[int, int], StreamState] = {}
        self.events: list[tuple[int, str, int, int, int, int]] = []
        self.instructions = 0
        self.fetches = 0
        #: Runs and async-op completions retried because an access stalled behind a driver LOCK.
        self.stalls = 0
        self._restored: dict[tuple[int, int], StreamState] = {}
        self._active: StreamState | None = None
        self._group_events: dict[int, int] = {}
        self._poll_event: object | None = None

    # -- public helpers -------------------------------------------------------------------------------------

    def state(self, g: int, s: int) -> StreamState | None:
        """The executor state of CS ``s`` of CSG slot ``g`` (None if it never started)."""
        return self.streams.get((g, s))

    def inject_fatal(self, g: int, s: int, exception_type: int = isa.EXC_CS_UNRECOVERABLE,
                     info: int = 0) -> None:
        """Fault hook: raise CS_FATAL ``exception_type`` (default 0x41 CS_UNRECOVERABLE) on a started CS.

        Raises:
            InvalidArgument: no started CS ``(g, s)`` or a type outside 8 bits (nothing changes).
        """
        st = self.streams.get((g, s))
        if st is None or not st.running:
            raise InvalidArgument(f"sim: CS{g}.{s} is not started: nothing to make fatal")
        if isinstance(exception_type, bool) or exception_type not in range(256):
            raise InvalidArgument(f"sim: exception type {exception_type!r} does not fit 8 bits")
        self.mcu.run_guarded(lambda: self._deliver(st, CsException(exception_type, info, fatal=True,
                                                                   reason="injected by inject_fatal")))

    # -- CsExecutor hooks -----------------------------------------------------------------------------------

    def on_cs_start(self, csg: int, cs: int) -> None:
        """CS STATE START applied (group START/RESUME or CS doorbell): set the stream up and run it."""
        slot = self.mcu.csg[csg]
        cs_slot = slot.streams[cs]
        old = self.streams.get((csg, cs))
        st = self._restored.pop((csg, cs), None)
        fresh = st is None
        if st is None:
            st = self._new_state(csg, cs)
            st.fatal = old is not None and old.fatal  # FATAL sticks until the group is terminated (§9.6)
        st.g, st.s, st.cs_slot = csg, cs, cs_slot
        self.streams[(csg, cs)] = st
        st.run_cb = partial(self._run_guarded, st)
        st.running = True
        st.last_progress_ns = self.sim.clock.now_ns()
        try:
            self._configure(st, slot, fresh)
        except CsException as exc:
            self._deliver(st, exc)
            return
        self._restart_ops(st)
        self._mark_busy(st)
        self._kick(st)

    def on_cs_stop(self, csg: int, cs: int) -> None:
        """CS STOP, group SUSPEND/TERMINATE or MCU stop: freeze the stream (no memory is touched)."""
        st = self.streams.get((csg, cs))
        if st is None or not st.running:
            return
        st.running = False
        now = self.sim.clock.now_ns()
        for event in (st.run_event, st.progress_event):
            if event is not None:
                event.cancel()
        st.run_event = st.progress_event = None
        for op in st.ops:
            if op.event is not None:
                op.event.cancel()
                op.event = None
                op.latency = max(0, (op.due or now) - now)  # resumes with what is left of its latency
        self._update_status(st)

    def on_cs_terminate(self, csg: int, cs: int) -> None:
        """Group TERMINATE: forget the stream entirely (a FATAL stream may start afresh)."""
        self.on_cs_stop(csg, cs)
        self.streams.pop((csg, cs), None)
        self._restored.pop((csg, cs), None)

    def reset(self) -> None:
        """The MCU stopped (GPU reset, power off, disable): forget every stream."""
        for g, s in list(self.streams):
            self.on_cs_stop(g, s)
        self.streams.clear()
        self._restored.clear()
        if self._poll_event is not None:
            self._poll_event.cancel()  # type: ignore[attr-defined]
        self._poll_event = None

    def on_user_doorbell(self, doorbell: int) -> None:
        """Doorbell n >= 1: re-read INSERT of every started CS configured with it and run them (§7.3)."""
        self.mcu.run_guarded(lambda: self._user_doorbell(doorbell))

    def run_queue(self, csg: int, cs: int) -> None:
        """The CS's CSG doorbell bit was processed: take the host's FAULT/TILER_OOM answers, run it."""
        st = self.streams.get((csg, cs))
        if st is None or not st.running or st.cs_slot is None or st.cs_slot.latched is None:
            return
        inp, ack = st.cs_slot.latched, st.cs_slot.out.ack
        if st.stall & STALL_FAULT and not (inp.req ^ ack) & ci.CS_FAULT:
            st.stall &= ~STALL_FAULT
            if st.fetch_fault and st.frames:
                st.frames.pop()  # the called stream could not be fetched: its caller continues
            st.fetch_fault = False
        if st.stall & STALL_OOM and not (inp.req ^ ack) & ci.CS_TILER_OOM:
            st.stall &= ~STALL_OOM
            try:
                self._oom_answer(st, inp.heap_start)
            except CsException as exc:
                self._deliver(st, exc)
        self._kick(st)

    def is_busy(self, csg: int, cs: int) -> bool:
        """A started CS with work, in flight ops, or a condition its IDLE_* bits do not call idle."""
        st = self.streams.get((csg, cs))
        return st is not None and st.running and not st.idle

    def save_state(self, csg: int, buf_va: int) -> None:
        """CSG SUSPEND: publish each stream's output page, append the executor state to ``suspend_buf``."""
        slot = self.mcu.csg[csg]
        # A state RESUME restored but no START consumed yet is newer than a stopped one.
        states = [self._restored.pop((csg, cs.index), None) or self.streams.get((csg, cs.index))
                  for cs in slot.streams]
        for st in states:
            if st is not None and st.io_out:
                self._publish(st, active=0)
        va, data = buf_va + record_offset(len(states)), pack_group(states)
        if va + len(data) > buf_va + self.config.suspend_size:
            raise McuCrash(f"CSG{csg} suspend state needs {va + len(data) - buf_va:#x} bytes, more than "
                           f"McuConfig.suspend_size {self.config.suspend_size:#x}")
        self.mcu.write(va, data)
        for cs in slot.streams:  # the group's state now lives in its suspend buffer, not on this slot
            self.streams.pop((csg, cs.index), None)

    def restore_state(self, csg: int, buf_va: int) -> None:
        """CSG RESUME: read the executor state back; each stream continues from it when it starts."""
        stream_num = len(self.mcu.csg[csg].streams)
        va = buf_va + record_offset(stream_num)
        size = group_record_size(self.mcu.read(va, GROUP_HEADER_SIZE))
        if size is None:
            self.mcu.violation("bad-suspend-record", f"CSG{csg} RESUME: suspend_buf {buf_va:#x} holds no "
                               "command-stream state (it was not written by a SUSPEND)",
                               register=f"CSG{csg}_SUSPEND_BUF")
            return
        states = unpack_group(self.mcu.read(va, size), stream_num)
        self._restored.update(((csg, s), st) for s, st in enumerate(states) if st is not None)

    # -- set-up --------------------------------------------------------------------------------------------

    def _new_state(self, g: int, s: int) -> StreamState:
        features = self.config.cs_features
        # CS_FEATURES: 7:0 WORK_REGISTERS = count - 1, 15:8 SCOREBOARDS (§6.1).
        return StreamState(g, s, (features & 0xFF) + 1, min((features >> 8) & 0xFF, 16))

    def _configure(self, st: StreamState, slot: CsgSlot, fresh: bool) -> None:
        """Latch the ring and AS, read the user input page; a bad configuration is CS_FATAL 0x40."""
        cs = st.cs_slot
        inp = cs.latched if cs is not None else None
        if inp is None or slot.latched is None:
            raise CsException(isa.EXC_CS_CONFIG_FAULT, 0, fatal=True, reason="CS started without input block")
        size, base = inp.ringbuf_size, inp.ringbuf_base
        where = f"CS{st.g}.{st.s}"
        if size < 8 or size & (size - 1) or base % 8:
            raise CsException(isa.EXC_CS_CONFIG_FAULT, base, fatal=True,
                              reason=f"{where} ring {base:#x}+{size:#x} is no power-of-two ring")
        as_nr = slot.latched.config & 0xF
        if as_nr == 0 or as_nr not in self.sim.mmu.spaces:
            raise CsException(isa.EXC_CS_CONFIG_FAULT, as_nr, fatal=True,
                              reason=f"CSG{st.g} config AS {as_nr} is not a present group address space")
        if not inp.ringbuf_input or not inp.ringbuf_output:
            raise CsException(isa.EXC_CS_CONFIG_FAULT, 0, fatal=True, reason=f"{where} has no user I/O pages")
        st.ring_base, st.ring_mask, st.as_nr = base, size - 1, as_nr
        st.doorbell = (inp.config >> ci.CS_CONFIG_DOORBELL_SHIFT) & 0xFF
        st.io_in, st.io_out = inp.ringbuf_input, inp.ringbuf_output
        st.published = None
        page = self.mcu.read(st.io_in, 16)  # insert @0, extract_init @8 (§6.7)
        if fresh:
            st.extract = st.insert = _U64(page, 8)[0]  # START begins at EXTRACT_INIT (§9.5)
        self._take_insert(st, _U64(page, 0)[0])

    def _restart_ops(self, st: StreamState) -> None:
        """After RESUME: ops that were running continue with their remaining latency, others wait."""
        busy = st.busy_mask()
        for op in list(st.ops):
            if op.started:
                op.started = False
                self._start_op(st, op)
            elif not op.deps & busy:
                self._start_op(st, op)

    # -- doorbells and INSERT -------------------------------------------------------------------------------

    def _user_doorbell(self, doorbell: int) -> None:
        listening = [st for st in self.streams.values() if st.running and st.doorbell == doorbell]
        if not listening:
            self.sim.note(f"doorbell {doorbell} rung but no started CS listens to it")
            return
        changed = False
        for st in listening:
            if self._take_insert(st, _U64(self.mcu.read(st.io_in, 8), 0)[0]):
                changed = True
                self._mark_busy(st)
            self._kick(st)
        if not changed:
            names = ", ".join(f"CS{st.g}.{st.s}" for st in listening)
            self.mcu.violation("doorbell-no-insert", f"doorbell {doorbell} rung but the INSERT of {names} "
                               "did not change: doorbell without INSERT update (panthor rings only after "
                               "writing a job, §2.4)", register=f"DOORBELL{doorbell}")

    def _take_insert(self, st: StreamState, insert: int) -> bool:
        """Latch a new INSERT after the ring checks; True if it changed."""
        name, size = f"CS{st.g}.{st.s}_INSERT", st.ring_mask + 1
        if insert == st.insert:
            return False
        if insert % 8:
            self.mcu.violation("ring-insert", f"{name} = {insert:#x} is not a multiple of 8 (instructions "
                               "are 8 bytes, §6.7)", register=name, value=insert)
        if insert < st.insert:
            self.mcu.violation("ring-insert-backwards", f"{name} went backwards from {st.insert:#x} to "
                               f"{insert:#x} (ring offsets only grow, §6.7)", register=name, value=insert)
            return False
        if insert - st.extract > size:
            self.mcu.violation("ring-overflow", f"{name} = {insert:#x} is more than the ring size {size:#x} "
                               f"ahead of EXTRACT {st.extract:#x}: ring overflow (§2.2)", register=name,
                               value=insert)
        st.insert = insert
        return True

    # -- running --------------------------------------------------------------------------------------------

    def _kick(self, st: StreamState) -> None:
        if st.running and st.run_event is None and self._active is not st and st.run_cb is not None:
            st.run_event = self.sim.clock.schedule(self.config.cs_wake_latency_ns, st.run_cb, "CS run")

    def _resume_now(self, st: StreamState) -> None:
        """Run ``st`` at once (an async op it waited for completed), or schedule it as a kick would."""
        if st.run_event is not None:
            st.run_event.cancel()
            st.run_event = None
        if self._active is None and st.running and st.run_cb is not None:
            self._run_guarded(st)
        else:
            self._kick(st)

    def _run_guarded(self, st: StreamState) -> None:
        st.run_event = None
        self.mcu.run_guarded(lambda: self._slice(st))

    def _slice(self, st: StreamState) -> None:
        if not st.running:
            return
        if st.fatal or st.stall or st.oom_wait:
            self._settle(st, 0, False)
            return
        if not self.sim.require_l2_ready(f"CS{st.g}.{st.s} command execution"):
            if st.run_cb is not None:
                st.run_event = self.sim.clock.schedule(L2_RETRY_NS, st.run_cb, "CS run (L2 off)")
            return
        retired = st.retired
        executed, more = self._execute(st, max(1, self.config.cs_batch_instructions))
        if st.retired != retired:
            st.last_progress_ns = self.sim.clock.now_ns()
            st.progress_reported = False
        self._settle(st, executed, more)

    def _execute(self, st: StreamState, budget: int) -> tuple[int, bool]:
        """Run up to ``budget`` instructions; returns (attempted, more to run). The ring and the called
        stream have separate fetch buffers, so a job's CALL does not cost a refetch of its ring words."""
        handlers, faults, decode = self.handlers, self.faults, isa.decode
        ring, ring_lo, ring_hi = st.ring_cache  # ring words for offsets [lo, hi), kept across runs
        sub, sub_va, sub_end = b"", 0, 0
        executed = word = 0
        fetched = False
        self._active = st
        try:
            while executed < budget:
                fetched = False
                if st.stall or st.fatal:
                    return executed, False
                frames = st.frames
                if frames:
                    frame = frames[-1]
                    va, limit = frame
                    if va + 8 > limit:
                        frames.pop()  # the callee's byte count is exhausted: return (§1.4)
                        sub_end = 0
                        continue
                    if va < sub_va or va + 8 > sub_end:
                        sub = self._fetch(st, va, limit)
                        sub_va, sub_end = va, va + len(sub)
                    word = _U64(sub, va - sub_va)[0]
                    frame[0] = va + 8
                else:
                    extract = st.extract
                    if extract >= st.insert:
                        return executed, False
                    offset = extract & st.ring_mask
                    va = st.ring_base + offset
                    if extract < ring_lo or extract + 8 > ring_hi:
                        ring = self._fetch(st, va, va + min(st.insert - extract, st.ring_mask + 1 - offset))
                        ring_lo, ring_hi = extract, extract + len(ring)
                        st.ring_cache = (ring, ring_lo, ring_hi)
                    word = _U64(ring, extract - ring_lo)[0]
                    st.extract = extract + 8
                fetched = True
                st.cur = va
                st.block = 0
                executed += 1
                if faults.instruction_fault_at:
                    self._fault_hook(st)
                instr = decode(word)
                if handlers[instr.opcode](st, word, instr.args):
                    return executed, False
                st.retired += 1
        except CsException as exc:
            self._deliver(st, exc)
            return executed, False
        except TilerOom as oom:
            st.rewind()
            self._raise_oom(st, oom)
            return executed, False
        except SimAccessStalled:
            # The fetch or the instruction's access stalls behind a driver LOCK (§3.3): the
            # instruction (if it was fetched) runs again once the region is unlocked.
            self.stalls += 1
            if fetched:
                st.rewind()
                executed -= 1
            if st.run_cb is not None and st.run_event is None:
                st.run_event = self.sim.clock.schedule(STALL_RETRY_NS, st.run_cb, "CS run (stalled)")
            return executed, False
        except IndexError:
            self._deliver(st, CsException(isa.EXC_CS_INVALID_INSTRUCTION, st.cur, fatal=True, data=word >> 56,
                                          reason="register index beyond the register file"))
            return executed, False
        finally:
            self._active = None
            self.instructions += executed
        return executed, True

    def _fault_hook(self, st: StreamState) -> None:
        faults = self.faults
        faults.instruction_fault_at -= 1
        if faults.instruction_fault_at == 0:
            raise CsException(faults.instruction_fault_type, st.cur, fatal=faults.instruction_fault_fatal,
                              reason="fault hook instruction_fault_at")

    def _fetch(self, st: StreamState, va: int, limit: int) -> bytes:
        """Read instructions at ``va`` (up to ``limit``, one page, FETCH_MAX) through the group's AS."""
        pending = st.pending_fetch
        if pending is not None and va <= pending.info < va + 8:
            st.pending_fetch = None
            raise pending
        size = min(limit - va, FETCH_MAX, _PAGE - (va & (_PAGE - 1)))
        size -= size % 8
        self.fetches += 1
        try:
            return self.sim.mmu.gpu_read(st.as_nr, va, size, allow_stall=DEFER)
        except SimGpuFault as fault:
            exc = _mmu_exception(fault)
            exc.fetch = True
            ahead = (fault.va - va) & ~7
            if ahead <= 0:
                raise exc from None
            st.pending_fetch = exc  # the instructions before the fault still run first
            return self.sim.mmu.gpu_read(st.as_nr, va, ahead, allow_stall=DEFER)
        except (BadAddress, InvalidArgument) as err:
            raise CsException(isa.EXC_ADDR_RANGE_FAULT, va, reason=str(err), fetch=True) from None

    def _settle(self, st: StreamState, executed: int, more: bool) -> None:
        """End of a run: continue later if needed, publish extract/active and status, idle, timers."""
        if executed:
            self.mcu.note_activity()
        if more and st.running and st.run_event is None and st.run_cb is not None:
            delay = executed * self.config.cs_instr_ns
            st.run_event = self.sim.clock.schedule(delay, st.run_cb, "CS run (continued)")
        self._update_idle(st)
        if not self._resumes_soon(st):
            # Waiting only on in-flight async ops: their completion runs the stream again, which
            # publishes EXTRACT then (the firmware publishes "after an instruction or a batch").
            self._publish(st)
        self._update_status(st)
        self._flush_group_events()
        self._arm_progress(st)
        if st.block == isa.BLOCKED_SYNC_WAIT:
            self._arm_sync_poll()

    def _resumes_soon(self, st: StreamState) -> bool:
        """True when the stream waits only for in-flight ops that complete within PUBLISH_DEFER_NS."""
        if st.block != isa.BLOCKED_SB_WAIT or not st.running or st.stall or st.fatal or st.oom_wait:
            return False
        if not st.ops:
            return False
        horizon = self.sim.clock.now_ns() + PUBLISH_DEFER_NS
        return all(op.started and not op.hung and op.event is not None and op.due is not None
                   and op.due <= horizon for op in st.ops)

    # -- publishing -----------------------------------------------------------------------------------------

    def _publish(self, st: StreamState, active: int | None = None) -> None:
        """Write ``output.extract`` and ``output.active`` through AS0 when they changed (§6.7)."""
        if active is None:
            active = 0 if st.idle or not st.running else 1
        if st.cs_slot is not None:
            st.cs_slot.extract = st.extract
        now = (st.extract, active)
        if now != st.published and st.io_out:
            self.mcu.write(st.io_out + ci.USER_OUTPUT_EXTRACT, _IO_OUT.pack(*now))
            st.published = now

    def _update_status(self, st: StreamState) -> None:
        """The CS output status fields as of now (published by STATUS_UPDATE/SUSPEND, §6.3, §6.5)."""
        if st.cs_slot is None:
            return
        out = st.cs_slot.out
        reason, wait, ptr, value = st.status_wait()
        out.status_cmd_ptr, out.status_scoreboards = st.cmd_ptr(), st.busy_mask()
        out.status_req_resource, out.status_blocked_reason, out.status_wait = st.req_resource, reason, wait
        out.status_wait_sync_ptr = ptr
        out.status_wait_sync_value, out.status_wait_sync_value_hi = value & 0xFFFFFFFF, value >> 32
