"""Simulated firmware CSG/CS handling (csf-firmware-and-interfaces.md §5, §6.2-§6.4, §7.4-§7.6, §9.4).

Offsets from the reference: CSG input req +0x00, ack_irq_mask +0x04, doorbell_req +0x08, allow_compute
+0x20, allow_fragment +0x28, allow_other +0x30, endpoint_req +0x34, suspend_buf +0x40, config +0x50;
CSG output ack +0x00, doorbell_ack +0x08, cs_irq_req +0x0C, status_endpoint_current +0x10,
status_endpoint_req +0x14, status_state +0x18; CS input req +0x00, config +0x04, ack_irq_mask +0x0C,
ringbuf_base +0x10, ringbuf_size +0x18, ringbuf_input +0x30, ringbuf_output +0x38; CS output ack +0x00,
status_cmd_ptr +0x40, status_wait +0x48, status_wait_sync_ptr +0x50, status_blocked_reason +0x60.
"""

from __future__ import annotations

import struct

import pytest
from test_sim_mcu_rig import (
    GLB_IN,
    GLB_OUT,
    McuRig,
    cs_in,
    cs_out,
    csg_control,
    csg_in,
    csg_out,
)

from uio_driver.errors import SimProtocolError

TERMINATE, START, SUSPEND, RESUME = 0, 1, 2, 3
EP_CFG, STATUS_UPDATE = 1 << 4, 1 << 5
CS_START, IDLE_SYNC_WAIT, IDLE_EMPTY = 1, 1 << 8, 1 << 10
CS_REQ_MASK = 0x7 | 1 << 4 | 0x1F00
SUSPEND_VA, IO_VA = 0x04010000, 0x04100000
EP_DEFAULT = 4 | 4 << 8 | 1 << 16 | 15 << 28  # 4 compute, 4 fragment, 1 tiler, priority 15 (§5.5)


class RecordingExecutor:
    """Stands in for the ring executor of the next model: records the hook calls."""

    def __init__(self, busy: bool = False) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self.busy = busy

    def on_cs_start(self, csg, cs):
        self.calls.append(("start", csg, cs))

    def on_cs_stop(self, csg, cs):
        self.calls.append(("stop", csg, cs))

    def on_user_doorbell(self, doorbell):
        self.calls.append(("doorbell", doorbell, -1))

    def run_queue(self, csg, cs):
        self.calls.append(("run", csg, cs))

    def is_busy(self, csg, cs):
        return self.busy


@pytest.fixture
def rig():
    r = McuRig()
    r.boot()
    r.wr64(GLB_IN + 0x18, 0x50005)  # core_en_mask = SHADER_PRESENT (§3.7)
    r.toggle(GLB_IN, GLB_OUT, 1 << 2)  # CFG_ALLOC_EN
    r.ring(0)
    r.settle()
    r.map_object(SUSPEND_VA, 2 * r.rd32(csg_control(0) + 0x0C))
    r.map_object(IO_VA, 0x2000 * 64)
    r.executor = RecordingExecutor()
    r.mcu.executor = r.executor
    r.wait_job(0)
    yield r
    r.close()


def program_queue(rig: McuRig, g: int, s: int, *, state: int = CS_START) -> None:
    """panthor cs_slot_prog_locked (§7.4 step 2), values written from the reference."""
    base = cs_in(g, s)
    rig.wr64(base + 0x10, 0x1000_0000 + s * 0x1_0000)  # ringbuf_base (group AS VA)
    rig.wr32(base + 0x18, 0x1000)  # ringbuf_size
    io = IO_VA + (8 * g + s) * 0x2000
    rig.wr64(base + 0x30, io)  # ringbuf_input (user input page)
    rig.wr64(base + 0x38, io + 0x1000)  # ringbuf_output
    rig.wr32(base + 0x04, (g + 1) << 8)  # config: priority 0, doorbell g + 1
    rig.wr32(base + 0x0C, 0xFFFFFFFF)  # ack_irq_mask
    rig.update(base, IDLE_SYNC_WAIT | IDLE_EMPTY | state, CS_REQ_MASK)


