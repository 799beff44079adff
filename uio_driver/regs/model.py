"""The register-database model: access modes, bit fields, registers, blocks and decoded values.

Registers are declared once, as data, in the block modules (``gpu_control``, ``job_control``,
``mmu``, ``doorbell``, ``user``); this module only defines what a declaration is and how values are
encoded and decoded. Nothing here touches hardware (see :mod:`uio_driver.regs.access` for that).

Conventions (mali-csf-registers-and-mmu.md, "Conventions"): registers are 32-bit little-endian;
a 64-bit quantity is a ``<X>_LO`` register at ``n`` and ``<X>_HI`` at ``n + 4``. The database also
carries one 64-bit *view* per such pair (named ``<X>``, ``width=64``) whose fields use the 64-bit bit
numbering of the reference; views are not part of the MMIO register list and share the offset of
their ``_LO`` half.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

from ..errors import InvalidArgument

_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_WIDTHS = (8, 16, 32, 64)


class Access(enum.Enum):
    """Access mode of a register (Renode/QEMU vocabulary, as the reference tables use it)."""

    #: Read-only; writes are ignored by hardware and refused by the driver.
    RO = "RO"
    #: Read-write.
    RW = "RW"
    #: Write-only; reads return 0 / undefined.
    WO = "WO"
    #: Write-one-to-clear: write-only, a 1 bit clears that bit of the block's RAWSTAT register.
    W1C = "W1C"

    @property
    def readable(self) -> bool:
        """True if a read returns meaningful data (RO, RW)."""
        return self in (Access.RO, Access.RW)

    @property
    def writable(self) -> bool:
        """True if the driver may write the register (RW, WO, W1C)."""
        return self is not Access.RO


def enum_map(enum_cls: type[enum.IntEnum]) -> dict[int, str]:
    """``{value: name}`` of an IntEnum, so field encodings and Python enums share one table."""
    return {int(member): member.name for member in enum_cls}


@dataclass(frozen=True)
class Field:
    """A bit field ``hi:lo`` (inclusive) of a register.

    Args:
        name: field name from the reference (upper case).
        hi: most significant bit.
        lo: least significant bit.
        doc: one-line meaning.
        enum: named encodings ``{value: name}``.
        provenance: where the fact comes from (defaults to the register's provenance).
        exhaustive: the reference defines the full set of encodings, so :meth:`insert` refuses
            any other value and decoding reports it as ``<unknown 0x..>``.
        aliases: other names accepted by :meth:`Register.field` and :meth:`Register.encode`
            (e.g. the panthor spelling of a kbase name).
    """

    name: str
    hi: int
    lo: int
    doc: str = ""
    enum: Mapping[int, str] = field(default_factory=dict, hash=False)
    provenance: str = ""
    exhaustive: bool = True
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise InvalidArgument(f"field name {self.name!r} is not an upper-case identifier")
        if not (isinstance(self.lo, int) and isinstance(self.hi, int) and 0 <= self.lo <= self.hi < 64):
            raise InvalidArgument(f"field {self.name}: bit range {self.hi}:{self.lo} is invalid")
        width = self.hi - self.lo + 1
        table = MappingProxyType(dict(self.enum))
        for value in table:
            if not 0 <= value < (1 << width):
                raise InvalidArgument(f"field {self.name}: enum value {value:#x} does not fit {width} bits")
        object.__setattr__(self, "enum", table)
        object.__setattr__(self, "aliases", tuple(self.aliases))
        object.__setattr__(self, "_by_name", {n.upper(): v for v, n in table.items()})

    @property
    def width(self) -> int:
        """Number of bits."""
        return self.hi - self.lo + 1

    @property
    def mask(self) -> int:
        """The field's bits in register position."""
        return ((1 << self.width) - 1) << self.lo

    @property
    def is_enum(self) -> bool:
        return bool(self.enum)

    def extract(self, reg_value: int) -> int:
        """The field's value (right-aligned) taken from a register value."""
        return (reg_value >> self.lo) & ((1 << self.width) - 1)

    def insert(self, reg_value: int, field_value: int | str) -> int:
        """Return ``reg_value`` with this field replaced by ``field_value`` (int or enum name).

        Raises:
            InvalidArgument: the value is negative, wider than the field, an unknown enum name, or
                an encoding outside an exhaustive enum.
        """
        value = self.value_of(field_value)
        if not isinstance(reg_value, int) or reg_value < 0:
            raise InvalidArgument(f"field {self.name}: register value {reg_value!r} is not an int >= 0")
        return (reg_value & ~self.mask) | (value << self.lo)

    def value_of(self, field_value: int | str) -> int:
        """Resolve an int or enum name to the field's integer encoding, checking that it fits.

        Raises:
            InvalidArgument: as for :meth:`insert`.
        """
        if isinstance(field_value, str):
            by_name: dict[str, int] = self.__dict__["_by_name"]
            try:
                return by_name[field_value.upper()]
            except KeyError:
                known = ", ".join(self.enum.values()) or "none (field has no named values)"
                raise InvalidArgument(
                    f"field {self.name}: unknown value name {field_value!r} (known: {known})"
                ) from None
        if not isinstance(field_value, int) or isinstance(field_value, bool) and self.width != 1:
            raise InvalidArgument(f"field {self.name}: value {field_value!r} is not an int or a value name")
        value = int(field_value)
        if not 0 <= value < (1 << self.width):
            raise InvalidArgument(
                f"field {self.name}: value {value:#x} does not fit {self.width} bit(s) ({self.hi}:{self.lo})",
                value=value if value >= 0 else None,
            )
        if self.enum and self.exhaustive and value not in self.enum:
            raise InvalidArgument(
                f"field {self.name}: {value:#x} is not a defined encoding "
                f"(defined: {', '.join(f'{k:#x} {n}' for k, n in self.enum.items())})",
                value=value,
            )
        return value

    def meaning(self, value: int) -> str | None:
        """Enum name of ``value``, or None if the field has no name for it."""
        return self.enum.get(value)

    def describe(self, value: int) -> str | None:
        """Enum name, ``<unknown 0x..>`` for an encoding an exhaustive enum does not define, or None."""
        name = self.enum.get(value)
        if name is None and self.enum and self.exhaustive:
            return f"<unknown {value:#x}>"
        return name

    def matches(self, name: str) -> bool:
        """True if ``name`` (case-insensitive) is this field's name or one of its aliases."""
        upper = name.upper()
        return upper == self.name or upper in self.aliases


@dataclass(frozen=True)
class FieldValue:
    """One decoded field: its value and, for enum fields, the encoding's name."""

    name: str
    value: int
    meaning: str | None = None
    field: Field | None = field(default=None, repr=False, compare=False)


@dataclass
class DecodedRegister:
    """A register value split into its fields.

    Attributes:
        register: the register decoded.
        value: the raw value.
        fields: every declared field, by name, in declaration order.
        unknown: set bits no field covers, keyed ``UNK_<hi>_<lo>`` over each undeclared bit range
            (value right-aligned to ``lo``).
        notes: remarks on the value (e.g. that it was read from a write-only register).
    """

    register: Register
    value: int
    fields: dict[str, FieldValue]
    unknown: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def __getitem__(self, name: str) -> int:
        """Value of field ``name`` (case-insensitive, aliases accepted)."""
        return self.fields[self.register.field(name).name].value

    def meaning(self, name: str) -> str | None:
        """Meaning of field ``name`` (enum name or ``<unknown 0x..>``), or None."""
        return self.fields[self.register.field(name).name].meaning

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "register": self.register.name,
            "offset": self.register.offset,
            "value": self.value,
            "fields": {f.name: {"value": f.value, "meaning": f.meaning} for f in self.fields.values()},
            "unknown": dict(self.unknown),
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        digits = max(2, self.register.width // 4)
        parts = []
        for f in self.fields.values():
            parts.append(f"{f.name}={f.value:#x}" + (f" ({f.meaning})" if f.meaning else ""))
        parts += [f"{k}={v:#x}" for k, v in self.unknown.items()]
        text = f"{self.register.name}={self.value:#0{digits + 2}x}"
        if parts:
            text += ": " + " ".join(parts)
        if self.notes:
            text += " [" + "; ".join(self.notes) + "]"
        return text


@dataclass(frozen=True, eq=False)
class Register:
    """One register (or a 64-bit view of a ``_LO``/``_HI`` pair, ``width=64``).

    Identity semantics (``eq=False``): each register is declared once, so a Register is a cheap
    dictionary key for the accessor's hot path.

    Args:
        name: register name from the reference.
        offset: byte offset from the start of the GPU MMIO window.
        access: access mode.
        doc: one-line meaning.
        fields: bit fields (must not overlap).
        reset: value after reset / power-on where the reference states it, else None.
        block: name of the :class:`RegisterBlock` it belongs to ("" for layout-only declarations).
        width: 32 for MMIO registers, 64 for pair views, 8/16 for layouts of sub-words.
        provenance: source files the facts come from (as the reference names them).
        csf: False for registers that exist only on pre-CSF (job manager) GPUs; a CSF GPU such
            as the G610 does not implement them, so dumps skip them.
    """

    name: str
    offset: int
    access: Access
    doc: str
    fields: tuple[Field, ...] = ()
    reset: int | None = None
    block: str = ""
    width: int = 32
    provenance: str = ""
    csf: bool = True

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise InvalidArgument(f"register name {self.name!r} is not an upper-case identifier")
        if self.width not in _WIDTHS:
            raise InvalidArgument(f"register {self.name}: width {self.width} not one of {_WIDTHS}")
        if not isinstance(self.offset, int) or self.offset < 0 or (self.width >= 32 and self.offset & 3):
            raise InvalidArgument(f"register {self.name}: offset {self.offset!r} is not 4-byte aligned")
        if self.reset is not None and not 0 <= self.reset < (1 << self.width):
            raise InvalidArgument(f"register {self.name}: reset value {self.reset:#x} too wide")
        fields = tuple(self._with_provenance(f) for f in self.fields)
        _check_fields(self.name, self.width, fields)
        object.__setattr__(self, "fields", fields)

    def _with_provenance(self, f: Field) -> Field:
        if f.provenance or not self.provenance:
            return f
        return Field(f.name, f.hi, f.lo, f.doc, f.enum, self.provenance, f.exhaustive, f.aliases)

    # -- derived tables (computed once) ---------------------------------------------------------

    @cached_property
    def _field_index(self) -> dict[str, Field]:
        index: dict[str, Field] = {}
        for f in self.fields:
            for key in (f.name, *f.aliases):
                index[key.upper()] = f
        return index

    @cached_property
    def _gaps(self) -> tuple[tuple[str, int, int], ...]:
        """Undeclared bit ranges as ``(UNK_hi_lo, lo, mask)``."""
        covered = 0
        for f in self.fields:
            covered |= f.mask
        gaps: list[tuple[str, int, int]] = []
        bit = 0
        while bit < self.width:
            if covered >> bit & 1:
                bit += 1
                continue
            lo = bit
            while bit < self.width and not covered >> bit & 1:
                bit += 1
            hi = bit - 1
            gaps.append((f"UNK_{hi}_{lo}", lo, ((1 << (hi - lo + 1)) - 1) << lo))
        return tuple(gaps)

    # -- public API -----------------------------------------------------------------------------

    @property
    def value_mask(self) -> int:
        """All bits of the register (``2**width - 1``)."""
        return (1 << self.width) - 1

    @property
    def is_pair_view(self) -> bool:
        """True for the 64-bit view of a ``_LO``/``_HI`` pair."""
        return self.width == 64

    def field(self, name: str) -> Field:
        """The field called ``name`` (case-insensitive; aliases accepted).

        Raises:
            InvalidArgument: the register has no such field.
        """
        try:
            return self._field_index[name.upper()]
        except (KeyError, AttributeError):
            known = ", ".join(f.name for f in self.fields) or "none"
            raise InvalidArgument(
                f"register {self.name} has no field {name!r} (fields: {known})", register=self.name
            ) from None

    def has_field(self, name: str) -> bool:
        return isinstance(name, str) and name.upper() in self._field_index

    def check_value(self, value: int) -> None:
        """Raise :class:`InvalidArgument` unless ``value`` fits the register width."""
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= self.value_mask:
            raise InvalidArgument(
                f"{self.name}: value {value!r} does not fit {self.width} bits",
                register=self.name,
                offset=self.offset,
                value=value if isinstance(value, int) and value >= 0 else None,
            )

    def decode(self, value: int) -> DecodedRegister:
        """Split ``value`` into fields; undeclared set bits are reported as ``UNK_<hi>_<lo>``.

        Raises:
            InvalidArgument: ``value`` does not fit the register width.
        """
        self.check_value(value)
        fields = {
            f.name: FieldValue(f.name, v, f.describe(v), f)
            for f in self.fields
            for v in (f.extract(value),)
        }
        unknown = {key: (value & mask) >> lo for key, lo, mask in self._gaps if value & mask}
        return DecodedRegister(self, value, fields, unknown)

    def encode(self, **field_values: int | str) -> int:
        """Build a register value from field values (ints or enum names); other bits are 0.

        Raises:
            InvalidArgument: unknown field name, value that does not fit, or unknown encoding.
        """
        return self.update_value(0, **field_values)

    def update_value(self, value: int, **field_values: int | str) -> int:
        """Return ``value`` with the given fields replaced (the pure part of read-modify-write).

        Raises:
            InvalidArgument: as for :meth:`encode`, or ``value`` does not fit the register.
        """
        self.check_value(value)
        for name, field_value in field_values.items():
            f = self.field(name)
            try:
                value = f.insert(value, field_value)
            except InvalidArgument as err:
                raise InvalidArgument(f"{self.name}.{err.message}", register=self.name,
                                      offset=self.offset, value=err.value) from None
        return value

    def __repr__(self) -> str:
        return f"Register({self.name}, {self.offset:#x}, {self.access.name}, width={self.width})"


def _check_fields(reg: str, width: int, fields: tuple[Field, ...]) -> None:
    """Refuse fields wider than the register, overlapping fields and duplicate names."""
    seen_bits = 0
    names: set[str] = set()
    for f in fields:
        if f.hi >= width:
            raise InvalidArgument(f"register {reg}: field {f.name} ({f.hi}:{f.lo}) exceeds {width} bits")
        if seen_bits & f.mask:
            raise InvalidArgument(f"register {reg}: field {f.name} ({f.hi}:{f.lo}) overlaps another field")
        seen_bits |= f.mask
        for key in (f.name, *f.aliases):
            if key.upper() in names:
                raise InvalidArgument(f"register {reg}: duplicate field name {key}")
            names.add(key.upper())


@dataclass(frozen=True, eq=False)
class RegisterBlock:
    """A contiguous range of the GPU window and the registers declared in it.

    Attributes:
        name: block name ("GPU_CONTROL", "JOB_CONTROL", "MMU", "AS0".."AS7", "USER", "DOORBELL").
        base: first byte offset.
        size: size in bytes.
        registers: the 32-bit MMIO registers of the block, by offset.
        doc: one-line description.
        views: 64-bit views of the block's ``_LO``/``_HI`` pairs (not MMIO registers themselves).
    """

    name: str
    base: int
    size: int
    registers: tuple[Register, ...]
    doc: str
    views: tuple[Register, ...] = ()

    @property
    def end(self) -> int:
        """First offset after the block."""
        return self.base + self.size

    def contains(self, offset: int) -> bool:
        return self.base <= offset < self.end


# -- declaration helpers ------------------------------------------------------------------------


def split_field(f: Field, half: int) -> Field | None:
    """The part of a 64-bit view's field that lies in the ``_LO`` (half 0) or ``_HI`` (half 1) word."""
    base = 32 * half
    hi, lo = min(f.hi, base + 31), max(f.lo, base)
    if hi < lo:
        return None
    doc = f.doc
    if (hi, lo) != (f.hi, f.lo):
        doc = f"bits {hi}:{lo} of {f.name} ({f.hi}:{f.lo} in the 64-bit value): {f.doc}"
    exhaustive_enum = f.enum if (hi, lo) == (f.hi, f.lo) else {}
    return Field(f.name, hi - base, lo - base, doc, exhaustive_enum, f.provenance, f.exhaustive, f.aliases)


def pair(
    name: str,
    offset: int,
    access: Access,
    doc: str,
    fields: Iterable[Field] = (),
    reset: int | None = None,
    *,
    block: str,
    provenance: str,
) -> tuple[Register, Register, Register]:
    """Declare a 64-bit register as ``<name>_LO``, ``<name>_HI`` and a 64-bit view ``<name>``.

    The view's fields use the reference's 64-bit bit numbering; the halves get the slices that fall
    in each 32-bit word (a field straddling both keeps its name in both halves).

    Returns:
        ``(lo, hi, view)``.
    """
    fields = tuple(fields)
    halves = []
    for half, suffix in ((0, "LO"), (1, "HI")):
        part = tuple(p for f in fields if (p := split_field(f, half)) is not None)
        part_reset = None if reset is None else (reset >> (32 * half)) & 0xFFFFFFFF
        halves.append(
            Register(f"{name}_{suffix}", offset + 4 * half, access,
                     f"{doc} (bits {32 * half + 31}:{32 * half})", part, part_reset, block, 32, provenance)
        )
    view = Register(name, offset, access, f"{doc} (64-bit view of {name}_LO/{name}_HI)", fields, reset,
                    block, 64, provenance)
    return halves[0], halves[1], view


def collect(namespace: Mapping[str, object], block: str) -> tuple[tuple[Register, ...], tuple[Register, ...]]:
    """Registers and 64-bit views of ``block`` found in a module namespace, each sorted by offset."""
    regs = {id(v): v for v in namespace.values() if isinstance(v, Register) and v.block == block}
    ordered = sorted(regs.values(), key=lambda r: (r.offset, r.width))
    return (tuple(r for r in ordered if r.width == 32), tuple(r for r in ordered if r.width == 64))
