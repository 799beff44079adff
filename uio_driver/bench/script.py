"""The shared body of the runnable scripts in ``benchmarks/`` (``python benchmarks/NAME.py``).

Same cases as ``mali-uio bench NAME``; ``--json`` prints the one JSON object of DEVELOPERS.md,
``--check`` exits 1 when a case misses its goal (goals are asserted here, never in timed tests).
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from . import format_time, to_json


def main(module: ModuleType, argv: list[str] | None = None) -> int:
    """Run benchmark ``module`` (one of :mod:`uio_driver.bench`) as a script; returns the exit code."""
    from ..cli.common import print_json

    parser = argparse.ArgumentParser(description=module.DESCRIPTION)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--check", action="store_true", help="exit 1 if a goal is missed")
    if hasattr(module, "add_arguments"):
        module.add_arguments(parser)
    args = parser.parse_args(argv)
    cases = module.run(args)
    if args.json:
        print_json(to_json(module.NAME, cases))
    else:
        for c in cases:
            met = {True: "met", False: "MISSED", None: "-"}[c.extra.get("goal_met")]
            speedup = "" if c.speedup is None else f"  speedup {c.speedup:.1f}x"
            print(f"{c.case:12s} ours {format_time(c.ours):>9s}  {c.baseline_name or 'no baseline'}: "
                  f"{format_time(c.baseline):>9s}{speedup}  goal {c.goal or '-'} ({met})")
    missed = [c.case for c in cases if c.extra.get("goal_met") is False]
    if args.check and missed:
        print(f"goal missed: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0
