"""GLB requests on the simulated MCU: global initialisation, ping, timers, core mask, idle events.

Expected values (csf-firmware-and-interfaces.md): §3.7 — core_en_mask = shader_present 0x50005 (@0x18),
poweroff_timer 235 (@0x14), progress_timer 0x271000 (@0x10), idle_timer 19 (@0x80), ack_irq_mask
0x0400050E (@0x04), GLB_REQ 0x40E from reset (@0x00), timer = ceil(us · rate / (1e6 · 1024)) with bit 31
for the GPU cycle counter; §4.4 bit numbers; §7.1 toggle protocol; §7.8 100 ms request timeout. The GLB
input block is at MCU VA 0x04002000 and the output block at 0x04006000 (§2.8); both are read through the
simulator's own AS0 walker.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_firmware_boot_rig import (
    GLB_IN,
    GLB_OUT,
    JOB_IRQ_RAWSTAT,
    SHADER_PRESENT_RK3588,
    Release,
    Rig,
    release_params,
)

from uio_driver.errors import Busy, InvalidArgument, Timeout
from uio_driver.firmware.device import CsfFirmware
from uio_driver.firmware.glb import conv_timeout

PING, IDLE_EN, IDLE = 1 << 8, 1 << 10, 1 << 26
CFG_PROGRESS_TIMER, CFG_ALLOC_EN, CFG_POWEROFF_TIMER = 1 << 1, 1 << 2, 1 << 3


@pytest.fixture(params=release_params()[:2])  # the synthetic image and the Arm G610 blob
def ready(request: pytest.FixtureRequest) -> Iterator[Rig]:
    release: Release = request.param
    r = Rig(release.path)
    r.fw.start()
    try:
        yield r
    finally:
        r.close()


def glb_in(r: Rig, off: int) -> int:
    return r.mcu_read32(GLB_IN + off)


def test_timer_conversion_matches_panthor() -> None:
    assert conv_timeout(10_000, 24_000_000) == 235  # ceil(240000 / 1024) = ceil(234.375)
    assert conv_timeout(800, 24_000_000) == 19  # ceil(18.75)
    assert conv_timeout(1024, 1_000_000) == 1  # exactly one unit
    # Without a timestamp rate: GPU cycle counter, bit 31 (198 MHz: ceil(10000 * 198 / 1024) = 1934).
    assert conv_timeout(10_000, None, 198_000_000) == 1934 | 1 << 31
    with pytest.raises(InvalidArgument, match="31-bit"):
        conv_timeout(10**12, 24_000_000)
    with pytest.raises(InvalidArgument, match="neither"):
        conv_timeout(1, None, None)
    with pytest.raises(InvalidArgument):
        conv_timeout(-1, 24_000_000)


def test_global_init_writes_panthors_values(ready: Rig) -> None:
    r = ready
    assert glb_in(r, 0x18) == SHADER_PRESENT_RK3588 and r.mcu_read32(GLB_IN + 0x1C) == 0
    assert glb_in(r, 0x14) == 235
    assert glb_in(r, 0x10) == 0x271000
    assert glb_in(r, 0x80) == 19
    assert glb_in(r, 0x04) == 0x0400050E
    assert glb_in(r, 0x00) & 0x7FF == 0x40E  # IDLE_EN set; ALLOC_EN, POWEROFF, PROGRESS toggled from 0
    assert r.mcu_read32(GLB_OUT) & 0x7FF == 0x40E  # all acknowledged (waited for, like kbase)
    g = r.mcu.glb  # what the simulated firmware applied
    assert (g.core_en_mask, g.poweroff_timer, g.progress_timer, g.idle_timer) == (0x50005, 235, 0x271000, 19)


def test_timestamp_frequency_is_a_parameter() -> None:
    r = Rig()
    try:
        r.fw = CsfFirmware(r.gpu, r.mmu, r.fw.image, timestamp_hz=None, gpu_clock_hz=198_000_000)
        r.fw.start()
        assert glb_in(r, 0x14) == 1934 | 1 << 31  # 10 ms of GPU cycles
        assert glb_in(r, 0x80) == 155 | 1 << 31  # ceil(800 * 198 / 1024) = ceil(154.69)
    finally:
        r.close()


def test_global_init_without_waiting_returns_before_the_ack() -> None:
    r = Rig()
    try:
        r.fw.boot()
        values = r.fw.init_global(wait=False)
        assert values["req"] & 0x7FF == 0x40E
        assert r.mcu_read32(GLB_OUT) & 0x7FF == 0  # panthor does not wait: nothing acknowledged yet
        r.glb.wait_acks(0x40E, "init")
        assert r.mcu_read32(GLB_OUT) & 0x7FF == 0x40E
    finally:
        r.close()


def test_ping_toggles_rings_and_is_acknowledged(ready: Rig) -> None:
    r = ready
    before = r.mcu.glb.applied["PING"]
    ack = r.mcu_read32(GLB_OUT)
    r.glb.ping()
    assert r.mcu.glb.applied["PING"] == before + 1
    assert (r.mcu_read32(GLB_OUT) ^ ack) == PING  # only the PING ACK bit flipped
    assert glb_in(r, 0) & PING == r.mcu_read32(GLB_OUT) & PING
    r.glb.ping()
    assert r.mcu.glb.applied["PING"] == before + 2


def test_every_configuration_request(ready: Rig) -> None:
    r = ready
    glb = r.glb
    assert glb.set_core_mask(0x5) == 0x5
    assert r.mcu.glb.core_en_mask == 0x5 and glb_in(r, 0x18) == 0x5
    assert glb.set_poweroff_timer(20_000) == 469  # ceil(480000 / 1024) = ceil(468.75)
    assert r.mcu.glb.poweroff_timer == 469
    assert glb.set_progress_timer(1 << 30) == 1 << 20
    assert r.mcu.glb.progress_timer == 1 << 20
    assert glb.set_idle_timer(1_000) == 24  # ceil(23.4375); IDLE_EN cycled 1 → 0 → 1 so the FW re-reads it
    assert r.mcu.glb.idle_timer == 24 and glb_in(r, 0) & IDLE_EN
    glb.set_idle_timer(1_000, enable=False)
    assert not glb_in(r, 0) & IDLE_EN and not r.mcu_read32(GLB_OUT) & IDLE_EN


def test_bad_requests_change_nothing(ready: Rig) -> None:
    r = ready
    before = [glb_in(r, off) for off in (0x00, 0x10, 0x14, 0x18)]
    with pytest.raises(InvalidArgument, match="subset of SHADER_PRESENT 0x50005"):
        r.glb.set_core_mask(0x2)
    with pytest.raises(InvalidArgument):
        r.glb.set_core_mask(0)
    with pytest.raises(InvalidArgument, match="progress_timer"):
        r.glb.set_progress_timer(1 << 42)
    with pytest.raises(InvalidArgument, match="only toggle requests"):
        r.glb.request(IDLE_EN)
    assert [glb_in(r, off) for off in (0x00, 0x10, 0x14, 0x18)] == before


def test_unacknowledged_request_times_out_then_is_not_toggled_again(ready: Rig) -> None:
    r = ready
    r.mcu.faults.never_ack_glb = PING
    t0 = r.clock.now_ns()
    with pytest.raises(Timeout) as exc:
        r.glb.ping()
    assert r.clock.now_ns() - t0 >= 100_000_000  # panthor's 100 ms
    msg = str(exc.value)
    req, ack = glb_in(r, 0), r.mcu_read32(GLB_OUT)
    assert f"GLB request PING not acknowledged within 100 ms (GLB_REQ={req:#010x} GLB_ACK={ack:#010x}" in msg
    assert (req ^ ack) & PING
    with pytest.raises(Busy, match="PING is still outstanding"):
        r.glb.ping()
    assert glb_in(r, 0) == req  # not toggled back
    r.glb.set_core_mask()  # other requests still work
    r.mcu.faults.never_ack_glb = 0
    assert r.fw.reset() == "fast"  # the MCU still halts; the fast restart acknowledges everything
    r.glb.ping()


def test_idle_event_is_acknowledged_by_the_irq_handler(ready: Rig) -> None:
    r = ready
    r.clock.sleep(0.002)  # > idle_timer (19 × 1024 ticks at 24 MHz ≈ 811 µs)
    assert r.r32(JOB_IRQ_RAWSTAT) & (1 << 31)  # the firmware raised the GLB interrupt
    assert (r.mcu_read32(GLB_OUT) ^ glb_in(r, 0)) & IDLE  # event pending until the host copies ACK
    r.fw.mcu.service()
    assert not (r.mcu_read32(GLB_OUT) ^ glb_in(r, 0)) & IDLE
    assert r.glb.stats.events.get("IDLE", 0) >= 1
    assert not r.r32(JOB_IRQ_RAWSTAT) & (1 << 31)


def test_requests_need_a_running_mcu(ready: Rig) -> None:
    ready.fw.stop()
    for request in (ready.glb.ping, ready.glb.set_core_mask, ready.glb.halt):
        with pytest.raises(Busy, match="MCU is not running"):
            request()


# -- CSG requests through the GLB doorbell (accessors the scheduler builds on) ----------------------------

EP_CFG, STATUS_UPDATE = 1 << 4, 1 << 5  # CSG_REQ bits (§5.4)


def test_csg_requests_are_rung_through_the_glb_doorbell(ready: Rig) -> None:
    iface = ready.fw.interface
    assert iface is not None
    csg = iface.csg(3)
    csg.input.write("ack_irq_mask", 0xFFFFFFFF)  # panthor writes ~0 (§5.2)
    csg.input.write("endpoint_req", 0xF0010404)
    csg.req.toggle(EP_CFG | STATUS_UPDATE)
    db_before = ready.mcu_read32(GLB_OUT + 0x08)
    ready.glb.ring_csg_doorbells(1 << 3)
    ready.glb.wait_csg_acks(csg, EP_CFG | STATUS_UPDATE)
    # CSG 3 output at 0x04007000 + 3 * 0x40 (§2.8): its ACK mirrors the toggles; GLB doorbell_ack bit 3 too.
    assert ready.mcu_read32(0x04007000 + 3 * 0x40) & 0x30 == ready.mcu_read32(0x04003000 + 3 * 0x80) & 0x30
    assert (ready.mcu_read32(GLB_OUT + 0x08) ^ db_before) == 1 << 3
    assert ready.fw.mcu.job_irqs & (1 << 3)  # JOB IRQ bit g for CSG g (§7.3)
    with pytest.raises(InvalidArgument, match="CSG slots"):
        ready.glb.ring_csg_doorbells(1 << 8)  # group_num is 8


def test_unacknowledged_csg_request_times_out_naming_the_slot(ready: Rig) -> None:
    ready.mcu.faults.never_ack_csg = EP_CFG
    iface = ready.fw.interface
    assert iface is not None
    csg = iface.csg(0)
    csg.req.toggle(EP_CFG)
    ready.glb.ring_csg_doorbells(1)
    with pytest.raises(Timeout) as exc:
        ready.glb.wait_csg_acks(csg, EP_CFG)
    assert str(exc.value).startswith(f"CSG 0 request EP_CFG not acknowledged within 100 ms (CSG0_REQ="
                                     f"{csg.req.req:#010x} CSG0_ACK={csg.req.ack:#010x}")
