"""MMU block: MMU IRQ registers (0x2000-0x200C) and address spaces AS0..AS7 (0x2400 + n*0x40).

The per-AS registers are declared once as a template table (mali-csf-registers-and-mmu.md §3.2) and
generated for AS0..AS7 (G610: ``AS_PRESENT = 0xFF``) as module attributes named ``AS<n>_<NAME>``,
e.g. ``AS0_TRANSTAB_LO``; 64-bit pairs also get a view ``AS<n>_<NAME>`` (e.g. ``AS0_TRANSCFG``) whose
fields use the reference's 64-bit numbering. Blocks: ``"MMU"`` (0x2000, 0x400) holds the IRQ
registers; ``"AS<n>"`` (0x2400 + n*0x40, 0x40) holds address space *n*.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidArgument
from .mmu_fields import (  # noqa: F401  (re-exported: users need only this module)
    ADDRESS_FIELDS,
    COMMAND_FIELDS,
    FAULTSTATUS_FIELDS,
    LOCKADDR_FIELDS,
    LOCKADDR_SIZE_MAX,
    LOCKADDR_SIZE_MIN,
    MEMATTR_BYTE,
    MEMATTR_FIELDS,
    MEMATTR_NAMED,
    MMU_IRQ_FIELDS,
    P_AS,
    P_LOCK,
    P_MEMATTR,
    P_MMU_IRQ,
    P_TRANSCFG,
    STATUS_FIELDS,
    TRANSCFG_FIELDS,
    TRANSTAB_FIELDS,
    AdrMode,
    AllocPolicy,
    AsCommand,
    MemoryType,
    PtwMemattr,
    PtwShareability,
    Shareability,
)
from .model import Access, DecodedRegister, Field, Register, RegisterBlock, collect, pair

BLOCK = "MMU"
BASE = 0x2000
SIZE = 0x400

#: First AS register block, stride between address spaces, and the G610's AS count (AS_PRESENT 0xFF).
AS_BASE = 0x2400
AS_STRIDE = 0x40
AS_COUNT = 8
#: Address spaces the MMU IRQ bit layout has room for (bits 15:0 / 31:16).
AS_IRQ_SLOTS = 16
#: AS0 is reserved for the MCU (firmware) VM (panthor_mmu.c panthor_vm_active).
MCU_AS = 0

# -- MMU IRQ registers (ref §3.1) -------------------------------------------------------------------


def _irq(name: str, offset: int, access: Access, doc: str, reset: int | None = None) -> Register:
    return Register(name, offset, access, doc, MMU_IRQ_FIELDS, reset, BLOCK, 32, P_MMU_IRQ)


MMU_IRQ_RAWSTAT = _irq("MMU_IRQ_RAWSTAT", 0x2000, Access.RW, "raw MMU interrupt status", 0)
MMU_IRQ_CLEAR = _irq("MMU_IRQ_CLEAR", 0x2004, Access.W1C, "write 1 to clear that bit of MMU_IRQ_RAWSTAT")
MMU_IRQ_MASK = _irq("MMU_IRQ_MASK", 0x2008, Access.RW, "1 = MMU interrupt source enabled")
MMU_IRQ_STATUS = _irq("MMU_IRQ_STATUS", 0x200C, Access.RO, "RAWSTAT & MASK; drives the mmu IRQ line")

#: panthor unmasks only the page-fault bits (panthor_mmu_fault_mask(~0) = 0xFFFF, ref §3.1/§5.9).
MMU_IRQ_PANTHOR_MASK = MMU_IRQ_RAWSTAT.field("PAGE_FAULT").mask


def _check_irq_as(as_nr: int) -> None:
    if isinstance(as_nr, bool) or not isinstance(as_nr, int) or not 0 <= as_nr < AS_IRQ_SLOTS:
        raise InvalidArgument(f"address space {as_nr!r} outside 0..{AS_IRQ_SLOTS - 1}",
                              register="MMU_IRQ_RAWSTAT")


def mmu_irq_page_fault(as_nr: int) -> int:
    """MMU IRQ bit for a fault latched in AS ``as_nr`` (bit n).

    Raises:
        InvalidArgument: ``as_nr`` outside 0..15.
    """
    _check_irq_as(as_nr)
    return 1 << as_nr


def mmu_irq_bus_error(as_nr: int) -> int:
    """MMU IRQ bit for a bus error in AS ``as_nr`` (bit 16 + n, kbase meaning).

    Raises:
        InvalidArgument: ``as_nr`` outside 0..15.
    """
    _check_irq_as(as_nr)
    return 1 << (16 + as_nr)


def faulted_address_spaces(irq_bits: int) -> tuple[int, ...]:
    """Address spaces whose page-fault bit is set in an MMU IRQ value (ascending)."""
    faults = MMU_IRQ_RAWSTAT.field("PAGE_FAULT").extract(irq_bits)
    return tuple(n for n in range(AS_IRQ_SLOTS) if faults >> n & 1)


# -- per-AS template (ref §3.2) ------------------------------------------------------------------------


@dataclass(frozen=True)
class AsTemplateEntry:
    """One row of the per-AS register table (offset relative to the AS base)."""

    name: str
    offset: int
    access: Access
    doc: str
    fields: tuple[Field, ...]
    reset: int | None
    is_pair: bool
    provenance: str = P_AS


AS_TEMPLATE = (
    AsTemplateEntry("TRANSTAB", 0x00, Access.RW, "translation-table base", TRANSTAB_FIELDS, 0, True),
    AsTemplateEntry("MEMATTR", 0x08, Access.RW, "8 memory-attribute bytes, selected by PTE AttrIndx",
                    MEMATTR_FIELDS, 0, True, P_AS + "; " + P_MEMATTR),
    AsTemplateEntry("LOCKADDR", 0x10, Access.RW, "lock region: size code and base", LOCKADDR_FIELDS, 0, True,
                    P_AS + "; " + P_LOCK),
    AsTemplateEntry("COMMAND", 0x18, Access.WO, "AS command (write only while AS_ACTIVE = 0)", COMMAND_FIELDS,
                    None, False, "ref §3.2/§3.3; panthor panthor_regs.h AS_COMMAND_*, kbase regmap"),
    AsTemplateEntry("FAULTSTATUS", 0x1C, Access.RO, "MMU fault status", FAULTSTATUS_FIELDS, 0, False),
    AsTemplateEntry("FAULTADDRESS", 0x20, Access.RO, "faulting VA", ADDRESS_FIELDS, 0, True),
    AsTemplateEntry("STATUS", 0x28, Access.RO, "AS status (bit 0 AS_ACTIVE)", STATUS_FIELDS, 0, False),
    # Reset TRANSCFG may read ADRMODE 0 or 1 (ref §7), so no reset value is declared.
    AsTemplateEntry("TRANSCFG", 0x30, Access.RW, "translation configuration", TRANSCFG_FIELDS, None, True,
                    P_AS + "; " + P_TRANSCFG),
    AsTemplateEntry("FAULTEXTRA", 0x38, Access.RO, "secondary fault address (kbase comment)", ADDRESS_FIELDS,
                    0, True),
)


def _build_as(as_nr: int) -> dict[str, Register]:
    """All registers (and 64-bit views) of address space ``as_nr``, keyed by template name."""
    base = AS_BASE + as_nr * AS_STRIDE
    block = f"AS{as_nr}"
    out: dict[str, Register] = {}
    for e in AS_TEMPLATE:
        name = f"AS{as_nr}_{e.name}"
        doc = f"AS{as_nr} {e.doc}"
        if e.is_pair:
            lo, hi, view = pair(name, base + e.offset, e.access, doc, e.fields, e.reset, block=block,
                                provenance=e.provenance)
            out.update({f"{e.name}_LO": lo, f"{e.name}_HI": hi, e.name: view})
        else:
            out[e.name] = Register(name, base + e.offset, e.access, doc, e.fields, e.reset, block, 32,
                                   e.provenance)
    return out


_AS_REGS: tuple[dict[str, Register], ...] = tuple(_build_as(n) for n in range(AS_COUNT))
globals().update({reg.name: reg for regs in _AS_REGS for reg in regs.values()})


def __getattr__(name: str) -> Register:
    # Only reached for names not generated above; typed so mypy accepts mmu.AS<n>_<NAME>.
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _check_as(as_nr: int) -> None:
    if isinstance(as_nr, bool) or not isinstance(as_nr, int) or not 0 <= as_nr < AS_COUNT:
        raise InvalidArgument(f"address space {as_nr!r} outside 0..{AS_COUNT - 1} (G610 AS_PRESENT = 0xFF)")


def as_register(as_nr: int, name: str) -> Register:
    """Register ``name`` of address space ``as_nr``, e.g. ``as_register(3, "COMMAND")`` → AS3_COMMAND.

    ``name`` is case-insensitive, with or without an ``AS_`` prefix; a 64-bit pair name without
    ``_LO``/``_HI`` (e.g. ``"TRANSCFG"``) gives the 64-bit view.

    Raises:
        InvalidArgument: ``as_nr`` outside 0..7 or an unknown register name.
    """
    _check_as(as_nr)
    key = name.upper() if isinstance(name, str) else ""
    regs = _AS_REGS[as_nr]
    for candidate in (key, key.removeprefix("AS_")):
        if candidate in regs:
            return regs[candidate]
    raise InvalidArgument(f"unknown AS register {name!r} (known: {', '.join(regs)})")


def as_block(as_nr: int) -> RegisterBlock:
    """The :class:`RegisterBlock` of address space ``as_nr`` (0..7).

    Raises:
        InvalidArgument: ``as_nr`` outside 0..7.
    """
    _check_as(as_nr)
    return AS_BLOCKS[as_nr]


# -- RK3588 values panthor programs (ref §3.5, §3.6, §5.5, §5.6) ------------------------------------

#: PTW_MEMATTR_WB (2<<24) | PTW_RA (1<<30) | ADRMODE_AARCH64_4K (6) | INA_BITS(55-48 = 7)<<6, non-coherent
#: RK3588 (panthor_mmu.c panthor_vm_active) [calc from src].
AS_TRANSCFG_RK3588 = 0x00000000_420001C6
#: Same on a coherent (ACE-Lite) system: adds PTW_SH_OS (2<<28) [calc]; not RK3588.
AS_TRANSCFG_COHERENT = 0x00000000_620001C6
#: io-pgtable ARM_64_LPAE_S1 MAIR converted by panthor mair_to_memattr, non-coherent [calc].
AS_MEMATTR_RK3588 = 0x4C4C4C4C_8C4C8F4C
#: Same for a coherent GPU (SH_CPU_INNER in the write-back bytes) [calc]; not RK3588.
AS_MEMATTR_COHERENT = 0x4C4C4C4C_9C4C9F4C
#: AS disable: TRANSCFG_LO = 1 (ADRMODE_UNMAPPED), TRANSCFG_HI = 0 (panthor_mmu.c panthor_mmu_as_disable).
AS_TRANSCFG_DISABLED = int(AdrMode.UNMAPPED)
#: AS_STATUS bit 0: a command is executing; write AS_COMMAND only while it is 0.
AS_STATUS_ACTIVE = STATUS_FIELDS[0].mask


def decode_memattr(value: int) -> tuple[DecodedRegister, ...]:
    """Decode the eight attribute bytes of a 64-bit AS_MEMATTR value (index 0 first).

    Raises:
        InvalidArgument: ``value`` does not fit 64 bits.
    """
    _AS_REGS[0]["MEMATTR"].check_value(value)
    return tuple(MEMATTR_BYTE.decode(value >> (8 * i) & 0xFF) for i in range(8))


REGISTERS, VIEWS = collect(globals(), BLOCK)



def _as_block(as_nr: int) -> RegisterBlock:
    regs, views = collect(globals(), f"AS{as_nr}")
    return RegisterBlock(f"AS{as_nr}", AS_BASE + as_nr * AS_STRIDE, AS_STRIDE, regs,
                         f"address space {as_nr} registers (ref §3.2)", views)


#: One block per address space ("AS0".."AS7").
AS_BLOCKS = tuple(_as_block(n) for n in range(AS_COUNT))
