"""AS_LOCKADDR packing: the seven worked examples of mali-csf-registers-and-mmu.md §3.4 and more
hand-computed cases (minimum region, ranges straddling alignment boundaries, the whole AS)."""

from __future__ import annotations

import pytest

from uio_driver.errors import InvalidArgument
from uio_driver.mmu import pack_region_range

# (start, size, LOCKADDR, effective start, effective size) — §3.4 table, verbatim.
WORKED = [
    (0x1000000, 0x1000, 0x000000000100000E, 0x1000000, 0x8000),
    (0x4000, 0x1000, 0x000000000000400E, 0x0, 0x8000),
    (0x200000, 0x200000, 0x0000000000200014, 0x200000, 0x200000),
    (0x4F000, 0x2000, 0x0000000000040010, 0x40000, 0x20000),
    (0x123456000, 0x10000, 0x0000000123440011, 0x123440000, 0x40000),
    (0x7FFF000, 0x2000, 0x000000000000001B, 0x0, 0x10000000),
    (0, 1 << 64, 0x000000000000003F, 0, 1 << 64),
]

# Hand-computed: width = max(fls(start ^ (end-1)), 15) - 1; base = start & ~((1 << width) - 1).
MORE = [
    # Minimum region: fls(0xFFF) = 12 -> 15 -> width 14, 32 KiB at 0.
    (0x0, 0x1000, 0x000000000000000E, 0x0, 0x8000),
    # Exactly one aligned 32 KiB block: 0x8000 ^ 0xFFFF = 0x7FFF, fls 15 -> width 14.
    (0x8000, 0x8000, 0x000000000000800E, 0x8000, 0x8000),
    # 8 KiB straddling the 32 KiB boundary at 0x8000: 0x7000 ^ 0x8FFF = 0xFFFF, fls 16 -> width 15.
    (0x7000, 0x2000, 0x000000000000000F, 0x0, 0x10000),
    # 8 KiB straddling 2 MiB: 0x1FF000 ^ 0x200FFF = 0x3FFFFF, fls 22 -> width 21 (4 MiB at 0).
    (0x1FF000, 0x2000, 0x0000000000000015, 0x0, 0x400000),
    # 1 GiB at 1 GiB: 0x40000000 ^ 0x7FFFFFFF = 0x3FFFFFFF, fls 30 -> width 29.
    (0x40000000, 0x40000000, 0x000000004000001D, 0x40000000, 0x40000000),
    # Last page of the 48-bit space: fls(0xFFF) -> width 14; base keeps bit 14 (panthor clears below it).
    (0xFFFF_FFFF_F000, 0x1000, 0x0000FFFFFFFFC00E, 0xFFFF_FFFF_8000, 0x8000),
    # The whole 48-bit AS: 0 ^ (2^48 - 1), fls 48 -> width 47.
    (0, 1 << 48, 0x000000000000002F, 0, 1 << 48),
    # panthor's whole-AS request is (0, ~0): it packs like (0, 2^64).
    (0, (1 << 64) - 1, 0x000000000000003F, 0, 1 << 64),
]


@pytest.mark.parametrize(("start", "size", "lockaddr", "eff_start", "eff_size"), WORKED + MORE)
def test_pack_region_range(start: int, size: int, lockaddr: int, eff_start: int, eff_size: int) -> None:
    region = pack_region_range(start, size)
    assert region.lockaddr == lockaddr
    assert (region.start, region.size) == (eff_start, eff_size)
    assert region.width == lockaddr & 0x3F
    assert lockaddr & 0xFC0 == 0  # bits 11:6 reserved on G610
    assert region.covers(start, size)


def test_region_always_covers_and_is_minimal_power_of_two() -> None:
    # Independent brute force: the smallest aligned power of two >= 32 KiB holding the whole range.
    for start in range(0, 0x60000, 0x3000):
        for size in (0x1000, 0x5000, 0x9000, 0x21000):
            region = pack_region_range(start, size)
            want = 1 << 15
            while start // want != (start + size - 1) // want:
                want <<= 1
            assert region.size == want and region.start == start // want * want


@pytest.mark.parametrize(("start", "size"), [(0, 0), (0x1000, -1), (1 << 64, 1), ((1 << 64) - 0x1000, 0x2000),
                                             (0.5, 1), (0, True)])
def test_refuses_empty_or_out_of_range(start: object, size: object) -> None:
    with pytest.raises(InvalidArgument):
        pack_region_range(start, size)  # type: ignore[arg-type]
