"""IRQ blocks (RAWSTAT/CLEAR/MASK/STATUS) and the simulated UIO interrupt lines.

The GPU (``0x020``), JOB (``0x1000``) and MMU (``0x2000``) blocks share one layout
(reference ``mali-csf-registers-and-mmu.md`` §1.4, §2, §3.1):

====== ========== ====== ==============================================================
+0x0   RAWSTAT    RW     raw event bits; a write *sets* bits (kbase marks it RW; tests use it)
+0x4   CLEAR      W1C    writing 1 clears that RAWSTAT bit; reads 0
+0x8   MASK       RW     1 = source enabled
+0xC   STATUS     RO     ``RAWSTAT & MASK``, computed on read; the line is asserted while != 0
====== ========== ====== ==============================================================

Events raised while masked stay latched in RAWSTAT and assert the line as soon as they are
unmasked (§7). Some bits cannot be cleared through CLEAR (GPU bit 18 DOORBELL_MIRROR, §1.4): they
are declared ``sticky`` and drop only when their source does (or at reset).

:class:`SimIrqLine` is the userspace view of one line with UIO semantics: delivery disables the
line until :meth:`SimIrqLine.acknowledge`; :meth:`SimIrqLine.wait` advances *virtual* time event by
event and never sleeps for real.
"""

from __future__ import annotations

from ..errors import InvalidArgument
from ..platform.base import IrqLine
from .clock import VirtualClock, seconds_to_ns
from .regfile import U32_MASK, Access, Register

RAWSTAT = 0x0
CLEAR = 0x4
MASK = 0x8
STATUS = 0xC


class IrqBlock:
    """One RAWSTAT/CLEAR/MASK/STATUS register block.

    Args:
        name: register-name prefix ("GPU", "JOB", "MMU").
        base: offset of RAWSTAT in the GPU window.
        implemented: bits that exist; the others read as zero and ignore writes (RAZ/WI).
        sticky: bits that CLEAR does not clear (level mirrors such as DOORBELL_MIRROR).
    """

    def __init__(self, name: str, base: int, *, implemented: int = U32_MASK, sticky: int = 0) -> None:
        self.name = name
        self.base = base
        self.implemented = implemented & U32_MASK
        self.sticky = sticky & self.implemented
        self.rawstat = 0
        self.mask = 0
        #: Number of times each bit was raised (handy for "raised exactly once" checks).
        self.raise_count: dict[int, int] = {}

    # -- register view -------------------------------------------------------------------------

    def registers(self) -> list[Register]:
        """The four registers of this block, ready to add to the window's register file."""
        p = self.name
        return [
            Register(f"{p}_IRQ_RAWSTAT", self.base + RAWSTAT, Access.RW,
                     on_read=lambda: self.rawstat, on_write=self.raise_bits),
            Register(f"{p}_IRQ_CLEAR", self.base + CLEAR, Access.W1C, on_write=self.clear),
            Register(f"{p}_IRQ_MASK", self.base + MASK, Access.RW,
                     on_read=lambda: self.mask, on_write=self._write_mask),
            Register(f"{p}_IRQ_STATUS", self.base + STATUS, Access.RO, on_read=lambda: self.status),
        ]

    # -- model side ----------------------------------------------------------------------------

    @property
    def status(self) -> int:
        """``RAWSTAT & MASK``."""
        return self.rawstat & self.mask

    @property
    def asserted(self) -> bool:
        """Level of the interrupt line: STATUS != 0."""
        return bool(self.rawstat & self.mask)

    def raise_bits(self, bits: int) -> None:
        """Latch ``bits`` in RAWSTAT (unimplemented bits are dropped)."""
        bits &= self.implemented
        self.rawstat |= bits
        while bits:
            low = bits & -bits
            n = low.bit_length() - 1
            self.raise_count[n] = self.raise_count.get(n, 0) + 1
            bits ^= low

    def clear(self, bits: int) -> None:
        """W1C: clear ``bits`` in RAWSTAT, except sticky ones."""
        self.rawstat &= ~(bits & ~self.sticky) & U32_MASK

    def set_sticky_level(self, bits: int, level: bool) -> None:
        """Drive sticky (mirror) ``bits`` from their source's level."""
        bits &= self.sticky
        if level:
            self.rawstat |= bits
        else:
            self.rawstat &= ~bits & U32_MASK

    def _write_mask(self, value: int) -> None:
        self.mask = value & self.implemented

    def reset(self, *, keep_mask: bool) -> None:
        """Reset state: RAWSTAT 0; MASK 0 unless ``keep_mask``."""
        self.rawstat = 0
        if not keep_mask:
            self.mask = 0


class SimIrqLine(IrqLine):
    """A GPU interrupt line as seen through UIO, on virtual time.

    The line starts enabled (uio_pdrv_genirq requests the IRQ enabled). An interrupt is delivered
    when the line is enabled and its block's STATUS is non-zero; delivery disables the line (the
    kernel handler masks it) until :meth:`acknowledge` or :meth:`enable`. The source is
    level-triggered: a cause that is still pending when the line is re-enabled is delivered again.

    Args:
        name: "job", "mmu" or "gpu".
        block: the IRQ block whose STATUS drives the line.
        clock: the model's virtual clock.
    """

    def __init__(self, name: str, block: IrqBlock, clock: VirtualClock) -> None:
        self.name = name
        self.block = block
        self.clock = clock
        self.enabled = True
        #: Number of interrupts delivered so far (the count a UIO ``read()`` returns).
        self.count = 0
        self.closed = False

    def enable(self) -> None:
        self.enabled = True

    def disable(self) -> None:
        self.enabled = False

    @property
    def pending(self) -> bool:
        """True when a wait would deliver an interrupt right now."""
        return self.enabled and self.block.asserted

    def wait(self, timeout: float) -> bool:
        """Advance virtual time until an interrupt is delivered or ``timeout`` seconds pass.

        Events scheduled on the clock run in order; the line is checked after each instant.

        Returns:
            True if an interrupt was delivered (the line is then disabled until acknowledged);
            False when the timeout passed (virtual time is then ``start + timeout``).

        Raises:
            InvalidArgument: ``timeout`` negative, infinite or not a number, or the line closed.
        """
        if self.closed:
            raise InvalidArgument(f"IRQ line {self.name!r} is closed")
        deadline = self.clock.now_ns() + seconds_to_ns(timeout)
        self.clock.run_pending()
        while not self.pending:
            nxt = self.clock.next_event_ns()
            if nxt is None or nxt > deadline:
                self.clock.advance_to(deadline)
                if not self.pending:
                    return False
                break
            self.clock.advance_to(nxt)
        self.enabled = False
        self.count += 1
        return True

    def close(self) -> None:
        self.closed = True
