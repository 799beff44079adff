"""JOB interrupt handling for resident groups, in panthor's order (``sched_process_csg_irq_locked``).

Facts: csf-firmware-and-interfaces.md §7.6 (event handling order), §7.1 (event bits are acknowledged
by copying ACK into REQ; ``cs_irq_ack = cs_irq_req`` before looking at CS events), §6.3/§6.6 (fault and
fatal fields, exception types), §7.7 (tiler OOM is deferred); cs-isa-and-uapi.md §2.5 (completion from
the sync object, the faulting job found by ring position) and §5.5 (what each fault does).

For CSG slot *g* with its JOB_IRQ bit set:

1. read CSG REQ/ACK and ``cs_irq_req``/``cs_irq_ack``; nothing pending → done;
2. ``cs_irq_ack = cs_irq_req``;
3. acknowledge the CSG events SYNC_UPDATE, IDLE, PROGRESS_TIMER_EVENT (ACK → REQ);
4. IDLE → a tick; PROGRESS_TIMER_EVENT → group timed out and a tick;
5. per CS with a pending interrupt, events = ``(CS REQ ^ CS ACK) & CS_EVT_MASK``: FATAL (queue marked
   fatal; 0x41 CS_UNRECOVERABLE → GPU reset), FAULT (the job containing ``extract`` gets EINVAL),
   TILER_OOM (deferred to the scheduler); FATAL and FAULT acknowledged at once, FAULT/TILER_OOM
   toggle that CS's bit in CSG doorbell_req;
6. SYNC_UPDATE → job completion from the sync objects (and re-evaluation of blocked queues);
7. toggle the collected CS doorbell bits and ring the CSG doorbell (unconditionally).

The handler runs inside :class:`~uio_driver.irq.IrqDispatcher` servicing (possibly inside another
wait): it only updates state and raises requests (tick, reset, heap growth) the scheduler's
:meth:`~uio_driver.csf.scheduler.Scheduler.process` acts on.
"""

from __future__ import annotations

import errno as _errno
import logging
from typing import TYPE_CHECKING

from ..errors import MaliError
from ..firmware.blocks import CS_EVT_MASK, CSG_EVT_MASK, CsgReq, CsReq
from ..firmware.interface import CsgIface, CsIface

if TYPE_CHECKING:
    from .group import Group
    from .scheduler import Scheduler

log = logging.getLogger(__name__)

#: JOB_IRQ bit 31 is the GLB interface; bits 0..30 are CSG slots (§3.9).
JOB_IRQ_GLB = 1 << 31
#: CS_FATAL exception CS_UNRECOVERABLE: panthor schedules a full GPU reset (§6.6).
CS_UNRECOVERABLE = 0x41
EXCEPTION_NAMES = {
    0x05: "KABOOM", 0x0F: "CS_RESOURCE_TERMINATED", 0x40: "CS_CONFIG_FAULT", 0x41: "CS_UNRECOVERABLE",
    0x44: "CS_ENDPOINT_FAULT", 0x48: "CS_BUS_FAULT", 0x49: "CS_INVALID_INSTRUCTION",
    0x4A: "CS_CALL_STACK_OVERFLOW", 0x4B: "CS_INHERIT_FAULT", 0x50: "INSTR_INVALID_PC",
    0x51: "INSTR_INVALID_ENC", 0x55: "INSTR_BARRIER_FAULT", 0x58: "DATA_INVALID_FAULT",
    0x59: "TILE_RANGE_FAULT", 0x5A: "ADDR_RANGE_FAULT", 0x5B: "IMPRECISE_FAULT",
    0x68: "FIRMWARE_INTERNAL_ERROR", 0x69: "RESOURCE_EVICTION_TIMEOUT",
}


def exception_name(code: int) -> str:
    """Name of a CS exception type (§6.6; MMU codes 0xC0.. grouped)."""
    if code in EXCEPTION_NAMES:
        return EXCEPTION_NAMES[code]
    if 0xC0 <= code <= 0xC4:
        return f"TRANSLATION_FAULT_{code - 0xC0}"
    if 0xC8 <= code <= 0xCB:
        return f"PERMISSION_FAULT_{code - 0xC8}"
    if 0xD9 <= code <= 0xDB:
        return f"ACCESS_FLAG_{code - 0xD8}"
    if 0xE0 <= code <= 0xEB:
        return f"ADDRESS_SIZE_OR_MEMORY_ATTRIBUTE_FAULT_{code:#x}"
    return f"exception {code:#04x}"


def _bits(mask: int) -> list[int]:
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


