"""Every implemented CS instruction's effect on the simulated MCU (cs-isa-and-uapi.md §1.3-§1.7).

Streams are hand-encoded from the §1.3 layouts (test_sim_cs_rig), placed in a ring through the group
VM and run by starting the queue through the CSG/CS interface. Results are read back from GPU memory
(registers are dumped with STORE_MULTIPLE) and from the CS output block after a STATUS_UPDATE;
expected values are computed by hand from §1.4.
"""

from __future__ import annotations

import pytest
from test_sim_cs_rig import (
    ALWAYS,
    CS_FATAL,
    DESC,
    EQUAL,
    FATAL,
    FATAL_INFO,
    GEQUAL,
    GREATER,
    LEQUAL,
    LESS,
    NEQUAL,
    NOP,
    OUT,
    STATUS_BLOCKED_REASON,
    STATUS_REQ_RESOURCE,
    STATUS_SCOREBOARDS,
    STATUS_WAIT,
    STREAM_VA,
    SYNC_UPDATE,
    SYNC_VA,
    CsRig,
    add32,
    add64,
    branch,
    call,
    dump,
    finish_tiling,
    flush_cache2,
    jump,
    load_multiple,
    move32,
    move48,
    op,
    progress_load,
    progress_store,
    progress_wait,
    prot_region,
    req_resource,
    run_compute,
    run_fragment,
    run_fullscreen,
    set_sb_entry,
    store_multiple,
    store_state,
    sync_add32,
    sync_add64,
    sync_set32,
    sync_set64,
    trace_point,
    umin32,
    wait,
)
from test_sim_mcu_rig import csg_in, csg_out

LATEST_FLUSH = 0x10000  # USER page (mali-csf-registers-and-mmu.md §0)


@pytest.fixture
def rig():
    r = CsRig()
    r.scratch()
    yield r
    r.close()


@pytest.fixture
def q(rig):
    queue = rig.start(0, 0)
    rig.take_irq()
    return queue


# -- registers ---------------------------------------------------------------------------------------------


def test_move_add_and_umin(rig, q):
    rig.run(q, [
        move48(0, 0x1234_5678_9ABC),
        move32(2, 0xDEADBEEF),
        add32(3, 2, 0x11),  # 0xDEADBF00
        add32(4, 2, -0xDEADBEF0),  # -1 mod 2^32
        move48(6, 0xFFFF_FFFF_FFFF),
        add64(8, 6, 1),  # 0x1_0000_0000_0000: carries into the high word
        add64(10, 0, -0x9ABD),  # 0x1234_5677_FFFF
        umin32(12, 2, 3),
        umin32(13, 4, 3),  # unsigned: 0xFFFFFFFF is the larger
        *dump(0, 0x3FFF)])
    assert rig.words(OUT, 14) == [0x56789ABC, 0x1234, 0xDEADBEEF, 0xDEADBF00, 0xFFFFFFFF, 0, 0xFFFFFFFF,
                                  0xFFFF, 0, 0x10000, 0x5677FFFF, 0x1234, 0xDEADBEEF, 0xDEADBF00]


def test_move48_clears_the_high_half(rig, q):
    rig.run(q, [move32(1, 0xFFFFFFFF), move48(0, 5), *dump(0, 0b11)])
    assert rig.words(OUT, 2) == [5, 0]


def test_load_multiple_maps_bit_i_to_register_base_plus_i(rig, q):
    src = rig.scratch(0x4100_0000)
    for i in range(12):
        rig.vm.wr32(0x4100_0000 + 4 * i, 0x100 + i)
    rig.run(q, [
        move32(21, 0x5A5A), move48(88, 0x4100_0000),
        load_multiple(20, 88, 0b1010_0101, offset=8),  # words 2, 4, 7, 9 (+8 bytes = 2 words)
        *dump(20, 0xFF)])
    assert src.size >= 48
    assert rig.words(OUT, 8) == [0x102, 0x5A5A, 0x104, 0, 0, 0x107, 0, 0x109]


def test_store_multiple_writes_only_the_masked_words(rig, q):
    for i in range(6):
        rig.vm.wr32(OUT + 0x100 + 4 * i, 0xAAAAAAAA)
    rig.run(q, [move32(0, 1), move32(1, 2), move32(2, 3), move32(3, 4), move48(88, OUT + 0x110),
                store_multiple(0, 88, 0b1101, offset=-0x10)])
    assert rig.words(OUT + 0x100, 6) == [1, 0xAAAAAAAA, 3, 4, 0xAAAAAAAA, 0xAAAAAAAA]


