"""Tiler heaps: create/destroy rules, the context pool and chunk-list layout, growth on tiler OOM and
the null answer (ENOMEM), destroy returning every byte.

Expected values (upstream panthor, cs-isa-and-uapi.md §3.14, §6): chunk_size a multiple of 4 KiB in
[128 KiB, 8 MiB]; 1 <= initial_chunk_count <= max_chunks; 128 heaps per VM (EBUSY beyond), ids 0..127,
handle ``vm_id << 16 | id``; context stride ALIGN(32, L2 line) = 64 B on the G610 (L2_FEATURES
0x07120306: log2 line size 6) in an 8 KiB pool; chunk header ``next = (va & ~0xFFF) | (size >> 12)``,
0 ends the list, the first chunk handed out is the last allocated; the OOM answer is an encoded chunk or
0 when max_chunks is reached or more passes than target_in_flight are in flight. CS input offsets
heap_start 0x20 / heap_end 0x28 (csf-firmware-and-interfaces.md §6.2).
"""

from __future__ import annotations

import errno
import struct

import pytest
from test_csf_sched_rig import STREAM_VA, Rig, raises_errno, rig

from uio_driver.csf.builder import CsBuilder
from uio_driver.csf.heap import HeapPool, TilerHeap
from uio_driver.csf.isa import CsHeapOperation
from uio_driver.mmu import VM

KIB = 1 << 10
XN = 3 << 53


def _walk(r: Rig, vm: VM, first: int, size: int) -> list[int]:
    """Follow the chunk list from ``first`` through the headers, decoding ``next`` by hand."""
    out, va = [], first
    while va:
        out.append(va)
        pa = vm.translate(va).pa
        (nxt,) = struct.unpack("<Q", r.dev.mmu.allocator.peek(pa, 8))
        if nxt:
            assert nxt & 0xFFF == size >> 12
        va = nxt & ~0xFFF
    return out


def _tiling_stream(r: Rig, vm: VM, ctx_va: int, passes: int = 1) -> tuple[int, int]:
    def build(cs: CsBuilder) -> None:
        cs.move48(40, STREAM_VA + 0x7000)  # tiler context pointer: readable memory (§1.5)
        cs.move48(2, ctx_va)
        cs.heap_set(2)
        for _ in range(passes):
            cs.heap_operation(CsHeapOperation.VERTEX_TILER_STARTED)
            cs.run_tiling()
            cs.wait_all()
            cs.heap_operation(CsHeapOperation.VERTEX_TILER_COMPLETED)
            cs.wait_all()

    return r.stream(vm, build, offset=0x2000)


def _cs_heap_input(r: Rig, slot: int, cs: int = 0) -> tuple[int, int]:
    va = r.mcu.layout().groups[slot].streams[cs].input_va
    start, end = struct.unpack("<QQ", r.mcu.read(va + 0x20, 16))
    return start, end


def test_heap_layout_context_pool_and_chunk_list() -> None:
    with rig() as r:
        vm = r.vm()
        heap = r.dev.create_heap(vm, 3, 128 * KIB, 8, 2)
        second = r.dev.create_heap(vm, 1, 132 * KIB, 1, 0)  # not a power of two: fine upstream
        pool = r.sched.heap_pools[vm.id]
        assert heap.handle == vm.id << 16 | 0 and second.handle == vm.id << 16 | 1
        assert pool.ctx.size == 8192 and pool.stride == 64
        assert second.ctx_va == heap.ctx_va + 64 and heap.ctx_va == pool.ctx.va
        assert vm.layout.region_of(pool.ctx.va, 8192) == "kernel"
        chain = _walk(r, vm, heap.first_chunk_va, 128 * KIB)
        assert chain == [bo.va for bo in reversed(heap.chunks)]  # last allocated first, first allocated last
        for bo in heap.chunks:
            assert bo.buffer.read(8, 56) == bytes(56)  # unknown[14] MBZ
            d = vm.translate(bo.va).descriptor
            assert d & XN == XN and vm.layout.region_of(bo.va, 128 * KIB) == "kernel"
        assert _walk(r, vm, second.first_chunk_va, 132 * KIB) == [second.chunks[0].va]
        assert pool.ctx.buffer.read(0, 128) == bytes(128)


@pytest.mark.parametrize(("args", "word"), [
    ((0, 128 * KIB, 4, 0), "initial_chunk_count"),
    ((5, 128 * KIB, 4, 0), "exceeds max_chunks"),
    ((1, 124 * KIB, 4, 0), "chunk_size"),
    ((1, 8 * 1024 * KIB + 4 * KIB, 4, 0), "chunk_size"),
    ((1, 128 * KIB + 100, 4, 0), "chunk_size"),
    ((1, 1 << 32, 4, 0), "chunk_size"),
])
def test_heap_create_refuses_bad_parameters_with_einval(args: tuple[int, int, int, int], word: str) -> None:
    with rig() as r:
        vm = r.vm()
        before = r.dev.mmu.allocator.state()
        with raises_errno(errno.EINVAL) as info:
            r.dev.create_heap(vm, *args)
        assert word in str(info.value)
        assert r.dev.mmu.allocator.state() == before and vm.id not in r.sched.heap_pools


