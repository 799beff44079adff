"""``bench mmio``: per-access MMIO cost of :class:`MappedMmioRegion` vs python-periphery.

Both map the same temporary file (MAP_SHARED), so they touch the same memory with the same page
attributes; only the Python-side cost differs. Ordinary memory, not device memory: on the board
each access adds the bus round trip (peers-and-style.md Part C1, which measured ~400/490 ns for
periphery's read32/write32 and ~84/99 ns for a method over a pre-cast memoryview).

Times include the ``for`` loop that drives the accesses, for ours and the baseline alike; the loop's
own cost is reported as ``loop_overhead``.
"""

from __future__ import annotations

import argparse
import mmap
import os
import tempfile
from collections.abc import Callable

from ..errors import InvalidArgument, MaliError
from ..platform.base import MappedMmioRegion, MmioRegion
from . import BenchCase, best_of

NAME = "mmio"
DESCRIPTION = "per-access MMIO cost: our MappedMmioRegion vs python-periphery MMIO on the same mapped file"

DEFAULT_ACCESSES = 100_000
REPEAT = 5
WINDOWS = {"64k": 0x10000, "2m": 0x200000}
GOAL_X = 4.0
GOAL = f">= {GOAL_X:g}x faster than python-periphery (Part C1)"
# Ours makes three tear-safe loads (HI, LO, HI) where the baseline makes two, hence a lower bar.
GOAL_READ64_X = 3.0
GOAL_READ64 = f">= {GOAL_READ64_X:g}x faster than two periphery read32 calls (ours: 3 tear-safe loads)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--accesses", type=int, default=DEFAULT_ACCESSES,
                        help=f"accesses per timed run (best of {REPEAT}; default {DEFAULT_ACCESSES})")
    parser.add_argument("--window", choices=sorted(WINDOWS), default="64k",
                        help="size of the mapped file: 64 KiB or the 2 MiB GPU window (default 64k)")


def run(args: argparse.Namespace) -> list[BenchCase]:
    """Time read32, write32 and read64 (ours) against periphery's read32/write32 (baseline).

    Raises:
        InvalidArgument: ``--accesses`` is not positive.
        MaliError: the two mappings disagree (they must see the same memory).
    """
    accesses = getattr(args, "accesses", DEFAULT_ACCESSES)
    window = WINDOWS[getattr(args, "window", "64k")]
    if not isinstance(accesses, int) or accesses <= 0:
        raise InvalidArgument(f"bench mmio: --accesses must be a positive integer, got {accesses!r}")
    import periphery  # a declared dependency; imported here so the package imports without it

    with tempfile.TemporaryDirectory(prefix="mali-uio-bench-") as tmp:
        path = os.path.join(tmp, "mmio.bin")
        with open(path, "wb") as f:
            f.truncate(window)
        fd = os.open(path, os.O_RDWR)
        try:
            mm = mmap.mmap(fd, window, flags=mmap.MAP_SHARED)
        finally:
            os.close(fd)
        ours = MappedMmioRegion("bench", mm, phys_base=0)
        theirs = periphery.MMIO(0, window, path=path)
        try:
            _cross_check(ours, theirs, window)
            return _measure(ours, theirs, window, accesses)
        finally:
            ours.close()
            theirs.close()
            mm.close()


def _cross_check(ours: MmioRegion, theirs: object, window: int) -> None:
    """Both objects must see the same words, else the comparison is meaningless."""
    for off, value in ((0, 0x12345678), (window - 4, 0xCAFEF00D)):
        ours.write32(off, value)
        got = theirs.read32(off)  # type: ignore[attr-defined]
        theirs.write32(off, value ^ 0xFFFFFFFF)  # type: ignore[attr-defined]
        if got != value or ours.read32(off) != value ^ 0xFFFFFFFF:
            raise MaliError(f"bench mmio: mappings disagree at {off:#x} (wrote {value:#x}, periphery read "
                            f"{got:#x})", offset=off)


def _per_access(fn: Callable[[], object], accesses: int) -> float:
    return best_of(fn, repeat=REPEAT) / accesses


def _measure(ours: MmioRegion, theirs: object, window: int, accesses: int) -> list[BenchCase]:
    # Spread the accesses over the window like a driver touching many registers.
    offs32 = [(i * 4 * 17) % window for i in range(accesses)]
    offs64 = [(i * 8 * 17) % window for i in range(accesses)]
    p_read = theirs.read32  # type: ignore[attr-defined]
    p_write = theirs.write32  # type: ignore[attr-defined]

    def loop_only() -> None:
        for _ in offs32:
            pass

    def read32(fn: Callable[[int], int] = ours.read32) -> None:
        for off in offs32:
            fn(off)

    def p_read32(fn: Callable[[int], int] = p_read) -> None:
        for off in offs32:
            fn(off)

    def write32(fn: Callable[[int, int], None] = ours.write32) -> None:
        for off in offs32:
            fn(off, 0x5A5A5A5A)

    def p_write32(fn: Callable[[int, int], None] = p_write) -> None:
        for off in offs32:
            fn(off, 0x5A5A5A5A)

    def read64(fn: Callable[[int], int] = ours.read64) -> None:
        for off in offs64:
            fn(off)

    def p_read64(fn: Callable[[int], int] = p_read) -> None:
        for off in offs64:
            (fn(off + 4) << 32) | fn(off)

    overhead = _per_access(loop_only, accesses)
    cases = []
    for case, mine, base, base_name, goal, factor in (
        ("read32", read32, p_read32, "periphery MMIO.read32", GOAL, GOAL_X),
        ("write32", write32, p_write32, "periphery MMIO.write32", GOAL, GOAL_X),
        ("read64", read64, p_read64, "periphery two read32 calls", GOAL_READ64, GOAL_READ64_X),
    ):
        t_ours = _per_access(mine, accesses)
        t_base = _per_access(base, accesses)
        cases.append(BenchCase(case, t_ours, t_base, base_name, goal,
                               extra={"goal_met": t_base >= factor * t_ours, "loop_overhead": overhead,
                                      "accesses": accesses, "window": window}))
    return cases
