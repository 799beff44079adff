"""Job timeouts, faults and GPU resets: the culprit is isolated, everyone else keeps running.

Expected behaviour: cs-isa-and-uapi.md §5.4 (5 s of no progress → TIMEDOUT, jobs ETIMEDOUT), §5.5
(CS_FAULT: that job EINVAL, group usable; CS_FATAL: FATAL_FAULT + fatal_queues, later submissions
EINVAL; 0x41 CS_UNRECOVERABLE → GPU reset; an MMU fault kills the groups of that VM only), §5.6 (reset:
suspend the others, reload the firmware after a hang, resume them from their suspend buffers; a group
whose suspension fails is TIMEDOUT and INNOCENT), §3.13 (state flags 1 TIMEDOUT, 2 FATAL_FAULT,
4 INNOCENT). Fault hooks are the simulator's (``sim.mcu.faults``, ``sim.mmu.inject_fault``).
"""

from __future__ import annotations

import errno

import pytest
from test_csf_sched_rig import STREAM_VA, Rig, raises_errno, rig

from uio_driver.csf.builder import CsBuilder
from uio_driver.csf.group import Group
from uio_driver.csf.queue import Job
from uio_driver.csf.scheduler import SchedulerConfig
from uio_driver.errors import Timeout
from uio_driver.mmu import VM

TIMEDOUT, FATAL_FAULT, INNOCENT = 1, 2, 4


def _hang(r: Rig, group: Group, vm: VM) -> Job:
    """Submit a job whose RUN_COMPUTE never completes, and wait until it was issued."""
    r.faults.run_never_completes = True
    job = r.submit(group, r.compute_stream(vm, offset=0x6000))
    r.run_until(lambda: r.clock.now_ns() > 2_000_000, 0.01, "the hung RUN_COMPUTE to be issued")
    r.faults.run_never_completes = False
    return job


def test_job_timeout_resets_the_gpu_and_the_other_groups_resume_and_complete() -> None:
    with rig(run_latency_ns=1_500_000_000) as r:
        vm = r.vm()
        bad, good = r.group(vm), r.group(vm)
        hung = _hang(r, bad, vm)
        t_hung = hung.submitted_ns
        jobs = [r.submit(good, r.compute_stream(vm)) for _ in range(4)]  # 4 × 1.5 s, across the reset
        r.wait([hung, *jobs], timeout=30)
        assert hung.error == errno.ETIMEDOUT
        with pytest.raises(Timeout) as info:
            hung.result()
        assert info.value.errno == errno.ETIMEDOUT
        assert all(j.done and not j.failed for j in jobs) and good.queues[0].seqno == 4
        record = r.sched.recovery.resets[0]
        assert len(r.sched.recovery.resets) == 1 and record.kind == "slow"
        assert 5_000_000_000 <= record.time_ns - t_hung < 5_010_000_000  # panthor's 5000 ms
        assert record.killed == (bad.handle,) and record.suspended == (good.handle,)
        assert r.dev.firmware.resets == ["slow"] and [b.kind for b in r.mcu.boots] == ["cold", "slow"]
        assert int(r.dev.group_state(bad).flags) == TIMEDOUT
        assert int(r.dev.group_state(good).flags) == 0
        # The good group came back from its suspend buffer; the bad one refuses new work.
        assert "RESUME" in [name for slot in r.mcu.csg for _, name in slot.transitions]
        with raises_errno(errno.EINVAL):
            r.submit(bad, r.nop_stream(vm))
        r.wait(r.submit(good, r.nop_stream(vm)))


def test_job_timeout_is_configurable_and_can_terminate_without_reset() -> None:
    config = SchedulerConfig(job_timeout_s=0.5, reset_on_timeout=False)
    with rig(config) as r:
        vm = r.vm()
        bad, good = r.group(vm), r.group(vm)
        hung = _hang(r, bad, vm)
        t_hung = hung.submitted_ns
        r.wait(hung, timeout=2)
        assert hung.error == errno.ETIMEDOUT and 500_000_000 <= r.clock.now_ns() - t_hung < 520_000_000
        assert r.sched.recovery.resets == [] and r.dev.firmware.resets == []
        assert r.sched.stats.terminates == 1 and int(bad.state().flags) == TIMEDOUT
        # The sync object was released for GPU waiters: seqno = last, status = ~0 (§2.5).
        assert (bad.queues[0].seqno, bad.queues[0].sync_status) == (1, 0xFFFFFFFF)
        r.wait(r.submit(good, r.nop_stream(vm)))


def test_progress_resets_the_timeout() -> None:
    config = SchedulerConfig(job_timeout_s=0.1)
    with rig(config, run_latency_ns=60_000_000) as r:
        vm = r.vm()
        group = r.group(vm)
        jobs = [r.submit(group, r.compute_stream(vm)) for _ in range(5)]  # 5 × 60 ms > 100 ms in total
        r.wait(jobs)
        assert all(not j.failed for j in jobs) and not r.sched.recovery.resets


def test_cs_fault_fails_that_job_and_the_group_stays_usable() -> None:
    with rig() as r:
        vm = r.vm()
        group = r.group(vm)

        def build(cs: CsBuilder) -> None:
            cs.move32(10, 1)
            cs.move32(11, 2)
            cs.nop()

        stream = r.stream(vm, build)
        # Ring: MOVE32, FLUSH_CACHE2, MOVE48, MOVE32, WAIT, CALL (6), then the stream: the 8th instruction
        # executed is its second MOVE32.
        r.faults.instruction_fault_at = 8
        job = r.submit(group, stream)
        r.wait(job)
        assert job.error == errno.EINVAL and "INSTR_INVALID_ENC" in (job.fault or "")
        state = r.dev.group_state(group)
        assert (int(state.flags), state.fatal_queues, state.faulted_queues) == (0, 0, 1)
        again = r.submit(group, stream)
        r.wait(again)
        assert not again.failed and group.queues[0].seqno == 2


