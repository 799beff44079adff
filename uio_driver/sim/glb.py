"""GLB interface handling of the simulated MCU (on doorbell 0).

Written from ``csf-firmware-and-interfaces.md`` §4 (GLB blocks and bits), §7.1-§7.3 (request/
acknowledge protocol, how the firmware answers) and §9.3 (checklist):

* toggle requests pending in ``(REQ ^ ACK)`` — CFG_PROGRESS_TIMER, CFG_ALLOC_EN, CFG_POWEROFF_TIMER,
  PROTM_ENTER, PERFCNT_SAMPLE, PING, FWCFG_UPDATE, DBG_CSF — are applied and acknowledged by
  flipping their ACK bit; value bits IDLE_EN, PERFCNT_EN and COUNTER_EN are mirrored into ACK;
* HALT 0→1 halts the MCU (MCU_STATUS = 2, no ACK); the firmware reacts to the edge only, so a
  restart that still sees HALT = 1 does not halt until it has seen 0 again;
* while IDLE_EN is acknowledged, ``idle_timer`` (value 30:0 in units of 1024 ticks of the system
  timestamp, or of GPU cycles when bit 31 is set) of no command-stream activity raises the IDLE
  event (ACK bit 26 flipped) unless one is still unacknowledged — once per idle period;
* CSG slots whose ``doorbell_req`` bit differs from ``doorbell_ack`` are processed (:mod:`.csg`),
  then the bits are mirrored into ``doorbell_ack``;
* ACK is written before JOB_IRQ bit 31 is raised, and the IRQ only when a changed ACK bit is set in
  ``ack_irq_mask`` (§7.3).

CFG_ALLOC_EN records ``core_en_mask`` (the shader cores the firmware may power, §5.4 of the register
reference); the power model offers no firmware-side hook yet, so SHADER_READY is not changed.
"""

from __future__ import annotations

import ctypes
from collections import Counter
from typing import TYPE_CHECKING

from .clock import NS_PER_S, Event
from .csf_iface import (
    GLB_CFG_ALLOC_EN,
    GLB_CFG_POWEROFF_TIMER,
    GLB_CFG_PROGRESS_TIMER,
    GLB_HALT,
    GLB_IDLE,
    GLB_IDLE_EN,
    GLB_MIRROR_MASK,
    GLB_PROTM_ENTER,
    GLB_REQUEST_MASK,
    GLB_TOGGLE_MASK,
    TIMER_SOURCE_GPU_CYCLES,
    TIMER_TICKS_PER_UNIT,
    TIMER_VALUE_MASK,
    GlbInput,
    GlbOutput,
    bits_of,
    glb_bit_names,
)
from .mcu_config import McuCrash

if TYPE_CHECKING:
    from .mcu import SimMcu

JOB_IRQ_GLB = 1 << 31
#: GLB_REQ bits the model does not implement (only noted): ITER_TRACE_ENABLE needs features bit 4
#: (0 on G610), SLEEP and the newer-firmware bits 13..16 are not used by panthor (§4.4).
GLB_UNSUPPORTED_MASK = GLB_REQUEST_MASK & ~(GLB_HALT | GLB_TOGGLE_MASK | GLB_MIRROR_MASK)


