"""`mali-uio trace show|replay|diff`: read, replay and compare MMIO traces.

Traces are recorded by any command that opens a backend with ``--trace FILE``
(``mali-uio bringup --backend sim --trace t.bin``); docs/trace-format.md describes the file.

* ``trace show FILE [--json] [--limit N] [--writes-only]`` prints one line per access with block,
  register and decoded field names from the register database.
* ``trace replay FILE [--backend sim] [--strict/--no-strict] [--json]`` replays it on a fresh
  simulator; exit 1 when a read or an error differs.
* ``trace diff A B [--json]`` aligns two traces (polls collapsed); exit 1 when they diverge.
"""

from __future__ import annotations

import argparse
import errno as _errno
import time
from typing import Any

from ...trace.diff import DEFAULT_MAX_DIVERGENCES, DiffReport, diff_traces
from ...trace.format import TraceHeader
from ...trace.names import fields_dict, fields_text, name_access, regdb_fingerprint
from ...trace.reader import Access, TraceReader, read_trace
from ...trace.replay import DEFAULT_MAX_MISMATCHES, ReplayReport, replay
from ..common import add_json_option, add_trace_option, open_backend, parse_int, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("trace", help="MMIO traces: show, replay against the simulator, diff two runs")
    tsub = p.add_subparsers(dest="trace_command", metavar="ACTION")
    tsub.required = True

    show = tsub.add_parser("show", help="decode a trace: one line per access with register and field names")
    show.add_argument("file", metavar="FILE")
    show.add_argument("--limit", type=_count, default=None, metavar="N", help="show at most N accesses")
    show.add_argument("--writes-only", action="store_true", help="show writes only")
    _truncated_option(show)
    add_json_option(show)
    show.set_defaults(func=run_show)

    rep = tsub.add_parser("replay", help="replay a trace on a fresh simulator and report reads that differ")
    rep.add_argument("file", metavar="FILE")
    rep.add_argument("--backend", choices=("sim",), default="sim",
                     help="backend to replay on (only the simulator has the virtual time a replay needs)")
    rep.add_argument("--strict", action=argparse.BooleanOptionalAction, default=True,
                     help="simulator strict mode: protocol violations fail the access (default: on)")
    rep.add_argument("--max-mismatches", type=_count, default=DEFAULT_MAX_MISMATCHES, metavar="N",
                     help=f"mismatches listed (all are counted; default {DEFAULT_MAX_MISMATCHES})")
    _truncated_option(rep)
    add_json_option(rep)
    add_trace_option(rep)
    rep.set_defaults(func=run_replay)

    dif = tsub.add_parser("diff", help="compare two traces access by access (polling loops collapsed)")
    dif.add_argument("a", metavar="A")
    dif.add_argument("b", metavar="B")
    dif.add_argument("--max-divergences", type=_count, default=DEFAULT_MAX_DIVERGENCES, metavar="N",
                     help=f"divergences listed (all are counted; default {DEFAULT_MAX_DIVERGENCES})")
    _truncated_option(dif)
    add_json_option(dif)
    dif.set_defaults(func=run_diff)


def _truncated_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-truncated", action="store_true",
                        help="read the whole records before a partial record at the end of the file")


def _count(text: str) -> int:
    value = parse_int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return value


def _us(ns: int) -> str:
    return f"{ns / 1000:.3f} us"


def _errname(err: int) -> str:
    return _errno.errorcode.get(err, str(err))


# -- show ---------------------------------------------------------------------------------------


def _header_lines(path: str, h: TraceHeader) -> list[str]:
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(h.start_wall_ns / 1e9))
    gpu = f"GPU_ID {h.gpu_id:#010x}" if h.gpu_id else "GPU_ID not read"
    clock = "virtual" if h.clock_virtual else "real"
    lines = [f"# trace {path}: format v{h.version}, backend {h.backend}"
             f"{' (simulated)' if h.simulated else ''}, {clock} clock, {gpu}",
             f"# recorded {started} by {h.tool or '?'}" + (f": {h.command}" if h.command else "")]
    lines += [f"# region {i} {r.name}: {r.size:#x} bytes"
              + (f" at {r.phys_base:#x}" if r.phys_base is not None else "") for i, r in enumerate(h.regions)]
    lines += [f"# note: {n}" for n in h.notes]
    if h.regdb != regdb_fingerprint():
        lines.append(f"# warning: names come from register database {regdb_fingerprint()}, the recorder had "
                     f"{h.regdb or 'none'}; offsets are exact, names may differ")
    return lines


def access_line(h: TraceHeader, a: Access) -> str:
    """``   20.000 us R GPU_CONTROL GPU_IRQ_RAWSTAT=0x00000100 RESET_COMPLETED=1``."""
    region = h.regions[a.region].name
    name = name_access(region, a.offset)
    line = f"{a.time_ns / 1000:12.3f} us {a.op} {name.block:<11} {name.register}={a.value:#010x}"
    if a.failed:
        return f"{line} FAILED {_errname(a.errno)}"
    text = fields_text(region, a.offset, a.value)
    return f"{line} {text}" if text else line


