"""``bench submit``: job submission on the simulator — empty-job round trip and batched throughput.

An "empty job" is one 8-byte NOP stream wrapped in panthor's 16-instruction ring sequence (the
kernel part every job pays, cs-isa-and-uapi.md §2.3): ring write, input page update, doorbell, firmware
fetch and execution on the simulated MCU, SYNC_ADD64 on the queue's sync object, CSG SYNC_UPDATE
interrupt, completion seen by the host.

Cases (times are host seconds per job, lower is better; the simulator runs in the same process, so its
cost is part of every number):

* ``round_trip``: submit one job, wait until its completion is seen, repeat. Baseline: the same with
  the least optimised job path — the ring words rebuilt by the reference builder
  (:func:`~uio_driver.csf.jobseq.panthor_job_instructions`) for every job instead of the patched
  template. Goal: <= 200 µs.
* ``batched``: ``--batch`` jobs in one submission (one doorbell), then wait for the last. Baseline: one
  doorbell and a full wait per job (the round trip). Goal: <= 100 µs per job (>= 10,000 jobs/s).
* ``submit_host``: host time to append one job to the ring (no waiting). Baseline: reference builder.

``extra`` carries the CPU time (``process_time``, robust on a shared machine), jobs/s and, with
``--profile``, where the time goes (simulator, driver, other) from a cProfile run.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections.abc import Callable
from typing import Any

from ..csf.device import CsfDevice
from ..csf.group import Group, QueueSpec
from ..csf.queue import JobTemplate, job_template
from ..errors import InvalidArgument
from . import BenchCase

NAME = "submit"
DESCRIPTION = ("job submission on the simulator: empty-job round trip (submit -> completion seen) and "
               "batched throughput")

ROUND_TRIP_GOAL_S = 200e-6
BATCHED_GOAL_S = 100e-6
STREAM_VA = 0x1000000
RING_SIZE = 64 << 10
DEFAULTS = {"jobs": 600, "batch": 400, "repeat": 3}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, default=DEFAULTS["jobs"],
                        help=f"jobs per timed run (default {DEFAULTS['jobs']})")
    parser.add_argument("--batch", type=int, default=DEFAULTS["batch"],
                        help=f"jobs per submission in the batched case, at most 512 "
                             f"(default {DEFAULTS['batch']})")
    parser.add_argument("--repeat", type=int, default=DEFAULTS["repeat"],
                        help=f"timed runs per case, best reported (default {DEFAULTS['repeat']})")
    parser.add_argument("--profile", action="store_true",
                        help="also profile each case and report simulator / driver / other time per job")


class Rig:
    """A started simulated device with one group (one 64 KiB queue) and an 8-byte NOP stream."""

    def __init__(self) -> None:
        self.dev = CsfDevice.open("sim")
        try:
            vm = self.dev.create_vm()
            code = self.dev.alloc(4096, name="bench stream")  # zeroed: NOP instructions
            self.dev.map(vm, code, STREAM_VA)
            self.group: Group = self.dev.create_group(vm, [QueueSpec(0, RING_SIZE)])
            self.queue = self.group.queues[0]
            self.dev.wait(self.dev.submit(self.group, 0, STREAM_VA, 8, 0))  # warm: the group is resident
        except BaseException:
            self.dev.close()
            raise

    def use_template(self, template: JobTemplate) -> None:
        self.queue.template = template

    def round_trip(self, n: int) -> None:
        dev, group = self.dev, self.group
        for _ in range(n):
            dev.wait(dev.submit(group, 0, STREAM_VA, 8))  # latest_flush sampled from the USER page

    def one_doorbell_per_job(self, n: int) -> None:
        self.round_trip(n)

    def batched(self, n: int, batch: int) -> None:
        dev, group = self.dev, self.group
        done = 0
        while done < n:
            count = min(batch, n - done)
            # One LATEST_FLUSH sample per submission, as userspace does: once the first job's flush has
            # run, the others' FLUSH_CACHE2 may be skipped (flush reduction, cs-isa-and-uapi.md §1.4).
            flush = dev.latest_flush_id()
            jobs = dev.submit_many(group, [(0, STREAM_VA, 8, flush)] * count)
            dev.wait(jobs[-1])
            done += count

    def submit_only(self, n: int) -> None:
        """Append ``n`` jobs (timed by the caller), then let them complete."""
        sched, group = self.dev.scheduler, self.group
        flush = self.dev.latest_flush_id()
        for _ in range(n):
            sched.submit(group, 0, STREAM_VA, 8, flush)

    def drain(self) -> None:
        self.dev.wait(list(self.queue.in_flight))

    def close(self) -> None:
        self.dev.close()


def _timed(fn: Callable[[], object], repeat: int, per: int, after: Callable[[], object] | None = None
           ) -> tuple[float, float]:
    """Best wall and CPU seconds per item over ``repeat`` runs (``after`` runs untimed)."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, (time.perf_counter() - t0) / per)
        cpu = min(cpu, (time.process_time() - c0) / per)
        if after is not None:
            after()
    return wall, cpu


