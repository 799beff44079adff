"""The CSF command-stream (CS) instruction set of arch v10 (Mali-G610), declared once as data.

Every instruction is one little-endian 64-bit word with the opcode in bits 63:56 and an
opcode-specific payload in bits 55:0. The table :data:`INSTRUCTIONS` lists each v10 opcode with its
fields (name, bit range, kind); :func:`encode` and :func:`decode` are driven entirely by it.

Source of every opcode number and bit range: shared/reference/cs-isa-and-uapi.md §1.2-§1.3, which
transcribes Mesa ``src/panfrost/lib/genxml/v10.xml`` (``<enum name="CS Opcode">`` and the ``CS <name>``
structs); field names are the v10.xml names in snake_case. Opcodes that only exist on v11+
(§1.8: SHARED_SB_INC/DEC, SET_STATE, ...) are *not* valid here and decode as unknown instructions.

Decoding never raises on a 64-bit input: undefined opcodes become an ``UNKNOWN`` instruction carrying
the raw word, set bits outside every field are reported in ``reserved_bits``, and undefined enum
values or odd register pairs are listed in ``problems`` (the disassembler shows all of them).
Encoding is strict: unknown mnemonics/fields, out-of-range values, undefined enum values and odd
64-bit register pairs raise :class:`~uio_driver.errors.InvalidArgument`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from types import MappingProxyType
from typing import Any, cast

import numpy as np

from ..errors import InvalidArgument

#: Register file size of a G610 CS (CS_FEATURES.WORK_REGS + 1); cs-isa-and-uapi.md §1.1.
G610_CS_REG_COUNT = 96
#: Scoreboard entries of a G610 CS (CS_FEATURES.SCOREBOARDS); cs-isa-and-uapi.md §1.1.
G610_SB_SLOT_COUNT = 8
#: panthor's CSF_UNPRESERVED_REG_COUNT: top registers clobbered by the per-job ring sequence.
UNPRESERVED_CS_REG_COUNT = 4
#: Bytes per instruction.
INSTR_SIZE = 8

OPCODE_SHIFT = 56
PAYLOAD_MASK = (1 << OPCODE_SHIFT) - 1
WORD_MASK = (1 << 64) - 1


# --- enumerations (v10.xml, cs-isa-and-uapi.md §1.3 "Enumerations used by the fields") -----------


class CsCondition(IntEnum):
    """``CS Condition``: BRANCH compares r[value] with 0; SYNC_WAIT compares memory with a register."""

    LEQUAL = 0
    GREATER = 1
    EQUAL = 2
    NEQUAL = 3
    LESS = 4
    GEQUAL = 5
    ALWAYS = 6


class CsFlushMode(IntEnum):
    """``CS Flush Mode`` (L2 and LSC fields of FLUSH_CACHE2)."""

    NONE = 0
    CLEAN = 1
    CLEAN_AND_INVALIDATE = 3


class CsOtherFlushMode(IntEnum):
    """``CS Other Flush Mode`` (other-caches field of FLUSH_CACHE2)."""

    NONE = 0
    INVALIDATE = 2


class CsSyncScope(IntEnum):
    """``CS Sync scope`` of SYNC_ADD/SET."""

    SYSTEM = 0
    CSG = 2


class CsState(IntEnum):
    """``CS State``: which 64-bit value STORE_STATE writes."""

    TIMESTAMP = 0
    CYCLE_COUNT = 1
    DISJOINT_COUNT = 2
    ERROR_STATUS = 3


class CsHeapOperation(IntEnum):
    """``CS Heap Operation``: the heap-context counter HEAP_OPERATION increments."""

    VERTEX_TILER_STARTED = 0
    VERTEX_TILER_COMPLETED = 1
    FRAGMENT_COMPLETED = 3


class CsExceptionType(IntEnum):
    """``CS Exception type`` accepted by SET_EXCEPTION_HANDLER."""

    TILER_OOM = 2


class TaskAxis(IntEnum):
    """``Task Axis`` of RUN_COMPUTE."""

    X = 0
    Y = 1
    Z = 2


class TileRenderOrder(IntEnum):
    """``Tile Render Order`` of RUN_FRAGMENT."""

    Z_ORDER = 0
    HORIZONTAL = 1
    VERTICAL = 2
    REVERSE_HORIZONTAL = 5
    REVERSE_VERTICAL = 6


# --- the data model -------------------------------------------------------------------------------


class FieldKind(Enum):
    """How a field's bits are interpreted."""

    REG = "reg"  # 8-bit index of a 32-bit register rN
    REG64 = "reg64"  # low register N of a 64-bit pair dN = rN:rN+1 (N even, cs_builder.h cs_reg64)
    UINT = "uint"  # unsigned immediate
    SINT = "sint"  # two's-complement signed immediate
    ENUM = "enum"  # value of an IntEnum (only listed values are encodable)
    FLAG = "flag"  # one-bit boolean


