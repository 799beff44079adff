#!/usr/bin/env python3
"""Page-table update cost: NumPy core vs a per-entry Python walk (same as `mali-uio bench pagetable`).

Usage: python benchmarks/pagetable.py [--json] [--size BYTES] [--repeat N] [--check]

``--check`` exits 1 when a case with a goal misses it (goals are asserted here, never in timed tests).
"""

from __future__ import annotations

import argparse
import sys

from uio_driver import bench
from uio_driver.bench import pagetable
from uio_driver.cli.common import print_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=pagetable.DESCRIPTION)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--check", action="store_true", help="exit 1 if a goal is missed")
    pagetable.add_arguments(parser)
    args = parser.parse_args(argv)
    cases = pagetable.run(args)
    if args.json:
        print_json(bench.to_json(pagetable.NAME, cases))
    else:
        for c in cases:
            met = {True: "met", False: "MISSED", None: "-"}[c.extra.get("goal_met")]
            print(f"{c.case:12s} ours {bench.format_time(c.ours):>9s}  {c.baseline_name}: "
                  f"{bench.format_time(c.baseline):>9s}  speedup {c.speedup or 0:7.1f}x  "
                  f"[{c.extra['state']}]  goal {c.goal or '-'} ({met})")
    missed = [c.case for c in cases if c.extra.get("goal_met") is False]
    if args.check and missed:
        print(f"goal missed: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
