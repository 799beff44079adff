"""Interrupt dispatch for the GPU's three IRQ blocks (GPU, JOB, MMU).

Each block has RAWSTAT / CLEAR / MASK / STATUS registers. Servicing follows panthor's
``PANTHOR_IRQ_HANDLER`` (mali-csf-registers-and-mmu.md §2): read STATUS (0 → not ours), mask the
block, then loop ``s = RAWSTAT & saved_mask; CLEAR = s; handle(s)`` until nothing is pending, restore
the mask, and only then re-enable the OS-level line (UIO order: clear the device cause before
re-enabling, or a level line fires again at once).

Handlers run synchronously in the caller's thread: the driver services interrupts while it waits
(:meth:`IrqDispatcher.wait`) or when asked (:meth:`IrqDispatcher.service_all`). With no OS-level
IRQ line (e.g. /dev/mem without UIO IRQ nodes) servicing works purely by reading STATUS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from .errors import InvalidArgument
from .platform.base import IRQ_NAMES, Platform
from .regs import Register, RegisterAccess, lookup

T = TypeVar("T")

#: Handler called with the bits it was given (already cleared in RAWSTAT).
IrqHandler = Callable[[int], None]


@dataclass
class IrqBlockRegs:
    """The four registers of one IRQ block."""

    rawstat: Register
    clear: Register
    mask: Register
    status: Register


#: Register names per line, from the reference (GPU 0x020.., JOB 0x1000.., MMU 0x2000..).
_BLOCK_NAMES = {
    "gpu": ("GPU_IRQ_RAWSTAT", "GPU_IRQ_CLEAR", "GPU_IRQ_MASK", "GPU_IRQ_STATUS"),
    "job": ("JOB_IRQ_RAWSTAT", "JOB_IRQ_CLEAR", "JOB_IRQ_MASK", "JOB_IRQ_STATUS"),
    "mmu": ("MMU_IRQ_RAWSTAT", "MMU_IRQ_CLEAR", "MMU_IRQ_MASK", "MMU_IRQ_STATUS"),
}


def irq_block(line: str) -> IrqBlockRegs:
    if line not in _BLOCK_NAMES:
        raise InvalidArgument(f"unknown IRQ line {line!r}; expected one of {IRQ_NAMES}")
    return IrqBlockRegs(*(lookup(n) for n in _BLOCK_NAMES[line]))


@dataclass
class _LineState:
    block: IrqBlockRegs
    mask: int = 0
    handlers: list[IrqHandler] = field(default_factory=list)
    serviced: int = 0
    in_service: bool = False


class IrqDispatcher:
    """Owns the IRQ MASK registers and calls registered handlers for pending bits."""

    def __init__(self, platform: Platform, regs: RegisterAccess) -> None:
        self.platform = platform
        self.regs = regs
        self.lines = {name: _LineState(irq_block(name)) for name in IRQ_NAMES}
        # OS-level lines, resolved once (servicing runs on every polling step).
        self._os_lines = {name: platform.irqs.get(name) for name in IRQ_NAMES}

    def add_handler(self, line: str, handler: IrqHandler) -> None:
        self._line(line).handlers.append(handler)

    def remove_handler(self, line: str, handler: IrqHandler) -> None:
        state = self._line(line)
        if handler in state.handlers:
            state.handlers.remove(handler)

    def set_mask(self, line: str, mask: int) -> None:
        """Enable exactly ``mask`` in the block: stale events are dropped first (CLEAR then MASK)."""
        state = self._line(line)
        self.regs.write(state.block.clear, mask)
        self.regs.write(state.block.mask, mask)
        state.mask = mask
        if self.platform.has_irq(line):
            self.platform.irq(line).enable()

    def update_mask(self, line: str, mask: int) -> None:
        """Change the enabled bits without clearing pending events (e.g. drop/restore one AS's bit).

        Called from a handler, it only changes the mask :meth:`service` restores when it finishes
        (the block stays masked while its handlers run).
        """
        state = self._line(line)
        state.mask = mask
        if not state.in_service:
            self.regs.write(state.block.mask, mask)

    def mask_of(self, line: str) -> int:
        return self._line(line).mask

    def service(self, line: str) -> int:
        """Handle every pending, enabled event of ``line``; returns the bits handled."""
        state = self._line(line)
        regs, block = self.regs, state.block
        if not regs.read(block.status):
            # The OS may have delivered (and disabled) the line for a cause already cleared:
            # re-enable it, or a UIO line would stay masked forever.
            self._reenable(line)
            return 0
        saved = state.mask
        regs.write(block.mask, 0)
        handled = 0
        state.in_service = True
        try:
            while True:
                pending = regs.read(block.rawstat) & saved
                if not pending:
                    break
                regs.write(block.clear, pending)
                handled |= pending
                for handler in list(state.handlers):
                    handler(pending)
        finally:
            state.in_service = False
            # A handler may have changed the mask (e.g. an MMU fault removes its AS bit).
            regs.write(block.mask, state.mask)
        state.serviced += 1
        self._reenable(line)
        return handled

    def _reenable(self, line: str) -> None:
        os_line = self._os_lines[line]
        if os_line is not None:
            os_line.acknowledge()

    def service_all(self) -> int:
        handled = 0
        for line in IRQ_NAMES:
            handled |= self.service(line)
        return handled

    def take_raw_event(self, line: str, bits: int) -> int:
        """Consume ``bits`` latched in RAWSTAT while masked (polling mode); returns those seen."""
        block = self._line(line).block
        seen = self.regs.read(block.rawstat) & bits
        if seen:
            self.regs.write(block.clear, seen)
        return seen

    def wait(self, predicate: Callable[[], T], timeout: float, what: str,
             interval: float = 10e-6) -> T:
        """Service interrupts until ``predicate()`` is truthy; bounded, names ``what`` on timeout."""

        def check() -> T:
            self.service_all()
            return predicate()

        return self.platform.clock.poll(check, timeout, what, interval)

    def _line(self, line: str) -> _LineState:
        try:
            return self.lines[line]
        except KeyError:
            raise InvalidArgument(f"unknown IRQ line {line!r}; expected one of {IRQ_NAMES}") from None
