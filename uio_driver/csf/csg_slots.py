"""Programming CSG slots and their CS slots through the firmware interface, and batched CSG requests.

Facts: csf-firmware-and-interfaces.md §7.4 (starting or resuming a group on a CSG slot — panthor's
order), §7.5 (suspend, terminate, status update), §6.2/§6.4 (CS input and CS_REQ bits), §5.2/§5.4/§5.5
(CSG input, CSG_REQ bits, endpoint_req), §6.5 (status_wait and blocked reason) and §7.8 (100 ms for
every CSG request).

Nothing here waits except :meth:`SlotRequests.apply`, which rings the GLB doorbell once for every slot
of the batch (panthor ``csgs_upd_ctx_apply_locked``) and then waits for each slot's acknowledgement.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import HardwareFault, MaliError, Timeout
from ..firmware.blocks import (
    CS_STATUS_WAIT_SYNC,
    CS_STATUS_WAIT_SYNC_64B,
    CS_STATUS_WAIT_SYNC_COND_MASK,
    CS_STATUS_WAIT_SYNC_COND_SHIFT,
    CsBlockedReason,
    CsgReq,
    CsgState,
    CsReq,
    CsState,
    cs_config,
    endpoint_req,
)
from ..firmware.interface import CsgIface, CsIface

if TYPE_CHECKING:
    from ..firmware.device import CsfFirmware
    from .group import Group
    from .queue import Queue

log = logging.getLogger(__name__)

#: panthor: every CSG request is acknowledged within 100 ms (§7.4 step 6, §7.8).
CSG_REQUEST_TIMEOUT = 0.100
_U32 = 0xFFFFFFFF
#: CS_REQ value bits panthor sets when starting a queue, and the mask of that update (§6.4).
_CS_START_VALUE = CsReq.IDLE_SYNC_WAIT | CsReq.IDLE_EMPTY | CsState.START
_CS_START_MASK = CsReq.IDLE_SYNC_WAIT | CsReq.IDLE_EMPTY | CsReq.STATE_MASK
#: SYNC_WAIT condition GT (§6.5): satisfied when seqno > ref; LE (0) when seqno <= ref.
SYNC_WAIT_COND_GT = 1
_EP_PRIORITY_SHIFT = 28


def doorbell_of(slot: int) -> int:
    """The doorbell of every queue of a group resident on CSG slot ``slot`` (panthor: slot + 1, §7.2)."""
    return slot + 1


def program_queue(cs: CsIface, queue: Queue, doorbell: int) -> None:
    """Program CS slot ``cs`` for ``queue`` (panthor ``cs_slot_prog_locked``, §7.4 step 2).

    ``input.extract = output.extract``; ring base/size, user I/O page MCU VAs, ``config = priority |
    doorbell << 8``, ``ack_irq_mask = ~0``; CS_REQ ← {IDLE_SYNC_WAIT = 1, IDLE_EMPTY = 1, STATE = START}
    as one value update (no doorbell yet; the CSG doorbell_req toggle follows).
    """
    queue.sync_extract()
    inp = cs.input
    inp.write("ringbuf_base", queue.ringbuf_base)
    inp.write("ringbuf_size", queue.ring_size)
    inp.write("ringbuf_input", queue.input_va)
    inp.write("ringbuf_output", queue.output_va)
    inp.write("config", cs_config(queue.priority, doorbell))
    inp.write("ack_irq_mask", _U32)
    cs.req.update(int(_CS_START_VALUE), int(_CS_START_MASK))


def stop_queue(cs: CsIface) -> None:
    """CS_REQ.STATE = STOP as a value write, no doorbell: it takes effect at the slot's next START (§7.5)."""
    cs.req.update(int(CsState.STOP), int(CsReq.STATE_MASK))


def program_group(csg: CsgIface, group: Group, as_nr: int, fw_priority: int) -> int:
    """Program CSG slot ``csg`` for ``group`` and queue START (or RESUME) + EP_CFG (§7.4 steps 2-4).

    Returns:
        The CSG_REQ bits to wait for (STATE | EP_CFG).
    """
    slot = csg.index
    cs_mask = 0
    for queue in group.queues:
        program_queue(csg.streams[queue.index], queue, doorbell_of(slot))
        cs_mask |= 1 << queue.index
    p = group.params
    inp = csg.input
    inp.write("allow_compute", p.compute_core_mask)
    inp.write("allow_fragment", p.fragment_core_mask)
    inp.write("allow_other", p.tiler_core_mask)
    inp.write("endpoint_req", endpoint_req(p.max_compute_cores, p.max_fragment_cores, p.max_tiler_cores,
                                           fw_priority))
    inp.write("config", as_nr)
    inp.write("suspend_buf", group.suspend_buf.va)
    inp.write("protm_suspend_buf", group.protm_suspend_buf.va)
    inp.write("ack_irq_mask", _U32)
    csg.toggle_cs_doorbells(cs_mask)
    state = CsgState.RESUME if group.was_suspended else CsgState.START
    csg.req.update(int(state), int(CsgReq.STATE_MASK))
    csg.req.toggle(int(CsgReq.EP_CFG))
    return int(CsgReq.STATE_MASK | CsgReq.EP_CFG)


