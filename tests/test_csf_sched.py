"""Groups and the CSG scheduler: GROUP_CREATE checks, CSG slot programming, rotation of more groups than
slots with SUSPEND/RESUME, priorities, idle groups yielding, address-space limits, destroy.

Expected values: cs-isa-and-uapi.md §3.11 (check order and errnos), §5.1 (8 CSG slots, distinct
firmware priorities from 15, AS1..7 for user VMs, 10 ms tick), §5.3 (rotation); csf-firmware-and-
interfaces.md §5.2 (CSG input offsets: allow_compute 0x20, allow_fragment 0x28, allow_other 0x30,
endpoint_req 0x34, suspend_buf 0x40, protm_suspend_buf 0x48, config 0x50) and §5.5 (endpoint_req bits).
"""

from __future__ import annotations

import errno
import struct

import pytest
from test_csf_sched_rig import MCU_KERNEL_WINDOW, Rig, raises_errno, rig

from uio_driver.csf.group import GroupPriority, GroupStateFlags, GroupStatus, QueueSpec
from uio_driver.csf.scheduler import SchedulerConfig


def _csg_input(r: Rig, slot: int) -> dict[str, int]:
    """CSG input fields of ``slot`` as the firmware reads them (through AS0), at the §5.2 offsets."""
    va = r.mcu.layout().groups[slot].input_va
    raw = r.mcu.read(va, 0x58)
    allow_compute, allow_fragment = struct.unpack_from("<QQ", raw, 0x20)
    allow_other, endpoint_req = struct.unpack_from("<II", raw, 0x30)
    suspend_buf, protm = struct.unpack_from("<QQ", raw, 0x40)
    (config,) = struct.unpack_from("<I", raw, 0x50)
    return {"allow_compute": allow_compute, "allow_fragment": allow_fragment, "allow_other": allow_other,
            "endpoint_req": endpoint_req, "suspend_buf": suspend_buf, "protm_suspend_buf": protm,
            "config": config}


# -- GROUP_CREATE checks (§3.11) -------------------------------------------------------------------------


@pytest.mark.parametrize(("queues", "params", "word"), [
    (0, {}, "queues"),
    (9, {}, "queues"),  # more than the firmware's 8 CS slots
    (33, {}, "queues"),  # MAX_CS_PER_CSG
    (0, {"priority": 7}, "queues"),  # the queue count is checked first
    (1, {"priority": 4}, "priority"),
    (1, {"compute_core_mask": 0x2}, "compute_core_mask"),  # core 1 is not in 0x50005
    (1, {"fragment_core_mask": 0x50005 | 1 << 32}, "fragment_core_mask"),
    (1, {"tiler_core_mask": 0x2}, "tiler_core_mask"),
    (1, {"compute_core_mask": 0x5, "max_compute_cores": 3}, "max_compute_cores"),
    (1, {"max_tiler_cores": 2}, "max_tiler_cores"),
])
def test_group_create_checks_in_panthors_order(queues: int, params: dict[str, int], word: str) -> None:
    with rig() as r:
        vm = r.vm()
        before = r.dev.mmu.allocator.state()
        with raises_errno(errno.EINVAL) as info:
            r.dev.create_group(vm, [QueueSpec()] * queues, **params)
        assert word in str(info.value)
        assert r.dev.mmu.allocator.state() == before and not r.sched.groups


def test_group_create_refuses_bad_queues_and_unknown_vms() -> None:
    with rig() as r:
        vm = r.vm()
        with raises_errno(errno.EINVAL):
            r.dev.create_group(vm, [QueueSpec(0, 4096), QueueSpec(16, 4096)])
        other = r.dev.create_vm()
        r.dev.destroy_vm(other)
        with raises_errno(errno.EINVAL):
            r.dev.create_group(other, [QueueSpec()])
        # Zero maxima are accepted (no lower bound upstream, §7.2 #10).
        group = r.dev.create_group(vm, [QueueSpec()], max_compute_cores=0, max_fragment_cores=0,
                                   max_tiler_cores=0)
        assert group.state().flags == GroupStateFlags.NONE and group.status is GroupStatus.CREATED


