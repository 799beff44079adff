"""The simulator's own decoder of arch-v10 command-stream (CS) instructions.

Written from ``shared/reference/cs-isa-and-uapi.md`` §1.2 (opcode map), §1.3 (field layouts),
§1.6 (condition codes) and ``csf-firmware-and-interfaces.md`` §6.5-§6.6 (wait status, blocked
reasons, exception types) — never from the driver's ``uio_driver.csf``, so the driver's encoder and
this decoder check each other.

Every instruction is one little-endian 64-bit word, opcode in bits 63:56. :data:`LAYOUTS` lists each
v10 opcode with its fields in §1.3 order; :func:`decode` turns a word into an :class:`Instr` whose
``args`` are the field values in that order (signed fields sign-extended). Decoded words are cached
(the executor sees the same panthor ring words for every job), so the interpreter's hot path is one
dict lookup and a tuple unpack. Opcodes §1.2 leaves undefined (10, 12-15, 19, 26-31, 35, 45, 46,
>= 54, which includes the v11+ instructions of §1.8) decode to an :class:`Instr` with ``name``
``"INVALID"``; the executor raises CS_FATAL 0x49 for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

# -- opcodes (§1.2) -----------------------------------------------------------------------------------------

OP_NOP = 0x00
OP_MOVE48 = 0x01
OP_MOVE32 = 0x02
OP_WAIT = 0x03
OP_RUN_COMPUTE = 0x04
OP_RUN_TILING = 0x05
OP_RUN_IDVS = 0x06
OP_RUN_FRAGMENT = 0x07
OP_RUN_FULLSCREEN = 0x08
OP_FINISH_TILING = 0x09
OP_FINISH_FRAGMENT = 0x0B
OP_ADD_IMM32 = 0x10
OP_ADD_IMM64 = 0x11
OP_UMIN32 = 0x12
OP_LOAD_MULTIPLE = 0x14
OP_STORE_MULTIPLE = 0x15
OP_BRANCH = 0x16
OP_SET_SB_ENTRY = 0x17
OP_PROGRESS_WAIT = 0x18
OP_SET_EXCEPTION_HANDLER = 0x19
OP_CALL = 0x20
OP_JUMP = 0x21
OP_REQ_RESOURCE = 0x22
OP_FLUSH_CACHE2 = 0x24
OP_SYNC_ADD32 = 0x25
OP_SYNC_SET32 = 0x26
OP_SYNC_WAIT32 = 0x27
OP_STORE_STATE = 0x28
OP_PROT_REGION = 0x29
OP_PROGRESS_STORE = 0x2A
OP_PROGRESS_LOAD = 0x2B
OP_RUN_COMPUTE_INDIRECT = 0x2C
OP_ERROR_BARRIER = 0x2F
OP_HEAP_SET = 0x30
OP_HEAP_OPERATION = 0x31
OP_TRACE_POINT = 0x32
OP_SYNC_ADD64 = 0x33
OP_SYNC_SET64 = 0x34
OP_SYNC_WAIT64 = 0x35

INSTR_SIZE = 8
OPCODE_SHIFT = 56

# -- condition codes (§1.6) ---------------------------------------------------------------------------------

COND_LEQUAL, COND_GREATER, COND_EQUAL, COND_NEQUAL, COND_LESS, COND_GEQUAL, COND_ALWAYS = range(7)
COND_NAMES = ("LEQUAL", "GREATER", "EQUAL", "NEQUAL", "LESS", "GEQUAL", "ALWAYS")

# -- CS output status fields (csf-firmware-and-interfaces.md §6.5) ----------------------------------------

STATUS_WAIT_SB_SOURCE_WAIT = 8 << 16  # SB_SOURCE = WAIT (panthor names)
STATUS_WAIT_COND_SHIFT = 24
STATUS_WAIT_PROGRESS = 1 << 28
STATUS_WAIT_SYNC_64B = 1 << 30
STATUS_WAIT_SYNC = 1 << 31
BLOCKED_UNBLOCKED, BLOCKED_SB_WAIT, BLOCKED_PROGRESS_WAIT, BLOCKED_SYNC_WAIT = 0, 1, 2, 3
BLOCKED_DEFERRED, BLOCKED_RESOURCE, BLOCKED_FLUSH = 4, 5, 6

# -- exception types in CS fault/fatal 7:0 (§6.6) -----------------------------------------------------------

EXC_CS_RESOURCE_TERMINATED = 0x0F
EXC_CS_CONFIG_FAULT = 0x40
EXC_CS_UNRECOVERABLE = 0x41
EXC_CS_ENDPOINT_FAULT = 0x44
EXC_CS_BUS_FAULT = 0x48
EXC_CS_INVALID_INSTRUCTION = 0x49
EXC_CS_CALL_STACK_OVERFLOW = 0x4A
EXC_CS_INHERIT_FAULT = 0x4B
EXC_INSTR_INVALID_PC = 0x50
EXC_INSTR_INVALID_ENC = 0x51
EXC_DATA_INVALID_FAULT = 0x58
EXC_ADDR_RANGE_FAULT = 0x5A
#: Codes only ever reported as CS_FATAL (§6.6 "CS_FATAL" list; 0x48 is in both lists).
FATAL_ONLY_TYPES = frozenset({0x40, 0x41, 0x44, 0x49, 0x4A, 0x68})

# -- enumerations used by the fields (§1.3) -----------------------------------------------------------------

STATE_TIMESTAMP, STATE_CYCLE_COUNT, STATE_DISJOINT_COUNT, STATE_ERROR_STATUS = 0, 1, 2, 3
HEAP_OP_VT_START, HEAP_OP_VT_END, HEAP_OP_FRAG_END = 0, 1, 3
EXCEPTION_TILER_OOM = 2
RESOURCE_COMPUTE, RESOURCE_FRAGMENT, RESOURCE_TILER, RESOURCE_IDVS = 1, 2, 4, 8


@dataclass(frozen=True)
class Field:
    """A bit field ``hi:lo`` of an instruction word; ``signed`` fields are two's complement."""

    name: str
    hi: int
    lo: int
    signed: bool = False

    @property
    def width(self) -> int:
        return self.hi - self.lo + 1

    def extract(self, word: int) -> int:
        """The field's value in ``word`` (sign-extended when ``signed``)."""
        value = (word >> self.lo) & ((1 << self.width) - 1)
        if self.signed and value >> (self.width - 1):
            value -= 1 << self.width
        return value


