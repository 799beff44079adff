"""MmioRegion / MappedMmioRegion: refusals change nothing, read-only regions, 64-bit access order."""

from __future__ import annotations

import errno
import sys

import numpy as np
import pytest

from uio_driver.errors import AccessDenied, BadAddress, DeviceNotFound, InvalidArgument, MaliError
from uio_driver.platform.base import MappedMmioRegion, MmioRegion


def word(value: int) -> bytes:
    return value.to_bytes(4, sys.byteorder)


@pytest.fixture
def buf() -> bytearray:
    return bytearray(range(64))  # distinct bytes so any stray store shows


def test_write32_stores_one_word_at_the_byte_offset(buf: bytearray) -> None:
    region = MappedMmioRegion("t", buf, phys_base=0xFB000000)
    before = bytes(buf)
    region.write32(8, 0x11223344)
    assert buf[8:12] == word(0x11223344)
    assert buf[:8] == before[:8] and buf[12:] == before[12:]
    assert region.size == 64 and region.phys_base == 0xFB000000


def test_read32_reads_native_words(buf: bytearray) -> None:
    region = MappedMmioRegion("t", buf)
    buf[60:64] = word(0xDEADBEEF)
    assert region.read32(60) == 0xDEADBEEF
    assert region.read32(4) == int.from_bytes(bytes([4, 5, 6, 7]), sys.byteorder)


@pytest.mark.parametrize("offset", [-4, -1, 2, 63, 64, 68, 1 << 70, 4.0, "8", None])
def test_bad_offsets_raise_bad_address_and_write_nothing(buf: bytearray, offset: object) -> None:
    region = MappedMmioRegion("gpu", buf)
    before = bytes(buf)
    with pytest.raises(BadAddress) as exc:
        region.write32(offset, 1)  # type: ignore[arg-type]
    assert exc.value.errno == errno.EFAULT
    assert "gpu" in str(exc.value) and "0x40-byte window" in str(exc.value)
    with pytest.raises(BadAddress):
        region.read32(offset)  # type: ignore[arg-type]
    assert bytes(buf) == before


@pytest.mark.parametrize("value", [-1, 1 << 32, 1.5, None, "1"])
def test_bad_values_raise_invalid_argument_and_write_nothing(buf: bytearray, value: object) -> None:
    region = MappedMmioRegion("gpu", buf)
    before = bytes(buf)
    with pytest.raises(InvalidArgument) as exc:
        region.write32(8, value)  # type: ignore[arg-type]
    assert exc.value.errno == errno.EINVAL and exc.value.offset == 8
    assert bytes(buf) == before


def test_boundary_values_are_accepted(buf: bytearray) -> None:
    region = MappedMmioRegion("gpu", buf)
    region.write32(0, 0xFFFFFFFF)
    region.write32(4, 0)
    assert buf[0:8] == b"\xff" * 4 + b"\0" * 4


def test_read_only_region_refuses_writes_and_keeps_reads(buf: bytearray) -> None:
    region = MappedMmioRegion("ro", buf, writable=False)
    before = bytes(buf)
    with pytest.raises(AccessDenied) as exc:
        region.write32(8, 5)
    assert exc.value.errno == errno.EACCES and "read-only" in str(exc.value)
    with pytest.raises(BadAddress):  # the offset is still checked first
        region.write32(3, 5)
    assert bytes(buf) == before
    assert region.read32(8) == int.from_bytes(before[8:12], sys.byteorder)


def test_read_only_buffer_cannot_back_a_writable_region() -> None:
    with pytest.raises(InvalidArgument, match="read-only"):
        MappedMmioRegion("t", bytes(16))
    assert MappedMmioRegion("t", bytes(16), writable=False).read32(12) == 0


@pytest.mark.parametrize("offset,size", [(0, 6), (2, 8), (-4, 8), (8, 64), (0, 0), (64, 4)])
def test_region_must_fit_the_buffer_in_whole_words(buf: bytearray, offset: int, size: int) -> None:
    with pytest.raises(InvalidArgument):
        MappedMmioRegion("t", buf, size=size, offset=offset)


def test_region_offset_shifts_register_zero(buf: bytearray) -> None:
    region = MappedMmioRegion("t", buf, size=16, offset=32)
    region.write32(4, 0xA5A5A5A5)
    assert buf[36:40] == word(0xA5A5A5A5)
    with pytest.raises(BadAddress):
        region.read32(16)


def test_non_byte_buffers_are_addressed_in_bytes() -> None:
    arr = np.zeros(16, dtype=np.uint32)
    region = MappedMmioRegion("t", arr, offset=8, size=16)
    region.write32(4, 0x1234)
    assert arr[3] == 0x1234 and int(arr.sum()) == 0x1234


def test_closed_region_raises_a_project_error(buf: bytearray) -> None:
    region = MappedMmioRegion("gpu", buf)
    region.close()
    with pytest.raises(DeviceNotFound, match="after close"):
        region.read32(0)
    with pytest.raises(DeviceNotFound):
        region.write32(0, 1)
    with pytest.raises(DeviceNotFound):
        region.read64(0)


