"""Compare two traces access by access, with polling loops collapsed.

Two runs of the same driver code (a board and the simulator, or two simulator versions) make the
same accesses in the same order except where they wait: a poll loop reads the same register (or the
same short group of registers, e.g. the HI/LO/HI of a 64-bit read, or IRQ STATUS + RAWSTAT) until a
value appears, and a slower device needs more iterations. So both traces are first cut into
*items*: a single access, or a *poll* - k >= 1 back-to-back repetitions of a group of at most
:data:`MAX_PERIOD` reads. A group counts as a poll pattern when it repeats in either trace, and a
single occurrence of a known pattern is a poll of k = 1, so a board's five iterations and the
simulator's one line up. Items are aligned by key ((op, region, offset), or the poll's pattern);
values are compared only where the program's behaviour depends on them: every write value, every
single read, and the reads of a poll's last iteration (the value that ended the wait). Different
iteration counts are reported separately (they are timing, not behaviour).

When keys differ the walk resynchronises on the nearest point (within :data:`RESYNC_WINDOW` items)
where :data:`RESYNC_RUN` items match again; what was skipped is reported as accesses only in A or
only in B.
"""

from __future__ import annotations

import errno as _errno
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from .format import OP_NAMES, OP_WRITE
from .names import name_access
from .reader import Trace, read_trace

#: Longest group of reads recognised as one poll iteration.
MAX_PERIOD = 8
#: Items skipped (A + B) at most when looking for a resync point.
RESYNC_WINDOW = 256
#: Items that must match after a skip for the walk to resynchronise.
RESYNC_RUN = 4
DEFAULT_MAX_DIVERGENCES = 20

Item = tuple[int, int, int, object]  # (first access, pattern length, repetitions, key)


@dataclass(frozen=True)
class Divergence:
    """One difference between trace A and trace B.

    Attributes:
        kind: "write-value", "read-value", "error" (one access failed, or failed differently),
            "only-in-a" or "only-in-b" (accesses the other trace does not have at this point).
        a_index / b_index: access numbers in each trace (None for the side that has nothing).
        a_time_ns / b_time_ns: recorded times.
        op: "R" or "W".
        register: register name (``"0x01234?"`` when unknown).
        a_value / b_value: the values (None for the missing side).
        a_errno / b_errno: errnos (0 = the access succeeded).
        count: number of accesses the divergence covers (only-in-* runs).
    """

    kind: str
    a_index: int | None
    b_index: int | None
    a_time_ns: int | None
    b_time_ns: int | None
    op: str
    register: str
    a_value: int | None = None
    b_value: int | None = None
    a_errno: int = 0
    b_errno: int = 0
    count: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        at = f"A#{self.a_index}" if self.a_index is not None else "A#-"
        bt = f"B#{self.b_index}" if self.b_index is not None else "B#-"
        head = f"{at} {bt} {self.op} {self.register}"
        if self.kind in ("only-in-a", "only-in-b"):
            return f"{head}: {self.count} access(es) {self.kind.replace('-', ' ')}"
        if self.kind == "error":
            return f"{head}: A {_outcome(self.a_errno)}, B {_outcome(self.b_errno)}"
        return f"{head}: A {self.a_value:#010x}, B {self.b_value:#010x}"


@dataclass(frozen=True)
class PollDifference:
    """A poll both traces made, with different iteration counts (timing, not a divergence)."""

    registers: tuple[str, ...]
    a_index: int
    b_index: int
    a_iterations: int
    b_iterations: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DiffReport:
    """Result of :func:`diff_traces`.

    Attributes:
        identical: same accesses, values and errors in the same order (times ignored).
        equivalent: no divergence once polls are collapsed (``first`` is None).
        first: the first divergence, if any.
        divergences: the first ``max_divergences`` divergences.
        writes_differ / reads_differ / errors_differ: compared accesses that differ.
        only_in_a / only_in_b: accesses with no counterpart in the other trace.
        polls: polls aligned; poll_counts_differ: of those, how many iterated a different number
            of times (first few in ``poll_differences``).
    """

    a: str
    b: str
    a_accesses: int
    b_accesses: int
    identical: bool = False
    writes_differ: int = 0
    reads_differ: int = 0
    errors_differ: int = 0
    only_in_a: int = 0
    only_in_b: int = 0
    polls: int = 0
    poll_counts_differ: int = 0
    divergences: list[Divergence] = field(default_factory=list)
    poll_differences: list[PollDifference] = field(default_factory=list)
    first: Divergence | None = None
    a_duration_ns: int = 0
    b_duration_ns: int = 0

    @property
    def equivalent(self) -> bool:
        return self.first is None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["equivalent"] = self.equivalent
        return d