def test_group_memory_is_all_or_nothing_when_the_carveout_runs_out() -> None:
    with rig() as r:
        vm = r.vm()
        alloc = r.dev.mmu.allocator
        hog = alloc.alloc(alloc.largest_free - (96 << 10))  # leave ~96 KiB: not enough for 8 × 64 KiB rings
        before = alloc.state(), r.dev.kmem.space(vm).state()
        with raises_errno(errno.ENOMEM):
            r.dev.create_group(vm, [QueueSpec(0, 65536)] * 8)
        assert (alloc.state(), r.dev.kmem.space(vm).state()) == before
        hog.free()


# -- CSG slot programming (§7.4) -------------------------------------------------------------------------


def test_started_group_csg_input_and_state() -> None:
    with rig() as r:
        vm = r.vm()
        group = r.group(vm, compute_core_mask=0x5, fragment_core_mask=0x50000, tiler_core_mask=0x1,
                        max_compute_cores=2, max_fragment_cores=1, max_tiler_cores=1)
        r.wait(r.submit(group, r.nop_stream(vm)))
        slot = group.csg_slot
        assert slot == 0 and group.status is GroupStatus.ACTIVE
        csg = _csg_input(r, slot)
        assert csg["allow_compute"] == 0x5 and csg["allow_fragment"] == 0x50000 and csg["allow_other"] == 1
        # compute 7:0 = 2, fragment 15:8 = 1, tiler 19:16 = 1, priority 31:28 = 15 (first resident group)
        assert csg["endpoint_req"] == 0xF0010102
        assert csg["config"] == vm.as_nr and vm.as_nr in range(1, 8)
        lo, hi = MCU_KERNEL_WINDOW
        assert csg["suspend_buf"] == group.suspend_buf.va and lo <= group.suspend_buf.va < hi
        assert csg["protm_suspend_buf"] == group.protm_suspend_buf.va
        # Suspend buffers are sized from the firmware's CSG control block (sim McuConfig defaults).
        assert group.suspend_buf.size >= r.mcu.config.suspend_size
        assert group.protm_suspend_buf.size >= r.mcu.config.protm_suspend_size
        assert r.mcu.csg[slot].transitions[-1][1] == "START"


def test_default_masks_are_every_present_core() -> None:
    with rig() as r:
        vm = r.vm()
        group = r.group(vm)
        r.wait(r.submit(group, r.nop_stream(vm)))
        csg = _csg_input(r, group.csg_slot or 0)
        assert (csg["allow_compute"], csg["allow_fragment"], csg["allow_other"]) == (0x50005, 0x50005, 1)
        assert csg["endpoint_req"] & 0xFFFFF == 4 | 4 << 8 | 1 << 16


# -- rotation ----------------------------------------------------------------------------------------------


def test_twenty_groups_on_eight_slots_all_complete_with_suspend_and_resume() -> None:
    with rig(run_latency_ns=3_000_000) as r:
        vms = [r.vm() for _ in range(3)]
        groups = [r.group(vms[i % 3]) for i in range(20)]
        streams = {vm.id: r.compute_stream(vm, runs=3) for vm in vms}
        jobs = [r.submit(g, streams[g.vm.id]) for _ in range(2) for g in groups]
        resident_counts = []

        def progress() -> bool:
            resident_counts.append(len(r.sched.resident_groups()))
            return all(j.done for j in jobs)

        r.run_until(progress, 30.0, "all jobs")
        assert all(not j.failed for j in jobs)
        for g in groups:  # every job's sync object reached its seqno, read from memory
            seqno, status = struct.unpack("<QI", g.sync.buffer.read(0, 12))
            assert (seqno, status) == (2, 0)
        assert max(resident_counts) == 8
        stats = r.sched.stats
        assert stats.suspends > 0 and stats.resumes > 0 and stats.starts == 20
        names = [name for slot in r.mcu.csg for _, name in slot.transitions]
        assert names.count("SUSPEND") == stats.suspends and names.count("RESUME") == stats.resumes


def test_rotation_happens_on_ten_millisecond_ticks() -> None:
    with rig(run_latency_ns=50_000_000) as r:
        vm = r.vm()
        groups = [r.group(vm) for _ in range(9)]
        stream = r.compute_stream(vm)
        start = r.clock.now_ns()
        jobs = [r.submit(g, stream) for g in groups]
        r.wait(jobs)
        suspends = sorted(t - start for slot in r.mcu.csg for t, name in slot.transitions
                          if name == "SUSPEND")
        # The first eviction waits for the first 10 ms tick after the ninth group queued its job; while a
        # group waits, one eviction per 10 ms tick (within the 0.1 ms the CSG requests take).
        before_first_completion = [t for t in suspends if t < 50_000_000]
        assert len(before_first_completion) == 4
        assert 10_000_000 <= suspends[0] < 10_100_000
        gaps = [b - a for a, b in zip(before_first_completion, before_first_completion[1:], strict=False)]
        assert all(10_000_000 <= gap < 10_100_000 for gap in gaps)
        assert all(not j.failed for j in jobs)


