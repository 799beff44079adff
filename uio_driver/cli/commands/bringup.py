"""`mali-uio bringup [--until STAGE]`: staged bring-up with progress and per-step timings."""

from __future__ import annotations

import argparse
import time

from ...bench import format_time
from ...bringup import STAGES, Bringup, Stage, StageResult
from ..common import add_common_options, console, print_json, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bringup", help="bring the GPU up stage by stage (probe, reset, L2, flush, ...)")
    p.add_argument("--until", choices=[s.name for s in STAGES], help="stop after this stage")
    p.add_argument("--firmware", metavar="PATH", default=None,
                   help="CSF firmware file or directory for the firmware stage (default: "
                        "$MALI_UIO_FIRMWARE_DIR, /lib/firmware; the simulator falls back to the "
                        "synthetic image)")
    add_common_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..common import open_backend

    t0 = time.perf_counter()
    with open_backend(args) as platform:
        bringup = Bringup(platform, firmware_path=args.firmware)
        if args.json:
            results = bringup.run(until=args.until)
            print_json({"backend": platform.name, "simulated": platform.simulated,
                        "stages": [r.to_dict() for r in results], "total_host_s": time.perf_counter() - t0})
            return 0
        c = console()

        def started(stage: Stage) -> None:
            c.print(f"[bold]▶ {stage.name}[/bold]: {stage.description} …")

        def finished(result: StageResult) -> None:
            host, device = format_time(result.host_seconds), format_time(result.device_seconds)
            c.print(f"  [green]✔[/green] {result.detail} [dim](host {host}, device {device})[/dim]")

        results = bringup.run(until=args.until, on_result=finished, on_start=started)
        c.print(table(f"bring-up on {platform.name}", ["stage", "result", "host time", "device time"],
                      [(r.name, r.detail, format_time(r.host_seconds), format_time(r.device_seconds))
                       for r in results]))
        c.print(f"[bold green]bring-up complete[/bold green] in {format_time(time.perf_counter() - t0)}")
    return 0
