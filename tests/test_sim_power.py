"""Power-domain behaviour: PWRTRANS rises with the PWRON/PWROFF write, READY changes later (no
later than PWRTRANS clears), POWER_CHANGED_SINGLE/ALL rise, absent units are ignored, host
SHADER/TILER requests are accepted but noted, GPU_STATUS.PWR_ACTIVE, the L2 fault hook.

Raw offsets from mali-csf-registers-and-mmu.md §1.1/§1.10; sequence from §5.3.
"""

from __future__ import annotations

import pytest

from uio_driver.errors import SimProtocolError, Timeout
from uio_driver.sim import SimConfig, SimFaults, SimPlatform

L2_READY, L2_PWRON, L2_PWROFF, L2_PWRTRANS = 0x160, 0x1A0, 0x1E0, 0x220
SHADER_READY, SHADER_PWRON, SHADER_PWRTRANS = 0x140, 0x180, 0x200
TILER_PWRON, TILER_READY = 0x190, 0x150
GPU_IRQ_RAWSTAT, GPU_STATUS = 0x020, 0x034
POWER_CHANGED_SINGLE, POWER_CHANGED_ALL = 1 << 9, 1 << 10


def test_l2_power_on_timing_and_interrupts():
    with SimPlatform(config=SimConfig(l2_power_delay_ns=50_000)) as p:
        m, clock = p.mmio, p.clock
        assert m.read32(L2_PWRTRANS) == 0
        m.write32(L2_PWRON, 1)
        # PWRTRANS set synchronously with the write; READY not yet (§5.3 step 4 note).
        assert (m.read32(L2_PWRTRANS), m.read32(L2_READY)) == (1, 0)
        assert m.read32(GPU_STATUS) & 0x2  # PWR_ACTIVE
        clock.sleep(49_999e-9)
        assert (m.read32(L2_PWRTRANS), m.read32(L2_READY)) == (1, 0)
        clock.sleep(1e-9)
        assert (m.read32(L2_PWRTRANS), m.read32(L2_READY)) == (0, 1)
        assert m.read32(GPU_STATUS) & 0x2 == 0
        assert m.read32(GPU_IRQ_RAWSTAT) == POWER_CHANGED_SINGLE | POWER_CHANGED_ALL


def test_ready_is_set_no_later_than_pwrtrans_clears(sim_platform):
    m, clock = sim_platform.mmio, sim_platform.clock
    m.write32(L2_PWRON, 1)
    # A driver polling PWRTRANS clear (one panthor version) must then see READY set.
    clock.poll(lambda: m.read32(L2_PWRTRANS) & 1 == 0, 0.02, "L2 PWRTRANS clear")
    assert m.read32(L2_READY) == 1


def test_l2_power_off_reverses(sim_platform):
    m, clock = sim_platform.mmio, sim_platform.clock
    m.write32(L2_PWRON, 1)
    clock.sleep(1e-3)
    m.write32(0x024, 0xFFFFFFFF)
    m.write32(L2_PWROFF, 1)
    assert (m.read32(L2_PWRTRANS), m.read32(L2_READY)) == (1, 1)
    clock.sleep(1e-3)
    assert (m.read32(L2_PWRTRANS), m.read32(L2_READY)) == (0, 0)
    assert m.read32(GPU_IRQ_RAWSTAT) == POWER_CHANGED_SINGLE | POWER_CHANGED_ALL


def test_bits_for_absent_units_are_ignored(sim_platform):
    m, clock = sim_platform.mmio, sim_platform.clock
    m.write32(L2_PWRON, 0xFFFFFFFE)  # L2_PRESENT = 1: only bit 0 exists
    m.write32(L2_PWRON + 4, 0xFFFFFFFF)  # HI half: nothing present
    assert m.read32(L2_PWRTRANS) == 0 and m.read32(L2_PWRTRANS + 4) == 0
    clock.sleep(1e-3)
    assert m.read32(L2_READY) == 0 and m.read32(GPU_IRQ_RAWSTAT) == 0


