"""The whole register database: blocks, the flat register list and name/offset lookup.

Block names (stable; other modules may rely on them):
``GPU_CONTROL`` (0x0000), ``JOB_CONTROL`` (0x1000), ``MMU`` (0x2000, IRQ registers), ``AS0``..``AS7``
(0x2400 + n*0x40), ``USER`` (0x10000) and ``DOORBELL`` (0x80000, 24 pages). A register's ``block``
attribute is one of these names.
"""

from __future__ import annotations

import difflib
from types import MappingProxyType
from typing import Any

from ..errors import InvalidArgument
from . import doorbell, gpu_control, job_control, mmu, user
from .model import DecodedRegister, Register, RegisterBlock


def _block(module: Any, doc: str) -> RegisterBlock:
    return RegisterBlock(module.BLOCK, module.BASE, module.SIZE, module.REGISTERS, doc, module.VIEWS)


#: Every block of the GPU window, by base offset.
BLOCKS: tuple[RegisterBlock, ...] = tuple(sorted(
    (
        _block(gpu_control, "IDs, features, GPU IRQ, GPU_COMMAND, power domains, coherency, MCU control"),
        _block(job_control, "JOB IRQ registers (CSF: raised by the MCU firmware)"),
        _block(mmu, "MMU IRQ registers"),
        *mmu.AS_BLOCKS,
        _block(user, "USER page: LATEST_FLUSH"),
        _block(doorbell, "doorbell pages 0..23"),
    ),
    key=lambda b: b.base,
))

#: Every 32-bit MMIO register, by offset.
REGISTERS: tuple[Register, ...] = tuple(sorted((r for b in BLOCKS for r in b.registers),
                                               key=lambda r: r.offset))

#: 64-bit views of the ``_LO``/``_HI`` pairs (not MMIO registers; share the ``_LO`` offset).
VIEWS: tuple[Register, ...] = tuple(v for b in BLOCKS for v in b.views)

_BY_NAME = MappingProxyType({r.name: r for r in (*REGISTERS, *VIEWS)})
_BY_OFFSET = MappingProxyType({r.offset: r for r in REGISTERS})
_BLOCK_BY_NAME = MappingProxyType({b.name: b for b in BLOCKS})


def lookup_name(name: str) -> Register:
    """Register or 64-bit view called ``name`` (case-insensitive).

    Raises:
        InvalidArgument: no such register (the message suggests close names).
    """
    if isinstance(name, str):
        reg = _BY_NAME.get(name.upper())
        if reg is not None:
            return reg
    close = difflib.get_close_matches(str(name).upper(), _BY_NAME.keys(), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise InvalidArgument(f"unknown register {name!r}{hint}", register=str(name))


def is_known(reg: Register) -> bool:
    """True if ``reg`` is one of this database's MMIO registers or 64-bit views (not a layout)."""
    return _BY_NAME.get(reg.name) is reg


def lookup_offset(offset: int) -> Register | None:
    """The 32-bit register at exactly byte ``offset``, or None."""
    return _BY_OFFSET.get(offset)


def lookup(name_or_offset: str | int | Register) -> Register:
    """Find a register by name (case-insensitive; 64-bit views included) or by exact byte offset.

    A string that is not a register name but parses as an integer (``"0x2400"``) is an offset. A
    :class:`Register` is returned unchanged.

    Raises:
        InvalidArgument: nothing matches; the message names what was looked up.
    """
    if isinstance(name_or_offset, Register):
        return name_or_offset
    if isinstance(name_or_offset, bool) or not isinstance(name_or_offset, (int, str)):
        raise InvalidArgument(f"register lookup needs a name or an offset, not {name_or_offset!r}")
    if isinstance(name_or_offset, str):
        if name_or_offset.upper() in _BY_NAME:
            return _BY_NAME[name_or_offset.upper()]
        try:
            offset = int(name_or_offset, 0)
        except ValueError:
            return lookup_name(name_or_offset)
    else:
        offset = name_or_offset
    reg = _BY_OFFSET.get(offset)
    if reg is None:
        where = describe_offset(offset) if offset >= 0 else "negative"
        raise InvalidArgument(f"no register at offset {offset:#x} ({where})",
                              offset=offset if offset >= 0 else None)
    return reg


def decode(name_or_register: str | int | Register, value: int) -> DecodedRegister:
    """Decode ``value`` as the register named/located by ``name_or_register``.

    Raises:
        InvalidArgument: unknown register or a value wider than the register.
    """
    return lookup(name_or_register).decode(value)


def block(name: str) -> RegisterBlock:
    """The block called ``name`` (case-insensitive).

    Raises:
        InvalidArgument: unknown block name.
    """
    found = _BLOCK_BY_NAME.get(name.upper()) if isinstance(name, str) else None
    if found is None:
        raise InvalidArgument(f"unknown register block {name!r} (blocks: {', '.join(_BLOCK_BY_NAME)})")
    return found


def block_of(offset: int) -> RegisterBlock | None:
    """The block containing byte ``offset``, or None."""
    for b in BLOCKS:
        if b.contains(offset):
            return b
    return None


def describe_offset(offset: int) -> str:
    """``NAME`` for a register offset, else ``BLOCK+0x..`` or the bare hex offset (for traces)."""
    reg = _BY_OFFSET.get(offset)
    if reg is not None:
        return reg.name
    b = block_of(offset)
    return f"{b.name}+{offset - b.base:#x}" if b is not None else f"{offset:#x}"