def test_heap_limits_and_destroy_errors() -> None:
    with rig() as r:
        vm, other = r.vm(), r.vm()
        big = r.dev.create_heap(vm, 1, 8 * 1024 * KIB, 1, 0)  # 8 MiB is the largest chunk
        assert big.chunk_count == 1
        r.dev.destroy_heap(big.handle)
        heaps = [r.dev.create_heap(vm, 1, 128 * KIB, 1, 0) for _ in range(128)]
        assert [h.id for h in heaps] == list(range(128))
        with raises_errno(errno.EBUSY):
            r.dev.create_heap(vm, 1, 128 * KIB, 1, 0)
        with raises_errno(errno.ENOENT):
            r.dev.destroy_heap(other.id << 16)  # a VM that never had a heap
        with raises_errno(errno.EINVAL):
            r.dev.destroy_heap(0x7F << 16)  # unknown VM
        r.dev.destroy_heap(heaps[5].handle)
        with raises_errno(errno.EINVAL):
            r.dev.destroy_heap(heaps[5].handle)  # already gone
        assert r.dev.create_heap(vm, 1, 128 * KIB, 1, 0).id == 5  # the lowest free id is reused


def test_destroy_returns_all_memory() -> None:
    with rig() as r:
        alloc = r.dev.mmu.allocator
        vm = r.vm()
        r.dev.create_heap(vm, 1, 128 * KIB, 1, 0)  # the pool exists from here on
        before = alloc.state(), r.dev.kmem.space(vm).state()
        heap = r.dev.create_heap(vm, 4, 512 * KIB, 16, 2)
        assert alloc.state() != before[0]
        r.dev.destroy_heap(heap.handle)
        assert (alloc.state(), r.dev.kmem.space(vm).state()) == before
        # A VM's pool goes with the VM: creating and destroying both leaves the carveout as it was.
        start = alloc.state()
        vm2 = r.dev.create_vm()
        r.dev.create_heap(vm2, 2, 256 * KIB, 4, 1)
        r.dev.destroy_vm(vm2)
        assert alloc.state() == start


def test_heap_grows_on_tiler_oom() -> None:
    with rig(tiler_chunk_demand=1, heap_initial_chunks=1) as r:
        vm = r.vm()
        heap = r.dev.create_heap(vm, 1, 128 * KIB, 4, 4)
        group = r.group(vm)
        job = r.submit(group, _tiling_stream(r, vm, heap.ctx_va, passes=3))
        r.wait(job)
        assert not job.failed and heap.chunk_count == 3 and heap.grown == 2
        assert r.sched.events.counts["TILER_OOM"] == 2
        first, second, third = (bo.va for bo in heap.chunks)
        assert _walk(r, vm, heap.first_chunk_va, 128 * KIB) == [first]  # the initial list is unchanged
        # The driver answered with encoded chunks; the firmware linked the grown ones itself.
        assert _cs_heap_input(r, group.csg_slot or 0) == ((third | 0x20),) * 2
        (link,) = struct.unpack("<Q", heap.chunks[2].buffer.read(0, 8))
        assert link == second | 0x20
        assert int(group.state().flags) == 0


@pytest.mark.parametrize(("max_chunks", "target", "grows"), [(1, 4, False), (4, 0, False), (4, 1, True)])
def test_oom_answer_is_zero_at_max_chunks_or_too_many_passes(max_chunks: int, target: int,
                                                             grows: bool) -> None:
    with rig(tiler_chunk_demand=2, heap_initial_chunks=1) as r:
        vm = r.vm()
        heap = r.dev.create_heap(vm, 1, 128 * KIB, max_chunks, target)
        group = r.group(vm)
        job = r.submit(group, _tiling_stream(r, vm, heap.ctx_va, passes=1))
        r.wait(job)
        start, end = _cs_heap_input(r, group.csg_slot or 0)
        if grows:
            assert not job.failed and heap.chunk_count == 2 and start == end == heap.chunks[1].va | 0x20
        else:
            # ENOMEM is answered with 0 (never fatal, §6.4); the simulated tiler, with no fragment work
            # pending and no exception handler, then gives the pass up with a recoverable fault.
            assert (start, end) == (0, 0) and heap.chunk_count == 1
            assert job.error == errno.EINVAL and "CS_RESOURCE_TERMINATED" in (job.fault or "")
            state = r.dev.group_state(group)
            assert (int(state.flags), state.fatal_queues) == (0, 0)
            r.wait(r.submit(group, r.nop_stream(vm)))


def test_oom_on_an_unknown_heap_context_is_fatal_for_the_queue() -> None:
    with rig(tiler_chunk_demand=1, heap_initial_chunks=0) as r:
        vm = r.vm()
        heap = r.dev.create_heap(vm, 1, 128 * KIB, 4, 4)
        group = r.group(vm)
        bogus = heap.ctx_va + 5 * 64  # a context slot of the pool no heap owns
        job = r.submit(group, _tiling_stream(r, vm, bogus))
        r.wait(job)
        assert job.error == errno.EINVAL
        state = r.dev.group_state(group)
        assert (int(state.flags), state.fatal_queues) == (2, 1)
        assert heap.chunk_count == 1


def test_handle_oom_rejects_inconsistent_counters() -> None:
    with rig() as r:
        vm = r.vm()
        heap = r.dev.create_heap(vm, 1, 128 * KIB, 4, 4)
        pool: HeapPool = r.sched.heap_pools[vm.id]
        for vt_start, vt_end, frag_end in ((2, 1, 3), (1, 1, 0), (1, 2, 0)):
            with raises_errno(errno.EINVAL):
                pool.handle_oom(heap.ctx_va, vt_start, vt_end, frag_end)
        with raises_errno(errno.EINVAL):
            pool.handle_oom(heap.ctx_va + 8, 2, 1, 0)  # not on a context boundary
        assert pool.handle_oom(heap.ctx_va, 2, 1, 0) == heap.chunks[-1].va | 0x20
        assert isinstance(heap, TilerHeap) and heap.grown == 1