class _Side:
    """One trace as plain lists, keyed with region names shared by both sides."""

    def __init__(self, trace: Trace, region_ids: dict[str, int]) -> None:
        acc = trace.accesses
        names = [r.name for r in trace.header.regions]
        gid = [region_ids.setdefault(n, len(region_ids)) for n in names]
        self.names = names
        self.op = acc.op.tolist()
        self.region = acc.region.tolist()
        self.offset = acc.offset.tolist()
        self.value = acc.value.tolist()
        self.errno = acc.errno.tolist()
        self.time = acc.time_ns.tolist()
        self.keys = [o << 40 | gid[r] << 32 | off for o, r, off in zip(self.op, self.region, self.offset,
                                                                         strict=True)]
        self.items: list[Item] = []

    def register(self, i: int) -> str:
        return name_access(self.names[self.region[i]], self.offset[i]).register

    def accesses(self, item: Item) -> int:
        return item[1] * item[2]


def _is_read_key(key: int) -> bool:
    return key >> 40 != OP_WRITE


def _repeat_at(keys: list[int], i: int) -> tuple[int, int] | None:
    """(period, repetitions >= 2) of a group of reads repeating back to back at ``i``, else None."""
    n = len(keys)
    for period in range(1, MAX_PERIOD + 1):
        if i + 2 * period > n or not _is_read_key(keys[i + period - 1]):
            return None
        block = keys[i:i + period]
        if keys[i + period:i + 2 * period] == block:
            reps = 2
            while keys[i + reps * period:i + (reps + 1) * period] == block:
                reps += 1
            return period, reps
    return None


Pattern = tuple[int, ...]


def _segment(keys: list[int], known: dict[int, list[Pattern]]) -> tuple[list[Item], set[Pattern]]:
    """Cut ``keys`` into items; returns the items and the poll patterns found (repeating ones)."""
    items: list[Item] = []
    found: set[tuple[int, ...]] = set()
    i, n = 0, len(keys)
    while i < n:
        key = keys[i]
        if _is_read_key(key):
            rep = _repeat_at(keys, i)
            if rep is not None:
                period, reps = rep
                pattern = tuple(keys[i:i + period])
                found.add(pattern)
                items.append((i, period, reps, pattern))
                i += period * reps
                continue
            pattern_once = next((p for p in known.get(key, ()) if tuple(keys[i:i + len(p)]) == p), None)
            if pattern_once is not None:
                items.append((i, len(pattern_once), 1, pattern_once))
                i += len(pattern_once)
                continue
        items.append((i, 1, 1, key))
        i += 1
    return items, found


def _prepare(a: _Side, b: _Side) -> None:
    _, pa = _segment(a.keys, {})
    _, pb = _segment(b.keys, {})
    known: dict[int, list[tuple[int, ...]]] = {}
    for pattern in sorted(pa | pb, key=len, reverse=True):  # longest first
        known.setdefault(pattern[0], []).append(pattern)
    a.items, _ = _segment(a.keys, known)
    b.items, _ = _segment(b.keys, known)


def diff_traces(a: Trace | str | os.PathLike[str], b: Trace | str | os.PathLike[str], *,
                max_divergences: int = DEFAULT_MAX_DIVERGENCES) -> DiffReport:
    """Align trace ``a`` with trace ``b`` and report how they differ (see the module docstring).

    Raises:
        TraceFormatError: either file is malformed.
    """
    ta = a if isinstance(a, Trace) else read_trace(a)
    tb = b if isinstance(b, Trace) else read_trace(b)
    ids: dict[str, int] = {}
    sa, sb = _Side(ta, ids), _Side(tb, ids)
    report = DiffReport(ta.path, tb.path, len(sa.keys), len(sb.keys), a_duration_ns=ta.duration_ns,
                        b_duration_ns=tb.duration_ns)
    report.identical = (sa.keys == sb.keys and sa.value == sb.value and sa.errno == sb.errno)
    _prepare(sa, sb)
    _Walker(sa, sb, report, max_divergences).run()
    return report


