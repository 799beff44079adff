"""`mali-uio bench NAME [--json]`: run a benchmark and print ours beside the baseline."""

from __future__ import annotations

import argparse

from ... import bench
from ..common import add_json_option, console, print_json, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run a benchmark (ours vs a baseline measured in the same run)")
    bsub = p.add_subparsers(dest="bench_name", metavar="NAME")
    bsub.required = True
    for name, module in sorted(bench.available().items()):
        bp = bsub.add_parser(name, help=getattr(module, "DESCRIPTION", ""))
        add_json_option(bp)
        if hasattr(module, "add_arguments"):
            module.add_arguments(bp)
        bp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    module = bench.get(args.bench_name)
    cases = module.run(args)
    if args.json:
        print_json(bench.to_json(args.bench_name, cases))
        return 0
    rows = []
    for c in cases:
        speed = "-" if c.speedup is None else f"{c.speedup:.1f}x"
        rows.append((c.case, bench.format_time(c.ours), bench.format_time(c.baseline),
                     c.baseline_name or "-", speed, c.goal or ""))
    console().print(table(f"bench {args.bench_name}", ["case", "ours", "baseline", "baseline name",
                                                       "speedup", "goal"], rows))
    return 0
