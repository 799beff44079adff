"""Replay a recorded trace against a fresh simulator and report where reads differ.

Accesses are performed in order on the replay platform's regions: writes are written, reads are
read and compared with the recorded value, and an access that failed when recorded must fail again
with the same errno. Before each access the platform's virtual clock is advanced to the recorded
time (relative to the start), so timed behaviour (reset, power and flush delays) lines up: a
recorded poll that saw "not ready" k times and then "ready" replays the same k + 1 reads at the same
instants and sees the same values on the same model.

The replay needs a platform with a virtual clock (the simulator): it cannot make a real GPU
reproduce recorded timing. Time only moves forward: if the replay platform is already past a
record's time (it never is on a fresh simulator), the access runs at once.
"""

from __future__ import annotations

import errno as _errno
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import InvalidArgument, NotSupported
from ..platform import open_platform
from ..platform.base import MmioRegion, Platform
from .format import OP_READ, TraceHeader
from .names import name_access
from .reader import AccessArray, Trace, TraceReader

#: Mismatches kept in a report by default (all are counted).
DEFAULT_MAX_MISMATCHES = 20


@dataclass(frozen=True)
class Mismatch:
    """One access whose replay did not reproduce the recording.

    Attributes:
        index: access number in the trace.
        time_ns: recorded time (ns since the start).
        op: "R" or "W".
        region: region name.
        offset: byte offset.
        register: register name (``"0x01234?"`` when unknown).
        kind: "read-value" (a read returned another value), "error" (an access that failed when
            recorded succeeded or failed differently) or "unexpected-error" (it failed only on replay).
        expected: recorded value.
        got: value read on replay (None for writes and failed reads).
        expected_errno: errno recorded (0 = the access succeeded).
        got_errno: errno on replay (0 = it succeeded).
        message: the replay error's message, if any.
    """

    index: int
    time_ns: int
    op: str
    region: str
    offset: int
    register: str
    kind: str
    expected: int
    got: int | None
    expected_errno: int = 0
    got_errno: int = 0
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        where = f"#{self.index} t={self.time_ns / 1000:.3f}us {self.op} {self.register}"
        if self.kind == "read-value":
            return f"{where}: recorded {self.expected:#010x}, replay read {self.got:#010x}"
        return (f"{where}: recorded {_outcome(self.expected_errno)}, replay {_outcome(self.got_errno)}"
                + (f" ({self.message})" if self.message else ""))


def _outcome(err: int) -> str:
    return "ok" if not err else f"error {_errno.errorcode.get(err, err)}"


@dataclass
class ReplayReport:
    """Outcome of a replay.

    Attributes:
        path: the trace replayed.
        backend: replay platform name.
        accesses / reads / writes: accesses replayed, by kind.
        reads_differ: reads that returned another value.
        errors_differ: accesses whose success/failure (or errno) differed.
        mismatches: the first ``max_mismatches`` mismatches, in order.
        trace_complete: the trace had its END record.
        duration_ns: recorded duration; replay_duration_ns: virtual time the replay took.
    """

    path: str
    backend: str
    accesses: int = 0
    reads: int = 0
    writes: int = 0
    reads_differ: int = 0
    errors_differ: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    trace_complete: bool = True
    duration_ns: int = 0
    replay_duration_ns: int = 0

    @property
    def ok(self) -> bool:
        """True when every read and every error was reproduced."""
        return not self.reads_differ and not self.errors_differ

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def replay(trace: str | os.PathLike[str] | Trace, platform: Platform | None = None, *, backend: str = "sim",
           strict: bool = True, max_mismatches: int = DEFAULT_MAX_MISMATCHES, allow_truncated: bool = False,
           **options: Any) -> ReplayReport:
    """Replay ``trace`` on ``platform`` (or on a fresh ``backend`` platform opened here and closed after).

    Args:
        trace: a trace file path or a :class:`~uio_driver.trace.reader.Trace`.
        platform: the platform to replay on (e.g. a ``SimPlatform`` built with another ``SimConfig``);
            it is used as it is and not closed.
        backend: backend opened when ``platform`` is None (only virtual-clock backends work: "sim").
        strict: simulator strict mode for a platform opened here.
        max_mismatches: mismatches kept in the report (all are counted).
        allow_truncated: accept a trace whose last record is partial.
        **options: passed to :func:`~uio_driver.platform.open_platform` (e.g. ``config=SimConfig(...)``).

    Returns:
        The :class:`ReplayReport`; ``report.ok`` is False when any read or error differed.

    Raises:
        NotSupported: the platform has no virtual clock.
        DeviceNotFound: the platform lacks a region the trace uses.
        InvalidArgument: bad ``max_mismatches`` or a platform region smaller than the recorded one.
        TraceFormatError: the trace file is malformed (found before anything is replayed).
    """
    if isinstance(max_mismatches, bool) or not isinstance(max_mismatches, int) or max_mismatches < 0:
        raise InvalidArgument(f"replay: max_mismatches must be an int >= 0, got {max_mismatches!r}")
    source: Trace | TraceReader = (trace if isinstance(trace, Trace)
                                   else TraceReader(trace, allow_truncated=allow_truncated))
    if isinstance(source, TraceReader):
        for _ in source.chunks():  # validate the whole file first: a corrupt trace replays nothing
            pass
    own = platform is None
    target = open_platform(backend, strict=strict, **options) if platform is None else platform
    try:
        return _run(source, target, max_mismatches)
    finally:
        if own:
            target.close()


