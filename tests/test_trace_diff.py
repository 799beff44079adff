"""trace diff: alignment by access sequence, polling loops collapsed, divergences classified."""

from __future__ import annotations

import errno
from pathlib import Path

from uio_driver.bringup import Bringup
from uio_driver.sim.platform import SimPlatform
from uio_driver.trace import TraceWriter, diff_traces, read_trace, replay, start_tracing

# Offsets from the reference register table (§1.1, §1.4).
GPU_ID, RAWSTAT, CLEAR, MASK, STATUS = 0x000, 0x020, 0x024, 0x028, 0x02C
L2_READY_LO, L2_READY_HI = 0x160, 0x164

Row = tuple  # (op, offset, value) or (op, offset, value, errno) or (time_ns, op, offset, value, errno)


def make(path: Path, rows: list[Row], step_ns: int = 10_000) -> Path:
    """Write a trace of ``rows``; rows without a time get one every ``step_ns``."""
    w = TraceWriter(path, backend="test", clock_virtual=True, start_clock_ns=0)
    w.add_region("gpu", 0x200000, 0xFB000000)
    for i, row in enumerate(rows):
        if isinstance(row[0], int):
            t, op, off, value, err = row
        else:
            op, off, value, *rest = row
            t, err = i * step_ns, (rest[0] if rest else 0)
        w.record(t, ord(op), 0, off, value, err)
    w.close()
    return path


def record_bringup(path: Path) -> Path:
    with SimPlatform() as platform:
        start_tracing(platform, path)
        # Stages up to the flush are pure MMIO; later ones may use DMA memory, which a trace
        # does not record (docs/trace-format.md, "What is not recorded").
        Bringup(platform).run(until="flush")
    return path


def test_two_recordings_of_the_same_run_are_identical(tmp_path: Path) -> None:
    r = diff_traces(record_bringup(tmp_path / "a.bin"), record_bringup(tmp_path / "b.bin"))
    assert r.identical and r.equivalent and r.first is None and r.divergences == []
    assert r.a_accesses == r.b_accesses == len(read_trace(tmp_path / "a.bin"))
    assert r.polls >= 2 and r.poll_counts_differ == 0  # reset and L2 polls were recognised


def test_a_longer_poll_of_one_register_is_not_a_divergence(tmp_path: Path) -> None:
    a = make(tmp_path / "a.bin",
             [("R", RAWSTAT, 0), ("R", RAWSTAT, 0), ("R", RAWSTAT, 0x100), ("W", CLEAR, 0x100)])
    b = make(tmp_path / "b.bin", [("R", RAWSTAT, 0x100), ("W", CLEAR, 0x100)])
    r = diff_traces(a, b)
    assert r.equivalent and not r.identical
    assert (r.polls, r.poll_counts_differ) == (1, 1)
    p = r.poll_differences[0]
    assert (p.registers, p.a_index, p.b_index) == (("GPU_IRQ_RAWSTAT",), 0, 0)
    assert (p.a_iterations, p.b_iterations) == (3, 1)


def test_multi_register_polls_collapse(tmp_path: Path) -> None:
    irq_poll = [("R", STATUS, 0), ("R", RAWSTAT, 0)]
    read64_poll = [("R", L2_READY_HI, 0), ("R", L2_READY_LO, 0), ("R", L2_READY_HI, 0)]
    ready = [("R", L2_READY_HI, 0), ("R", L2_READY_LO, 1), ("R", L2_READY_HI, 0)]
    irq_done = [("R", STATUS, 0x100), ("R", RAWSTAT, 0x100), ("W", CLEAR, 0x100)]
    a = make(tmp_path / "a.bin", irq_poll * 4 + irq_done + read64_poll * 3 + ready + [("W", MASK, 0x20103)])
    b = make(tmp_path / "b.bin", irq_done + ready + [("W", MASK, 0x20103)])
    r = diff_traces(a, b)
    assert r.equivalent, r.divergences
    assert r.poll_counts_differ == 2
    assert [(p.registers, p.a_iterations, p.b_iterations) for p in r.poll_differences] == [
        (("GPU_IRQ_STATUS", "GPU_IRQ_RAWSTAT"), 5, 1),
        (("L2_READY_HI", "L2_READY_LO", "L2_READY_HI"), 4, 1)]


def test_a_different_write_value_is_the_first_divergence(tmp_path: Path) -> None:
    common = [("R", GPU_ID, 0xA8670005), ("W", CLEAR, 0x100)]
    a = make(tmp_path / "a.bin", common + [("W", MASK, 0x20103), ("R", STATUS, 0)])
    b = make(tmp_path / "b.bin", common + [("W", MASK, 0x20101), ("R", STATUS, 0)])
    r = diff_traces(a, b)
    assert not r.equivalent and (r.writes_differ, r.reads_differ, r.only_in_a, r.only_in_b) == (1, 0, 0, 0)
    f = r.first
    assert f is not None
    assert (f.kind, f.a_index, f.b_index, f.register) == ("write-value", 2, 2, "GPU_IRQ_MASK")
    assert (f.a_value, f.b_value, f.a_time_ns, f.b_time_ns) == (0x20103, 0x20101, 20_000, 20_000)


