"""GPU memory accesses through a simulated AS: page-crossing splits, all-or-nothing faults, u32/u64
helpers, argument checks, first-fault-wins, IRQ bits, L2-off refusal, locked regions, data bus faults
and the fault-injection hooks (mali-csf-registers-and-mmu.md §1.7, §3.1-§3.7, §7)."""

from __future__ import annotations

import errno

import pytest
from test_sim_walker_rig import (
    GPU_FAULTADDRESS,
    GPU_FAULTSTATUS,
    LOCK,
    MEMATTR_RK3588,
    MMU_IRQ_CLEAR,
    MMU_IRQ_MASK,
    MMU_IRQ_RAWSTAT,
    MMU_IRQ_STATUS,
    PTE_RO,
    PTE_RW,
    TRANSCFG_RK3588,
    UNLOCK,
    Rig,
    as_reg,
    page_flags,
)

from uio_driver.errors import BadAddress, HardwareFault, InvalidArgument, MaliError, SimProtocolError, Timeout
from uio_driver.sim import SimPlatform
from uio_driver.sim.walker import SimGpuFault

VA = 0x10203000
LOCK_COVERING = 0x1020300E  # §3.4: [0x10200000, 0x10208000)


def rig_two_pages(strict: bool = True, **kwargs) -> tuple[Rig, int]:
    """VA 0x10203000 -> PA 0x12345000 and VA 0x10204000 -> PA 0x12341000 (not contiguous)."""
    rig = Rig(strict=strict, **kwargs)
    t0, _, _, t3 = rig.reference_tables()
    rig.put(t3, 0x004, 0x12341000 | page_flags(PTE_RW))
    rig.configure(1, t0)
    return rig, t3


# -- splitting and data movement -------------------------------------------------------------------------


def test_access_crossing_a_page_boundary_is_split_by_translation():
    rig, _ = rig_two_pages()
    rig.mmu.gpu_write(1, VA + 0xFFC, b"ABCDEFGH")
    assert rig.mem.read(0x12345FFC, 4) == b"ABCD"
    assert rig.mem.read(0x12341000, 4) == b"EFGH"
    assert rig.mem.read(0x12346000, 4) == b"\0\0\0\0"  # not PA-contiguous: nothing lands here
    assert rig.mmu.gpu_read(1, VA + 0xFFA, 8) == b"\0\0ABCDEF"


def test_access_crossing_from_a_2mib_block_into_a_page():
    rig = Rig()
    t0, _, t2, t3 = rig.reference_tables()
    rig.put(t2, 0x080, 0x40200F45)  # VA [0x10000000, 0x10200000) -> PA 0x40200000 (2 MiB)
    rig.put(t3, 0x000, PTE_RW)  # VA 0x10200000 -> PA 0x12345000
    rig.configure(1, t0)
    rig.mmu.gpu_write(1, 0x101FFFFE, b"\x01\x02\x03\x04")
    assert rig.mem.read(0x403FFFFE, 2) == b"\x01\x02" and rig.mem.read(0x12345000, 2) == b"\x03\x04"


def test_faulting_second_page_transfers_nothing():
    rig, _ = rig_two_pages()
    with pytest.raises(SimGpuFault) as info:
        rig.mmu.gpu_write(1, VA + 0x1FFC, b"12345678")  # 0x10204FFC..0x10205003: second page unmapped
    assert info.value.va == 0x10205000
    assert rig.fault_regs(1) == (0x3C3, 0x10205000)
    assert rig.mem.read(0x12341FFC, 4) == b"\0\0\0\0"


def test_read_only_second_page_faults_a_crossing_write():
    rig, t3 = rig_two_pages()
    rig.put(t3, 0x004, 0x12341000 | page_flags(PTE_RO))
    with pytest.raises(SimGpuFault):
        rig.mmu.gpu_write(1, VA + 0xFFE, b"wxyz")
    assert rig.fault_regs(1) == (0x3CB, 0x10204000)
    assert rig.mem.read(0x12345FFE, 2) == b"\0\0"


def test_u32_u64_helpers_are_little_endian():
    rig, _ = rig_two_pages()
    rig.mmu.gpu_write64(1, VA + 0x10, 0x1122334455667788)
    assert rig.mem.read(0x12345010, 8) == bytes.fromhex("8877665544332211")
    assert rig.mmu.gpu_read32(1, VA + 0x14) == 0x11223344
    rig.mmu.gpu_write32(1, VA + 0x1000, 0xDEADBEEF)
    assert rig.mmu.gpu_read64(1, VA + 0x1000) == 0xDEADBEEF
    assert rig.mmu.gpu_read32(1, VA + 0x1000, access="execute") == 0xDEADBEEF


