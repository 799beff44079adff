"""CS_FAULT / CS_FATAL / TILER_OOM on the simulated MCU and the executor's fault hooks.

Protocol facts: csf-firmware-and-interfaces.md §6.3 (fault/fatal/heap_* output fields), §6.4 (CS ACK
bits 26, 30, 31), §6.6 (exception types), §7.6 (host order), §7.7 and §9.6 (stall until the host has
copied the bit into REQ *and* toggled the CS doorbell bit + rung doorbell 0); cs-isa-and-uapi.md §1.4
and §1.7 (error state, error propagation into sync objects, ERROR_BARRIER), §2.5, §6.4 (OOM answer).
"""

from __future__ import annotations

import pytest
from test_sim_cs_rig import (
    CS_FATAL,
    CS_FAULT,
    DESC,
    FATAL,
    FATAL_INFO,
    FAULT,
    FAULT_INFO,
    GREATER,
    HEAP_ADDRESS,
    HEAP_END,
    HEAP_FRAG_END,
    HEAP_START,
    HEAP_VT_END,
    HEAP_VT_START,
    NOP,
    OUT,
    START,
    STREAM_VA,
    SYNC_VA,
    TERMINATE,
    TILER_OOM,
    CsRig,
    dump,
    finish_fragment,
    heap_operation,
    heap_set,
    move32,
    move48,
    panthor_job,
    run_compute,
    run_tiling,
    set_exception_handler,
    store_multiple,
    sync_set32,
    sync_wait64,
    wait,
)
from test_sim_mcu_rig import cs_in, csg_in, csg_out

AS1_FAULTSTATUS, AS1_FAULTADDRESS = 0x2440 + 0x1C, 0x2440 + 0x20  # AS n at 0x2400 + n*0x40 (§3.2)
MMU_IRQ_RAWSTAT = 0x2000
UNMAPPED = 0x7000_0000


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


def job(rig: CsRig, q, words: list[int], sync: int = SYNC_VA, va: int = STREAM_VA) -> None:
    rig.vm.write_words(va, words)
    rig.submit(q, panthor_job(0, va, 8 * len(words), sync))
    rig.settle(50e-6)


# -- CS_FAULT ----------------------------------------------------------------------------------------------


def test_mmu_fault_mid_stream_stalls_until_ack_and_doorbell_then_propagates_the_error(rig, q):
    job(rig, q, [move32(1, 0xA), *dump(1, 1), move48(80, UNMAPPED), store_multiple(1, 80, 1),
                 move32(2, 0xB), *dump(2, 1, at=4)])
    assert rig.cs_events(q) == CS_FAULT
    assert rig.take_irq() == 1  # JOB IRQ bit g
    assert (rig.rd32(csg_out(0) + 0x0C) ^ rig.rd32(csg_in(0) + 0x0C)) & 1  # cs_irq_req bit s toggled
    fault = rig.out32(q, FAULT)
    assert 0xC0 <= fault & 0xFF <= 0xC3  # TRANSLATION_FAULT at some level (§6.6), data 0
    assert rig.out64(q, FAULT_INFO) == UNMAPPED
    status = rig.r32(AS1_FAULTSTATUS)  # the walker latched the MMU fault registers too
    assert status & 0xFF == fault & 0xFF and (status >> 8) & 3 == 3  # access type WRITE (§3.7)
    assert rig.r32(AS1_FAULTADDRESS) == UNMAPPED and rig.r32(MMU_IRQ_RAWSTAT) & 1 << 1
    assert 0 < rig.extract(q) < q.insert  # the faulting job's ring range holds extract (§2.5)
    assert rig.words(OUT, 2) == [0xA, 0]
    rig.ring_cs(0, 0)  # doorbell without the ACK copy: still held
    rig.ring_csg(0)
    rig.settle(100e-6)
    assert rig.words(OUT, 2) == [0xA, 0] and rig.vm.rd64(SYNC_VA) == 0
    rig.ack_cs(q, CS_FAULT, doorbell=False)  # ACK copy without the doorbell: still held
    rig.settle(100e-6)
    assert rig.words(OUT, 2) == [0xA, 0]
    rig.ring_cs(0, 0)
    rig.ring_csg(0)
    rig.settle(100e-6)
    # The stream continued in the error state; SYNC_ADD64 with error-propagate marked the object (§1.4).
    assert rig.words(OUT, 2) == [0xA, 0xB]
    assert rig.vm.rd64(SYNC_VA) == 1 and rig.vm.rd32(SYNC_VA + 8) == 1
    # ERROR_BARRIER ended the error state: the next job's object stays clean.
    job(rig, q, [NOP], sync=SYNC_VA + 0x10)
    assert rig.vm.rd64(SYNC_VA + 0x10) == 1 and rig.vm.rd32(SYNC_VA + 0x18) == 0
    assert rig.cs_events(q) == 0


