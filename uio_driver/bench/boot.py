"""``bench boot``: host time from opening the simulated platform to firmware-ready.

One run = open the ``sim`` backend, bring-up up to the MMU stage (identify, reset, interrupts, L2,
flush, MMU), then locate + parse the firmware, load it into the MCU VM, boot the MCU, discover the
interface and send the global initialisation, waiting for its acknowledgement
(:meth:`~uio_driver.firmware.device.CsfFirmware.start`). The clock stops when the firmware is ready;
closing the platform is not timed.

Cases: the project's synthetic image, and the Arm G610 blob (``arch10.8/mali_csffw.bin``) when it
can be found (``--firmware PATH``, ``$MALI_UIO_SHARED_FIRMWARE``, or ``<repo>/../shared/firmware``).
"ours" is the best warm run; the **baseline** is the cold first run of the same case in the same
process (module caches, NumPy and allocator warm-up not yet paid). Goal: ready within 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from ..bringup import Bringup
from ..errors import InvalidArgument
from ..firmware.device import CsfFirmware
from ..platform import open_platform
from . import BenchCase

NAME = "boot"
DESCRIPTION = ("host time from platform open to CSF firmware ready on the simulator (synthetic and Arm G610 "
               "images)")

GOAL_S = 0.5
GOAL = f"firmware ready <= {GOAL_S:g} s after platform open"
DEFAULT_REPEAT = 5
SHARED_FIRMWARE_ENV = "MALI_UIO_SHARED_FIRMWARE"
G610_RELPATH = Path("arm") / "mali" / "arch10.8" / "mali_csffw.bin"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT,
                        help=f"warm runs per case, best reported (default {DEFAULT_REPEAT})")
    parser.add_argument("--firmware", metavar="PATH", default=None,
                        help="Arm firmware file for the second case (default: the G610 blob from "
                             f"${SHARED_FIRMWARE_ENV} or <repo>/../shared/firmware, if present)")


def g610_blob(explicit: str | None = None) -> Path | None:
    """The Arm G610 blob to time, or None when it cannot be found."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(SHARED_FIRMWARE_ENV)
    root = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "firmware"
    path = root / G610_RELPATH
    return path if path.is_file() else None


def boot_once(firmware: Path | None) -> tuple[float, dict[str, Any]]:
    """One timed run; returns (host seconds to ready, details)."""
    t0 = time.perf_counter()
    platform = open_platform("sim")
    try:
        opened = time.perf_counter()
        bringup = Bringup(platform)
        bringup.run(until="mmu")
        up = time.perf_counter()
        # The synthetic case must not pick up a firmware tree from the environment or /lib/firmware.
        search: dict[str, Any] = {} if firmware else {"env": {}, "firmware_root": os.devnull}
        fw = CsfFirmware.locate(bringup.gpu, bringup.objects["mmu"], firmware, **search)
        located = time.perf_counter()
        info = fw.start()
        ready = time.perf_counter()
        if not fw.ready:
            raise InvalidArgument("bench boot: the firmware did not reach the ready state")
        details = {"open_s": opened - t0, "bringup_to_mmu_s": up - opened, "locate_parse_s": located - up,
                   **{f"{k}_s": v.host_s for k, v in fw.timings.items()},
                   "device_s": platform.clock.now(), "interface": info.version.text}
        return ready - t0, details
    finally:
        platform.close()


def _case(name: str, firmware: Path | None, repeat: int) -> BenchCase:
    cold, _ = boot_once(firmware)
    best, details = min((boot_once(firmware) for _ in range(repeat)), key=lambda r: r[0])
    return BenchCase(name, best, cold, "cold first run (same process)", GOAL,
                     {"goal_met": best <= GOAL_S, "cold_goal_met": cold <= GOAL_S, "breakdown": details,
                      "firmware": str(firmware) if firmware else "synthetic"})


def run(args: argparse.Namespace) -> list[BenchCase]:
    """Time the synthetic image and, when found, the Arm G610 blob.

    Raises:
        InvalidArgument: ``--repeat`` is not positive.
        FirmwareNotFound: an explicit ``--firmware`` is missing.
    """
    repeat = getattr(args, "repeat", DEFAULT_REPEAT)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat <= 0:
        raise InvalidArgument(f"bench boot: --repeat must be a positive integer, got {repeat!r}")
    cases = [_case("synthetic", None, repeat)]
    explicit = getattr(args, "firmware", None)
    blob = g610_blob(explicit)
    if blob is not None:
        cases.append(_case(blob.name if explicit else "arm-g610", blob, repeat))
    return cases