def _run(source: Trace | TraceReader, platform: Platform, max_mismatches: int) -> ReplayReport:
    header = source.header
    regions = _regions(header, platform)
    advance = _advancer(platform)
    clock = platform.clock
    base = clock.now_ns()
    report = ReplayReport(source.path, platform.name, mismatches=[])
    for chunk in _chunks(source):
        for i, t, op, rid, offset, value, err in zip(chunk.index.tolist(), chunk.time_ns.tolist(),
                                                     chunk.op.tolist(), chunk.region.tolist(),
                                                     chunk.offset.tolist(), chunk.value.tolist(),
                                                     chunk.errno.tolist(), strict=True):
            when = base + t
            if when > clock.now_ns():
                advance(when)
            _one(report, regions[rid], header.regions[rid].name, i, t, op, offset, value, err, max_mismatches)
    report.trace_complete = bool(source.complete)
    report.duration_ns = source.duration_ns
    report.replay_duration_ns = clock.now_ns() - base
    return report


def _one(report: ReplayReport, region: MmioRegion, rname: str, index: int, t: int, op: int, offset: int,
         value: int, err: int, max_mismatches: int) -> None:
    """Perform one access and compare it with the record."""
    report.accesses += 1
    got: int | None = None
    got_err, message = 0, ""
    try:
        if op == OP_READ:
            report.reads += 1
            got = region.read32(offset)
        else:
            report.writes += 1
            region.write32(offset, value)
    except OSError as exc:  # every MaliError is one; the model refused the access
        got_err, message = exc.errno or _errno.EIO, str(exc)
    if got_err == err and (op != OP_READ or err or got == value):
        return
    if got_err != err:
        kind = "unexpected-error" if not err else "error"
        report.errors_differ += 1
    else:
        kind = "read-value"
        report.reads_differ += 1
    if len(report.mismatches) < max_mismatches:
        opname = "R" if op == OP_READ else "W"
        register = name_access(rname, offset).register
        report.mismatches.append(Mismatch(index, t, opname, rname, offset, register, kind, value, got, err,
                                          got_err, message))


def _chunks(source: Trace | TraceReader) -> Iterator[AccessArray]:
    if isinstance(source, Trace):
        yield source.accesses
    else:
        yield from source.chunks()


def _regions(header: TraceHeader, platform: Platform) -> list[MmioRegion]:
    """The platform region for each trace region, checked to be large enough."""
    out = []
    for info in header.regions:
        region = platform.region(info.name)
        if region.size < info.size:
            raise InvalidArgument(f"replay: region {info.name!r} of {platform.name} is {region.size:#x} "
                                  f"bytes, the trace recorded {info.size:#x}")
        out.append(region)
    return out


def _advancer(platform: Platform) -> Callable[[int], None]:
    """How to move the platform's clock to an absolute time in ns (virtual clocks only)."""
    clock = platform.clock
    if not clock.virtual:
        raise NotSupported(f"replay needs a backend with virtual time (the simulator); {platform.name} runs "
                           "in real time and cannot reproduce recorded timing")
    advance_to = getattr(clock, "advance_to", None)
    if callable(advance_to):
        return advance_to
    return lambda when: clock.sleep((when - clock.now_ns()) / 1e9)
