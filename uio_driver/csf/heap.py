"""Tiler heaps: the per-VM heap-context pool, heap chunk lists and growth on tiler out-of-memory.

Facts (upstream panthor rules): cs-isa-and-uapi.md §3.14 (TILER_HEAP_CREATE/DESTROY parameters and
errnos), §6.1 (chunk_size a multiple of 4 KiB in 128 KiB..8 MiB, 1 <= initial_chunk_count <=
max_chunks, target_in_flight not validated, 128 heaps per VM with ids 0..127), §6.2 (the context pool:
``ALIGN(128 × stride, 4096)`` bytes with ``stride = ALIGN(32, L2 line size)`` = 64 B on the G610, kernel
VA range, no-exec, cached; chunk header ``next = (next_va & ~0xFFF) | (chunk_size >> 12)``, 0 = end;
chunks allocated one by one and inserted at the list head, so the first chunk handed out is the last
allocated and the chain ends at the first; chunks added by growth have ``next = 0``) and §6.4 (the
TILER_OOM answer: an encoded chunk, or 0 = ENOMEM when ``max_chunks`` is reached or more render passes
than ``target_in_flight`` are in flight; other errors are fatal for the queue).

The heap context itself is an opaque firmware structure: the driver only zeroes its slot.
"""

from __future__ import annotations

import ctypes
import errno as _errno
from dataclasses import dataclass, field
from typing import Any

from ..errors import Busy, InvalidArgument, MaliError, OutOfMemory
from ..mmu import VM, Prot
from .kmem import PAGE_SIZE, KernelBo, KernelMemory, align_up

#: panthor HEAP_CONTEXT_SIZE and MAX_HEAPS_PER_POOL (§6.2, §6.1).
HEAP_CONTEXT_SIZE = 32
MAX_HEAPS_PER_POOL = 128
CHUNK_SIZE_MIN = 128 << 10
CHUNK_SIZE_MAX = 8 << 20
#: Heap objects are mapped no-exec and cached (§6.2).
HEAP_FLAGS = Prot.NOEXEC
_U32 = 0xFFFFFFFF


class ChunkHeader(ctypes.LittleEndianStructure):
    """``struct panthor_heap_chunk_header`` (§6.2): the first 64 bytes of every chunk."""

    _pack_ = 8
    _fields_ = [("next", ctypes.c_uint64), ("unknown", ctypes.c_uint32 * 14)]


CHUNK_HEADER_SIZE = ctypes.sizeof(ChunkHeader)


def encode_chunk(va: int, chunk_size: int) -> int:
    """The chunk-header ``next`` / TILER_OOM answer for a chunk: address bits 63:12, size in 4 KiB units
    in bits 11:0."""
    return (va & ~0xFFF) | (chunk_size >> 12)


def heap_context_stride(l2_line_size: int) -> int:
    """``ALIGN(HEAP_CONTEXT_SIZE, L2 line size)`` (64 on the G610's 64-byte lines)."""
    return align_up(HEAP_CONTEXT_SIZE, max(l2_line_size, 1))