def test_fetch_fault_abandons_the_called_stream(rig, q):
    rig.submit(q, panthor_job(0, UNMAPPED, 64, SYNC_VA))
    rig.settle(50e-6)
    assert rig.cs_events(q) == CS_FAULT and rig.out64(q, FAULT_INFO) == UNMAPPED
    assert (rig.r32(AS1_FAULTSTATUS) >> 8) & 3 == 2  # READ: instructions are data (rings are no-exec)
    rig.ack_cs(q, CS_FAULT)
    rig.settle(50e-6)
    assert rig.vm.rd64(SYNC_VA) == 1 and rig.vm.rd32(SYNC_VA + 8) == 1
    assert rig.extract(q) == q.insert


def test_injected_fault_hits_the_instruction_it_covers(rig, q):
    words = [move32(1, 1), move32(2, 2), move32(3, 3), move32(4, 4), move32(5, 5), *dump(1, 0x1F)]
    rig.sim.mmu.inject_fault(1, STREAM_VA + 3 * 8, 8, 0xC3)  # §3.7 TRANSLATION_FAULT level 3
    job(rig, q, words)
    assert rig.out32(q, FAULT) & 0xFF == 0xC3 and rig.out64(q, FAULT_INFO) == STREAM_VA + 24
    state = rig.mcu.executor.state(0, 0)
    assert state is not None and state.regs[1:4] == [1, 2, 3]  # the three before it ran


def test_sync_wait_rejecting_a_failed_object_inherits_the_fault(rig, q):
    rig.vm.wr64(SYNC_VA, 5)
    rig.vm.wr32(SYNC_VA + 8, 1)  # error word of a 64-bit object
    rig.run(q, [move48(60, SYNC_VA), move48(62, 1), sync_wait64(60, 62, GREATER, reject=1)])
    assert rig.cs_events(q) == CS_FAULT
    assert (rig.out32(q, FAULT) & 0xFF, rig.out64(q, FAULT_INFO)) == (0x4B, SYNC_VA)


# -- CS_FATAL ----------------------------------------------------------------------------------------------


def test_fatal_stream_never_runs_again_until_terminate_and_restart(rig, q):
    rig.run(q, [move32(1, 1), 0x0A << 56, move32(1, 2), *dump(1, 1)])
    assert rig.cs_events(q) == CS_FATAL
    assert (rig.out32(q, FATAL) & 0xFF, rig.out64(q, FATAL_INFO)) == (0x49, q.ring_va + 8)
    rig.ack_cs(q, CS_FATAL, doorbell=False)  # panthor acks FATAL at once (§7.6)
    rig.run(q, [move32(1, 3), *dump(1, 1)])
    rig.ring_cs(0, 0)
    rig.ring_csg(0)
    rig.settle(100e-6)
    assert rig.vm.rd32(OUT) == 0
    assert not rig.mcu.executor.is_busy(0, 0)  # dead, not busy
    rig.set_state(0, TERMINATE)
    rig.start_group(0, (q,), state=START)  # restarted: input.extract = output.extract (§7.4)
    rig.settle()
    assert rig.vm.rd32(OUT) == 3  # the job queued while the stream was dead runs now
    rig.run(q, [move32(1, 4), *dump(1, 1)])
    assert rig.vm.rd32(OUT) == 4


