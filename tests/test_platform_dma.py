"""DmaAllocator / DmaBuffer: alignment, zeroing, reuse, coalescing, all-or-nothing refusals."""

from __future__ import annotations

import errno
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uio_driver.errors import BadAddress, DeviceNotFound, InvalidArgument, OutOfMemory
from uio_driver.platform.dma import DmaAllocator, DmaBuffer

PAGE = 0x1000
BASE = 0x30000000
SIZE = 16 * PAGE


@pytest.fixture
def backing() -> bytearray:
    return bytearray(b"\xaa" * SIZE)


@pytest.fixture
def pool(backing: bytearray) -> DmaAllocator:
    return DmaAllocator(BASE, SIZE, backing)


def test_allocations_are_whole_pages_from_the_bottom(pool: DmaAllocator) -> None:
    a = pool.alloc(1, name="a")
    b = pool.alloc(PAGE + 1, name="b")
    assert (a.phys, a.size) == (BASE, PAGE)
    assert (b.phys, b.size) == (BASE + PAGE, 2 * PAGE)
    assert pool.used_bytes == 3 * PAGE and pool.free_bytes == 13 * PAGE
    assert pool.state() == (((3 * PAGE, 13 * PAGE),), (0, PAGE))


def test_alignment_larger_than_a_page_skips_to_the_next_boundary(backing: bytearray) -> None:
    pool = DmaAllocator(BASE + PAGE, SIZE, backing)  # base only page aligned
    buf = pool.alloc(PAGE, align=0x4000)
    assert buf.phys == BASE + 0x4000  # first 16 KiB boundary above 0x30001000
    # the 3 skipped pages stay free, before the allocation
    assert pool.state() == (((0, 3 * PAGE), (4 * PAGE, 12 * PAGE)), (3 * PAGE,))
    assert pool.alloc(PAGE).phys == BASE + PAGE  # and are used first afterwards


@pytest.mark.parametrize("size,align", [(0, None), (-1, None), (1.5, None), (PAGE, 3), (PAGE, 0x800),
                                        (PAGE, 0x3000), (PAGE, 0)])
def test_bad_requests_raise_and_change_nothing(pool: DmaAllocator, size: object, align: object) -> None:
    pool.alloc(PAGE)
    before = pool.state()
    with pytest.raises(InvalidArgument) as exc:
        pool.alloc(size, align=align)  # type: ignore[arg-type]
    assert exc.value.errno == errno.EINVAL
    assert pool.state() == before


