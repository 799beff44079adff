"""Integration: map through the driver's memory layer (uio_driver.mmu) and access through the
simulator's independent walker and TLB (uio_driver.sim.walker/tlb), so each side checks the other.

The driver writes the tables (its PTE encoder, its LOCKADDR packing, its P3/P1 flush sequences); the
simulated GPU walks them with its own decoder, in strict mode, so a descriptor the walker reads
differently, or a live update without the right LOCK/flush/UNLOCK, fails here. Expected attribute
values come from the reference (§3.6 MEMATTR bytes, §4.4 prot flags, §3.7 fault codes).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from uio_driver.errors import BadAddress, SimProtocolError
from uio_driver.gpu import Gpu
from uio_driver.mmu import SZ_2M, FlushMode, Mmu, Prot
from uio_driver.sim import SimPlatform
from uio_driver.sim.walker import SimFault, SimGpuFault

SZ_1G = 1 << 30
USER_VA = 0x1_0000_0000


class Stack:
    """A strict simulated platform with the driver's Gpu (probed, reset, L2 on) and Mmu."""

    def __init__(self, flush_mode: FlushMode = FlushMode.P3, carveout_size: int = 256 << 20) -> None:
        self.platform = SimPlatform(strict=True, carveout_size=carveout_size)
        self.gpu = Gpu(self.platform)
        self.gpu.probe()
        self.gpu.soft_reset()
        self.gpu.power_on_l2()
        self.mmu = Mmu(self.gpu, flush_mode=flush_mode)
        self.mmu.enable_interrupts()
        self.dma = self.platform.dma_allocator()
        self.sim = self.platform.sim

    def close(self) -> None:
        self.mmu.close()
        self.platform.close()


@pytest.fixture(params=[FlushMode.P3, FlushMode.P1_FLUSH_PT, FlushMode.P1_FLUSH_MEM], ids=lambda m: m.value)
def stack(request) -> Iterator[Stack]:
    s = Stack(request.param)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def p3() -> Iterator[Stack]:
    s = Stack()
    try:
        yield s
    finally:
        s.close()


def test_driver_mapping_reads_back_through_the_walker(stack):
    vm = stack.mmu.create_vm()
    buf = stack.dma.alloc(0x3000, name="data")
    buf.write(0xFF8, b"crossing")
    vm.map(buf, USER_VA)
    as_nr = stack.mmu.activate(vm)
    sim = stack.sim.mmu
    assert sim.gpu_read(as_nr, USER_VA + 0xFF8, 8) == b"crossing"
    sim.gpu_write(as_nr, USER_VA + 0x2FFC, b"tail")
    assert buf.read(0x2FFC, 4) == b"tail"
    tr = sim.translate(as_nr, USER_VA + 0x1234)
    assert (tr.pa, tr.level) == (buf.phys + 0x1234, 3)
    assert stack.sim.violations == []


@pytest.mark.parametrize(("flags", "memattr", "sh", "read_only", "executable"), [
    (Prot.NONE, 0x8F, 3, False, True),  # cached: AttrIndx 1 -> MEMATTR byte 0x8F, SH inner
    (Prot.UNCACHED, 0x4C, 2, False, True),  # AttrIndx 0 -> 0x4C, SH outer
    (Prot.READONLY, 0x8F, 3, True, True),
    (Prot.NOEXEC, 0x8F, 3, False, False),
    (Prot.READONLY | Prot.NOEXEC, 0x8F, 3, True, False),
])
def test_prot_flags_decode_as_the_reference_says(p3, flags, memattr, sh, read_only, executable):
    vm = p3.mmu.create_vm()
    buf = p3.dma.alloc(0x1000)
    vm.map(buf, USER_VA, flags=flags)
    as_nr = p3.mmu.activate(vm)
    tr = p3.sim.mmu.translate(as_nr, USER_VA)
    assert (tr.memattr, tr.shareability, tr.read_only, tr.executable) == (memattr, sh, read_only, executable)
    if read_only:
        with pytest.raises(SimGpuFault) as info:
            p3.sim.mmu.gpu_write(as_nr, USER_VA, b"x")
        assert info.value.faultstatus == 0x3CB
    if not executable:
        assert p3.sim.mmu.translate(as_nr, USER_VA, "execute").faultstatus == 0x1CB


