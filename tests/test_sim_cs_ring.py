"""Ring processing of the simulated MCU: jobs, user I/O pages, waits, idle/progress, suspend/resume,
strict-mode ring checks (csf-firmware-and-interfaces.md §6.5, §6.7, §7.3-§7.5, §9.4, §9.5;
cs-isa-and-uapi.md §2).
"""

from __future__ import annotations

import pytest
from test_sim_cs_rig import (
    CSG_IDLE,
    DESC,
    GREATER,
    IDLE_EMPTY,
    LEQUAL,
    NOP,
    OUT,
    PROGRESS_TIMER_EVENT,
    RESUME,
    STATUS_BLOCKED_REASON,
    STATUS_CMD_PTR,
    STATUS_SCOREBOARDS,
    STATUS_WAIT,
    STATUS_WAIT_SYNC_PTR,
    STATUS_WAIT_SYNC_VALUE,
    STATUS_WAIT_SYNC_VALUE_HI,
    STREAM_VA,
    SUSPEND,
    SUSPEND_VA,
    SYNC_UPDATE,
    SYNC_VA,
    CsRig,
    add32,
    add64,
    branch,
    call,
    dump,
    move32,
    move48,
    panthor_job,
    run_compute,
    set_sb_entry,
    store_multiple,
    sync_add64,
    sync_set32,
    sync_wait32,
    sync_wait64,
    wait,
)
from test_sim_mcu_rig import cs_in, csg_in, csg_out

from uio_driver.errors import SimProtocolError

L2_PWROFF_LO = 0x1E0  # mali-csf-registers-and-mmu.md §1.10


@pytest.fixture
def rig():
    r = CsRig()
    r.scratch()
    r.scratch(SYNC_VA)
    r.scratch(STREAM_VA, 0x2000)
    yield r
    r.close()


@pytest.fixture
def q(rig):
    queue = rig.start(0, 0)
    rig.take_irq()
    return queue


def user_stream(rig: CsRig, words: list[int], va: int = STREAM_VA) -> tuple[int, int]:
    rig.vm.write_words(va, words)
    return va, 8 * len(words)


# -- jobs --------------------------------------------------------------------------------------------------


def test_panthor_job_sequence_runs_and_signals_the_seqno(rig, q):
    stream, size = user_stream(rig, [move32(1, 0x1234), *dump(1, 1)])
    for seqno in (1, 2, 3):
        rig.submit(q, panthor_job(rig.r32(0x10000), stream, size, SYNC_VA))
        rig.settle(50e-6)
        assert rig.vm.rd64(SYNC_VA) == seqno and rig.vm.rd32(SYNC_VA + 8) == 0  # seqno, status (§2.1)
        assert rig.extract(q) == q.insert == 128 * seqno  # 11 instructions + 5 NOPs per job (§2.3)
        assert rig.active(q) == 0
        assert rig.take_irq() == 1  # CSG 0
        assert rig.ack_csg_events(0) == SYNC_UPDATE | CSG_IDLE
    assert rig.vm.rd32(OUT) == 0x1234
    assert rig.rd32(csg_out(0) + 0x18) & 1  # status_state IDLE
    assert rig.sim.violations == []


def test_a_stream_stores_a_pattern_into_a_buffer(rig, q):
    # for i in 0..63: out[i] = 0x1000 + 3 * i   (r0 counter, r1 value, d88 pointer)
    loop = [move32(0, 64), move32(1, 0x1000), move48(88, OUT),
            store_multiple(1, 88, 1), add32(1, 1, 3), add64(88, 88, 4), add32(0, 0, -1),
            branch(0, GREATER, -5)]
    stream, size = user_stream(rig, loop)
    rig.submit(q, panthor_job(0, stream, size, SYNC_VA))
    rig.settle(100e-6)
    assert rig.words(OUT, 65) == [0x1000 + 3 * i for i in range(64)] + [0]
    assert rig.vm.rd64(SYNC_VA) == 1


def test_jobs_wrap_around_the_end_of_the_ring(rig, q):
    rig.submit(q, [NOP] * 4)  # offset 0x20: every later 128-byte job is misaligned with the ring end
    rig.settle()
    stream, size = user_stream(rig, [add32(5, 5, 1)])
    for _ in range(3):  # 3 x 16 jobs = 6 KiB through a 4 KiB ring, the 32nd job straddles its end
        for _ in range(16):
            rig.write_ring(q, panthor_job(0, stream, size, SYNC_VA))
        rig.wr64(q.io_va + 0x08, rig.extract(q))
        rig.wr64(q.io_va, q.insert)
        rig.ring(1)
        rig.settle(500e-6)
    assert rig.vm.rd64(SYNC_VA) == 48 and rig.extract(q) == 0x20 + 48 * 128
    rig.run(q, dump(5, 1))
    assert rig.vm.rd32(OUT) == 48