def program_group(rig: McuRig, g: int, *, queues=(0,), ep: int = EP_DEFAULT, state: int = START,
                  suspend_buf: int = SUSPEND_VA, ring: bool = True) -> None:
    """§7.4 steps 2-5: queues, CSG input, STATE + EP_CFG, GLB doorbell bit, doorbell 0."""
    for s in queues:
        program_queue(rig, g, s)
    base = csg_in(g)
    rig.wr64(base + 0x20, 0x50005)
    rig.wr64(base + 0x28, 0x50005)
    rig.wr32(base + 0x30, 1)
    rig.wr32(base + 0x34, ep)
    rig.wr64(base + 0x40, suspend_buf)
    rig.wr32(base + 0x50, 1)  # config: AS 1
    rig.wr32(base + 0x04, 0xFFFFFFFF)
    rig.ring_cs(g, *queues)
    rig.update(base, state, 0x7)
    rig.toggle(base, csg_out(g), EP_CFG)
    if ring:
        rig.ring_csg(g)


def set_state(rig: McuRig, g: int, state: int) -> None:
    rig.update(csg_in(g), state, 0x7)
    rig.ring_csg(g)


# -- START ----------------------------------------------------------------------------------------


def test_start_acks_state_and_ep_cfg_and_starts_the_programmed_queue(rig):
    program_group(rig, 2, queues=(0, 3))
    raw = rig.wait_job(0.01)
    assert raw == 1 << 2  # CSG 2's bit only: GLB ACK did not change
    assert rig.rd32(csg_out(2)) & 0x37 == START | EP_CFG
    assert rig.rd32(GLB_OUT + 0x08) == rig.rd32(GLB_IN + 0x08) == 1 << 2  # doorbell_ack mirrors (§4.5)
    assert rig.rd32(csg_out(2) + 0x08) == rig.rd32(csg_in(2) + 0x08) == 0b1001
    for s in (0, 3):
        assert rig.rd32(cs_out(2, s)) == IDLE_SYNC_WAIT | IDLE_EMPTY | CS_START
    assert rig.rd32(cs_out(2, 1)) == 0
    assert rig.rd32(csg_out(2) + 0x0C) == 0b1001  # cs_irq_req toggled for the two acked streams
    assert rig.executor.calls == [("start", 2, 0), ("start", 2, 3)]
    # Ring fields latched for the executor (next model).
    assert rig.mcu.csg[2].streams[3].latched.ringbuf_base == 0x1003_0000
    assert rig.mcu.csg[2].latched.config == 1
    assert rig.sim.violations == []


@pytest.mark.parametrize("ep,current", [
    (EP_DEFAULT, 4 | 4 << 8 | 1 << 16),  # min(4, 4 allowed cores), min(1, 1 tiler)
    (8 | 2 << 8 | 3 << 16 | 1 << 20, 4 | 2 << 8 | 1 << 16),  # 8 requested compute → 4 present
])
def test_endpoint_status_reports_min_of_requested_and_allowed(rig, ep, current):
    program_group(rig, 0, ep=ep)
    rig.settle()
    assert rig.rd32(csg_out(0) + 0x14) == ep & 0x3FFFFF  # status_endpoint_req (7:0, 15:8, 19:16, 20, 21)
    assert rig.rd32(csg_out(0) + 0x10) == current
    assert rig.mcu.csg[0].priority == ep >> 28


def test_ep_cfg_alone_updates_priority(rig):
    program_group(rig, 0)
    rig.settle()
    rig.wr32(csg_in(0) + 0x34, 2 | 2 << 8 | 1 << 16 | 7 << 28)
    rig.toggle(csg_in(0), csg_out(0), EP_CFG)
    rig.ring_csg(0)
    rig.settle()
    assert rig.mcu.csg[0].priority == 7 and rig.rd32(csg_out(0) + 0x10) == 2 | 2 << 8 | 1 << 16
    assert rig.rd32(csg_out(0)) & EP_CFG == rig.rd32(csg_in(0)) & EP_CFG


def test_no_irq_when_nothing_changed_is_in_the_masks(rig):
    program_queue(rig, 1, 0)
    rig.wr32(cs_in(1, 0) + 0x0C, 0)  # CS ack_irq_mask
    rig.ring_cs(1, 0)
    rig.wr32(csg_in(1) + 0x04, 0)  # CSG ack_irq_mask
    rig.update(csg_in(1), START, 0x7)
    rig.ring_csg(1)
    rig.settle()
    assert rig.rd32(csg_out(1)) & 7 == START
    assert rig.wait_job(0) == 0


def test_cs_irq_req_change_alone_raises_the_csg_bit(rig):
    program_queue(rig, 1, 0)
    rig.ring_cs(1, 0)
    rig.wr32(csg_in(1) + 0x04, 0)  # CSG ack_irq_mask 0, CS ack_irq_mask ~0
    rig.update(csg_in(1), START, 0x7)
    rig.ring_csg(1)
    assert rig.wait_job(0.01) == 1 << 1
    assert rig.rd32(csg_out(1) + 0x0C) == 1


