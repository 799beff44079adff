"""`mali-uio run`: the main job — bring the GPU up, run one command stream, check what it wrote.

Steps: the whole bring-up (identify … glb_init, then the scheduler), a VM, a 4 KiB stream buffer and a
4 KiB result buffer mapped in it, a group with one queue, then one job whose command stream (built with
:class:`~uio_driver.csf.builder.CsBuilder`) loads a known pattern into eight registers with MOVE32,
stores them into the result buffer with STORE_MULTIPLE, waits for the store, flushes the caches with
FLUSH_CACHE2 and waits for the flush — the shape of IGT's ``panthor_group/group_submit`` test
(cs-isa-and-uapi.md §8). The kernel's per-job sequence around it (§2.3) bumps the queue's sync object.
The host then reads the result buffer and the sync object's seqno. Exit status 0 when both are right,
1 when not (or on any driver error).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from ...bench import format_time
from ...csf.builder import CsBuilder
from ...csf.device import CsfDevice
from ...csf.group import QueueSpec
from ...csf.isa import CsFlushMode, CsOtherFlushMode
from ...mmu import Prot
from ..common import add_common_options, emit, table

#: Where the job's buffers live in the VM's user range.
STREAM_VA = 0x1000000
RESULT_VA = 0x1010000
#: Registers of the stream: d64 = result address, r66..r73 = pattern, r80 = flush ID (0 = always flush).
ADDR_REG, DATA_REG, FLUSH_REG = 64, 66, 80
#: The pattern: eight distinct words, none of them zero (a buffer the GPU never wrote reads as zeros).
PATTERN = tuple(0x6A000000 | i << 16 | (0xFF - i) << 8 | 0x5A for i in range(8))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a job: bring-up, firmware, a group, a command stream storing a "
                                   "pattern, checked by the host")
    p.add_argument("--firmware", metavar="PATH", default=None,
                   help="CSF firmware file or directory (default: $MALI_UIO_FIRMWARE_DIR, /lib/firmware; the "
                        "simulator falls back to the synthetic image)")
    add_common_options(p)
    p.set_defaults(func=run)


def pattern_stream(result_va: int = RESULT_VA) -> bytes:
    """The job's command stream: MOVE48 the result address, MOVE32 the pattern, STORE_MULTIPLE, WAIT,
    FLUSH_CACHE2 (L2 and LSC clean + invalidate, other invalidate), WAIT."""
    cs = CsBuilder()
    cs.move48(ADDR_REG, result_va)
    for i, word in enumerate(PATTERN):
        cs.move32(DATA_REG + i, word)
    cs.store_multiple(ADDR_REG, DATA_REG, (1 << len(PATTERN)) - 1)
    cs.wait_all()  # the store completes on a scoreboard entry (§1.4)
    cs.move32(FLUSH_REG, 0)
    cs.flush_cache2(FLUSH_REG, l2=CsFlushMode.CLEAN_AND_INVALIDATE, lsc=CsFlushMode.CLEAN_AND_INVALIDATE,
                    other=CsOtherFlushMode.INVALIDATE, signal_slot=1)
    cs.wait_all()
    return cs.to_bytes()


@dataclass
class Step:
    """One timed step of the run."""

    name: str
    detail: str
    host_s: float
    device_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.name, "detail": self.detail, "host_s": self.host_s, "device_s": self.device_s}


@dataclass
class RunReport:
    """What ``mali-uio run`` found."""

    backend: str
    simulated: bool
    steps: list[Step] = field(default_factory=list)
    words: list[int] = field(default_factory=list)
    seqno: int = 0
    job: dict[str, Any] = field(default_factory=dict)

    @property
    def pattern_ok(self) -> bool:
        return tuple(self.words) == PATTERN

    @property
    def ok(self) -> bool:
        return self.pattern_ok and self.seqno == 1 and self.job.get("error") is None

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "simulated": self.simulated, "ok": self.ok,
                "steps": [s.to_dict() for s in self.steps],
                "pattern": {"va": RESULT_VA, "expected": [f"{w:#010x}" for w in PATTERN],
                            "read": [f"{w:#010x}" for w in self.words], "ok": self.pattern_ok},
                "sync_seqno": self.seqno, "job": self.job}


class _Timer:
    def __init__(self, dev: CsfDevice, report: RunReport) -> None:
        self.dev, self.report = dev, report

    def step(self, name: str, fn: Any) -> Any:
        clock = self.dev.platform.clock
        t0, d0 = time.perf_counter(), clock.now()
        detail, value = fn()
        self.report.steps.append(Step(name, detail, time.perf_counter() - t0, clock.now() - d0))
        return value


def run_pattern_job(dev: CsfDevice, report: RunReport) -> None:
    """Everything after bring-up: VM, buffers, group, job, check (fills ``report``)."""
    timer = _Timer(dev, report)
    vm = timer.step("vm", lambda: ("user VM (kernel VA range at the top)", dev.create_vm()))
    stream = pattern_stream()

    def buffers() -> tuple[str, Any]:
        code, result = dev.alloc(4096, name="run stream"), dev.alloc(4096, name="run result")
        code.write(0, stream)
        dev.map(vm, code, STREAM_VA, flags=Prot.NOEXEC)
        dev.map(vm, result, RESULT_VA, flags=Prot.NOEXEC)
        return f"stream at {STREAM_VA:#x} ({len(stream)} bytes), result at {RESULT_VA:#x}", result

    result = timer.step("buffers", buffers)
    spec = QueueSpec(priority=0, ringbuf_size=16 << 10)
    group = timer.step("group", lambda: ("1 queue, 16 KiB ring, priority MEDIUM",
                                         dev.create_group(vm, [spec])))
    job = timer.step("submit", lambda: ("panthor job sequence + doorbell",
                                        dev.submit(group, 0, STREAM_VA, len(stream))))

    def complete() -> tuple[str, None]:
        dev.wait(job)
        job.result()
        return f"job {job.seqno} completed (CSG slot {group.csg_slot})", None

    timer.step("complete", complete)

    def check() -> tuple[str, None]:
        report.words = [int(w) for w in result.u32[:len(PATTERN)]]
        report.seqno = group.queues[0].seqno
        ok = "pattern OK" if report.pattern_ok else "pattern MISMATCH"
        return f"{ok}, sync object seqno {report.seqno}", None

    timer.step("check", check)
    report.job = job.to_dict()


def run(args: argparse.Namespace) -> int:
    from ..common import open_backend

    platform = open_backend(args)
    report = RunReport(platform.name, platform.simulated)
    with CsfDevice(platform, firmware=args.firmware, own_platform=True) as dev:
        t0, d0 = time.perf_counter(), platform.clock.now()
        results = dev.start()
        detail = f"{len(results)} stages: {results[0].detail}; {results[-1].detail}"
        report.steps.append(Step("bringup", detail, time.perf_counter() - t0, platform.clock.now() - d0))
        run_pattern_job(dev, report)
    emit(args, report.to_dict(), lambda c: _render(c, report))
    return 0 if report.ok else 1


def _render(c: Console, report: RunReport) -> None:
    rows = [(s.name, s.detail, format_time(s.host_s), format_time(s.device_s)) for s in report.steps]
    where = "simulated GPU" if report.simulated else "GPU"
    columns = ["step", "result", "host time", "device time"]
    c.print(table(f"mali-uio run on {report.backend} ({where})", columns, rows))
    read = " ".join(f"{w:08x}" for w in report.words)
    c.print(f"result buffer at {RESULT_VA:#x}: {read}")
    if report.ok:
        c.print(f"[bold green]OK[/bold green]: the GPU stored the {len(PATTERN)}-word pattern and signalled "
                f"sync object seqno {report.seqno}")
    else:
        want = " ".join(f"{w:08x}" for w in PATTERN)
        c.print(f"[bold red]FAILED[/bold red]: expected {want}, sync seqno 1; got seqno {report.seqno}")
