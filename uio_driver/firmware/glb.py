"""GLB requests: global initialisation, ping, timers, shader core mask, halt — req/ack with doorbell 0.

Facts: shared/reference/csf-firmware-and-interfaces.md §3.7 (global initialisation, exact values and
``panthor_fw_conv_timeout``), §3.8 (halt), §4.2-§4.4 (GLB input/output fields and bits), §7.1-§7.3
(request/acknowledge protocol and doorbells) and §7.8 (timeouts).

Every request follows §7.1: write the input fields, make REQ differ from ACK on the request bit
(toggle) or write the wanted level (value bits), ring doorbell 0, and wait — bounded — until ACK
equals REQ on those bits. A toggle request still outstanding is never toggled again (requests do not
queue: a second toggle would cancel the first). The host writes only the GLB input block.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..errors import Busy, HardwareFault, InvalidArgument, Timeout
from ..regs.gpu_fields import McuStatus
from .blocks import (
    GLB_ACK_IRQ_MASK_PANTHOR,
    GLB_EVT_MASK,
    GLB_TIMER_SOURCE_GPU_COUNTER,
    GLB_TIMER_TICKS_PER_UNIT,
    GLB_TIMER_VALUE_MASK,
    GLB_TOGGLE_REQS,
    HALT_STATUS,
    CsgReq,
    GlbReq,
    bit_names,
)
from .interface import CsgIface, GlbIface, ReqAck
from .mcu import HALT_TIMEOUT, POLL_INTERVAL, Mcu

log = logging.getLogger(__name__)

#: panthor constants (panthor_fw.c, §3.7, §7.8).
PROGRESS_TIMEOUT_CYCLES = 5 * 500 * 1024 * 1024
PROGRESS_TIMEOUT_SCALE_SHIFT = 10
POWEROFF_HYSTERESIS_US = 10_000
IDLE_HYSTERESIS_US = 800
REQUEST_TIMEOUT = 0.100
#: The RK3588's Arm architected timer (CNTFRQ) runs at 24 MHz (§3.7 [inferred]).
RK3588_TIMESTAMP_HZ = 24_000_000


def conv_timeout(timeout_us: int, timestamp_hz: int | None, gpu_clock_hz: int | None = None) -> int:
    """A GLB timer word for ``timeout_us`` (panthor ``panthor_fw_conv_timeout``, §3.7).

    The system timestamp (the architected timer) is used when its rate is known; otherwise the GPU
    cycle counter, flagged with bit 31. Value = ceil(µs · rate / (1 000 000 · 1024)).

    Args:
        timeout_us: the timeout in microseconds.
        timestamp_hz: the system timestamp rate (CNTFRQ; 24 MHz on RK3588), or None if unknown.
        gpu_clock_hz: the GPU core clock, used only without ``timestamp_hz``.

    Raises:
        InvalidArgument: a negative timeout, no usable rate, or a value that does not fit 31 bits
            (panthor clamps with a warning; here it is refused).
    """
    args = (("timeout_us", timeout_us), ("timestamp_hz", timestamp_hz), ("gpu_clock_hz", gpu_clock_hz))
    for name, value in args:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise InvalidArgument(f"{name} {value!r} must be a non-negative integer")
    rate, source = (timestamp_hz, 0) if timestamp_hz else (gpu_clock_hz, GLB_TIMER_SOURCE_GPU_COUNTER)
    if not rate:
        raise InvalidArgument("GLB timer: neither the timestamp frequency nor the GPU clock rate is known")
    units = -(-timeout_us * rate // (1_000_000 * GLB_TIMER_TICKS_PER_UNIT))
    if units > GLB_TIMER_VALUE_MASK:
        raise InvalidArgument(f"GLB timer: {timeout_us} us at {rate} Hz is {units} units of 1024 ticks, "
                              "more than the 31-bit field holds")
    return units | source


@dataclass
class GlbStats:
    """Bookkeeping: requests acknowledged and events handled, by name."""

    acked: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)

    def count(self, table: dict[str, int], mask: int) -> None:
        for name in bit_names(mask, GlbReq).split("|"):
            table[name] = table.get(name, 0) + 1


class GlobalInterface:
    """The host side of the GLB interface of a booted firmware.

    Args:
        iface: the GLB blocks found by discovery.
        mcu: the MCU (doorbells, MCU_STATUS, JOB IRQ).
        shader_present: SHADER_PRESENT, the default core mask and the limit for :meth:`set_core_mask`.
        timestamp_hz: system timestamp rate for timer conversion (None: use ``gpu_clock_hz``).
        gpu_clock_hz: GPU clock for timer conversion without a timestamp rate.
    """

    def __init__(self, iface: GlbIface, mcu: Mcu, *, shader_present: int,
                 timestamp_hz: int | None = RK3588_TIMESTAMP_HZ, gpu_clock_hz: int | None = None) -> None:
        self.iface = iface
        self.mcu = mcu
        self.clock = mcu.clock
        self.shader_present = shader_present
        self.timestamp_hz = timestamp_hz
        self.gpu_clock_hz = gpu_clock_hz
        self.stats = GlbStats()
        mcu.add_listener(self._on_job_irq)

    def close(self) -> None:
        self.mcu.remove_listener(self._on_job_irq)

    # -- events (JOB IRQ bit 31) ----------------------------------------------------------------

    def _on_job_irq(self, bits: int) -> None:
        if bits & (1 << 31):
            self.handle_events()

    def handle_events(self) -> int:
        """Acknowledge pending GLB events (copy ACK into REQ, §7.1); returns the events handled.

        panthor acts only on IDLE (it schedules a tick); every event in GLB_EVT_MASK is acknowledged so
        the firmware can raise it again.
        """
        events = self.iface.req.ack_events(GLB_EVT_MASK)
        if events:
            self.stats.count(self.stats.events, events)
        return events

    # -- waiting --------------------------------------------------------------------------------

    def _state(self) -> str:
        req = self.iface.req
        return f"GLB_REQ={req.req:#010x} GLB_ACK={req.ack:#010x}"

    def wait_acks(self, mask: int, what: str, timeout: float = REQUEST_TIMEOUT) -> None:
        """Wait until GLB_ACK equals GLB_REQ on ``mask`` (panthor_fw_glb_wait_acks).

        Raises:
            Timeout: "GLB request <what> not acknowledged within N ms (GLB_REQ=… GLB_ACK=…)".
            HardwareFault: the MCU reported FATAL meanwhile (halt_status reported).
        """
        self._wait(self.iface.req, mask, f"GLB request {what}", "GLB", timeout)
        self.stats.count(self.stats.acked, mask)

    def wait_csg_acks(self, csg: CsgIface, mask: int, timeout: float = REQUEST_TIMEOUT) -> None:
        """Wait until CSG ``csg``'s ACK equals its REQ on ``mask`` (panthor_fw_csg_wait_acks, 100 ms).

        Raises:
            Timeout: "CSG <g> request <bits> not acknowledged within 100 ms (CSG<g>_REQ=… CSG<g>_ACK=…)".
            HardwareFault: the MCU reported FATAL meanwhile.
        """
        what = f"CSG {csg.index} request {bit_names(mask, CsgReq)}"
        self._wait(csg.req, mask, what, f"CSG{csg.index}", timeout)

    def ring_csg_doorbells(self, mask: int) -> None:
        """Toggle GLB doorbell_req bits of the CSG slots in ``mask`` and ring doorbell 0
        (panthor_fw_ring_csg_doorbells): the firmware then re-reads those CSGs' input blocks.

        Raises:
            InvalidArgument: ``mask`` names no slot or a slot past group_num.
            Busy / HardwareFault: the MCU is not running / crashed.
        """
        slots = (1 << self.iface.control.read("group_num")) - 1
        if isinstance(mask, bool) or not isinstance(mask, int) or mask <= 0 or mask & ~slots:
            raise InvalidArgument(f"CSG doorbell mask {mask!r} must name CSG slots within {slots:#x}")
        self._check_running("CSG doorbell")
        self.iface.doorbell.toggle(mask)
        self.mcu.ring()

    def _wait(self, pair: ReqAck, mask: int, what: str, prefix: str, timeout: float) -> None:
        fatal = False

        def done() -> bool:
            nonlocal fatal
            self.mcu.service()
            if pair.acked(mask):
                return True
            fatal = self.mcu.status() is McuStatus.FATAL
            return fatal

        try:
            self.clock.poll(done, timeout, what, POLL_INTERVAL)
        except Timeout:
            status = self.mcu.status()
            raise Timeout(f"{what} not acknowledged within {timeout * 1e3:.0f} ms "
                          f"({prefix}_REQ={pair.req:#010x} {prefix}_ACK={pair.ack:#010x}, "
                          f"MCU_STATUS={status.name.lower()})",
                          register=f"{prefix}_ACK", value=pair.ack) from None
        if fatal:
            raise self._fatal(what)

    def _fatal(self, what: str) -> HardwareFault:
        halt = self.iface.output.read("halt_status")
        meaning = HALT_STATUS.get(halt, "unknown")
        return HardwareFault(f"MCU reported a fatal error (MCU_STATUS=fatal, halt_status={halt:#x} "
                             f"{meaning}): {what} cannot complete ({self._state()})",
                             register="MCU_STATUS", value=int(McuStatus.FATAL))

    def _check_running(self, what: str) -> None:
        status = self.mcu.status()
        if status is McuStatus.FATAL:
            raise self._fatal(f"GLB request {what}")
        if status is not McuStatus.ENABLED:
            raise Busy(f"GLB request {what}: the MCU is not running (MCU_STATUS={status.name.lower()})",
                       register="MCU_STATUS", value=int(status))

    # -- request primitives ---------------------------------------------------------------------

    def request(self, mask: int, *, timeout: float = REQUEST_TIMEOUT, wait: bool = True) -> None:
        """Toggle the GLB request bits ``mask``, ring doorbell 0 and wait for their acknowledgement.

        Raises:
            InvalidArgument: ``mask`` holds bits that are not toggle requests.
            Busy: the MCU is not running, or one of the requests is still outstanding (toggling it again
                would cancel it, §7.1); nothing is written.
            Timeout, HardwareFault: see :meth:`wait_acks`.
        """
        what = bit_names(mask, GlbReq)
        if not mask or mask & ~GLB_TOGGLE_REQS:
            toggles = bit_names(GLB_TOGGLE_REQS, GlbReq)
            raise InvalidArgument(f"GLB request {what}: only toggle requests ({toggles}) can be requested "
                                  "this way")
        self._check_running(what)
        outstanding = self.iface.req.pending(mask)
        if outstanding:
            raise Busy(f"GLB request {bit_names(outstanding, GlbReq)} is still outstanding "
                       f"({self._state()}): requests do not queue", register="GLB_REQ",
                       value=self.iface.req.req)
        self.iface.req.toggle(mask)
        self.mcu.ring()
        if wait:
            self.wait_acks(mask, what, timeout)

    def set_value(self, mask: int, value: int, *, timeout: float = REQUEST_TIMEOUT,
                  wait: bool = True) -> None:
        """Write value bits (IDLE_EN …) into GLB_REQ, ring doorbell 0, wait for the firmware's mirror."""
        what = bit_names(mask, GlbReq)
        self._check_running(what)
        self.iface.req.update(value, mask)
        self.mcu.ring()
        if wait:
            self.wait_acks(mask, what, timeout)

    # -- panthor's requests ---------------------------------------------------------------------

    def global_init(self, *, wait: bool = True, timeout: float = REQUEST_TIMEOUT) -> dict[str, int]:
        """The global initialisation of §3.7 (panthor_fw_init_global_iface), then doorbell 0.

        Writes core_en_mask = SHADER_PRESENT, poweroff_timer (10 ms), progress_timer 0x271000, idle_timer
        (800 µs), ack_irq_mask 0x0400050E; sets IDLE_EN and toggles CFG_ALLOC_EN, CFG_POWEROFF_TIMER and
        CFG_PROGRESS_TIMER (GLB_REQ 0x40E from reset); rings doorbell 0. panthor does not wait for the
        acknowledgements; with ``wait`` (default, as kbase) this returns once all four are acknowledged.

        Returns:
            The values written, by field name.

        Raises:
            Busy: the MCU is not running. Timeout, HardwareFault: see :meth:`wait_acks`.
        """
        self._check_running("global init")
        inp = self.iface.input
        values = {
            "core_en_mask": self.shader_present,
            "poweroff_timer": self.conv(POWEROFF_HYSTERESIS_US),
            "progress_timer": PROGRESS_TIMEOUT_CYCLES >> PROGRESS_TIMEOUT_SCALE_SHIFT,
            "idle_timer": self.conv(IDLE_HYSTERESIS_US),
            "ack_irq_mask": int(GLB_ACK_IRQ_MASK_PANTHOR),
        }
        for name, value in values.items():
            inp.write(name, value)
        req = self.iface.req
        req.update(GlbReq.IDLE_EN, GlbReq.IDLE_EN)
        toggles = GlbReq.CFG_ALLOC_EN | GlbReq.CFG_POWEROFF_TIMER | GlbReq.CFG_PROGRESS_TIMER
        req.toggle(toggles)
        self.mcu.ring()
        values["req"] = req.req
        if wait:
            self.wait_acks(toggles | GlbReq.IDLE_EN, "global init (CFG_ALLOC_EN|CFG_POWEROFF_TIMER|"
                           "CFG_PROGRESS_TIMER|IDLE_EN)", timeout)
        return values

    def conv(self, timeout_us: int) -> int:
        """A GLB timer word for ``timeout_us`` with this device's clock rates (see :func:`conv_timeout`)."""
        return conv_timeout(timeout_us, self.timestamp_hz, self.gpu_clock_hz)

    def ping(self, timeout: float = REQUEST_TIMEOUT) -> None:
        """The liveness check panthor's watchdog sends every 12 s (PING, acknowledged within 100 ms).

        Raises:
            Timeout: "GLB request PING not acknowledged within 100 ms (…)" (panthor then resets the GPU).
        """
        self.request(GlbReq.PING, timeout=timeout)

    def set_progress_timer(self, cycles: int = PROGRESS_TIMEOUT_CYCLES, *,
                           timeout: float = REQUEST_TIMEOUT) -> int:
        """Set the progress timeout (GPU cycles; stored in units of 1024 cycles) with CFG_PROGRESS_TIMER.

        Returns:
            The progress_timer value written.

        Raises:
            InvalidArgument: ``cycles`` negative or too large for the 32-bit field.
        """
        if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 0 \
                or cycles >> PROGRESS_TIMEOUT_SCALE_SHIFT > 0xFFFFFFFF:
            raise InvalidArgument(f"progress timeout {cycles!r} cycles does not fit progress_timer "
                                  "(32 bits of 1024-cycle units)")
        value = cycles >> PROGRESS_TIMEOUT_SCALE_SHIFT
        self._check_running("CFG_PROGRESS_TIMER")
        self.iface.input.write("progress_timer", value)
        self.request(GlbReq.CFG_PROGRESS_TIMER, timeout=timeout)
        return value

    def set_poweroff_timer(self, timeout_us: int = POWEROFF_HYSTERESIS_US, *,
                           timeout: float = REQUEST_TIMEOUT) -> int:
        """Set the shader power-off hysteresis with CFG_POWEROFF_TIMER; returns the word written."""
        word = self.conv(timeout_us)
        self._check_running("CFG_POWEROFF_TIMER")
        self.iface.input.write("poweroff_timer", word)
        self.request(GlbReq.CFG_POWEROFF_TIMER, timeout=timeout)
        return word

    def set_core_mask(self, mask: int | None = None, *, timeout: float = REQUEST_TIMEOUT) -> int:
        """Set the shader cores the firmware may power (core_en_mask) with CFG_ALLOC_EN.

        Args:
            mask: cores to enable (default SHADER_PRESENT, what panthor writes).

        Returns:
            The mask written.

        Raises:
            InvalidArgument: an empty mask, or one naming cores SHADER_PRESENT does not have.
        """
        mask = self.shader_present if mask is None else mask
        if isinstance(mask, bool) or not isinstance(mask, int) or mask <= 0 or mask & ~self.shader_present:
            shown = f"{mask:#x}" if isinstance(mask, int) else repr(mask)
            raise InvalidArgument(f"core mask {shown} must be a non-empty subset of SHADER_PRESENT "
                                  f"{self.shader_present:#x}", value=mask if isinstance(mask, int) else None)
        self._check_running("CFG_ALLOC_EN")
        self.iface.input.write("core_en_mask", mask)
        self.request(GlbReq.CFG_ALLOC_EN, timeout=timeout)
        return mask

    def set_idle_timer(self, timeout_us: int = IDLE_HYSTERESIS_US, *, enable: bool = True,
                       timeout: float = REQUEST_TIMEOUT) -> int:
        """Set the GPU idle hysteresis and enable (or disable) the idle timer with the IDLE_EN value bit.

        The firmware reads idle_timer when IDLE_EN goes 0 → 1 (§4.2), so an already enabled timer is
        switched off and on again, each step acknowledged.

        Returns:
            The idle_timer word written.
        """
        word = self.conv(timeout_us)
        if not isinstance(enable, bool):
            raise InvalidArgument(f"enable must be a bool, got {enable!r}")
        self._check_running("IDLE_EN")
        self.iface.input.write("idle_timer", word)
        if self.iface.req.req & GlbReq.IDLE_EN:
            self.set_value(GlbReq.IDLE_EN, 0, timeout=timeout)
        if enable:
            self.set_value(GlbReq.IDLE_EN, GlbReq.IDLE_EN, timeout=timeout)
        return word

    def halt(self, timeout: float = HALT_TIMEOUT) -> None:
        """Halt the MCU gracefully (§3.8, panthor_fw_halt_mcu + wait): HALT = 1 as a value, doorbell 0,
        poll MCU_STATUS == HALT every 10 µs for up to 100 ms, then HALT back to 0 (the firmware reacts
        to 0→1 edges). Never waited for through GLB_ACK.

        Raises:
            Busy: the MCU is not running.
            Timeout: "Failed to cleanly suspend MCU" with MCU_STATUS (HALT is cleared all the same, as
                panthor_fw_pre_reset does).
        """
        self._check_running("HALT")
        self.iface.req.update(GlbReq.HALT, GlbReq.HALT)
        self.mcu.ring()
        try:
            self.mcu.wait_status(McuStatus.HALT, timeout, "Failed to cleanly suspend MCU (GLB_REQ.HALT)")
        finally:
            self.clear_halt()

    def clear_halt(self) -> None:
        """GLB_REQ.HALT = 0 (value write, no doorbell: the halted firmware reads it when it restarts)."""
        self.iface.req.update(0, GlbReq.HALT)