def request_state(csg: CsgIface, state: CsgState) -> int:
    """Queue CSG_REQ.STATE = ``state`` (value update); returns the bits to wait for."""
    csg.req.update(int(state), int(CsgReq.STATE_MASK))
    return int(CsgReq.STATE_MASK)


def request_priority(csg: CsgIface, fw_priority: int) -> int:
    """Change endpoint_req.PRIORITY (31:28) and toggle EP_CFG (§7.4 "Priorities"); returns EP_CFG."""
    ep = csg.input.read("endpoint_req")
    cleared = ep & ~(0xF << _EP_PRIORITY_SHIFT) & _U32
    csg.input.write("endpoint_req", cleared | fw_priority << _EP_PRIORITY_SHIFT)
    csg.req.toggle(int(CsgReq.EP_CFG))
    return int(CsgReq.EP_CFG)


def request_status_update(csg: CsgIface) -> int:
    """Toggle STATUS_UPDATE (§7.5); returns the bit to wait for."""
    csg.req.toggle(int(CsgReq.STATUS_UPDATE))
    return int(CsgReq.STATUS_UPDATE)


def acked_state(csg: CsgIface) -> CsgState | None:
    """ACK.STATE as a :class:`CsgState`, or None for a value outside 0..3 (unknown state, §7.5)."""
    value = csg.req.ack & int(CsgReq.STATE_MASK)
    return CsgState(value) if value in {int(s) for s in CsgState} else None


def read_queue_status(cs: CsIface, queue: Queue) -> str:
    """Classify a queue from its CS status fields after a SUSPEND or STATUS_UPDATE (§6.5).

    UNBLOCKED with ``insert == extract`` and no scoreboard busy → ``"idle"``; SYNC_WAIT with no
    scoreboard busy → ``"blocked"`` (the wait is recorded in ``queue.blocked`` for host-side
    re-evaluation); anything else → ``"runnable"``.
    """
    out = cs.output
    reason = out.read("status_blocked_reason") & 0xF
    scoreboards = out.read("status_scoreboards") & 0xFFFF
    queue.blocked = None
    if reason == CsBlockedReason.SYNC_WAIT and not scoreboards:
        wait = out.read("status_wait")
        if wait & CS_STATUS_WAIT_SYNC:
            is64 = bool(wait & CS_STATUS_WAIT_SYNC_64B)
            ref = out.read("status_wait_sync_value")
            if is64:
                ref |= out.read("status_wait_sync_value_hi") << 32
            cond = (wait & CS_STATUS_WAIT_SYNC_COND_MASK) >> CS_STATUS_WAIT_SYNC_COND_SHIFT
            queue.blocked = (out.read("status_wait_sync_ptr"), ref, is64, cond == SYNC_WAIT_COND_GT)
            return "blocked"
    if reason == CsBlockedReason.UNBLOCKED and not scoreboards and queue.insert == queue.output_extract:
        return "idle"
    return "runnable"


@dataclass
class SlotRequests:
    """CSG requests collected for one batch (panthor ``csgs_upd_ctx``).

    Attributes:
        masks: CSG slot → CSG_REQ bits to wait for.
    """

    masks: dict[int, int] = field(default_factory=dict)

    def add(self, slot: int, mask: int) -> None:
        self.masks[slot] = self.masks.get(slot, 0) | mask

    def apply(self, fw: CsfFirmware, timeout: float = CSG_REQUEST_TIMEOUT) -> dict[int, MaliError]:
        """Toggle the GLB doorbell_req bits of every slot in the batch, ring doorbell 0 once, then wait
        for each slot's acknowledgement (§7.4 steps 5-6).

        Returns:
            The slots whose request was not acknowledged (``CSG %d update request timedout``) or could
            not be sent, with the error. An empty dict means every request was acknowledged.
        """
        if not self.masks:
            return {}
        glb, iface = fw.glb, fw.interface
        if glb is None or iface is None:
            err = HardwareFault("CSG requests: the firmware is not running")
            return dict.fromkeys(self.masks, err)
        try:
            glb.ring_csg_doorbells(sum(1 << slot for slot in self.masks))
        except MaliError as err:
            return dict.fromkeys(self.masks, err)
        failed: dict[int, MaliError] = {}
        for slot, mask in sorted(self.masks.items()):
            try:
                glb.wait_csg_acks(iface.csg(slot), mask, timeout)
            except (Timeout, HardwareFault) as err:
                log.warning("CSG %d update request timedout: %s", slot, err.message)
                failed[slot] = err
        return failed
