"""Random map/unmap sequences against a simple model (hypothesis RuleBasedStateMachine).

The model is a dict ``{va: (size, pa, prot)}`` of disjoint intervals, updated by plain interval
arithmetic. After every step the page table must translate probe addresses exactly as the model
says, dump the same coverage, keep no empty table linked, and account for every table page. VAs
cluster around multiples of 512 MiB and PAs around 1 GiB / 2 MiB boundaries, so 1 GiB and 2 MiB
blocks, their splits and table freeing all happen often.
"""

from __future__ import annotations

import errno
import mmap

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from uio_driver.errors import BadAddress, InvalidArgument
from uio_driver.mmu import SZ_1G, SZ_2M, PageTable, Prot
from uio_driver.mmu.pte import DescriptorKind, descriptor_kind
from uio_driver.platform.dma import DmaAllocator

K4 = 0x1000
WINDOW = 8 << 30

vas = st.builds(lambda base, blocks, pages: max(0, base * (512 << 20) + blocks * SZ_2M + pages * K4),
                st.integers(0, 15), st.integers(0, 3), st.sampled_from([0, 0, 0, 1, -1, 2, 5, -3]))
sizes = st.one_of(st.integers(1, 24).map(lambda n: n * K4),
                  st.builds(lambda n, p: n * SZ_2M + p * K4, st.integers(1, 3), st.integers(0, 2)),
                  st.sampled_from([SZ_1G, SZ_1G + SZ_2M + 2 * K4, 513 * SZ_2M]))
offsets = st.sampled_from([0, K4, SZ_2M, SZ_2M + K4, 3 * SZ_2M, 512 << 20])
prots = st.sampled_from([Prot.NONE, Prot.READONLY, Prot.NOEXEC, Prot.UNCACHED, Prot.READONLY | Prot.NOEXEC])
max_blocks = st.sampled_from([None, None, K4, SZ_2M])