def test_cs_doorbell_while_group_not_resident_latches_but_does_not_start(rig):
    program_queue(rig, 4, 0)
    rig.ring_cs(4, 0)
    rig.ring_csg(4)  # CSG REQ.STATE still TERMINATE
    rig.settle()
    assert rig.rd32(cs_out(4, 0)) == IDLE_SYNC_WAIT | IDLE_EMPTY  # value bits mirrored, STATE not applied
    assert rig.executor.calls == []
    set_state(rig, 4, START)
    rig.settle()
    assert rig.rd32(cs_out(4, 0)) & 7 == CS_START and rig.executor.calls == [("start", 4, 0)]


def test_cs_stop_through_its_doorbell(rig):
    program_group(rig, 0)
    rig.settle()
    rig.update(cs_in(0, 0), 0, 0x7)
    rig.ring_cs(0, 0)
    rig.ring_csg(0)
    rig.settle()
    assert rig.rd32(cs_out(0, 0)) & 7 == 0
    assert rig.executor.calls == [("start", 0, 0), ("stop", 0, 0)]


def test_user_doorbells_reach_the_executor(rig):
    program_group(rig, 0)
    rig.settle()
    rig.ring(1)  # queue doorbell g + 1 (§7.2)
    assert rig.executor.calls[-1] == ("doorbell", 1, -1)


# -- STATUS_UPDATE / SUSPEND / RESUME / TERMINATE ------------------------------------------------------


def fake_progress(rig: McuRig, g: int, s: int) -> None:
    """What the executor (next model) would have left: a stream blocked on a 64-bit sync wait."""
    cs = rig.mcu.csg[g].streams[s]
    cs.extract = 0x1C0
    out = cs.out
    out.status_cmd_ptr = 0x3000_0100  # inside a CALLed user stream, not the ring
    out.status_wait = 1 << 31 | 1 << 30 | 1 << 24  # SYNC_WAIT, 64-bit, GT (§6.5)
    out.status_wait_sync_ptr = 0x2000_0040
    out.status_wait_sync_value = 7
    out.status_blocked_reason = 3  # SYNC_WAIT


def test_status_update_publishes_cs_status_fields(rig):
    program_group(rig, 0)
    rig.settle()
    fake_progress(rig, 0, 0)
    rig.toggle(csg_in(0), csg_out(0), STATUS_UPDATE)
    rig.ring_csg(0)
    assert rig.wait_job(0.01) == 1
    assert rig.rd32(csg_out(0)) & STATUS_UPDATE == rig.rd32(csg_in(0)) & STATUS_UPDATE
    assert rig.rd64(cs_out(0, 0) + 0x40) == 0x3000_0100
    assert rig.rd32(cs_out(0, 0) + 0x48) == 0xC1000000
    assert rig.rd64(cs_out(0, 0) + 0x50) == 0x2000_0040
    assert rig.rd32(cs_out(0, 0) + 0x58) == 7 and rig.rd32(cs_out(0, 0) + 0x60) == 3
    assert rig.rd32(csg_out(0) + 0x18) == 1  # status_state IS_IDLE (nothing busy)


def test_status_update_reports_busy_group_not_idle(rig):
    rig.executor.busy = True
    program_group(rig, 0)
    rig.settle()
    rig.toggle(csg_in(0), csg_out(0), STATUS_UPDATE)
    rig.ring_csg(0)
    rig.settle()
    assert rig.rd32(csg_out(0) + 0x18) == 0


def test_suspend_writes_status_and_a_suspend_record(rig):
    program_group(rig, 1, queues=(0, 2))
    rig.settle()
    fake_progress(rig, 1, 2)
    set_state(rig, 1, SUSPEND)
    assert rig.wait_job(0.01) & 1 << 1
    assert rig.rd32(csg_out(1)) & 7 == SUSPEND
    assert rig.rd64(cs_out(1, 2) + 0x40) == 0x3000_0100 and rig.rd32(cs_out(1, 2) + 0x60) == 3
    assert ("stop", 1, 0) in rig.executor.calls and ("stop", 1, 2) in rig.executor.calls
    record = rig.buffers[SUSPEND_VA].read(0, 0x20 + 8 * 0x40)
    assert record[:8] == b"MUIOSUSP"
    stream2 = record[0x20 + 2 * 0x40:0x20 + 3 * 0x40]
    flags, req_state, extract, cmd_ptr = struct.unpack_from("<IIQQ", stream2)
    assert (flags & 1, req_state, extract, cmd_ptr) == (1, CS_START, 0x1C0, 0x3000_0100)
    assert len(record) <= rig.rd32(csg_control(1) + 0x0C)  # fits suspend_size
    assert rig.sim.violations == []


