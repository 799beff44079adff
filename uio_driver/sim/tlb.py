"""The simulated MMU's TLB: cached translations per address space, invalidation rules, staleness.

Model (reference ``mali-csf-registers-and-mmu.md`` §3.3, §4.7 and §7 "MMU and address spaces"):

* one :class:`SimTlb` per AS caches successful walks, one entry per leaf — a 4 KiB page, a 2 MiB
  block or a 1 GiB block — so a block entry answers for its whole range. Faults are never cached
  (a fixed walk is retried on the next access, as the Arm VMSA does for translation faults);
* PTE changes in memory are **not** seen until the range is invalidated, exactly when the
  reference says the hardware drops TLB entries:

  - ``AS_COMMAND = UPDATE`` drops the whole AS (§7: UPDATE "invalidates that AS's TLB");
  - ``FLUSH_PT``/``FLUSH_MEM`` invalidate the locked region ("invalidate TLB/walk caches for the
    locked region in all MMUs", §3.3);
  - ``UNLOCK`` after a ``LOCK`` invalidates that lock's region (kbase calls UNLOCK "flush region";
    panthor P2/P3 rely on it after a GPU_COMMAND cache flush, §3.3, §4.7, §7);
  - a GPU reset drops every TLB (§7 "Soft reset ... drop all AS state, locks and TLBs");
  - a ``GPU_COMMAND`` FLUSH_CACHES alone does **not**: it cleans/invalidates caches but neither
    unlocks nor touches the TLB (panthor ``mmu_hw_do_flush_on_gpu_ctrl`` comment, §3.3, §8), so
    there is deliberately no hook for it here;

* every entry remembers the descriptor words it was built from (physical address and value of each
  level read). :func:`stale_descriptor` compares them with memory on a TLB hit: a difference means
  the driver changed a live mapping without LOCK/FLUSH/UNLOCK covering it — the bug class this
  model exists to catch in CI.

Capacity is bounded (:data:`DEFAULT_TLB_ENTRIES` per AS, oldest entry evicted first). G610's real
TLB geometry is not in the reference; the bound only keeps memory use finite.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import InvalidArgument
from .memory import SimBusError
from .walker import (
    ACCESS_TYPES,
    ADDRESS_SIZE_FAULT_IN,
    ADRMODE_AARCH64_4K,
    ADRMODE_IDENTITY,
    ADRMODE_NAMES,
    ADRMODE_UNMAPPED,
    TRANSLATION_FAULT,
    TRANSTAB_LOW_MASK,
    DescriptorRead,
    SimFault,
    SimTranslation,
    WalkFault,
    WalkParams,
    identity_translation,
    permission_fault,
    walk,
)

if TYPE_CHECKING:
    from .gpu import SimGpu
    from .memory import SimMemory
    from .mmu import AddressSpace, AsConfig, LockRegion

#: Entries cached per AS before the oldest is evicted (a model bound, not a hardware value).
DEFAULT_TLB_ENTRIES = 4096

_U64 = struct.Struct("<Q")
#: (level, log2 of the leaf size) in lookup order: 4 KiB pages first (the common case).
_LEAF_SHIFTS = ((3, 12), (2, 21), (1, 30))


@dataclass(eq=False, slots=True)
class TlbEntry:
    """One cached leaf translation.

    Attributes:
        leaf: the translation of the leaf's first byte (``leaf.at(va)`` gives any PA in range).
        checks: for each descriptor read, ``(view, offset, value, read)`` — a view of the RAM
            holding it for a cheap re-read on every hit.
        stale_reported: a stale descriptor was already reported (non-strict mode reports once).
    """

    leaf: SimTranslation
    checks: tuple[tuple[memoryview, int, int, DescriptorRead], ...]
    stale_reported: bool = False
    #: ``(view, offset)`` of the RAM holding the leaf's whole output range, when one RAM range does
    #: (the fast access path slices it directly); None otherwise.
    ram: tuple[memoryview, int] | None = None

    @property
    def va_base(self) -> int:
        return self.leaf.va_base

    @property
    def size(self) -> int:
        return self.leaf.size


def make_entry(memory: SimMemory, leaf: SimTranslation) -> TlbEntry:
    """Build an entry for ``leaf``, resolving where each of its descriptors lives in RAM."""
    checks = []
    for read in leaf.descriptors:
        ram, off = memory.locate(read.pa, 8)
        checks.append((ram.view, off, read.value, read))
    try:
        out, out_off = memory.locate(leaf.pa_base, leaf.size)
        ram_view: tuple[memoryview, int] | None = (out.view, out_off)
    except SimBusError:
        ram_view = None  # not all RAM: the general path reports the bus fault
    return TlbEntry(leaf, tuple(checks), ram=ram_view)


def stale_descriptor(entry: TlbEntry) -> tuple[DescriptorRead, int] | None:
    """The first descriptor of ``entry`` whose value in memory changed, with the new value, or None."""
    for view, off, old, read in entry.checks:
        try:
            now = _U64.unpack_from(view, off)[0]
        except ValueError:  # the RAM was released (platform closed): nothing sensible is left
            now = -1
        if now != old:
            return read, now
    return None


@dataclass
class TlbStats:
    """Counters for tests and benchmarks."""

    hits: int = 0
    misses: int = 0
    inserted: int = 0
    evicted: int = 0
    invalidated: int = 0
    #: The latest invalidation events as (base, size) ranges; ``(0, 1 << 64)`` for a whole-AS drop.
    invalidations: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=256))


class SimTlb:
    """The translation cache of one address space."""

    def __init__(self, as_nr: int, capacity: int = DEFAULT_TLB_ENTRIES) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise InvalidArgument(f"sim TLB AS{as_nr}: capacity must be a positive integer, got {capacity!r}")
        self.as_nr = as_nr
        self.capacity = capacity
        # One dict per leaf size, keyed by va >> shift of the leaf's base.
        self._levels: tuple[tuple[int, dict[int, TlbEntry]], ...] = tuple(
            (shift, {}) for _, shift in _LEAF_SHIFTS)
        self._by_level = {level: pair for (level, _), pair in zip(_LEAF_SHIFTS, self._levels, strict=True)}
        self._pages = self._levels[0][1]
        self.stats = TlbStats()

    def __len__(self) -> int:
        return sum(len(d) for _, d in self._levels)

    def entries(self) -> list[TlbEntry]:
        """Every cached entry, 4 KiB pages first, each group oldest first."""
        return [e for _, d in self._levels for e in d.values()]

    def lookup(self, va: int) -> TlbEntry | None:
        """The entry covering ``va``, or None (counted as a hit or a miss)."""
        entry = self._pages.get(va >> 12)
        if entry is None:
            for shift, table in self._levels[1:]:
                entry = table.get(va >> shift)
                if entry is not None:
                    break
            else:
                self.stats.misses += 1
                return None
        self.stats.hits += 1
        return entry

    def insert(self, entry: TlbEntry) -> None:
        """Cache ``entry`` (replacing one for the same leaf), evicting the oldest entry when full."""
        level = entry.leaf.level
        if level not in self._by_level:
            raise InvalidArgument(f"sim TLB AS{self.as_nr}: a leaf at level {level!r} cannot be cached "
                                  "(only 4 KiB pages, 2 MiB and 1 GiB blocks)")
        shift, table = self._by_level[level]
        key = entry.va_base >> shift
        if key not in table and len(self) >= self.capacity:
            self._evict_one()
        table[key] = entry
        self.stats.inserted += 1

    def _evict_one(self) -> None:
        for _, table in self._levels:
            if table:
                del table[next(iter(table))]
                self.stats.evicted += 1
                return

    def invalidate(self, base: int, size: int) -> int:
        """Drop every entry overlapping ``[base, base + size)``; returns how many were dropped."""
        end = base + size
        dropped = 0
        for shift, table in self._levels:
            first, last = base >> shift, (end - 1) >> shift
            if last - first + 1 <= len(table):
                keys = [k for k in range(first, last + 1) if k in table]
            else:
                keys = [k for k in table if first <= k <= last]
            for k in keys:
                del table[k]
            dropped += len(keys)
        self.stats.invalidated += dropped
        self.stats.invalidations.append((base, size))
        return dropped

    def invalidate_all(self) -> int:
        """Drop every entry of this AS; returns how many were dropped."""
        dropped = len(self)
        for _, table in self._levels:
            table.clear()
        self.stats.invalidated += dropped
        self.stats.invalidations.append((0, 1 << 64))
        return dropped


class SimTranslator:
    """The MMU's translation front end: per-AS TLBs in front of the walker, plus TLB maintenance.

    It is an MMU listener (``on_update``/``on_unlock``/``on_flush``/``on_reset``) applying the
    invalidation rules of the module docstring; :meth:`lookup` is what every GPU access calls.

    Args:
        sim: the model (memory, MMU_FEATURES, violation reporting).
        spaces: the AS register files (live configs) by AS number.
        walk_bus_error: test hook ``(as_nr, va) -> level | None`` consulted on every walk.
    """

    def __init__(self, sim: SimGpu, spaces: dict[int, AddressSpace],
                 walk_bus_error: Callable[[int, int], int | None] | None = None) -> None:
        self._sim = sim
        self.tlbs: dict[int, SimTlb] = {n: SimTlb(n) for n in spaces}
        self.walk_bus_error = walk_bus_error
        self._params: dict[int, tuple[AsConfig, int, WalkParams]] = {}
        #: Per AS: (live config, MMU_FEATURES, input bits, 4 KiB TLB table, stats) for fast_view.
        self._fast: dict[int, tuple[AsConfig, int, int, dict[int, TlbEntry], TlbStats]] = {}

    # -- maintenance (MMU listener) ----------------------------------------------------------------

    def on_update(self, as_nr: int) -> None:
        self.tlbs[as_nr].invalidate_all()

    def on_unlock(self, as_nr: int, region: LockRegion | None) -> None:
        # An UNLOCK with nothing locked covers nothing, so it invalidates nothing.
        if region is not None:
            self.tlbs[as_nr].invalidate(region.base, region.size)

    def on_flush(self, as_nr: int, region: LockRegion, command: int) -> None:
        self.tlbs[as_nr].invalidate(region.base, region.size)

    def on_reset(self) -> None:
        for tlb in self.tlbs.values():
            tlb.invalidate_all()

    # -- translation -------------------------------------------------------------------------------

    def lookup(self, s: AddressSpace, va: int, access: str, source: int) -> SimTranslation | SimFault:
        """Translate ``va`` for ``access`` with the live config of ``s``.

        Returns:
            The *leaf* translation (``leaf.at(va)`` is the PA) or the fault the access reports.

        Raises:
            SimProtocolError: (strict) unsupported ADRMODE, bad TRANSTAB/descriptor, stale TLB entry.
        """
        mode = s.live.adrmode
        if mode != ADRMODE_AARCH64_4K:
            return self._lookup_flat(s, va, access, source, mode)
        params = self._walk_params(s)
        if va >> params.ias:
            return SimFault(s.nr, va, ADDRESS_SIZE_FAULT_IN, access, source,
                            f"VA is wider than the {params.ias}-bit input size")
        entry = self.tlbs[s.nr].lookup(va)
        if entry is None:
            leaf = self._walk(s, params, va, access, source)
            if isinstance(leaf, SimFault):
                return leaf
        else:
            if not entry.stale_reported:
                self._check_stale(s, va, entry)
            leaf = entry.leaf
        code = permission_fault(leaf, ACCESS_TYPES[access])
        if code is not None:
            why = "AP[2] read-only" if access in ("write", "atomic") else "execute-never (XN/WXN)"
            return SimFault(s.nr, va, code, access, source, f"{why} at level {leaf.level}")
        return leaf

    def fast_view(self, s: AddressSpace, va: int, size: int, access: str) -> memoryview | None:
        """The common case of :meth:`lookup` for an access inside one cached 4 KiB page.

        Returns the RAM view of ``[va, va + size)`` when the page is in the TLB, its descriptors are
        unchanged, the access is permitted and the page is RAM; None whenever anything needs the
        general path (which reports faults, stale entries and bus errors exactly).
        """
        live, features = s.live, self._sim.config.mmu_features
        fast = self._fast.get(s.nr)
        if fast is None or fast[0] is not live or fast[1] != features:
            if live.adrmode != ADRMODE_AARCH64_4K:
                return None
            tlb = self.tlbs[s.nr]
            fast = self._fast[s.nr] = (live, features, self._walk_params(s).ias, tlb._pages, tlb.stats)
        _, _, ias, pages, stats = fast
        if (va & 0xFFF) + size > 0x1000 or va >> ias:
            return None
        entry = pages.get(va >> 12)
        if entry is None or entry.ram is None or entry.stale_reported:
            return None
        unpack = _U64.unpack_from
        for view, off, old, _ in entry.checks:
            if unpack(view, off)[0] != old:
                return None  # stale: the general path reports it
        leaf = entry.leaf
        # permission_fault() for a TLB leaf (level 1-3): writes need AP[2] = 0, fetches need no XN.
        if leaf.read_only and access in ("write", "atomic"):
            return None
        if access == "execute" and not leaf.executable:
            return None
        stats.hits += 1
        view, base = entry.ram
        start = base + (va - leaf.va_base)
        return view[start:start + size]

    def _lookup_flat(self, s: AddressSpace, va: int, access: str, source: int,
                     mode: int) -> SimTranslation | SimFault:
        if mode == ADRMODE_IDENTITY:
            got = identity_translation(va, (self._sim.config.mmu_features >> 8) & 0xFF)
            if isinstance(got, WalkFault):
                return SimFault(s.nr, va, got.exception_type, access, source, got.reason)
            return got
        name = ADRMODE_NAMES.get(mode, "reserved")
        if mode != ADRMODE_UNMAPPED:
            hint = " - the reset state: was the AS configured with UPDATE?" if s.live.transcfg == 0 else ""
            self._sim.violation("unsupported", f"AS{s.nr} GPU access with live TRANSCFG ADRMODE {mode} "
                                f"({name}), which the simulator does not model (only 1, 2 and 6){hint}",
                                register=f"AS{s.nr}_TRANSCFG_LO", value=s.live.transcfg & 0xFFFFFFFF)
        # §7: ADRMODE 1 (UNMAPPED) faults every access; TRANSLATION_FAULT_0 is the reference's
        # [inferred] classification, and the model reports the unmodelled modes the same way.
        return SimFault(s.nr, va, TRANSLATION_FAULT, access, source, f"ADRMODE {mode} ({name}) maps nothing")

    def _walk_params(self, s: AddressSpace) -> WalkParams:
        features = self._sim.config.mmu_features
        cached = self._params.get(s.nr)
        if cached is not None and cached[0] is s.live and cached[1] == features:
            return cached[2]
        cfg = s.live
        if cfg.transtab & TRANSTAB_LOW_MASK:
            self._sim.violation("bad-value", f"AS{s.nr} live TRANSTAB {cfg.transtab:#x}: bits 11:0 must be 0 "
                                "(the level-0 table is a 4 KiB page, §3.2); the walker ignores them",
                                register=f"AS{s.nr}_TRANSTAB_LO", value=cfg.transtab & 0xFFFFFFFF)
        params = WalkParams.from_config(cfg.transtab, cfg.memattr, cfg.transcfg, features)
        self._params[s.nr] = (cfg, features, params)
        return params

    def _walk(self, s: AddressSpace, params: WalkParams, va: int, access: str,
              source: int) -> SimTranslation | SimFault:
        level = None if self.walk_bus_error is None else self.walk_bus_error(s.nr, va)
        result = walk(self._sim.memory, params, va, bus_error_level=level)
        for kind, message in result.problems:
            self._sim.violation(kind, f"AS{s.nr} walk of VA {va:#x}: {message}")
        out = result.outcome
        if isinstance(out, WalkFault):
            return SimFault(s.nr, va, out.exception_type, access, source, out.reason, out.bus_error)
        self.tlbs[s.nr].insert(make_entry(self._sim.memory, out))
        return out

    def _check_stale(self, s: AddressSpace, va: int, entry: TlbEntry) -> None:
        got = stale_descriptor(entry)
        if got is None:
            return
        read, now = got
        new = f"{now:#x}" if now >= 0 else "unreadable"
        self._sim.violation(
            "stale-tlb", f"AS{s.nr} VA {va:#x}: stale TLB entry for [{entry.va_base:#x}, "
            f"{entry.va_base + entry.size:#x}) - level-{read.level} descriptor at PA {read.pa:#x} was "
            f"{read.value:#x} when cached, memory now holds {new}: a live mapping changed without "
            "LOCK+UNLOCK, FLUSH_PT/FLUSH_MEM or UPDATE covering it (the GPU keeps the stale translation)",
            register=f"AS{s.nr}", offset=read.pa, value=now if now >= 0 else None)
        entry.stale_reported = True  # reached only in non-strict mode: report once, keep using it