def _access_dict(h: TraceHeader, a: Access) -> dict[str, Any]:
    region = h.regions[a.region].name
    name = name_access(region, a.offset)
    return {"index": a.index, "time_ns": a.time_ns, "op": a.op, "region": region, "block": name.block,
            "register": name.register if name.known else None, "offset": a.offset, "value": a.value,
            "fields": fields_dict(region, a.offset, a.value) if not a.failed else {},
            "errno": a.errno, "error": _errname(a.errno) if a.errno else None}


def run_show(args: argparse.Namespace) -> int:
    reader = TraceReader(args.file, allow_truncated=args.allow_truncated)
    h = reader.header
    limit = args.limit
    shown: list[dict[str, Any]] = []
    count = 0
    if not args.json:
        print("\n".join(_header_lines(args.file, h)))
    for a in _selected(reader, args.writes_only):
        if limit is not None and count >= limit:
            continue  # keep reading: the whole file is validated and counted
        count += 1
        if args.json:
            shown.append(_access_dict(h, a))
        else:
            print(access_line(h, a))
    if args.json:
        print_json({"file": args.file, "header": h.to_dict(), "regdb_matches": h.regdb == regdb_fingerprint(),
                    "accesses": shown, "shown": count, "total": reader.count, "complete": reader.complete,
                    "truncated_at": reader.truncated_at, "duration_ns": reader.duration_ns})
        return 0
    print(f"# {count} of {reader.count} accesses shown, {_us(reader.duration_ns)}; " + _ending(reader))
    return 0


def _selected(reader: TraceReader, writes_only: bool) -> Any:
    for chunk in reader.chunks():
        for a in chunk:
            if not writes_only or a.op == "W":
                yield a


def _ending(reader: TraceReader) -> str:
    if reader.truncated_at is not None:
        return f"truncated at byte {reader.truncated_at:#x} (partial record dropped)"
    if reader.complete:
        return "complete"
    return "incomplete: no END record (the recording process did not finish)"


# -- replay -------------------------------------------------------------------------------------


def run_replay(args: argparse.Namespace) -> int:
    source = read_trace(args.file, allow_truncated=args.allow_truncated)
    with open_backend(args, strict=args.strict) as platform:
        report = replay(source, platform, max_mismatches=args.max_mismatches)
    if args.json:
        print_json(report.to_dict())
    else:
        _print_replay(report)
    return 0 if report.ok else 1


def _print_replay(r: ReplayReport) -> None:
    print(f"replay of {r.path} on {r.backend}: {r.accesses} accesses ({r.reads} reads, {r.writes} writes), "
          f"recorded {_us(r.duration_ns)}, replayed in {_us(r.replay_duration_ns)} virtual"
          + ("" if r.trace_complete else " [trace incomplete: no END record]"))
    for m in r.mismatches:
        print(f"  mismatch {m}")
    if r.ok:
        print("OK: every read returned the recorded value and every recorded error was reproduced")
        return
    more = r.reads_differ + r.errors_differ - len(r.mismatches)
    if more > 0:
        print(f"  ... {more} more")
    print(f"FAIL: {r.reads_differ} read(s) differ, {r.errors_differ} error outcome(s) differ")


# -- diff ---------------------------------------------------------------------------------------


def run_diff(args: argparse.Namespace) -> int:
    a = read_trace(args.a, allow_truncated=args.allow_truncated)
    b = read_trace(args.b, allow_truncated=args.allow_truncated)
    report = diff_traces(a, b, max_divergences=args.max_divergences)
    if args.json:
        print_json(report.to_dict())
    else:
        _print_diff(report)
    return 0 if report.equivalent else 1


def _print_diff(r: DiffReport) -> None:
    print(f"A: {r.a} ({r.a_accesses} accesses, {_us(r.a_duration_ns)})")
    print(f"B: {r.b} ({r.b_accesses} accesses, {_us(r.b_duration_ns)})")
    for p in r.poll_differences:
        print(f"  poll {'+'.join(p.registers)} at A#{p.a_index}/B#{p.b_index}: "
              f"{p.a_iterations} vs {p.b_iterations} iteration(s)")
    for d in r.divergences:
        print(f"  divergence {d}")
    hidden = _divergence_total(r) - len(r.divergences)
    if hidden > 0:
        print(f"  ... {hidden} more divergence(s) not listed (--max-divergences)")
    summary = (f"writes differ {r.writes_differ}, reads differ {r.reads_differ}, "
               f"errors differ {r.errors_differ}, only in A {r.only_in_a}, only in B {r.only_in_b}; "
               f"{r.polls} poll(s), "
               f"{r.poll_counts_differ} with different iteration counts")
    if r.identical:
        print(f"IDENTICAL: same accesses, values and errors in the same order ({summary})")
    elif r.equivalent:
        print(f"EQUIVALENT after collapsing polls: {summary}")
    else:
        print(f"first divergence: {r.first}")
        print(f"DIFFERENT: {summary}")


def _divergence_total(r: DiffReport) -> int:
    runs = sum(1 for d in r.divergences if d.kind.startswith("only"))
    return r.writes_differ + r.reads_differ + r.errors_differ + runs