@pytest.mark.parametrize(("call", "exc"), [
    (lambda m: m.gpu_read32(1, VA + 2), BadAddress),
    (lambda m: m.gpu_read64(1, VA + 4), BadAddress),
    (lambda m: m.gpu_write32(1, VA + 1, 0), BadAddress),
    (lambda m: m.gpu_write64(1, VA, 1 << 64), InvalidArgument),
    (lambda m: m.gpu_write32(1, VA, -1), InvalidArgument),
    (lambda m: m.gpu_read(8, VA, 4), InvalidArgument),  # AS8 not present on G610
    (lambda m: m.gpu_read(1, -1, 4), InvalidArgument),
    (lambda m: m.gpu_read(1, VA, -4), InvalidArgument),
    (lambda m: m.gpu_read(1, (1 << 64) - 2, 4), InvalidArgument),
    (lambda m: m.gpu_read(1, VA, 4, access="write"), InvalidArgument),
    (lambda m: m.gpu_read(1, VA, 4, source=0x10000), InvalidArgument),
    (lambda m: m.gpu_read(1, VA, 4.0), InvalidArgument),
    (lambda m: m.gpu_write(1, VA, "text"), InvalidArgument),
    (lambda m: m.translate(1, VA, "fetch"), InvalidArgument),
    (lambda m: m.inject_fault(1, VA, 0x1000, 0x80), InvalidArgument),  # GPU code, not an MMU one
    (lambda m: m.inject_fault(1, VA, 0x1000, 0xC5), InvalidArgument),
    (lambda m: m.inject_fault(1, VA, 0x1000, 0xC3, count=0), InvalidArgument),
    (lambda m: m.inject_walk_bus_error(1, VA, level=4), InvalidArgument),
])
def test_bad_arguments_are_refused_and_change_nothing(call, exc):
    rig, _ = rig_two_pages()
    with pytest.raises(exc):
        call(rig.mmu)
    assert rig.r32(MMU_IRQ_RAWSTAT) == 0 and rig.mmu.injected == [] and rig.mmu.fault_log == []
    assert rig.mem.read(0x12345000, 16) == bytes(16)


def test_zero_length_access_touches_nothing():
    rig, _ = rig_two_pages()
    assert rig.mmu.gpu_read(1, 0xDEAD0000, 0) == b""
    rig.mmu.gpu_write(1, 0xDEAD0000, b"")
    assert rig.r32(MMU_IRQ_RAWSTAT) == 0


# -- faults, IRQs, exceptions -----------------------------------------------------------------------------


def test_first_fault_wins_until_mmu_irq_clear():
    rig, t3 = rig_two_pages()
    rig.w32(MMU_IRQ_MASK, 0xFFFF)
    rig.put(t3, 0x005, PTE_RO)
    with pytest.raises(SimGpuFault) as first:
        rig.mmu.gpu_read(1, 0x10206010, 4)  # L3 invalid
    with pytest.raises(SimGpuFault) as second:
        rig.mmu.gpu_write(1, 0x10205020, b"x")  # RO page
    assert first.value.latched and not second.value.latched
    assert "not latched" in str(second.value)
    assert rig.fault_regs(1) == (0x2C3, 0x10206010)
    assert rig.r32(MMU_IRQ_STATUS) == 1 << 1
    assert rig.r32(0x034) & (1 << 4)  # GPU_STATUS.PAGE_FAULT
    assert [f.faultstatus for f in rig.mmu.fault_log] == [0x2C3, 0x3CB]
    rig.w32(MMU_IRQ_CLEAR, 1 << 1)
    with pytest.raises(SimGpuFault):
        rig.mmu.gpu_write(1, 0x10205020, b"x")
    assert rig.fault_regs(1) == (0x3CB, 0x10205020)


def test_faults_in_different_address_spaces_latch_independently():
    rig, _ = rig_two_pages()
    rig.configure(2, rig.mmu.live_config(1).transtab)
    for n, va in ((1, 0x10206000), (2, 0x10207000)):
        with pytest.raises(SimGpuFault):
            rig.mmu.gpu_read(n, va, 4)
    assert rig.fault_regs(1) == (0x2C3, 0x10206000) and rig.fault_regs(2) == (0x2C3, 0x10207000)
    assert rig.r32(MMU_IRQ_RAWSTAT) == 0b110


