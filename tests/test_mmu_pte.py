"""Descriptor encoding against mali-csf-registers-and-mmu.md §4.1-§4.5 (hand-computed values there),
checked both through the encoders and in the bytes the page-table core writes to DMA memory."""

from __future__ import annotations

import mmap
import struct

import pytest

from uio_driver.errors import BadAddress, InvalidArgument
from uio_driver.mmu import PageTable, Prot, leaf_descriptor, table_descriptor, va_index
from uio_driver.mmu.pte import DescriptorKind, descriptor_kind, output_address, prot_of
from uio_driver.platform.dma import DmaAllocator

# §4.5 "Exact example descriptors" for PA 0x12345000 (L3 page) and 0x40200000 (L2 block).
PAGE_EXAMPLES = [
    (Prot.NONE, 0x0000000012345F47),
    (Prot.READONLY, 0x0000000012345FC7),
    (Prot.NOEXEC, 0x0060000012345F47),
    (Prot.UNCACHED, 0x0000000012345E43),
    (Prot.READONLY | Prot.NOEXEC, 0x0060000012345FC7),
]


@pytest.mark.parametrize(("prot", "expected"), PAGE_EXAMPLES)
def test_page_descriptors_match_section_4_5(prot: Prot, expected: int) -> None:
    assert leaf_descriptor(0x12345000, prot, 3) == expected
    assert descriptor_kind(expected, 3) is DescriptorKind.PAGE
    assert prot_of(expected) == prot
    assert output_address(expected, 3) == 0x12345000


def test_block_and_table_descriptors_match_section_4_5() -> None:
    assert leaf_descriptor(0x40200000, Prot.NONE, 2) == 0x0000000040200F45
    assert table_descriptor(0x80001000) == 0x0000000080001003
    assert descriptor_kind(0x40200F45, 2) is DescriptorKind.BLOCK
    assert descriptor_kind(0x80001003, 1) is DescriptorKind.TABLE
    # §4.2: a block at level 0 and 0b01 at level 3 are invalid; x0 is invalid everywhere.
    assert descriptor_kind(0x40200F45, 0) is DescriptorKind.INVALID
    assert descriptor_kind(0x12345F45, 3) is DescriptorKind.INVALID
    assert descriptor_kind(0x12345F46, 2) is DescriptorKind.INVALID
    # A 1 GiB block at level 1: same attribute bits, type 01 (§4.3).
    assert leaf_descriptor(0x40000000, Prot.NONE, 1) == 0x0000000040000F45


@pytest.mark.parametrize(("call", "args"), [
    (leaf_descriptor, (0x12345800, Prot.NONE, 3)),  # not page aligned
    (leaf_descriptor, (0x40201000, Prot.NONE, 2)),  # not 2 MiB aligned for a block
    (leaf_descriptor, (1 << 40, Prot.NONE, 3)),  # beyond the 40-bit PA
    (leaf_descriptor, (0x1000, 8, 3)),  # unknown flag bit
    (leaf_descriptor, (0x1000, Prot.NONE, 0)),  # no leaves at level 0
    (table_descriptor, (0x80001800,)),
])
def test_encoders_refuse_bad_input(call, args) -> None:
    with pytest.raises(InvalidArgument):
        call(*args)


def test_index_formula_examples_of_section_4_1() -> None:
    assert [va_index(0x0000_1234_5678_9000, lvl) for lvl in range(4)] == [36, 209, 179, 393]
    assert [va_index(0x7FFF_C0DE_5000, lvl) for lvl in range(4)] == [255, 511, 6, 485]


def _allocator(base: int, size: int) -> DmaAllocator:
    return DmaAllocator(base, size, mmap.mmap(-1, size), name="test carveout")


def _u64(allocator: DmaAllocator, pa: int) -> int:
    return struct.unpack("<Q", allocator.peek(pa, 8))[0]


def test_walk_example_of_section_4_5_in_memory() -> None:
    """VA 0x10203000 -> PA 0x12345000: T0[0] = T1|3, T1[0] = T2|3, T2[0x81] = T3|3, T3[3] = 0x12345F47."""
    allocator = _allocator(0x12345000, 1 << 20)
    page = allocator.alloc(0x1000)
    assert page.phys == 0x12345000  # first fit at the carveout base
    pt = PageTable(allocator)
    pt.map(0x10203000, 0x12345000, 0x1000)
    t0 = pt.root_pa
    d0 = _u64(allocator, t0 + 0 * 8)
    assert d0 & 0xFFF == 0x003
    t1 = d0 & ~0xFFF
    d1 = _u64(allocator, t1 + 0 * 8)
    assert d1 & 0xFFF == 0x003
    t2 = d1 & ~0xFFF
    d2 = _u64(allocator, t2 + 0x081 * 8)
    assert d2 & 0xFFF == 0x003
    t3 = d2 & ~0xFFF
    assert _u64(allocator, t3 + 0x003 * 8) == 0x0000000012345F47
    assert len({t0, t1, t2, t3}) == 4
    # The driver's own walk reports the same descriptors and indices.
    steps = pt.walk(0x10203000)
    assert [(s.level, s.index, s.table_pa) for s in steps] == [(0, 0, t0), (1, 0, t1), (2, 0x81, t2),
                                                                (3, 3, t3)]
    assert [s.kind for s in steps] == [DescriptorKind.TABLE] * 3 + [DescriptorKind.PAGE]
    tr = pt.translate(0x10203ABC)
    assert (tr.pa, tr.level, tr.prot, tr.descriptor) == (0x12345ABC, 3, Prot.NONE, 0x12345F47)


@pytest.mark.parametrize(("prot", "expected"), PAGE_EXAMPLES)
def test_mapped_page_descriptor_bytes_per_flag(prot: Prot, expected: int) -> None:
    allocator = _allocator(0x12345000, 1 << 20)
    allocator.alloc(0x1000)
    pt = PageTable(allocator)
    pt.map(0x10203000, 0x12345000, 0x1000, prot)
    leaf = pt.walk(0x10203000)[-1]
    assert _u64(allocator, leaf.table_pa + leaf.index * 8) == expected


def test_2m_block_descriptor_in_memory() -> None:
    allocator = _allocator(0x40000000, 8 << 20)
    allocator.alloc(0x200000)  # 0x40000000
    block = allocator.alloc(0x200000, align=0x200000)
    assert block.phys == 0x40200000
    pt = PageTable(allocator)
    pt.map(0x600000, 0x40200000, 0x200000)  # VA[29:21] = 3
    steps = pt.walk(0x600000)
    assert [s.kind for s in steps] == [DescriptorKind.TABLE, DescriptorKind.TABLE, DescriptorKind.BLOCK]
    assert steps[-1].index == 3
    assert _u64(allocator, steps[-1].table_pa + 3 * 8) == 0x0000000040200F45


def test_translate_unmapped_is_efault_naming_the_level() -> None:
    allocator = _allocator(0x40000000, 1 << 20)
    pt = PageTable(allocator)
    with pytest.raises(BadAddress) as exc:
        pt.translate(0x1234000)
    assert exc.value.errno == 14 and "not mapped" in str(exc.value) and exc.value.details["level"] == 0
    with pytest.raises(InvalidArgument):
        pt.translate(1 << 48)