class _Walker:
    """Walks the two item lists in step, comparing values and resynchronising on key mismatches."""

    def __init__(self, a: _Side, b: _Side, report: DiffReport, limit: int) -> None:
        self.a, self.b, self.report, self.limit = a, b, report, limit
        self.ka = [it[3] for it in a.items]
        self.kb = [it[3] for it in b.items]

    def run(self) -> None:
        i = j = 0
        na, nb = len(self.ka), len(self.kb)
        while i < na and j < nb:
            if self.ka[i] == self.kb[j]:
                self._compare(self.a.items[i], self.b.items[j])
                i, j = i + 1, j + 1
                continue
            skip = self._resync(i, j)
            di, dj = skip if skip is not None else (na - i, nb - j)
            self._only(self.a, i, i + di, "only-in-a")
            self._only(self.b, j, j + dj, "only-in-b")
            i, j = i + di, j + dj
        self._only(self.a, i, na, "only-in-a")
        self._only(self.b, j, nb, "only-in-b")

    def _resync(self, i: int, j: int) -> tuple[int, int] | None:
        for total in range(1, RESYNC_WINDOW + 1):
            for di in range(total + 1):
                if self._matches(i + di, j + total - di):
                    return di, total - di
        return None

    def _matches(self, i: int, j: int) -> bool:
        na, nb = len(self.ka), len(self.kb)
        if i > na or j > nb:
            return False
        for t in range(RESYNC_RUN):
            if i + t >= na or j + t >= nb:
                return i + t >= na and j + t >= nb
            if self.ka[i + t] != self.kb[j + t]:
                return False
        return True

    def _compare(self, ia: Item, ib: Item) -> None:
        a, report = self.a, self.report
        period = ia[1]
        if ia[2] > 1 or ib[2] > 1 or isinstance(ia[3], tuple):
            report.polls += 1
            if ia[2] != ib[2]:
                report.poll_counts_differ += 1
                if len(report.poll_differences) < self.limit:
                    regs = tuple(a.register(ia[0] + k) for k in range(period))
                    report.poll_differences.append(PollDifference(regs, ia[0], ib[0], ia[2], ib[2]))
        # Compare the last iteration: the values that ended the wait (or the single access).
        first_a, first_b = ia[0] + (ia[2] - 1) * period, ib[0] + (ib[2] - 1) * period
        for k in range(period):
            self._compare_access(first_a + k, first_b + k)

    def _compare_access(self, x: int, y: int) -> None:
        a, b, report = self.a, self.b, self.report
        if a.errno[x] != b.errno[y]:
            report.errors_differ += 1
            kind = "error"
        elif a.errno[x] or a.value[x] == b.value[y]:
            return
        elif a.op[x] == OP_WRITE:
            report.writes_differ += 1
            kind = "write-value"
        else:
            report.reads_differ += 1
            kind = "read-value"
        self._add(Divergence(kind, x, y, a.time[x], b.time[y], OP_NAMES[a.op[x]], a.register(x),
                             a.value[x], b.value[y], a.errno[x], b.errno[y]))

    def _only(self, side: _Side, start: int, stop: int, kind: str) -> None:
        if start >= stop:
            return
        first = side.items[start][0]
        count = sum(side.accesses(it) for it in side.items[start:stop])
        if kind == "only-in-a":
            self.report.only_in_a += count
            div = Divergence(kind, first, None, side.time[first], None, OP_NAMES[side.op[first]],
                             side.register(first), side.value[first], None, side.errno[first], 0, count)
        else:
            self.report.only_in_b += count
            div = Divergence(kind, None, first, None, side.time[first], OP_NAMES[side.op[first]],
                             side.register(first), None, side.value[first], 0, side.errno[first], count)
        self._add(div)

    def _add(self, div: Divergence) -> None:
        if self.report.first is None:
            self.report.first = div
        if len(self.report.divergences) < self.limit:
            self.report.divergences.append(div)


def _outcome(err: int) -> str:
    return "ok" if not err else f"error {_errno.errorcode.get(err, err)}"