# -- flow --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cond,value,taken", [
    (LEQUAL, 0, True), (LEQUAL, 1, False), (LEQUAL, 0xFFFFFFFF, True), (GREATER, 1, True),
    (GREATER, 0, False), (GREATER, 0x80000000, False), (EQUAL, 0, True), (EQUAL, 7, False), (NEQUAL, 7, True),
    (NEQUAL, 0, False),
    (LESS, 0xFFFFFFFF, True), (LESS, 0, False), (GEQUAL, 0, True), (GEQUAL, 0x80000000, False),
    (ALWAYS, 0, True),
])
def test_branch_conditions(rig, q, cond, value, taken):
    rig.run(q, [move32(0, value), branch(0, cond, 1), move32(1, 1), move32(2, 2), *dump(1, 0b11)])
    assert rig.words(OUT, 2) == [0 if taken else 1, 2]


def test_backward_branch_loop(rig, q):
    # r0 = 5; loop: r1 += 3; r0 -= 1; if r0 > 0 goto loop  (offset -3: relative to the next instruction)
    rig.run(q, [move32(0, 5), move32(1, 0), add32(1, 1, 3), add32(0, 0, -1), branch(0, GREATER, -3),
                *dump(0, 0b11)])
    assert rig.words(OUT, 2) == [0, 15]


def trail(marker: int) -> list[int]:
    """Append ``marker`` to a trail at [d88] and advance d88: shows the order streams ran in."""
    return [move32(70, marker), store_multiple(70, 88, 1), add64(88, 88, 4)]


def test_call_nesting_returns_when_the_byte_count_is_exhausted(rig, q):
    a, b = STREAM_VA, STREAM_VA + 0x100
    rig.scratch(STREAM_VA)
    callee_b = trail(0xB1) + [NOP]
    rig.vm.write_words(b, callee_b + trail(0xBAD))  # only len(callee_b) * 8 bytes are the callee
    stream_a = trail(0xA1) + [move48(80, b), move32(82, 8 * len(callee_b)), call(80, 82)] + trail(0xA2)
    rig.vm.write_words(a, stream_a)
    rig.run(q, [move48(88, OUT), move48(84, a), move32(86, 8 * len(stream_a)), move32(87, 0),
                call(84, 87),  # length 0: a no-op (§1.4)
                call(84, 86)] + trail(0xC1))
    assert rig.words(OUT, 5) == [0xA1, 0xB1, 0xA2, 0xC1, 0]


def test_jump_replaces_the_called_stream(rig, q):
    a, b = STREAM_VA, STREAM_VA + 0x100
    rig.scratch(STREAM_VA)
    rig.vm.write_words(b, trail(0xB1))
    stream_a = trail(0xA1) + [move48(80, b), move32(82, 24), jump(80, 82)] + trail(0xBAD)
    rig.vm.write_words(a, stream_a)
    rig.run(q, [move48(88, OUT), move48(84, a), move32(86, 8 * len(stream_a)), call(84, 86)] + trail(0xC1))
    assert rig.words(OUT, 4) == [0xA1, 0xB1, 0xC1, 0]


def test_call_stack_overflow_is_cs_fatal_0x4a(rig, q):
    rig.mcu.config.call_stack_depth = 3
    rig.scratch(STREAM_VA)
    rig.vm.write_words(STREAM_VA, [call(80, 82)])  # calls itself forever
    ring = [move48(80, STREAM_VA), move32(82, 8), call(80, 82)]
    rig.run(q, ring)
    assert rig.cs_events(q) == CS_FATAL
    assert rig.out32(q, FATAL) & 0xFF == 0x4A
    assert rig.out64(q, FATAL_INFO) == STREAM_VA  # the CALL that would have been the 4th level


# -- scoreboards and asynchronous work ---------------------------------------------------------------------


