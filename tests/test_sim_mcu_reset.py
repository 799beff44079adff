"""Simulated MCU across resets: soft reset, fast restart after HALT, slow restart and reload checks
(csf-firmware-and-interfaces.md §3.8, §9.2, §9.7; mali-csf-registers-and-mmu.md §1.5, §1.9, §7)."""

from __future__ import annotations

import pytest
from test_sim_mcu_rig import (
    AS0,
    AS_TRANSCFG,
    GLB_IN,
    GLB_OUT,
    GPU_COMMAND,
    GPU_IRQ_RAWSTAT,
    JOB_IRQ_GLB,
    JOB_IRQ_RAWSTAT,
    MCU_CONTROL,
    MCU_STATUS,
    SHARED,
    McuRig,
    synthetic_image,
)

from uio_driver.errors import SimProtocolError

REQ, ACK = GLB_IN, GLB_OUT
HALT, ALLOC_EN, POWEROFF, PROGRESS, PING, IDLE_EN = 1, 1 << 2, 1 << 3, 1 << 1, 1 << 8, 1 << 10
RW_DATA = 0x02000000


@pytest.fixture
def rig():
    r = McuRig()
    r.image = synthetic_image()
    r.boot(r.image)
    yield r
    r.close()


def gpu_reset(rig: McuRig, command: int = 0x101) -> None:
    """GPU_COMMAND reset (0x001 fast, 0x101 soft; §1.5) and wait for RESET_COMPLETED."""
    rig.w32(0x024, 0xFFFFFFFF)
    rig.w32(GPU_COMMAND, command)
    rig.clock.poll(lambda: rig.r32(GPU_IRQ_RAWSTAT) & 0x100, 0.1, "reset")


def restart(rig: McuRig) -> int:
    """panthor_fw_post_reset + start (§3.8): L2, AS0, JOB IRQ unmasked, MCU AUTO; the boot IRQ."""
    rig.power_l2()
    rig.enable_as0()
    rig.start_mcu()
    return rig.wait_job(1.0)


def halt(rig: McuRig) -> None:
    rig.update(REQ, HALT, HALT)
    rig.ring(0)
    rig.clock.poll(lambda: rig.r32(MCU_STATUS) == 2, 0.1, "MCU halt", interval=10e-6)


def global_init(rig: McuRig) -> None:
    rig.wr32(GLB_IN + 0x04, 0x0400050E)
    rig.wr32(GLB_IN + 0x80, 0x13)  # idle_timer 810 µs (§3.7)
    rig.update(REQ, IDLE_EN, IDLE_EN)
    rig.toggle(REQ, ACK, ALLOC_EN | POWEROFF | PROGRESS)
    rig.ring(0)
    assert rig.wait_job(0.01) == JOB_IRQ_GLB


def test_soft_reset_disables_the_mcu_and_keeps_memory(rig):
    global_init(rig)
    gpu_reset(rig)
    assert rig.r32(MCU_STATUS) == 0 and rig.r32(MCU_CONTROL) == 0
    assert rig.r32(JOB_IRQ_RAWSTAT) == 0 and rig.r32(AS0 + AS_TRANSCFG) == 0
    assert rig.rd32(SHARED) == 0x01050000 and rig.rd32(ACK) == 0x40E  # memory untouched
    rig.clock.sleep(0.01)
    assert rig.r32(MCU_STATUS) == 0  # nothing restarts by itself after a soft reset
    with pytest.raises(SimProtocolError, match="doorbell 0"):
        rig.ring(0)


