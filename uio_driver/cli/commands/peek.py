"""`mali-uio peek REG|OFFSET` and `mali-uio poke REG|OFFSET VALUE` (register-level debugging)."""

from __future__ import annotations

import argparse
from typing import Any

from ...errors import AccessDenied, BadAddress
from ...platform.base import MmioRegion
from ...regs import Register, RegisterAccess, lookup, lookup_offset
from ..common import add_common_options, emit, open_backend, parse_int, table

FORCE_HELP = "allow offsets the register database does not know"


def register(sub: argparse._SubParsersAction) -> None:
    peek = sub.add_parser("peek", help="read one register by name or offset")
    peek.add_argument("target", help="register name (e.g. GPU_ID) or byte offset (e.g. 0x0)")
    peek.add_argument("--force", action="store_true", help=FORCE_HELP)
    add_common_options(peek)
    peek.set_defaults(func=run_peek)

    poke = sub.add_parser("poke", help="write one register by name or offset")
    poke.add_argument("target", help="register name or byte offset")
    poke.add_argument("value", type=parse_int)
    poke.add_argument("--force", action="store_true", help=FORCE_HELP)
    poke.add_argument("--allow-writes", action="store_true",
                      help="devmem backend: map the window writable (it is read-only by default)")
    add_common_options(poke)
    poke.set_defaults(func=run_poke)


def _resolve(target: str, force: bool, window: int) -> tuple[int, Register | None]:
    """Offset and register for a name or offset; refuses what cannot be accessed safely."""
    try:
        offset = int(target, 0)
    except ValueError:
        named = lookup(target)
        return named.offset, named
    if offset < 0 or offset & 3 or offset + 4 > window:
        raise BadAddress(f"offset {offset:#x} is outside the {window:#x}-byte GPU window "
                         "or not 4-byte aligned", offset=offset)
    reg = lookup_offset(offset)
    if reg is None and not force:
        raise BadAddress(f"offset {offset:#x} is not a known register; use --force to access it anyway",
                         offset=offset)
    return offset, reg


def _row(offset: int, reg: Register | None, value: int) -> dict[str, Any]:
    row: dict[str, Any] = {"offset": offset, "name": reg.name if reg else None, "value": value}
    if reg is not None:
        dec = reg.decode(value)
        row["fields"] = {f.name: f.value for f in dec.fields.values()}
        row["meanings"] = {f.name: f.meaning for f in dec.fields.values() if f.meaning}
        row["unknown"] = dec.unknown
    return row


def run_peek(args: argparse.Namespace) -> int:
    with open_backend(args) as platform:
        mmio: MmioRegion = platform.mmio
        offset, reg = _resolve(args.target, args.force, mmio.size)
        if reg is not None and not reg.access.readable:
            raise AccessDenied(f"{reg.name} is write-only; reading it returns nothing meaningful",
                               register=reg.name, offset=offset)
        value = RegisterAccess(mmio).read(reg) if reg else mmio.read32(offset)
    row = _row(offset, reg, value)
    fields = ", ".join(f"{k}={v:#x}" for k, v in row.get("fields", {}).items())
    cells = [(f"{offset:#07x}", row["name"] or "?", f"{value:#010x}", fields)]
    emit(args, row, lambda c: c.print(table(None, ["offset", "name", "value", "fields"], cells)))
    return 0


def run_poke(args: argparse.Namespace) -> int:
    with open_backend(args, allow_writes=args.allow_writes) as platform:
        mmio: MmioRegion = platform.mmio
        offset, reg = _resolve(args.target, args.force, mmio.size)
        if reg is not None:
            RegisterAccess(mmio).write(reg, args.value)
        else:
            mmio.write32(offset, args.value)
    data = {"offset": offset, "name": reg.name if reg else None, "written": args.value}
    name = reg.name if reg else "?"
    emit(args, data, lambda c: c.print(f"wrote {args.value:#010x} to {name} ({offset:#07x})"))
    return 0