def profile_split(fn: Callable[[], object], per: int) -> dict[str, float]:
    """Seconds per item spent in the simulator, the driver and elsewhere (cProfile, own time)."""
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    split = {"simulator": 0.0, "driver": 0.0, "other": 0.0}
    for (path, _, _), (_, _, own, _, _) in pstats.Stats(prof).stats.items():  # type: ignore[attr-defined]
        key = "other" if "uio_driver" not in path else "simulator" if "/sim/" in path else "driver"
        split[key] += own
    total = sum(split.values()) or 1.0
    return {**{f"{k}_share": v / total for k, v in split.items()}, "profiled_s_per_job": total / per}


def _check(args: argparse.Namespace) -> tuple[int, int, int, bool]:
    values = []
    for name in ("jobs", "batch", "repeat"):
        value = getattr(args, name, DEFAULTS[name])
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise InvalidArgument(f"bench submit: --{name} must be a positive integer, got {value!r}")
        values.append(value)
    if values[1] > RING_SIZE // 128:
        raise InvalidArgument(f"bench submit: --batch {values[1]} does not fit the {RING_SIZE // 1024} KiB "
                              f"ring ({RING_SIZE // 128} jobs)")
    return values[0], values[1], values[2], bool(getattr(args, "profile", False))


def run(args: argparse.Namespace) -> list[BenchCase]:
    """Measure the three cases on one simulated device.

    Raises:
        InvalidArgument: a non-positive option or a batch larger than the ring.
    """
    jobs, batch, repeat, profile = _check(args)
    rig = Rig()
    try:
        fast = job_template(rig.dev.csf_info.cs_reg_count, rig.dev.csf_info.scoreboard_slot_count)
        naive = JobTemplate(fast.cs_reg_count, fast.sb_slot_count, patch=False)
        cases = [_round_trip(rig, fast, naive, jobs, repeat), _batched(rig, jobs, batch, repeat),
                 _submit_host(rig, fast, naive, batch, repeat)]
        if profile:
            rig.use_template(fast)
            cases[0].extra["profile"] = profile_split(lambda: rig.round_trip(jobs), jobs)
            cases[1].extra["profile"] = profile_split(lambda: rig.batched(jobs, batch), jobs)
        return cases
    finally:
        rig.close()


def _round_trip(rig: Rig, fast: JobTemplate, naive: JobTemplate, jobs: int, repeat: int) -> BenchCase:
    rig.use_template(naive)
    base, base_cpu = _timed(lambda: rig.round_trip(jobs), repeat, jobs)
    rig.use_template(fast)
    ours, cpu = _timed(lambda: rig.round_trip(jobs), repeat, jobs)
    return BenchCase("round_trip", ours, base, "reference job builder per job", "<= 200 µs per job",
                     {"goal_met": ours <= ROUND_TRIP_GOAL_S, "cpu_s": cpu, "baseline_cpu_s": base_cpu,
                      "goal_met_cpu": cpu <= ROUND_TRIP_GOAL_S, "jobs": jobs})


def _batched(rig: Rig, jobs: int, batch: int, repeat: int) -> BenchCase:
    base, base_cpu = _timed(lambda: rig.one_doorbell_per_job(jobs), repeat, jobs)
    ours, cpu = _timed(lambda: rig.batched(jobs, batch), repeat, jobs)
    return BenchCase("batched", ours, base, "one doorbell + full wait per job",
                     "<= 100 µs per job (>= 10,000 jobs/s)",
                     {"goal_met": ours <= BATCHED_GOAL_S, "cpu_s": cpu, "baseline_cpu_s": base_cpu,
                      "goal_met_cpu": cpu <= BATCHED_GOAL_S, "jobs_per_s": 1 / ours, "batch": batch,
                      "jobs": jobs})


def _submit_host(rig: Rig, fast: JobTemplate, naive: JobTemplate, batch: int, repeat: int) -> BenchCase:
    rig.use_template(naive)
    base, base_cpu = _timed(lambda: rig.submit_only(batch), repeat, batch, rig.drain)
    rig.use_template(fast)
    ours, cpu = _timed(lambda: rig.submit_only(batch), repeat, batch, rig.drain)
    extra: dict[str, Any] = {"cpu_s": cpu, "baseline_cpu_s": base_cpu, "jobs": batch}
    return BenchCase("submit_host", ours, base, "reference job builder per job", None, extra)