def coalesce(ranges: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Merge (va, size, pa, prot) runs that continue each other in VA and PA with equal prot."""
    out: list[list[int]] = []
    for va, size, pa, prot in sorted(ranges):
        if out and out[-1][0] + out[-1][1] == va and out[-1][2] + out[-1][1] == pa and out[-1][3] == prot:
            out[-1][1] += size
        else:
            out.append([va, size, pa, prot])
    return [tuple(r) for r in out]  # type: ignore[misc]


class PageTableMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        size = 4 << 30
        self.mm = mmap.mmap(-1, size)  # lazily committed: only touched table pages cost memory
        self.alloc = DmaAllocator(0x40000000, size, self.mm, name="model carveout")
        self.buffers = [self.alloc.alloc(SZ_1G, align=SZ_1G, zero=False),
                        self.alloc.alloc(8 << 20, align=SZ_2M, zero=False),
                        self.alloc.alloc(0x10000, zero=False)]
        self.pt = PageTable(self.alloc)
        self.model: dict[int, tuple[int, int, int]] = {}

    def teardown(self) -> None:
        self.pt.destroy()
        for buf in self.buffers:
            buf.free()
        self.alloc.close()
        del self.pt, self.buffers
        try:
            self.mm.close()
        except BufferError:
            pass  # a view is still referenced somewhere; the mapping goes with it

    # -- model helpers ------------------------------------------------------------------------------

    def overlaps(self, va: int, size: int) -> bool:
        return any(v < va + size and va < v + s for v, (s, _, _) in self.model.items())

    def model_unmap(self, va: int, size: int) -> None:
        end = va + size
        for v, (s, pa, prot) in list(self.model.items()):
            if v < end and va < v + s:
                del self.model[v]
                if v < va:
                    self.model[v] = (va - v, pa, prot)
                if end < v + s:
                    self.model[end] = (v + s - end, pa + end - v, prot)

    def lookup(self, va: int) -> tuple[int, int] | None:
        for v, (s, pa, prot) in self.model.items():
            if v <= va < v + s:
                return pa + va - v, prot
        return None

    # -- rules ----------------------------------------------------------------------------------------

    @rule(va=vas, size=sizes, which=st.integers(0, 2), offset=offsets, prot=prots, max_block=max_blocks)
    def map(self, va: int, size: int, which: int, offset: int, prot: Prot, max_block: int | None) -> None:
        buf = self.buffers[which]
        offset = offset if offset < buf.size else 0
        size = min(size, buf.size - offset)
        if va + size > WINDOW:
            return
        pa = buf.phys + offset
        if self.overlaps(va, size):
            before = (self.alloc.state(), self.digest())
            try:
                self.pt.map(va, pa, size, prot, max_block=max_block)
            except InvalidArgument as err:
                assert err.errno == errno.EEXIST
            else:
                raise AssertionError(f"overlapping map at {va:#x}+{size:#x} was accepted")
            assert (self.alloc.state(), self.digest()) == before
            return
        self.pt.map(va, pa, size, prot, max_block=max_block)
        self.model[va] = (size, pa, int(prot))

    @rule(gib=st.integers(0, 7), tail=st.sampled_from([0, K4, SZ_2M]), prot=prots, max_block=max_blocks)
    def map_gib(self, gib: int, tail: int, prot: Prot, max_block: int | None) -> None:
        """1 GiB at a 1 GiB boundary from the 1 GiB-aligned buffer: a 1 GiB block unless capped."""
        self.map(gib * SZ_1G, SZ_1G - tail, 0, tail, prot, max_block)

    @rule(block=st.integers(0, 4095), count=st.integers(1, 4), first=st.integers(0, 3), prot=prots)
    def map_2m(self, block: int, count: int, first: int, prot: Prot) -> None:
        """2 MiB-aligned VA and PA from the 8 MiB buffer: 2 MiB blocks."""
        size = min(count, 4 - first) * SZ_2M
        va, buf = block * SZ_2M, self.buffers[1]
        if self.overlaps(va, size):
            return
        self.pt.map(va, buf.phys + first * SZ_2M, size, prot)
        self.model[va] = (size, buf.phys + first * SZ_2M, int(prot))

    @rule(va=vas, size=sizes)
    def unmap(self, va: int, size: int) -> None:
        if va + size > WINDOW:
            return
        self.pt.unmap(va, size)
        self.model_unmap(va, size)

    @precondition(lambda self: bool(self.model))
    @rule(pick=st.integers(0, 1 << 16), start=st.integers(0, 1 << 20), pages=st.integers(1, 1100))
    def unmap_inside(self, pick: int, start: int, pages: int) -> None:
        """Unmap a piece of an existing mapping (splits blocks, empties tables)."""
        va, (size, _, _) = sorted(self.model.items())[pick % len(self.model)]
        first = start % (size // K4)
        count = min(pages, size // K4 - first)
        self.unmap(va + first * K4, count * K4)

    @precondition(lambda self: self.pt.pending_reclaim > 0)
    @rule()
    def reclaim(self) -> None:
        self.pt.reclaim()

    # -- invariants -----------------------------------------------------------------------------------

    def digest(self) -> dict[int, bytes]:
        return {t.phys: self.alloc.peek(t.phys, K4) for t in self.pt.table_pages()}

    @invariant()
    def translations_match_the_model(self) -> None:
        probes = set()
        for v, (s, _, _) in self.model.items():
            probes.update({v, v + s - K4, v + (s // 2 & ~(K4 - 1)), v + s, max(0, v - K4)})
        for va in sorted(probes):
            want = self.lookup(va)
            if want is None:
                try:
                    self.pt.translate(va + 0x123)
                except BadAddress:
                    continue
                raise AssertionError(f"{va:#x} translates but the model has nothing there")
            tr = self.pt.translate(va + 0x123)
            assert (tr.pa, int(tr.prot)) == (want[0] + 0x123, want[1]), hex(va)

    @invariant()
    def dump_matches_the_model(self) -> None:
        dumped = self.pt.dump()
        for r in dumped:
            assert r.va % r.block_size == 0 and r.pa % r.block_size == 0 and r.size % r.block_size == 0
        got = coalesce([(r.va, r.size, r.pa, int(r.prot)) for r in dumped])
        want = coalesce([(v, s, pa, prot) for v, (s, pa, prot) in self.model.items()])
        assert got == want

    @invariant()
    def every_linked_table_is_reachable_and_non_empty(self) -> None:
        seen = set()
        stack = [(self.pt.root_pa, 0)]
        while stack:
            pa, level = stack.pop()
            seen.add(pa)
            entries = self.pt.read_table(pa)
            valid = np.flatnonzero(entries & np.uint64(1))
            assert level == 0 or valid.size > 0, f"empty level-{level} table at {pa:#x} still linked"
            if level < 3:  # §4.2: bits 1:0 = 11 is a table at levels 0-2
                for i in np.flatnonzero((entries & np.uint64(3)) == np.uint64(3)).tolist():
                    desc = int(entries[i])
                    assert descriptor_kind(desc, level) is DescriptorKind.TABLE
                    stack.append((desc & 0xFFFF_FFFF_F000, level + 1))
        assert seen == {t.phys for t in self.pt.table_pages()}
        assert self.pt.pool.pages_in_use == len(seen) + self.pt.pending_reclaim


TestPageTableModel = PageTableMachine.TestCase
TestPageTableModel.settings = settings(max_examples=30, stateful_step_count=25, deadline=None,
                                       suppress_health_check=[HealthCheck.too_slow])
