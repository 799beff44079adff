"""Instruction semantics of the simulated command-stream front end (the interpreter half of the executor).

Facts: ``cs-isa-and-uapi.md`` §1.1 (machine model), §1.4 (semantics), §1.5 (staging registers),
§1.6 (conditions), §1.7 (scoreboards, errors). The stream state is :mod:`.cs_state`; ring fetch,
events and life cycle are :mod:`.cs_exec`, whose :class:`~.cs_exec.CsExec` derives from
:class:`CsInterpreter`.

Asynchronous instructions (§1.1) become :class:`~.cs_state.AsyncOp` records. An op counts in its
scoreboard entry from issue to completion; it starts once no entry in its wait mask has pending
work, then completes after its latency (``McuConfig.run_latency_ns``, ``flush_latency_ns``,
``sync_latency_ns``; 0 = at once, inside the issuing instruction). At most :data:`MAX_PENDING_OPS`
ops may be in flight per stream; issuing another blocks the stream (blocked reason DEFERRED)
**[model choice]**. LOAD/STORE_MULTIPLE complete immediately (§1.4 allows it) and use no entry.

Model choices where the reference is silent: JUMP at ring level acts like a CALL (the ring continues
after the jumped-to stream); a misaligned CALL/JUMP target is a CS_FAULT INSTR_INVALID_PC; the call
depth limit is ``McuConfig.call_stack_depth`` (unverified on hardware, §1.1) and exceeding it is
CS_FATAL CS_CALL_STACK_OVERFLOW; a register beyond the register file or a signal slot beyond the
scoreboard is CS_FATAL INVALID_INSTRUCTION, like an undefined opcode or PROT_REGION (protected mode
is not simulated; panthor never uses it); a misaligned sync/state address is a CS_FAULT
ADDR_RANGE_FAULT; a RUN_* whose required descriptor pointer (§1.5: compute SPD, fragment FBD r40,
tiling/IDVS tiler context r40, fullscreen DCD) is 0 is a CS_FAULT DATA_INVALID_FAULT, one pointing
at unmapped memory faults like any GPU read of it. SYNC_WAIT with *error reject* on an object whose
error word is set raises CS_FAULT CS_INHERIT_FAULT [inferred]. REQ_RESOURCE never blocks (every
endpoint is granted); it is reported in ``status_req_resource``. FLUSH_CACHE2 applies flush
reduction: it is skipped when LATEST_FLUSH moved since the producer sampled it (§1.4), and a
performed flush counts in LATEST_FLUSH.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import BadAddress, InvalidArgument
from . import cs_decode as isa
from . import heap
from .access import DEFER, STALL_RETRY_NS, SimAccessStalled
from .cs_state import M32, M64, AsyncOp, CsException, StreamState, TilerOom
from .walker import GPU_BUS_FAULT, SimGpuFault

if TYPE_CHECKING:
    from .gpu import SimGpu
    from .mcu import SimMcu
    from .mcu_config import McuConfig, McuFaults

GO, STOP = 0, 1
#: Ops one stream may have in flight before issuing blocks (blocked reason DEFERRED) [model choice].
MAX_PENDING_OPS = 16
_SYNC_OPS = (isa.OP_SYNC_ADD32, isa.OP_SYNC_SET32, isa.OP_SYNC_ADD64, isa.OP_SYNC_SET64)
_WIDE_SYNC = (isa.OP_SYNC_ADD64, isa.OP_SYNC_SET64)


class CsInterpreter(ABC):
    """Instruction handlers and the asynchronous-op engine; :class:`~.cs_exec.CsExec` provides the rest.

    Subclass services used here: ``_kick``, ``_sync_updated``, ``_progress_changed``,
    ``_heap_released``, ``_deliver`` (a :class:`CsException` raised outside the instruction loop).
    """

    stalls: int

    def __init__(self, mcu: SimMcu) -> None:
        self.mcu = mcu
        self.sim: SimGpu = mcu.sim
        names = {
            0x00: "_nop", 0x01: "_move48", 0x02: "_move32", 0x03: "_wait", 0x04: "_run", 0x05: "_run",
            0x06: "_run", 0x07: "_run", 0x08: "_run", 0x09: "_finish_tiling", 0x0B: "_finish_fragment",
            0x10: "_add32", 0x11: "_add64", 0x12: "_umin32", 0x14: "_load_multiple", 0x15: "_store_multiple",
            0x16: "_branch", 0x17: "_set_sb_entry", 0x18: "_progress_wait", 0x19: "_set_exception_handler",
            0x20: "_call", 0x21: "_jump", 0x22: "_req_resource", 0x24: "_flush_cache2", 0x25: "_sync_op",
            0x26: "_sync_op", 0x27: "_sync_wait", 0x28: "_store_state", 0x2A: "_progress_store",
            0x2B: "_progress_load", 0x2C: "_run", 0x2F: "_error_barrier", 0x30: "_heap_set",
            0x31: "_heap_operation", 0x32: "_trace_point", 0x33: "_sync_op", 0x34: "_sync_op",
            0x35: "_sync_wait"}
        invalid = self._invalid
        #: opcode → handler(st, instr_word, args) -> GO/STOP; undefined opcodes (and PROT_REGION) → invalid.
        self.handlers: list[Callable[[StreamState, int, tuple[int, ...]], int]] = [invalid] * 256
        for opcode, name in names.items():
            self.handlers[opcode] = getattr(self, name)

    @property
    def config(self) -> McuConfig:
        """The MCU's configuration (latencies, limits; sampled at use)."""
        return self.mcu.config

    @property
    def faults(self) -> McuFaults:
        """The MCU's fault hooks."""
        return self.mcu.faults

    # -- services of the executor ---------------------------------------------------------------------------

    @abstractmethod
    def _kick(self, st: StreamState) -> None:
        """Run ``st`` again soon (it may be able to make progress)."""

    @abstractmethod
    def _resume_now(self, st: StreamState) -> None:
        """Run ``st`` at once (an op it waited for completed), or soon if a run is in progress."""

    @abstractmethod
    def _sync_updated(self, st: StreamState) -> None:
        """``st`` wrote a sync object: raise SYNC_UPDATE and re-evaluate sync waits."""

    @abstractmethod
    def _progress_changed(self, st: StreamState) -> None:
        """``st``'s progress counter changed: wake PROGRESS_WAITs of its group."""

    @abstractmethod
    def _heap_released(self) -> None:
        """Heap chunks went back to a heap: wake streams waiting for tiler memory."""

    @abstractmethod
    def _deliver(self, st: StreamState, exc: CsException) -> None:
        """Report a CS_FAULT/CS_FATAL of ``st`` to the host."""

    @abstractmethod
    def stream_progress(self, g: int, queue: int) -> int:
        """Progress counter of CS ``queue`` of CSG slot ``g`` (0 if it never ran)."""

    # -- memory through the group's address space -----------------------------------------------------------

    def _read(self, st: StreamState, va: int, size: int) -> bytes:
        try:
            return self.sim.mmu.gpu_read(st.as_nr, va, size, allow_stall=DEFER)
        except SimGpuFault as fault:
            raise _mmu_exception(fault) from None
        except (BadAddress, InvalidArgument) as err:
            raise CsException(isa.EXC_ADDR_RANGE_FAULT, va, reason=str(err)) from None

    def _write(self, st: StreamState, va: int, data: bytes) -> None:
        try:
            self.sim.mmu.gpu_write(st.as_nr, va, data, allow_stall=DEFER)
        except SimGpuFault as fault:
            raise _mmu_exception(fault) from None
        except (BadAddress, InvalidArgument) as err:
            raise CsException(isa.EXC_ADDR_RANGE_FAULT, va, reason=str(err)) from None

    def _read_uint(self, st: StreamState, va: int, width: int) -> int:
        _aligned(va, width)
        return int.from_bytes(self._read(st, va, width), "little")

    def _write_uint(self, st: StreamState, va: int, value: int, width: int) -> None:
        _aligned(va, width)
        self._write(st, va, (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little"))

    # -- asynchronous ops -----------------------------------------------------------------------------------

    def _deferred(self, st: StreamState) -> bool:
        """True (stream blocked, DEFERRED) when no more ops may be put in flight."""
        if len(st.ops) < MAX_PENDING_OPS:
            return False
        st.block = isa.BLOCKED_DEFERRED
        st.rewind()
        return True

    def _issue(self, st: StreamState, op: AsyncOp) -> int:
        """Put ``op`` in flight (GO), or block the stream when too many are (STOP, DEFERRED)."""
        if self._deferred(st):
            return STOP
        st.sb[op.slot] += 1
        st.ops.append(op)
        if not op.deps & st.busy_mask():
            self._start_op(st, op)
        return GO

    def _start_op(self, st: StreamState, op: AsyncOp) -> None:
        op.started = True
        if op.hung:
            return  # started, never completes (fault hook)
        if op.latency <= 0:
            op.due = self.sim.clock.now_ns()
            self._complete_op(st, op)
            return
        op.due = self.sim.clock.now_ns() + op.latency
        op.event = self.sim.clock.schedule(
            op.latency, lambda: self.mcu.run_guarded(lambda: self._op_done(st, op)), "CS async op")

    def _op_done(self, st: StreamState, op: AsyncOp) -> None:
        op.event = None
        if op in st.ops:
            self._complete_op(st, op, kick=False)
            self._resume_now(st)  # the front end resumes as soon as the entry clears

    def _complete_op(self, st: StreamState, op: AsyncOp, *, kick: bool = True) -> None:
        """Apply the op's effect, signal its entry, start ops it was holding, wake the stream.

        An effect whose memory access stalls behind a driver LOCK completes a little later instead.
        """
        try:
            self._effect(st, op)
        except CsException as exc:
            st.ops.remove(op)
            self._deliver(st, exc)
        except SimAccessStalled:
            self.stalls += 1
            op.event = self.sim.clock.schedule(
                STALL_RETRY_NS, lambda: self.mcu.run_guarded(lambda: self._op_done(st, op)),
                "CS async op (stalled behind a LOCK)")
            return
        else:
            st.ops.remove(op)
        st.sb[op.slot] -= 1
        st.last_progress_ns = self.sim.clock.now_ns()
        st.progress_reported = False
        busy = st.busy_mask()
        for other in list(st.ops):
            if not other.started and not other.deps & busy and other in st.ops:
                self._start_op(st, other)
                busy = st.busy_mask()
        if kick:
            self._kick(st)  # it may be unblocked; its status (scoreboards) and idle state changed either way

    def _effect(self, st: StreamState, op: AsyncOp) -> None:
        code = op.opcode
        if code in _SYNC_OPS:
            self._sync_effect(st, op)
        elif code == isa.OP_FLUSH_CACHE2:
            if op.value:
                self.sim.cache_flush_completed()  # LATEST_FLUSH counts completed flushes (§3.10)
        elif code == isa.OP_STORE_STATE:
            self._write_uint(st, op.addr, self._state_value(op), 8)
        elif code == isa.OP_HEAP_OPERATION:
            self._heap_update(st, op.addr, lambda ctx: heap.operation(ctx, op.value))
        elif code == isa.OP_FINISH_FRAGMENT:
            if op.addr:
                demand = self.config.tiler_chunk_demand
                self._heap_update(st, op.addr, lambda ctx: _finish_fragment(ctx, demand, op.value))
                self._heap_released()

    def _sync_effect(self, st: StreamState, op: AsyncOp) -> None:
        width = 8 if op.opcode in _WIDE_SYNC else 4
        value = op.value
        if op.opcode in (isa.OP_SYNC_ADD32, isa.OP_SYNC_ADD64):
            value += self._read_uint(st, op.addr, width)
        self._write_uint(st, op.addr, value, width)
        if op.err:
            # Error word: addr + 4 for 32-bit objects, addr + 8 for 64-bit ones; 1 = fault (§1.4).
            self._write_uint(st, op.addr + width, 1, 4)
        self._sync_updated(st)

    def _state_value(self, op: AsyncOp) -> int:
        gpu = self.sim.gpu
        if op.value == isa.STATE_TIMESTAMP:
            return gpu.timestamp()
        if op.value == isa.STATE_CYCLE_COUNT:
            return gpu.cycle_count()
        if op.value == isa.STATE_ERROR_STATUS:
            return int(op.err)
        return 0  # disjoint count: no disjoint events are modelled

    def _heap_update(self, st: StreamState, va: int, change: Callable[[heap.HeapContext], object]) -> None:
        ctx = heap.HeapContext.from_buffer_copy(self._read(st, va, heap.HEAP_CONTEXT_SIZE))
        change(ctx)
        self._write(st, va, bytes(ctx))

    def _new_op(self, st: StreamState, word: int, deps: int, slot: int, latency: int, *, addr: int = 0,
                value: int = 0, err: bool = False, hung: bool = False) -> AsyncOp:
        if slot >= len(st.sb):
            raise CsException(isa.EXC_CS_INVALID_INSTRUCTION, st.cur, fatal=True, data=word >> 56,
                              reason=f"signal slot {slot} beyond the {len(st.sb)} scoreboard entries")
        return AsyncOp(word, deps & ((1 << len(st.sb)) - 1), slot, addr, value, err, latency, hung)

    # -- handlers: registers and flow -----------------------------------------------------------------------

    def _invalid(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        raise CsException(isa.EXC_CS_INVALID_INSTRUCTION, st.cur, fatal=True, data=word >> 56,
                          reason=f"opcode {word >> 56:#04x} is not a v10 instruction the model runs")

    def _nop(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        return GO

    def _move48(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        st.set64(a[0], a[1])
        return GO

    def _move32(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        st.regs[a[0]] = a[1]
        return GO

    def _add32(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        st.regs[a[0]] = (st.regs[a[1]] + a[2]) & M32
        return GO

    def _add64(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        st.set64(a[0], (st.r64(a[1]) + a[2]) & M64)
        return GO

    def _umin32(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        st.regs[a[0]] = min(st.regs[a[1]], st.regs[a[2]])
        return GO

    def _branch(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        value, cond, offset = a
        if isa.branch_taken(cond, st.regs[value]):
            st.skip(8 * offset)  # relative to the next instruction (§1.4)
        return GO

    def _set_sb_entry(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        endpoint, other = a
        if max(endpoint, other) >= len(st.sb):
            raise CsException(isa.EXC_CS_INVALID_INSTRUCTION, st.cur, fatal=True, data=word >> 56,
                              reason=f"SET_SB_ENTRY {endpoint}/{other} beyond {len(st.sb)} entries")
        st.sb_endpoint, st.sb_other = endpoint, other
        return GO

    def _wait(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        mask, progress = a
        if st.busy_mask() & mask:
            st.block, st.wait_mask = isa.BLOCKED_SB_WAIT, mask
            st.rewind()
            return STOP
        if progress:
            self._bump_progress(st)
        return GO

    def _call(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        target, length = st.r64(a[0]), st.regs[a[1]]
        if length == 0:
            return GO  # len 0 is a no-op [inferred, §1.4]
        self._enter(st, target, length, push=True)
        return GO

    def _jump(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        target, length = st.r64(a[0]), st.regs[a[1]]
        if st.frames:
            if target & 7 and length:
                raise CsException(isa.EXC_INSTR_INVALID_PC, target, reason=f"JUMP to misaligned {target:#x}")
            st.frames[-1] = [target, target + length]
        elif length:
            self._enter(st, target, length, push=True)  # ring-level JUMP acts like a CALL [model choice]
        return GO

    def _enter(self, st: StreamState, target: int, length: int, *, push: bool) -> None:
        if target & 7:
            raise CsException(isa.EXC_INSTR_INVALID_PC, target, reason=f"CALL to misaligned {target:#x}")
        if len(st.frames) >= self.config.call_stack_depth:
            raise CsException(isa.EXC_CS_CALL_STACK_OVERFLOW, st.cur, fatal=True,
                              reason=f"call depth {len(st.frames) + 1} > {self.config.call_stack_depth}")
        st.frames.append([target, target + length])

    def _set_exception_handler(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        addr, length, kind = a
        if kind == isa.EXCEPTION_TILER_OOM:  # the only type the reference defines (§1.3)
            st.exc_addr, st.exc_len = st.r64(addr), st.regs[length]
        return GO

    def _req_resource(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        st.req_resource = a[0]  # endpoints are always granted: reported in status_req_resource
        return GO

    def _error_barrier(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        st.error = False
        return GO

    # -- handlers: memory -----------------------------------------------------------------------------------

    def _load_multiple(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        base, addr, mask, offset = a
        if not mask:
            return GO
        va = (st.r64(addr) + offset) & M64
        _aligned(va, 4)
        top = mask.bit_length()
        if base + top > len(st.regs):
            raise CsException(isa.EXC_CS_INVALID_INSTRUCTION, st.cur, fatal=True, data=word >> 56,
                              reason=f"LOAD_MULTIPLE r{base}+{top - 1} beyond the register file")
        data = self._read(st, va, 4 * top)
        for i in range(top):
            if mask >> i & 1:
                st.regs[base + i] = int.from_bytes(data[4 * i:4 * i + 4], "little")
        return GO

    def _store_multiple(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        base, addr, mask, offset = a
        va = (st.r64(addr) + offset) & M64
        _aligned(va, 4)
        i = 0
        while mask >> i:
            if not mask >> i & 1:
                i += 1
                continue
            run = i
            while mask >> run & 1:
                run += 1
            data = b"".join(st.regs[base + k].to_bytes(4, "little") for k in range(i, run))
            self._write(st, va + 4 * i, data)
            i = run
        return GO

    def _sync_op(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        propagate, _scope, wait, data, addr, signal = a
        wide = word >> 56 in _WIDE_SYNC
        va = st.r64(addr)
        _aligned(va, 8 if wide else 4)
        value = st.r64(data) if wide else st.regs[data]
        op = self._new_op(st, word, wait, signal, self.config.sync_latency_ns, addr=va, value=value,
                          err=bool(propagate) and st.error)
        return self._issue(st, op)

    def _sync_wait(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        reject, cond, ref, addr = a
        if cond > isa.COND_GREATER:
            raise CsException(isa.EXC_CS_INVALID_INSTRUCTION, st.cur, fatal=True, data=word >> 56,
                              reason=f"SYNC_WAIT condition {cond} is not LEQUAL or GREATER (§1.6)")
        wide = word >> 56 == isa.OP_SYNC_WAIT64
        width = 8 if wide else 4
        va = st.r64(addr)
        refv = st.r64(ref) if wide else st.regs[ref]
        mem = self._read_uint(st, va, width)
        if not isa.sync_wait_done(cond, mem, refv):
            st.block = isa.BLOCKED_SYNC_WAIT
            st.wait_ptr, st.wait_ref, st.wait_cond, st.wait_64 = va, refv, cond, wide
            st.rewind()
            return STOP
        if reject and self._read_uint(st, va + width, 4):
            # The object carries an error: the stream inherits it [inferred, §1.4; 0x4B §6.6].
            raise CsException(isa.EXC_CS_INHERIT_FAULT, va, reason="SYNC_WAIT rejects a failed sync object")
        return GO

    def _store_state(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        offset, wait, state, addr, signal = a
        va = (st.r64(addr) + offset) & M64
        _aligned(va, 8)
        op = self._new_op(st, word, wait, signal, self.config.sync_latency_ns, addr=va, value=state,
                          err=st.error)
        return self._issue(st, op)

    def _flush_cache2(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        l2, lsc, other, wait, flush_id, signal = a
        if max(l2, lsc, other) > 3:
            raise CsException(isa.EXC_CS_INVALID_INSTRUCTION, st.cur, fatal=True, data=word >> 56,
                              reason=f"FLUSH_CACHE2 modes {l2}/{lsc}/{other} out of range")
        sampled = st.regs[flush_id]
        # Flush reduction (§1.4): a flush completed since the producer sampled LATEST_FLUSH makes this
        # one unnecessary; 0 forces it.
        needed = bool(l2 or lsc or other) and (sampled == 0 or sampled == self.sim.latest_flush)
        latency = self.config.flush_latency_ns if needed else 0
        return self._issue(st, self._new_op(st, word, wait, signal, latency, value=int(needed)))

    # -- handlers: work and heap ----------------------------------------------------------------------------

    def _run(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        opcode = word >> 56
        if self._deferred(st):
            return STOP
        self._check_descriptors(st, opcode, a)
        if opcode == isa.OP_RUN_TILING or opcode == isa.OP_RUN_IDVS and a[2]:
            self._claim_heap(st)
        if _progress_bit(opcode, a):
            self._bump_progress(st)
        op = self._new_op(st, word, 0, st.sb_endpoint, self.config.run_latency_ns,
                          hung=self.faults.run_never_completes)
        return self._issue(st, op)

    def _finish_tiling(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        if self._deferred(st):
            return STOP
        if a[0]:
            self._bump_progress(st)
        return self._issue(st, self._new_op(st, word, 0, st.sb_endpoint, self.config.run_latency_ns))

    def _finish_fragment(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        increment, wait, _last, _first, signal = a
        op = self._new_op(st, word, wait, signal, self.config.sync_latency_ns, addr=st.heap_ctx,
                          value=increment)
        return self._issue(st, op)

    def _heap_set(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        st.heap_ctx = st.r64(a[0])
        return GO

    def _heap_operation(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        wait, operation, signal = a
        if operation == 2:
            raise CsException(isa.EXC_CS_INVALID_INSTRUCTION, st.cur, fatal=True, data=word >> 56,
                              reason="HEAP_OPERATION 2 is undefined (§1.3)")
        if not st.heap_ctx:
            raise CsException(isa.EXC_DATA_INVALID_FAULT, st.cur, reason="HEAP_OPERATION without HEAP_SET")
        op = self._new_op(st, word, wait, signal, self.config.sync_latency_ns, addr=st.heap_ctx,
                          value=operation)
        return self._issue(st, op)

    def _trace_point(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        wait, _base, _count, signal = a  # no trace buffer is modelled: completes like a no-op
        return self._issue(st, self._new_op(st, word, wait, signal, self.config.sync_latency_ns))

    def _progress_wait(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        source, queue = a
        if self.stream_progress(st.g, queue) < st.r64(source):
            st.block = isa.BLOCKED_PROGRESS_WAIT
            st.rewind()
            return STOP
        return GO

    def _progress_store(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        st.progress = st.r64(a[0])
        self._progress_changed(st)
        return GO

    def _progress_load(self, st: StreamState, word: int, a: tuple[int, ...]) -> int:
        st.set64(a[0], st.progress)
        return GO

    def _bump_progress(self, st: StreamState) -> None:
        st.progress = (st.progress + 1) & M64
        self._progress_changed(st)

    def _check_descriptors(self, st: StreamState, opcode: int, a: tuple[int, ...]) -> None:
        """The descriptor a RUN_* cannot do without must be set and readable (§1.5)."""
        if opcode in (isa.OP_RUN_COMPUTE, isa.OP_RUN_COMPUTE_INDIRECT):
            reg, what = 16 + 2 * a[-3], "SPD"  # spd select: r16/r18/r20/r22
        elif opcode == isa.OP_RUN_FRAGMENT:
            reg, what = 40, "framebuffer descriptor"
        elif opcode == isa.OP_RUN_FULLSCREEN:
            reg, what = a[2], "DCD"
        else:
            reg, what = 40, "tiler context"
        va = st.r64(reg)
        if va == 0:
            raise CsException(isa.EXC_DATA_INVALID_FAULT, st.cur, reason=f"{what} pointer r{reg} is 0")
        self._read(st, va, 4)

    def _claim_heap(self, st: StreamState) -> None:
        demand = self.config.tiler_chunk_demand
        if not demand or not st.heap_ctx:
            return
        ctx = heap.HeapContext.from_buffer_copy(self._read(st, st.heap_ctx, heap.HEAP_CONTEXT_SIZE))
        if not heap.claim(ctx, demand, self.config.heap_initial_chunks):
            raise TilerOom(st.heap_ctx, ctx)
        self._write(st, st.heap_ctx, bytes(ctx))


    def _oom_answer(self, st: StreamState, heap_start: int) -> None:
        """The host answered an OOM with ``heap_start`` (a chunk word, or 0 for no memory, §6.4)."""
        ctx_va = st.oom_ctx
        ctx = heap.HeapContext.from_buffer_copy(self._read(st, ctx_va, heap.HEAP_CONTEXT_SIZE))
        if heap_start:
            previous = heap.grant(ctx, heap_start)
            chunk = heap.Chunk.decode(heap_start)
            self._write_uint(st, chunk.va + heap.CHUNK_NEXT_OFFSET, previous, 8)  # the FW links grown chunks
            self._write(st, ctx_va, bytes(ctx))
            return  # the tiling pass runs again and claims the new chunk
        if st.exc_addr and st.exc_len:
            self._enter(st, st.exc_addr, st.exc_len, push=True)  # incremental rendering handler (§1.7)
        elif heap.fragment_pending(ctx):
            st.oom_wait = True  # a FINISH_FRAGMENT will return chunks
        else:
            st.skip(8)  # give up the pass
            raise CsException(isa.EXC_CS_RESOURCE_TERMINATED, ctx_va,
                              reason="tiler out of memory, no chunk, no fragment work pending, no handler")


def _finish_fragment(ctx: heap.HeapContext, demand: int, increment: int) -> None:
    heap.release(ctx, demand)
    if increment:
        heap.operation(ctx, 3)


def _progress_bit(opcode: int, a: tuple[int, ...]) -> int:
    """The progress-increment field (bit 32) of a RUN_* (its position in the §1.3 layout)."""
    if opcode in (isa.OP_RUN_TILING, isa.OP_RUN_IDVS, isa.OP_RUN_FULLSCREEN):
        return a[1]
    if opcode in (isa.OP_RUN_COMPUTE, isa.OP_RUN_FRAGMENT):
        return a[2]
    return a[1]  # RUN_COMPUTE_INDIRECT


def _aligned(va: int, width: int) -> None:
    if va % width:
        raise CsException(isa.EXC_ADDR_RANGE_FAULT, va, reason=f"{8 * width}-bit access at {va:#x}")


def _mmu_exception(fault: SimGpuFault) -> CsException:
    """A GPU access fault as the CS reports it: the MMU code, or CS_BUS_FAULT for a bus error (§9.5)."""
    code = isa.EXC_CS_BUS_FAULT if fault.exception_type == GPU_BUS_FAULT else fault.exception_type
    return CsException(code, fault.va, reason=str(fault))
