"""`mali-uio cs ...`: command-stream tools that need no GPU.

* ``cs disasm FILE|- [--base ADDR] [--json]`` disassembles raw little-endian 64-bit words.
* ``cs jobseq --stream-addr A --stream-size N --sync-addr S [...]`` prints the per-job ring
  sequence panthor would emit (cs-isa-and-uapi.md §2.3).
* ``cs opcodes [--json]`` lists the arch-v10 instruction table.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ...csf.disasm import DisasmLine, disassemble, disassemble_bytes, format_listing
from ...csf.isa import G610_CS_REG_COUNT, G610_SB_SLOT_COUNT, INSTRUCTIONS
from ...csf.jobseq import JobProfiling, panthor_job_instructions
from ...errors import InvalidArgument, MaliError
from ..common import add_json_option, console, parse_int, print_json, table

_PROFILING = {"none": JobProfiling.DISABLED, "cycles": JobProfiling.CYCLES,
              "timestamp": JobProfiling.TIMESTAMP, "all": JobProfiling.ALL}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cs", help="command-stream tools: disassembler, panthor job sequence, opcode table")
    csub = p.add_subparsers(dest="cs_command", metavar="ACTION")
    csub.required = True

    d = csub.add_parser("disasm", help="disassemble raw little-endian 64-bit CS instruction words")
    d.add_argument("file", metavar="FILE|-", help="binary file of instructions, or - for stdin")
    d.add_argument("--base", type=parse_int, default=0, help="GPU VA of the first instruction (default 0)")
    add_json_option(d)
    d.set_defaults(func=run_disasm)

    j = csub.add_parser("jobseq", help="show the ring instructions panthor emits for one job")
    j.add_argument("--stream-addr", type=parse_int, required=True, help="GPU VA of the user stream")
    j.add_argument("--stream-size", type=parse_int, required=True, help="user stream size in bytes")
    j.add_argument("--sync-addr", type=parse_int, required=True, help="GPU VA of the queue's 64-bit syncobj")
    j.add_argument("--latest-flush", type=parse_int, default=0, help="LATEST_FLUSH_ID sample (default 0)")
    j.add_argument("--reg-count", type=parse_int, default=G610_CS_REG_COUNT, help="CS register count")
    j.add_argument("--sb-count", type=parse_int, default=G610_SB_SLOT_COUNT, help="scoreboard entries")
    j.add_argument("--profiling", choices=sorted(_PROFILING), default="none", help="job profiling samples")
    j.add_argument("--profiling-slot-addr", type=parse_int, default=0, help="GPU VA of the profiling slot")
    j.add_argument("--base", type=parse_int, default=0, help="ring address of the first instruction")
    add_json_option(j)
    j.set_defaults(func=run_jobseq)

    o = csub.add_parser("opcodes", help="list the arch-v10 CS instructions and their fields")
    add_json_option(o)
    o.set_defaults(func=run_opcodes)


def _read_input(path: str) -> bytes:
    if path == "-":
        stream: Any = getattr(sys.stdin, "buffer", sys.stdin)
        data = stream.read()
        if isinstance(data, str):  # a text-mode stdin without .buffer (only under test harnesses)
            raise InvalidArgument("stdin is in text mode; pipe binary data")
        return bytes(data)
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as err:
        raise MaliError(f"cannot read {path}: {err.strerror}", errno=err.errno) from None


def _print_lines(args: argparse.Namespace, lines: list[DisasmLine], extra: dict[str, Any]) -> None:
    if args.json:
        print_json({**extra, "count": len(lines), "instructions": [ln.to_dict() for ln in lines]})
    else:
        # Plain text, not rich: operands such as [d92] would be taken for rich markup.
        sys.stdout.write(format_listing(lines))


def run_disasm(args: argparse.Namespace) -> int:
    data = _read_input(args.file)
    if len(data) % 8:
        name = "<stdin>" if args.file == "-" else args.file
        raise InvalidArgument(
            f"{name}: {len(data)} bytes is not a multiple of 8 (raw 64-bit CS instructions)", value=len(data)
        )
    lines = disassemble_bytes(data, base=args.base)
    _print_lines(args, lines, {"source": args.file, "base": args.base,
                               "flagged": sum(1 for ln in lines if ln.flagged)})
    return 0


def run_jobseq(args: argparse.Namespace) -> int:
    words = panthor_job_instructions(
        args.stream_addr, args.stream_size, args.sync_addr, args.latest_flush,
        cs_reg_count=args.reg_count, sb_slot_count=args.sb_count, profiling=_PROFILING[args.profiling],
        profiling_slot_addr=args.profiling_slot_addr,
    )
    _print_lines(args, disassemble(words, base=args.base), {"base": args.base, "bytes": 8 * len(words)})
    return 0


def run_opcodes(args: argparse.Namespace) -> int:
    rows = [(f"{d.opcode:#04x}", d.mnemonic, ", ".join(d.aliases),
             ", ".join(f"{f.name} {f.hi}:{f.lo} ({f.kind.value})" for f in d.fields),
             "yes" if d.asynchronous else "") for d in INSTRUCTIONS]
    if args.json:
        print_json([{"opcode": d.opcode, "mnemonic": d.mnemonic, "aliases": list(d.aliases),
                     "asynchronous": d.asynchronous,
                     "fields": [{"name": f.name, "hi": f.hi, "lo": f.lo, "kind": f.kind.value}
                                for f in d.fields]}
                    for d in INSTRUCTIONS])
    else:
        columns = ["opcode", "mnemonic", "aliases", "fields", "async"]
        console().print(table("CS instructions (arch v10)", columns, rows))
    return 0