def test_run_signals_its_endpoint_entry_after_the_latency_and_wait_orders(rig, q):
    rig.scratch(DESC)
    rig.scratch(SYNC_VA)
    rig.mcu.config.run_latency_ns = 100_000
    t0 = rig.clock.now_ns()
    rig.submit(q, [
        move48(16, DESC), move48(60, SYNC_VA), move48(62, SYNC_VA + 8), move48(64, SYNC_VA + 16),
        move32(66, 1),
        set_sb_entry(1), run_compute(),
        sync_set32(60, 66),  # wait mask 0: lands at once
        sync_set32(62, 66, wait_mask=0b10),  # starts after the RUN (entry 1) completed
        wait(0b10), sync_set32(64, 66)])
    rig.settle(6e-6)
    assert rig.words(SYNC_VA, 5) == [1, 0, 0, 0, 0]
    rig.status_update(0)
    assert rig.out32(q, STATUS_SCOREBOARDS) == 0b11  # entry 1: the RUN; entry 0: the SYNC_SET waiting on it
    assert rig.out32(q, STATUS_BLOCKED_REASON) == 1  # SB_WAIT (§6.5)
    assert rig.out32(q, STATUS_WAIT) == 0b10 | 8 << 16  # SB_MASK, SB_SOURCE WAIT
    rig.clock.advance_to(t0 + 1_000 + 100_000 - 1)  # the run started cs_wake_latency_ns after the doorbell
    assert rig.words(SYNC_VA, 5) == [1, 0, 0, 0, 0]
    rig.settle(10e-6)
    assert rig.words(SYNC_VA, 5) == [1, 0, 1, 0, 1]
    rig.status_update(0)
    assert (rig.out32(q, STATUS_SCOREBOARDS), rig.out32(q, STATUS_BLOCKED_REASON)) == (0, 0)


def test_sync_ops_add_and_set_and_raise_sync_update(rig, q):
    rig.scratch(SYNC_VA)
    rig.vm.wr32(SYNC_VA, 0xFFFFFFFE)
    rig.vm.wr64(SYNC_VA + 0x10, 0xFFFF_FFFF_FFFF_FFFF)
    rig.run(q, [move48(60, SYNC_VA), move48(62, SYNC_VA + 0x10), move48(64, SYNC_VA + 0x20),
                move48(66, SYNC_VA + 0x30), move32(70, 3), move48(72, 0x1_0000_0002),
                sync_add32(60, 70),  # 0xFFFFFFFE + 3 wraps to 1
                sync_add64(62, 72),  # 2^64 - 1 + 0x1_0000_0002 wraps to 0x1_0000_0001
                sync_set32(64, 70), sync_set64(66, 72)])
    assert rig.vm.rd32(SYNC_VA) == 1 and rig.vm.rd32(SYNC_VA + 4) == 0  # error word untouched
    assert rig.vm.rd64(SYNC_VA + 0x10) == 0x1_0000_0001 and rig.vm.rd32(SYNC_VA + 0x18) == 0
    assert rig.vm.rd32(SYNC_VA + 0x20) == 3 and rig.vm.rd64(SYNC_VA + 0x30) == 0x1_0000_0002
    assert rig.take_irq() & 1  # JOB IRQ bit g = 0 (§9.4)
    assert (rig.rd32(csg_in(0)) ^ rig.rd32(csg_out(0))) & SYNC_UPDATE


def test_flush_cache2_counts_in_latest_flush_and_is_skipped_when_stale(rig, q):
    assert rig.r32(LATEST_FLUSH) == 0
    rig.run(q, [move32(94, 0), flush_cache2(94), wait(1)])  # flush ID 0 forces the flush
    assert rig.r32(LATEST_FLUSH) == 1
    rig.run(q, [move32(94, 0), flush_cache2(94), wait(1)])
    assert rig.r32(LATEST_FLUSH) == 2
    rig.run(q, [move32(94, 1), flush_cache2(94), wait(1)])  # a flush completed since ID 1 was sampled
    assert rig.r32(LATEST_FLUSH) == 2
    rig.run(q, [move32(94, 2), flush_cache2(94), wait(1)])  # nothing flushed since ID 2: flush
    assert rig.r32(LATEST_FLUSH) == 3


def test_flush_completes_after_its_latency(rig, q):
    rig.scratch(SYNC_VA)
    t0 = rig.clock.now_ns()
    rig.submit(q, [move32(94, 0), move48(60, SYNC_VA), move32(66, 1), flush_cache2(94, signal=2),
                   sync_set32(60, 66, wait_mask=0b100)])
    start = t0 + 1_000  # cs_wake_latency_ns after the doorbell
    rig.clock.advance_to(start + rig.mcu.config.flush_latency_ns - 1)
    assert rig.vm.rd32(SYNC_VA) == 0
    rig.clock.advance_to(start + rig.mcu.config.flush_latency_ns)
    assert rig.vm.rd32(SYNC_VA) == 1


