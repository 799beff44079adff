"""AS_LOCKADDR packing exactly as panthor's ``lock_region`` / ``pack_region_range``.

mali-csf-registers-and-mmu.md §3.4: for a request ``[start, start + size)``

1. ``end = start + size``;
2. ``width = max(fls64(start XOR (end - 1)), 15) - 1`` — the smallest naturally aligned power-of-two
   block holding both ``start`` and ``end - 1`` has ``2^(width + 1)`` bytes, at least 32 KiB
   (``AS_LOCK_REGION_MIN_SIZE``: an MMU cache line of 64 bytes holds 8 PTEs);
3. ``base = start & ~((1 << width) - 1)`` (panthor clears the bits *below* ``width``; the hardware
   ignores every base bit below the region size);
4. ``LOCKADDR = base | width``; bits 11:6 stay 0 (reserved on G610).

A small range straddling a large power-of-two boundary therefore locks a large region (``0x7FFF000``
+ 8 KiB locks 256 MiB) — never compute it as ``[start, end)`` or from the size alone like older
panfrost did.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidArgument

#: panthor/panfrost AS_LOCK_REGION_MIN_SIZE = 1 << 15 (32 KiB), i.e. size code 14.
LOCK_REGION_MIN_SHIFT = 15
#: The VA range LOCKADDR can describe (the whole-AS request of P1/P2 is ``(0, 2**64)``).
ADDRESS_LIMIT = 1 << 64


@dataclass(frozen=True)
class LockRegion:
    """A packed lock request and the VA region the MMU really locks.

    Attributes:
        lockaddr: the 64-bit AS_LOCKADDR value (written LO then HI).
        width: the size code (LOCKADDR[5:0]); the region has ``2^(width + 1)`` bytes.
        start: first byte of the effective (naturally aligned) region.
        size: bytes in the effective region (``2^64`` for "everything").
    """

    lockaddr: int
    width: int
    start: int
    size: int

    @property
    def end(self) -> int:
        return self.start + self.size

    def covers(self, va: int, size: int) -> bool:
        """True when ``[va, va + size)`` lies inside the effective region."""
        return self.start <= va and va + size <= self.end


def fls64(value: int) -> int:
    """1-based index of the highest set bit (0 for 0), like the kernel's ``fls64``."""
    return value.bit_length()


def pack_region_range(start: int, size: int) -> LockRegion:
    """Pack ``[start, start + size)`` into AS_LOCKADDR the way panthor does.

    Args:
        start: first VA of the range.
        size: bytes (> 0); ``start + size`` may reach 2^64 (the whole-AS lock ``(0, 2**64)``; panthor
            passes ``~0``, which packs identically).

    Raises:
        InvalidArgument: non-integers, ``size <= 0`` or a range beyond 2^64 (nothing to lock).
    """
    for label, v in (("start", start), ("size", size)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise InvalidArgument(f"lock region {label} must be an integer, got {v!r}")
    if start < 0 or size <= 0 or start + size > ADDRESS_LIMIT:
        raise InvalidArgument(f"lock region [{start:#x}, +{size:#x}) is empty or outside the 64-bit VA range")
    end = start + size
    width = max(fls64(start ^ (end - 1)), LOCK_REGION_MIN_SHIFT) - 1
    base = start & ~((1 << width) - 1)
    region = 1 << (width + 1)
    return LockRegion(base | width, width, start & ~(region - 1), region)