def test_resume_on_another_slot_restores_from_the_suspend_buffer(rig):
    program_group(rig, 1, queues=(0, 2))
    rig.settle()
    fake_progress(rig, 1, 2)
    set_state(rig, 1, SUSPEND)
    rig.settle()
    for s in (0, 2):  # §7.5: after the SUSPEND ack every queue gets STATE = STOP, no doorbell
        rig.update(cs_in(1, s), 0, 0x7)
    rig.settle(5e-3)  # no watchdog report: the group is not resident
    rig.executor.calls.clear()
    program_group(rig, 5, queues=(0, 2), state=RESUME)
    rig.settle()
    assert rig.rd32(csg_out(5)) & 7 == RESUME
    assert rig.executor.calls == [("start", 5, 0), ("start", 5, 2)]
    assert rig.mcu.csg[5].streams[2].extract == 0x1C0
    rig.toggle(csg_in(5), csg_out(5), STATUS_UPDATE)
    rig.ring_csg(5)
    rig.settle()
    assert rig.rd64(cs_out(5, 2) + 0x40) == 0x3000_0100 and rig.rd32(cs_out(5, 2) + 0x60) == 3
    assert rig.rd64(cs_out(5, 0) + 0x40) == 0x1000_0000  # never-run stream 0: its ring start
    assert rig.sim.violations == []


def test_terminate_drops_everything(rig):
    program_group(rig, 3, queues=(0, 1))
    rig.settle()
    fake_progress(rig, 3, 1)
    set_state(rig, 3, TERMINATE)
    assert rig.wait_job(0.01) & 1 << 3
    assert rig.rd32(csg_out(3)) & 7 == TERMINATE
    for s in (0, 1):
        assert rig.rd32(cs_out(3, s)) & 7 == 0
    assert rig.rd64(cs_out(3, 1) + 0x40) == 0
    assert rig.mcu.csg[3].latched is None and rig.rd32(csg_out(3) + 0x10) == 0
    assert ("stop", 3, 0) in rig.executor.calls and ("stop", 3, 1) in rig.executor.calls


# -- strict-mode errors and hooks -------------------------------------------------------------------


def test_csg_request_without_its_glb_doorbell_bit_is_reported(rig):
    program_group(rig, 0, ring=False)
    rig.ring(0)  # doorbell rung, but GLB doorbell_req bit 0 not toggled
    with pytest.raises(SimProtocolError, match="CSG0_REQ request bits changed"):
        rig.settle(3e-3)


def test_cs_request_without_its_csg_doorbell_bit_is_reported_while_resident(rig):
    program_group(rig, 0)
    rig.settle()
    rig.update(cs_in(0, 0), 0, 0x7)
    rig.ring_csg(0)  # CSG doorbell rung, but CS doorbell_req bit 0 not toggled
    with pytest.raises(SimProtocolError, match="CS0.0_REQ") as info:
        rig.settle(3e-3)
    assert info.value.register == "CS0.0_REQ"


def test_unknown_state_value_is_refused(rig):
    set_state(rig, 0, 5)
    with pytest.raises(SimProtocolError, match="REQ.STATE = 5"):
        rig.settle()


def test_suspend_without_a_buffer_is_refused(rig):
    program_group(rig, 0, suspend_buf=0)
    rig.settle()
    set_state(rig, 0, SUSPEND)
    with pytest.raises(SimProtocolError, match="suspend_buf = 0"):
        rig.settle()


def test_resume_from_a_buffer_no_suspend_wrote_is_refused(rig):
    rig.buffers[SUSPEND_VA].write(0, b"garbage!" * 8)
    program_group(rig, 0, state=RESUME)
    with pytest.raises(SimProtocolError, match="not written by a SUSPEND"):
        rig.settle()


