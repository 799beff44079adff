"""GPU_CONTROL behaviour of the simulated G610: GPU_COMMAND (reset, flush, cycle counter, clear
fault), reset state, TIMESTAMP/CYCLE_COUNT, GPU faults, MCU_CONTROL, fault hooks.

Raw offsets/values from mali-csf-registers-and-mmu.md §1.5–§1.9, §5.2, §5.8 and §7.
"""

from __future__ import annotations

import pytest

from uio_driver.errors import InvalidArgument, SimProtocolError, Timeout
from uio_driver.sim import SimConfig, SimFaults, SimPlatform

GPU_IRQ_RAWSTAT, GPU_IRQ_CLEAR, GPU_IRQ_MASK = 0x020, 0x024, 0x028
GPU_COMMAND, GPU_STATUS = 0x030, 0x034
SOFT_RESET, HARD_RESET, FAST_RESET = 0x101, 0x201, 0x001
RESET_COMPLETED, CLEAN_CACHES_COMPLETED, GPU_FAULT = 1 << 8, 1 << 17, 1 << 0
LATEST_FLUSH = 0x10000


def soft_reset(p, command=SOFT_RESET):
    """The panthor sequence of §5.2, polling RAWSTAT (§5.10 rows 2–5)."""
    m = p.mmio
    m.write32(GPU_IRQ_CLEAR, RESET_COMPLETED)
    m.write32(GPU_COMMAND, command)
    p.clock.poll(lambda: m.read32(GPU_IRQ_RAWSTAT) & RESET_COMPLETED, 0.1, "reset completed")
    m.write32(GPU_IRQ_CLEAR, RESET_COMPLETED)


def power_l2(p):
    m = p.mmio
    m.write32(0x1A0, 1)
    p.clock.poll(lambda: m.read32(0x160) & 1, 0.02, "L2 ready")


# -- reset ------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [SOFT_RESET, HARD_RESET])
def test_reset_takes_configured_virtual_time_then_raises_reset_completed(command):
    with SimPlatform(config=SimConfig(reset_delay_ns=123_000)) as p:
        m = p.mmio
        m.write32(GPU_COMMAND, command)
        p.clock.sleep(122e-6)
        assert m.read32(GPU_IRQ_RAWSTAT) & RESET_COMPLETED == 0
        p.clock.sleep(1e-6)
        assert m.read32(GPU_IRQ_RAWSTAT) == RESET_COMPLETED
        assert p.sim.resets == [(123_000, "soft" if command == SOFT_RESET else "hard")]


def test_soft_reset_restores_reset_state(sim_platform):
    p, m, sim = sim_platform, sim_platform.mmio, sim_platform.sim
    power_l2(p)
    m.write32(0x2400, 0x1000)  # AS0 TRANSTAB_LO
    m.write32(0x2430, 0x420001C6)  # AS0 TRANSCFG_LO
    m.write32(0x2410, 0x3F)  # AS0 LOCKADDR whole range
    m.write32(0x2418, 1)  # UPDATE
    p.clock.sleep(1e-3)
    m.write32(0x2418, 2)  # LOCK
    p.clock.sleep(1e-3)
    assert sim.mmu.locked_region(0) is not None
    m.write32(0x1000, 0x80000000)  # JOB RAWSTAT
    assert sim.mmu.raise_fault(2, 0x3C3, 0xDEAD000)
    sim.inject_gpu_fault(0x80, 0x1234)
    m.write32(GPU_COMMAND, 0x103)  # cycle counter on
    m.write32(0x700, 2)  # MCU AUTO (no firmware: status stays 0)
    soft_reset(p)
    zero_offsets = {
        0x140: "SHADER_READY", 0x150: "TILER_READY", 0x160: "L2_READY", 0x200: "SHADER_PWRTRANS",
        0x210: "TILER_PWRTRANS", 0x220: "L2_PWRTRANS", 0x240: "SHADER_PWRACTIVE", 0x260: "L2_PWRACTIVE",
        0x034: "GPU_STATUS", 0x03C: "GPU_FAULTSTATUS", 0x040: "GPU_FAULTADDRESS_LO",
        0x700: "MCU_CONTROL", 0x704: "MCU_STATUS", 0x1000: "JOB_IRQ_RAWSTAT", 0x2000: "MMU_IRQ_RAWSTAT",
        0x2400: "AS0_TRANSTAB_LO", 0x2410: "AS0_LOCKADDR_LO", 0x2430: "AS0_TRANSCFG_LO",
        0x2428: "AS0_STATUS", 0x249C: "AS2_FAULTSTATUS", 0x24A0: "AS2_FAULTADDRESS_LO",
    }
    for offset, name in zero_offsets.items():
        assert m.read32(offset) == 0, name
    assert sim.mmu.locked_region(0) is None
    assert sim.mmu.live_config(0).transcfg == 0
    assert m.read32(GPU_IRQ_RAWSTAT) == 0


