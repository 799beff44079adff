"""Simulated physical RAM, addressed by physical address from the GPU side.

The DMA carveout of :class:`~uio_driver.sim.platform.SimPlatform` lives here: the driver writes it
through :class:`~uio_driver.platform.dma.DmaBuffer` views, and the simulated GPU (MMU walker, MCU)
reads the same bytes by physical address through :class:`SimMemory`.

Each RAM range is an anonymous private ``mmap``: the kernel hands out zero pages on first touch, so
a 256 MiB carveout costs nothing until it is used. Accesses are little-endian (the GPU and the
RK3588 CPUs are little-endian). An access that does not fall entirely inside one RAM range is a bus
error (:class:`SimBusError`); the caller turns it into the hardware reaction (an MMU bus fault,
an MCU fault).
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass

import numpy as np

from ..errors import BadAddress, InvalidArgument

PAGE_SIZE = 4096
#: MMU_FEATURES.PA_BITS of the G610 is 40 (reference §1.3, §6): no physical address reaches 2^40.
PA_LIMIT = 1 << 40

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class SimBusError(BadAddress):
    """A GPU-side access hit no simulated RAM (the bus would return an error response)."""


@dataclass(eq=False)
class RamRange:
    """One contiguous range of simulated RAM."""

    base: int
    size: int
    name: str
    buffer: mmap.mmap
    view: memoryview

    @property
    def end(self) -> int:
        return self.base + self.size


class SimMemory:
    """Physical memory of the simulated system: a set of non-overlapping RAM ranges."""

    def __init__(self) -> None:
        self._ranges: list[RamRange] = []
        self.closed = False

    # -- configuration -------------------------------------------------------------------------

    def add_ram(self, base: int, size: int, name: str = "ram") -> RamRange:
        """Add ``size`` bytes of zeroed RAM at physical ``base`` (both page aligned).

        Raises:
            InvalidArgument: misaligned, empty, beyond 40-bit PA, or overlapping another range.
        """
        for label, v in (("base", base), ("size", size)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise InvalidArgument(f"sim RAM {name}: {label} must be an integer, got {v!r}")
        if base < 0 or size <= 0 or base % PAGE_SIZE or size % PAGE_SIZE:
            raise InvalidArgument(
                f"sim RAM {name}: {base:#x}+{size:#x} must be a non-empty, page-aligned range")
        if base + size > PA_LIMIT:
            raise InvalidArgument(
                f"sim RAM {name}: {base:#x}+{size:#x} exceeds the G610's 40-bit physical address space")
        for r in self._ranges:
            if base < r.end and r.base < base + size:
                raise InvalidArgument(
                    f"sim RAM {name}: {base:#x}+{size:#x} overlaps {r.name} at {r.base:#x}+{r.size:#x}")
        buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        ram = RamRange(base, size, name, buf, memoryview(buf))
        self._ranges.append(ram)
        self._ranges.sort(key=lambda r: r.base)
        return ram

    @property
    def ranges(self) -> tuple[RamRange, ...]:
        return tuple(self._ranges)

    # -- address decoding ----------------------------------------------------------------------

    def locate(self, pa: int, size: int = 1) -> tuple[RamRange, int]:
        """The RAM range holding ``[pa, pa + size)`` and the offset of ``pa`` in it.

        Raises:
            SimBusError: the range is not entirely inside one RAM range (or memory is closed).
        """
        if not self.closed and size > 0:
            for r in self._ranges:
                if r.base <= pa and pa + size <= r.end:
                    return r, pa - r.base
        raise SimBusError(f"sim memory: bus error at physical {pa:#x} (+{size:#x}): no RAM there",
                          offset=pa)

    def contains(self, pa: int, size: int = 1) -> bool:
        """True when ``[pa, pa + size)`` is RAM."""
        try:
            self.locate(pa, size)
        except SimBusError:
            return False
        return True

    def view(self, pa: int, size: int) -> memoryview:
        """A writable byte view of ``[pa, pa + size)`` (no copy)."""
        ram, off = self.locate(pa, size)
        return ram.view[off:off + size]

    def array(self, pa: int, count: int, dtype: np.typing.DTypeLike = np.uint64) -> np.ndarray:
        """A little-endian NumPy view of ``count`` elements at ``pa`` (bulk reads, e.g. a table page)."""
        dt = np.dtype(dtype).newbyteorder("<")
        if pa % dt.itemsize:
            raise BadAddress(f"sim memory: {dt} array at {pa:#x} is not {dt.itemsize}-byte aligned",
                             offset=pa)
        ram, off = self.locate(pa, count * dt.itemsize)
        return np.frombuffer(ram.view, dtype=dt, count=count, offset=off)

    # -- scalar and bulk access ------------------------------------------------------------------

    def read32(self, pa: int) -> int:
        ram, off = self._aligned(pa, 4)
        return int(_U32.unpack_from(ram.view, off)[0])

    def read64(self, pa: int) -> int:
        ram, off = self._aligned(pa, 8)
        return int(_U64.unpack_from(ram.view, off)[0])

    def write32(self, pa: int, value: int) -> None:
        _check_value(value, 32, pa)
        ram, off = self._aligned(pa, 4)
        _U32.pack_into(ram.view, off, value)

    def write64(self, pa: int, value: int) -> None:
        _check_value(value, 64, pa)
        ram, off = self._aligned(pa, 8)
        _U64.pack_into(ram.view, off, value)

    def read(self, pa: int, size: int) -> bytes:
        """Copy ``size`` bytes starting at ``pa``."""
        if size < 0:
            raise InvalidArgument(f"sim memory: negative read size {size} at {pa:#x}")
        if size == 0:
            return b""
        return bytes(self.view(pa, size))

    def write(self, pa: int, data: bytes | bytearray | memoryview) -> None:
        """Copy ``data`` to ``pa`` (all or nothing: a bus error writes nothing)."""
        src = memoryview(data).cast("B")
        if src.nbytes:
            self.view(pa, src.nbytes)[:] = src

    def _aligned(self, pa: int, width: int) -> tuple[RamRange, int]:
        if isinstance(pa, bool) or not isinstance(pa, int) or pa % width:
            raise BadAddress(f"sim memory: {width * 8}-bit access at {pa!r} is not naturally aligned",
                             offset=pa if isinstance(pa, int) else None)
        return self.locate(pa, width)

    # -- life cycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Drop the RAM. Views still held elsewhere (DMA buffers) keep their pages alive."""
        if self.closed:
            return
        self.closed = True
        for r in self._ranges:
            r.view.release()
            try:
                r.buffer.close()
            except BufferError:
                # A DmaBuffer view still exports the mapping; it is unmapped when that view dies.
                pass


def _check_value(value: int, bits: int, pa: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise InvalidArgument(f"sim memory: value {value!r} at {pa:#x} does not fit {bits} bits",
                              offset=pa)
