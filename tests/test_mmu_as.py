"""Address spaces and VMs against the simulated G610: enable/disable register values (read from the
model's live config), the P3 and P1 update sequences as seen in the MMIO trace, unbound VMs, AS slot
LRU with AS0 for the MCU, VA layouts, timeouts and the bring-up stage.

Register offsets and values are written here from mali-csf-registers-and-mmu.md (§3.2 AS n at
0x2400 + n*0x40: LOCKADDR +0x10, COMMAND +0x18, STATUS +0x28; GPU_COMMAND 0x030; §5.5/§5.6 values),
independent of the driver's register database.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Iterator
from typing import Any

import pytest

from uio_driver.bringup import Bringup
from uio_driver.errors import BadAddress, Busy, DeviceNotFound, InvalidArgument, Timeout
from uio_driver.mmu import SZ_2M, FlushMode, Mmu, Prot, mcu_vm_layout, user_vm_layout
from uio_driver.sim import SimPlatform
from uio_driver.sim.mmu import AsConfig

MEMATTR = 0x4C4C4C4C_8C4C8F4C  # §3.6
TRANSCFG = 0x00000000_420001C6  # §3.5
GPU_COMMAND = 0x030
FLUSH_23304 = 0x23304  # §1.5: L2 and LSC clean+invalidate, other invalidate
K4 = 0x1000
LOCK, UNLOCK, FLUSH_PT, FLUSH_MEM, UPDATE = 2, 3, 4, 5, 1


def as_off(n: int, reg: int) -> int:
    return 0x2400 + n * 0x40 + reg


@pytest.fixture
def rig() -> Iterator[tuple[SimPlatform, Mmu]]:
    platform = SimPlatform(strict=True, trace=True)
    bringup = Bringup(platform)
    bringup.run(until="mmu")  # later stages (firmware) would create the MCU VM
    mmu = bringup.objects["mmu"]
    assert isinstance(mmu, Mmu)
    try:
        yield platform, mmu
    finally:
        platform.close()


def marked_trace(platform: SimPlatform) -> list[tuple[str, int, int]]:
    """MMIO writes plus ('SYNC', pa, size) markers for every sync_for_device, in order."""
    trace = platform.sim.trace
    assert trace is not None
    platform.dma_allocator().on_sync = lambda pa, size: trace.append(
        (platform.clock.now_ns(), "SYNC", pa, size))
    trace.clear()
    return trace  # type: ignore[return-value]


def events(trace: list, n: int) -> list[tuple[str, int]]:
    """The interesting events: AS n LOCKADDR/COMMAND writes, GPU_COMMAND writes, syncs (collapsed)."""
    out: list[tuple[str, int]] = []
    for _, kind, off, value in trace:
        if kind == "SYNC":
            if not out or out[-1][0] != "sync":
                out.append(("sync", 0))
        elif kind == "W" and off == as_off(n, 0x18):
            out.append(("as_command", value))
        elif kind == "W" and off == GPU_COMMAND:
            out.append(("gpu_command", value))
    return out


def lockaddr_written(trace: list, n: int) -> int:
    lo = [v for _, k, off, v in trace if k == "W" and off == as_off(n, 0x10)][-1]
    hi = [v for _, k, off, v in trace if k == "W" and off == as_off(n, 0x14)][-1]
    return hi << 32 | lo


# -- enable / disable ---------------------------------------------------------------------------------


def test_bringup_stage_programs_the_mmu_irq_mask_only(rig: tuple[SimPlatform, Mmu]) -> None:
    platform, mmu = rig
    assert platform.mmio.read32(0x2008) == 0xFFFF  # §5.9
    assert mmu.vms == {} and all(platform.sim.mmu.live_config(n) == AsConfig() for n in range(8))
    assert mmu.as_numbers == list(range(8))


def test_enable_and_disable_values_seen_by_the_simulator(rig: tuple[SimPlatform, Mmu]) -> None:
    platform, mmu = rig
    vm = mmu.create_vm()
    assert mmu.activate(vm) == 1  # lowest free user AS
    assert platform.sim.mmu.live_config(1) == AsConfig(vm.pt.root_pa, MEMATTR, TRANSCFG)
    assert platform.mmio.read32(as_off(1, 0x28)) & 1 == 0  # UPDATE completed
    flushes = len(platform.sim.gpu.flushes)
    mmu.deactivate(vm)
    assert platform.sim.mmu.live_config(1) == AsConfig(0, 0, 1)  # §5.6: TRANSCFG_LO = 1 (UNMAPPED)
    assert platform.sim.gpu.flushes[flushes][1:] == (3, 3, 2)  # P3 disable flush 0x23304
    assert vm.as_nr is None and mmu.owner[1] is None


def test_mcu_vm_uses_as0_and_its_layout(rig: tuple[SimPlatform, Mmu]) -> None:
    platform, mmu = rig
    mcu = mmu.create_mcu_vm()
    assert (mcu.id, mcu.layout.user_end) == (0, 1 << 32)
    assert mmu.activate(mcu) == 0
    assert platform.sim.mmu.live_config(0) == AsConfig(mcu.pt.root_pa, MEMATTR, TRANSCFG)
    with pytest.raises(Busy):
        mmu.create_mcu_vm()
    buf = platform.dma_allocator().alloc(K4)
    with pytest.raises(InvalidArgument) as exc:
        mcu.map(buf, 1 << 32)  # beyond the MCU's 4 GiB
    assert exc.value.errno == errno.EINVAL
    mcu.map(buf, (1 << 32) - K4)


# -- update sequences ---------------------------------------------------------------------------------


def test_p3_sequence_locks_before_writing_and_flushes_then_unlocks(rig: tuple[SimPlatform, Mmu]) -> None:
    platform, mmu = rig
    vm = mmu.create_vm()
    n = mmu.activate(vm)
    buf = platform.dma_allocator().alloc(0x2000)
    trace = marked_trace(platform)
    vm.map(buf, 0x4F000, flags=Prot.NOEXEC)
    assert events(trace, n) == [("as_command", LOCK), ("sync", 0), ("gpu_command", FLUSH_23304),
                                ("as_command", UNLOCK)]
    assert lockaddr_written(trace, n) == 0x40010  # §3.4 worked example (0x4F000, 0x2000)
    assert platform.sim.mmu.locked_region(n) is None
    trace.clear()
    vm.unmap(0x4F000, K4)
    assert events(trace, n) == [("as_command", LOCK), ("sync", 0), ("gpu_command", FLUSH_23304),
                                ("as_command", UNLOCK)]
    # (0x4F000, 0x1000): fls(0xFFF) = 12 -> 15, width 14; base = 0x4F000 & ~0x3FFF = 0x4C000.
    assert lockaddr_written(trace, n) == 0x4C00E


@pytest.mark.parametrize(("mode", "command"), [(FlushMode.P1_FLUSH_PT, FLUSH_PT),
                                               (FlushMode.P1_FLUSH_MEM, FLUSH_MEM)])
def test_p1_sequence_writes_then_locks_and_flushes(rig: tuple[SimPlatform, Mmu], mode: FlushMode,
                                                   command: int) -> None:
    platform, mmu = rig
    mmu.flush_mode = mode
    vm = mmu.create_vm()
    n = mmu.activate(vm)
    buf = platform.dma_allocator().alloc(SZ_2M, align=SZ_2M)
    trace = marked_trace(platform)
    vm.map(buf, 0x200000)
    assert events(trace, n) == [("sync", 0), ("as_command", LOCK), ("as_command", command)]
    assert lockaddr_written(trace, n) == 0x200014  # §3.4 worked example (0x200000, 2 MiB)
    assert platform.sim.mmu.locked_region(n) is None  # FLUSH_PT/FLUSH_MEM unlock implicitly


def test_unbound_vm_records_the_range_and_touches_no_register(rig: tuple[SimPlatform, Mmu]) -> None:
    platform, mmu = rig
    vm = mmu.create_vm()
    buf = platform.dma_allocator().alloc(0x3000)
    trace = marked_trace(platform)
    vm.map(buf, 0x10000)
    vm.unmap(0x11000, K4)
    assert all(kind == "SYNC" for _, kind, *_ in trace if kind != "R")
    assert vm.pt.dirty == [(0x10000, 0x3000), (0x11000, K4)]
    mmu.activate(vm)
    assert vm.pt.dirty == []  # UPDATE invalidated the whole AS


def test_failed_lock_rolls_the_update_back(rig: tuple[SimPlatform, Mmu]) -> None:
    platform, mmu = rig
    vm = mmu.create_vm()
    n = mmu.activate(vm)
    alloc = platform.dma_allocator()
    buf = alloc.alloc(SZ_2M, align=SZ_2M)
    before = (alloc.state(), {t.phys: alloc.peek(t.phys, K4) for t in vm.pt.table_pages()})
    platform.sim.faults.as_active_stuck = True
    platform.sim.faults.as_active_stuck_mask = 1 << n
    t0 = platform.clock.now()
    with pytest.raises(Timeout) as exc:
        vm.map(buf, 0x40000000)
    assert exc.value.register == f"AS{n}_STATUS" and f"AS{n}" in str(exc.value)
    assert 0.1 <= platform.clock.now() - t0 < 0.2  # panthor's 100 ms, in virtual time
    assert (alloc.state(), {t.phys: alloc.peek(t.phys, K4) for t in vm.pt.table_pages()}) == before
    with pytest.raises(BadAddress):
        vm.translate(0x40000000)


def test_stuck_update_on_enable_names_the_as_and_register(rig: tuple[SimPlatform, Mmu]) -> None:
    platform, mmu = rig
    platform.sim.faults.as_active_stuck = True
    platform.sim.faults.as_active_stuck_mask = 1 << 1
    with pytest.raises(Timeout, match="AS1") as exc:
        mmu.activate(mmu.create_vm())
    assert exc.value.register == "AS1_STATUS" and exc.value.errno == errno.ETIMEDOUT
    assert "MALI_UIO_FAIL" in exc.value.fail_line() and "reg=AS1_STATUS" in exc.value.fail_line()


# -- slots ------------------------------------------------------------------------------------------------


def test_lru_eviction_and_rebind_with_nine_vms_on_seven_slots(rig: tuple[SimPlatform, Mmu]) -> None:
    platform, mmu = rig
    mcu = mmu.create_mcu_vm()
    mmu.activate(mcu)
    vms = [mmu.create_vm() for _ in range(9)]
    alloc = platform.dma_allocator()
    for vm in vms:
        vm.map(alloc.alloc(K4), 0x100000)
    assert [mmu.activate(vm) for vm in vms[:7]] == [1, 2, 3, 4, 5, 6, 7]
    mmu.activate(vms[0])  # VM 1 used again: VM 2 is now the least recently used
    assert mmu.activate(vms[7]) == 2 and vms[1].as_nr is None
    assert mmu.activate(vms[8]) == 3 and vms[2].as_nr is None
    assert platform.sim.mmu.live_config(2).transtab == vms[7].pt.root_pa
    assert mcu.as_nr == 0 and platform.sim.mmu.live_config(0).transtab == mcu.pt.root_pa
    # An evicted VM keeps its tables and is re-bound on its next activation (evicting VM 4).
    assert mmu.activate(vms[1]) == 4 and vms[3].as_nr is None
    assert vms[1].translate(0x100000).level == 3
    assert platform.sim.mmu.live_config(4) == AsConfig(vms[1].pt.root_pa, MEMATTR, TRANSCFG)
    assert {vm.as_nr for vm in vms if vm.as_nr is not None} == {1, 2, 3, 4, 5, 6, 7}


def test_slot_choice_errors(rig: tuple[SimPlatform, Mmu]) -> None:
    _, mmu = rig
    a, b = mmu.create_vm(), mmu.create_vm()
    mmu.activate(a, slot=5)
    for vm, slot in ((b, 0), (b, 5), (b, 8)):
        with pytest.raises(InvalidArgument):
            mmu.activate(vm, slot=slot)
    with pytest.raises(InvalidArgument):
        mmu.activate(a, slot=6)  # already bound elsewhere
    mcu = mmu.create_mcu_vm()
    with pytest.raises(InvalidArgument):
        mmu.activate(mcu, slot=1)
    mmu.destroy_vm(a)
    with pytest.raises(InvalidArgument):
        mmu.activate(a)
    with pytest.raises(InvalidArgument):
        a.map(None, 0)  # type: ignore[arg-type]


# -- VM layout and argument checks -----------------------------------------------------------------------


def test_user_vm_layout_matches_vm_create() -> None:
    # cs-isa-and-uapi.md §3.7 worked values for a 48-bit GPU VA.
    assert user_vm_layout(0).to_dict() == {"user_start": 0, "user_end": 1 << 47, "kernel_start": 1 << 47,
                                           "kernel_end": 1 << 48}
    assert user_vm_layout(1 << 39).user_end == 1 << 47
    # full - 256 MiB is the largest request: kernel range = 256 MiB at the top.
    top = user_vm_layout((1 << 48) - (256 << 20))
    assert (top.kernel_start, top.kernel_end) == ((1 << 48) - (256 << 20), 1 << 48)
    # A request just below that: rounddown_pow_of_two(256 MiB + 4 KiB) = 256 MiB.
    assert user_vm_layout((1 << 48) - (256 << 20) - K4).kernel_start == (1 << 48) - (256 << 20)
    with pytest.raises(InvalidArgument):
        user_vm_layout((1 << 48) - (256 << 20) + K4)
    assert mcu_vm_layout().user_end == 1 << 32


def test_vm_map_checks(rig: tuple[SimPlatform, Mmu]) -> None:
    platform, mmu = rig
    vm = mmu.create_vm()
    alloc = platform.dma_allocator()
    buf = alloc.alloc(0x4000)
    bad: list[tuple[dict[str, Any], type[Exception]]] = [
        ({"offset": 0x800}, InvalidArgument), ({"size": 0x1800}, InvalidArgument),
        ({"offset": 0x3000, "size": 0x2000}, InvalidArgument), ({"size": 0}, InvalidArgument),
        ({"flags": 0x10}, InvalidArgument),
    ]
    for kwargs, exc in bad:
        with pytest.raises(exc):
            vm.map(buf, 0x10000, **kwargs)
    with pytest.raises(InvalidArgument) as err:
        vm.map(buf, (1 << 47) - K4)  # runs into the kernel range
    assert "user VA range" in str(err.value) and err.value.errno == errno.EINVAL
    vm.map(buf, 1 << 47, kernel=True)
    with pytest.raises(InvalidArgument):
        vm.map(buf, 0x10000, kernel=True)  # the user range with kernel=True
    other = SimPlatform()
    try:
        with pytest.raises(BadAddress):
            vm.map(other.dma_allocator().alloc(K4), 0x10000)  # another GPU's memory
    finally:
        other.close()
    buf.free()
    with pytest.raises(BadAddress):
        vm.map(buf, 0x10000)
    with pytest.raises(InvalidArgument):
        vm.unmap(0x10000, 0)


def test_destroy_and_close_return_all_table_memory(rig: tuple[SimPlatform, Mmu]) -> None:
    platform, mmu = rig
    alloc = platform.dma_allocator()
    start = alloc.state()
    vm = mmu.create_vm()
    mmu.activate(vm)
    buf = alloc.alloc(SZ_2M, align=SZ_2M)
    vm.map(buf, 0x1_0000_0000, max_block=K4)
    buf_state = alloc.state()
    mmu.destroy_vm(vm)
    assert platform.sim.mmu.live_config(1) == AsConfig(0, 0, 1)
    buf.free()
    assert alloc.state() == start
    assert buf_state != start
    mmu.close()
    assert alloc.state() == start


def test_post_reset_forgets_bindings(rig: tuple[SimPlatform, Mmu]) -> None:
    platform, mmu = rig
    vm = mmu.create_vm()
    mmu.activate(vm)
    from uio_driver.gpu import Gpu

    gpu: Gpu = mmu.gpu
    gpu.soft_reset()
    gpu.power_on_l2()
    mmu.post_reset()
    assert vm.as_nr is None and platform.mmio.read32(0x2008) == 0xFFFF
    assert mmu.activate(vm) == 1
    assert platform.sim.mmu.live_config(1).transtab == vm.pt.root_pa


def test_slots_follow_as_present_even_without_probe() -> None:
    from uio_driver.gpu import Gpu
    from uio_driver.sim import SimConfig

    platform = SimPlatform(config=SimConfig(as_present=0x0F))
    try:
        gpu = Gpu(platform)  # not probed: the MMU reads AS_PRESENT itself
        mmu = Mmu(gpu)
        assert mmu.as_numbers == [0, 1, 2, 3]
        vms = [mmu.create_vm() for _ in range(4)]
        assert [mmu.activate(vm) for vm in vms] == [1, 2, 3, 1]  # three user slots, then LRU
        assert vms[0].as_nr is None
    finally:
        platform.close()


def test_new_tables_are_visible_before_the_descriptor_linking_them(rig: tuple[SimPlatform, Mmu]) -> None:
    """§4.7 (io-pgtable's dma_wmb): a new table is written and synced while nothing points at it."""
    platform, mmu = rig
    vm = mmu.create_vm()
    mmu.activate(vm)
    alloc = platform.dma_allocator()
    buf = alloc.alloc(0x3000)
    root = vm.pt.root_pa

    def root_entry() -> int:
        return struct.unpack("<Q", alloc.peek(root, 8))[0]

    seen: list[tuple[int, int, int]] = []
    alloc.on_sync = lambda pa, size: seen.append((pa, size, root_entry()))
    vm.map(buf, 0x1000)  # root[0] -> L1 -> L2 -> L3: three new tables
    new_table_syncs = [(pa, e) for pa, _, e in seen if not root <= pa < root + K4]
    root_syncs = [(pa, e) for pa, _, e in seen if root <= pa < root + K4]
    assert len({pa & ~0xFFF for pa, _ in new_table_syncs}) == 3
    assert all(e == 0 for _, e in new_table_syncs)  # root still empty while they were synced
    assert len(root_syncs) == 1 and root_syncs[0][1] & 3 == 3  # then the link, synced last
    assert seen[-1][0] == root


def test_mmu_stage_needs_no_carveout_but_vms_do() -> None:
    platform = SimPlatform()
    platform.dma = None  # a board whose device tree has no carveout
    try:
        results = Bringup(platform).run(until="mmu")
        assert results[-1].name == "mmu" and platform.mmio.read32(0x2008) == 0xFFFF
        mmu = Mmu(Bringup(platform).gpu)
        with pytest.raises(DeviceNotFound, match="carveout"):
            mmu.create_vm()
    finally:
        platform.close()
