"""CS disassembler: one line per 64-bit instruction word, driven by the table in :mod:`.isa`.

Line format (text)::

    0x000000001000: 025E0000_DEADBEEF  MOVE32 r94, #0xDEADBEEF
    0x000000001008: 03000000_00010000  WAIT wait_mask=0x1
    0x000000001010: 16000100_30000002  BRANCH r1, condition=nequal, offset=2  ; -> 0x000000001028

Operands follow Mesa's pandecode naming (``src/panfrost/lib/genxml/decode_csf.c``): ``rN`` is a 32-bit
register, ``dN`` the 64-bit pair rN:rN+1, ``[dN + off]`` a memory operand, ``#imm`` an immediate,
``r4:r5`` the registers a LOAD/STORE_MULTIPLE mask selects.
Other fields print as ``name=value`` (enums by their lower-case name), one-bit flags by name when set.
Anything the decoder could not fully explain — set bits outside every field, an undefined enum
value, an odd register pair, an opcode v10 does not define — is flagged after ``;``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from ..errors import InvalidArgument
from .isa import (
    INSTR_SIZE,
    WORD_MASK,
    CsCondition,
    Field,
    FieldKind,
    Instruction,
    decode,
    words_from_bytes,
)


def format_word(word: int) -> str:
    """Raw word as in the reference tables: ``025E0000_DEADBEEF``."""
    return f"{word >> 32:08X}_{word & 0xFFFFFFFF:08X}"


def _memory_operand(reg: int, offset: int | None) -> str:
    if not offset:
        return f"[d{reg}]"
    return f"[d{reg} {'-' if offset < 0 else '+'} {abs(offset)}]"


def _reg_tuple(base: int, mask: int) -> str:
    # LOAD/STORE_MULTIPLE: bit i of the mask names register base + i (§1.4); Mesa prints the set
    # registers joined by ':' and '_' for an empty mask.
    regs = [f"r{base + i}" for i in range(mask.bit_length()) if mask >> i & 1]
    return ":".join(regs) if regs else "_"


def _value_text(f: Field, value: Any) -> str:
    if isinstance(value, IntEnum):
        return value.name.lower()
    if f.kind is FieldKind.ENUM:
        return f"?{value}"  # undefined encoding, also listed in the instruction's problems
    return f"0x{value:X}" if f.hex else str(value)


def _operand(f: Field, value: Any, offset: int | None) -> str | None:
    if f.kind is FieldKind.REG:
        return f"r{value}"
    if f.kind is FieldKind.REG64:
        return _memory_operand(value, offset) if f.memory else f"d{value}"
    if f.kind is FieldKind.FLAG:
        return f.name if value else None
    if f.name == "immediate":
        return f"#{_value_text(f, value)}"
    if f.name == "ignored" and not value:
        return None
    return f"{f.name}={_value_text(f, value)}"


def format_instruction(instr: Instruction) -> str:
    """Mnemonic and operands of a decoded instruction (no address, no comments)."""
    defn = instr.definition
    if defn is None:
        return f".word 0x{instr.word:016X}"
    has_memory = any(f.memory for f in defn.fields)
    offset = instr.fields.get("offset") if has_memory else None
    reg_mask = instr.fields.get("mask") if "base_register" in instr.fields else None
    operands = []
    for f in defn.fields:
        if (has_memory and f.name == "offset") or (reg_mask is not None and f.name == "mask"):
            continue  # folded into the memory operand / the register tuple
        if reg_mask is not None and f.name == "base_register":
            operands.append(_reg_tuple(int(instr.fields[f.name]), int(reg_mask)))
            continue
        text = _operand(f, instr.fields[f.name], offset)
        if text is not None:
            operands.append(text)
    return f"{defn.mnemonic} {', '.join(operands)}" if operands else defn.mnemonic


def _branch_target(instr: Instruction, address: int) -> int | None:
    if instr.mnemonic != "BRANCH" or not isinstance(instr.fields["condition"], CsCondition):
        return None
    # cs-isa-and-uapi.md §1.4: offset counts instructions from the one after the branch.
    return address + INSTR_SIZE + INSTR_SIZE * int(instr.fields["offset"])


@dataclass(frozen=True)
class DisasmLine:
    """One disassembled instruction.

    Attributes:
        address: GPU VA of the instruction (base + 8 * index).
        instruction: the decoded word.
        text: mnemonic and operands.
        comments: flags (reserved bits, problems) and annotations (branch target).
    """

    address: int
    instruction: Instruction
    text: str
    comments: tuple[str, ...] = ()

    @property
    def flagged(self) -> bool:
        """True if the word has reserved bits set, problems, or an unknown opcode."""
        i = self.instruction
        return bool(i.reserved_bits or i.problems or not i.known)

    def __str__(self) -> str:
        line = f"{self.address:#014x}: {format_word(self.instruction.word)}  {self.text}"
        return f"{line}  ; {'; '.join(self.comments)}" if self.comments else line

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"address": self.address, "text": self.text, "comments": list(self.comments),
                **self.instruction.to_dict()}


def disassemble_one(word: int, address: int = 0) -> DisasmLine:
    """Disassemble a single word located at ``address``."""
    instr = decode(word)
    comments = []
    if instr.reserved_bits and instr.known:
        comments.append(f"reserved bits set: 0x{instr.reserved_bits:016X}")
    comments.extend(instr.problems)
    target = _branch_target(instr, address)
    if target is not None:
        in_space = 0 <= target <= WORD_MASK
        comments.append(f"-> {target:#014x}" if in_space else "-> target outside the address space")
    return DisasmLine(address, instr, format_instruction(instr), tuple(comments))


def disassemble(words: Iterable[int], base: int = 0) -> list[DisasmLine]:
    """Disassemble instruction words placed at ``base``, ``base + 8``, ...

    Raises:
        InvalidArgument: ``base`` negative or not 8-byte aligned, the stream runs past 2**64, or a
            word is not a 64-bit integer.
    """
    words = list(words)
    if isinstance(base, bool) or not isinstance(base, int) or base < 0 or base % INSTR_SIZE:
        raise InvalidArgument(f"base address {base!r} must be a non-negative multiple of {INSTR_SIZE}")
    if base + INSTR_SIZE * len(words) > WORD_MASK + 1:
        raise InvalidArgument(f"{len(words)} instructions at {base:#x} run past the end of the address space")
    return [disassemble_one(w, base + INSTR_SIZE * i) for i, w in enumerate(words)]


def disassemble_bytes(data: bytes | bytearray | memoryview, base: int = 0) -> list[DisasmLine]:
    """Disassemble raw little-endian instruction memory.

    Raises:
        InvalidArgument: the length is not a multiple of 8, or ``base`` is invalid.
    """
    return disassemble(words_from_bytes(data), base)


def format_listing(lines: Sequence[DisasmLine]) -> str:
    """The text listing, one line per instruction, newline-terminated (empty for no lines)."""
    return "".join(f"{line}\n" for line in lines)


__all__ = [
    "DisasmLine", "disassemble", "disassemble_bytes", "disassemble_one", "format_instruction",
    "format_listing", "format_word",
]