@dataclass(frozen=True)
class Field:
    """One bit field of an instruction payload.

    Attributes:
        name: v10.xml field name in snake_case.
        hi: highest bit (inclusive) in the 64-bit word.
        lo: lowest bit.
        kind: interpretation of the bits.
        enum: the IntEnum of an ENUM field.
        allowed: encodable subset of the enum values (None = every member).
        hex: print as hexadecimal (masks, raw immediates).
        memory: a REG64 that holds a memory address (printed ``[dN]``).
        default: value used by :func:`encode` when the caller omits the field.
    """

    name: str
    hi: int
    lo: int
    kind: FieldKind
    enum: type[IntEnum] | None = None
    allowed: frozenset[int] | None = None
    hex: bool = False
    memory: bool = False
    default: int = 0

    @property
    def width(self) -> int:
        return self.hi - self.lo + 1

    @property
    def mask(self) -> int:
        """Mask of this field's bits in the 64-bit word."""
        return ((1 << self.width) - 1) << self.lo

    def accepted_values(self) -> frozenset[int]:
        """Enum values :func:`encode` accepts for an ENUM field."""
        if self.enum is None:
            return frozenset()
        return self.allowed if self.allowed is not None else frozenset(int(m) for m in self.enum)


@dataclass(frozen=True)
class InstrDef:
    """One opcode of the instruction set.

    Attributes:
        opcode: value of bits 63:56.
        mnemonic: canonical name (Mesa's, except UMIN32 for COMPARE_SELECT32 as Mesa prints it).
        fields: payload fields, in disassembly operand order.
        aliases: other accepted spellings (reference §1.2 "common alias").
        asynchronous: completes asynchronously and signals a scoreboard entry (§1.1).
    """

    opcode: int
    mnemonic: str
    fields: tuple[Field, ...] = ()
    aliases: tuple[str, ...] = ()
    asynchronous: bool = False
    field_mask: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        mask = 0
        for f in self.fields:
            mask |= f.mask
        object.__setattr__(self, "field_mask", mask)

    def field(self, name: str) -> Field:
        """Return the field called ``name``; raises InvalidArgument if there is none."""
        for f in self.fields:
            if f.name == name:
                return f
        names = ", ".join(f.name for f in self.fields) or "none"
        raise InvalidArgument(f"{self.mnemonic} has no field {name!r} (fields: {names})")


def _reg(name: str, hi: int, lo: int) -> Field:
    return Field(name, hi, lo, FieldKind.REG)


def _pair(name: str, hi: int, lo: int, *, memory: bool = False) -> Field:
    return Field(name, hi, lo, FieldKind.REG64, memory=memory)


def _uint(name: str, hi: int, lo: int, *, hex: bool = False) -> Field:
    return Field(name, hi, lo, FieldKind.UINT, hex=hex)


def _sint(name: str, hi: int, lo: int) -> Field:
    return Field(name, hi, lo, FieldKind.SINT)


def _enum(name: str, hi: int, lo: int, enum: type[IntEnum], *, allowed: Iterable[int] | None = None,
          default: int = 0) -> Field:
    return Field(name, hi, lo, FieldKind.ENUM, enum=enum,
                 allowed=None if allowed is None else frozenset(int(v) for v in allowed), default=default)