@dataclass(frozen=True)
class Layout:
    """One opcode of §1.2/§1.3: Mesa name, whether it completes asynchronously, fields in order."""

    opcode: int
    name: str
    is_async: bool
    fields: tuple[Field, ...]


def _f(name: str, hi: int, lo: int | None = None, signed: bool = False) -> Field:
    return Field(name, hi, hi if lo is None else lo, signed)


_SEL = (_f("progress", 32), _f("srt", 41, 40), _f("spd", 43, 42), _f("tsd", 45, 44), _f("fau", 47, 46))
_SYNC = (_f("propagate", 0), _f("scope", 2, 1), _f("wait", 31, 16), _f("data", 39, 32), _f("addr", 47, 40),
         _f("signal", 51, 48))
_SYNC_WAIT = (_f("reject", 0), _f("cond", 31, 28), _f("ref", 39, 32), _f("addr", 47, 40))
_MULTIPLE = (_f("base", 55, 48), _f("addr", 47, 40), _f("mask", 31, 16), _f("offset", 15, 0, True))
_ADD = (_f("dest", 55, 48), _f("src", 47, 40), _f("imm", 31, 0, True))
_STREAM = (_f("addr", 47, 40), _f("length", 39, 32))

#: Every v10 opcode (§1.2) with its §1.3 field layout.
LAYOUTS: dict[int, Layout] = {lay.opcode: lay for lay in (
    Layout(OP_NOP, "NOP", False, ()),
    Layout(OP_MOVE48, "MOVE48", False, (_f("dest", 55, 48), _f("imm", 47, 0))),
    Layout(OP_MOVE32, "MOVE32", False, (_f("dest", 55, 48), _f("imm", 31, 0))),
    Layout(OP_WAIT, "WAIT", False, (_f("mask", 23, 16), _f("progress", 32))),
    Layout(OP_RUN_COMPUTE, "RUN_COMPUTE", True,
           (_f("task_increment", 13, 0), _f("task_axis", 15, 14)) + _SEL),
    Layout(OP_RUN_TILING, "RUN_TILING", True, (_f("flags", 31, 0),) + _SEL),
    Layout(OP_RUN_IDVS, "RUN_IDVS", True, (
        _f("flags", 31, 0), _f("progress", 32), _f("malloc", 33), _f("draw_id_enable", 34),
        _f("varying_srt", 35), _f("varying_fau", 36), _f("varying_tsd", 37), _f("fragment_srt", 38),
        _f("fragment_tsd", 39), _f("draw_id_reg", 47, 40))),
    Layout(OP_RUN_FRAGMENT, "RUN_FRAGMENT", True, (_f("tem", 0), _f("tile_order", 7, 4), _f("progress", 32))),
    Layout(OP_RUN_FULLSCREEN, "RUN_FULLSCREEN", True, (_f("flags", 31, 0), _f("progress", 32),
                                                       _f("dcd", 47, 40))),
    Layout(OP_FINISH_TILING, "FINISH_TILING", True, (_f("progress", 32),)),
    Layout(OP_FINISH_FRAGMENT, "FINISH_FRAGMENT", True, (
        _f("increment", 0), _f("wait", 31, 16), _f("last", 39, 32), _f("first", 47, 40),
        _f("signal", 51, 48))),
    Layout(OP_ADD_IMM32, "ADD_IMMEDIATE32", False, _ADD),
    Layout(OP_ADD_IMM64, "ADD_IMMEDIATE64", False, _ADD),
    Layout(OP_UMIN32, "UMIN32", False, (_f("dest", 55, 48), _f("src0", 47, 40), _f("src1", 39, 32))),
    Layout(OP_LOAD_MULTIPLE, "LOAD_MULTIPLE", True, _MULTIPLE),
    Layout(OP_STORE_MULTIPLE, "STORE_MULTIPLE", True, _MULTIPLE),
    Layout(OP_BRANCH, "BRANCH", False, (_f("value", 47, 40), _f("cond", 30, 28), _f("offset", 15, 0, True))),
    Layout(OP_SET_SB_ENTRY, "SET_SB_ENTRY", False, (_f("endpoint", 3, 0), _f("other", 7, 4))),
    Layout(OP_PROGRESS_WAIT, "PROGRESS_WAIT", False, (_f("source", 47, 40), _f("queue", 4, 0))),
    Layout(OP_SET_EXCEPTION_HANDLER, "SET_EXCEPTION_HANDLER", False, (
        _f("addr", 47, 40), _f("length", 39, 32), _f("type", 7, 0))),
    Layout(OP_CALL, "CALL", False, _STREAM),
    Layout(OP_JUMP, "JUMP", False, _STREAM),
    Layout(OP_REQ_RESOURCE, "REQ_RESOURCE", False, (_f("resources", 3, 0),)),
    Layout(OP_FLUSH_CACHE2, "FLUSH_CACHE2", True, (
        _f("l2", 3, 0), _f("lsc", 7, 4), _f("other", 11, 8), _f("wait", 31, 16), _f("flush_id", 47, 40),
        _f("signal", 51, 48))),
    Layout(OP_SYNC_ADD32, "SYNC_ADD32", True, _SYNC),
    Layout(OP_SYNC_SET32, "SYNC_SET32", True, _SYNC),
    Layout(OP_SYNC_WAIT32, "SYNC_WAIT32", False, _SYNC_WAIT),
    Layout(OP_STORE_STATE, "STORE_STATE", True, (
        _f("offset", 15, 0, True), _f("wait", 31, 16), _f("state", 33, 32), _f("addr", 47, 40),
        _f("signal", 51, 48))),
    Layout(OP_PROT_REGION, "PROT_REGION", False, (_f("size", 15, 0),)),
    Layout(OP_PROGRESS_STORE, "PROGRESS_STORE", False, (_f("source", 47, 40),)),
    Layout(OP_PROGRESS_LOAD, "PROGRESS_LOAD", False, (_f("dest", 55, 48),)),
    Layout(OP_RUN_COMPUTE_INDIRECT, "RUN_COMPUTE_INDIRECT", True, (_f("wg_per_task", 15, 0),) + _SEL),
    Layout(OP_ERROR_BARRIER, "ERROR_BARRIER", False, ()),
    Layout(OP_HEAP_SET, "HEAP_SET", False, (_f("addr", 47, 40),)),
    Layout(OP_HEAP_OPERATION, "HEAP_OPERATION", True, (_f("wait", 31, 16), _f("operation", 33, 32),
                                                       _f("signal", 51, 48))),
    Layout(OP_TRACE_POINT, "TRACE_POINT", True, (
        _f("wait", 31, 16), _f("base", 39, 32), _f("count", 47, 40), _f("signal", 51, 48))),
    Layout(OP_SYNC_ADD64, "SYNC_ADD64", True, _SYNC),
    Layout(OP_SYNC_SET64, "SYNC_SET64", True, _SYNC),
    Layout(OP_SYNC_WAIT64, "SYNC_WAIT64", False, _SYNC_WAIT),
)}

