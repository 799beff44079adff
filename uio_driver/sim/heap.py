"""The simulated tiler heap: a heap context in GPU memory and the tiler out-of-memory (OOM) decision.

Facts: ``cs-isa-and-uapi.md`` §6 (heap context 32 bytes in a 64-byte slot, chunk header, the chunk
``next`` encoding ``(va & ~0xFFF) | (size >> 12)``, the OOM protocol) and §1.4 (HEAP_SET,
HEAP_OPERATION, FINISH_FRAGMENT); ``csf-firmware-and-interfaces.md`` §6.3 (heap_* output fields),
§7.7 and §9.6.

The heap-context layout is firmware-private ("opaque FW structure", §6.2): the reference only asks
that a zeroed context mean "an empty heap whose chunk list starts at the chunk userspace supplied".
The model therefore defines its own 32 bytes (:class:`HeapContext`) **[model choice]**:

* three pass counters — ``vt_start``, ``vt_end``, ``frag_end`` — bumped by HEAP_OPERATION 0/1/3
  and FINISH_FRAGMENT bit 0; they are what the firmware reports on an OOM (§6.4 step 1);
* ``chunks_in_use`` and ``chunks_granted``: the tiler's chunk accounting. The chunks userspace
  supplied at heap creation are not visible to the firmware model (they live in the tiler
  descriptor, which the simulator does not parse), so their number is ``McuConfig.heap_initial_chunks``;
* ``last_chunk``: the most recent chunk the host granted, in the chunk-header encoding.

Tiler memory demand is modelled simply: each tiling pass (RUN_TILING, and RUN_IDVS with its malloc
bit) needs ``McuConfig.tiler_chunk_demand`` chunks (0 = tiling never runs out of memory). When the
context cannot provide them the stream raises TILER_OOM. A granted chunk (CS input ``heap_start``)
is linked to the previous grant by writing its header ``next`` (the firmware links chunks added by
growth itself, §6.2). FINISH_FRAGMENT returns one pass's demand to the heap.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

u32 = ctypes.c_uint32
u64 = ctypes.c_uint64

#: Bytes of a heap context the firmware uses (panthor HEAP_CONTEXT_SIZE, kbase HEAP_CTX_SIZE, §6.2).
HEAP_CONTEXT_SIZE = 32
#: Chunk header: u64 next at offset 0 (panthor_heap_chunk_header, §6.2).
CHUNK_NEXT_OFFSET = 0
CHUNK_ADDR_MASK = ~0xFFF & ((1 << 64) - 1)
CHUNK_SIZE_MASK = 0xFFF


class HeapContext(ctypes.LittleEndianStructure):
    """The model's 32-byte heap context (module docstring: a model layout, zero = empty heap)."""

    _fields_ = [("vt_start", u32), ("vt_end", u32), ("frag_end", u32), ("chunks_in_use", u32),
                ("last_chunk", u64), ("chunks_granted", u32), ("_reserved", u32)]


@dataclass(frozen=True)
class Chunk:
    """A chunk as encoded in a header ``next`` word or CS input ``heap_start``: VA and size."""

    va: int
    size: int

    @classmethod
    def decode(cls, word: int) -> Chunk:
        """``(va & ~0xFFF) | (size >> 12)`` (§6.2) → VA and size in bytes."""
        return cls(word & CHUNK_ADDR_MASK, (word & CHUNK_SIZE_MASK) << 12)


def available(ctx: HeapContext, initial_chunks: int) -> int:
    """Chunks the heap can still hand to the tiler."""
    return max(0, initial_chunks + ctx.chunks_granted - ctx.chunks_in_use)


def claim(ctx: HeapContext, demand: int, initial_chunks: int) -> bool:
    """Take ``demand`` chunks for a tiling pass; False (nothing taken) when the heap is short."""
    if demand <= 0:
        return True
    if available(ctx, initial_chunks) < demand:
        return False
    ctx.chunks_in_use += demand
    return True


def release(ctx: HeapContext, demand: int) -> None:
    """FINISH_FRAGMENT: the chunks of one render pass go back to the heap."""
    ctx.chunks_in_use -= min(ctx.chunks_in_use, max(demand, 0))


def operation(ctx: HeapContext, op: int) -> bool:
    """HEAP_OPERATION ``op`` (0 vertex/tiler started, 1 completed, 3 fragment completed, §1.3).

    Returns:
        False for an undefined operation (2), which changes nothing.
    """
    if op == 0:
        ctx.vt_start = (ctx.vt_start + 1) & 0xFFFFFFFF
    elif op == 1:
        ctx.vt_end = (ctx.vt_end + 1) & 0xFFFFFFFF
    elif op == 3:
        ctx.frag_end = (ctx.frag_end + 1) & 0xFFFFFFFF
    else:
        return False
    return True


def fragment_pending(ctx: HeapContext) -> bool:
    """Completed tiling passes whose fragment work has not finished (they will return chunks)."""
    return ctx.vt_end > ctx.frag_end


def grant(ctx: HeapContext, chunk_word: int) -> int:
    """Record the chunk the host answered an OOM with; returns the ``next`` word for its header."""
    previous = ctx.last_chunk
    ctx.last_chunk = chunk_word
    ctx.chunks_granted = (ctx.chunks_granted + 1) & 0xFFFFFFFF
    return previous