def _flag(name: str, bit: int) -> Field:
    return Field(name, bit, bit, FieldKind.FLAG)


# Field groups shared by several instructions (v10.xml).
_PROGRESS = _flag("progress_increment", 32)
_SELECTS = (_uint("srt_select", 41, 40), _uint("spd_select", 43, 42), _uint("tsd_select", 45, 44),
            _uint("fau_select", 47, 46))
_WAIT16 = _uint("wait_mask", 31, 16, hex=True)  # 16-bit wait mask in every async op but WAIT (§1.7)
_SIGNAL = _uint("signal_slot", 51, 48)
_SYNC_UPDATE_TAIL = (_flag("error_propagate", 0), _enum("scope", 2, 1, CsSyncScope), _WAIT16, _SIGNAL)
# SYNC_WAIT accepts only LEQUAL and GREATER (§1.6: the FW reports only LE and GT).
_SYNC_WAIT_COND = _enum("condition", 31, 28, CsCondition, allowed=(CsCondition.LEQUAL, CsCondition.GREATER))
_CALL_FIELDS = (_pair("address", 47, 40), _reg("length", 39, 32))

#: Every arch-v10 CS instruction (cs-isa-and-uapi.md §1.2/§1.3 = Mesa v10.xml).
INSTRUCTIONS: tuple[InstrDef, ...] = (
    InstrDef(0x00, "NOP", (_uint("ignored", 55, 0, hex=True),)),
    InstrDef(0x01, "MOVE48", (_pair("destination", 55, 48), _uint("immediate", 47, 0, hex=True)),
             aliases=("MOVE", "MOV48")),
    InstrDef(0x02, "MOVE32", (_reg("destination", 55, 48), _uint("immediate", 31, 0, hex=True)),
             aliases=("MOV32",)),
    InstrDef(0x03, "WAIT", (_uint("wait_mask", 23, 16, hex=True), _PROGRESS)),
    InstrDef(0x04, "RUN_COMPUTE", (_uint("task_increment", 13, 0), _enum("task_axis", 15, 14, TaskAxis),
                                   _PROGRESS, *_SELECTS), asynchronous=True),
    InstrDef(0x05, "RUN_TILING", (_uint("flags_override", 31, 0, hex=True), _PROGRESS, *_SELECTS),
             asynchronous=True),
    InstrDef(0x06, "RUN_IDVS", (
        _reg("draw_id", 47, 40), _uint("flags_override", 31, 0, hex=True), _PROGRESS,
        _flag("malloc_enable", 33), _flag("draw_id_register_enable", 34),
        _uint("varying_srt_select", 35, 35), _uint("varying_fau_select", 36, 36),
        _uint("varying_tsd_select", 37, 37), _uint("fragment_srt_select", 38, 38),
        _uint("fragment_tsd_select", 39, 39)), asynchronous=True),
    InstrDef(0x07, "RUN_FRAGMENT", (_flag("enable_tem", 0), _enum("tile_order", 7, 4, TileRenderOrder),
                                    _PROGRESS), asynchronous=True),
    InstrDef(0x08, "RUN_FULLSCREEN", (_pair("dcd", 47, 40), _uint("flags_override", 31, 0, hex=True),
                                      _PROGRESS), asynchronous=True),
    InstrDef(0x09, "FINISH_TILING", (_PROGRESS,), asynchronous=True),
    InstrDef(0x0B, "FINISH_FRAGMENT", (
        _pair("last_heap_chunk", 39, 32), _pair("first_heap_chunk", 47, 40),
        _flag("increment_fragment_completed", 0), _WAIT16, _SIGNAL), asynchronous=True),
    InstrDef(0x10, "ADD_IMMEDIATE32", (_reg("destination", 55, 48), _reg("source", 47, 40),
                                       _sint("immediate", 31, 0)), aliases=("ADD_IMM32",)),
    InstrDef(0x11, "ADD_IMMEDIATE64", (_pair("destination", 55, 48), _pair("source", 47, 40),
                                       _sint("immediate", 31, 0)), aliases=("ADD_IMM64",)),
    InstrDef(0x12, "UMIN32", (_reg("destination", 55, 48), _reg("source_0", 47, 40),
                              _reg("source_1", 39, 32)), aliases=("COMPARE_SELECT32",)),
    InstrDef(0x14, "LOAD_MULTIPLE", (_reg("base_register", 55, 48), _pair("address", 47, 40, memory=True),
                                     _uint("mask", 31, 16, hex=True), _sint("offset", 15, 0)),
             aliases=("LDM",), asynchronous=True),
    InstrDef(0x15, "STORE_MULTIPLE", (_pair("address", 47, 40, memory=True), _reg("base_register", 55, 48),
                                      _uint("mask", 31, 16, hex=True), _sint("offset", 15, 0)),
             aliases=("STM",), asynchronous=True),
    InstrDef(0x16, "BRANCH", (_reg("value", 47, 40), _enum("condition", 30, 28, CsCondition),
                              _sint("offset", 15, 0))),
    InstrDef(0x17, "SET_SB_ENTRY", (_uint("endpoint_entry", 3, 0), _uint("other_entry", 7, 4))),
    InstrDef(0x18, "PROGRESS_WAIT", (_pair("source", 47, 40), _uint("queue", 4, 0))),
    InstrDef(0x19, "SET_EXCEPTION_HANDLER", (
        *_CALL_FIELDS, _enum("exception_type", 7, 0, CsExceptionType, default=CsExceptionType.TILER_OOM))),
    InstrDef(0x20, "CALL", _CALL_FIELDS),
    InstrDef(0x21, "JUMP", _CALL_FIELDS),
    InstrDef(0x22, "REQ_RESOURCE", (_flag("compute", 0), _flag("fragment", 1), _flag("tiler", 2),
                                    _flag("idvs", 3))),
    InstrDef(0x24, "FLUSH_CACHE2", (
        _reg("latest_flush_id", 47, 40), _enum("l2_flush_mode", 3, 0, CsFlushMode),
        _enum("lsc_flush_mode", 7, 4, CsFlushMode), _enum("other_flush_mode", 11, 8, CsOtherFlushMode),
        _WAIT16, _SIGNAL), asynchronous=True),
    InstrDef(0x25, "SYNC_ADD32", (_pair("address", 47, 40, memory=True), _reg("data", 39, 32),
                                  *_SYNC_UPDATE_TAIL), asynchronous=True),
    InstrDef(0x26, "SYNC_SET32", (_pair("address", 47, 40, memory=True), _reg("data", 39, 32),
                                  *_SYNC_UPDATE_TAIL), asynchronous=True),
    InstrDef(0x27, "SYNC_WAIT32", (_pair("address", 47, 40, memory=True), _reg("data", 39, 32),
                                   _SYNC_WAIT_COND, _flag("error_reject", 0))),
    InstrDef(0x28, "STORE_STATE", (_pair("address", 47, 40, memory=True), _sint("offset", 15, 0),
                                   _enum("state", 33, 32, CsState), _WAIT16, _SIGNAL), asynchronous=True),
    InstrDef(0x29, "PROT_REGION", (_uint("size", 15, 0),)),  # size in instructions (bytes >> 3)
    InstrDef(0x2A, "PROGRESS_STORE", (_pair("source", 47, 40),)),
    InstrDef(0x2B, "PROGRESS_LOAD", (_pair("destination", 55, 48),)),
    InstrDef(0x2C, "RUN_COMPUTE_INDIRECT", (_uint("workgroups_per_task", 15, 0), _PROGRESS, *_SELECTS),
             asynchronous=True),
    InstrDef(0x2F, "ERROR_BARRIER"),
    InstrDef(0x30, "HEAP_SET", (_pair("address", 47, 40),)),
    InstrDef(0x31, "HEAP_OPERATION", (_enum("operation", 33, 32, CsHeapOperation), _WAIT16, _SIGNAL),
             asynchronous=True),
    InstrDef(0x32, "TRACE_POINT", (_reg("base_register", 39, 32), _uint("register_count", 47, 40),
                                   _WAIT16, _SIGNAL), asynchronous=True),
    InstrDef(0x33, "SYNC_ADD64", (_pair("address", 47, 40, memory=True), _pair("data", 39, 32),
                                  *_SYNC_UPDATE_TAIL), asynchronous=True),
    InstrDef(0x34, "SYNC_SET64", (_pair("address", 47, 40, memory=True), _pair("data", 39, 32),
                                  *_SYNC_UPDATE_TAIL), asynchronous=True),
    InstrDef(0x35, "SYNC_WAIT64", (_pair("address", 47, 40, memory=True), _pair("data", 39, 32),
                                   _SYNC_WAIT_COND, _flag("error_reject", 0))),
)

