"""Queues: the per-job ring contents, ring wrap, user I/O pages, sync objects, credits, job checks.

Expected values come from the references (see tests/test_csf_sched_rig.py): the §1.9 words of panthor's
per-job sequence, the §2.2 page layout, the §2.1 sync-object layout, §3.12 job rules, §6.2 CS input
offsets, and the MMU reference's descriptor bits for no-exec (XN = bits 54:53) and uncached
(AttrIndx 0) mappings.
"""

from __future__ import annotations

import errno
import struct

import numpy as np
import pytest
from test_csf_sched_rig import DATA_VA, JOB_BYTES, MCU_KERNEL_WINDOW, STREAM_VA, raises_errno, rig

from uio_driver.csf.builder import CsBuilder
from uio_driver.csf.group import QueueSpec
from uio_driver.csf.isa import CsFlushMode, CsOtherFlushMode, decode
from uio_driver.csf.jobseq import panthor_job_instructions
from uio_driver.csf.queue import job_template

XN = 3 << 53  # PXN | UXN
ATTRINDX = 0b111 << 2


def _ring_words(queue: object, start: int, count: int) -> list[int]:
    ring = queue.ring.buffer  # type: ignore[attr-defined]
    raw = ring.read(0, ring.size)
    words = struct.unpack(f"<{ring.size // 8}Q", raw)
    n = len(words)
    return [words[(start // 8 + i) % n] for i in range(count)]


def test_job_ring_words_are_panthors_sequence_instruction_by_instruction() -> None:
    with rig() as r:
        vm = r.vm()
        group = r.group(vm)
        va, size = r.nop_stream(vm)
        job = r.dev.submit(group, 0, va, size, latest_flush=0x2A)
        r.wait(job)
        q = group.queues[0]
        words = _ring_words(q, job.ring_start, 16)
        reference = panthor_job_instructions(va, size, q.sync_va, 0x2A)
        assert [decode(w) for w in words] == [decode(w) for w in reference]
        # §1.9 worked encodings on a 96-register CS (addr_reg 92, val_reg 94), independent of the encoder.
        assert words == [0x025E0000_00000000 | 0x2A, 0x24005E00_00000233, 0x015C0000_00000000 | va,
                         0x025E0000_00000000 | size, 0x03000000_00010000, 0x20005C5E_00000000,
                         0x015C0000_00000000 | q.sync_va, 0x015E0000_00000001, 0x03000000_00FF0000,
                         0x33005C5E_00000001, 0x2F000000_00000000] + [0] * 5
        # The queue's sync object is slot index × 16 of the group's sync-object buffer (§2.3 step 15).
        assert q.sync_va == group.sync.va
        assert job.ring_end - job.ring_start == JOB_BYTES


def test_job_template_matches_the_reference_function_for_extreme_values() -> None:
    t = job_template()
    cases = [(64, 8, 8, 0), (0xFFFF_FFFF_FFC0, 0xFFFF_FFF8, 0xFFFF_FFFF_FFF8, 0xFFFF_FFFF),
             (0x1000000, 0x40, 0x8000_0000_1000, 0x00AB_CDEF),
             (0x5555_5555_5540, 0x5555_5550, 0x2A_AAAA_AAA8, 1)]
    for args in cases:
        assert list(t.words(*args)) == panthor_job_instructions(*args)


def test_second_queue_uses_the_next_sync_object_slot() -> None:
    with rig() as r:
        vm = r.vm()
        group = r.group(vm, queues=2)
        stream = r.nop_stream(vm)
        job = r.submit(group, stream, queue=1)
        r.wait(job)
        q0, q1 = group.queues
        assert q1.sync_va == q0.sync_va + 16
        raw = group.sync.buffer.read(0, 32)
        seq0, status0, _, seq1, status1, _ = struct.unpack("<QII QII".replace(" ", ""), raw)
        assert (seq0, status0, seq1, status1) == (0, 0, 1, 0)


def test_ring_wraps_at_the_end_with_monotonic_offsets() -> None:
    with rig() as r:
        vm = r.vm()
        group = r.group(vm, ring=4096)
        stream = r.nop_stream(vm)
        jobs = []
        for _ in range(40):  # a 4 KiB ring holds 32 jobs of 128 bytes
            jobs.append(r.submit(group, stream))
            r.wait(jobs[-1])
        q = group.queues[0]
        assert [j.ring_start for j in jobs[31:34]] == [31 * 128, 32 * 128, 33 * 128]
        assert q.seqno == 40 and all(not j.failed for j in jobs)
        io = q.user_io.buffer
        insert, extract_init = struct.unpack("<QQ", io.read(0, 16))
        (extract,) = struct.unpack("<Q", io.read(0x1000, 8))
        assert insert == extract == 40 * 128  # byte offsets never wrap (§2.2)
        assert extract_init == 39 * 128  # input.extract = output.extract at the last submission
        # Job 33 (offset 4096) landed at the start of the ring: its sync MOVE48 names this queue's object.
        words = struct.unpack("<16Q", q.ring.buffer.read(0, 128))
        assert words[6] == 0x015C0000_00000000 | q.sync_va and words[0] >> 56 == 0x02


def test_a_job_split_across_the_ring_end_is_written_in_two_parts() -> None:
    with rig() as r:
        vm = r.vm()
        group = r.group(vm, ring=4096)
        q = group.queues[0]
        q.insert = 4096 - 64  # white box: an offset a profiling job (24 instructions) could leave
        job = q.append(STREAM_VA, 8, 0, r.clock.now_ns())
        ring = struct.unpack("<512Q", q.ring.buffer.read(0, 4096))
        expected = panthor_job_instructions(STREAM_VA, 8, q.sync_va, 0)
        assert list(ring[504:512]) == expected[:8] and list(ring[:8]) == expected[8:]
        assert job.ring_end == 4096 + 64
        r.dev.destroy_group(group)  # never started: its job is cancelled
        assert job.error == errno.ECANCELED


def test_user_io_pages_and_cs_input_as_the_firmware_reads_them() -> None:
    with rig() as r:
        vm = r.vm()
        group = r.group(vm, ring=8192)
        job = r.submit(group, r.nop_stream(vm))
        r.wait(job)
        q = group.queues[0]
        lo, hi = MCU_KERNEL_WINDOW
        assert lo <= q.input_va < hi and q.output_va == q.input_va + 0x1000
        slot = group.csg_slot
        assert slot is not None
        cs_in = r.mcu.layout().groups[slot].streams[0].input_va
        req, config = struct.unpack("<II", r.mcu.read(cs_in, 8))
        (ack_irq_mask,) = struct.unpack("<I", r.mcu.read(cs_in + 0x0C, 4))
        base, size = struct.unpack("<QI", r.mcu.read(cs_in + 0x10, 12))
        rb_in, rb_out = struct.unpack("<QQ", r.mcu.read(cs_in + 0x30, 16))
        assert (base, size, rb_in, rb_out) == (q.ringbuf_base, 8192, q.input_va, q.output_va)
        assert config == 0 | (slot + 1) << 8  # priority 0, doorbell slot + 1 (§7.2)
        assert ack_irq_mask == 0xFFFFFFFF
        assert req & 0x507 == 0x501  # IDLE_SYNC_WAIT | IDLE_EMPTY | STATE START (§6.4)
        # Through the MCU's own view (AS0) the input page holds insert = one job.
        assert r.p.sim.mmu.gpu_read64(0, q.input_va) == JOB_BYTES


def test_queue_objects_are_mapped_no_exec_and_uncached() -> None:
    with rig() as r:
        vm = r.vm()
        group = r.group(vm)
        q = group.queues[0]
        mcu_vm = r.dev.firmware.vm
        assert mcu_vm is not None
        for which, va in (("ring", q.ringbuf_base), ("sync", q.sync_va)):
            d = vm.translate(va).descriptor
            assert d & XN == XN and d & ATTRINDX == 0, which
            assert vm.layout.region_of(va, 8) == "kernel", which
        d = mcu_vm.translate(q.input_va).descriptor
        assert d & XN == XN and d & ATTRINDX == 0
        assert mcu_vm.translate(group.suspend_buf.va).descriptor & XN == XN


@pytest.mark.parametrize("ring", [0, 2048, 4097, 6144, 131072, -4096])
def test_bad_ring_sizes_are_refused_with_einval(ring: int) -> None:
    with rig() as r:
        vm = r.vm()
        before = r.dev.mmu.allocator.state()
        with raises_errno(errno.EINVAL):
            r.dev.create_group(vm, [QueueSpec(0, ring)])
        assert r.dev.mmu.allocator.state() == before


def test_bad_jobs_are_refused_with_einval_and_change_nothing() -> None:
    with rig() as r:
        vm = r.vm()
        group = r.group(vm)
        q = group.queues[0]
        r.wait(r.submit(group, r.nop_stream(vm)))
        ring_before, insert_before = q.ring.buffer.read(0, 4096), q.insert
        rings_before = r.doorbell_rings(1)
        bad = [(0, STREAM_VA, 12, 0), (0, STREAM_VA + 8, 8, 0), (0, STREAM_VA, 0, 0), (0, 0, 8, 0),
               (0, STREAM_VA, 8, 1 << 24), (1, STREAM_VA, 8, 0), (-1, STREAM_VA, 8, 0)]
        for args in bad:
            with raises_errno(errno.EINVAL):
                r.sched.submit(group, *args)
        # All-or-nothing: a batch with one bad job queues nothing (§3.12).
        with raises_errno(errno.EINVAL):
            r.sched.submit_many(group, [(0, STREAM_VA, 8, 0), (0, STREAM_VA, 12, 0)])
        assert q.ring.buffer.read(0, 4096) == ring_before and q.insert == insert_before
        assert r.doorbell_rings(1) == rings_before


def test_zero_size_job_is_a_sync_point() -> None:
    with rig() as r:
        vm = r.vm()
        group = r.group(vm)
        q = group.queues[0]
        first = r.dev.submit(group, 0, 0, 0)
        assert first.done and not first.failed and q.insert == 0  # nothing before it: done at once
        job = r.submit(group, r.compute_stream(vm))
        sync = r.dev.submit(group, 0, 0, 0)
        assert not sync.done and q.insert == JOB_BYTES  # nothing written for it
        r.wait(sync)
        assert job.done and sync.seqno == job.seqno == 1


def test_doorbell_of_the_slot_is_rung_once_per_submission() -> None:
    with rig() as r:
        vm = r.vm()
        group = r.group(vm)
        stream = r.nop_stream(vm)
        r.wait(r.submit(group, stream))
        slot = group.csg_slot
        assert slot is not None
        before = r.doorbell_rings(slot + 1)
        r.wait(r.submit(group, stream))
        assert r.doorbell_rings(slot + 1) == before + 1
        jobs = r.sched.submit_many(group, [(0, stream[0], stream[1], 0)] * 3)
        assert r.doorbell_rings(slot + 1) == before + 2  # one ring for the batch's queue
        r.wait(jobs)


def test_ring_is_never_overrun_and_a_full_ring_refuses_with_ebusy() -> None:
    with rig() as r:
        vm = r.vm()
        group = r.group(vm, ring=4096)
        q = group.queues[0]
        assert q.credit_limit == 4096 // 8
        r.faults.run_never_completes = True
        stream = r.compute_stream(vm)
        jobs = [r.submit(group, stream) for _ in range(32)]
        assert q.insert == 4096
        with raises_errno(errno.EBUSY):
            r.sched.submit(group, 0, *stream, 0, room_timeout=0.01)
        assert q.insert == 4096 and len(q.in_flight) == 32
        r.faults.run_never_completes = False
        r.dev.destroy_group(group)
        assert all(j.error == errno.ECANCELED for j in jobs)


def test_a_batch_larger_than_the_ring_waits_for_room() -> None:
    with rig() as r:
        vm = r.vm()
        group = r.group(vm, ring=4096)
        stream = r.nop_stream(vm)
        jobs = r.sched.submit_many(group, [(0, stream[0], stream[1], 0)] * 100)
        r.wait(jobs)
        assert [j.seqno for j in jobs] == list(range(1, 101))
        assert all(j.done and not j.failed for j in jobs) and group.queues[0].seqno == 100


def test_a_job_stores_a_pattern_seen_through_the_dma_buffer() -> None:
    pattern = [0x11223344, 0x55667788, 0x99AABBCC, 0xDDEEFF00, 0x0BADF00D, 0xFEEDFACE, 0xCAFED00D, 0x8BADF00D]
    with rig() as r:
        vm = r.vm()
        out = r.data(vm)
        group = r.group(vm)

        def build(cs: CsBuilder) -> None:
            cs.move48(40, DATA_VA + 0x40)
            for i, word in enumerate(pattern):
                cs.move32(50 + i, word)
            cs.store_multiple(40, 50, 0xFF)
            cs.wait_all()
            cs.move32(60, 0)
            cs.flush_cache2(60, l2=CsFlushMode.CLEAN_AND_INVALIDATE, lsc=CsFlushMode.CLEAN_AND_INVALIDATE,
                            other=CsOtherFlushMode.INVALIDATE, signal_slot=1)
            cs.wait_all()

        job = r.submit(group, r.stream(vm, build))
        r.wait(job)
        job.result()
        assert list(np.frombuffer(out.read(0x40, 32), dtype="<u4")) == pattern
        assert out.read(0, 0x40) == bytes(0x40)
        assert group.queues[0].seqno == 1


def test_ring_writes_on_a_device_memory_carveout_give_the_same_words() -> None:
    with rig() as r:
        r.dev.mmu.allocator.device_memory = True  # as on UIO / /dev/mem mappings: no memcpy
        vm = r.vm()
        group = r.group(vm)
        va, size = r.nop_stream(vm)
        job = r.dev.submit(group, 0, va, size, latest_flush=7)
        r.wait(job)
        q = group.queues[0]
        assert _ring_words(q, 0, 16) == panthor_job_instructions(va, size, q.sync_va, 7)
        assert not job.failed and q.seqno == 1