def test_shader_power_on_is_accepted_but_noted_and_masked_by_present(sim_platform):
    m, clock, sim = sim_platform.mmio, sim_platform.clock, sim_platform.sim
    m.write32(SHADER_PWRON, 0xFFFFFFFF)
    assert m.read32(SHADER_PWRTRANS) == 0x50005  # SHADER_PRESENT: cores 0, 2, 16, 18
    assert any("SHADER_PWRON" in n and "panthor never" in n for n in sim.notes)
    clock.sleep(1e-3)
    assert m.read32(SHADER_READY) == 0x50005
    m.write32(TILER_PWRON, 1)
    assert any("TILER_PWRON" in n for n in sim.notes)
    clock.sleep(1e-3)
    assert m.read32(TILER_READY) == 1
    assert sim.violations == []


def test_power_changed_all_only_when_every_transition_finished():
    with SimPlatform(config=SimConfig(l2_power_delay_ns=50_000, core_power_delay_ns=10_000)) as p:
        m, clock = p.mmio, p.clock
        m.write32(L2_PWRON, 1)
        m.write32(SHADER_PWRON, 0x5)
        clock.sleep(10e-6)  # shader done, L2 still in transition
        assert m.read32(GPU_IRQ_RAWSTAT) == POWER_CHANGED_SINGLE
        assert m.read32(GPU_STATUS) & 0x2
        clock.sleep(40e-6)
        assert m.read32(GPU_IRQ_RAWSTAT) == POWER_CHANGED_SINGLE | POWER_CHANGED_ALL


def test_power_on_of_ready_unit_is_a_no_op(sim_platform):
    m, clock = sim_platform.mmio, sim_platform.clock
    m.write32(L2_PWRON, 1)
    clock.sleep(1e-3)
    m.write32(0x024, 0xFFFFFFFF)
    m.write32(L2_PWRON, 1)
    assert m.read32(L2_PWRTRANS) == 0
    clock.sleep(1e-3)
    assert m.read32(GPU_IRQ_RAWSTAT) == 0


def test_power_off_during_power_on_wins(sim_platform):
    m, clock = sim_platform.mmio, sim_platform.clock
    m.write32(L2_PWRON, 1)
    m.write32(L2_PWROFF, 1)
    assert m.read32(L2_PWRTRANS) == 1
    clock.sleep(1e-3)
    assert (m.read32(L2_READY), m.read32(L2_PWRTRANS)) == (0, 0)


def test_l2_never_powers_up_fault_hook():
    with SimPlatform(faults=SimFaults(l2_never_powers_up=True)) as p:
        m = p.mmio
        m.write32(L2_PWRON, 1)
        with pytest.raises(Timeout, match="L2 ready"):
            p.clock.poll(lambda: m.read32(L2_READY) & 1, 0.02, "L2 ready")
        assert m.read32(L2_PWRTRANS) == 1  # stuck in transition
        assert m.read32(GPU_STATUS) & 0x2


def test_power_request_registers_are_write_only(sim_platform):
    m = sim_platform.mmio
    m.write32(L2_PWRON, 1)
    assert m.read32(L2_PWRON) == 0 and m.read32(L2_PWROFF) == 0
    with pytest.raises(SimProtocolError):
        m.write32(L2_READY, 1)


def test_require_l2_ready_flags_gpu_memory_access_with_l2_off(sim_platform):
    sim = sim_platform.sim
    with pytest.raises(SimProtocolError, match="L2 is not powered"):
        sim.require_l2_ready("MCU boot")
    sim_platform.mmio.write32(L2_PWRON, 1)
    sim_platform.clock.sleep(1e-3)
    assert sim.require_l2_ready("MCU boot") is True


def test_soft_reset_drops_in_flight_power_transitions(sim_platform):
    m, clock = sim_platform.mmio, sim_platform.clock
    m.write32(L2_PWRON, 1)
    m.write32(0x030, 0x101)
    clock.sleep(1e-3)
    assert (m.read32(L2_READY), m.read32(L2_PWRTRANS)) == (0, 0)
    assert m.read32(GPU_IRQ_RAWSTAT) == 1 << 8  # only RESET_COMPLETED; power IRQs were wiped
