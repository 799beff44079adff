"""Field layouts and encodings of the MMU block and the per-address-space registers.

Source: mali-csf-registers-and-mmu.md §3 (MMU IRQ §3.1, AS registers §3.2, AS_COMMAND §3.3,
LOCKADDR §3.4, TRANSCFG §3.5, MEMATTR §3.6, FAULTSTATUS §3.7), from panthor ``panthor_regs.h`` /
``panthor_mmu.c``, kbase ``mali_kbase_gpu_regmap.h`` / ``mali_kbase_mmu_hw_direct.c`` and the Tyr
driver's VM code (INA_BITS). 64-bit layouts use the reference's 64-bit bit numbering.
"""

from __future__ import annotations

import enum

from .exceptions import MMU_EXCEPTION_TYPES, PROVENANCE_MMU
from .gpu_fields import AccessType
from .model import Access, Field, Register, enum_map

P_AS = "ref §3.2; panthor panthor_regs.h AS_*, kbase mali_kbase_gpu_regmap.h"
P_MMU_IRQ = "ref §3.1; panthor panthor_mmu.c panthor_mmu_fault_mask, kbase mali_kbase_gpu_regmap.h"
P_TRANSCFG = "ref §3.5; panthor panthor_regs.h AS_TRANSCFG_*, panthor_mmu.c panthor_vm_active"
P_MEMATTR = "ref §3.6; panthor panthor_mmu.c mair_to_memattr, kbase AS_MEMATTR_* constants"
P_LOCK = "ref §3.4; panthor panthor_mmu.c lock_region, kbase mali_kbase_mmu_hw_direct.c lock_region"


class AsCommand(enum.IntEnum):
    """AS_COMMAND values (ref §3.3). Write only while AS_STATUS.AS_ACTIVE is 0."""

    NOP = 0
    UPDATE = 1  # make TRANSTAB/MEMATTR/TRANSCFG live
    LOCK = 2  # stall accesses to the LOCKADDR region
    UNLOCK = 3
    FLUSH_PT = 4  # flush L2, invalidate TLB for the locked region; implicitly unlocks
    FLUSH_MEM = 5  # drain, flush LSC and L2, invalidate; implicitly unlocks


class AdrMode(enum.IntEnum):
    """AS_TRANSCFG.ADRMODE (ref §3.5)."""

    LEGACY = 0
    UNMAPPED = 1
    IDENTITY = 2
    AARCH64_4K = 6
    AARCH64_64K = 8


class PtwMemattr(enum.IntEnum):
    """AS_TRANSCFG.PTW_MEMATTR: memory type of page-table walks (ref §3.5)."""

    NON_CACHEABLE = 1
    WRITE_BACK = 2


class PtwShareability(enum.IntEnum):
    """AS_TRANSCFG.PTW_SH: shareability of page-table walks (ref §3.5)."""

    NON_SHAREABLE = 0
    OUTER_SHAREABLE = 2
    INNER_SHAREABLE = 3


class MemoryType(enum.IntEnum):
    """MEMATTR byte bits 7:6 (ref §3.6)."""

    SHARED = 0
    NON_CACHEABLE = 1
    WRITE_BACK = 2
    FAULT = 3


class Shareability(enum.IntEnum):
    """MEMATTR byte bits 5:4, shareability interpretation (ref §3.6)."""

    MIDGARD_INNER = 0
    CPU_INNER = 1
    CPU_INNER_SHADER_COH = 2


class AllocPolicy(enum.IntEnum):
    """MEMATTR byte bits 3:2 (ref §3.6)."""

    IMPL = 2  # implementation-defined allocation (INNER_ALLOC_IMPL)
    EXPLICIT = 3  # bits 1:0 give the allocation hints (INNER_ALLOC_EXPL)


MMU_IRQ_FIELDS = (
    Field("PAGE_FAULT", 15, 0, "bit n: a fault is latched in AS n (MMU_PAGE_FAULT(n))"),
    Field("BUS_ERROR", 31, 16, "bit 16+n: bus error in AS n (kbase; panthor comment says REQ_COMPLETE; "
          "meaning on G610 unverified, never unmasked by panthor)"),
)

TRANSTAB_FIELDS = (
    Field("ADDRESS", 63, 0, "physical address of the level-0 table (4 KiB aligned in practice; "
          "kbase masks bits 39:4)"),
)

#: Named MEMATTR byte encodings (kbase constants, ref §3.6); other encodings are valid but unnamed.
MEMATTR_NAMED = {
    0x88: "IMPL_DEF_CACHE_POLICY",
    0x8F: "FORCE_CACHE_ALL",
    0x8D: "WRITE_ALLOC",
    0x4C: "NON_CACHEABLE",
    0x08: "SHARED",
}

