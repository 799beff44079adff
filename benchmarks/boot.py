#!/usr/bin/env python3
"""Host time from platform open to CSF firmware ready on the simulator (same as `mali-uio bench boot`).

Usage: python benchmarks/boot.py [--json] [--repeat N] [--firmware PATH] [--check]

Cases: the synthetic image, and the Arm G610 blob when found ($MALI_UIO_SHARED_FIRMWARE or
<repo>/../shared/firmware). "ours" is the best warm run, the baseline the cold first run in the same
process. ``--check`` exits 1 when a case misses the 0.5 s goal (goals are asserted here, never in tests).
"""

from __future__ import annotations

import argparse
import sys

from uio_driver import bench
from uio_driver.bench import boot
from uio_driver.cli.common import print_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=boot.DESCRIPTION)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--check", action="store_true", help="exit 1 if a goal is missed")
    boot.add_arguments(parser)
    args = parser.parse_args(argv)
    cases = boot.run(args)
    if args.json:
        print_json(bench.to_json(boot.NAME, cases))
    else:
        for c in cases:
            met = "met" if c.extra.get("goal_met") else "MISSED"
            print(f"{c.case:10s} warm {bench.format_time(c.ours):>9s}  {c.baseline_name}: "
                  f"{bench.format_time(c.baseline):>9s}  goal {c.goal} ({met})")
    missed = [c.case for c in cases if c.extra.get("goal_met") is False]
    if args.check and missed:
        print(f"goal missed: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