def test_fast_reset_keeps_power_domains_on(sim_platform):
    p, m = sim_platform, sim_platform.mmio
    power_l2(p)
    soft_reset(p, FAST_RESET)
    assert m.read32(0x160) == 1  # kbase: fast reset keeps power domains on (§1.5)
    assert p.sim.resets[-1][1] == "fast"
    soft_reset(p)
    assert m.read32(0x160) == 0


def test_reset_never_completes_fault_hook_times_out():
    with SimPlatform(faults=SimFaults(reset_never_completes=True)) as p:
        m = p.mmio
        m.write32(GPU_COMMAND, SOFT_RESET)
        with pytest.raises(Timeout, match="reset completed"):
            p.clock.poll(lambda: m.read32(GPU_IRQ_RAWSTAT) & RESET_COMPLETED, 0.1, "reset completed")
        assert p.clock.now_ns() >= 100_000_000
        # Any further command except a hard reset is a protocol error while the reset is pending...
        with pytest.raises(SimProtocolError, match="reset has not completed"):
            m.write32(GPU_COMMAND, SOFT_RESET)
        # ... a hard reset is the last resort and is accepted (and works once the fault is gone).
        p.sim.faults.reset_never_completes = False
        m.write32(GPU_COMMAND, HARD_RESET)
        p.clock.sleep(1e-3)
        assert m.read32(GPU_IRQ_RAWSTAT) & RESET_COMPLETED


@pytest.mark.parametrize("command", [0x304, 0x103, 0x007, 0x101])
def test_command_while_reset_pending_is_a_strict_error(sim_platform, command):
    m = sim_platform.mmio
    m.write32(GPU_COMMAND, SOFT_RESET)
    with pytest.raises(SimProtocolError) as info:
        m.write32(GPU_COMMAND, command)
    assert info.value.register == "GPU_COMMAND" and info.value.value == command
    assert sim_platform.sim.violations[-1].kind == "command-pending"
    sim_platform.clock.sleep(1e-3)
    assert sim_platform.sim.gpu.cycle_running is False  # the refused command changed nothing
    assert len(sim_platform.sim.resets) == 1


# -- cache flush ---------------------------------------------------------------------------------


def test_flush_caches_completes_after_delay_and_bumps_latest_flush():
    with SimPlatform(config=SimConfig(flush_delay_ns=5_000)) as p:
        m = p.mmio
        assert m.read32(LATEST_FLUSH) == 0
        m.write32(GPU_IRQ_MASK, CLEAN_CACHES_COMPLETED)
        m.write32(GPU_COMMAND, 0x23304)  # P3 unlock-region flush: l2 3 / lsc 3 / other 2 (§1.5)
        assert m.read32(GPU_IRQ_RAWSTAT) & CLEAN_CACHES_COMPLETED == 0
        assert p.irq("gpu").wait(0.1) is True
        assert p.clock.now_ns() == 5_000
        assert m.read32(GPU_IRQ_STATUS := 0x02C) == CLEAN_CACHES_COMPLETED
        assert m.read32(LATEST_FLUSH) == 1
        assert p.sim.gpu.flushes == [(5_000, 3, 3, 2)]
        m.write32(GPU_IRQ_CLEAR, CLEAN_CACHES_COMPLETED)
        m.write32(GPU_COMMAND, 0x304)
        p.clock.sleep(1e-3)
        assert m.read32(LATEST_FLUSH) == 2
        assert m.read32(GPU_IRQ_STATUS) == CLEAN_CACHES_COMPLETED


def test_second_flush_while_one_is_pending_is_a_strict_error(sim_platform):
    m = sim_platform.mmio
    m.write32(GPU_COMMAND, 0x3304)
    with pytest.raises(SimProtocolError, match="cache flush has not completed"):
        m.write32(GPU_COMMAND, 0x3304)
    sim_platform.clock.sleep(1e-3)
    assert m.read32(LATEST_FLUSH) == 1  # only one flush happened


