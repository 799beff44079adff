"""CSG and CS slot handling of the simulated MCU (per CSG slot whose GLB doorbell bit toggled).

Written from ``csf-firmware-and-interfaces.md`` §5 (CSG blocks and bits), §6.2-§6.4 (CS blocks and
bits), §7.4-§7.6 (start/suspend/terminate, event order) and §9.4 (checklist). Ring execution is the
next model's job: this one applies CS REQ.STATE, latches the CS configuration and ring fields, and
calls the :class:`~uio_driver.sim.mcu.CsExecutor` hooks (``on_cs_start``/``on_cs_stop``).

Order inside one CSG (§9.4): CS slots whose CSG ``doorbell_req`` bit differs from ``doorbell_ack``
first (then mirrored), then a STATE request, then the EP_CFG and STATUS_UPDATE toggles; the output
block is written, then JOB_IRQ bit *g* raised when a changed ACK bit is in ``ack_irq_mask`` or
``cs_irq_req`` changed.

STATE transitions:

* START: latch allow_*, endpoint_req, config (AS), suspend buffers; apply every CS's REQ (START or
  STOP); ACK.STATE = 1;
* SUSPEND: stop every CS, write every CS's status fields and a suspend record (:class:`SuspendHeader`
  + one :class:`SuspendStream` per CS, a model format) to ``suspend_buf`` through AS0; ACK.STATE = 2;
* RESUME: read the record back from ``suspend_buf`` (the group may come back on another slot), restore
  each CS's position and status, then apply every CS's REQ like START; ACK.STATE = 3;
* TERMINATE: drop all state, every CS ACK.STATE = STOP; ACK.STATE = 0;
* another value: strict ``bad-value`` violation, ACK unchanged.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .csf_iface import (
    CS_EXTRACT_EVENT,
    CS_IDLE_MASK,
    CS_REQUEST_MASK,
    CS_STATE_MASK,
    CS_STATE_START,
    CS_STATE_STOP,
    CSG_EP_CFG,
    CSG_REQUEST_MASK,
    CSG_STATE_MASK,
    CSG_STATE_NAMES,
    CSG_STATE_RESUME,
    CSG_STATE_START,
    CSG_STATE_SUSPEND,
    CSG_STATE_TERMINATE,
    CSG_STATUS_STATE_IDLE,
    CSG_STATUS_UPDATE,
    CSG_TOGGLE_MASK,
    EP_EXCLUSIVE_COMPUTE,
    EP_EXCLUSIVE_FRAGMENT,
    EP_PRIORITY_SHIFT,
    SUSPEND_MAGIC,
    SUSPEND_STREAM_RUNNING,
    SUSPEND_VERSION,
    CsgInput,
    CsgOutput,
    CsInput,
    CsOutput,
    GroupMap,
    StreamMap,
    SuspendHeader,
    SuspendStream,
    bits_of,
    suspend_record_size,
)

if TYPE_CHECKING:
    from .mcu import SimMcu

_STATUS_FIELDS = ("status_cmd_ptr", "status_wait", "status_req_resource", "status_wait_sync_ptr",
                  "status_wait_sync_value", "status_scoreboards", "status_blocked_reason",
                  "status_wait_sync_value_hi")


@dataclass(eq=False)
class CsSlot:
    """The firmware's view of one CS slot.

    Attributes:
        index: CS slot number. map: where its blocks are.
        out: the CS output block as the firmware last wrote it (status fields included).
        running: STATE START applied and the group resident.
        latched: the CS input block as read at the last CS doorbell / group start (config, ring,
            user I/O page VAs, heap fields — the executor's inputs).
        extract: ring position the stream continues from (restored by RESUME).
        seen_req: CS_REQ request bits the firmware last read.
        restored: RESUME restored its position and status; the next start continues there.
    """

    index: int
    map: StreamMap
    out: CsOutput = field(default_factory=CsOutput)
    running: bool = False
    latched: CsInput | None = None
    extract: int = 0
    seen_req: int = 0
    restored: bool = False

    def clear(self) -> None:
        """TERMINATE: forget the stream (its ACK.STATE is set to STOP by the caller)."""
        ack = self.out.ack
        self.out = CsOutput()
        self.out.ack = ack
        self.running = False
        self.latched = None
        self.extract = 0
        self.restored = False


class CsgSlot:
    """The firmware's view of one CSG slot and its CS slots.

    Attributes:
        index: slot number. map: where its blocks are.
        out: the CSG output block as the firmware last wrote it.
        streams: its CS slots.
        latched: the CSG input block latched by the last START/RESUME (allow_*, config, suspend
            buffers); None when terminated.
        endpoint_req: endpoint_req latched by START/RESUME/EP_CFG.
        seen_req/seen_doorbell_req: CSG_REQ request bits and doorbell_req the firmware last read.
        outstanding_state/outstanding_toggles: requests left unacknowledged by a fault hook.
        transitions: every STATE applied, as ``(time_ns, name)``.
    """

    def __init__(self, mcu: SimMcu, group: GroupMap) -> None:
        self.mcu = mcu
        self.index = group.index
        self.map = group
        self.out = CsgOutput()
        self.streams = [CsSlot(s.index, s) for s in group.streams]
        self.latched: CsgInput | None = None
        self.endpoint_req = 0
        self.seen_req = self.seen_doorbell_req = 0
        self.outstanding_state: int | None = None
        self.outstanding_toggles = 0
        self.transitions: list[tuple[int, str]] = []

    @property
    def active(self) -> bool:
        """ACK.STATE is START or RESUME: the group is resident and its streams may run."""
        return self.out.ack & CSG_STATE_MASK in (CSG_STATE_START, CSG_STATE_RESUME)

    @property
    def priority(self) -> int:
        """CSG priority from the latched endpoint_req (bits 31:28, §5.5)."""
        return self.endpoint_req >> EP_PRIORITY_SHIFT & 0xF

    # -- life cycle -------------------------------------------------------------------------------

    def boot(self, image: bytes, fast: bool) -> None:
        """Initialise the output blocks (zero on a cold/slow boot, kept on a fast restart)."""
        base = self.map.output_va - self.mcu.layout().shared_va
        inp = self._input(image)
        self.seen_req = inp.req & CSG_REQUEST_MASK
        self.seen_doorbell_req = inp.doorbell_req
        if fast:
            self.out = CsgOutput.from_buffer_copy(image, base)
        for cs in self.streams:
            cs_inp = self._cs_input(image, cs)
            cs.seen_req = cs_inp.req & CS_REQUEST_MASK
            if fast:
                cs.out = CsOutput.from_buffer_copy(image, cs.map.output_va - self.mcu.layout().shared_va)
            else:
                self._write_cs(cs)
        self.write_out()

    def stop_streams(self) -> None:
        """The MCU stopped (halt, crash, reset): nothing runs any more."""
        for cs in self.streams:
            if cs.running:
                self._stop_cs(cs)

    def write_out(self) -> None:
        """Publish the CSG output block through AS0."""
        self.mcu.write(self.map.output_va, bytes(self.out))

    def _write_cs(self, cs: CsSlot) -> None:
        self.mcu.write(cs.map.output_va, bytes(cs.out))

    def _input(self, snap: bytes | bytearray) -> CsgInput:
        return CsgInput.from_buffer_copy(snap, self.map.input_va - self.mcu.layout().shared_va)

    def _cs_input(self, snap: bytes | bytearray, cs: CsSlot) -> CsInput:
        return CsInput.from_buffer_copy(snap, cs.map.input_va - self.mcu.layout().shared_va)

    # -- processing -------------------------------------------------------------------------------

    def process(self, snap: bytes | bytearray) -> None:
        """Handle this slot after its GLB doorbell bit toggled (§9.4)."""
        inp = self._input(snap)
        old_ack, old_irq = self.out.ack, self.out.cs_irq_req
        self._cs_doorbells(inp, snap)
        self._state_request(inp, snap)
        self._toggle_requests(inp, snap)
        self.seen_req = inp.req & CSG_REQUEST_MASK
        self.seen_doorbell_req = inp.doorbell_req
        self._publish(inp.ack_irq_mask, old_ack, old_irq)

    def _publish(self, ack_irq_mask: int, old_ack: int, old_irq: int) -> None:
        """Write the output block, then raise JOB_IRQ bit g if the host must look (§7.3)."""
        self.write_out()
        if (old_ack ^ self.out.ack) & ack_irq_mask or old_irq != self.out.cs_irq_req:
            self.mcu.raise_job_irq(1 << self.index)

    def _cs_doorbells(self, inp: CsgInput, snap: bytes | bytearray) -> None:
        pending = inp.doorbell_req ^ self.out.doorbell_ack
        valid = (1 << len(self.streams)) - 1
        if pending & ~valid:
            self.mcu.violation("bad-request", f"CSG{self.index} doorbell_req bits {pending & ~valid:#x} name "
                               f"CS slots that do not exist (stream_num {len(self.streams)})",
                               register=f"CSG{self.index}_DOORBELL_REQ", value=inp.doorbell_req)
        for s in bits_of(pending & valid):
            self._cs_request(self.streams[s], snap, starting=False)
        self.out.doorbell_ack ^= pending

    def _cs_request(self, cs: CsSlot, snap: bytes | bytearray, *, starting: bool) -> None:
        """Read CS s's input and apply its REQ (§9.5 first bullet): value bits, EXTRACT_EVENT, STATE."""
        inp = self._cs_input(snap, cs)
        cs.latched = inp
        cs.seen_req = inp.req & CS_REQUEST_MASK
        old = cs.out.ack
        ack = (old & ~CS_IDLE_MASK) | (inp.req & CS_IDLE_MASK)
        ack ^= (inp.req ^ old) & CS_EXTRACT_EVENT
        state = inp.req & CS_STATE_MASK
        if state not in (CS_STATE_STOP, CS_STATE_START):
            name = f"CS{self.index}.{cs.index}_REQ"
            self.mcu.violation("bad-value", f"{name}.STATE = {state} is not STOP (0) or START (1) (§6.4)",
                               register=name, value=inp.req)
        elif self.active or starting:
            # STATE applies only to a resident group; otherwise at its next START/RESUME (§7.5).
            ack = (ack & ~CS_STATE_MASK) | state
            if state == CS_STATE_START and not cs.running:
                self._start_cs(cs, inp)
            elif state == CS_STATE_STOP and cs.running:
                self._stop_cs(cs)
        self._set_cs_ack(cs, ack, inp.ack_irq_mask)
        if cs.running and not starting:
            # The host's answer to a FAULT/TILER_OOM arrives with this doorbell bit (§7.6 step 5, §9.6).
            self.mcu.executor.run_queue(self.index, cs.index)

    def _set_cs_ack(self, cs: CsSlot, ack: int, ack_irq_mask: int) -> None:
        """Publish a CS ACK; a change in ``ack_irq_mask`` notifies the host through cs_irq_req (§7.1)."""
        old = cs.out.ack
        cs.out.ack = ack
        if ack != old:
            self._write_cs(cs)
            if (ack ^ old) & ack_irq_mask:
                self._notify_cs(cs.index)

    def _notify_cs(self, s: int) -> None:
        """Toggle cs_irq_req bit s unless a notification is already pending (req != the host's ack).

        Two toggles before the host copies cs_irq_req into cs_irq_ack would cancel out and lose the
        event, so a pending bit is left alone (the host looks at every CS of the bit anyway, §7.6).
        """
        host_ack = self._cs_irq_ack()
        if not (self.out.cs_irq_req ^ host_ack) >> s & 1:
            self.out.cs_irq_req ^= 1 << s

    def _cs_irq_ack(self) -> int:
        data = self.mcu.read(self.map.input_va + CsgInput.cs_irq_ack.offset, 4)
        return int.from_bytes(data, "little")

    def _start_cs(self, cs: CsSlot, inp: CsInput) -> None:
        cs.running = True
        if cs.restored:
            cs.restored = False  # RESUME: continue at the saved command pointer (§9.4)
        elif inp.ringbuf_size:
            cs.out.status_cmd_ptr = inp.ringbuf_base + cs.extract % inp.ringbuf_size
        self.mcu.note_activity()
        self.mcu.executor.on_cs_start(self.index, cs.index)

    def _stop_cs(self, cs: CsSlot) -> None:
        cs.running = False
        self.mcu.executor.on_cs_stop(self.index, cs.index)

    # -- STATE --------------------------------------------------------------------------------------

    def _state_request(self, inp: CsgInput, snap: bytes | bytearray) -> None:
        mcu, g = self.mcu, self.index
        want, have = inp.req & CSG_STATE_MASK, self.out.ack & CSG_STATE_MASK
        if want == have:
            self.outstanding_state = None
            return
        if self.outstanding_state not in (None, want) and want != CSG_STATE_TERMINATE:
            # panthor escalates a timed-out SUSPEND to TERMINATE (§7.5); anything else is a driver bug.
            mcu.violation("request-outstanding", f"CSG{g} REQ.STATE changed to {want} while "
                          f"{CSG_STATE_NAMES.get(self.outstanding_state or 0)} was still unacknowledged",
                          register=f"CSG{g}_REQ", value=inp.req)
        if self._never_acked(CSG_STATE_MASK):
            self.outstanding_state = want
            return
        self.outstanding_state = None
        handlers = {CSG_STATE_START: self._start, CSG_STATE_SUSPEND: self._suspend,
                    CSG_STATE_RESUME: self._resume, CSG_STATE_TERMINATE: self._terminate}
        handler = handlers.get(want)
        if handler is None:
            mcu.violation("bad-value", f"CSG{g} REQ.STATE = {want} is not a CSG state (0 TERMINATE, 1 START, "
                          "2 SUSPEND, 3 RESUME; §5.4)", register=f"CSG{g}_REQ", value=inp.req)
            return
        handler(inp, snap)
        self.transitions.append((mcu.sim.clock.now_ns(), CSG_STATE_NAMES[want]))
        ack_state = CSG_STATE_MASK if mcu.faults.bad_csg_ack_state >> g & 1 else want
        self.out.ack = (self.out.ack & ~CSG_STATE_MASK) | ack_state

    def _never_acked(self, bits: int) -> bool:
        faults = self.mcu.faults
        return bool(faults.never_ack_csg & bits) and bool(faults.never_ack_csg_slots >> self.index & 1)

    def _start(self, inp: CsgInput, snap: bytes | bytearray) -> None:
        self.latched = inp
        self._latch_endpoints(inp)
        for cs in self.streams:
            self._cs_request(cs, snap, starting=True)

    def _resume(self, inp: CsgInput, snap: bytes | bytearray) -> None:
        self._restore(inp)
        self._start(inp, snap)

    def _suspend(self, inp: CsgInput, snap: bytes | bytearray) -> None:
        was_running = [cs.running for cs in self.streams]
        for cs in self.streams:
            if cs.running:
                self._stop_cs(cs)
            self._write_cs(cs)  # the status fields the host reads after the ACK (§7.5)
        self.out.status_state = CSG_STATUS_STATE_IDLE
        if not inp.suspend_buf:
            msg = f"CSG{self.index} SUSPEND with suspend_buf = 0: the group state has nowhere to go (§5.2)"
            self.mcu.violation("no-suspend-buffer", msg, register=f"CSG{self.index}_SUSPEND_BUF")
            return
        self.mcu.write(inp.suspend_buf, self._record(was_running))
        self._executor_hook("save_state", inp.suspend_buf)

    def _record(self, was_running: list[bool]) -> bytes:
        head = SuspendHeader(magic=SUSPEND_MAGIC, version=SUSPEND_VERSION, slot=self.index,
                             stream_num=len(self.streams), time_ns=self.mcu.sim.clock.now_ns())
        parts = [bytes(head)]
        for cs, running in zip(self.streams, was_running, strict=True):
            out = cs.out
            req_state = cs.latched.req & CS_STATE_MASK if cs.latched is not None else CS_STATE_STOP
            parts.append(bytes(SuspendStream(
                flags=SUSPEND_STREAM_RUNNING if running else 0, req_state=req_state, extract=cs.extract,
                cmd_ptr=out.status_cmd_ptr, status_wait=out.status_wait,
                status_req_resource=out.status_req_resource,
                wait_sync_ptr=out.status_wait_sync_ptr, wait_sync_value=out.status_wait_sync_value,
                scoreboards=out.status_scoreboards, blocked_reason=out.status_blocked_reason,
                wait_sync_value_hi=out.status_wait_sync_value_hi)))
        return b"".join(parts)

    def _restore(self, inp: CsgInput) -> None:
        g = self.index
        if not inp.suspend_buf:
            self.mcu.violation("no-suspend-buffer", f"CSG{g} RESUME with suspend_buf = 0: nothing to resume "
                               "from (§5.2)", register=f"CSG{g}_SUSPEND_BUF")
            return
        data = self.mcu.read(inp.suspend_buf, suspend_record_size(len(self.streams)))
        head = SuspendHeader.from_buffer_copy(data, 0)
        if (head.magic, head.version, head.stream_num) != (SUSPEND_MAGIC, SUSPEND_VERSION, len(self.streams)):
            msg = (f"CSG{g} RESUME: suspend_buf {inp.suspend_buf:#x} does not hold a suspend record for "
                   f"{len(self.streams)} streams (magic {head.magic:#x}, stream_num {head.stream_num}): it "
                   "was not written by a SUSPEND")
            self.mcu.violation("bad-suspend-record", msg, register=f"CSG{g}_SUSPEND_BUF")
            return
        size = ctypes.sizeof(SuspendStream)
        for cs in self.streams:
            rec = SuspendStream.from_buffer_copy(data, ctypes.sizeof(SuspendHeader) + cs.index * size)
            cs.extract = rec.extract
            cs.restored = True
            values = (rec.cmd_ptr, rec.status_wait, rec.status_req_resource, rec.wait_sync_ptr,
                      rec.wait_sync_value, rec.scoreboards, rec.blocked_reason, rec.wait_sync_value_hi)
            for name, value in zip(_STATUS_FIELDS, values, strict=True):
                setattr(cs.out, name, value)
        self._executor_hook("restore_state", inp.suspend_buf)

    def _executor_hook(self, name: str, *args: int) -> None:
        """Call an optional executor hook (save_state/restore_state, see CsExecutor) with the slot."""
        hook = getattr(self.mcu.executor, name, None)
        if hook is not None:
            hook(self.index, *args)

    def _terminate(self, inp: CsgInput, snap: bytes | bytearray) -> None:
        for cs in self.streams:
            if cs.running:
                self._stop_cs(cs)
            self._executor_hook("on_cs_terminate", cs.index)
            cs.clear()
            self._set_cs_ack(cs, cs.out.ack & ~CS_STATE_MASK, self._cs_input(snap, cs).ack_irq_mask)
            self._write_cs(cs)
        self.latched = None
        self.endpoint_req = 0
        self.out.status_endpoint_current = 0
        self.out.status_state = 0

    # -- toggles ------------------------------------------------------------------------------------

    def _toggle_requests(self, inp: CsgInput, snap: bytes | bytearray) -> None:
        pending = (inp.req ^ self.out.ack) & CSG_TOGGLE_MASK
        lost = self.outstanding_toggles & ~pending
        self.outstanding_toggles &= pending
        if lost:
            self.mcu.violation("request-outstanding", f"CSG{self.index} REQ bits {lost:#x} were toggled "
                               "again before the firmware acknowledged them: the request is lost (§7.1)",
                               register=f"CSG{self.index}_REQ", value=inp.req)
        for bit in bits_of(pending):
            mask = 1 << bit
            if self._never_acked(mask):
                self.outstanding_toggles |= mask
                continue
            if mask == CSG_EP_CFG:
                self._latch_endpoints(inp)
            elif mask == CSG_STATUS_UPDATE:
                self._write_status()
            self.out.ack ^= mask

    def _latch_endpoints(self, inp: CsgInput) -> None:
        """endpoint_req → status_endpoint_req/current: report min(requested, allowed) units (§9.4)."""
        sim = self.mcu.sim
        ep = inp.endpoint_req
        self.endpoint_req = ep
        cores = self.mcu.glb.core_en_mask or sim.config.shader_present
        compute = min(ep & 0xFF, bin(inp.allow_compute & cores).count("1"))
        fragment = min(ep >> 8 & 0xFF, bin(inp.allow_fragment & cores).count("1"))
        tiler = min(ep >> 16 & 0xF, bin(inp.allow_other & sim.config.tiler_present).count("1"))
        self.out.status_endpoint_req = ep & (0xFFFFF | EP_EXCLUSIVE_COMPUTE | EP_EXCLUSIVE_FRAGMENT)
        self.out.status_endpoint_current = compute | fragment << 8 | tiler << 16

    def _write_status(self) -> None:
        """STATUS_UPDATE: publish every CS's status fields and the group idle state (§7.5)."""
        busy = False
        for cs in self.streams:
            self._write_cs(cs)
            busy |= cs.running and self.mcu.executor.is_busy(self.index, cs.index)
        self.out.status_state = 0 if busy else CSG_STATUS_STATE_IDLE

    # -- events for the executor (next model) -----------------------------------------------------------

    def signal_event(self, bits: int) -> None:
        """Raise CSG events (SYNC_UPDATE, IDLE, PROGRESS_TIMER_EVENT): flip ACK bits not already pending."""
        inp = CsgInput.from_buffer_copy(self.mcu.read(self.map.input_va, ctypes.sizeof(CsgInput)))
        old_ack, old_irq = self.out.ack, self.out.cs_irq_req
        self.out.ack ^= bits & ~(inp.req ^ self.out.ack)
        self._publish(inp.ack_irq_mask, old_ack, old_irq)

    def signal_cs_event(self, s: int, bits: int) -> None:
        """Raise CS events (FAULT, FATAL, TILER_OOM …) on stream ``s`` after its output fields were set."""
        cs = self.streams[s]
        inp = CsInput.from_buffer_copy(self.mcu.read(cs.map.input_va, ctypes.sizeof(CsInput)))
        old_ack, old_irq = self.out.ack, self.out.cs_irq_req
        self._set_cs_ack(cs, cs.out.ack ^ (bits & ~(inp.req ^ cs.out.ack)), inp.ack_irq_mask)
        self._write_cs(cs)
        csg_inp = CsgInput.from_buffer_copy(self.mcu.read(self.map.input_va, ctypes.sizeof(CsgInput)))
        self._publish(csg_inp.ack_irq_mask, old_ack, old_irq)