INVALID = "INVALID"


class Instr(NamedTuple):
    """A decoded instruction: ``args`` are the field values in :data:`LAYOUTS` order."""

    opcode: int
    name: str
    args: tuple[int, ...]
    word: int


_CACHE: dict[int, Instr] = {}
_CACHE_LIMIT = 1 << 14


def decode(word: int) -> Instr:
    """Decode one 64-bit instruction word (never raises for a 64-bit value; see module docstring)."""
    got = _CACHE.get(word)
    if got is not None:
        return got
    opcode = word >> OPCODE_SHIFT
    layout = LAYOUTS.get(opcode)
    if layout is None:
        instr = Instr(opcode, INVALID, (), word)
    else:
        instr = Instr(opcode, layout.name, tuple(f.extract(word) for f in layout.fields), word)
    if len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.clear()  # bounded: user streams with many distinct immediates must not grow it forever
    _CACHE[word] = instr
    return instr


def describe(word: int) -> str:
    """``"SYNC_ADD64 propagate=1 scope=0 ... signal=0"`` — one line for messages and test output."""
    instr = decode(word)
    layout = LAYOUTS.get(instr.opcode)
    if layout is None:
        return f"INVALID opcode {instr.opcode:#04x} (word {word:#018x})"
    parts = [f"{f.name}={v:#x}" if abs(v) > 9 else f"{f.name}={v}" for f, v in zip(layout.fields, instr.args,
                                                                                    strict=True)]
    return " ".join([layout.name, *parts])


def branch_taken(cond: int, value: int) -> bool:
    """BRANCH: compare the 32-bit register with zero (§1.6), as signed two's complement.

    Whether LESS/LEQUAL/GEQUAL are signed is unverified (§1.6); the reference tells the simulator to
    treat the register as signed. An undefined code (7) is never taken.
    """
    signed = value - (1 << 32) if value & 0x80000000 else value
    if cond == COND_ALWAYS:
        return True
    if cond == COND_LEQUAL:
        return signed <= 0
    if cond == COND_GREATER:
        return signed > 0
    if cond == COND_EQUAL:
        return signed == 0
    if cond == COND_NEQUAL:
        return signed != 0
    if cond == COND_LESS:
        return signed < 0
    if cond == COND_GEQUAL:
        return signed >= 0
    return False


def sync_wait_done(cond: int, mem: int, ref: int) -> bool:
    """SYNC_WAIT: the stream resumes when ``mem <= ref`` (LEQUAL) or ``mem > ref`` (GREATER), unsigned
    (§1.6; panthor ``panthor_queue_eval_syncwait`` evaluates the same way on the host)."""
    return mem > ref if cond == COND_GREATER else mem <= ref