class EventHandler:
    """The JOB IRQ listener of one scheduler (registered with :meth:`Mcu.add_listener`).

    Attributes:
        counts: events handled, by name (diagnostics and tests).
    """

    def __init__(self, sched: Scheduler) -> None:
        self.sched = sched
        self.counts: dict[str, int] = {}
        self._glb_idle_seen = 0

    def _count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    def on_job_irq(self, bits: int) -> None:
        """Handle one batch of JOB interrupt bits: pending MMU faults, then GLB (the GLB driver
        acknowledges its events; an IDLE event asks for a tick), then every CSG slot with its bit set."""
        fw = self.sched.fw
        # MMU faults first: a CS fault caused by a translation fault then finds its VM already marked
        # faulty (and its AS disabled), even when this runs inside a wait that services only JOB IRQs.
        self.sched.mmu.service()
        if bits & JOB_IRQ_GLB and fw.glb is not None:
            idle = fw.glb.stats.events.get("IDLE", 0)
            if idle != self._glb_idle_seen:
                self._glb_idle_seen = idle
                self.sched.request_tick("GLB idle")
        iface = fw.interface
        if iface is None:
            return
        for g in _bits(bits & ~JOB_IRQ_GLB):
            if g < len(iface.groups):
                self.process_csg(iface.csg(g))

    def process_csg(self, csg: CsgIface) -> None:
        """§7.6 steps 1-7 for CSG slot ``csg``."""
        sched = self.sched
        group = sched.slots[csg.index] if csg.index < len(sched.slots) else None
        inp, out = csg.input, csg.output
        req, ack = inp.read("req"), out.read("ack")
        irq_req, irq_ack = out.read("cs_irq_req"), inp.read("cs_irq_ack")
        if req == ack and irq_req == irq_ack:
            return
        cs_pending = irq_req ^ irq_ack
        if cs_pending:  # step 2: cs_irq_ack = cs_irq_req before looking at CS events (§7.1)
            inp.write("cs_irq_ack", irq_req)
        events = (req ^ ack) & int(CSG_EVT_MASK)
        if events:  # step 3: acknowledge the CSG events (copy ACK into REQ)
            inp.write("req", (req & ~events) | (ack & events))
        if group is None:
            return  # nothing is bound to the slot any more: nothing to do for these events
        if events & CsgReq.IDLE:
            self._count("CSG_IDLE")
            group.idle = not group.has_work
            sched.request_tick(f"CSG {csg.index} idle")
        if events & CsgReq.PROGRESS_TIMER_EVENT:
            self._count("PROGRESS_TIMER_EVENT")
            log.warning("CSG_PROGRESS_TIMER_EVENT: group %d on CSG slot %d", group.handle, csg.index)
            group.faults.append(f"CSG {csg.index}: progress timer event (no progress within progress_timer)")
            sched.recovery.mark_timed_out(group, "CSG progress timer event")
        db_mask = 0
        for s in _bits(cs_pending):
            if s < len(csg.streams) and self._process_cs(csg.streams[s], group):
                db_mask |= 1 << s
        if events & CsgReq.SYNC_UPDATE:
            self._count("SYNC_UPDATE")
            sched.on_sync_update(group)
        if db_mask:
            csg.toggle_cs_doorbells(db_mask)
        self._ring(csg)

    def _ring(self, csg: CsgIface) -> None:
        """Step 7 (panthor rings it unconditionally): ``panthor_fw_ring_csg_doorbells`` — toggle GLB
        doorbell_req bit g, write doorbell 0. Inside an interrupt the MCU is known to be running."""
        fw = self.sched.fw
        iface = fw.interface
        if iface is None:
            return
        try:
            iface.glb.doorbell.toggle(1 << csg.index)
            fw.mcu.ring()
        except MaliError as err:
            self.sched.recovery.request_reset(f"CSG {csg.index} doorbell failed: {err.message}")

    def _process_cs(self, cs: CsIface, group: Group) -> bool:
        """Step 5 for one CS; returns True when its CSG doorbell_req bit must be toggled."""
        events = cs.req.pending(int(CS_EVT_MASK))
        if not events:
            return False
        queue = group.queues[cs.index] if cs.index < len(group.queues) else None
        if events & CsReq.FATAL:
            self._fatal(cs, group)
        if events & CsReq.FAULT and queue is not None:
            self._fault(cs, group)
        if events & CsReq.TILER_OOM:
            self._count("TILER_OOM")
            self.sched.defer_tiler_oom(group, cs.index)  # acknowledged when handled (§6.4)
        cs.req.update(cs.req.ack, int(CsReq.FATAL | CsReq.FAULT))
        return bool(events & (CsReq.FAULT | CsReq.TILER_OOM))

    def _fatal(self, cs: CsIface, group: Group) -> None:
        self._count("CS_FATAL")
        fatal, info = cs.output.read("fatal"), cs.output.read("fatal_info")
        code = fatal & 0xFF
        text = (f"CS_FATAL on queue {cs.index} (CSG {cs.group}): {exception_name(code)} ({code:#04x}), "
                f"data {fatal >> 8:#x}, info {info:#x}")
        log.warning("%s", text)
        group.faults.append(text)
        group.fatal_queues |= 1 << cs.index
        if code == CS_UNRECOVERABLE:
            self.sched.recovery.request_reset(f"group {group.handle}: {text}")
        else:
            self.sched.request_tick(f"group {group.handle} fatal fault")

    def _fault(self, cs: CsIface, group: Group) -> None:
        self._count("CS_FAULT")
        fault, info = cs.output.read("fault"), cs.output.read("fault_info")
        code = fault & 0xFF
        queue = group.queues[cs.index]
        extract = queue.output_extract
        text = (f"CS_FAULT on queue {cs.index} (CSG {cs.group}): {exception_name(code)} ({code:#04x}), "
                f"data {fault >> 8:#x}, info {info:#x}, extract {extract:#x}")
        log.info("%s", text)
        group.faults.append(text)
        group.faulted_queues |= 1 << cs.index
        job = queue.job_at(extract)
        if job is not None and job.error is None:
            # panthor: -EINVAL on the fence of the job whose ring range holds extract (§2.5); the job
            # still completes through its SYNC_ADD64 (error propagated into the sync object).
            job.error, job.fault = _errno.EINVAL, text
