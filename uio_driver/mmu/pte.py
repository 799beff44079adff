"""AArch64 stage-1 descriptors as panthor writes them (io-pgtable ``ARM_64_LPAE_S1``, 4 KiB granule).

Geometry (mali-csf-registers-and-mmu.md §4.1): 48-bit VA, four levels of 512 eight-byte entries, level
*n* indexed by ``VA >> (39 - 9n) & 0x1FF``; a level-1 entry maps 1 GiB, level 2 2 MiB, level 3 4 KiB.
Descriptor types (§4.2): bits 1:0 = ``11`` table (levels 0-2) or page (level 3), ``01`` block (levels 1
and 2 only), ``x0`` invalid. Leaf bits (§4.3) and the prot-flag mapping (§4.4) give, for PA
``0x12345000``, the RW cached page ``0x0000000012345F47`` (§4.5).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..errors import InvalidArgument

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
#: 512 eight-byte descriptors per 4 KiB table (§4.1).
ENTRIES = 512
LEVELS = 4
#: VA bits translated by this format and the G610's physical address width (MMU_FEATURES 0x2830).
VA_BITS = 48
PA_BITS = 40
SZ_2M = 1 << 21
SZ_1G = 1 << 30

# -- descriptor bits (§4.2, §4.3) ------------------------------------------------------------------
PTE_VALID = 1 << 0
PTE_TYPE_TABLE = 0b11  # levels 0-2
PTE_TYPE_PAGE = 0b11  # level 3
PTE_TYPE_BLOCK = 0b01  # levels 1-2
PTE_TYPE_MASK = 0b11
PTE_ATTRINDX_SHIFT = 2  # ARM_LPAE_PTE_ATTRINDX_SHIFT
PTE_ATTRINDX_MASK = 0b111 << PTE_ATTRINDX_SHIFT
PTE_NS = 1 << 5
PTE_AP_UNPRIV = 1 << 6  # set for every non-IOMMU_PRIV mapping (always in panthor)
PTE_AP_RDONLY = 1 << 7
PTE_SH_SHIFT = 8
PTE_SH_MASK = 0b11 << PTE_SH_SHIFT
PTE_SH_OS = 2 << PTE_SH_SHIFT  # io-pgtable: outer shareable for non-IOMMU_CACHE mappings
PTE_SH_IS = 3 << PTE_SH_SHIFT  # inner shareable for cached mappings
PTE_AF = 1 << 10  # io-pgtable always sets the access flag for S1
PTE_NG = 1 << 11  # always set by io-pgtable S1; irrelevant to Mali (no ASIDs)
PTE_PXN = 1 << 53
PTE_UXN = 1 << 54  # kbase's ENTRY_NX_BIT
PTE_XN = PTE_PXN | PTE_UXN  # ARM_LPAE_PTE_XN = 3 << 53, set for IOMMU_NOEXEC
#: ARM_LPAE_PTE_ADDR_MASK = GENMASK(47, 12).
PTE_ADDR_MASK = ((1 << 48) - 1) & ~(PAGE_SIZE - 1)

#: MEMATTR indices io-pgtable's S1 MAIR assigns (§3.6): 0 normal non-cacheable, 1 normal write-back.
ATTRINDX_UNCACHED = 0
ATTRINDX_CACHED = 1


class Prot(enum.IntFlag):
    """Mapping flags, with the bit values of ``DRM_PANTHOR_VM_BIND_OP_MAP_*`` (cs-isa-and-uapi.md §3.8).

    No flag = read/write, executable, cached.
    """

    NONE = 0
    READONLY = 1 << 0
    NOEXEC = 1 << 1
    UNCACHED = 1 << 2


PROT_ALL = Prot.READONLY | Prot.NOEXEC | Prot.UNCACHED


class DescriptorKind(enum.StrEnum):
    """What a descriptor is at its level (§4.2)."""

    INVALID = "invalid"
    TABLE = "table"
    BLOCK = "block"
    PAGE = "page"


def level_shift(level: int) -> int:
    """log2 of the VA span one entry of a level-``level`` table maps (39, 30, 21, 12)."""
    return 39 - 9 * level


def entry_size(level: int) -> int:
    """Bytes one entry of a level-``level`` table maps: 512 GiB, 1 GiB, 2 MiB, 4 KiB."""
    return 1 << level_shift(level)


def table_span(level: int) -> int:
    """Bytes a whole level-``level`` table maps (512 entries)."""
    return entry_size(level) * ENTRIES


def va_index(va: int, level: int) -> int:
    """``idx(level) = (VA >> (39 - 9*level)) & 0x1FF`` (§4.1)."""
    return (va >> level_shift(level)) & (ENTRIES - 1)


def check_prot(prot: int) -> Prot:
    """``prot`` as a :class:`Prot`; refuses unknown bits.

    Raises:
        InvalidArgument: bits outside READONLY | NOEXEC | UNCACHED.
    """
    if isinstance(prot, bool) or not isinstance(prot, int) or prot < 0 or prot & ~int(PROT_ALL):
        raise InvalidArgument(f"mapping flags {prot!r}: only READONLY (1), NOEXEC (2) and UNCACHED (4) exist")
    return Prot(prot)


def leaf_attrs(prot: int, level: int) -> int:
    """Every non-address bit of a leaf descriptor at ``level`` for ``prot`` (§4.4).

    io-pgtable ``arm_lpae_prot_to_pte``: AP_UNPRIV, nG and AF always; AP_RDONLY for READONLY; XN (both
    bits) for NOEXEC; AttrIndx 1 + SH_IS when cached, AttrIndx 0 + SH_OS when uncached; type ``11``
    for an L3 page, ``01`` for an L1/L2 block.

    Raises:
        InvalidArgument: unknown prot bits, or a level that cannot hold a leaf (0).
    """
    p = check_prot(prot)
    if level not in (1, 2, 3):
        raise InvalidArgument(f"level {level!r} cannot hold a leaf descriptor (blocks at L1/L2, pages at L3)")
    bits = PTE_AF | PTE_NG | PTE_AP_UNPRIV
    bits |= PTE_TYPE_PAGE if level == 3 else PTE_TYPE_BLOCK
    if p & Prot.READONLY:
        bits |= PTE_AP_RDONLY
    if p & Prot.NOEXEC:
        bits |= PTE_XN
    if p & Prot.UNCACHED:
        bits |= ATTRINDX_UNCACHED << PTE_ATTRINDX_SHIFT | PTE_SH_OS
    else:
        bits |= ATTRINDX_CACHED << PTE_ATTRINDX_SHIFT | PTE_SH_IS
    return bits


def leaf_descriptor(pa: int, prot: int, level: int) -> int:
    """A page (level 3) or block (levels 1/2) descriptor mapping ``pa`` with ``prot``.

    Raises:
        InvalidArgument: unknown prot bits, a level without leaves, or ``pa`` not aligned to the
            level's entry size or not below 2^40.
    """
    attrs = leaf_attrs(prot, level)
    if isinstance(pa, bool) or not isinstance(pa, int) or not 0 <= pa < 1 << PA_BITS \
            or pa % entry_size(level):
        raise InvalidArgument(f"output address {pa!r} is not an aligned {PA_BITS}-bit PA for a "
                              f"level-{level} leaf")
    return pa | attrs


def table_descriptor(table_pa: int) -> int:
    """``next_table_PA[47:12] | 0b11`` — io-pgtable writes nothing else in table entries (§4.2).

    Raises:
        InvalidArgument: ``table_pa`` not page aligned or not below 2^40.
    """
    if not isinstance(table_pa, int) or table_pa < 0 or table_pa % PAGE_SIZE or table_pa >= 1 << PA_BITS:
        raise InvalidArgument(f"table address {table_pa!r} is not a page-aligned {PA_BITS}-bit PA")
    return table_pa | PTE_TYPE_TABLE


def descriptor_kind(desc: int, level: int) -> DescriptorKind:
    """Classify ``desc`` found in a level-``level`` table (§4.2): ``01`` at L0 and L3 is invalid."""
    if not desc & PTE_VALID:
        return DescriptorKind.INVALID
    if desc & PTE_TYPE_MASK == PTE_TYPE_TABLE:
        return DescriptorKind.PAGE if level == 3 else DescriptorKind.TABLE
    return DescriptorKind.BLOCK if level in (1, 2) else DescriptorKind.INVALID


def output_address(desc: int, level: int) -> int:
    """Output address of a leaf (low bits of the level's block size dropped) or next-table address."""
    kind = descriptor_kind(desc, level)
    mask = PTE_ADDR_MASK if kind in (DescriptorKind.TABLE, DescriptorKind.PAGE) else \
        PTE_ADDR_MASK & ~(entry_size(level) - 1)
    return desc & mask


def prot_of(desc: int) -> Prot:
    """The :class:`Prot` flags a leaf descriptor encodes (inverse of :func:`leaf_attrs`).

    NOEXEC is reported when UXN (bit 54) is set — the bit kbase uses alone; panthor sets both.
    UNCACHED is reported for AttrIndx 0 (io-pgtable's non-cacheable MAIR index).
    """
    prot = Prot.NONE
    if desc & PTE_AP_RDONLY:
        prot |= Prot.READONLY
    if desc & PTE_UXN:
        prot |= Prot.NOEXEC
    if (desc & PTE_ATTRINDX_MASK) >> PTE_ATTRINDX_SHIFT == ATTRINDX_UNCACHED:
        prot |= Prot.UNCACHED
    return prot


def prot_text(prot: int) -> str:
    """Short text for prot flags: ``rwx`` style plus ``uc`` for uncached (``rw-`` = NOEXEC)."""
    p = Prot(prot)
    text = "r" + ("-" if p & Prot.READONLY else "w") + ("-" if p & Prot.NOEXEC else "x")
    return text + (" uc" if p & Prot.UNCACHED else "")


@dataclass(frozen=True)
class Translation:
    """Result of translating one VA: the PA, the leaf's flags and where the leaf sits.

    Attributes:
        va: the address translated.
        pa: physical address of ``va`` (leaf output address + offset inside the leaf).
        prot: flags decoded from the leaf.
        level: table level of the leaf (1: 1 GiB block, 2: 2 MiB block, 3: 4 KiB page).
        descriptor: the raw leaf descriptor.
    """

    va: int
    pa: int
    prot: Prot
    level: int
    descriptor: int

    @property
    def block_size(self) -> int:
        return entry_size(self.level)


@dataclass(frozen=True)
class WalkStep:
    """One level of a table walk: the descriptor read at ``table_pa[index]`` and what it is."""

    level: int
    index: int
    table_pa: int
    descriptor: int
    kind: DescriptorKind

    def to_dict(self) -> dict[str, object]:
        return {"level": self.level, "index": self.index, "table_pa": self.table_pa,
                "descriptor": self.descriptor, "kind": self.kind.value}


@dataclass(frozen=True)
class MappedRange:
    """A run of mappings with contiguous VA and PA, the same flags and the same leaf size."""

    va: int
    pa: int
    size: int
    prot: Prot
    block_size: int

    def to_dict(self) -> dict[str, object]:
        return {"va": self.va, "pa": self.pa, "size": self.size, "prot": int(self.prot),
                "prot_text": prot_text(self.prot), "block_size": self.block_size}