#: Opcode → definition.
BY_OPCODE: Mapping[int, InstrDef] = MappingProxyType({d.opcode: d for d in INSTRUCTIONS})
#: Upper-case mnemonic or alias → definition.
BY_MNEMONIC: Mapping[str, InstrDef] = MappingProxyType(
    {name: d for d in INSTRUCTIONS for name in (d.mnemonic, *d.aliases)}
)

#: Opcodes defined only on later architectures (cs-isa-and-uapi.md §1.8); invalid on v10.
LATER_ARCH_OPCODES: Mapping[int, str] = MappingProxyType({
    0x13: "LOGIC_OP32", 0x1A: "NEXT_SB_ENTRY", 0x1B: "SET_STATE", 0x1C: "SET_STATE_IMM32",
    0x1E: "SHARED_SB_INC", 0x1F: "SHARED_SB_DEC",
})

UNKNOWN_MNEMONIC = "UNKNOWN"


def lookup(mnemonic: str) -> InstrDef:
    """Return the definition of ``mnemonic`` (case-insensitive; aliases such as MOV32 accepted).

    Raises:
        InvalidArgument: no v10 instruction has that name.
    """
    if not isinstance(mnemonic, str):
        raise InvalidArgument(f"CS mnemonic must be a string, got {type(mnemonic).__name__}")
    defn = BY_MNEMONIC.get(mnemonic.strip().upper())
    if defn is None:
        later = mnemonic.strip().upper() in LATER_ARCH_OPCODES.values()
        why = " (a v11+ instruction, not valid on arch v10)" if later else ""
        raise InvalidArgument(f"unknown CS instruction {mnemonic!r}{why}")
    return defn