def test_extract_and_active_are_published_while_a_job_runs(rig, q):
    rig.scratch(DESC)
    rig.mcu.config.run_latency_ns = 1_000_000
    rig.submit(q, [move48(16, DESC), run_compute(), wait(1), NOP])
    rig.settle(50e-6)
    assert rig.extract(q) == 16 and rig.active(q) == 1  # stopped at the WAIT (offset 16)
    rig.status_update(0)
    assert rig.out64(q, STATUS_CMD_PTR) == q.ring_va + 16
    assert not rig.rd32(csg_out(0) + 0x18) & 1  # status_state: busy
    rig.settle(2e-3)
    assert rig.extract(q) == 32 and rig.active(q) == 0


# -- sync waits --------------------------------------------------------------------------------------------


def test_sync_wait64_blocks_reports_its_status_and_is_released_by_another_queue(rig):
    q0, q1 = rig.queue(0, 0), rig.queue(0, 1)
    rig.start_group(0, (q0, q1))
    rig.take_irq()
    rig.run(q0, [move48(60, SYNC_VA), move48(62, 0x1_0000_0002), sync_wait64(60, 62, GREATER),
                 move32(1, 0xAA), *dump(1, 1)])
    assert rig.vm.rd32(OUT) == 0
    rig.status_update(0)
    assert rig.out32(q0, STATUS_WAIT) == 1 << 31 | 1 << 30 | 1 << 24  # SYNC_WAIT, 64-bit, GT (§6.5)
    assert rig.out64(q0, STATUS_WAIT_SYNC_PTR) == SYNC_VA
    assert (rig.out32(q0, STATUS_WAIT_SYNC_VALUE), rig.out32(q0, STATUS_WAIT_SYNC_VALUE_HI)) == (2, 1)
    assert rig.out32(q0, STATUS_BLOCKED_REASON) == 3
    assert rig.out64(q0, STATUS_CMD_PTR) == q0.ring_va + 16  # the SYNC_WAIT itself
    rig.ack_csg_events(0)
    # IDLE_SYNC_WAIT is set: a stream blocked in a sync wait is idle, so the group went idle (§9.5).
    assert rig.csg_events[-1] == (0, CSG_IDLE)
    rig.run(q1, [move48(60, SYNC_VA), move48(62, 0x1_0000_0003), sync_add64(60, 62)])
    assert rig.vm.rd32(OUT) == 0xAA


def test_sync_wait32_leq_is_released_by_a_host_write_at_the_next_poll(rig, q):
    rig.vm.wr32(SYNC_VA, 5)
    rig.run(q, [move48(60, SYNC_VA), move32(62, 3), sync_wait32(60, 62, LEQUAL), move32(1, 0xBB),
                *dump(1, 1)])
    rig.status_update(0)
    assert rig.out32(q, STATUS_WAIT) == 1 << 31  # SYNC_WAIT, 32-bit, LE
    rig.vm.wr32(SYNC_VA, 3)  # the host CPU signals: no doorbell, no GPU write
    rig.settle(rig.mcu.config.sync_poll_ns / 2 * 1e-9)
    assert rig.vm.rd32(OUT) == 0
    rig.settle(rig.mcu.config.sync_poll_ns * 1e-9)
    assert rig.vm.rd32(OUT) == 0xBB


def test_sync_wait_is_not_idle_without_idle_sync_wait(rig):
    q = rig.queue(0, 0)
    rig.start_group(0, (q,))
    rig.update(cs_in(0, 0), IDLE_EMPTY | 1, 0x1F07)  # IDLE_SYNC_WAIT cleared
    rig.ring_cs(0, 0)
    rig.ring_csg(0)
    rig.settle()
    rig.take_irq()
    rig.run(q, [move48(60, SYNC_VA), move32(62, 0), sync_wait32(60, 62, GREATER)])
    assert rig.sim.mcu.executor.is_busy(0, 0)
    assert (rig.rd32(csg_in(0)) ^ rig.rd32(csg_out(0))) & CSG_IDLE == 0


