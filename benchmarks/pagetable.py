#!/usr/bin/env python3
"""Page-table update cost: NumPy core vs a per-entry Python walk (same as `mali-uio bench pagetable`).

Usage: python benchmarks/pagetable.py [--json] [--size BYTES] [--repeat N] [--check]

``--check`` exits 1 when a case with a goal misses it (goals are asserted here, never in timed tests).
"""

from __future__ import annotations

import sys

from uio_driver.bench import pagetable, script


def main(argv: list[str] | None = None) -> int:
    return script.main(pagetable, argv)


if __name__ == "__main__":
    sys.exit(main())