def test_2mib_and_1gib_blocks_walk_as_blocks():
    s = Stack(carveout_size=3 << 30)
    try:
        vm = s.mmu.create_vm()
        big = s.dma.alloc(SZ_1G, align=SZ_1G, zero=False)
        mid = s.dma.alloc(2 * SZ_2M, align=SZ_2M, zero=False)
        vm.map(big, 4 * SZ_1G)
        vm.map(mid, 6 * SZ_1G)
        as_nr = s.mmu.activate(vm)
        big.write(0x2345678, b"1G")
        mid.write(SZ_2M + 0x10, b"2M")
        sim = s.sim.mmu
        assert sim.gpu_read(as_nr, 4 * SZ_1G + 0x2345678, 2) == b"1G"
        assert sim.gpu_read(as_nr, 6 * SZ_1G + SZ_2M + 0x10, 2) == b"2M"
        assert (sim.translate(as_nr, 4 * SZ_1G).level, sim.translate(as_nr, 6 * SZ_1G).level) == (1, 2)
        assert sim.translate(as_nr, 6 * SZ_1G + 2 * SZ_2M).exception_type == 0xC2
    finally:
        s.close()


def test_driver_and_walker_agree_on_every_probe(p3):
    vm = p3.mmu.create_vm()
    layout = [  # (size, VA, flags): pages, 2 MiB blocks, a run crossing an L2 boundary, block + page
        (0x3000, USER_VA, Prot.NONE),
        (4 * SZ_2M, USER_VA + SZ_2M, Prot.READONLY),
        (0x5000, USER_VA + 0xFFF000, Prot.NOEXEC | Prot.UNCACHED),
        (SZ_2M + 0x1000, 0x2_0000_0000, Prot.NONE),
    ]
    for size, va, flags in layout:
        vm.map(p3.dma.alloc(size, align=SZ_2M if size >= SZ_2M else 0x1000), va, flags=flags)
    as_nr = p3.mmu.activate(vm)
    probes = [va + off for size, va, _ in layout for off in (0, 0x1000, size // 2, size - 8, size)]
    probes += [USER_VA - 0x1000, 0x7_0000_0000, 0]
    for va in probes:
        sim = p3.sim.mmu.translate(as_nr, va)
        try:
            drv = vm.translate(va)
        except BadAddress:
            assert isinstance(sim, SimFault) and sim.exception_type in (0xC0, 0xC1, 0xC2, 0xC3), hex(va)
            continue
        assert not isinstance(sim, SimFault), hex(va)
        assert sim.pa == drv.pa, hex(va)
        assert sim.read_only == bool(drv.prot & Prot.READONLY)
        assert sim.executable == (not drv.prot & Prot.NOEXEC)
        assert sim.memattr == (0x4C if drv.prot & Prot.UNCACHED else 0x8F)


# -- live updates: the driver's flush sequence must satisfy the strict TLB model ---------------------------


def test_live_remap_is_seen_after_the_drivers_flush_sequence(stack):
    vm = stack.mmu.create_vm()
    old, new = stack.dma.alloc(0x1000), stack.dma.alloc(0x1000)
    old.write(0, b"OLD!")
    new.write(0, b"NEW!")
    vm.map(old, USER_VA)
    as_nr = stack.mmu.activate(vm)
    sim = stack.sim.mmu
    assert sim.gpu_read(as_nr, USER_VA, 4) == b"OLD!"  # now in the TLB
    vm.unmap(USER_VA, 0x1000)
    with pytest.raises(SimGpuFault):
        sim.gpu_read(as_nr, USER_VA, 4)  # the unmap was flushed: no stale translation
    (fault,) = stack.mmu.service()  # panthor policy: the faulting AS is disabled ...
    # The VM's only page is gone, so the driver freed every table below L0 (no empty table stays
    # linked) and the walk stops at level 0: TRANSLATION_FAULT_0 on a read.
    assert fault.status == 0x2C0
    vm.acknowledge_fault()
    assert stack.mmu.activate(vm) == as_nr  # ... and re-enabled on the next activation
    vm.map(new, USER_VA)
    assert sim.gpu_read(as_nr, USER_VA, 4) == b"NEW!"
    assert stack.sim.violations == []


def test_partial_unmap_of_a_cached_2mib_block_is_flushed(stack):
    vm = stack.mmu.create_vm()
    buf = stack.dma.alloc(SZ_2M, align=SZ_2M)
    buf.write(0x5000, b"keep")
    vm.map(buf, USER_VA)
    as_nr = stack.mmu.activate(vm)
    sim = stack.sim.mmu
    assert sim.translate(as_nr, USER_VA).level == 2
    assert sim.gpu_read(as_nr, USER_VA + 0x5000, 4) == b"keep"  # block entry cached
    vm.unmap(USER_VA + 0x1000, 0x1000)  # splits the block into an L3 table
    assert sim.gpu_read(as_nr, USER_VA + 0x5000, 4) == b"keep"
    assert sim.translate(as_nr, USER_VA + 0x5000).level == 3
    assert sim.translate(as_nr, USER_VA + 0x1000).faultstatus == 0x2C3
    assert stack.sim.violations == []


def test_a_table_change_that_bypasses_the_as_sequence_is_caught(p3):
    vm = p3.mmu.create_vm()
    a, b = p3.dma.alloc(0x1000), p3.dma.alloc(0x1000)
    vm.map(a, USER_VA)
    as_nr = p3.mmu.activate(vm)
    p3.sim.mmu.gpu_read(as_nr, USER_VA, 4)
    vm.pt.unmap(USER_VA, 0x1000)  # straight into the tables: no LOCK/flush/UNLOCK
    vm.pt.map(USER_VA, b.phys, 0x1000)
    with pytest.raises(SimProtocolError, match="stale TLB entry"):
        p3.sim.mmu.gpu_read(as_nr, USER_VA, 4)


# -- faults reach the driver's MMU IRQ handling ------------------------------------------------------------


def test_gpu_fault_is_decoded_by_the_driver_and_disables_only_that_as(p3):
    vm, other = p3.mmu.create_vm(), p3.mmu.create_vm()
    buf = p3.dma.alloc(0x1000)
    vm.map(buf, USER_VA, flags=Prot.READONLY)
    other.map(buf, USER_VA)
    as_nr, other_as = p3.mmu.activate(vm), p3.mmu.activate(other)
    with pytest.raises(SimGpuFault):
        p3.sim.mmu.gpu_write(as_nr, USER_VA + 0x40, b"no", source=0x42)
    (fault,) = p3.mmu.service()
    assert (fault.as_nr, fault.status, fault.address) == (as_nr, 0x004203CB, USER_VA + 0x40)
    assert (fault.exception_name, fault.access_name, fault.source_id) == ("PERMISSION_FAULT_3", "WRITE", 0x42)
    assert vm.faulty and not other.faulty
    # The driver disabled the faulting AS (ADRMODE UNMAPPED): every access now faults at level 0.
    assert p3.sim.mmu.translate(as_nr, USER_VA).exception_type == 0xC0
    assert p3.sim.mmu.gpu_read(other_as, USER_VA, 4) == bytes(4)


def test_mcu_vm_uses_as0(p3):
    vm = p3.mmu.create_mcu_vm()
    buf = p3.dma.alloc(0x2000)
    buf.write(0, b"firmware")
    vm.map(buf, 0x0400_0000, kernel=vm.layout.region_of(0x0400_0000, 0x2000) == "kernel")
    assert p3.mmu.activate(vm) == 0
    assert p3.sim.mmu.gpu_read(0, 0x0400_0000, 8, access="execute") == b"firmware"
