#!/usr/bin/env python3
"""Job submission on the simulator: empty-job round trip and batched throughput (`mali-uio bench submit`).

Usage: python benchmarks/submit.py [--json] [--jobs N] [--batch B] [--repeat R] [--profile] [--check]

Cases: ``round_trip`` (submit one job, wait for its completion; baseline: the reference job builder per
job), ``batched`` (B jobs per submission, wait for the last; baseline: one doorbell and a full wait per
job) and ``submit_host`` (appending a job to the ring). ``--check`` exits 1 when a goal is missed
(<= 200 µs round trip, <= 100 µs per job batched); goals are asserted here, never in tests.
"""

from __future__ import annotations

import sys

from uio_driver.bench import script, submit


def main(argv: list[str] | None = None) -> int:
    return script.main(submit, argv)


if __name__ == "__main__":
    sys.exit(main())