def test_never_acked_state_then_changed_is_refused_but_terminate_escalation_is_fine(rig):
    program_group(rig, 0)
    rig.settle()
    rig.mcu.faults.never_ack_csg = 0x7
    set_state(rig, 0, SUSPEND)
    rig.settle(0.1)  # panthor's CSG ack timeout (§7.8)
    assert rig.rd32(csg_out(0)) & 7 == START
    rig.mcu.faults.never_ack_csg = 0
    set_state(rig, 0, TERMINATE)  # panthor escalates a timed-out SUSPEND to TERMINATE (§7.5)
    rig.settle()
    assert rig.rd32(csg_out(0)) & 7 == TERMINATE and rig.sim.violations == []
    rig.mcu.faults.never_ack_csg = 0x7
    set_state(rig, 0, START)
    rig.settle()
    set_state(rig, 0, RESUME)
    with pytest.raises(SimProtocolError, match="still unacknowledged"):
        rig.settle()


def test_never_acked_toggle_retoggled_is_refused(rig):
    rig.mcu.faults.never_ack_csg = STATUS_UPDATE
    rig.mcu.faults.never_ack_csg_slots = 1 << 2
    for g in (1, 2):
        rig.toggle(csg_in(g), csg_out(g), STATUS_UPDATE)
    rig.ring_csg(1, 2)
    rig.settle()
    assert rig.rd32(csg_out(1)) & STATUS_UPDATE and not rig.rd32(csg_out(2)) & STATUS_UPDATE
    rig.wr32(csg_in(2), rig.rd32(csg_in(2)) ^ STATUS_UPDATE)
    rig.ring_csg(2)
    with pytest.raises(SimProtocolError, match="toggled again"):
        rig.settle()


def test_bad_ack_state_hook_publishes_an_unknown_state(rig):
    rig.mcu.faults.bad_csg_ack_state = 1 << 6
    program_group(rig, 6)
    rig.settle()
    assert rig.rd32(csg_out(6)) & 7 == 7  # §7.5: the driver must mark the group unusable


def test_cs_doorbell_bits_beyond_stream_num_are_refused(rig):
    rig.ring_cs(0, 9)
    rig.ring_csg(0)
    with pytest.raises(SimProtocolError, match="stream_num 8"):
        rig.settle()


def test_host_write_to_a_csg_output_block_is_reported_within_a_watchdog_period(rig):
    rig.wr32(csg_out(3) + 0x0C, 0xFF)  # cs_irq_req belongs to the firmware
    rig.toggle(GLB_IN, GLB_OUT, 1 << 8)
    rig.ring(0)
    with pytest.raises(SimProtocolError, match="CSG3 output field cs_irq_req"):
        rig.settle(2e-3)  # doorbells read only input blocks; the watchdog compares the shadows


def test_event_hooks_for_the_executor(rig):
    program_group(rig, 0)
    rig.settle()
    rig.wait_job(0)
    slot = rig.mcu.csg[0]
    slot.signal_event(1 << 28)  # SYNC_UPDATE
    assert rig.wait_job(0) == 1 and rig.rd32(csg_out(0)) & 1 << 28
    slot.signal_event(1 << 28)  # still unacknowledged: not flipped back
    assert rig.rd32(csg_out(0)) & 1 << 28
    rig.wr32(csg_in(0) + 0x0C, rig.rd32(csg_out(0) + 0x0C))  # host: cs_irq_ack = cs_irq_req (§7.6)
    slot.signal_cs_event(0, 1 << 31)  # FAULT
    assert rig.rd32(cs_out(0, 0)) & 1 << 31
    assert (rig.rd32(csg_out(0) + 0x0C) ^ rig.rd32(csg_in(0) + 0x0C)) == 1  # CS 0 notified again
    assert rig.wait_job(0) == 1


def test_csg_doorbell_req_without_its_glb_bit_is_reported(rig):
    program_group(rig, 0)
    rig.settle()
    rig.ring_cs(0, 1)  # CSG 0 doorbell_req bit 1 toggled, but no GLB doorbell_req toggle
    rig.ring(0)
    with pytest.raises(SimProtocolError, match="CSG0 doorbell_req changed") as info:
        rig.settle(3e-3)
    assert info.value.register == "CSG0_DOORBELL_REQ"


def test_unknown_cs_state_is_refused(rig):
    program_queue(rig, 0, 0, state=2)  # CS STATE has only STOP (0) and START (1) (§6.4)
    rig.ring_cs(0, 0)
    rig.update(csg_in(0), START, 0x7)
    rig.ring_csg(0)
    with pytest.raises(SimProtocolError, match=r"CS0.0_REQ.STATE = 2"):
        rig.settle()


def test_resume_without_a_buffer_is_refused(rig):
    program_group(rig, 0, state=RESUME, suspend_buf=0)
    with pytest.raises(SimProtocolError, match="RESUME with suspend_buf = 0"):
        rig.settle()
