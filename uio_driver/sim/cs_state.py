"""Per-stream state of the simulated command-stream front end and its suspend record.

:class:`StreamState` is one CS as the simulated firmware runs it (``cs-isa-and-uapi.md`` §1.1):
``cs_reg_count`` 32-bit registers, a pending-work count per scoreboard entry, the call stack
(``frames``: ``[pc, end]`` of every CALLed stream, innermost last; the ring itself is the bottom
level, positioned by the monotonic ring offset ``extract``, §2.2), the error state and what the
stream is blocked on. :class:`AsyncOp` is one asynchronous instruction in flight, kept as plain data
(word, captured operands, remaining latency) so a suspend can save it.

Suspend record (model format — the real one is firmware-private, ``csf-firmware-and-interfaces.md``
§5.1 gives only its size): the CSG suspend record of :mod:`.csg` is followed, 64-byte aligned, by a
:class:`GroupHeader` and one variable-length record per CS slot — a :class:`StreamRecord`, its call
frames, its ops in flight and its registers (``size`` 0 = the CS has no state). :func:`pack_group`
and :func:`unpack_group` convert; RESUME restores every field exactly.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import TYPE_CHECKING

from .clock import Event
from .cs_decode import (
    BLOCKED_PROGRESS_WAIT,
    BLOCKED_RESOURCE,
    BLOCKED_SB_WAIT,
    BLOCKED_SYNC_WAIT,
    STATUS_WAIT_COND_SHIFT,
    STATUS_WAIT_PROGRESS,
    STATUS_WAIT_SB_SOURCE_WAIT,
    STATUS_WAIT_SYNC,
    STATUS_WAIT_SYNC_64B,
)
from .csf_iface import CS_IDLE_EMPTY, CS_IDLE_RESOURCE_REQ, CS_IDLE_SYNC_WAIT, suspend_record_size

if TYPE_CHECKING:
    from .csg import CsSlot
    from .heap import HeapContext

M32 = 0xFFFFFFFF
M64 = (1 << 64) - 1
STALL_FAULT, STALL_OOM = 1, 2
u32 = ctypes.c_uint32
u64 = ctypes.c_uint64


class CsException(Exception):
    """Internal: an instruction or its memory access raised a CS_FAULT (``fatal`` False) or CS_FATAL."""

    def __init__(self, exception_type: int, info: int, *, fatal: bool = False, data: int = 0,
                 reason: str = "", fetch: bool = False) -> None:
        super().__init__(reason or f"CS exception {exception_type:#04x} at {info:#x}")
        self.fetch = fetch
        self.exception_type = exception_type
        self.info = info & M64
        self.fatal = fatal
        self.data = data & 0xFFFFFF
        self.reason = reason


class TilerOom(Exception):
    """Internal: a tiling pass needs more heap chunks than the heap context at ``ctx_va`` has."""

    def __init__(self, ctx_va: int, ctx: HeapContext) -> None:
        super().__init__(f"tiler heap {ctx_va:#x} out of memory")
        self.ctx_va = ctx_va
        self.ctx = ctx


class AsyncOp:
    """One asynchronous instruction in flight.

    Attributes:
        opcode/word: the instruction. deps: wait mask. slot: scoreboard entry it signals.
        addr/value: operands captured at issue. err: the stream was in the error state at issue.
        latency: virtual ns from start to completion. due: completion time once started (None before).
        hung: never completes (``McuFaults.run_never_completes``).
    """

    __slots__ = ("opcode", "word", "deps", "slot", "addr", "value", "err", "latency", "due", "event", "hung",
                 "started")

    def __init__(self, word: int, deps: int, slot: int, addr: int, value: int, err: bool, latency: int,
                 hung: bool = False) -> None:
        self.opcode = word >> 56
        self.word = word
        self.deps = deps
        self.slot = slot
        self.addr = addr
        self.value = value
        self.err = err
        self.latency = latency
        self.due: int | None = None
        self.event: Event | None = None
        self.hung = hung
        self.started = False


class StreamState:
    """One command stream as the firmware runs it (registers, scoreboards, call stack, blocking).

    ``frames`` holds ``[pc, end]`` of every called stream (innermost last); with no frame the stream
    executes its ring at byte offset ``extract`` (a monotonic ring offset, §2.2).
    """

    __slots__ = ("g", "s", "regs", "sb", "ops", "frames", "extract", "insert", "ring_base", "ring_mask",
                 "as_nr", "doorbell", "sb_endpoint", "sb_other", "error", "fatal", "stall", "block",
                 "wait_mask", "wait_ptr", "wait_ref", "wait_cond", "wait_64", "progress", "heap_ctx",
                 "exc_addr", "exc_len", "req_resource", "retired", "running", "run_event", "run_cb", "idle",
                 "last_progress_ns", "progress_event", "progress_reported", "cur", "oom_ctx", "oom_wait",
                 "cs_slot", "io_in", "io_out", "published", "fetch_fault", "pending_fetch", "ring_cache")

    def __init__(self, g: int, s: int, reg_count: int, sb_count: int) -> None:
        self.g, self.s = g, s
        self.regs = [0] * reg_count
        self.sb = [0] * sb_count
        self.ops: list[AsyncOp] = []
        self.frames: list[list[int]] = []
        self.extract = self.insert = 0
        self.ring_base = self.ring_mask = 0
        self.as_nr = 0
        self.doorbell = 0
        self.sb_endpoint = self.sb_other = 0  # SET_SB_ENTRY reset values [model choice]
        self.error = self.fatal = False
        self.stall = 0
        self.block = 0
        self.wait_mask = self.wait_ptr = self.wait_ref = self.wait_cond = 0
        self.wait_64 = False
        self.progress = 0
        self.heap_ctx = 0
        self.exc_addr = self.exc_len = 0
        self.req_resource = 0
        self.retired = 0
        self.running = False
        self.run_event: Event | None = None
        self.run_cb: Callable[[], None] | None = None
        self.idle = True
        self.last_progress_ns = 0
        self.progress_event: Event | None = None
        self.progress_reported = False
        self.cur = 0
        self.oom_ctx = 0
        self.oom_wait = False
        self.cs_slot: CsSlot | None = None  # the firmware's CsSlot (output block) this stream runs on
        self.io_in = self.io_out = 0  # MCU VAs of the user input/output pages
        self.published: tuple[int, int] | None = None  # (extract, active) last written to the output page
        self.fetch_fault = False  # the pending CS_FAULT came from fetching a called stream
        self.pending_fetch: CsException | None = None  # a fetch fault found ahead of the instruction stream
        # Ring words already fetched, by monotonic ring offset [lo, hi): the ring discipline (§2.2) keeps
        # words between EXTRACT and INSERT unchanged, so they stay valid across runs (a prefetch buffer).
        self.ring_cache: tuple[bytes, int, int] = (b"", 0, 0)

    # -- position -------------------------------------------------------------------------------------------

    def rewind(self) -> None:
        """Step back to the instruction just fetched (it blocked and runs again when woken)."""
        if self.frames:
            self.frames[-1][0] -= 8
        else:
            self.extract -= 8

    def skip(self, nbytes: int) -> None:
        """Move the position by ``nbytes`` (BRANCH)."""
        if self.frames:
            self.frames[-1][0] += nbytes
        else:
            self.extract += nbytes

    def cmd_ptr(self) -> int:
        """GPU VA of the next instruction (``status_cmd_ptr``)."""
        if self.frames:
            return self.frames[-1][0]
        return self.ring_base + (self.extract & self.ring_mask)

    def r64(self, n: int) -> int:
        return self.regs[n] | self.regs[n + 1] << 32

    def set64(self, n: int, value: int) -> None:
        self.regs[n + 1] = (value >> 32) & M32  # index n + 1 first: an odd top register faults before a write
        self.regs[n] = value & M32

    def idle_now(self, ack: int) -> bool:
        """Idle per the CS ACK's IDLE_* bits (§6.4, §9.5); a FATAL or stopped stream does nothing."""
        if not self.running or self.fatal:
            return True
        if self.stall or self.ops:
            return False
        if self.block == BLOCKED_SYNC_WAIT:
            return bool(ack & CS_IDLE_SYNC_WAIT)
        if self.oom_wait or self.block:
            return self.oom_wait and bool(ack & CS_IDLE_RESOURCE_REQ)
        return not self.frames and self.extract >= self.insert and bool(ack & CS_IDLE_EMPTY)

    def status_wait(self) -> tuple[int, int, int, int]:
        """(status_blocked_reason, status_wait, wait_sync_ptr, wait_sync_value) as of now (§6.5)."""
        reason = BLOCKED_RESOURCE if self.oom_wait else self.block
        if reason == BLOCKED_SYNC_WAIT:
            wait = STATUS_WAIT_SYNC | self.wait_cond << STATUS_WAIT_COND_SHIFT
            return reason, wait | (STATUS_WAIT_SYNC_64B if self.wait_64 else 0), self.wait_ptr, self.wait_ref
        if reason == BLOCKED_SB_WAIT:
            return reason, self.wait_mask | STATUS_WAIT_SB_SOURCE_WAIT, 0, 0
        if reason == BLOCKED_PROGRESS_WAIT:
            return reason, STATUS_WAIT_PROGRESS, 0, 0
        return reason, 0, 0, 0

    def busy_mask(self) -> int:
        """Scoreboard entries with pending work (``status_scoreboards``)."""
        mask = 0
        for i, count in enumerate(self.sb):
            if count:
                mask |= 1 << i
        return mask


