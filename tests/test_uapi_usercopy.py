"""copy_from_user / copy_to_user on real process memory: good buffers, NULL, holes, read-only and
PROT_NONE pages, wrap-around, both backends (process_vm_readv and /proc/self/mem)."""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from uio_driver.errors import BadAddress, InvalidArgument, NotSupported
from uio_driver.uapi import usercopy
from uio_driver.uapi.usercopy import (
    address_of,
    check_zeroed_user,
    clear_user,
    copy_from_user,
    copy_to_user,
    strndup_user,
)

PAGE = mmap.PAGESIZE
PROT_NONE = 0  # <sys/mman.h>; the mmap module does not export it
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [
    ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long,
]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


class Pages:
    """``n`` anonymous pages; individual pages can be made read-only, PROT_NONE or unmapped."""

    def __init__(self, n: int) -> None:
        addr = _libc.mmap(None, n * PAGE, mmap.PROT_READ | mmap.PROT_WRITE,
                          mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
        assert addr not in (None, ctypes.c_void_p(-1).value)
        self.base, self.n = int(addr), n

    def page(self, i: int) -> int:
        return self.base + i * PAGE

    def fill(self, i: int, data: bytes, offset: int = 0) -> None:
        ctypes.memmove(self.page(i) + offset, data, len(data))

    def protect(self, i: int, prot: int) -> None:
        assert _libc.mprotect(self.page(i), PAGE, prot) == 0

    def unmap(self, i: int) -> None:
        assert _libc.munmap(self.page(i), PAGE) == 0

    def close(self) -> None:
        _libc.munmap(self.base, self.n * PAGE)


@pytest.fixture(params=["process_vm", "procmem"])
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    previous = usercopy.select_backend(request.param)
    try:
        yield request.param
    finally:
        usercopy.select_backend(previous)


@pytest.fixture
def pages() -> Iterator[Pages]:
    """4 pages: 0 RW (filled 0..255), 1 RW, 2 unmapped (a hole), 3 read-only (filled 0x5A)."""
    p = Pages(4)
    p.fill(0, bytes(range(256)) * (PAGE // 256))
    p.fill(3, b"\x5a" * PAGE)
    p.unmap(2)
    p.protect(3, mmap.PROT_READ)
    try:
        yield p
    finally:
        p.close()


def _expect_efault(exc: pytest.ExceptionInfo[BadAddress], addr: int, size: int) -> None:
    assert exc.value.errno == errno.EFAULT
    assert f"{addr:#x}" in str(exc.value) and f"{size:#x}" in str(exc.value)


def test_round_trip_on_bytearray_ctypes_and_numpy(backend: str) -> None:
    assert usercopy.active_backend() == backend
    buf = bytearray(b"panthor uapi")
    assert copy_from_user(address_of(buf), len(buf)) == b"panthor uapi"
    copy_to_user(address_of(buf) + 8, b"UAPI")
    assert buf == bytearray(b"panthor UAPI")

    cbuf = (ctypes.c_uint32 * 4)(1, 2, 3, 4)
    assert copy_from_user(address_of(cbuf), 16) == bytes.fromhex("01000000020000000300000004000000")
    arr = np.zeros(8, dtype=np.uint64)
    copy_to_user(address_of(arr) + 8, (0xDEADBEEF).to_bytes(8, "little"))
    assert arr.tolist() == [0, 0xDEADBEEF, 0, 0, 0, 0, 0, 0]


def test_large_copies_cross_chunk_boundaries(backend: str) -> None:
    rng = np.random.default_rng(7)
    src = rng.integers(0, 256, size=usercopy.CHUNK * 2 + 123, dtype=np.uint8)
    assert copy_from_user(address_of(src), src.nbytes) == src.tobytes()
    dst = np.zeros_like(src)
    copy_to_user(address_of(dst), src.tobytes())
    assert np.array_equal(dst, src)


def test_zero_size_is_a_no_op_anywhere(backend: str, pages: Pages) -> None:
    assert copy_from_user(0, 0) == b""
    copy_to_user(0, b"")
    assert copy_from_user(pages.page(2), 0) == b""
    copy_to_user(pages.page(3), b"")
    clear_user(0, 0)


def test_null_pointer_faults(backend: str) -> None:
    with pytest.raises(BadAddress) as exc:
        copy_from_user(0, 4)
    _expect_efault(exc, 0, 4)
    assert "NULL" in str(exc.value)
    with pytest.raises(BadAddress):
        copy_to_user(0, b"x")


def test_unmapped_page_faults_for_read_and_write(backend: str, pages: Pages) -> None:
    hole = pages.page(2)
    with pytest.raises(BadAddress) as exc:
        copy_from_user(hole + 16, 32)
    _expect_efault(exc, hole + 16, 32)
    with pytest.raises(BadAddress) as exc:
        copy_to_user(hole, b"data")
    _expect_efault(exc, hole, 4)


def test_range_running_into_a_hole_reports_the_first_bad_byte(backend: str, pages: Pages) -> None:
    start = pages.page(1) + PAGE - 8
    with pytest.raises(BadAddress) as exc:
        copy_from_user(start, 16)
    assert exc.value.details["fault_address"] == pages.page(2)


def test_read_only_page_reads_but_refuses_writes(backend: str, pages: Pages) -> None:
    ro = pages.page(3)
    assert copy_from_user(ro, 8) == b"\x5a" * 8
    with pytest.raises(BadAddress) as exc:
        copy_to_user(ro + 100, b"\x00" * 8)
    _expect_efault(exc, ro + 100, 8)
    assert copy_from_user(ro, PAGE) == b"\x5a" * PAGE  # nothing was written
    with pytest.raises(BadAddress):
        clear_user(ro, 16)


def test_prot_none_page_is_unreadable(backend: str, pages: Pages) -> None:
    pages.protect(1, PROT_NONE)
    with pytest.raises(BadAddress):
        copy_from_user(pages.page(1), 1)
    with pytest.raises(BadAddress):
        copy_to_user(pages.page(1), b"x")


def test_kernel_and_wrapping_addresses_fault(backend: str) -> None:
    for addr in (0xFFFF800000000000, 0x0000800000000000, 0x1000):
        with pytest.raises(BadAddress):
            copy_from_user(addr, 8)
    with pytest.raises(BadAddress) as exc:
        copy_from_user((1 << 64) - 4, 8)
    _expect_efault(exc, (1 << 64) - 4, 8)


@pytest.mark.parametrize(
    ("addr", "size"), [(-1, 4), (1 << 64, 4), (0x1000, -1), ("0x1000", 4), (0x1000, 2.0)]
)
def test_non_integer_or_out_of_range_arguments(addr: object, size: object) -> None:
    with pytest.raises(InvalidArgument) as exc:
        copy_from_user(addr, size)  # type: ignore[arg-type]
    assert exc.value.errno == errno.EINVAL


def test_clear_and_check_zeroed(backend: str, pages: Pages) -> None:
    p = pages.page(0)
    assert not check_zeroed_user(p + 1, 16)  # bytes 1..16 of 0..255
    assert check_zeroed_user(p, 1)  # byte 0 is 0
    clear_user(p + 1, 16)
    assert check_zeroed_user(p, 17)
    assert copy_from_user(p + 17, 1) == b"\x11"
    with pytest.raises(BadAddress):
        check_zeroed_user(pages.page(1) + PAGE - 4, 8)


def test_strndup_user(backend: str, pages: Pages) -> None:
    p1 = pages.page(1)
    pages.fill(1, b"label\0junk")
    assert strndup_user(p1, 4096) == b"label"
    # A string ending just before the hole: read page by page, so no fault on the next page.
    tail = p1 + PAGE - 4
    pages.fill(1, b"abc\0", PAGE - 4)
    assert strndup_user(tail, 4096) == b"abc"
    pages.fill(1, b"wxyz", PAGE - 4)
    with pytest.raises(BadAddress):
        strndup_user(tail, 4096)
    with pytest.raises(InvalidArgument) as exc:
        strndup_user(p1, 5)  # "label" has no NUL within 5 bytes
    assert exc.value.errno == errno.EINVAL
    assert strndup_user(p1, 6) == b"label"


def test_address_of_variants() -> None:
    s = ctypes.c_uint64(5)
    assert address_of(s) == ctypes.addressof(s)
    ro = mmap.mmap(-1, PAGE, prot=mmap.PROT_READ)
    try:
        assert copy_from_user(address_of(ro), 4) == bytes(4)
    finally:
        ro.close()
    arr = np.arange(16, dtype=np.uint32)
    assert address_of(arr) == arr.ctypes.data
    with pytest.raises(InvalidArgument):
        address_of(arr[::2])
    with pytest.raises(InvalidArgument):
        address_of(42)


def test_backend_selection() -> None:
    with pytest.raises(InvalidArgument):
        usercopy.select_backend("ptrace")
    previous = usercopy.select_backend("procmem")
    try:
        assert usercopy.active_backend() == "procmem"
    finally:
        usercopy.select_backend(previous)


def test_auto_falls_back_when_process_vm_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: object, *args: object) -> None:
        raise usercopy._Unavailable(errno.EPERM)

    monkeypatch.setattr(usercopy._ProcessVmBackend, "read", refuse)
    previous = usercopy.select_backend("auto")
    try:
        buf = bytearray(b"fallback")
        assert copy_from_user(address_of(buf), 8) == b"fallback"
        assert usercopy.active_backend() == "procmem"
    finally:
        usercopy.select_backend(previous)


def test_no_usable_backend_is_not_supported(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: object, *args: object) -> None:
        raise usercopy._Unavailable(errno.EPERM)

    monkeypatch.setattr(usercopy._ProcessVmBackend, "read", refuse)
    monkeypatch.setattr(usercopy._ProcMemBackend, "read", refuse)
    buf = bytearray(8)
    for choice in ("auto", "process_vm"):
        previous = usercopy.select_backend(choice)
        try:
            with pytest.raises(NotSupported) as exc:
                copy_from_user(address_of(buf), 8)
            assert exc.value.errno == errno.EOPNOTSUPP
        finally:
            usercopy.select_backend(previous)


_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _mapping_edges() -> list[int]:
    """Start and end of every mapping of this process: where partial/odd reads happen."""
    edges = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            edges += [lo, hi]
    return edges


_ADDRESSES = st.one_of(
    st.integers(0, (1 << 64) - 1),
    st.builds(lambda edge, delta: max(0, min(edge + delta, (1 << 64) - 1)),
              st.sampled_from(_mapping_edges()), st.integers(-2 * PAGE, 2 * PAGE)),
)


@_SETTINGS
@given(addr=_ADDRESSES, size=st.integers(0, 3 * PAGE))
def test_random_reads_never_crash(backend: str, addr: int, size: int) -> None:
    try:
        data = copy_from_user(addr, size)
    except BadAddress as err:
        assert err.errno == errno.EFAULT
    else:
        assert len(data) == size


@_SETTINGS
@given(which=st.sampled_from(["hole", "ro", "null", "kernel"]), offset=st.integers(0, PAGE - 1),
       size=st.integers(1, 2 * PAGE))
def test_random_writes_to_bad_memory_fault_and_change_nothing(
    backend: str, pages: Pages, which: str, offset: int, size: int
) -> None:
    base = {"hole": pages.page(2), "ro": pages.page(3), "null": 0, "kernel": 0xFFFF800000000000}[which]
    addr = base + offset if which != "null" else 0
    with pytest.raises(BadAddress) as exc:
        copy_to_user(addr, os.urandom(size))
    assert exc.value.errno == errno.EFAULT
    assert copy_from_user(pages.page(3), PAGE) == b"\x5a" * PAGE