def test_sim_gpu_fault_is_an_eio_mali_error():
    rig, _ = rig_two_pages()
    with pytest.raises(SimGpuFault) as info:
        rig.mmu.gpu_read(1, 0x10206000, 4, access="execute", source=7)
    err = info.value
    assert isinstance(err, HardwareFault) and isinstance(err, MaliError) and err.errno == errno.EIO
    assert err.register == "AS1_FAULTSTATUS" and err.value == 0x000701C3 and err.offset == 0x10206000
    assert "TRANSLATION_FAULT_3" in str(err) and "execute" in str(err)


def test_translate_reports_without_latching():
    rig, _ = rig_two_pages()
    fault = rig.mmu.translate(1, 0x10206000, "write")
    assert (fault.faultstatus, fault.name, fault.level) == (0x3C3, "TRANSLATION_FAULT_3", 3)
    assert rig.r32(MMU_IRQ_RAWSTAT) == 0 and rig.fault_regs(1) == (0, 0)


def test_data_access_to_a_pa_without_ram_is_a_gpu_bus_fault():
    rig, t3 = rig_two_pages()
    rig.put(t3, 0x006, 0x50000000 | page_flags(PTE_RW))
    with pytest.raises(SimGpuFault) as info:
        rig.mmu.gpu_read(1, 0x10206008, 4, source=0x12)
    assert info.value.exception_type == 0x80
    # §1.7: 0x80 GPU_BUS_FAULT | READ << 8 | ADDRESS_VALID | JASID_VALID | JASID 1 << 12 | source << 16
    assert rig.r32(GPU_FAULTSTATUS) == 0x00121E80
    assert rig.r32(GPU_FAULTADDRESS) == 0x50000008
    assert rig.r32(0x020) & 1  # GPU_IRQ FAULT
    assert rig.r32(MMU_IRQ_RAWSTAT) == 0 and rig.fault_regs(1) == (0, 0)


# -- preconditions: L2 powered ---------------------------------------------------------------------------


def power_off_l2(rig: Rig) -> None:
    rig.w32(0x1E0, 1)  # L2_PWROFF_LO
    rig.sim.clock.advance(1_000_000)
    assert rig.r32(0x160) == 0  # L2_READY_LO


def test_access_with_l2_off_is_refused_in_strict_mode():
    rig, _ = rig_two_pages()
    power_off_l2(rig)
    with pytest.raises(SimProtocolError, match="L2") as info:
        rig.mmu.gpu_write(1, VA, b"data")
    assert info.value.details["kind"] == "l2-off"
    assert rig.mem.read(0x12345000, 4) == bytes(4)
    with pytest.raises(SimProtocolError):
        rig.mmu.translate(1, VA)


def test_access_with_l2_off_is_recorded_in_non_strict_mode():
    rig, _ = rig_two_pages(strict=False)
    power_off_l2(rig)
    rig.mmu.gpu_write(1, VA, b"data")
    assert [v.kind for v in rig.sim.violations] == ["l2-off"]


# -- locked regions ----------------------------------------------------------------------------------------


def test_access_to_a_locked_region_is_a_strict_error():
    rig, _ = rig_two_pages()
    rig.command(1, LOCK, LOCK_COVERING)
    with pytest.raises(SimProtocolError, match="access to locked region") as info:
        rig.mmu.gpu_read(1, VA + 0x10, 4)
    assert info.value.details["kind"] == "locked-access"
    rig.command(1, UNLOCK)
    assert rig.mmu.gpu_read(1, VA + 0x10, 4) == bytes(4)


def test_access_outside_the_locked_region_is_fine():
    rig, t3 = rig_two_pages()
    rig.put(t3, 0x008, PTE_RW)  # VA 0x10208000: first page after the locked 32 KiB
    rig.command(1, LOCK, LOCK_COVERING)
    assert rig.mmu.gpu_read(1, 0x10208000, 4) == bytes(4)
    with pytest.raises(SimProtocolError):
        rig.mmu.gpu_read(1, 0x10207FFE, 4)  # straddles into the region


def test_locked_access_non_strict_is_recorded_and_proceeds():
    rig, _ = rig_two_pages(strict=False)
    rig.command(1, LOCK, LOCK_COVERING)
    rig.mmu.gpu_write(1, VA, b"race")
    assert rig.mem.read(0x12345000, 4) == b"race"
    assert [v.kind for v in rig.sim.violations] == ["locked-access"]