# -- suspend record ----------------------------------------------------------------------------------------

GROUP_MAGIC = int.from_bytes(b"CSEX", "little")
GROUP_VERSION = 1
_F_ERROR, _F_FATAL, _F_FAULT, _F_OOM, _F_OOM_WAIT, _F_FETCH_FAULT, _F_WAIT_64 = (1 << n for n in range(7))
_OP_ERR, _OP_STARTED, _OP_HUNG = 1, 2, 4
MAX_SB = 16


class GroupHeader(ctypes.LittleEndianStructure):
    """Start of the executor state of one CSG (``size`` = total bytes, header included)."""

    _fields_ = [("magic", u32), ("version", u32), ("stream_num", u32), ("size", u32)]


GROUP_HEADER_SIZE = ctypes.sizeof(GroupHeader)


class StreamRecord(ctypes.LittleEndianStructure):
    """Fixed part of one stream's state; frames, ops and registers follow (their counts are here)."""

    _fields_ = [("size", u32), ("flags", u32), ("reg_count", u32), ("sb_count", u32), ("depth", u32),
                ("op_count", u32), ("block", u32), ("sb_endpoint", u32), ("sb_other", u32),
                ("wait_mask", u32), ("wait_cond", u32), ("req_resource", u32), ("exc_len", u32),
                ("_pad", u32),
                ("extract", u64), ("insert", u64), ("wait_ptr", u64), ("wait_ref", u64), ("progress", u64),
                ("heap_ctx", u64), ("exc_addr", u64), ("oom_ctx", u64), ("cur", u64), ("retired", u64),
                ("sb", u32 * MAX_SB)]


