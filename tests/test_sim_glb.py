"""Simulated firmware GLB handling on doorbell 0 (csf-firmware-and-interfaces.md §3.7, §4, §7.1-§7.3,
§9.3), written with the reference's offsets: GLB input req +0x00, ack_irq_mask +0x04, doorbell_req
+0x08, progress_timer +0x10, poweroff_timer +0x14, core_en_mask +0x18, idle_timer +0x80; GLB output ack
+0x00, doorbell_ack +0x08, halt_status +0x10."""

from __future__ import annotations

import pytest
from test_sim_mcu_rig import (
    GLB_IN,
    GLB_OUT,
    GPU_IRQ_CLEAR,
    GPU_IRQ_MCU_STATUS_CHANGED,
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

REQ, ACK_IRQ_MASK, DOORBELL_REQ = GLB_IN, GLB_IN + 0x04, GLB_IN + 0x08
PROGRESS_TIMER, POWEROFF_TIMER = GLB_IN + 0x10, GLB_IN + 0x14
CORE_EN_MASK, IDLE_TIMER = GLB_IN + 0x18, GLB_IN + 0x80
ACK, DOORBELL_ACK, HALT_STATUS = GLB_OUT, GLB_OUT + 0x08, GLB_OUT + 0x10
HALT, PROGRESS, ALLOC_EN, POWEROFF, PING, FWCFG, IDLE_EN, SLEEP, IDLE = (
    1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 8, 1 << 9, 1 << 10, 1 << 12, 1 << 26)


@pytest.fixture
def rig():
    r = McuRig()
    r.boot()
    yield r
    r.close()


def global_init(rig: McuRig) -> None:
    """panthor's global initialisation with the RK3588 values of §3.7 (no doorbell yet)."""
    rig.wr64(CORE_EN_MASK, 0x50005)
    rig.wr32(POWEROFF_TIMER, 0xEB)
    rig.wr32(PROGRESS_TIMER, 0x271000)
    rig.wr32(IDLE_TIMER, 0x13)
    rig.wr32(ACK_IRQ_MASK, 0x0400050E)
    rig.update(REQ, IDLE_EN, IDLE_EN)
    rig.toggle(REQ, ACK, ALLOC_EN | POWEROFF | PROGRESS)


def test_global_init_is_acked_only_after_doorbell_0(rig):
    global_init(rig)
    assert rig.rd32(REQ) == 0x40E  # §3.7 "from reset: 0x0000040E"
    rig.settle(500e-6)
    assert rig.rd32(ACK) == 0 and rig.r32(JOB_IRQ_RAWSTAT) == 0  # nothing without a doorbell (§7.1)
    rig.ring(0)
    assert rig.rd32(ACK) == 0  # the firmware answers after its (virtual) latency, not inside the write
    assert rig.wait_job(0.001) == JOB_IRQ_GLB
    assert rig.rd32(ACK) == 0x40E
    glb = rig.mcu.glb
    latched = (glb.core_en_mask, glb.poweroff_timer, glb.progress_timer, glb.idle_timer)
    assert latched == (0x50005, 0xEB, 0x271000, 0x13)
    assert rig.sim.violations == []


def test_answer_latency_is_configurable(rig):
    rig.mcu.config.answer_latency_ns = 10_000
    rig.toggle(REQ, ACK, PING)
    rig.ring(0)
    rig.clock.sleep(9e-6)
    assert rig.rd32(ACK) & PING == 0
    rig.clock.sleep(2e-6)
    assert rig.rd32(ACK) & PING == PING


@pytest.mark.parametrize("mask,irq", [(0, False), (PING, True), (IDLE_EN, False),
                                      (~PING & 0xFFFFFFFF, False)])
def test_job_irq_31_only_when_a_changed_ack_bit_is_in_ack_irq_mask(rig, mask, irq):
    rig.wr32(ACK_IRQ_MASK, mask)
    rig.toggle(REQ, ACK, PING)
    rig.ring(0)
    raw = rig.wait_job(0.01)
    assert rig.rd32(ACK) & PING == PING  # acknowledged either way
    assert raw == (JOB_IRQ_GLB if irq else 0)


def test_ack_is_written_before_the_irq_is_raised(rig):
    seen = []
    raise_bits = rig.sim.job_irq.raise_bits
    rig.sim.job_irq.raise_bits = lambda bits: (seen.append((bits, rig.rd32(ACK))), raise_bits(bits))
    rig.wr32(ACK_IRQ_MASK, PING)
    rig.toggle(REQ, ACK, PING)
    rig.ring(0)
    rig.settle()
    assert seen == [(JOB_IRQ_GLB, PING)]


def test_second_ping_toggles_ack_back(rig):
    for expected in (PING, 0, PING):
        rig.toggle(REQ, ACK, PING)
        rig.ring(0)
        rig.settle()
        assert rig.rd32(ACK) & PING == expected
    assert rig.mcu.glb.applied["PING"] == 3


def test_fwcfg_update_and_unsupported_sleep(rig):
    rig.toggle(REQ, ACK, FWCFG)
    rig.update(REQ, SLEEP, SLEEP)
    rig.ring(0)
    rig.settle()
    assert rig.rd32(ACK) & (FWCFG | SLEEP) == FWCFG  # SLEEP is not modelled: no ACK
    assert any("SLEEP" in n for n in rig.sim.notes)


def test_alloc_en_naming_absent_cores_is_noted(rig):
    rig.wr64(CORE_EN_MASK, 0xFF)  # SHADER_PRESENT is 0x50005 (cores 0, 2, 16, 18)
    rig.toggle(REQ, ACK, ALLOC_EN)
    rig.ring(0)
    rig.settle()
    assert rig.rd32(ACK) & ALLOC_EN
    assert any("absent shader cores 0xfa" in n for n in rig.sim.notes)


# -- IDLE_EN / IDLE ---------------------------------------------------------------------------------


def test_idle_event_after_idle_timer_once_per_idle_period(rig):
    global_init(rig)
    rig.ring(0)
    assert rig.wait_job(0.001) == JOB_IRQ_GLB
    t0 = rig.clock.now_ns()  # the answer instant (the wait returns at the IRQ)
    # 0x13 units of 1024 ticks of the 24 MHz system counter: 19 * 1024 / 24e6 s = 810.667 µs (§3.7).
    rig.clock.advance_to(t0 + 810_000)
    assert rig.rd32(ACK) & IDLE == 0
    assert rig.wait_job(0.001) == JOB_IRQ_GLB  # IDLE is in ack_irq_mask 0x0400050E
    assert rig.clock.now_ns() == t0 + 810_667
    assert rig.rd32(ACK) & IDLE == IDLE and rig.rd32(ACK) & IDLE_EN == IDLE_EN
    # The host acknowledges the event by copying the ACK bit into REQ — no doorbell needed (§7.6).
    rig.update(REQ, rig.rd32(ACK), IDLE)
    rig.settle(10e-3)
    assert rig.mcu.glb.idle_events == 1 and rig.r32(JOB_IRQ_RAWSTAT) == 0
    assert rig.sim.violations == []


def test_idle_timer_in_gpu_cycles(rig):
    rig.wr32(IDLE_TIMER, 1 << 31 | 100)  # bit 31: GPU cycle counter source (§4.2), 198 MHz at probe
    rig.wr32(ACK_IRQ_MASK, IDLE)
    rig.update(REQ, IDLE_EN, IDLE_EN)
    t_ring = rig.clock.now_ns()
    rig.ring(0)
    assert rig.wait_job(0.01) == JOB_IRQ_GLB
    # Answer after the default 2 µs latency, then 100 * 1024 cycles / 198e6 Hz = 517171.7 ns (rounded up).
    assert rig.clock.now_ns() == t_ring + 2_000 + 517_172


def test_idle_event_not_raised_while_one_is_pending(rig):
    rig.wr32(IDLE_TIMER, 1)
    rig.update(REQ, IDLE_EN, IDLE_EN)
    rig.ring(0)
    rig.settle(1e-3)
    assert rig.mcu.glb.idle_events == 1
    rig.mcu.note_activity()  # activity restarts the countdown, but the first event is unacknowledged
    rig.settle(1e-3)
    assert rig.mcu.glb.idle_events == 1 and rig.rd32(ACK) & IDLE == IDLE
    rig.update(REQ, rig.rd32(ACK), IDLE)  # acknowledge
    rig.mcu.note_activity()
    rig.settle(1e-3)
    assert rig.mcu.glb.idle_events == 2 and (rig.rd32(ACK) ^ rig.rd32(REQ)) & IDLE == IDLE


def test_idle_en_cleared_stops_the_idle_timer(rig):
    rig.wr32(IDLE_TIMER, 0x13)
    rig.update(REQ, IDLE_EN, IDLE_EN)
    rig.ring(0)
    rig.settle(100e-6)
    rig.update(REQ, 0, IDLE_EN)
    rig.ring(0)
    rig.settle(5e-3)
    assert rig.rd32(ACK) & (IDLE_EN | IDLE) == 0 and rig.mcu.glb.idle_events == 0


# -- HALT -----------------------------------------------------------------------------------------


def test_halt_sets_mcu_status_2_without_ack(rig):
    rig.w32(GPU_IRQ_CLEAR, 0xFFFFFFFF)
    rig.wr32(ACK_IRQ_MASK, 0xFFFFFFFF)
    rig.update(REQ, HALT, HALT)
    rig.ring(0)
    assert rig.clock.poll(lambda: rig.r32(MCU_STATUS) == 2, 0.1, "MCU halt", interval=10e-6)  # §3.8
    assert rig.r32(GPU_IRQ_RAWSTAT) & GPU_IRQ_MCU_STATUS_CHANGED
    assert rig.rd32(ACK) & HALT == 0 and rig.r32(JOB_IRQ_RAWSTAT) == 0
    assert rig.rd32(HALT_STATUS) == 0
    with pytest.raises(SimProtocolError, match="halted"):
        rig.ring(0)


def test_halt_reacts_to_the_0_to_1_edge_only(rig):
    rig.update(REQ, HALT, HALT)
    rig.ring(0)
    rig.settle()
    rig.w32(0x030, 0x101)  # soft reset (§3.8 fast reset path)
    rig.clock.poll(lambda: rig.r32(GPU_IRQ_RAWSTAT) & 0x100, 0.1, "reset")
    rig.power_l2()
    rig.enable_as0()
    rig.start_mcu()  # HALT deliberately left at 1 in REQ
    assert rig.wait_job(0.01) == JOB_IRQ_GLB
    rig.ring(0)
    rig.settle()
    assert rig.r32(MCU_STATUS) == 1  # still 1: no 0→1 edge seen
    rig.update(REQ, 0, HALT)
    rig.ring(0)
    rig.settle()
    rig.update(REQ, HALT, HALT)
    rig.ring(0)
    rig.settle()
    assert rig.r32(MCU_STATUS) == 2


# -- strict-mode protocol errors --------------------------------------------------------------------


def test_doorbell_0_while_booting_is_a_strict_error():
    rig = McuRig()
    rig.power_l2()
    rig.load(synthetic_image())
    rig.enable_as0()
    rig.start_mcu()
    with pytest.raises(SimProtocolError, match="booting") as info:
        rig.ring(0)
    assert info.value.register == "DOORBELL0"
    rig.close()


def test_doorbell_0_before_boot_non_strict_is_recorded():
    rig = McuRig(strict=False)
    rig.ring(0)
    assert [v.kind for v in rig.sim.violations] == ["mcu-not-running"]
    rig.close()


def test_request_without_doorbell_is_reported_by_the_watchdog(rig):
    rig.toggle(REQ, ACK, PING)
    with pytest.raises(SimProtocolError, match="GLB_REQ changed \\(PING\\)") as info:
        rig.settle(3e-3)
    assert info.value.register == "GLB_REQ"


def test_request_without_doorbell_non_strict_is_reported_once():
    rig = McuRig(strict=False)
    rig.boot()
    rig.toggle(REQ, ACK, PING)
    rig.settle(10e-3)
    assert [v.kind for v in rig.sim.violations] == ["no-doorbell"]
    assert rig.rd32(ACK) & PING == 0  # no spontaneous ACK (§9.3)
    rig.close()


def test_doorbell_req_toggled_without_ring_is_reported(rig):
    rig.toggle(DOORBELL_REQ, DOORBELL_ACK, 1 << 2)
    with pytest.raises(SimProtocolError, match="doorbell_req"):
        rig.settle(3e-3)


def test_watchdog_can_be_disabled(rig):
    rig.mcu.config.watchdog_ns = 0
    rig.mcu.watch.start()
    rig.toggle(REQ, ACK, PING)
    rig.settle(10e-3)
    assert rig.sim.violations == []


def test_host_write_to_the_glb_output_block_is_reported_within_a_watchdog_period(rig):
    rig.wr32(ACK, 0x100)  # the host must never write output blocks (§4)
    rig.toggle(REQ, ACK, PING)
    rig.ring(0)
    with pytest.raises(SimProtocolError, match="GLB output field ack"):
        rig.settle(2e-3)  # doorbells read only input blocks; the watchdog compares the shadows


def test_host_write_to_a_control_block_is_reported_at_a_watchdog_tick(rig):
    rig.wr32(SHARED, 0x02000000)  # GLB control version
    with pytest.raises(SimProtocolError, match="GLB control field version"):
        rig.settle(2e-3)


def test_never_ack_ping_hook_and_retoggle_while_outstanding(rig):
    rig.mcu.faults.never_ack_glb = PING
    rig.toggle(REQ, ACK, PING)
    rig.ring(0)
    rig.settle(0.1)  # panthor's ping ack timeout (§7.8)
    assert rig.rd32(ACK) & PING == 0
    rig.wr32(REQ, rig.rd32(REQ) ^ PING)  # toggled again before the ACK: REQ == ACK, the request is lost
    rig.ring(0)
    with pytest.raises(SimProtocolError, match="PING was toggled again") as info:
        rig.settle()
    assert info.value.register == "GLB_REQ"


def test_crash_on_glb_request_hook(rig):
    rig.w32(GPU_IRQ_CLEAR, 0xFFFFFFFF)
    rig.mcu.faults.crash_on_glb = PING
    rig.toggle(REQ, ACK, PING)
    rig.ring(0)
    rig.settle()
    assert rig.r32(MCU_STATUS) == 3
    assert rig.r32(GPU_IRQ_RAWSTAT) & GPU_IRQ_MCU_STATUS_CHANGED
    assert rig.rd32(HALT_STATUS) == 0x4E and rig.rd32(ACK) & PING == 0
    rig.ring(0)  # the driver may race the crash: noted, not a protocol error
    assert any("FATAL" in n for n in rig.sim.notes)


def test_doorbell_req_bits_beyond_group_num_are_refused():
    rig = McuRig()
    rig.boot(synthetic_image(group_num=4))
    rig.toggle(DOORBELL_REQ, DOORBELL_ACK, 1 << 5)
    rig.ring(0)
    with pytest.raises(SimProtocolError, match="group_num 4"):
        rig.settle()
    rig.close()


def test_mcu_control_while_halted_is_noted(rig):
    rig.update(REQ, HALT, HALT)
    rig.ring(0)
    rig.settle()
    rig.w32(MCU_CONTROL, 2)
    assert rig.r32(MCU_STATUS) == 2
    assert any("restarts only after a GPU reset" in n for n in rig.sim.notes)


def test_an_as0_lock_over_the_interface_stalls_the_firmware_without_false_reports(rig):
    # LOCKADDR 0x04000000 | 20 locks 2^(20+1) = 2 MiB from 0x04000000 (registers §3.4).
    rig.w64(0x2400 + 0x10, SHARED | 20)
    rig.w32(0x2400 + 0x18, 2)  # LOCK
    rig.settle(10e-6)
    assert rig.sim.mmu.locked_region(0) is not None
    rig.toggle(REQ, ACK, PING)
    rig.ring(0)
    rig.settle(3e-3)  # answer and watchdog both wait for the lock (the MCU's accesses stall)
    assert rig.rd32(ACK) & PING == 0 and rig.sim.violations == []
    rig.w32(0x2400 + 0x18, 3)  # UNLOCK
    rig.settle(20e-6)
    assert rig.rd32(ACK) & PING == PING
    assert rig.sim.violations == []


def test_non_strict_host_write_to_an_output_block_is_recorded_once():
    rig = McuRig(strict=False)
    rig.boot()
    rig.wr32(DOORBELL_ACK, 0xF)
    for _ in range(3):
        rig.toggle(REQ, ACK, PING)
        rig.ring(0)
        rig.settle()
    assert [v.kind for v in rig.sim.violations] == ["fw-owned-write"]
    assert "GLB output field doorbell_ack" in rig.sim.violations[0].message
    rig.close()


def test_bad_config_and_fault_values_are_refused_when_sampled(rig):
    from uio_driver.errors import InvalidArgument

    rig.mcu.config.suspend_size = 0x1800  # not a page multiple
    rig.toggle(REQ, ACK, PING)
    rig.ring(0)
    with pytest.raises(InvalidArgument, match="suspend_size"):
        rig.settle()
    rig.mcu.config.suspend_size = 0x4000
    rig.mcu.faults.never_ack_glb = -1
    rig.ring(0)
    with pytest.raises(InvalidArgument, match="never_ack_glb"):
        rig.settle()


def test_same_inputs_give_the_same_trace_and_answers():
    traces = []
    for _ in range(2):
        rig = McuRig()
        rig.sim.trace = []
        rig.boot()
        global_init(rig)
        rig.ring(0)
        rig.settle(2e-3)
        traces.append((list(rig.sim.trace), rig.rd32(ACK), rig.clock.events_run))
        rig.close()
    assert traces[0] == traces[1]
    assert traces[0][1] & 0x40E == 0x40E
