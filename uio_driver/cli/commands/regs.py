"""`mali-uio regs dump [BLOCK]`, `regs decode NAME VALUE`, `regs list [BLOCK]`."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from ...errors import InvalidArgument
from ...regs import BLOCKS, Register, RegisterAccess, decode, lookup
from ..common import add_common_options, add_json_option, emit, open_backend, parse_int, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("regs", help="register database: dump live values, decode a value, list")
    rsub = p.add_subparsers(dest="regs_command", metavar="ACTION")
    rsub.required = True

    dump = rsub.add_parser("dump", help="read every readable register of a block, decoded")
    names = ", ".join(b.name for b in BLOCKS)
    dump.add_argument("block", nargs="?", help=f"block name ({names}); default all")
    add_common_options(dump)
    dump.set_defaults(func=run_dump)

    dec = rsub.add_parser("decode", help="decode a value offline (no hardware access)")
    dec.add_argument("register", help="register name or offset")
    dec.add_argument("value", type=parse_int)
    add_json_option(dec)
    dec.set_defaults(func=run_decode)

    lst = rsub.add_parser("list", help="list registers (name, offset, access, fields)")
    lst.add_argument("block", nargs="?")
    add_json_option(lst)
    lst.set_defaults(func=run_list)


def _blocks(name: str | None) -> list[Any]:
    if name is None:
        return list(BLOCKS)
    for block in BLOCKS:
        if block.name.lower() == name.lower():
            return [block]
    raise InvalidArgument(f"unknown block {name!r}; blocks: {', '.join(b.name for b in BLOCKS)}")


def _fields_text(dec: Any) -> str:
    parts = [f"{f.name}={f.meaning if f.meaning else hex(f.value)}" for f in dec.fields.values()]
    parts += [f"{k}={v:#x}" for k, v in dec.unknown.items()]
    return ", ".join(parts)


def run_dump(args: argparse.Namespace) -> int:
    blocks = _blocks(args.block)
    rows: list[dict[str, Any]] = []
    with open_backend(args) as platform:
        access = RegisterAccess(platform.mmio)
        for block in blocks:
            for reg in block.registers:
                if reg.csf:  # pre-CSF-only registers are not implemented on the G610
                    rows.append(_dump_row(access, block.name, reg))
    emit(args, {"backend": platform.name, "registers": rows}, lambda c: _render_dump(c, rows))
    return 0


def _dump_row(access: RegisterAccess, block: str, reg: Register) -> dict[str, Any]:
    row: dict[str, Any] = {"block": block, "name": reg.name, "offset": reg.offset,
                           "access": reg.access.name}
    if not reg.access.readable:
        row.update(value=None, fields="write-only")
        return row
    value = access.read(reg)
    dec = reg.decode(value)
    row.update(value=value, fields=_fields_text(dec),
               decoded={f.name: f.value for f in dec.fields.values()}, unknown=dec.unknown)
    return row


def _render_dump(c: Console, rows: list[dict[str, Any]]) -> None:
    c.print(table("registers", ["block", "offset", "name", "access", "value", "fields"],
                  [(r["block"], f"{r['offset']:#07x}", r["name"], r["access"],
                    "-" if r["value"] is None else f"{r['value']:#010x}", r["fields"]) for r in rows]))


def run_decode(args: argparse.Namespace) -> int:
    reg = lookup(_name_or_offset(args.register))
    dec = decode(reg, args.value)
    data = {"name": reg.name, "offset": reg.offset, "value": args.value,
            "fields": {f.name: {"value": f.value, "meaning": f.meaning} for f in dec.fields.values()},
            "unknown": dec.unknown}
    rows = [(f.name, hex(f.value), f.meaning or "") for f in dec.fields.values()]
    rows += [(k, hex(v), "unknown bits") for k, v in dec.unknown.items()]
    title = f"{reg.name} = {args.value:#010x}"
    emit(args, data, lambda c: c.print(table(title, ["field", "value", "meaning"], rows)))
    return 0


def run_list(args: argparse.Namespace) -> int:
    rows = [{"block": b.name, "name": r.name, "offset": r.offset, "access": r.access.name,
             "fields": [f.name for f in r.fields], "doc": r.doc}
            for b in _blocks(args.block) for r in b.registers]
    cells = [(r["block"], f"{r['offset']:#07x}", r["name"], r["access"], ", ".join(r["fields"]))
             for r in rows]
    emit(args, rows, lambda c: c.print(table("register database",
                                             ["block", "offset", "name", "access", "fields"], cells)))
    return 0


def _name_or_offset(text: str) -> str | int:
    try:
        return int(text, 0)
    except ValueError:
        return text
