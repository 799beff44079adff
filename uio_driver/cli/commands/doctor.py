"""`mali-uio doctor [--json] [--root DIR] [--firmware PATH]`: is this machine ready to drive the GPU?

Runs :mod:`uio_driver.doctor` and prints one row per check (ok / warn / fail / skip) with the fix.
Exit status 0 when nothing failed, 1 otherwise (also on a machine without an RK3588 board).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ...doctor import DoctorReport, run_doctor
from ..common import add_common_options, console, print_json

_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check every requirement for driving the GPU, with fixes")
    p.add_argument("--root", type=Path, default=Path("/"),
                   help="root of the system to check (default /; a mounted board image works too)")
    p.add_argument("--firmware", metavar="PATH",
                   help="CSF firmware file or directory to check instead of the search path")
    add_common_options(p, backend=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = run_doctor(args.root, firmware=args.firmware)
    if args.json:
        print_json(report.to_dict())
    else:
        render(console(), report)
    return report.exit_code


def render(c: Console, report: DoctorReport) -> None:
    """Print the table of checks, then one summary line."""
    t = Table(title=f"mali-uio doctor ({report.root})", header_style="bold")
    for col in ("status", "check", "result", "fix"):
        t.add_column(col, overflow="fold")
    for r in report.checks:
        # Text, not markup: results quote paths and DT strings that may contain brackets.
        t.add_row(Text(r.status, style=_STYLE[r.status]), Text(r.name), Text(r.summary), Text(r.fix))
    c.print(t)
    counts = report.to_dict()["counts"]
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    if report.ok:
        c.print(f"[green]ready[/green]: {summary}")
    else:
        failed = ", ".join(r.name for r in report.checks if r.status == "fail")
        c.print(f"[bold red]not ready[/bold red]: {summary} (failed: {failed})")