def test_new_buffers_are_zeroed_and_neighbours_untouched(pool: DmaAllocator, backing: bytearray) -> None:
    buf = pool.alloc(2 * PAGE)
    assert bytes(backing[:2 * PAGE]) == bytes(2 * PAGE)
    assert bytes(backing[2 * PAGE:]) == b"\xaa" * (SIZE - 2 * PAGE)
    raw = pool.alloc(PAGE, zero=False)
    assert raw.read(0, 4) == b"\xaa" * 4
    assert buf.u64.shape == (2 * PAGE // 8,)


def test_freed_space_is_reused(pool: DmaAllocator) -> None:
    a = pool.alloc(PAGE)
    pool.alloc(PAGE)
    a.free()
    assert pool.alloc(PAGE).phys == BASE


def test_free_coalesces_neighbours(pool: DmaAllocator) -> None:
    a, b, c = pool.alloc(PAGE), pool.alloc(2 * PAGE), pool.alloc(PAGE)
    a.free()
    c.free()
    assert pool.state()[0] == ((0, PAGE), (3 * PAGE, 13 * PAGE))
    b.free()
    assert pool.state() == (((0, SIZE),), ())
    assert pool.alloc(SIZE).phys == BASE  # one extent again: the whole carveout fits


def test_exhaustion_raises_out_of_memory_and_changes_nothing(pool: DmaAllocator) -> None:
    bufs = [pool.alloc(PAGE) for _ in range(16)]
    for b in bufs[::2]:
        b.free()  # 8 free pages, none adjacent
    before = pool.state()
    with pytest.raises(OutOfMemory) as exc:
        pool.alloc(2 * PAGE)
    assert exc.value.errno == errno.ENOMEM
    assert "0x8000 free" in str(exc.value) and "largest extent 0x1000" in str(exc.value)
    assert pool.state() == before
    with pytest.raises(OutOfMemory):
        pool.alloc(SIZE + PAGE)
    assert pool.state() == before


def test_find_is_an_allow_list_of_live_allocations(pool: DmaAllocator) -> None:
    pool.alloc(PAGE)
    b = pool.alloc(2 * PAGE)
    assert pool.find(BASE + PAGE) is b
    assert pool.find(BASE + 2 * PAGE, PAGE) is b  # second page, whole
    assert pool.find(BASE + 2 * PAGE, PAGE + 1) is None  # one byte past its end
    assert pool.find(BASE + PAGE - 1, 2) is None  # straddles two allocations
    assert pool.find(BASE + 5 * PAGE) is None  # inside the carveout, not allocated
    assert pool.find(BASE - PAGE) is None and pool.find(BASE + SIZE) is None
    assert pool.find(BASE + PAGE, 0) is None
    assert pool.contains(BASE + 5 * PAGE) and not pool.contains(BASE + SIZE)
    b.free()
    assert pool.find(BASE + PAGE) is None


def test_double_free_and_foreign_buffers_are_refused(pool: DmaAllocator) -> None:
    other = DmaAllocator(BASE, SIZE, bytearray(SIZE))
    a = pool.alloc(PAGE)
    foreign = other.alloc(PAGE)
    a.free()
    before = pool.state()
    with pytest.raises(InvalidArgument, match="not a live allocation"):
        a.free()
    with pytest.raises(InvalidArgument):
        pool.free(foreign)
    assert pool.state() == before
    assert other.state() == ((((PAGE, SIZE - PAGE),), (0,)))


def test_use_after_free_is_refused(pool: DmaAllocator) -> None:
    a = pool.alloc(PAGE, name="ring")
    a.free()
    for use in (lambda: a.array(), lambda: a.write(0, b"x"), lambda: a.read(0, 1), lambda: a.zero(),
                lambda: a.sync_for_device()):
        with pytest.raises(InvalidArgument, match="ring used after free"):
            use()


@pytest.mark.parametrize("device_memory", [False, True])
def test_buffer_io_and_views(backing: bytearray, device_memory: bool) -> None:
    pool = DmaAllocator(BASE, SIZE, backing, device_memory=device_memory)
    pool.alloc(PAGE)
    buf = pool.alloc(PAGE)
    buf.write(8, b"\x01\x02\x03\x04")
    assert backing[PAGE + 8:PAGE + 12] == b"\x01\x02\x03\x04"
    assert buf.read(6, 6) == b"\0\0\x01\x02\x03\x04"
    buf.u64[3] = 0x1122334455667788
    assert int.from_bytes(backing[PAGE + 24:PAGE + 32], sys.byteorder) == 0x1122334455667788
    buf.write(0, np.arange(4, dtype=np.uint32))
    assert list(buf.array(np.uint32, count=4)) == [0, 1, 2, 3]
    buf.zero(4, 8)
    assert list(buf.array(np.uint32, count=4)) == [0, 0, 0, 3]


def test_buffer_ranges_are_checked(pool: DmaAllocator) -> None:
    buf = pool.alloc(PAGE)
    for bad in (lambda: buf.write(PAGE - 1, b"ab"), lambda: buf.read(-1, 2), lambda: buf.zero(0, PAGE + 1),
                lambda: buf.array(np.uint32, offset=2), lambda: buf.array(np.uint64, count=PAGE // 8 + 1)):
        with pytest.raises(BadAddress):
            bad()


def test_carveout_must_be_page_aligned_and_backed() -> None:
    with pytest.raises(InvalidArgument):
        DmaAllocator(BASE + 1, SIZE, bytearray(SIZE))
    with pytest.raises(InvalidArgument):
        DmaAllocator(BASE, SIZE + 1, bytearray(2 * SIZE))
    with pytest.raises(InvalidArgument):
        DmaAllocator(BASE, SIZE, bytearray(SIZE - 1))
    with pytest.raises(InvalidArgument):
        DmaAllocator(BASE, SIZE, bytes(SIZE))


def test_closed_allocator_refuses_allocations(pool: DmaAllocator) -> None:
    buf = pool.alloc(PAGE)
    pool.close()
    with pytest.raises(DeviceNotFound, match="closed"):
        pool.alloc(PAGE)
    buf.write(0, b"ok")  # a buffer handed out before close keeps its own view
    assert buf.read(0, 2) == b"ok"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 5), st.integers(0, 2), st.integers(0, 31)),
                max_size=40))
def test_random_alloc_free_matches_a_page_model(ops: list[tuple[bool, int, int, int]]) -> None:
    """Against an independent page-set model: no overlap, in bounds, sizes add up, all-or-nothing."""
    pool = DmaAllocator(BASE, SIZE, bytearray(SIZE))
    live: dict[int, tuple[DmaBuffer, set[int]]] = {}
    used: set[int] = set()
    for is_alloc, pages, align_log, pick in ops:
        if is_alloc or not live:
            align = PAGE << align_log
            before = pool.state()
            fits = any(
                all(p not in used for p in range(start, start + pages))
                for start in range(0, 16 - pages + 1) if (BASE + start * PAGE) % align == 0)
            try:
                buf = pool.alloc(pages * PAGE, align=align)
            except OutOfMemory:
                assert not fits and pool.state() == before
                continue
            assert fits and buf.phys % align == 0
            mine = set(range((buf.phys - BASE) // PAGE, (buf.phys - BASE) // PAGE + pages))
            assert mine.isdisjoint(used) and max(mine) < 16
            used |= mine
            live[buf.phys] = (buf, mine)
        else:
            phys = sorted(live)[pick % len(live)]
            buf, mine = live.pop(phys)
            buf.free()
            used -= mine
        assert pool.used_bytes == len(used) * PAGE and pool.free_bytes == SIZE - len(used) * PAGE
    for buf, _ in live.values():
        buf.free()
    assert pool.state() == (((0, SIZE),), ())