def test_allow_stall_waits_for_an_unlock_in_flight():
    rig, t3 = rig_two_pages(as_command_delay_ns=5_000)
    rig.mem.write(0x12346000, b"NEW!")
    rig.command(1, LOCK, LOCK_COVERING)
    rig.put(t3, 0x003, 0x12346000 | page_flags(PTE_RW))
    rig.w32(as_reg(1, 0x18), UNLOCK)  # completes 5 us later
    t = rig.sim.clock.now_ns()
    assert rig.mmu.gpu_read(1, VA, 4, allow_stall=True) == b"NEW!"
    assert rig.sim.clock.now_ns() == t + 5_000
    assert rig.sim.violations == []


def test_allow_stall_times_out_when_nothing_will_unlock():
    rig, _ = rig_two_pages()
    rig.command(1, LOCK, LOCK_COVERING)
    t = rig.sim.clock.now_ns()
    with pytest.raises(Timeout, match="stalled"):
        rig.mmu.gpu_write(1, VA, b"xx", allow_stall=True)
    assert rig.sim.clock.now_ns() == t and rig.mem.read(0x12345000, 2) == b"\0\0"


# -- fault injection hooks --------------------------------------------------------------------------------


def test_injected_fault_fires_on_the_next_matching_access_only():
    rig, _ = rig_two_pages()
    rig.mmu.inject_fault(1, VA + 0x800, 0x100, 0xC9, count=2)  # PERMISSION_FAULT_1
    rig.mmu.gpu_read(1, VA, 0x100)  # does not touch the range
    with pytest.raises(SimGpuFault):
        rig.mmu.gpu_read(1, VA + 0x700, 0x200)
    assert rig.fault_regs(1) == (0x2C9, VA + 0x800)
    rig.w32(MMU_IRQ_CLEAR, 0xFFFFFFFF)
    with pytest.raises(SimGpuFault):
        rig.mmu.gpu_write(1, VA + 0x880, b"z")
    assert rig.fault_regs(1) == (0x3C9, VA + 0x880)
    rig.w32(MMU_IRQ_CLEAR, 0xFFFFFFFF)
    rig.mmu.gpu_write(1, VA + 0x880, b"z")  # used up
    assert rig.mmu.injected == []


def test_injected_walk_bus_error_hits_the_next_walk():
    rig, _ = rig_two_pages()
    rig.mmu.gpu_read(1, VA, 4)  # cached: no walk for this page any more
    rig.mmu.inject_walk_bus_error(1, VA, 0x2000, level=2)
    rig.mmu.gpu_read(1, VA, 4)
    assert rig.mmu.injected != []
    with pytest.raises(SimGpuFault) as info:
        rig.mmu.gpu_read(1, VA + 0x1000, 4)  # TLB miss -> walk -> bus error at L2
    assert info.value.exception_type == 0xD2
    assert rig.fault_regs(1) == (0x6D2, VA + 0x1000)
    assert rig.r32(MMU_IRQ_RAWSTAT) == 1 << 17
    rig.w32(MMU_IRQ_CLEAR, 1 << 17)
    assert rig.mmu.gpu_read(1, VA + 0x1000, 4) == bytes(4)


# -- a driver-like setup: tables in DMA buffers of the sim platform ------------------------------------------


def test_tables_in_dma_buffers_of_the_sim_platform():
    with SimPlatform(strict=True) as p:
        dma, m = p.dma_allocator(), p.mmio
        t = [dma.alloc(0x1000, name=f"T{i}") for i in range(4)]
        data = dma.alloc(0x1000, name="data")
        va = 0x0000_7F00_1234_5000
        idx = [(va >> (39 - 9 * lvl)) & 0x1FF for lvl in range(4)]  # §4.1 formula, by hand
        for lvl in range(3):
            t[lvl].u64[idx[lvl]] = t[lvl + 1].phys | 3
        t[3].u64[idx[3]] = data.phys | page_flags(PTE_RW)
        data.write(0x40, b"through the walker")
        m.write32(0x1A0, 1)
        p.clock.poll(lambda: m.read32(0x160) & 1, 0.02, "L2 ready", interval=1e-4)
        for off, value in ((0x00, t[0].phys), (0x08, MEMATTR_RK3588), (0x30, TRANSCFG_RK3588)):
            m.write64(as_reg(3, off), value)
        m.write32(as_reg(3, 0x18), 1)
        p.clock.poll(lambda: m.read32(as_reg(3, 0x28)) & 1 == 0, 0.1, "AS3 idle", interval=1e-5)
        assert p.sim.mmu.gpu_read(3, va + 0x40, 18) == b"through the walker"
        p.sim.mmu.gpu_write(3, va + 0x80, b"GPU")
        assert data.read(0x80, 3) == b"GPU"