# -- idle and progress -------------------------------------------------------------------------------------


def test_idle_event_only_when_every_started_stream_is_idle(rig):
    q0, q1 = rig.queue(0, 0), rig.queue(0, 1)
    rig.start_group(0, (q0, q1))
    rig.take_irq()
    rig.scratch(DESC)
    rig.mcu.config.run_latency_ns = 200_000
    rig.submit(q1, [move48(16, DESC), run_compute(), wait(1)])
    rig.run(q0, [move32(1, 1)])
    assert (rig.rd32(csg_in(0)) ^ rig.rd32(csg_out(0))) & CSG_IDLE == 0  # q1 still busy
    rig.settle(300e-6)
    assert (rig.rd32(csg_in(0)) ^ rig.rd32(csg_out(0))) & CSG_IDLE


def test_progress_timer_event_when_a_busy_stream_makes_no_progress(rig, q):
    rig.set_progress_timer(10)  # 10 x 1024 GPU cycles at 198 MHz = 51.7 us
    rig.mcu.faults.run_never_completes = True
    rig.scratch(DESC)
    t0 = rig.clock.now_ns()
    rig.submit(q, [move48(16, DESC), run_compute(), wait(1)])
    timeout = -(-10 * 1024 * 10**9 // 198_000_000)
    rig.clock.advance_to(t0 + 1_000 + timeout - 1)
    assert (rig.rd32(csg_in(0)) ^ rig.rd32(csg_out(0))) & PROGRESS_TIMER_EVENT == 0
    rig.settle(2e-6)
    assert (rig.rd32(csg_in(0)) ^ rig.rd32(csg_out(0))) & PROGRESS_TIMER_EVENT
    assert rig.take_irq() & 1
    rig.ack_csg_events(0)
    rig.settle(1e-3)  # reported once per stall
    assert (rig.rd32(csg_in(0)) ^ rig.rd32(csg_out(0))) & PROGRESS_TIMER_EVENT == 0


def test_no_progress_timer_event_for_an_idle_stream(rig, q):
    rig.set_progress_timer(10)
    rig.run(q, [move48(60, SYNC_VA), move32(62, 0), sync_wait32(60, 62, GREATER)], seconds=1e-3)
    assert (rig.rd32(csg_in(0)) ^ rig.rd32(csg_out(0))) & PROGRESS_TIMER_EVENT == 0


# -- suspend and resume ------------------------------------------------------------------------------------


def test_suspend_mid_stream_and_resume_on_another_slot_continues_exactly(rig, q):
    rig.scratch(DESC)
    rig.mcu.config.run_latency_ns = 100_000
    # The user stream sets registers, starts a RUN (entry 2) and waits for it inside the CALL.
    stream, size = user_stream(rig, [move32(3, 0x33), move48(16, DESC), set_sb_entry(2), run_compute(),
                                     wait(0b100), move32(4, 0x44), *dump(3, 0b11)])
    submitted = rig.clock.now_ns()
    rig.submit(q, [move32(7, 0x77), move48(80, stream), move32(82, size), call(80, 82),
                   move48(60, SYNC_VA), move32(62, 1), sync_set32(60, 62), *dump(7, 1, at=0x10)])
    rig.settle(40e-6)  # blocked in the callee's WAIT
    rig.status_update(0)
    assert rig.out32(q, STATUS_SCOREBOARDS) == 0b100 and rig.out32(q, STATUS_BLOCKED_REASON) == 1
    assert rig.out64(q, STATUS_CMD_PTR) == stream + 8 * 4  # the callee's WAIT
    rig.set_state(0, SUSPEND)
    suspended = rig.mcu.csg[0].transitions[-1][0]
    left = submitted + 1_000 + 100_000 - suspended  # the RUN started cs_wake_latency_ns after the doorbell
    rig.settle(300e-6)  # the group is off-slot: nothing runs, the RUN does not finish
    assert rig.words(OUT, 2) == [0, 0] and rig.vm.rd32(SYNC_VA) == 0
    rig.update(cs_in(0, 0), 0, 0x7)  # §7.5: CS STATE = STOP after the SUSPEND ack
    moved = rig.moved(q, 3, 0)  # the group comes back on CSG slot 3 with its own suspend buffer
    rig.start_group(3, (moved,), state=RESUME, suspend_va=SUSPEND_VA)
    done = rig.mcu.csg[3].transitions[-1][0] + left
    rig.clock.advance_to(done - 1)
    assert rig.words(OUT, 2) == [0, 0]
    rig.settle(10e-6)
    assert rig.words(OUT, 2) == [0x33, 0x44]  # registers set before the suspend survived
    assert rig.vm.rd32(OUT + 0x10) == 0x77 and rig.vm.rd32(SYNC_VA) == 1  # and the ring after the CALL ran
    assert rig.extract(moved) == moved.insert


# -- strict mode -------------------------------------------------------------------------------------------


def test_doorbell_without_insert_update_is_a_violation(rig, q):
    rig.run(q, [NOP])
    with pytest.raises(SimProtocolError, match="doorbell without INSERT update") as info:
        rig.ring(1)
    assert info.value.register == "DOORBELL1"


def test_ring_overflow_is_a_violation(rig, q):
    rig.wr64(q.io_va, q.ring_size + 8)  # extract 0: more than a ring ahead
    with pytest.raises(SimProtocolError, match="ring overflow"):
        rig.ring(1)


def test_insert_going_backwards_is_a_violation(rig, q):
    rig.run(q, [NOP, NOP])
    rig.wr64(q.io_va, 8)
    with pytest.raises(SimProtocolError, match="went backwards"):
        rig.ring(1)


def test_non_strict_mode_records_ring_violations_and_carries_on():
    rig = CsRig(strict=False)
    try:
        rig.scratch()
        q = rig.start(0, 0)
        rig.run(q, [move32(1, 9), *dump(1, 1)])
        rig.ring(1)
        rig.settle()
        assert [v.kind for v in rig.sim.violations] == ["doorbell-no-insert"]
        assert rig.vm.rd32(OUT) == 9
    finally:
        rig.close()


def test_execution_waits_while_the_l2_is_off_and_is_reported():
    rig = CsRig(strict=False)
    try:
        rig.scratch()
        q = rig.start(0, 0)
        rig.write_ring(q, [move32(1, 5), *dump(1, 1)])
        rig.wr64(q.io_va, q.insert)
        rig.w32(L2_PWROFF_LO, 1)
        rig.settle(200e-6)
        rig.ring(1)
        rig.settle(3e-3)
        assert rig.vm.rd32(OUT) == 0
        assert any(v.kind == "l2-off" and "CS0.0 command execution" in v.message for v in rig.sim.violations)
        rig.power_l2()
        rig.settle(2e-3)
        assert rig.vm.rd32(OUT) == 5
    finally:
        rig.close()


# -- determinism -------------------------------------------------------------------------------------------


def test_same_inputs_give_the_same_events_and_memory():
    results = []
    for _ in range(2):
        rig = CsRig()
        try:
            rig.scratch()
            rig.scratch(SYNC_VA)
            rig.scratch(DESC)
            q = rig.start(0, 0)
            rig.mcu.config.run_latency_ns = 3_000
            rig.run(q, [move48(16, DESC), move48(60, SYNC_VA), move32(62, 1), run_compute(), wait(1),
                        sync_set32(60, 62), *dump(60, 0b111)], seconds=1e-3)
            results.append((rig.sim.trace, rig.words(OUT, 3), rig.clock.events_run, rig.csg_events,
                            rig.mcu.executor.instructions))
        finally:
            rig.close()
    assert results[0] == results[1]


def test_resume_from_a_record_without_stream_state_is_refused(rig, q):
    rig.run(q, [move32(1, 1)])
    rig.set_state(0, SUSPEND)
    record = rig.buffers[SUSPEND_VA]
    area = -(-(0x20 + 8 * 0x40) // 64) * 64  # after the CSG suspend record (header + 8 streams), aligned
    record.write(area, b"\0" * 16)  # the executor's part is gone
    rig.update(cs_in(0, 0), 0, 0x7)
    rig.update(csg_in(0), RESUME, 0x7)
    rig.ring_csg(0)
    with pytest.raises(SimProtocolError, match="holds no command-stream state"):
        rig.settle()


def test_a_fatal_stream_stays_fatal_across_suspend_and_resume(rig, q):
    rig.run(q, [0x0A << 56])
    rig.ack_cs(q, 1 << 30, doorbell=False)
    rig.set_state(0, SUSPEND)
    rig.update(cs_in(0, 0), 0, 0x7)
    rig.start_group(0, (q,), state=RESUME)
    rig.run(q, [move32(1, 1), *dump(1, 1)])
    assert rig.vm.rd32(OUT) == 0
