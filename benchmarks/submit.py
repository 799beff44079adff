#!/usr/bin/env python3
"""Job submission on the simulator: empty-job round trip and batched throughput (`mali-uio bench submit`).

Usage: python benchmarks/submit.py [--json] [--jobs N] [--batch B] [--repeat R] [--profile] [--check]

Cases: ``round_trip`` (submit one job, wait for its completion; baseline: the reference job builder per
job), ``batched`` (B jobs per submission, wait for the last; baseline: one doorbell and a full wait per
job) and ``submit_host`` (appending a job to the ring). ``--check`` exits 1 when a goal is missed
(<= 200 µs round trip, <= 100 µs per job batched); goals are asserted here, never in tests.
"""

from __future__ import annotations

import argparse
import sys

from uio_driver import bench
from uio_driver.bench import submit
from uio_driver.cli.common import print_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=submit.DESCRIPTION)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--check", action="store_true", help="exit 1 if a goal is missed")
    submit.add_arguments(parser)
    args = parser.parse_args(argv)
    cases = submit.run(args)
    if args.json:
        print_json(bench.to_json(submit.NAME, cases))
    else:
        for c in cases:
            met = {True: "met", False: "MISSED", None: "-"}[c.extra.get("goal_met")]
            cpu = bench.format_time(c.extra.get("cpu_s"))
            print(f"{c.case:12s} {bench.format_time(c.ours):>9s} (cpu {cpu:>9s})  {c.baseline_name}: "
                  f"{bench.format_time(c.baseline):>9s}  goal {c.goal or '-'} ({met})")
            if "profile" in c.extra:
                p = c.extra["profile"]
                print(f"{'':12s} profile: simulator {p['simulator_share']:.0%}, "
                      f"driver {p['driver_share']:.0%}, other {p['other_share']:.0%}")
    missed = [c.case for c in cases if c.extra.get("goal_met") is False]
    if args.check and missed:
        print(f"goal missed: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