# --- encoding -------------------------------------------------------------------------------------


def _int_value(defn: InstrDef, f: Field, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidArgument(
            f"{defn.mnemonic}.{f.name}: expected an integer, got {type(value).__name__} {value!r}"
        )
    return int(value)


def _enum_value(defn: InstrDef, f: Field, value: Any) -> int:
    enum = cast(type[IntEnum], f.enum)  # every ENUM field of the table names its IntEnum
    if isinstance(value, str):
        try:
            value = enum[value.strip().upper()]
        except KeyError:
            names = ", ".join(m.name for m in enum if int(m) in f.accepted_values())
            raise InvalidArgument(
                f"{defn.mnemonic}.{f.name}: unknown value {value!r} (one of {names})"
            ) from None
    elif isinstance(value, IntEnum) and not isinstance(value, enum):
        raise InvalidArgument(
            f"{defn.mnemonic}.{f.name}: expected a {enum.__name__}, got {type(value).__name__}.{value.name}"
        )
    raw = _int_value(defn, f, value)
    if raw not in f.accepted_values():
        names = ", ".join(f"{m.name}={int(m)}" for m in enum if int(m) in f.accepted_values())
        raise InvalidArgument(
            f"{defn.mnemonic}.{f.name}: value {raw} is not valid (accepted: {names})", value=raw
        )
    return raw


def field_bits(defn: InstrDef, f: Field, value: Any) -> int:
    """Validate ``value`` for field ``f`` of ``defn`` and return its bits in place in the word.

    Raises:
        InvalidArgument: wrong type, out of range, undefined enum value, odd register pair.
    """
    if f.kind is FieldKind.FLAG:
        if not isinstance(value, (bool, int, np.integer)) or int(value) not in (0, 1):
            raise InvalidArgument(
                f"{defn.mnemonic}.{f.name}: flag must be True/False (or 0/1), got {value!r}"
            )
        raw = int(value)
    elif f.kind is FieldKind.ENUM:
        raw = _enum_value(defn, f, value)
    else:
        raw = _int_value(defn, f, value)
        if f.kind is FieldKind.SINT:
            lo, hi = -(1 << (f.width - 1)), (1 << (f.width - 1)) - 1
        else:
            lo, hi = 0, (1 << f.width) - 1
        if not lo <= raw <= hi:
            raise InvalidArgument(
                f"{defn.mnemonic}.{f.name}: {raw} out of range [{lo}, {hi}] ({f.width}-bit "
                f"{'signed' if f.kind is FieldKind.SINT else 'unsigned'} field)", value=raw & WORD_MASK,
            )
        if f.kind is FieldKind.REG64 and raw % 2:
            # Mesa cs_builder.h cs_reg64 asserts (reg % 2) == 0: 64-bit operands are even pairs.
            raise InvalidArgument(
                f"{defn.mnemonic}.{f.name}: 64-bit register pair must start on an even register, got r{raw}",
                value=raw,
            )
        raw &= (1 << f.width) - 1
    return raw << f.lo


def encode(mnemonic: str, **fields: Any) -> int:
    """Encode one instruction as a 64-bit word.

    Omitted fields take their default (0, except SET_EXCEPTION_HANDLER.exception_type = TILER_OOM).
    Enum fields accept the IntEnum member, its integer value, or its name (case-insensitive).

    Args:
        mnemonic: instruction name or alias (``"MOVE32"``, ``"mov32"``, ``"LDM"``...).
        **fields: field values by v10.xml name in snake_case.

    Returns:
        The instruction word (opcode in bits 63:56).

    Raises:
        InvalidArgument: unknown mnemonic or field, value out of range, undefined enum value,
            odd register for a 64-bit pair.

    Example:
        >>> hex(encode("MOVE32", destination=42, immediate=0xDEADBEEF))
        '0x22a0000deadbeef'
    """
    defn = lookup(mnemonic)
    known = {f.name for f in defn.fields}
    unknown = sorted(set(fields) - known)
    if unknown:
        names = ", ".join(sorted(known)) or "none"
        raise InvalidArgument(f"{defn.mnemonic} has no field(s) {', '.join(unknown)} (fields: {names})")
    word = defn.opcode << OPCODE_SHIFT
    for f in defn.fields:
        word |= field_bits(defn, f, fields.get(f.name, f.default))
    return word


# --- decoding -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    """A decoded instruction word.

    Attributes:
        word: the raw 64-bit word.
        opcode: bits 63:56.
        mnemonic: canonical mnemonic, or ``"UNKNOWN"`` for an opcode v10 does not define.
        fields: field name → value (int; bool for flags; IntEnum member for defined enum values).
        reserved_bits: set bits of the payload outside every field (the whole payload if unknown).
        problems: human-readable notes: undefined enum values, odd pairs, unknown opcode.
    """

    word: int
    opcode: int
    mnemonic: str
    fields: Mapping[str, Any]
    reserved_bits: int = 0
    problems: tuple[str, ...] = ()

    def __hash__(self) -> int:
        return hash(self.word)  # fields is a mapping (unhashable); the word determines the rest

    @property
    def known(self) -> bool:
        """True if the opcode is a defined v10 instruction."""
        return self.mnemonic != UNKNOWN_MNEMONIC

    @property
    def definition(self) -> InstrDef | None:
        return BY_OPCODE.get(self.opcode) if self.known else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (enum values as integers, word and reserved bits as hex strings)."""
        return {
            "word": f"{self.word:#018x}", "opcode": self.opcode, "mnemonic": self.mnemonic,
            "fields": {k: (v if isinstance(v, bool) else int(v)) for k, v in self.fields.items()},
            "reserved_bits": f"{self.reserved_bits:#018x}", "problems": list(self.problems),
        }


def _unpack(defn: InstrDef, f: Field, word: int, problems: list[str]) -> Any:
    raw = (word >> f.lo) & ((1 << f.width) - 1)
    if f.kind is FieldKind.FLAG:
        return bool(raw)
    if f.kind is FieldKind.SINT:
        return raw - (1 << f.width) if raw >> (f.width - 1) else raw
    if f.kind is FieldKind.ENUM:
        enum = cast(type[IntEnum], f.enum)  # every ENUM field of the table names its IntEnum
        defined = raw in {int(m) for m in enum}
        if raw not in f.accepted_values():
            what = f"{enum(raw).name} is not valid for {defn.mnemonic}" if defined else f"{raw} is undefined"
            problems.append(f"{f.name}: {what}")
        return enum(raw) if defined else raw
    if f.kind is FieldKind.REG64 and raw % 2:
        problems.append(f"{f.name}: odd register pair d{raw}")
    return raw


def decode(word: int) -> Instruction:
    """Decode one 64-bit instruction word; never raises for 0 <= word < 2**64.

    Raises:
        InvalidArgument: ``word`` is not an integer in [0, 2**64).
    """
    if isinstance(word, bool) or not isinstance(word, (int, np.integer)) or not 0 <= int(word) <= WORD_MASK:
        raise InvalidArgument(f"CS instruction word must be an integer in [0, 2**64), got {word!r}")
    word = int(word)
    opcode = word >> OPCODE_SHIFT
    defn = BY_OPCODE.get(opcode)
    if defn is None:
        later = LATER_ARCH_OPCODES.get(opcode)
        note = (f"opcode {opcode:#04x} is {later} on arch v11+, invalid on v10" if later
                else f"opcode {opcode:#04x} is not defined on arch v10")
        return Instruction(word, opcode, UNKNOWN_MNEMONIC, MappingProxyType({}), word & PAYLOAD_MASK, (note,))
    problems: list[str] = []
    values = {f.name: _unpack(defn, f, word, problems) for f in defn.fields}
    reserved = word & PAYLOAD_MASK & ~defn.field_mask
    return Instruction(word, opcode, defn.mnemonic, MappingProxyType(values), reserved, tuple(problems))


def words_from_bytes(data: bytes | bytearray | memoryview) -> list[int]:
    """Split raw little-endian instruction memory into 64-bit words.

    Raises:
        InvalidArgument: the length is not a multiple of 8 bytes.
    """
    if len(data) % INSTR_SIZE:
        raise InvalidArgument(
            f"CS stream length {len(data)} bytes is not a multiple of {INSTR_SIZE} (64-bit instructions)",
            value=len(data),
        )
    return [int(w) for w in np.frombuffer(bytes(data), dtype="<u8")]


def words_to_bytes(words: Iterable[int]) -> bytes:
    """Pack 64-bit words as little-endian bytes (the in-memory instruction format).

    Raises:
        InvalidArgument: a word is not an integer in [0, 2**64).
    """
    checked = []
    for i, w in enumerate(words):
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or not 0 <= int(w) <= WORD_MASK:
            raise InvalidArgument(f"instruction {i}: word must be an integer in [0, 2**64), got {w!r}")
        checked.append(int(w))
    return np.array(checked, dtype="<u8").tobytes()


__all__ = [
    "BY_MNEMONIC", "BY_OPCODE", "CsCondition", "CsExceptionType", "CsFlushMode", "CsHeapOperation",
    "CsOtherFlushMode", "CsState", "CsSyncScope", "Field", "FieldKind", "G610_CS_REG_COUNT",
    "G610_SB_SLOT_COUNT", "INSTRUCTIONS", "INSTR_SIZE", "InstrDef", "Instruction", "LATER_ARCH_OPCODES",
    "TaskAxis", "TileRenderOrder", "UNKNOWN_MNEMONIC", "UNPRESERVED_CS_REG_COUNT", "decode", "encode",
    "field_bits", "lookup", "words_from_bytes", "words_to_bytes",
]