def test_second_flush_non_strict_is_merged():
    with SimPlatform(strict=False) as p:
        m = p.mmio
        m.write32(GPU_COMMAND, 0x3304)
        m.write32(GPU_COMMAND, 0x3304)
        p.clock.sleep(1e-3)
        assert m.read32(LATEST_FLUSH) == 1
        assert p.sim.gpu.irq.raise_count[17] == 1
        assert [v.kind for v in p.sim.violations] == ["command-pending"]


def test_flush_never_completes_fault_hook_then_reset_recovers():
    with SimPlatform(faults=SimFaults(flush_never_completes=True)) as p:
        m = p.mmio
        m.write32(GPU_COMMAND, 0x304)
        with pytest.raises(Timeout):
            p.clock.poll(lambda: m.read32(GPU_IRQ_RAWSTAT) & CLEAN_CACHES_COMPLETED, 0.1, "flush")
        assert m.read32(LATEST_FLUSH) == 0
        soft_reset(p)  # panthor's recovery: a reset aborts the stuck flush
        p.sim.faults.flush_never_completes = False
        m.write32(GPU_COMMAND, 0x304)
        p.clock.sleep(1e-3)
        assert m.read32(LATEST_FLUSH) == 1


@pytest.mark.parametrize("command", [0x404, 0x4004, 0x1000004])
def test_flush_with_invalid_payload_is_refused(sim_platform, command):
    with pytest.raises(SimProtocolError, match="FLUSH_CACHES payload"):
        sim_platform.mmio.write32(GPU_COMMAND, command)
    assert sim_platform.sim.gpu.flush_pending is False


# -- other commands -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", [0x08, 0x09, 0xFF, 0x201 + 0x100, 0x303, 0x102 + 0x200])
def test_unknown_opcodes_and_payloads_are_violations(sim_platform, command):
    with pytest.raises(SimProtocolError) as info:
        sim_platform.mmio.write32(GPU_COMMAND, command)
    assert info.value.register == "GPU_COMMAND"


def test_unknown_opcode_non_strict_is_ignored():
    with SimPlatform(strict=False) as p:
        p.mmio.write32(GPU_COMMAND, 0x09)
        p.clock.sleep(1e-3)
        assert p.sim.violations[0].kind == "bad-value" and p.sim.violations[0].value == 0x09
        assert p.mmio.read32(GPU_IRQ_RAWSTAT) == 0


def test_set_protected_mode_is_reported_as_unsupported(sim_platform):
    with pytest.raises(SimProtocolError, match="SET_PROTECTED_MODE"):
        sim_platform.mmio.write32(GPU_COMMAND, 0x005)
    assert sim_platform.sim.violations[-1].kind == "unsupported"


def test_cycle_counter_start_stop_toggles_status_and_counts_at_gpu_clock(sim_platform):
    m, clock = sim_platform.mmio, sim_platform.clock
    assert m.read64(0x090) == 0
    m.write32(GPU_COMMAND, 0x103)  # CYCLE_COUNT_START
    assert m.read32(GPU_STATUS) & (1 << 6)
    clock.sleep(1e-3)
    assert m.read64(0x090) == 198_000  # 1 ms at 198 MHz
    m.write32(GPU_COMMAND, 0x003)  # CYCLE_COUNT_STOP
    assert m.read32(GPU_STATUS) & (1 << 6) == 0
    clock.sleep(1e-3)
    assert m.read64(0x090) == 198_000  # frozen while stopped
    m.write32(GPU_COMMAND, 0x103)
    clock.sleep(0.5e-3)
    assert m.read64(0x090) == 198_000 + 99_000


def test_timestamp_runs_at_24_mhz_plus_offset_and_hi_lo_hi_is_consistent(sim_platform):
    m, clock = sim_platform.mmio, sim_platform.clock
    clock.sleep(2.5)
    assert m.read64(0x098) == 60_000_000  # 2.5 s * 24 MHz
    m.write32(0x088, 0xFFFFFFFF)  # TIMESTAMP_OFFSET_LO
    m.write32(0x08C, 0x1)  # TIMESTAMP_OFFSET_HI
    expected = 60_000_000 + 0x1_FFFFFFFF
    hi, lo, hi2 = m.read32(0x09C), m.read32(0x098), m.read32(0x09C)
    assert hi == hi2 and (hi << 32 | lo) == expected == 0x2_0393_86FF
    clock.sleep(1e-6)
    assert m.read64(0x098) == expected + 24


