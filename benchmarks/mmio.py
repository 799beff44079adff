#!/usr/bin/env python3
"""Per-access MMIO cost: our MappedMmioRegion vs python-periphery (same as `mali-uio bench mmio`).

Usage: python benchmarks/mmio.py [--json] [--accesses N] [--window 64k|2m] [--check]

``--check`` exits 1 when a case misses its goal (goals are asserted here, never in timed tests).
"""

from __future__ import annotations

import argparse
import sys

from uio_driver import bench
from uio_driver.bench import mmio
from uio_driver.cli.common import print_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=mmio.DESCRIPTION)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--check", action="store_true", help="exit 1 if a goal is missed")
    mmio.add_arguments(parser)
    args = parser.parse_args(argv)
    cases = mmio.run(args)
    if args.json:
        print_json(bench.to_json(mmio.NAME, cases))
    else:
        for c in cases:
            met = "met" if c.extra.get("goal_met") else "MISSED"
            print(f"{c.case:8s} ours {bench.format_time(c.ours):>9s}  {c.baseline_name}: "
                  f"{bench.format_time(c.baseline):>9s}  speedup {c.speedup or 0:.1f}x  "
                  f"goal {c.goal} ({met})")
    missed = [c.case for c in cases if not c.extra.get("goal_met")]
    if args.check and missed:
        print(f"goal missed: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