def test_high_priority_group_is_picked_before_waiting_low_ones_and_priorities_are_distinct() -> None:
    with rig(run_latency_ns=20_000_000) as r:
        vm = r.vm()
        low = [r.group(vm, priority=GroupPriority.LOW) for _ in range(9)]
        stream = r.compute_stream(vm)
        for g in low:
            r.submit(g, stream)
        r.run_until(lambda: len(r.sched.resident_groups()) == 8, 1.0, "8 resident")
        high = r.group(vm, priority=GroupPriority.HIGH)
        r.submit(high, stream)
        r.run_until(lambda: high.resident, 0.05, "the HIGH group on a slot")
        prios = {g.handle: _csg_input(r, g.csg_slot or 0)["endpoint_req"] >> 28
                 for g in r.sched.resident_groups()}
        assert prios[high.handle] == 15
        assert sorted(prios.values(), reverse=True) == list(range(15, 15 - len(prios), -1))


def test_idle_groups_yield_their_slot_at_once() -> None:
    with rig() as r:
        vm = r.vm()
        groups = [r.group(vm) for _ in range(8)]
        stream = r.nop_stream(vm)
        r.wait([r.submit(g, stream) for g in groups])
        assert all(g.resident for g in groups)  # idle, but nobody needs the slots
        ninth = r.group(vm)
        t0 = r.clock.now_ns()
        r.wait(r.submit(ninth, stream))
        assert r.clock.now_ns() - t0 < 10_000_000  # no rotation tick needed: an idle group was evicted
        assert sum(g.resident for g in groups) == 7 and ninth.status is GroupStatus.ACTIVE


def test_at_most_seven_vms_are_resident_at_once() -> None:
    with rig(run_latency_ns=5_000_000) as r:
        vms = [r.vm() for _ in range(8)]
        groups = [r.group(vm) for vm in vms]
        jobs = [r.submit(g, r.compute_stream(g.vm)) for g in groups]
        seen: list[int] = []

        def done() -> bool:
            seen.append(len({g.vm.id for g in r.sched.resident_groups()}))
            return all(j.done for j in jobs)

        r.run_until(done, 10.0, "jobs on 8 VMs")
        assert max(seen) == 7 and all(not j.failed for j in jobs)


def test_destroying_a_resident_group_terminates_it_and_frees_everything() -> None:
    with rig(run_latency_ns=1_000_000) as r:
        vm = r.vm()
        alloc = r.dev.mmu.allocator
        before = alloc.state(), r.dev.kmem.space(vm).state()
        group = r.group(vm, queues=2)
        job = r.submit(group, r.compute_stream(vm, runs=10))
        r.run_until(lambda: group.resident, 0.1, "resident")
        slot = group.csg_slot
        assert slot is not None
        r.dev.destroy_group(group)
        assert r.mcu.csg[slot].transitions[-1][1] == "TERMINATE"
        assert job.done and job.error == errno.ECANCELED
        assert r.sched.slots[slot] is None
        assert (alloc.state(), r.dev.kmem.space(vm).state()) == before
        with raises_errno(errno.EINVAL):
            r.dev.destroy_group(group)


def test_group_state_of_a_fresh_and_a_busy_group() -> None:
    with rig() as r:
        vm = r.vm()
        group = r.group(vm)
        state = r.dev.group_state(group)
        assert (int(state.flags), state.fatal_queues, state.innocent) == (0, 0, False)
        r.wait(r.submit(group, r.nop_stream(vm)))
        assert r.dev.group_state(group).to_dict()["state"] == 0


def test_waiting_on_the_job_interrupt_line_completes_jobs_too() -> None:
    with rig(SchedulerConfig(wait_on_irq_line=True), run_latency_ns=2_000_000) as r:
        vm = r.vm()
        groups = [r.group(vm) for _ in range(10)]  # more groups than slots: ticks while sleeping on the line
        jobs = [r.submit(g, r.compute_stream(vm, runs=6)) for g in groups]
        r.wait(jobs)
        assert all(not j.failed for j in jobs) and r.sched.stats.suspends > 0
