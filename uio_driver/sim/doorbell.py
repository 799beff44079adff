"""Doorbell pages and the USER page of the simulated GPU window.

Reference ``mali-csf-registers-and-mmu.md`` §0, §1.11 and §7 "MCU and doorbells":

* doorbell *i* is the 64 KiB page at ``0x80000 + i*0x10000`` (i = 0..23 in the 2 MiB RK3588 window;
  doorbell 0 is the global GLB doorbell). A write of *any* value at offset 0 of the page rings it;
  reads return 0. Writes elsewhere in a doorbell page are ignored (a strict-mode violation);
* the USER page at ``0x10000`` holds LATEST_FLUSH (RO) at offset 0: a counter of completed cache
  flushes, never 0 after the first flush [inferred semantics, §7].

Listeners registered with :meth:`DoorbellPages.subscribe` (``SimGpu.on_doorbell``) are called as
``callback(doorbell_index)`` for every ring; the MCU model subscribes to sample them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import InvalidArgument

if TYPE_CHECKING:
    from .gpu import SimGpu

USER_PAGE = 0x10000
USER_PAGE_SIZE = 0x1000
LATEST_FLUSH = 0x10000
DOORBELL_BASE = 0x80000
DOORBELL_STRIDE = 0x10000

DoorbellListener = Callable[[int], None]


class DoorbellPages:
    """Decoder for the doorbell pages and the USER page (the offsets no register claims)."""

    def __init__(self, sim: SimGpu) -> None:
        self._sim = sim
        self.listeners: list[DoorbellListener] = []
        #: Rings per doorbell since power-on (tests; the MCU model keeps its own view).
        self.rings = [0] * sim.config.num_doorbells

    def subscribe(self, callback: DoorbellListener) -> None:
        """Call ``callback(index)`` on every ring of any doorbell."""
        if not callable(callback):
            raise InvalidArgument(f"doorbell listener {callback!r} is not callable")
        self.listeners.append(callback)

    def doorbell_of(self, offset: int) -> int | None:
        """Doorbell index whose page holds ``offset``, or None."""
        if offset < DOORBELL_BASE:
            return None
        index = (offset - DOORBELL_BASE) // DOORBELL_STRIDE
        return index if index < len(self.rings) else None

    # -- fallback decoders for the register file ---------------------------------------------------

    def read(self, offset: int) -> int | None:
        """Value of a load at ``offset`` if this decoder owns it, else None."""
        if offset == LATEST_FLUSH:
            return self._sim.latest_flush
        if self.doorbell_of(offset) is not None:
            return 0  # doorbells are write-only; the whole page reads as zero
        return None

    def write(self, offset: int, value: int) -> bool:
        """Handle a store at ``offset``; False if this decoder does not own the offset."""
        sim = self._sim
        if offset == LATEST_FLUSH:
            sim.violation("ro-write", f"write of {value:#x} to read-only LATEST_FLUSH ({offset:#x}) ignored",
                          register="LATEST_FLUSH", offset=offset, value=value)
            return True
        index = self.doorbell_of(offset)
        if index is None:
            return False
        page_offset = (offset - DOORBELL_BASE) % DOORBELL_STRIDE
        if page_offset:
            sim.violation("doorbell-page",
                          f"write of {value:#x} to doorbell {index} page offset {page_offset:#x} "
                          f"({offset:#x}) ignored: only offset 0 rings the doorbell",
                          register=f"DOORBELL{index}", offset=offset, value=value)
            return True
        self.rings[index] += 1
        for listener in list(self.listeners):
            listener(index)
        return True

    def reset(self) -> None:
        """Power-on state: no rings counted (listeners stay subscribed)."""
        self.rings = [0] * len(self.rings)
