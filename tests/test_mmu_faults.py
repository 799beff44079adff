"""MMU fault decoding and interrupt handling: AS_FAULTSTATUS decode (mali-csf-registers-and-mmu.md
§3.7), and panthor's isolation policy (§3.1): only the faulting AS is disabled, its IRQ bit leaves
the mask until the VM is activated again, other VMs keep running. Faults are injected with the
simulator's ``raise_fault`` hook (real GPU-access faults are in test_mmu_sim_access.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from uio_driver.bringup import Bringup
from uio_driver.errors import InvalidArgument
from uio_driver.mmu import Mmu, decode_fault
from uio_driver.sim import SimPlatform
from uio_driver.sim.mmu import AsConfig

MMU_IRQ_RAWSTAT, MMU_IRQ_MASK = 0x2000, 0x2008


def test_decode_translation_fault_write() -> None:
    f = decode_fault(1, 0x000003C3, 0x1234_5000)  # §3.7 example
    assert (f.exception_type, f.exception_name) == (0xC3, "TRANSLATION_FAULT_3")
    assert (f.access_type, f.access_name) == (3, "WRITE")
    assert (f.source_id, f.decoder_fault, f.level, f.address) == (0, False, 3, 0x12345000)
    assert not f.is_bus_fault
    assert "TRANSLATION_FAULT_3" in f.describe() and "WRITE" in f.describe() and "0x12345000" in f.describe()


@pytest.mark.parametrize(("status", "name", "access", "source", "level", "bus", "decoder"), [
    (0x000001CA, "PERMISSION_FAULT_2", "EXECUTE", 0, 2, False, False),
    (0x000003C9, "PERMISSION_FAULT_1", "WRITE", 0, 1, False, False),
    (0x002A06D1, "TRANSTAB_BUS_FAULT_1", "READ", 0x2A, 1, True, True),  # bit 10: decoder fault
    (0x000002D3, "TRANSTAB_BUS_FAULT_3", "READ", 0, 3, True, False),  # slave fault
    (0xFFFF00DA, "ACCESS_FLAG_2", "ATOMIC", 0xFFFF, 2, False, False),
    (0x000002E0, "ADDRESS_SIZE_FAULT_IN0", "READ", 0, 0, False, False),
    (0x000002E6, "ADDRESS_SIZE_FAULT_OUT2", "READ", 0, 2, False, False),
    (0x000002C7, "TRANSLATION_FAULT_IDENTITY", "READ", 0, None, False, False),
    (0x00000299, "<unknown 0x99>", "READ", 0, None, False, False),
])
def test_decode_fields(status: int, name: str, access: str, source: int, level: int | None, bus: bool,
                       decoder: bool) -> None:
    f = decode_fault(0, status, 0)
    assert (f.exception_name, f.access_name, f.source_id, f.level, f.is_bus_fault, f.decoder_fault) == (
        name, access, source, level, bus, decoder)
    if bus:
        assert ("DECODER FAULT" if decoder else "SLAVE FAULT") in f.describe()


@pytest.mark.parametrize(("status", "address"), [(-1, 0), (1 << 32, 0), (0, 1 << 64), (0, -1), (True, 0)])
def test_decode_refuses_out_of_range_values(status: int, address: int) -> None:
    with pytest.raises(InvalidArgument):
        decode_fault(0, status, address)


@pytest.fixture
def rig() -> Iterator[tuple[SimPlatform, Mmu]]:
    platform = SimPlatform(strict=True)
    bringup = Bringup(platform)
    bringup.run(until="mmu")  # later stages (firmware) would create the MCU VM
    try:
        yield platform, bringup.objects["mmu"]
    finally:
        platform.close()


def test_fault_disables_only_its_as_and_masks_only_its_bit(rig: tuple[SimPlatform, Mmu]) -> None:
    platform, mmu = rig
    a, b = mmu.create_vm(), mmu.create_vm()
    assert (mmu.activate(a), mmu.activate(b)) == (1, 2)
    live_b = platform.sim.mmu.live_config(2)
    platform.sim.mmu.raise_fault(1, 0x3C3, 0xDEAD_B000)
    faults = mmu.service()
    assert [(f.as_nr, f.exception_name, f.access_name, f.address, f.vm_id) for f in faults] == [
        (1, "TRANSLATION_FAULT_3", "WRITE", 0xDEAD_B000, a.id)]
    assert a.faulty and a.faults == faults and not b.faulty
    assert platform.sim.mmu.live_config(1) == AsConfig(0, 0, 1)  # disabled: UNMAPPED
    assert platform.sim.mmu.live_config(2) == live_b  # the other VM keeps translating
    assert platform.mmio.read32(MMU_IRQ_MASK) == 0xFFFD
    assert platform.mmio.read32(MMU_IRQ_RAWSTAT) & 0b10 == 0  # cleared
    # A new fault in AS1 is latched but silent; AS2 still interrupts.
    platform.sim.mmu.raise_fault(1, 0x2C0, 0x1000)
    assert mmu.service() == []
    platform.sim.mmu.raise_fault(2, 0x1C8, 0x2000)
    assert [(f.as_nr, f.exception_name, f.access_name) for f in mmu.service()] == [
        (2, "PERMISSION_FAULT_0", "EXECUTE")]
    assert platform.mmio.read32(MMU_IRQ_MASK) == 0xFFF9


def test_reactivation_clears_the_stale_fault_and_restores_the_mask(rig: tuple[SimPlatform, Mmu]) -> None:
    platform, mmu = rig
    a, b = mmu.create_vm(), mmu.create_vm()
    mmu.activate(a)
    mmu.activate(b)
    platform.sim.mmu.raise_fault(1, 0x3C3, 0x1000)
    platform.sim.mmu.raise_fault(2, 0x3C3, 0x2000)
    mmu.service()
    platform.sim.mmu.raise_fault(1, 0x2C0, 0x3000)  # latched while masked
    assert platform.mmio.read32(MMU_IRQ_RAWSTAT) & 0b10
    assert mmu.activate(a) == 1
    assert platform.mmio.read32(MMU_IRQ_RAWSTAT) & 0b10 == 0  # MMU_IRQ_CLEAR = 1 << 1 first
    assert platform.mmio.read32(MMU_IRQ_MASK) == 0xFFFB  # AS2 is still faulty
    assert platform.sim.mmu.live_config(1).transtab == a.pt.root_pa
    assert a.faulty  # sticky, like panthor's unhandled_fault
    a.acknowledge_fault()
    assert not a.faulty and len(a.faults) == 1
    platform.sim.mmu.raise_fault(1, 0x3C2, 0x4000)
    assert [f.exception_name for f in mmu.service()] == ["TRANSLATION_FAULT_2"]


def test_fault_through_the_irq_line_wait(rig: tuple[SimPlatform, Mmu]) -> None:
    platform, mmu = rig
    mcu = mmu.create_mcu_vm()
    mmu.activate(mcu)
    platform.sim.mmu.raise_fault(0, 0x2C1, 0x8000)
    mmu.gpu.irq.wait(lambda: mmu.faults, 0.001, "MMU fault")
    assert mcu.faulty and mmu.faults[0].as_nr == 0 and mmu.faults[0].exception_name == "TRANSLATION_FAULT_1"
    assert platform.sim.mmu.live_config(0) == AsConfig(0, 0, 1)


def test_fault_in_an_unowned_as_is_recorded_without_touching_it(rig: tuple[SimPlatform, Mmu]) -> None:
    platform, mmu = rig
    platform.sim.mmu.raise_fault(6, 0x3C3, 0x1000)
    (fault,) = mmu.service()
    assert fault.vm_id is None and fault.as_nr == 6
    assert platform.mmio.read32(MMU_IRQ_MASK) == 0xFFBF
    assert all(n != 6 for _, n, _ in platform.sim.mmu.completed)  # no AS command on AS6