def test_store_state_writes_the_timestamp_and_error_status(rig, q):
    t0 = rig.clock.now_ns()
    rig.run(q, [move48(60, OUT + 0x18), store_state(60, 0, offset=-0x18), store_state(60, 3)])
    ran = t0 + 1_000  # the run starts cs_wake_latency_ns after the doorbell
    assert rig.vm.rd64(OUT) == ran * 24_000_000 // 1_000_000_000  # TIMESTAMP at 24 MHz (§3.6)
    assert rig.vm.rd64(OUT + 0x18) == 0  # not in the error state


def test_store_state_of_a_misaligned_address_is_an_address_fault(rig, q):
    rig.run(q, [move48(60, OUT + 4), store_state(60, 0)])
    assert rig.out32(q, 0x80) & 0xFF == 0x5A and rig.out64(q, 0x88) == OUT + 4


def test_req_resource_is_reported(rig, q):
    rig.run(q, [req_resource(0b1011)])
    rig.status_update(0)
    assert rig.out32(q, STATUS_REQ_RESOURCE) == 0b1011


def test_progress_store_load_and_increments(rig, q):
    rig.run(q, [move48(20, 0x7_0000_0005), progress_store(20), wait(0, progress=1), wait(0, progress=1),
                progress_load(22), *dump(22, 0b11)])
    assert rig.words(OUT, 2) == [7, 7]


def test_progress_wait_waits_for_another_queue_of_the_group(rig):
    q0, q1 = rig.queue(0, 0), rig.queue(0, 1)
    rig.start_group(0, (q0, q1))
    rig.run(q1, [move48(20, 2), progress_wait(20, 0), move32(1, 0x11), *dump(1, 1)])
    assert rig.vm.rd32(OUT) == 0
    rig.status_update(0)
    assert rig.out32(q1, STATUS_BLOCKED_REASON) == 2  # PROGRESS_WAIT
    rig.run(q0, [wait(0, progress=1)])
    assert rig.vm.rd32(OUT) == 0
    rig.run(q0, [wait(0, progress=1)])
    assert rig.vm.rd32(OUT) == 0x11


def test_trace_point_and_finish_tiling_signal_their_entries(rig, q):
    rig.scratch(SYNC_VA)
    rig.run(q, [move48(60, SYNC_VA), move32(66, 9), set_sb_entry(3), finish_tiling(), trace_point(signal=4),
                sync_set32(60, 66, wait_mask=0b11000)], seconds=20e-6)
    assert rig.vm.rd32(SYNC_VA) == 9


# -- RUN_* descriptors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("setup,instr", [
    ([move48(18, DESC)], run_compute(spd=1)),  # SPD_1 = r18
    ([move48(40, DESC)], run_fragment()),  # FBD = r40:r41
    ([move48(30, DESC)], run_fullscreen(30)),  # DCD register named by the instruction
])
def test_run_with_its_descriptor_mapped_completes(rig, q, setup, instr):
    rig.scratch(DESC)
    rig.scratch(SYNC_VA)
    rig.run(q, setup + [move48(60, SYNC_VA), move32(66, 1), instr, wait(1), sync_set32(60, 66)],
            seconds=50e-6)
    assert rig.vm.rd32(SYNC_VA) == 1 and rig.cs_events(q) == 0


def test_run_with_a_null_descriptor_is_a_data_invalid_fault(rig, q):
    rig.run(q, [run_compute()])
    assert rig.out32(q, 0x80) & 0xFF == 0x58


def test_run_with_an_unmapped_descriptor_faults_with_the_mmu_code(rig, q):
    rig.run(q, [move48(16, 0x7000_0000), run_compute()])
    fault = rig.out32(q, 0x80) & 0xFF
    assert 0xC0 <= fault <= 0xC3 and rig.out64(q, 0x88) == 0x7000_0000
    assert rig.r32(0x2000) & (1 << 1)  # MMU_IRQ_RAWSTAT page fault bit for AS1
    assert rig.r32(0x2400 + 0x40 + 0x20) == 0x7000_0000  # AS1 FAULTADDRESS_LO