def test_clear_fault_zeroes_fault_registers(sim_platform):
    m, sim = sim_platform.mmio, sim_platform.sim
    assert sim.inject_gpu_fault(0x00000680, 0x1_2345_6000) is True  # GPU_BUS_FAULT, write access
    assert (m.read32(0x03C), m.read32(0x040), m.read32(0x044)) == (0x680, 0x23456000, 0x1)
    assert m.read32(GPU_IRQ_RAWSTAT) & GPU_FAULT
    assert sim.inject_gpu_fault(0x88, 0x5000) is False  # first fault stays latched
    assert m.read32(0x03C) == 0x680
    m.write32(GPU_COMMAND, 0x007)
    assert (m.read32(0x03C), m.read32(0x040), m.read32(0x044)) == (0, 0, 0)


def test_injected_gpu_fault_is_delivered_on_the_gpu_line(sim_platform):
    m = sim_platform.mmio
    m.write32(GPU_IRQ_MASK, 0x20103)
    sim_platform.sim.inject_gpu_fault(0x80, 0)
    assert sim_platform.irq("gpu").wait(0) is True
    assert m.read32(0x02C) == GPU_FAULT


@pytest.mark.parametrize(("status", "address"), [(0, 0), (1 << 32, 0), (1, -1), (1, 1 << 64)])
def test_inject_gpu_fault_rejects_bad_values(sim_platform, status, address):
    with pytest.raises(InvalidArgument):
        sim_platform.sim.inject_gpu_fault(status, address)
    assert sim_platform.mmio.read32(GPU_IRQ_RAWSTAT) == 0


# -- MCU ------------------------------------------------------------------------------------------


def test_mcu_enable_without_firmware_stays_disabled_and_is_noted(sim_platform):
    sim_platform.sim.mcu = None  # this test is about the GPU with no firmware model attached
    m, sim = sim_platform.mmio, sim_platform.sim
    m.write32(0x700, 2)  # AUTO (§5.7)
    assert m.read32(0x700) == 2
    assert m.read32(0x704) == 0
    assert any("no firmware model" in n for n in sim.notes)
    m.write32(0x700, 0)
    assert (m.read32(0x700), m.read32(0x704)) == (0, 0)


def test_mcu_control_rejects_reserved_values(sim_platform):
    with pytest.raises(SimProtocolError) as info:
        sim_platform.mmio.write32(0x700, 3)
    assert info.value.register == "MCU_CONTROL"
    assert sim_platform.mmio.read32(0x700) == 0


class FakeMcu:
    """Stands in for the later MCU model: records calls and reports ENABLED on start."""

    def __init__(self, sim):
        self.sim, self.calls = sim, []

    def control(self, value):
        self.calls.append(("control", value))
        self.sim.gpu.set_mcu_status(1 if value else 0)

    def reset(self):
        self.calls.append(("reset",))


def test_mcu_hook_is_called_and_reports_status_with_irq(sim_platform):
    m, sim = sim_platform.mmio, sim_platform.sim
    sim.mcu = FakeMcu(sim)
    m.write32(0x700, 2)
    assert m.read32(0x704) == 1
    assert m.read32(GPU_IRQ_RAWSTAT) & (1 << 19)  # MCU_STATUS_CHANGED
    soft_reset(sim_platform)
    assert m.read32(0x704) == 0 and m.read32(0x700) == 0
    assert sim.mcu.calls == [("control", 2), ("reset",)]


def test_fast_reset_restarts_an_auto_mcu(sim_platform):
    sim = sim_platform.sim
    sim.mcu = FakeMcu(sim)
    sim_platform.mmio.write32(0x700, 2)
    soft_reset(sim_platform, FAST_RESET)
    assert sim.mcu.calls == [("control", 2), ("reset",), ("control", 2)]
    assert sim_platform.mmio.read32(0x704) == 1


def test_set_mcu_status_rejects_bad_values(sim_platform):
    with pytest.raises(InvalidArgument):
        sim_platform.sim.gpu.set_mcu_status(4)
