#!/usr/bin/env python3
"""Per-access MMIO cost: our MappedMmioRegion vs python-periphery (same as `mali-uio bench mmio`).

Usage: python benchmarks/mmio.py [--json] [--accesses N] [--window 64k|2m] [--check]

``--check`` exits 1 when a case misses its goal (goals are asserted here, never in timed tests).
"""

from __future__ import annotations

import sys

from uio_driver.bench import mmio, script


def main(argv: list[str] | None = None) -> int:
    return script.main(mmio, argv)


if __name__ == "__main__":
    sys.exit(main())