def test_fast_restart_after_halt_reuses_the_shared_section(rig):
    global_init(rig)
    rig.toggle(GLB_IN + 0x08, GLB_OUT + 0x08, 1 << 1)  # a CSG doorbell bit, also mirrored
    rig.ring(0)
    rig.settle()
    halt(rig)
    gpu_reset(rig)
    rig.update(REQ, 0, HALT)  # panthor clears HALT before the fast restart (§3.8)
    assert restart(rig) == JOB_IRQ_GLB
    assert [b.kind for b in rig.mcu.boots] == ["cold", "fast"]
    assert rig.rd32(ACK) == rig.rd32(REQ) == 0x40E  # GLB ACK = REQ (§9.2)
    assert rig.rd32(GLB_OUT + 0x08) == rig.rd32(GLB_IN + 0x08) == 0b10
    assert rig.rd32(SHARED) == 0x01050000
    # The GLB input survived but the requests must be made again (§3.8): a new toggle is acked.
    rig.toggle(REQ, ACK, ALLOC_EN | PING)
    rig.ring(0)
    rig.settle()
    assert rig.rd32(ACK) == rig.rd32(REQ)
    assert rig.sim.violations == []


def test_slow_restart_without_reload_is_a_strict_error(rig):
    rig.mcu.inject_fatal()
    gpu_reset(rig)
    with pytest.raises(SimProtocolError, match="not reloaded") as info:
        restart(rig)
    assert info.value.register == "MCU_CONTROL"
    assert rig.sim.violations[-1].kind == "stale-sections"


def test_slow_restart_without_reload_non_strict_boots_on_the_stale_contents():
    rig = McuRig(strict=False)
    rig.boot()
    rig.w32(MCU_CONTROL, 0)  # stopped without HALT
    rig.w32(MCU_CONTROL, 2)
    assert rig.wait_job(1.0) == JOB_IRQ_GLB
    assert [v.kind for v in rig.sim.violations] == ["stale-sections"]
    assert [b.kind for b in rig.mcu.boots] == ["cold", "slow"]
    rig.close()


def test_slow_restart_after_a_full_reload_is_clean(rig):
    global_init(rig)
    rig.mcu.inject_fatal()
    gpu_reset(rig)
    rig.reload(rig.image)
    assert restart(rig) == JOB_IRQ_GLB
    assert [b.kind for b in rig.mcu.boots] == ["cold", "slow"]
    assert rig.rd32(SHARED) == 0x01050000 and rig.rd32(ACK) == 0  # ACK back to 0 (§9.2)
    assert rig.sim.violations == []


def test_slow_restart_detects_a_writable_section_that_was_not_reinitialised(rig):
    rig.wr32(RW_DATA + 0x100, 0xDEADBEEF)  # the test corrupts the firmware's RW data (§9.7)
    rig.mcu.inject_fatal()
    gpu_reset(rig)
    shared_only = synthetic_image()
    rig.buffers[SHARED].zero()  # the driver reloads the shared section only
    from test_sim_mcu_rig import iface_sections

    rig.buffers[SHARED].write(0, next(s for s in iface_sections(shared_only) if s.va_start == SHARED).data)
    with pytest.raises(SimProtocolError, match="writable section 0x2000000"):
        restart(rig)


def test_fast_gpu_reset_with_auto_restarts_the_mcu_by_itself(rig):
    halt(rig)
    gpu_reset(rig, 0x001)  # fast reset keeps MCU_CONTROL = AUTO (§1.9)
    assert rig.r32(MCU_CONTROL) == 2
    rig.update(REQ, 0, HALT)
    rig.enable_as0()  # the reset dropped the AS state; the MCU boot needs it when it completes
    assert rig.wait_job(1.0) == JOB_IRQ_GLB
    assert [b.kind for b in rig.mcu.boots] == ["cold", "fast"] and rig.sim.violations == []


def test_fast_gpu_reset_without_as0_fails_the_auto_restart_fatally(rig):
    halt(rig)
    gpu_reset(rig, 0x001)
    rig.clock.sleep(0.01)
    assert rig.r32(MCU_STATUS) == 3
    # TRANSLATION_FAULT_0 on the instruction fetch of the code section (registers §3.7).
    assert (rig.r32(AS0 + 0x1C), rig.r32(AS0 + 0x20)) == (0xC0 | 1 << 8, 0x00800000)


def test_power_cycle_keeps_memory_and_needs_a_new_boot(rig):
    rig.sim.set_power_domain(False)
    rig.sim.set_power_domain(True)
    assert rig.r32(MCU_STATUS) == 0 and rig.rd32(SHARED) == 0x01050000
    assert rig.mcu.state.value == "disabled"
