"""The driver's tables as the simulated GPU sees them: GPU reads/writes through an AS with the
simulator's own walker and TLB (uio_driver/sim/walker.py, tlb.py — written independently from the
reference), real faults from GPU accesses, and stale-TLB detection.

The simulator is strict: a translation cached in its TLB whose descriptors changed in memory without
LOCK/UNLOCK, FLUSH_PT/FLUSH_MEM or UPDATE covering them raises SimProtocolError. The negative
controls below show that this check fires when the driver's flush sequence is bypassed, so the
positive tests (which must not trip it) mean something.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from uio_driver.bringup import Bringup
from uio_driver.errors import BadAddress, SimProtocolError
from uio_driver.mmu import SZ_1G, SZ_2M, VM, FlushMode, Mmu, Prot
from uio_driver.sim import SimPlatform
from uio_driver.sim.walker import SimFault, SimGpuFault

K4 = 0x1000


@pytest.fixture
def rig() -> Iterator[tuple[SimPlatform, Mmu]]:
    # A 1 GiB-aligned carveout large enough for a 1 GiB block (memory is committed only when touched).
    platform = SimPlatform(strict=True, carveout_base=0x40000000, carveout_size=SZ_1G + (64 << 20))
    bringup = Bringup(platform)
    bringup.run(until="mmu")  # later stages (firmware) would create the MCU VM
    try:
        yield platform, bringup.objects["mmu"]
    finally:
        platform.close()


def bound_vm(mmu: Mmu) -> tuple[VM, int]:
    vm = mmu.create_vm()
    return vm, mmu.activate(vm)


def test_gpu_reads_and_writes_land_in_the_mapped_buffers(rig: tuple[SimPlatform, Mmu]) -> None:
    platform, mmu = rig
    alloc = platform.dma_allocator()
    gib = alloc.alloc(SZ_1G, align=SZ_1G, zero=False)
    block = alloc.alloc(SZ_2M, align=SZ_2M)
    pages = alloc.alloc(3 * K4)
    vm, n = bound_vm(mmu)
    vm.map(gib, 0x40_0000_0000)
    vm.map(block, 0x20_0000_0000)
    vm.map(pages, 0x30_0000_1000)
    gpu = platform.sim.mmu
    for buf, va, level in ((gib, 0x40_0000_0000, 1), (block, 0x20_0000_0000, 2), (pages, 0x30_0000_1000, 3)):
        off = buf.size - 0x1800  # crosses a 4 KiB page boundary in the last pages
        buf.write(off, bytes(range(256)) * 16)
        assert gpu.gpu_read(n, va + off, 0x1000) == bytes(range(256)) * 16
        gpu.gpu_write(n, va + 0x10, b"written by the GPU")
        assert buf.read(0x10, 18) == b"written by the GPU"
        got = gpu.translate(n, va + 0x123)
        assert not isinstance(got, SimFault) and got.level == level and got.pa == buf.phys + 0x123


def test_driver_and_simulator_walkers_agree(rig: tuple[SimPlatform, Mmu]) -> None:
    platform, mmu = rig
    alloc = platform.dma_allocator()
    buf = alloc.alloc(16 << 20, align=SZ_2M, zero=False)
    vm, n = bound_vm(mmu)
    vm.map(buf, 0x1000_0000 - 0x3000, size=12 << 20, flags=Prot.NOEXEC)  # pages, 2 MiB blocks, pages
    vm.map(buf, 0x2000_1000, offset=0x1000, size=0x5000, flags=Prot.READONLY | Prot.UNCACHED)
    vm.unmap(0x1000_0000 + 3 * SZ_2M + 0x7000, 0x2000)  # a split in the middle
    rnd = random.Random(4)
    probes = [0x1000_0000 - 0x3000 + rnd.randrange(12 << 20) for _ in range(300)]
    probes += [0x2000_1000 + rnd.randrange(0x5000) for _ in range(50)] + [0x2000_0000, 0x2000_6000]
    for va in probes:
        sim = platform.sim.mmu.translate(n, va)
        try:
            ours = vm.translate(va)
        except BadAddress:
            assert isinstance(sim, SimFault) and sim.name.startswith("TRANSLATION_FAULT"), hex(va)
            continue
        assert not isinstance(sim, SimFault), hex(va)
        assert (sim.pa, sim.level, sim.read_only, sim.executable) == (
            ours.pa, ours.level, bool(ours.prot & Prot.READONLY), not ours.prot & Prot.NOEXEC), hex(va)
        assert sim.attr_index == (0 if ours.prot & Prot.UNCACHED else 1)


@pytest.mark.parametrize("mode", list(FlushMode))
def test_updates_of_a_live_as_keep_the_gpu_tlb_coherent(rig: tuple[SimPlatform, Mmu],
                                                         mode: FlushMode) -> None:
    platform, mmu = rig
    mmu.flush_mode = mode
    alloc = platform.dma_allocator()
    first, second = alloc.alloc(SZ_2M, align=SZ_2M), alloc.alloc(K4)
    first.write(0x5000, b"first")
    second.write(0, b"second")
    vm, n = bound_vm(mmu)
    gpu = platform.sim.mmu
    vm.map(first, 0x600000)
    assert gpu.gpu_read(n, 0x605000, 5) == b"first"  # the 2 MiB block is now in the TLB
    vm.unmap(0x605000, K4)  # split: the block's descriptor is replaced by a table
    assert gpu.gpu_read(n, 0x600000, 4) == first.read(0, 4)  # no stale-TLB error, still mapped
    with pytest.raises(SimGpuFault) as exc:
        gpu.gpu_read(n, 0x605000, 5)
    assert exc.value.exception_type == 0xC3  # TRANSLATION_FAULT_3: the hole is an invalid L3 entry
    fault = mmu.service()[0]
    assert (fault.exception_name, fault.address, fault.access_name) == ("TRANSLATION_FAULT_3", 0x605000,
                                                                        "READ")
    mmu.activate(vm)  # re-enable after the fault
    vm.map(second, 0x605000)
    assert gpu.gpu_read(n, 0x605000, 6) == b"second"
    vm.unmap(0x600000, SZ_2M)  # everything: tables freed, pages reused later
    vm.map(second, 0x605000)
    assert gpu.gpu_read(n, 0x605000, 6) == b"second"
    assert platform.sim.violations == []


def test_bypassing_the_flush_sequence_is_caught_by_the_strict_tlb(rig: tuple[SimPlatform, Mmu]) -> None:
    platform, mmu = rig
    buf = platform.dma_allocator().alloc(SZ_2M, align=SZ_2M)
    vm, n = bound_vm(mmu)
    vm.map(buf, 0x600000)
    platform.sim.mmu.gpu_read(n, 0x600000, 8)
    vm.pt.unmap(0x605000, K4)  # table change without LOCK/flush/UNLOCK
    with pytest.raises(SimProtocolError, match="stale TLB"):
        platform.sim.mmu.gpu_read(n, 0x600000, 8)


def test_an_unbound_vm_needs_no_flush_its_update_covers_it(rig: tuple[SimPlatform, Mmu]) -> None:
    platform, mmu = rig
    alloc = platform.dma_allocator()
    a, b = alloc.alloc(K4), alloc.alloc(K4)
    a.write(0, b"AAAA")
    b.write(0, b"BBBB")
    vm, n = bound_vm(mmu)
    vm.map(a, 0x10000)
    assert platform.sim.mmu.gpu_read(n, 0x10000, 4) == b"AAAA"
    mmu.deactivate(vm)
    vm.unmap(0x10000, K4)
    vm.map(b, 0x10000)  # changed while unbound: only recorded
    n = mmu.activate(vm)
    assert platform.sim.mmu.gpu_read(n, 0x10000, 4) == b"BBBB"


def test_permission_faults_from_gpu_accesses(rig: tuple[SimPlatform, Mmu]) -> None:
    platform, mmu = rig
    alloc = platform.dma_allocator()
    vm, n = bound_vm(mmu)
    vm.map(alloc.alloc(SZ_2M, align=SZ_2M), 0x200000, flags=Prot.READONLY)
    vm.map(alloc.alloc(K4), 0x1000, flags=Prot.NOEXEC)
    gpu = platform.sim.mmu
    assert gpu.gpu_read(n, 0x200000, 4, access="execute") == bytes(4)
    with pytest.raises(SimGpuFault):
        gpu.gpu_write(n, 0x200010, b"x", source=0x55)
    (fault,) = mmu.service()
    assert (fault.exception_name, fault.access_name, fault.address, fault.source_id) == (
        "PERMISSION_FAULT_2", "WRITE", 0x200010, 0x55)
    mmu.activate(vm)
    with pytest.raises(SimGpuFault):
        gpu.gpu_read(n, 0x1000, 4, access="execute")
    (fault,) = mmu.service()
    assert (fault.exception_name, fault.access_name) == ("PERMISSION_FAULT_3", "EXECUTE")


def test_a_real_fault_stops_only_the_faulting_vm(rig: tuple[SimPlatform, Mmu]) -> None:
    platform, mmu = rig
    alloc = platform.dma_allocator()
    a, na = bound_vm(mmu)
    b, nb = bound_vm(mmu)
    buf = alloc.alloc(K4)
    buf.write(0, b"shared")
    a.map(buf, 0x10000)
    b.map(buf, 0x20000)
    gpu = platform.sim.mmu
    with pytest.raises(SimGpuFault):
        gpu.gpu_read(na, 0x8000_0000, 4)  # nothing under root[0]'s L1 entry 2
    (fault,) = mmu.service()
    assert (fault.as_nr, fault.exception_name, fault.vm_id) == (na, "TRANSLATION_FAULT_1", a.id)
    assert gpu.gpu_read(nb, 0x20000, 6) == b"shared"  # the other VM is unaffected
    with pytest.raises(SimGpuFault) as exc:
        gpu.gpu_read(na, 0x10000, 4)  # the faulting AS is disabled: UNMAPPED
    assert exc.value.exception_type == 0xC0
    assert mmu.service() == []  # its interrupt stays masked until re-activation
    mmu.activate(a)
    assert gpu.gpu_read(na, 0x10000, 6) == b"shared"
    assert a.faulty and not b.faulty
