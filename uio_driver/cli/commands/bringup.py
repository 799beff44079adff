"""`mali-uio bringup [--until STAGE]`: staged bring-up with progress and per-step timings."""

from __future__ import annotations

import argparse
import time

from ...bringup import STAGES, Bringup, Stage, StageResult
from ...bench import format_time
from ..common import add_common_options, console, print_json, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bringup", help="bring the GPU up stage by stage (probe, reset, L2, flush, ...)")
    p.add_argument("--until", choices=[s.name for s in STAGES], help="stop after this stage")
    add_common_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..common import open_backend

    t0 = time.perf_counter()
    with open_backend(args) as platform:
        bringup = Bringup(platform)
        if args.json:
            results = bringup.run(until=args.until)
            print_json({"backend": platform.name, "simulated": platform.simulated,
                        "stages": [r.to_dict() for r in results], "total_host_s": time.perf_counter() - t0})
            return 0
        c = console()

        def started(stage: Stage) -> None:
            c.print(f"[bold]▶ {stage.name}[/bold]: {stage.description} …")

        def finished(result: StageResult) -> None:
            c.print(f"  [green]✔[/green] {result.detail} "
                    f"[dim](host {format_time(result.host_seconds)}, device {format_time(result.device_seconds)})[/dim]")

        results = bringup.run(until=args.until, on_result=finished, on_start=started)
        c.print(table(f"bring-up on {platform.name}", ["stage", "result", "host time", "device time"],
                      [(r.name, r.detail, format_time(r.host_seconds), format_time(r.device_seconds))
                       for r in results]))
        c.print(f"[bold green]bring-up complete[/bold green] in {format_time(time.perf_counter() - t0)}")
    return 0