# -- invalid instructions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("word", [op(0x0A), op(0x13), op(0x1E), op(0x23), op(0x2D), op(0x36), op(0xFF),
                                  prot_region(4)])
def test_undefined_opcodes_are_cs_fatal_invalid_instruction(rig, q, word):
    rig.run(q, [NOP, word, move32(1, 1), *dump(1, 1)])
    assert rig.cs_events(q) == CS_FATAL
    assert rig.out32(q, FATAL) & 0xFF == 0x49
    assert rig.out64(q, FATAL_INFO) == q.ring_va + 8
    assert rig.vm.rd32(OUT) == 0  # nothing after it ran


def test_register_beyond_the_file_is_an_invalid_instruction(rig, q):
    rig.run(q, [move32(96, 1)])  # r0..r95 exist (96 work registers, §1.1)
    assert rig.out32(q, FATAL) & 0xFF == 0x49


def test_signal_slot_beyond_the_scoreboards_is_an_invalid_instruction(rig, q):
    rig.run(q, [move48(60, SYNC_VA), sync_set32(60, 66, signal=8)])  # entries 0..7
    assert rig.out32(q, FATAL) & 0xFF == 0x49


def test_store_state_cycle_count_counts_from_cycle_count_start(rig, q):
    rig.w32(0x030, 0x103)  # GPU_COMMAND CYCLE_COUNT_START (registers §1.5)
    started = rig.clock.now_ns()
    rig.settle(10e-6)
    t0 = rig.clock.now_ns()
    rig.run(q, [move48(60, OUT), store_state(60, 1)])
    ran = t0 + 1_000
    assert rig.vm.rd64(OUT) == (ran - started) * 198_000_000 // 1_000_000_000  # 198 MHz GPU clock


@pytest.mark.parametrize("setup,instr", [
    ([move48(40, DESC)], op(0x05, 1 << 32)),  # RUN_TILING, progress-increment: tiler context r40
    ([move48(40, DESC)], op(0x06, 1 << 32)),  # RUN_IDVS, progress-increment (malloc off)
    ([move48(16, DESC)], op(0x2C, 1 << 32 | 4)),  # RUN_COMPUTE_INDIRECT, SPD_0 = r16
    ([move48(16, DESC)], run_compute(progress=1)),
])
def test_every_run_kind_completes_and_increments_progress(rig, q, setup, instr):
    rig.scratch(DESC)
    rig.run(q, setup + [instr, wait(1), progress_load(20), *dump(20, 0b11)], seconds=50e-6)
    assert rig.words(OUT, 2) == [1, 0] and rig.cs_events(q) == 0


def test_jump_at_ring_level_continues_the_ring_afterwards(rig, q):
    rig.scratch(STREAM_VA)
    rig.vm.write_words(STREAM_VA, [move32(1, 0x1A)])
    rig.run(q, [move48(80, STREAM_VA), move32(82, 8), jump(80, 82), move32(2, 0x2B), *dump(1, 0b11)])
    assert rig.words(OUT, 2) == [0x1A, 0x2B]


def test_too_many_ops_in_flight_defer_the_stream(rig, q):
    rig.scratch(DESC)
    rig.mcu.config.run_latency_ns = 50_000
    runs = [run_compute()] * 17  # 16 may be in flight (model limit); the 17th waits for a slot
    rig.run(q, [move48(16, DESC)] + runs + [move32(1, 0x17), *dump(1, 1)], seconds=20e-6)
    rig.status_update(0)
    assert rig.out32(q, STATUS_BLOCKED_REASON) == 4  # DEFERRED (§6.5)
    assert rig.out64(q, 0x40) == q.ring_va + 8 * 17  # held at the 17th RUN
    rig.settle(200e-6)
    assert rig.vm.rd32(OUT) == 0x17


def test_an_endless_loop_yields_virtual_time_and_is_busy(rig, q):
    rig.mcu.config.cs_instr_ns = 1_000  # 256 instructions per run, then 256 us later the next run
    rig.run(q, [branch(0, ALWAYS, -1)], seconds=2e-3)
    executor = rig.mcu.executor
    assert 256 * 7 <= executor.instructions <= 256 * 9
    assert executor.is_busy(0, 0) and rig.active(q) == 1