def _u32(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _U32:
        raise InvalidArgument(f"tiler heap {name} {value!r} is not a u32")
    return value


def check_heap_args(initial_chunk_count: object, chunk_size: object, max_chunks: object,
                    target_in_flight: object) -> tuple[int, int, int, int]:
    """TILER_HEAP_CREATE checks in panthor's order (upstream, §6.1); every refusal is EINVAL."""
    initial, size = _u32("initial_chunk_count", initial_chunk_count), _u32("chunk_size", chunk_size)
    maximum, target = _u32("max_chunks", max_chunks), _u32("target_in_flight", target_in_flight)
    if initial == 0:
        raise InvalidArgument("tiler heap initial_chunk_count must be at least 1")
    if initial > maximum:
        raise InvalidArgument(f"tiler heap initial_chunk_count {initial} exceeds max_chunks {maximum}")
    if size % PAGE_SIZE or not CHUNK_SIZE_MIN <= size <= CHUNK_SIZE_MAX:
        raise InvalidArgument(f"tiler heap chunk_size {size:#x} must be a multiple of 4 KiB in "
                              f"[{CHUNK_SIZE_MIN:#x}, {CHUNK_SIZE_MAX:#x}]", value=size)
    return initial, size, maximum, target


@dataclass(eq=False)
class TilerHeap:
    """One tiler heap of a pool.

    Attributes:
        id: 0..127 in its pool. ctx_va: its heap context (``tiler_heap_ctx_gpu_va``).
        chunks: its chunks in allocation order. first_chunk_va: ``first_heap_chunk_gpu_va``.
        grown: chunks added by TILER_OOM answers.
    """

    pool: HeapPool = field(repr=False)
    id: int
    chunk_size: int
    max_chunks: int
    target_in_flight: int
    ctx_va: int
    chunks: list[KernelBo] = field(default_factory=list, repr=False)
    first_chunk_va: int = 0
    grown: int = 0

    @property
    def handle(self) -> int:
        """TILER_HEAP_CREATE's handle: ``(vm_id << 16) | heap_id``."""
        return self.pool.vm.id << 16 | self.id

    @property
    def chunk_count(self) -> int:
        return len(self.chunks)

    def chunk_next(self, bo: KernelBo) -> int:
        """The ``next`` word of a chunk's header, read from memory."""
        return int(bo.u64[ChunkHeader.next.offset // 8])

    def _new_chunk(self, next_value: int) -> KernelBo:
        bo = self.pool.kmem.alloc(self.pool.vm, self.chunk_size, flags=HEAP_FLAGS,
                                  name=f"heap {self.handle:#x} chunk {len(self.chunks)}")
        bo.u64[ChunkHeader.next.offset // 8] = next_value  # the rest of the header is zero (MBZ)
        bo.buffer.sync_for_device(0, CHUNK_HEADER_SIZE)
        return bo

    def grow(self, renderpasses_in_flight: int) -> int:
        """``panthor_heap_grow``: a new chunk (``next = 0``) and its encoded address.

        Raises:
            OutOfMemory: more passes in flight than ``target_in_flight``, ``max_chunks`` reached, or no
                memory — the OOM answer is then 0 (§6.4).
        """
        if renderpasses_in_flight > self.target_in_flight:
            raise OutOfMemory(f"heap {self.handle:#x}: {renderpasses_in_flight} render passes in flight, "
                              f"more than target_in_flight {self.target_in_flight}")
        if self.chunk_count >= self.max_chunks:
            raise OutOfMemory(f"heap {self.handle:#x}: max_chunks {self.max_chunks} reached")
        bo = self._new_chunk(0)
        self.chunks.append(bo)
        self.grown += 1
        return encode_chunk(bo.va, self.chunk_size)

    def release(self) -> None:
        for bo in reversed(self.chunks):
            bo.release()
        self.chunks.clear()

    def to_dict(self) -> dict[str, Any]:
        return {"handle": self.handle, "id": self.id, "chunk_size": self.chunk_size,
                "max_chunks": self.max_chunks, "target_in_flight": self.target_in_flight,
                "tiler_heap_ctx_gpu_va": self.ctx_va, "first_heap_chunk_gpu_va": self.first_chunk_va,
                "chunks": [bo.va for bo in self.chunks], "grown": self.grown}


class HeapPool:
    """The heap-context pool of one VM (created with its first heap, destroyed with the VM).

    Args:
        kmem: kernel-object memory. vm: the user VM. l2_line_size: bytes per L2 line (stride rule).

    Raises:
        OutOfMemory: no memory for the context buffer.
    """

    def __init__(self, kmem: KernelMemory, vm: VM, l2_line_size: int) -> None:
        self.kmem, self.vm = kmem, vm
        self.stride = heap_context_stride(l2_line_size)
        self.ctx = kmem.alloc(vm, align_up(MAX_HEAPS_PER_POOL * self.stride, PAGE_SIZE), flags=HEAP_FLAGS,
                              name=f"{vm.name} heap contexts")
        self.heaps: dict[int, TilerHeap] = {}

    def create(self, initial_chunk_count: int, chunk_size: int, max_chunks: int,
               target_in_flight: int) -> TilerHeap:
        """TILER_HEAP_CREATE on this pool (arguments checked by :func:`check_heap_args` first).

        Raises:
            InvalidArgument: a bad argument. Busy: 128 heaps already (EBUSY).
            OutOfMemory: chunk allocation failed (nothing stays allocated).
        """
        initial, size, maximum, target = check_heap_args(initial_chunk_count, chunk_size, max_chunks,
                                                         target_in_flight)
        heap_id = next((i for i in range(MAX_HEAPS_PER_POOL) if i not in self.heaps), None)
        if heap_id is None:
            raise Busy(f"{self.vm.name} already has {MAX_HEAPS_PER_POOL} tiler heaps")
        offset = heap_id * self.stride
        heap = TilerHeap(self, heap_id, size, maximum, target, self.ctx.va + offset)
        try:
            head = 0
            for _ in range(initial):  # each new chunk goes to the list head (§6.2)
                bo = heap._new_chunk(encode_chunk(heap.chunks[-1].va, size) if heap.chunks else 0)
                heap.chunks.append(bo)
                head = bo.va
        except MaliError:
            heap.release()
            raise
        self.ctx.buffer.zero(offset, self.stride)
        self.ctx.buffer.sync_for_device(offset, self.stride)
        heap.first_chunk_va = head
        self.heaps[heap_id] = heap
        return heap

    def get(self, heap_id: int) -> TilerHeap:
        heap = self.heaps.get(heap_id)
        if heap is None:
            raise InvalidArgument(f"{self.vm.name} has no tiler heap {heap_id!r}")
        return heap

    def destroy(self, heap_id: int) -> None:
        """TILER_HEAP_DESTROY: free the heap's chunks (its context slot becomes free)."""
        heap = self.get(heap_id)
        del self.heaps[heap_id]
        heap.release()

    def heap_at(self, ctx_va: int) -> TilerHeap:
        """The heap whose context is at ``ctx_va`` (``(va - pool_va) / stride``), else EINVAL."""
        offset = ctx_va - self.ctx.va
        if offset < 0 or offset % self.stride or offset // self.stride >= MAX_HEAPS_PER_POOL:
            raise InvalidArgument(f"heap context VA {ctx_va:#x} is not a context of {self.vm.name}'s pool "
                                  f"at {self.ctx.va:#x}", value=ctx_va)
        return self.get(offset // self.stride)

    def handle_oom(self, heap_va: int, vt_start: int, vt_end: int, frag_end: int) -> int:
        """Answer a TILER_OOM (§6.4 steps 2-3): the encoded new chunk, or 0 for ENOMEM.

        Raises:
            InvalidArgument: inconsistent counters (``frag_end > vt_end`` or ``vt_end >= vt_start``) or an
                unknown heap context — fatal for the queue.
        """
        if frag_end > vt_end or vt_end >= vt_start:
            raise InvalidArgument(f"tiler OOM with inconsistent counters vt_start {vt_start} vt_end {vt_end} "
                                  f"frag_end {frag_end}")
        heap = self.heap_at(heap_va)
        try:
            return heap.grow((vt_start - frag_end) & _U32)
        except OutOfMemory:
            return 0

    def close(self) -> None:
        """Free every heap and the context buffer."""
        for heap in list(self.heaps.values()):
            heap.release()
        self.heaps.clear()
        self.ctx.release()

    def to_dict(self) -> dict[str, Any]:
        return {"vm": self.vm.id, "ctx_va": self.ctx.va, "stride": self.stride,
                "heaps": [h.to_dict() for h in self.heaps.values()]}


#: TILER_HEAP_DESTROY on a VM that never had a heap: ENOENT upstream (§3.14).
ENOENT = _errno.ENOENT