def test_injected_cs_unrecoverable(rig, q):
    rig.mcu.executor.inject_fatal(0, 0)
    rig.settle()
    assert rig.cs_events(q) == CS_FATAL and rig.out32(q, FATAL) & 0xFF == 0x41
    assert rig.take_irq() & 1


# -- fault hooks -------------------------------------------------------------------------------------------


def test_instruction_fault_hook_faults_the_nth_instruction_once(rig, q):
    rig.mcu.faults.instruction_fault_at = 3
    rig.run(q, [move32(1, 1), move32(2, 2), move32(3, 3), move32(4, 4), *dump(1, 0xF)])
    assert (rig.out32(q, FAULT) & 0xFF, rig.out64(q, FAULT_INFO)) == (0x51, q.ring_va + 16)
    assert rig.mcu.faults.instruction_fault_at == 0
    rig.ack_cs(q, CS_FAULT)
    rig.settle()
    assert rig.words(OUT, 4) == [1, 2, 0, 4]  # the faulting instruction was skipped, the rest ran


def test_instruction_fault_hook_can_be_fatal_unrecoverable(rig, q):
    rig.mcu.faults.instruction_fault_at = 2
    rig.mcu.faults.instruction_fault_type = 0x41
    rig.mcu.faults.instruction_fault_fatal = True
    rig.run(q, [NOP, NOP, NOP])
    assert rig.cs_events(q) == CS_FATAL
    assert (rig.out32(q, FATAL) & 0xFF, rig.out64(q, FATAL_INFO)) == (0x41, q.ring_va + 8)


def test_run_never_completes_hook_leaves_the_job_pending(rig, q):
    rig.scratch(DESC)
    rig.mcu.faults.run_never_completes = True
    job(rig, q, [move48(16, DESC), run_compute()])
    rig.settle(10e-3)
    assert rig.vm.rd64(SYNC_VA) == 0
    assert rig.extract(q) == 8 * 8  # held at the WAIT for all scoreboard entries (§1.9, 9th word)
    assert rig.mcu.executor.is_busy(0, 0)


# -- tiler OOM ---------------------------------------------------------------------------------------------

HEAP_CTX = 0x6000_0000
CHUNK1, CHUNK2 = 0x6100_0000, 0x6200_0000
CHUNK_SIZE = 0x20000  # 128 KiB: the smallest panthor accepts (§6.1)


def chunk_word(va: int) -> int:
    return (va & ~0xFFF) | CHUNK_SIZE >> 12  # §6.2 chunk-header ``next`` encoding


@pytest.fixture
def heap_rig(rig):
    rig.mcu.config.tiler_chunk_demand = 1
    rig.mcu.config.heap_initial_chunks = 1
    for va in (HEAP_CTX, DESC, CHUNK1, CHUNK2):
        rig.scratch(va)
    return rig


def tiling_pass(marker: int) -> list[int]:
    """One render pass's tiling half (§6.3): vertex/tiler started, RUN_TILING, completed."""
    return [heap_operation(0), run_tiling(), wait(1), heap_operation(1), move32(1, marker), *dump(1, 1)]


def answer_oom(rig: CsRig, q, chunk: int) -> None:
    """panthor §6.4 step 5: heap_start = heap_end = chunk, copy ACK.TILER_OOM, CS doorbell bit, doorbell 0."""
    rig.wr64(cs_in(q.g, q.s) + HEAP_START, chunk)
    rig.wr64(cs_in(q.g, q.s) + HEAP_END, chunk)
    rig.ack_cs(q, TILER_OOM)
    rig.settle(100e-6)