# -- 64-bit accesses ---------------------------------------------------------------------------


class RecordingRegion(MmioRegion):
    """Registers in a dict; every access is logged in order."""

    def __init__(self, size: int = 0x100) -> None:
        self.name = "rec"
        self.size = size
        self.regs: dict[int, int] = {}
        self.log: list[tuple[str, int, int]] = []

    def read32(self, offset: int) -> int:
        self.check_offset(offset)
        value = self.regs.get(offset, 0)
        self.log.append(("r", offset, value))
        return value

    def write32(self, offset: int, value: int) -> None:
        self.check_offset(offset)
        self.check_value(value, offset, self.name)
        self.log.append(("w", offset, value))
        self.regs[offset] = value


class CarryingCounter(RecordingRegion):
    """A 64-bit counter at 0x30/0x34 that ticks right after each LO read (carry into HI)."""

    def __init__(self, start: int, ticks_per_lo_read: int = 1) -> None:
        super().__init__()
        self.count = start
        self.ticks = ticks_per_lo_read

    def read32(self, offset: int) -> int:
        if offset == 0x30:
            lo = self.count & 0xFFFFFFFF
            self.count += self.ticks
            self.log.append(("r", offset, lo))
            return lo
        if offset == 0x34:
            hi = self.count >> 32
            self.log.append(("r", offset, hi))
            return hi
        return super().read32(offset)


def test_write64_writes_lo_then_hi() -> None:
    region = RecordingRegion()
    region.write64(0x40, 0x0123456789ABCDEF)
    assert region.log == [("w", 0x40, 0x89ABCDEF), ("w", 0x44, 0x01234567)]


@pytest.mark.parametrize("value", [-1, 1 << 64])
def test_write64_refuses_values_that_do_not_fit(value: int) -> None:
    region = RecordingRegion()
    with pytest.raises(InvalidArgument):
        region.write64(0x40, value)
    assert region.log == []


def test_write64_refuses_a_half_outside_the_window() -> None:
    region = RecordingRegion(size=0x100)
    with pytest.raises(BadAddress):
        region.write64(0xFC, 1)  # HI would be at 0x100
    assert region.log == []


def test_read64_retries_when_lo_carries_into_hi() -> None:
    # HI=1, LO=0xffffffff (counter ticks to 0x2_0000_0000), HI=2: torn, retry.
    # HI=2, LO=0, HI=2: stable. A lo-then-hi read would have returned 0x2_ffffffff.
    region = CarryingCounter(0x1_FFFF_FFFF)
    assert region.read64(0x30) == 0x2_0000_0000
    assert [op[1] for op in region.log] == [0x34, 0x30, 0x34, 0x34, 0x30, 0x34]


def test_read64_gives_up_on_a_source_that_keeps_tearing() -> None:
    region = CarryingCounter(0xFFFF_FFFF, ticks_per_lo_read=1 << 32)  # HI changes on every LO read
    with pytest.raises(MaliError, match="kept tearing after 4 reads") as exc:
        region.read64(0x30, max_retries=4)
    assert exc.value.offset == 0x30
    assert len(region.log) == 3 * 4


def test_read64_of_mapped_region_composes_lo_and_hi(buf: bytearray) -> None:
    region = MappedMmioRegion("t", buf)
    buf[16:20] = word(0x89ABCDEF)
    buf[20:24] = word(0x01234567)
    assert region.read64(16) == 0x0123456789ABCDEF
    region.write64(32, 0xFEDCBA9876543210)
    assert buf[32:36] == word(0x76543210) and buf[36:40] == word(0xFEDCBA98)


@pytest.mark.parametrize("offset", [60, 64, -4, 2, 1.0])
def test_read64_of_mapped_region_checks_both_halves(buf: bytearray, offset: object) -> None:
    region = MappedMmioRegion("t", buf)
    with pytest.raises(BadAddress):
        region.read64(offset)  # type: ignore[arg-type]


class TearingWords:
    """Stands in for the region's word view: word 1 (HI) follows a counter bumped by word 0 reads."""

    def __init__(self, start: int, step: int) -> None:
        self.count = start
        self.step = step
        self.reads: list[int] = []

    def __getitem__(self, index: int) -> int:
        self.reads.append(index)
        if index == 0:
            lo = self.count & 0xFFFFFFFF
            self.count += self.step
            return lo
        return self.count >> 32


def test_mapped_read64_fast_path_retries_on_tearing(buf: bytearray) -> None:
    region = MappedMmioRegion("t", buf)
    region._words = TearingWords(0x1_FFFF_FFFF, 1)  # type: ignore[assignment]
    assert region.read64(0) == 0x2_0000_0000
    assert region._words.reads == [1, 0, 1, 1, 0, 1]  # type: ignore[attr-defined]
    region._words = TearingWords(0xFFFF_FFFF, 1 << 32)  # type: ignore[assignment]
    with pytest.raises(MaliError, match="kept tearing after 3 reads"):
        region.read64(0, max_retries=3)
    assert len(region._words.reads) == 9  # type: ignore[attr-defined]