def timer_ns(word: int, timestamp_hz: int, gpu_clock_hz: int) -> int:
    """Virtual nanoseconds of a GLB timer word: ``value * 1024`` ticks of its source (§4.2, §3.7)."""
    hz = gpu_clock_hz if word & TIMER_SOURCE_GPU_CYCLES else timestamp_hz
    ticks = (word & TIMER_VALUE_MASK) * TIMER_TICKS_PER_UNIT
    return -(-ticks * NS_PER_S // hz)


class GlbInterface:
    """The firmware's side of the GLB interface: its output block and the applied configuration.

    Attributes:
        out: the GLB output block as the firmware last wrote it.
        progress_timer/poweroff_timer/idle_timer: values latched by their requests.
        core_en_mask: shader-core mask latched by CFG_ALLOC_EN.
        applied: how many times each request was applied, by bit name.
        idle_events: IDLE events raised.
        seen_req/seen_doorbell_req: GLB_REQ request bits and doorbell_req at the last doorbell.
        outstanding: toggle bits left unacknowledged by a ``never_ack_glb`` fault hook.
    """

    def __init__(self, mcu: SimMcu) -> None:
        self.mcu = mcu
        self.out = GlbOutput()
        self._reset_state()

    def _reset_state(self) -> None:
        self.halt_seen = False
        self.progress_timer = self.poweroff_timer = self.idle_timer = 0
        self.core_en_mask = 0
        self.applied: Counter[str] = Counter()
        self.idle_events = 0
        self.seen_req = self.seen_doorbell_req = 0
        self.outstanding = 0
        self._noted_unsupported = 0
        self._idle_event: Event | None = None

    # -- life cycle -------------------------------------------------------------------------------

    def boot(self, image: bytes, fast: bool) -> None:
        """Initialise the output block: ACK = 0 on a cold/slow boot, ACK = REQ on a fast restart (§9.2)."""
        iface = self.mcu.layout()
        self._reset_state()
        inp = GlbInput.from_buffer_copy(image, iface.glb_input_va - iface.shared_va)
        if fast:
            self.out = GlbOutput.from_buffer_copy(image, iface.glb_output_va - iface.shared_va)
            self.out.ack = inp.req
            self.out.doorbell_ack = inp.doorbell_req
        else:
            self.out = GlbOutput()
        self.halt_seen = bool(inp.req & GLB_HALT)
        if self.halt_seen:
            self.mcu.sim.note("MCU booted with GLB_REQ.HALT = 1: it halts again only after seeing HALT = 0 "
                              "(§3.8)")
        self.seen_req = inp.req & GLB_REQUEST_MASK
        self.seen_doorbell_req = inp.doorbell_req
        self.write_out()

    def stop(self) -> None:
        """The MCU stopped: cancel the idle timer."""
        if self._idle_event is not None:
            self._idle_event.cancel()
        self._idle_event = None

    def write_out(self) -> None:
        """Publish the output block through AS0."""
        iface = self.mcu.iface
        if iface is not None:
            self.mcu.write(iface.glb_output_va, bytes(self.out))

    # -- doorbell 0 --------------------------------------------------------------------------------

    def input_block(self, snap: bytes | bytearray) -> GlbInput:
        """The GLB input block inside a :meth:`SimMcu.snapshot`."""
        iface = self.mcu.layout()
        return GlbInput.from_buffer_copy(snap, iface.glb_input_va - iface.shared_va)

    def process(self, snap: bytes | bytearray) -> None:
        """Answer a doorbell-0 ring (§7.3 step 1, §9.3)."""
        mcu = self.mcu
        inp = self.input_block(snap)
        req = inp.req
        self._check_outstanding(req)
        if req & GLB_HALT and not self.halt_seen:
            self.halt_seen = True
            mcu.halt()
            return
        self.halt_seen = bool(req & GLB_HALT)
        pending = (req ^ self.out.ack) & (GLB_TOGGLE_MASK | GLB_MIRROR_MASK)
        if pending & mcu.faults.crash_on_glb:
            names = glb_bit_names(pending & mcu.faults.crash_on_glb)
            raise McuCrash(f"fault hook: crash on GLB request {names}", mcu.faults.crash_halt_status)
        old_ack = self.out.ack
        self._apply_toggles(inp, pending & GLB_TOGGLE_MASK)
        self._apply_values(inp)
        self._note_unsupported(req)
        self._csg_doorbells(inp, snap)
        self.seen_req = req & GLB_REQUEST_MASK
        self.seen_doorbell_req = inp.doorbell_req
        self.write_out()
        if (old_ack ^ self.out.ack) & inp.ack_irq_mask:
            mcu.raise_job_irq(JOB_IRQ_GLB)

    def _check_outstanding(self, req: int) -> None:
        """A toggle request left unacknowledged must not be toggled back: requests do not queue (§7.1)."""
        still = (req ^ self.out.ack) & GLB_TOGGLE_MASK
        lost = self.outstanding & ~still
        self.outstanding &= still
        if lost:
            msg = (f"GLB_REQ {glb_bit_names(lost)} was toggled again before the firmware acknowledged it: "
                   "the request is lost (requests do not queue, §7.1)")
            self.mcu.violation("request-outstanding", msg, register="GLB_REQ", value=req)

    def _apply_toggles(self, inp: GlbInput, pending: int) -> None:
        never = self.mcu.faults.never_ack_glb
        for bit in bits_of(pending):
            mask = 1 << bit
            if mask & never:
                self.outstanding |= mask
                continue
            self._apply(mask, inp)
            self.out.ack ^= mask

    def _apply(self, mask: int, inp: GlbInput) -> None:
        sim = self.mcu.sim
        self.applied[glb_bit_names(mask)] += 1
        if mask == GLB_CFG_PROGRESS_TIMER:
            self.progress_timer = inp.progress_timer
        elif mask == GLB_CFG_POWEROFF_TIMER:
            self.poweroff_timer = inp.poweroff_timer
        elif mask == GLB_CFG_ALLOC_EN:
            self.core_en_mask = inp.core_en_mask
            absent = inp.core_en_mask & ~sim.config.shader_present
            if absent:
                sim.note(f"GLB core_en_mask {inp.core_en_mask:#x} names absent shader cores {absent:#x} "
                         f"(SHADER_PRESENT {sim.config.shader_present:#x})")
        elif mask == GLB_PROTM_ENTER:
            sim.note("GLB PROTM_ENTER acknowledged only: protected mode is not simulated")

    def _apply_values(self, inp: GlbInput) -> None:
        never = self.mcu.faults.never_ack_glb & GLB_MIRROR_MASK
        old = self.out.ack
        new = (old & ~GLB_MIRROR_MASK) | (inp.req & GLB_MIRROR_MASK)
        new = (new & ~never) | (old & never)
        self.out.ack = new
        if (old ^ new) & GLB_IDLE_EN:
            self.applied["IDLE_EN"] += 1
            if new & GLB_IDLE_EN:
                self.idle_timer = inp.idle_timer  # idle_timer is (re-)read when IDLE_EN is enabled (§4.2)
                self._arm_idle()
            else:
                self.stop()

    def _note_unsupported(self, req: int) -> None:
        bits = (req ^ self.out.ack) & GLB_UNSUPPORTED_MASK & ~self._noted_unsupported
        if bits:
            self._noted_unsupported |= bits
            self.mcu.sim.note(f"GLB_REQ {glb_bit_names(bits)} is not modelled by the simulated firmware: "
                              "no ACK")

    def _csg_doorbells(self, inp: GlbInput, snap: bytes | bytearray) -> None:
        """Process the CSG slots whose doorbell bit toggled, then mirror the bits (§4.5, §9.3)."""
        mcu = self.mcu
        pending = inp.doorbell_req ^ self.out.doorbell_ack
        valid = (1 << len(mcu.csg)) - 1
        if pending & ~valid:
            msg = (f"GLB doorbell_req bits {pending & ~valid:#x} name CSG slots that do not exist (group_num "
                   f"{len(mcu.csg)})")
            mcu.violation("bad-request", msg, register="GLB_DOORBELL_REQ", value=inp.doorbell_req)
        for g in bits_of(pending & valid):
            mcu.csg[g].process(snap)
        self.out.doorbell_ack ^= pending

    # -- idle timer ----------------------------------------------------------------------------------

    def _arm_idle(self) -> None:
        self.stop()
        if not self.out.ack & GLB_IDLE_EN:
            return
        cfg = self.mcu.sim.config
        delay = timer_ns(self.idle_timer, cfg.timestamp_hz, cfg.gpu_clock_hz)
        self._idle_event = self.mcu.sim.clock.schedule(delay, self._idle_expired, "GLB idle timer")

    def note_activity(self) -> None:
        """Command-stream activity restarts the idle countdown (and allows a new IDLE event)."""
        if self.out.ack & GLB_IDLE_EN:
            self._arm_idle()

    def _idle_expired(self) -> None:
        self._idle_event = None
        mcu = self.mcu
        if mcu.any_busy():
            self._arm_idle()
            return
        if mcu.as0_locked_over_interface():
            # The MCU's accesses stall behind an AS0 lock (§3.3): look again shortly.
            self._idle_event = mcu.sim.clock.schedule(1_000, self._idle_expired, "GLB idle timer (stalled)")
            return
        mcu.run_guarded(self._raise_idle)

    def _raise_idle(self) -> None:
        mcu = self.mcu
        iface = mcu.iface
        if iface is None:
            return
        inp = GlbInput.from_buffer_copy(mcu.read(iface.glb_input_va, ctypes.sizeof(GlbInput)))
        if (inp.req ^ self.out.ack) & GLB_IDLE:
            return  # the previous IDLE event is still unacknowledged: do not raise another
        self.out.ack ^= GLB_IDLE
        self.idle_events += 1
        self.write_out()
        if inp.ack_irq_mask & GLB_IDLE:
            mcu.raise_job_irq(JOB_IRQ_GLB)