class OpRecord(ctypes.LittleEndianStructure):
    """One op in flight: ``latency`` is what remains of it when ``started``."""

    _fields_ = [("word", u64), ("addr", u64), ("value", u64), ("latency", u64), ("deps", u32), ("slot", u32),
                ("flags", u32), ("_pad", u32)]


_SCALARS = ("block", "sb_endpoint", "sb_other", "wait_mask", "wait_cond", "req_resource", "exc_len",
            "extract", "insert", "wait_ptr", "wait_ref", "progress", "heap_ctx", "exc_addr", "oom_ctx", "cur",
            "retired")
_FLAGS = ((_F_ERROR, "error"), (_F_FATAL, "fatal"), (_F_OOM_WAIT, "oom_wait"),
          (_F_FETCH_FAULT, "fetch_fault"), (_F_WAIT_64, "wait_64"))


def pack_stream(st: StreamState) -> bytes:
    """One stream's record (fixed part, frames, ops, registers)."""
    rec = StreamRecord(reg_count=len(st.regs), sb_count=len(st.sb), depth=len(st.frames),
                       op_count=len(st.ops))
    for name in _SCALARS:
        setattr(rec, name, getattr(st, name) & M64)
    rec.flags = sum(bit for bit, name in _FLAGS if getattr(st, name))
    rec.flags |= (_F_FAULT if st.stall & STALL_FAULT else 0) | (_F_OOM if st.stall & STALL_OOM else 0)
    for i, count in enumerate(st.sb):
        rec.sb[i] = count
    frames = b"".join(pc.to_bytes(8, "little") + end.to_bytes(8, "little") for pc, end in st.frames)
    ops = b"".join(bytes(OpRecord(op.word, op.addr, op.value, op.latency, op.deps, op.slot,
                                  (_OP_ERR if op.err else 0) | (_OP_STARTED if op.started else 0)
                                  | (_OP_HUNG if op.hung else 0))) for op in st.ops)
    body = frames + ops + bytes((u32 * len(st.regs))(*st.regs))
    rec.size = -(-(ctypes.sizeof(StreamRecord) + len(body)) // 8) * 8
    return (bytes(rec) + body).ljust(rec.size, b"\0")


def unpack_stream(data: bytes, offset: int, g: int, s: int) -> StreamState:
    """The stream whose record starts at ``offset`` of ``data`` (made by :func:`pack_stream`)."""
    rec = StreamRecord.from_buffer_copy(data, offset)
    st = StreamState(g, s, rec.reg_count, rec.sb_count)
    for name in _SCALARS:
        setattr(st, name, getattr(rec, name))
    for bit, name in _FLAGS:
        setattr(st, name, bool(rec.flags & bit))
    st.stall = (STALL_FAULT if rec.flags & _F_FAULT else 0) | (STALL_OOM if rec.flags & _F_OOM else 0)
    st.sb = [rec.sb[i] for i in range(rec.sb_count)]
    at = offset + ctypes.sizeof(StreamRecord)
    for _ in range(rec.depth):
        st.frames.append([int.from_bytes(data[at:at + 8], "little"),
                          int.from_bytes(data[at + 8:at + 16], "little")])
        at += 16
    for _ in range(rec.op_count):
        o = OpRecord.from_buffer_copy(data, at)
        op = AsyncOp(o.word, o.deps, o.slot, o.addr, o.value, bool(o.flags & _OP_ERR), o.latency,
                     bool(o.flags & _OP_HUNG))
        op.started = bool(o.flags & _OP_STARTED)
        st.ops.append(op)
        at += ctypes.sizeof(OpRecord)
    st.regs = list((ctypes.c_uint32 * rec.reg_count).from_buffer_copy(data, at))
    return st


def record_offset(stream_num: int) -> int:
    """Where the executor state starts in ``suspend_buf``: after the CSG suspend record, 64-byte aligned."""
    return -(-suspend_record_size(stream_num) // 64) * 64


def pack_group(states: list[StreamState | None]) -> bytes:
    """The executor state of one CSG: a header, then each CS slot's record (empty for no state)."""
    body = b"".join(b"\0" * 8 if st is None else pack_stream(st) for st in states)
    head = GroupHeader(GROUP_MAGIC, GROUP_VERSION, len(states), GROUP_HEADER_SIZE + len(body))
    return bytes(head) + body


def group_record_size(header: bytes) -> int | None:
    """Total size announced by a :class:`GroupHeader`, or None if ``header`` is not one."""
    head = GroupHeader.from_buffer_copy(header)
    if (head.magic, head.version) != (GROUP_MAGIC, GROUP_VERSION) or head.size < GROUP_HEADER_SIZE:
        return None
    return int(head.size)


def unpack_group(data: bytes, stream_num: int) -> list[StreamState | None]:
    """Inverse of :func:`pack_group` (``stream_num`` CS slots; the group may resume on another slot)."""
    out: list[StreamState | None] = []
    at = GROUP_HEADER_SIZE
    for s in range(stream_num):
        size = int.from_bytes(data[at:at + 4], "little") if at + 4 <= len(data) else 0
        if size == 0:
            out.append(None)
            at += 8
            continue
        out.append(unpack_stream(data, at, -1, s))
        at += size
    return out