def test_tiler_oom_round_trip_grows_the_heap(heap_rig, q):
    rig = heap_rig
    prologue = [move48(40, DESC), move48(20, HEAP_CTX), heap_set(20)]
    rig.run(q, prologue + tiling_pass(1) + tiling_pass(2))
    assert rig.vm.rd32(OUT) == 1  # the first pass fitted in the initial chunk
    assert rig.cs_events(q) == TILER_OOM and rig.take_irq() & 1
    assert rig.out64(q, HEAP_ADDRESS) == HEAP_CTX
    assert (rig.out32(q, HEAP_VT_START), rig.out32(q, HEAP_VT_END), rig.out32(q, HEAP_FRAG_END)) == (2, 1, 0)
    rig.status_update(0)
    assert rig.out64(q, 0x40) == q.ring_va + 8 * (3 + 7 + 1)  # held at the second RUN_TILING
    answer_oom(rig, q, chunk_word(CHUNK1))
    assert rig.vm.rd32(OUT) == 2 and rig.cs_events(q) == 0
    assert rig.vm.rd64(CHUNK1) == 0  # the first grown chunk ends the list (§6.2)
    rig.run(q, tiling_pass(3))
    assert rig.cs_events(q) == TILER_OOM and rig.out32(q, HEAP_VT_START) == 3
    answer_oom(rig, q, chunk_word(CHUNK2))
    assert rig.vm.rd32(OUT) == 3
    assert rig.vm.rd64(CHUNK2) == chunk_word(CHUNK1)  # the firmware linked the new chunk to the previous


def test_oom_answered_with_no_memory_calls_the_exception_handler(heap_rig, q):
    rig = heap_rig
    # The incremental-rendering handler flushes the pass: fragment completed, its chunk returned.
    handler = [move32(2, 0xEE), *dump(2, 1, at=8), finish_fragment(22, 24)]
    rig.vm.write_words(STREAM_VA, handler)
    prologue = [move48(40, DESC), move48(20, HEAP_CTX), heap_set(20), move48(84, STREAM_VA),
                move32(86, 8 * len(handler)), set_exception_handler(84, 86)]
    rig.run(q, prologue + tiling_pass(1) + tiling_pass(2))
    assert rig.cs_events(q) == TILER_OOM
    answer_oom(rig, q, 0)
    assert rig.vm.rd32(OUT + 8) == 0xEE and rig.vm.rd32(OUT) == 2  # handler ran, then the pass fitted
    assert rig.cs_events(q) == 0


def test_oom_answered_with_no_memory_waits_for_fragment_work(heap_rig):
    rig = heap_rig
    tiler, frag = rig.queue(0, 0), rig.queue(0, 1)
    rig.start_group(0, (tiler, frag))
    rig.take_irq()
    prologue = [move48(40, DESC), move48(20, HEAP_CTX), heap_set(20)]
    rig.run(tiler, prologue + tiling_pass(1) + tiling_pass(2))
    answer_oom(rig, tiler, 0)
    assert rig.vm.rd32(OUT) == 1 and rig.cs_events(tiler) == 0  # waiting, not faulted
    rig.status_update(0)
    assert rig.out32(tiler, 0x60) == 5  # blocked reason RESOURCE (§6.5)
    rig.run(frag, [move48(20, HEAP_CTX), heap_set(20), finish_fragment(22, 24)])
    assert rig.vm.rd32(OUT) == 2


def test_oom_answered_with_no_memory_and_nothing_to_wait_for_faults(heap_rig, q):
    rig = heap_rig
    rig.run(q, [move48(40, DESC), move48(20, HEAP_CTX), heap_set(20), run_tiling(), heap_operation(0),
                run_tiling(), move32(1, 7), *dump(1, 1)])
    assert rig.cs_events(q) == TILER_OOM
    answer_oom(rig, q, 0)
    assert rig.cs_events(q) == CS_FAULT and rig.out32(q, FAULT) & 0xFF == 0x0F
    rig.ack_cs(q, CS_FAULT)
    rig.settle()
    assert rig.vm.rd32(OUT) == 7  # the pass was given up; the stream went on


def test_a_fatal_stream_leaves_its_irq_pending_and_runs_no_new_work(rig, q):
    rig.run(q, [0x0A << 56])
    assert rig.rd32(csg_out(0) + 0x0C) ^ rig.rd32(csg_in(0) + 0x0C) == 1  # cs_irq_req bit 0 pending (§7.1)
    rig.run(q, [move48(60, SYNC_VA), move32(62, 1), sync_set32(60, 62)])
    assert rig.vm.rd32(SYNC_VA) == 0 and rig.extract(q) == 8  # still at the word after the invalid one