MEMATTR_FIELDS = tuple(
    Field(f"ATTR{i}", 8 * i + 7, 8 * i, f"attribute byte {i} (selected by PTE AttrIndx = {i})",
          MEMATTR_NAMED, exhaustive=False)
    for i in range(8)
)

#: Layout of one MEMATTR attribute byte (not an MMIO register).
MEMATTR_BYTE = Register(
    "MEMATTR_BYTE", 0, Access.RW, "one AS_MEMATTR attribute byte (AArch64 mode)",
    (
        Field("ALLOC_W", 0, 0, "write-allocate hint (used when ALLOC_POLICY = EXPLICIT)"),
        Field("ALLOC_R", 1, 1, "read-allocate hint (used when ALLOC_POLICY = EXPLICIT)"),
        Field("ALLOC_POLICY", 3, 2, "allocation policy", enum_map(AllocPolicy), exhaustive=False),
        Field("SHAREABILITY", 5, 4, "shareability interpretation", enum_map(Shareability), exhaustive=False),
        Field("MEMORY_TYPE", 7, 6, "memory type", enum_map(MemoryType)),
    ),
    width=8,
    provenance=P_MEMATTR,
)

#: Smallest lockable region is 2^15 = 32 KiB, i.e. size code 14 (panthor AS_LOCK_REGION_MIN_SIZE).
LOCKADDR_SIZE_MIN = 14
#: Largest size code kbase accepts (47: 256 TiB, "implementation defined").
LOCKADDR_SIZE_MAX = 47

LOCKADDR_FIELDS = (
    Field("SIZE", 5, 0, "region size = 2^(SIZE+1) bytes; minimum 14 (32 KiB)", provenance=P_LOCK),
    # Bits 11:6 are reserved on G610 (FLUSH_SKIP_LEVELS exists only from arch 12.0.4): write 0.
    Field("BASE", 63, 12, "region base VA >> 12; bits below log2(size) are ignored by hardware",
          provenance=P_LOCK),
)

COMMAND_FIELDS = (Field("COMMAND", 7, 0, "AS command", enum_map(AsCommand)),)

FAULTSTATUS_FIELDS = (
    Field("EXCEPTION_TYPE", 7, 0, "MMU fault exception type", MMU_EXCEPTION_TYPES, PROVENANCE_MMU),
    Field("ACCESS_TYPE", 9, 8, "access that faulted", enum_map(AccessType), PROVENANCE_MMU),
    # Only meaningful for bus faults, so no enum: a 0 on a translation fault is not a "slave fault".
    Field("DECODER_FAULT", 10, 10, "bus faults only: 1 = decoder fault, 0 = slave fault (panthor message)",
          provenance=PROVENANCE_MMU),
    Field("SOURCE_ID", 31, 16, "internal requester (block/core) of the access", provenance=PROVENANCE_MMU),
)

ADDRESS_FIELDS = (Field("ADDRESS", 63, 0, "virtual address"),)

STATUS_FIELDS = (
    Field("AS_ACTIVE", 0, 0, "a command is executing in this AS (kbase AS_ACTIVE_EXT)",
          aliases=("ACTIVE", "AS_ACTIVE_EXT")),
    Field("AS_ACTIVE_INT", 1, 1, "kbase erratum-workaround bit polled on the MCU AS [position inferred]; "
          "panthor ignores it"),
)

TRANSCFG_FIELDS = (
    Field("ADRMODE", 3, 0, "address mode", enum_map(AdrMode)),
    Field("INA_BITS", 10, 6, "input-size code: valid VA bits = min(HW VA bits, 55 - INA_BITS) "
          "[width inferred]", provenance=P_TRANSCFG + "; Tyr VM code"),
    Field("OUTA_BITS", 18, 14, "output-size code, 0 from panthor [width inferred]"),
    Field("SL_CONCAT", 22, 22, "start-level concatenation (unused; semantics unverified)"),
    Field("PTW_MEMATTR", 25, 24, "memory type of page-table walks", enum_map(PtwMemattr), exhaustive=False),
    Field("PTW_SH", 29, 28, "shareability of page-table walks", enum_map(PtwShareability)),
    Field("R_ALLOCATE", 30, 30, "read-allocate page-table walks in the L2", aliases=("PTW_RA",)),
    Field("DISABLE_HIER_AP", 33, 33, "ignore hierarchical (APTable) permissions"),
    Field("DISABLE_AF_FAULT", 34, 34, "do not fault on AF = 0 in a leaf"),
    Field("WXN", 35, 35, "writable implies execute-never"),
    Field("XREADABLE", 36, 36, "execute permission implies readable (semantics unverified)"),
)
