"""JOB_CONTROL block (0x1000-0x13FF) as reinterpreted by CSF: the four JOB IRQ registers.

On CSF the interrupt is raised by the MCU firmware: bit 31 = global interface (GLB), bits 0..n-1 =
CSG slot *n* needs attention (G610: 8 CSG slots, bits 0..7). Source: mali-csf-registers-and-mmu.md §2
(panthor ``panthor_regs.h`` JOB_INT_*, ``panthor_fw.c``; kbase ``mali_kbase_gpu_regmap_csf.h``).
"""

from __future__ import annotations

from ..errors import InvalidArgument
from .model import Access, Field, Register, collect

BLOCK = "JOB_CONTROL"
BASE = 0x1000
SIZE = 0x400

P_JOB = "ref §2; panthor panthor_regs.h JOB_INT_*, kbase mali_kbase_gpu_regmap_csf.h"

#: Highest CSG-slot bit the register can carry (bit 31 is the global interface).
CSG_BITS = 31

JOB_IRQ_FIELDS = (
    Field("CSG", CSG_BITS - 1, 0,
          "one bit per CSG slot needing attention (JOB_INT_CSG_IF(n); G610 uses 0..7)"),
    Field("GLOBAL_IF", 31, 31, "the firmware changed the global interface (GLB_ACK toggled / boot finished)",
          aliases=("GLB",)),
)


def _reg(name: str, offset: int, access: Access, doc: str, reset: int | None = None) -> Register:
    return Register(name, offset, access, doc, JOB_IRQ_FIELDS, reset, BLOCK, 32, P_JOB)


JOB_IRQ_RAWSTAT = _reg("JOB_IRQ_RAWSTAT", 0x1000, Access.RW, "raw JOB interrupt status", 0)
JOB_IRQ_CLEAR = _reg("JOB_IRQ_CLEAR", 0x1004, Access.W1C, "write 1 to clear that bit of JOB_IRQ_RAWSTAT")
JOB_IRQ_MASK = _reg("JOB_IRQ_MASK", 0x1008, Access.RW, "1 = JOB interrupt source enabled")
JOB_IRQ_STATUS = _reg("JOB_IRQ_STATUS", 0x100C, Access.RO, "RAWSTAT & MASK; drives the job IRQ line")

#: Global-interface bit (panthor JOB_INT_GLOBAL_IF); the first one after MCU start marks boot done.
JOB_IRQ_GLOBAL_IF = JOB_IRQ_RAWSTAT.field("GLOBAL_IF").mask

#: Mask panthor programs at every MCU start (all 32 bits, ref §2/§5.9).
JOB_IRQ_PANTHOR_MASK = 0xFFFFFFFF


def job_irq_csg(slot: int) -> int:
    """JOB IRQ bit of CSG slot ``slot`` (panthor ``JOB_INT_CSG_IF(n)`` = ``1 << n``).

    Raises:
        InvalidArgument: ``slot`` outside 0..30 (bit 31 is GLOBAL_IF).
    """
    if isinstance(slot, bool) or not isinstance(slot, int) or not 0 <= slot < CSG_BITS:
        raise InvalidArgument(f"CSG slot {slot!r} outside 0..{CSG_BITS - 1}", register="JOB_IRQ_RAWSTAT")
    return 1 << slot


def csg_slots(irq_bits: int) -> tuple[int, ...]:
    """CSG slots whose bit is set in a JOB IRQ value (ascending)."""
    csg = JOB_IRQ_RAWSTAT.field("CSG").extract(irq_bits)
    return tuple(n for n in range(CSG_BITS) if csg >> n & 1)


REGISTERS, VIEWS = collect(globals(), BLOCK)
