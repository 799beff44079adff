#!/usr/bin/env python3
"""Host time from platform open to CSF firmware ready on the simulator (same as `mali-uio bench boot`).

Usage: python benchmarks/boot.py [--json] [--repeat N] [--firmware PATH] [--check]

Cases: the synthetic image, and the Arm G610 blob when found ($MALI_UIO_SHARED_FIRMWARE or
<repo>/../shared/firmware). "ours" is the best warm run, the baseline the cold first run in the same
process. ``--check`` exits 1 when a case misses the 0.5 s goal (goals are asserted here, never in tests).
"""

from __future__ import annotations

import sys

from uio_driver.bench import boot, script


def main(argv: list[str] | None = None) -> int:
    return script.main(boot, argv)


if __name__ == "__main__":
    sys.exit(main())
