"""DMA memory: physically contiguous, page-aligned buffers carved out of a reserved region.

On a board the carveout is a ``no-map`` reserved-memory range exposed as an extra UIO map (or a
/dev/mem window); on the simulator it is plain host memory that the simulated GPU reads by
physical address. Either way the driver sees :class:`DmaBuffer` objects: a physical address, a
size and a writable CPU view (bytes and NumPy).

Device-memory mappings (UIO/devmem on arm64 are Device-nGnRnE) must never be touched with memset/
memcpy-style bulk helpers (``DC ZVA`` and unaligned accesses fault). :meth:`DmaBuffer.write`,
:meth:`DmaBuffer.read` and :meth:`DmaBuffer.zero` therefore use element-wise aligned NumPy
ufunc loops when ``device_memory`` is set.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ..errors import BadAddress, DeviceNotFound, InvalidArgument, OutOfMemory

PAGE_SIZE = 4096


def _round_up(value: int, align: int) -> int:
    return (value + align - 1) & ~(align - 1)


@dataclass(eq=False)
class DmaBuffer:
    """One allocation: ``size`` bytes at physical address ``phys``.

    ``view`` is a writable memoryview of exactly ``size`` bytes; :meth:`array` gives NumPy views of
    the same memory (no copies).
    """

    phys: int
    size: int
    view: memoryview
    allocator: DmaAllocator
    name: str = ""
    freed: bool = field(default=False, repr=False)

    def array(self, dtype: np.typing.DTypeLike = np.uint8, offset: int = 0,
              count: int | None = None) -> np.ndarray:
        """NumPy view of (part of) the buffer; ``offset`` in bytes, ``count`` in elements."""
        self._check_live()
        dt = np.dtype(dtype)
        if offset < 0 or offset % dt.itemsize:
            raise BadAddress(f"DMA buffer {self.name or hex(self.phys)}: offset {offset:#x} not "
                             f"aligned to {dt.itemsize} bytes", offset=offset)
        avail = (self.size - offset) // dt.itemsize
        n = avail if count is None else count
        if n < 0 or n > avail:
            raise BadAddress(
                f"DMA buffer {self.name or hex(self.phys)}: {n} x {dt} at offset {offset:#x} exceeds "
                f"its {self.size:#x} bytes", offset=offset)
        return np.frombuffer(self.view, dtype=dt, count=n, offset=offset)

    @property
    def u32(self) -> np.ndarray:
        return self.array(np.uint32)

    @property
    def u64(self) -> np.ndarray:
        return self.array(np.uint64)

    def contains(self, phys: int, size: int = 1) -> bool:
        return self.phys <= phys and phys + size <= self.phys + self.size

    def write(self, offset: int, data: bytes | bytearray | memoryview | np.ndarray) -> None:
        """Copy ``data`` into the buffer at byte ``offset``."""
        src = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)  # type: ignore[arg-type]
        self._check_range(offset, src.size)
        dst = np.frombuffer(self.view, dtype=np.uint8, count=src.size, offset=offset)
        if self.allocator.device_memory:
            _device_copy(dst, src)
        else:
            dst[...] = src

    def read(self, offset: int, size: int) -> bytes:
        """Copy ``size`` bytes out of the buffer starting at byte ``offset``."""
        self._check_range(offset, size)
        src = np.frombuffer(self.view, dtype=np.uint8, count=size, offset=offset)
        if self.allocator.device_memory:
            out = np.empty(size, dtype=np.uint8)
            _device_copy(out, src)
            return out.tobytes()
        return src.tobytes()

    def zero(self, offset: int = 0, size: int | None = None) -> None:
        """Fill a byte range with zeros."""
        size = self.size - offset if size is None else size
        self._check_range(offset, size)
        dst = np.frombuffer(self.view, dtype=np.uint8, count=size, offset=offset)
        if self.allocator.device_memory:
            _device_zero(dst)
        else:
            dst.fill(0)

    def sync_for_device(self, offset: int = 0, size: int | None = None) -> None:
        """Make CPU writes visible to the GPU (cache clean + store barrier).

        The carveout is mapped uncached on boards and the simulator's memory is coherent, so this
        only notifies the allocator's observer (the simulator can check ordering in strict mode).
        """
        size = self.size - offset if size is None else size
        self._check_range(offset, size)
        if self.allocator.on_sync is not None:
            self.allocator.on_sync(self.phys + offset, size)

    def free(self) -> None:
        self.allocator.free(self)

    def _check_live(self) -> None:
        if self.freed:
            raise InvalidArgument(f"DMA buffer {self.name or hex(self.phys)} used after free")

    def _check_range(self, offset: int, size: int) -> None:
        self._check_live()
        if offset < 0 or size < 0 or offset + size > self.size:
            raise BadAddress(
                f"DMA buffer {self.name or hex(self.phys)}: range [{offset:#x}, +{size:#x}) outside "
                f"its {self.size:#x} bytes", offset=offset)


def _device_copy(dst: np.ndarray, src: np.ndarray) -> None:
    """Element-wise copy that never becomes a memcpy (safe on Device memory)."""
    np.bitwise_or(src, 0, out=dst)


def _device_zero(dst: np.ndarray) -> None:
    np.bitwise_and(dst, 0, out=dst)


class DmaAllocator:
    """First-fit allocator over a carveout ``[phys_base, phys_base + size)``.

    Allocations are page aligned (or more) and physically contiguous; freed ranges are coalesced
    and reused. Exhaustion raises :class:`OutOfMemory` and leaves the allocator unchanged.

    Args:
        phys_base: physical address of the carveout (page aligned).
        size: carveout size in bytes (multiple of the page size).
        backing: a writable buffer of at least ``size`` bytes mapping the carveout.
        device_memory: True when ``backing`` is a Device-nGnRnE mapping (UIO, /dev/mem).
        name: label used in messages.
    """

    def __init__(self, phys_base: int, size: int, backing: object, *, device_memory: bool = False,
                 name: str = "carveout", page_size: int = PAGE_SIZE) -> None:
        view = memoryview(backing).cast("B")  # type: ignore[arg-type]
        if phys_base % page_size or size % page_size or size <= 0:
            raise InvalidArgument(
                f"{name}: carveout {phys_base:#x}+{size:#x} is not page aligned ({page_size:#x})")
        if view.nbytes < size or view.readonly:
            raise InvalidArgument(f"{name}: backing buffer is read-only or smaller than {size:#x}")
        self.phys_base = phys_base
        self.size = size
        self.page_size = page_size
        self.device_memory = device_memory
        self.name = name
        self._view = view
        #: Free extents as sorted, non-adjacent (start_offset, length) pairs.
        self._free: list[tuple[int, int]] = [(0, size)]
        #: Live allocations by offset.
        self._live: dict[int, DmaBuffer] = {}
        self._live_starts: list[int] = []
        #: Optional observer called as on_sync(phys, size) by DmaBuffer.sync_for_device.
        self.on_sync: Callable[[int, int], None] | None = None
        self.closed = False

    # -- allocation ---------------------------------------------------------------------------

    def alloc(self, size: int, *, align: int | None = None, name: str = "", zero: bool = True) -> DmaBuffer:
        """Allocate ``size`` bytes (rounded up to whole pages), aligned to ``align`` bytes.

        Raises:
            InvalidArgument: size <= 0, or ``align`` not a power of two.
            OutOfMemory: no free extent is large enough (nothing is changed).
        """
        align = self.page_size if align is None else align
        if self.closed:
            raise DeviceNotFound(f"{self.name}: allocator is closed")
        if not isinstance(size, int) or size <= 0:
            raise InvalidArgument(f"{self.name}: cannot allocate {size!r} bytes")
        if align <= 0 or align & (align - 1) or align < self.page_size:
            raise InvalidArgument(
                f"{self.name}: alignment {align:#x} must be a power of two >= {self.page_size:#x}")
        size = _round_up(size, self.page_size)
        for i, (start, length) in enumerate(self._free):
            aligned = _round_up(self.phys_base + start, align) - self.phys_base
            waste = aligned - start
            if waste + size > length:
                continue
            self._take(i, start, length, aligned, size)
            buf = DmaBuffer(self.phys_base + aligned, size, self._view[aligned:aligned + size], self,
                            name=name)
            self._live[aligned] = buf
            bisect.insort(self._live_starts, aligned)
            if zero:
                buf.zero()
            return buf
        raise OutOfMemory(
            f"{self.name}: cannot allocate {size:#x} bytes aligned to {align:#x} "
            f"({self.free_bytes:#x} free, largest extent {self.largest_free:#x} of {self.size:#x})")

    def _take(self, index: int, start: int, length: int, aligned: int, size: int) -> None:
        pieces = []
        if aligned > start:
            pieces.append((start, aligned - start))
        tail = start + length - (aligned + size)
        if tail > 0:
            pieces.append((aligned + size, tail))
        self._free[index:index + 1] = pieces

    def free(self, buf: DmaBuffer) -> None:
        """Return ``buf`` to the carveout; adjacent free extents are merged."""
        offset = buf.phys - self.phys_base
        if buf.allocator is not self or self._live.get(offset) is not buf:
            raise InvalidArgument(
                f"{self.name}: buffer at {buf.phys:#x} is not a live allocation of this carveout")
        buf.freed = True
        del self._live[offset]
        self._live_starts.remove(offset)
        starts = [s for s, _ in self._free]
        i = bisect.bisect_left(starts, offset)
        self._free.insert(i, (offset, buf.size))
        self._coalesce(i)

    def _coalesce(self, i: int) -> None:
        if i + 1 < len(self._free):
            s, n = self._free[i]
            s2, n2 = self._free[i + 1]
            if s + n == s2:
                self._free[i:i + 2] = [(s, n + n2)]
        if i > 0:
            s0, n0 = self._free[i - 1]
            s, n = self._free[i]
            if s0 + n0 == s:
                self._free[i - 1:i + 1] = [(s0, n0 + n)]

    # -- queries -----------------------------------------------------------------------------

    def find(self, phys: int, size: int = 1) -> DmaBuffer | None:
        """The live allocation that wholly contains ``[phys, phys + size)``, or None.

        This is the allow-list check: the page-table core refuses to map any physical range for
        which this returns None.
        """
        if size <= 0:
            return None
        offset = phys - self.phys_base
        i = bisect.bisect_right(self._live_starts, offset) - 1
        if i < 0:
            return None
        buf = self._live[self._live_starts[i]]
        return buf if buf.contains(phys, size) else None

    def contains(self, phys: int, size: int = 1) -> bool:
        """True when ``[phys, phys+size)`` lies inside the carveout (allocated or not)."""
        return self.phys_base <= phys and phys + size <= self.phys_base + self.size

    def peek(self, phys: int, size: int) -> bytes:
        """Copy ``size`` bytes of the carveout at physical ``phys``, allocated or not (read-only).

        Used to walk page tables by physical address (``mali-uio pt``): TRANSTAB names a PA, and the
        tables may belong to another process's allocations. Safe on Device memory (element-wise).

        Raises:
            BadAddress: ``[phys, phys + size)`` is not inside the carveout (or the allocator is closed).
        """
        for label, v in (("phys", phys), ("size", size)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise BadAddress(f"{self.name}: peek {label} must be an integer, got {v!r}")
        if self.closed or size < 0 or not self.contains(phys, size):
            raise BadAddress(f"{self.name}: physical range [{phys:#x}, +{size:#x}) is outside the carveout "
                             f"{self.phys_base:#x}+{self.size:#x}", offset=phys)
        offset = phys - self.phys_base
        src = np.frombuffer(self._view, dtype=np.uint8, count=size, offset=offset)
        if self.device_memory:
            out = np.empty(size, dtype=np.uint8)
            _device_copy(out, src)
            return out.tobytes()
        return src.tobytes()

    def allocations(self) -> Iterator[DmaBuffer]:
        for start in self._live_starts:
            yield self._live[start]

    @property
    def used_bytes(self) -> int:
        return sum(b.size for b in self._live.values())

    @property
    def free_bytes(self) -> int:
        return sum(n for _, n in self._free)

    @property
    def largest_free(self) -> int:
        return max((n for _, n in self._free), default=0)

    def state(self) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...]]:
        """A hashable snapshot (free extents, live offsets) for all-or-nothing tests."""
        return tuple(self._free), tuple(self._live_starts)

    def close(self) -> None:
        """Stop allocating and drop this allocator's export of the backing buffer.

        Releasing the view lets a backend unmap the carveout (``mmap.close`` refuses while any
        export is alive). Buffers still held by callers keep their own views.
        """
        self.closed = True
        self._view.release()