def test_reads_are_compared_on_the_poll_iteration_that_ended_the_wait(tmp_path: Path) -> None:
    a = make(tmp_path / "a.bin", [("R", RAWSTAT, 0), ("R", RAWSTAT, 0x100)])
    b = make(tmp_path / "b.bin", [("R", RAWSTAT, 0x200), ("R", RAWSTAT, 0x300)])  # 0x200 != 0 is ignored
    r = diff_traces(a, b)
    assert r.reads_differ == 1 and r.first is not None
    assert (r.first.kind, r.first.a_index, r.first.b_index, r.first.a_value, r.first.b_value) == (
        "read-value", 1, 1, 0x100, 0x300)


def test_an_extra_access_is_reported_and_the_rest_still_aligns(tmp_path: Path) -> None:
    head = [("R", GPU_ID, 0xA8670005), ("W", CLEAR, 0x100)]
    tail = [("W", MASK, 0x20103), ("R", STATUS, 0), ("W", 0x030, 0x101), ("R", RAWSTAT, 0x100),
            ("W", CLEAR, 0x100)]
    a = make(tmp_path / "a.bin", head + tail)
    b = make(tmp_path / "b.bin", head + [("W", 0x304, 0x1F)] + tail)  # COHERENCY_ENABLE only in B
    r = diff_traces(a, b)
    assert (r.only_in_a, r.only_in_b, r.writes_differ, r.reads_differ) == (0, 1, 0, 0)
    assert len(r.divergences) == 1
    d = r.divergences[0]
    assert (d.kind, d.a_index, d.b_index) == ("only-in-b", None, 2)
    assert (d.register, d.b_value, d.count) == ("COHERENCY_ENABLE", 0x1F, 1)


def test_a_failed_access_on_one_side_is_an_error_divergence(tmp_path: Path) -> None:
    a = make(tmp_path / "a.bin", [("W", GPU_ID, 1, errno.EPROTO)])
    b = make(tmp_path / "b.bin", [("W", GPU_ID, 1)])
    r = diff_traces(a, b)
    assert r.errors_differ == 1 and r.first is not None and r.first.kind == "error"
    assert (r.first.a_errno, r.first.b_errno) == (errno.EPROTO, 0)
    assert "EPROTO" in str(r.first)


def test_unrelated_traces_report_everything_as_unaligned(tmp_path: Path) -> None:
    a = make(tmp_path / "a.bin", [("W", MASK, 1)] * 3)
    b = make(tmp_path / "b.bin", [("W", CLEAR, 1)] * 2)
    r = diff_traces(a, b)
    assert (r.only_in_a, r.only_in_b) == (3, 2) and r.first is not None and r.first.kind == "only-in-a"


def _board_like(src: Path, dst: Path, extra_times: list[int]) -> Path:
    """The simulator's bring-up with extra not-ready L2_READY iterations, as a slower board would poll."""
    t = read_trace(src)
    rows: list[Row] = []
    first_poll = None
    for a in t.accesses:
        rows.append((a.time_ns, a.op, a.offset, a.value, a.errno))
        if a.offset == L2_READY_HI and first_poll is None and len(rows) >= 3 and rows[-3][2] == L2_READY_HI:
            first_poll = len(rows)  # end of the first (not ready) HI/LO/HI iteration
    assert first_poll is not None
    extra = [(ns, "R", off, 0, 0) for ns in extra_times for off in (L2_READY_HI, L2_READY_LO, L2_READY_HI)]
    return make(dst, rows[:first_poll] + extra + rows[first_poll:])


def test_a_slower_boards_longer_l2_poll_diffs_equal_and_replays_until_timing_matters(tmp_path: Path) -> None:
    sim = record_bringup(tmp_path / "sim.bin")
    # On the simulator L2_READY rises 50 us after L2_PWRON (written at 20 us), i.e. at 70 us.
    board = _board_like(sim, tmp_path / "board.bin", [40_000, 60_000])
    r = diff_traces(board, sim)
    assert r.equivalent and r.poll_counts_differ == 1
    assert (r.poll_differences[0].a_iterations, r.poll_differences[0].b_iterations) == (4, 2)
    assert replay(board).ok  # the extra polls happened before 70 us: the simulator agrees
    late = _board_like(sim, tmp_path / "late.bin", [40_000, 80_000])
    assert diff_traces(late, sim).equivalent  # same behaviour ...
    rep = replay(late)  # ... but at 80 us the simulator's L2 is already ready: a timing difference
    got = [(m.time_ns, m.register, m.expected, m.got) for m in rep.mismatches]
    assert got == [(80_000, "L2_READY_LO", 0, 1)]
