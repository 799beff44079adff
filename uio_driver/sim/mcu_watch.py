"""Strict-mode protocol watch of the simulated MCU: requests without doorbell, writes to FW-owned blocks.

The real firmware only reads input blocks when a doorbell wakes it (§7.1 "writing REQ without
ringing never gets an ACK") and the host never writes output or control blocks (§4, §9.1). Neither
mistake shows on hardware until something times out, so the model looks for them:

* **requests without a doorbell** — every :attr:`McuConfig.watchdog_ns` of virtual time (only while
  the driver waits, since only then does time advance) the watch reads the input blocks through AS0
  and compares the request bits with what the firmware saw when it last processed them: GLB_REQ and
  GLB doorbell_req (seen at the last doorbell 0), each CSG_REQ and CSG doorbell_req (seen when the
  slot's GLB doorbell bit was last processed) and, for resident groups, each CS_REQ (seen at the last
  CS doorbell or group start). Event acknowledgements (the host copying ACK event bits into REQ)
  need no doorbell and are ignored; so are CS requests of a group that is not resident (they take
  effect at its next START/RESUME, §7.5). A difference that stays the same for ``watchdog_ns`` is a
  ``no-doorbell`` violation;
* **writes to firmware-owned blocks** — the watch keeps a shadow of every byte the firmware wrote to
  the control and output blocks and compares it with memory at every doorbell and watchdog tick; a
  difference is a ``fw-owned-write`` violation naming the block and field.

Both report once per offending value (non-strict mode records and carries on). The watch pauses
while a doorbell answer is pending and while an AS0 lock covers the interface (the MCU's accesses
would stall, §3.3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .clock import Event
from .csf_iface import (
    CS_REQUEST_MASK,
    CSG_REQUEST_MASK,
    GLB_REQUEST_MASK,
    CsgInput,
    CsInput,
    GlbInput,
    InterfaceMap,
    glb_bit_names,
)

if TYPE_CHECKING:
    from .mcu import SimMcu


class ProtocolWatch:
    """Shadows of firmware-owned bytes and the no-doorbell watchdog of one MCU.

    Attributes:
        extent: bytes of the shared section the interface occupies (what a snapshot reads).
        ticks: watchdog ticks run so far.
    """

    def __init__(self, mcu: SimMcu) -> None:
        self.mcu = mcu
        self.extent = 0
        self.ticks = 0
        self._iface: InterfaceMap | None = None
        self._shadow = np.zeros(0, dtype=np.uint8)
        self._owned = np.zeros(0, dtype=bool)
        self._first_seen: dict[str, tuple[int, int]] = {}
        self._reported: set[tuple[str, int]] = set()
        self._event: Event | None = None

    # -- life cycle --------------------------------------------------------------------------------

    def attach(self, iface: InterfaceMap, image: bytes) -> None:
        """Start shadowing a freshly booted interface whose shared section reads as ``image``."""
        self._iface = iface
        self.extent = iface.extent()
        self._shadow = np.frombuffer(image, dtype=np.uint8, count=self.extent).copy()
        self._owned = iface.owned_mask()
        self._first_seen.clear()
        self._reported.clear()

    def start(self) -> None:
        """Arm the periodic watchdog (if enabled)."""
        self.stop()
        period = self.mcu.config.watchdog_ns
        if period:
            self._event = self.mcu.sim.clock.schedule(period, self._tick, "MCU protocol watchdog")

    def stop(self) -> None:
        if self._event is not None:
            self._event.cancel()
        self._event = None

    # -- shadows --------------------------------------------------------------------------------------

    def fw_wrote(self, va: int, data: bytes) -> None:
        """The firmware wrote ``data`` at ``va``: update the shadow where it overlaps the interface."""
        if self._iface is None:
            return
        start = va - self._iface.shared_va
        lo, hi = max(start, 0), min(start + len(data), self.extent)
        if lo < hi:
            self._shadow[lo:hi] = np.frombuffer(data, dtype=np.uint8, count=hi - lo, offset=lo - start)

    def overlaps(self, va: int, size: int) -> bool:
        """True when ``[va, va + size)`` touches the shadowed interface."""
        if self._iface is None:
            return False
        start = va - self._iface.shared_va
        return start < self.extent and start + size > 0

    def check_before_write(self, va: int, current: bytes) -> None:
        """Before the firmware overwrites ``[va, va + len(current))``: report a host write there.

        Doorbells read only input blocks, so a host write to a block the firmware is about to
        rewrite would otherwise be hidden; the watchdog covers every other byte.
        """
        if self._iface is None:
            return
        start = va - self._iface.shared_va
        lo, hi = max(start, 0), min(start + len(current), self.extent)
        if lo < hi and current[lo - start:hi - start] != self._shadow[lo:hi].tobytes():
            self._compare(np.frombuffer(current, dtype=np.uint8, count=hi - lo, offset=lo - start), lo)

    def check_shadows(self, snap: bytes) -> None:
        """Report the first firmware-owned byte whose memory differs from what the firmware wrote."""
        if self._iface is None:
            return
        self._compare(np.frombuffer(snap, dtype=np.uint8, count=self.extent), 0)

    def _compare(self, now: np.ndarray, base: int) -> None:
        iface = self._iface
        if iface is None:
            return
        end = base + now.size
        shadow = self._shadow[base:end]
        diff = (now != shadow) & self._owned[base:end]
        if not diff.any():
            return
        first = int(np.argmax(diff))
        expected, found = int(shadow[first]), int(now[first])
        shadow[diff] = now[diff]  # report each host write once
        va = iface.shared_va + base + first
        msg = (f"the host wrote firmware-owned memory: {iface.describe(va)} at MCU VA {va:#x} holds "
               f"byte {found:#04x}, the firmware wrote {expected:#04x} (the host never writes output or "
               "control blocks, §4, §9.1)")
        self.mcu.violation("fw-owned-write", msg, value=found)

    # -- watchdog ---------------------------------------------------------------------------------------

    def _tick(self) -> None:
        self._event = None
        mcu = self.mcu
        if mcu.answer_pending or mcu.as0_locked_over_interface():
            self.start()
            return
        self.ticks += 1
        self.start()
        mcu.run_guarded(self._check)

    def _check(self) -> None:
        snap = self.mcu.snapshot()
        self.check_shadows(snap)
        now = self.mcu.sim.clock.now_ns()
        limit = self.mcu.config.watchdog_ns
        unrung = self._unrung(snap)
        for key in list(self._first_seen):
            if key not in unrung:
                del self._first_seen[key]
        for key, (value, what) in unrung.items():
            seen = self._first_seen.get(key)
            if seen is None or seen[0] != value:
                self._first_seen[key] = (value, now)
                continue
            if now - seen[1] >= limit and (key, value) not in self._reported:
                self._reported.add((key, value))
                waited = (now - seen[1]) / 1e6
                msg = (f"{what} and stayed un-rung for {waited:.3f} ms of virtual time: the firmware only "
                       "reads input blocks when a doorbell wakes it (§7.1, §7.2)")
                self.mcu.violation("no-doorbell", msg, register=key, value=value)

    def _unrung(self, snap: bytes) -> dict[str, tuple[int, str]]:
        """Input words that differ from what the firmware last processed: key → (value, description)."""
        mcu = self.mcu
        iface = mcu.layout()
        base = iface.shared_va
        out: dict[str, tuple[int, str]] = {}
        glb = GlbInput.from_buffer_copy(snap, iface.glb_input_va - base)
        if glb.req & GLB_REQUEST_MASK != mcu.glb.seen_req:
            changed = (glb.req & GLB_REQUEST_MASK) ^ mcu.glb.seen_req
            out["GLB_REQ"] = (glb.req & GLB_REQUEST_MASK, f"GLB_REQ changed ({glb_bit_names(changed)})")
        if glb.doorbell_req != mcu.glb.seen_doorbell_req:
            out["GLB_DOORBELL_REQ"] = (glb.doorbell_req, f"GLB doorbell_req changed to {glb.doorbell_req:#x}")
        for slot in mcu.csg:
            g = slot.index
            csg = CsgInput.from_buffer_copy(snap, slot.map.input_va - base)
            if csg.req & CSG_REQUEST_MASK != slot.seen_req:
                out[f"CSG{g}_REQ"] = (csg.req & CSG_REQUEST_MASK, f"CSG{g}_REQ request bits changed to "
                                      f"{csg.req & CSG_REQUEST_MASK:#x} without its GLB doorbell_req bit {g}")
            if csg.doorbell_req != slot.seen_doorbell_req:
                out[f"CSG{g}_DOORBELL_REQ"] = (csg.doorbell_req, f"CSG{g} doorbell_req changed to "
                                               f"{csg.doorbell_req:#x} without its GLB doorbell_req bit {g}")
            if not slot.active:
                continue
            for cs in slot.streams:
                req = CsInput.from_buffer_copy(snap, cs.map.input_va - base).req & CS_REQUEST_MASK
                if req != cs.seen_req:
                    name = f"CS{g}.{cs.index}_REQ"
                    out[name] = (req, f"{name} request bits changed to {req:#x} without its CSG{g} "
                                      f"doorbell_req bit {cs.index}")
        return out
