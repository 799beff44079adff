"""Names for recorded accesses, derived from the register database at show time.

Records store offsets only; block, register and field names come from :mod:`uio_driver.regs` when a
trace is shown or compared. The header keeps a fingerprint of the producer's database
(:func:`regdb_fingerprint`) so ``trace show`` can say when names come from a different database
than the one that recorded (offsets are hardware facts and stay valid; only names may differ).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from ..regs import REGISTERS, block_of, lookup_offset

#: Region whose offsets the register database describes (the 2 MiB GPU window).
GPU_REGION = "gpu"


@lru_cache(maxsize=1)
def regdb_fingerprint() -> str:
    """Short stable hash of every (offset, name) pair of the register database."""
    h = hashlib.sha256()
    for reg in REGISTERS:
        h.update(f"{reg.offset:#x}={reg.name};".encode())
    return f"sha256:{h.hexdigest()[:16]}"


@dataclass(frozen=True)
class AccessName:
    """Where an access went: ``block`` and ``register`` (``"0x01234?"`` when unknown)."""

    block: str
    register: str
    known: bool


@lru_cache(maxsize=4096)
def name_access(region: str, offset: int) -> AccessName:
    """Block and register name of ``offset`` in region ``region``."""
    if region != GPU_REGION:
        return AccessName(region, f"{offset:#07x}?", False)
    reg = lookup_offset(offset)
    if reg is not None:
        return AccessName(reg.block, reg.name, True)
    blk = block_of(offset)
    return AccessName(blk.name if blk is not None else "?", f"{offset:#07x}?", False)


def fields_text(region: str, offset: int, value: int) -> str:
    """Set fields (and named encodings) of ``value``: ``"RESET_COMPLETED=1 OPCODE=RESET"``.

    Fields that are zero and have no name for zero are left out; undeclared set bits show as
    ``UNK_<hi>_<lo>=0x..``. Unknown registers give "".
    """
    reg = lookup_offset(offset) if region == GPU_REGION else None
    if reg is None:
        return ""
    dec = reg.decode(value)
    parts = []
    for f in dec.fields.values():
        if f.meaning:
            parts.append(f"{f.name}={f.meaning}")
        elif f.value:
            parts.append(f"{f.name}={f.value if f.value < 10 else hex(f.value)}")
    parts += [f"{k}={v:#x}" for k, v in dec.unknown.items()]
    return " ".join(parts)


def fields_dict(region: str, offset: int, value: int) -> dict[str, int | str]:
    """Like :func:`fields_text`, as ``{field: value or meaning}`` (for JSON)."""
    reg = lookup_offset(offset) if region == GPU_REGION else None
    if reg is None:
        return {}
    dec = reg.decode(value)
    out: dict[str, int | str] = {}
    for f in dec.fields.values():
        if f.meaning:
            out[f.name] = f.meaning
        elif f.value:
            out[f.name] = f.value
    out.update(dec.unknown)
    return out