def test_cs_fatal_marks_the_group_and_refuses_later_submissions() -> None:
    with rig() as r:
        vm = r.vm()
        bad = r.group(vm)
        r.faults.instruction_fault_at = 8
        r.faults.instruction_fault_fatal = True
        r.faults.instruction_fault_type = 0x49  # CS_INVALID_INSTRUCTION
        stream = r.nop_stream(vm)
        jobs = [r.submit(bad, stream) for _ in range(3)]
        r.wait(jobs)
        assert all(j.error == errno.EINVAL for j in jobs)
        state = r.dev.group_state(bad)
        assert (int(state.flags), state.fatal_queues) == (FATAL_FAULT, 1)
        assert r.sched.recovery.resets == []  # only CS_UNRECOVERABLE resets the GPU
        with raises_errno(errno.EINVAL):
            r.submit(bad, stream)
        other = r.group(vm)
        r.wait(r.submit(other, stream))
        assert other.queues[0].seqno == 1


def test_cs_unrecoverable_resets_the_gpu_and_spares_the_other_group() -> None:
    with rig(run_latency_ns=2_000_000) as r:
        vm = r.vm()
        good = r.group(vm)
        long_job = r.submit(good, r.compute_stream(vm, runs=5))
        r.run_until(lambda: good.resident and r.clock.now_ns() > 1_000_000, 0.1, "good group running")
        bad = r.group(vm)
        r.faults.instruction_fault_at = 3  # its third instruction
        r.faults.instruction_fault_fatal = True
        r.faults.instruction_fault_type = 0x41
        fatal = r.submit(bad, r.nop_stream(vm))
        r.wait([fatal, long_job])
        assert fatal.error == errno.EINVAL and not long_job.failed
        record = r.sched.recovery.resets[0]
        assert "CS_UNRECOVERABLE" in record.reason and record.killed == (bad.handle,)
        assert int(r.dev.group_state(bad).flags) == FATAL_FAULT
        assert int(r.dev.group_state(good).flags) == 0


def test_mmu_fault_kills_only_the_group_of_that_vm() -> None:
    with rig(run_latency_ns=1_000_000) as r:
        vm_bad, vm_good = r.vm(), r.vm()
        bad, good = r.group(vm_bad), r.group(vm_good)
        good_jobs = [r.submit(good, r.compute_stream(vm_good, runs=4)) for _ in range(3)]
        r.run_until(lambda: good.resident, 0.1, "good group resident")
        bad_job = r.submit(bad, r.compute_stream(vm_bad))
        r.run_until(lambda: bad.resident, 0.1, "bad group resident")
        # The RUN_COMPUTE's SPD read (compute_stream points r16 at STREAM_VA + 0x7000) faults.
        assert vm_bad.as_nr is not None
        r.p.sim.mmu.inject_fault(vm_bad.as_nr, STREAM_VA + 0x7000, 4, 0xC3)
        later = r.submit(bad, r.compute_stream(vm_bad))
        r.wait([bad_job, later, *good_jobs])
        assert later.error == errno.EINVAL
        state = r.dev.group_state(bad)
        assert int(state.flags) == FATAL_FAULT and state.fatal_queues == 1
        assert r.dev.mmu.faults and r.dev.mmu.faults[0].as_nr == vm_bad.as_nr
        assert all(not j.failed for j in good_jobs) and int(good.state().flags) == 0
        assert r.sched.recovery.resets == []
        # The VM stays usable for new groups (§5.5).
        fresh = r.group(vm_bad)
        r.wait(r.submit(fresh, r.nop_stream(vm_bad)))
        assert fresh.queues[0].seqno == 1


def test_unacknowledged_csg_request_resets_and_marks_the_victim_innocent() -> None:
    with rig() as r:
        vm = r.vm()
        group = r.group(vm)
        r.faults.never_ack_csg = 0x7  # STATE requests are never acknowledged
        job = r.submit(group, r.nop_stream(vm))
        r.run_until(lambda: r.sched.recovery.resets, 1.0, "the reset")
        r.faults.never_ack_csg = 0
        r.wait(job)
        assert job.error == errno.ETIMEDOUT
        state = r.dev.group_state(group)
        assert int(state.flags) == TIMEDOUT | INNOCENT
        assert "timedout" in r.sched.recovery.resets[0].reason
        fresh = r.group(vm)
        r.wait(r.submit(fresh, r.nop_stream(vm)))
        assert fresh.queues[0].seqno == 1


def test_destroying_a_group_whose_terminate_times_out_resets_first() -> None:
    with rig(run_latency_ns=5_000_000) as r:
        vm = r.vm()
        group, other = r.group(vm), r.group(vm)
        job = r.submit(group, r.compute_stream(vm, runs=100))  # 500 ms: still running when destroyed
        other_job = r.submit(other, r.compute_stream(vm, runs=100, offset=0x5000))
        r.run_until(lambda: group.resident and other.resident, 0.1, "both resident")
        slot = group.csg_slot
        assert slot is not None
        r.faults.never_ack_csg, r.faults.never_ack_csg_slots = 0x7, 1 << slot
        r.dev.destroy_group(group)
        r.faults.never_ack_csg = 0
        assert len(r.sched.recovery.resets) == 1 and job.error == errno.ECANCELED
        assert r.sched.slots[slot] is None and group.handle not in r.sched.groups
        r.wait(other_job)
        assert not other_job.failed  # suspended cleanly by the reset and resumed
