"""`mali-uio pt dump|walk`: GPU page tables, read the way the GPU reads them.

Both commands read TRANSTAB/TRANSCFG of an address space and walk the tables by physical address in
the DMA carveout (``DmaAllocator.peek``), so they work on any backend, including a board where another
process owns the tables. ``--as N`` picks the AS; without it the first AS in AArch64 4K mode with a
TRANSTAB is used. ``--vm ID`` reads a VM of this process through the driver's own page table.

On the simulator each CLI process is a fresh GPU with nothing mapped, so when no AS is configured
the commands build a small demo VM (4 KiB pages, a 2 MiB block, a read-only and an uncached range),
bind it to the AS asked for (default AS1) and say so on stderr and in the JSON (``"demo": true``).

Exit codes: 0 — including "not mapped" answers and an unconfigured AS ("nothing mapped"), which are
answers, not failures; 1 — a MaliError (unreadable table, bad VA, unknown VM); 2 — usage errors.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.console import Console

from ...errors import InvalidArgument
from ...gpu import Gpu
from ...mmu import SZ_2M, VM, Mmu, Prot
from ...mmu import walk as ptwalk
from ...mmu.pte import PAGE_SIZE, MappedRange, WalkStep, prot_of, prot_text
from ...platform.base import Platform
from ...regs import RegisterAccess
from ...regs import mmu as mmu_regs
from ..common import add_common_options, console, emit, open_backend, parse_int, table

#: The simulator demo: (what, VA, size, alignment, flags). VAs are in the user range of a default VM.
DEMO_LAYOUT = (
    ("4 KiB pages, RW cached", 0x1000000, 4 * PAGE_SIZE, PAGE_SIZE, Prot.NONE),
    ("2 MiB block, RW cached, no-exec", 0x1200000, SZ_2M, SZ_2M, Prot.NOEXEC),
    ("read-only, cached", 0x1600000, 2 * PAGE_SIZE, PAGE_SIZE, Prot.READONLY),
    ("uncached, no-exec", 0x1700000, 3 * PAGE_SIZE, PAGE_SIZE, Prot.UNCACHED | Prot.NOEXEC),
)
DEMO_AS = 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pt", help="GPU page tables: dump the mappings of an AS or walk one VA")
    psub = p.add_subparsers(dest="pt_command", metavar="ACTION")
    psub.required = True

    dump = psub.add_parser("dump", help="coalesced mappings (VA, PA, size, flags, leaf size)")
    _add_source_options(dump)
    add_common_options(dump)
    dump.set_defaults(func=run_dump)

    walk = psub.add_parser("walk", help="the descriptor at each level for one VA")
    walk.add_argument("va", type=parse_int, help="GPU virtual address (decimal or 0x...)")
    _add_source_options(walk)
    add_common_options(walk)
    walk.set_defaults(func=run_walk)


def _add_source_options(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--as", dest="as_nr", type=int, metavar="N",
                       help="address space 0..7 (default: the first one translating in AArch64 4K mode)")
    group.add_argument("--vm", dest="vm_id", type=int, metavar="ID",
                       help="a VM of this process (on the simulator: the demo VM, id 1)")


@dataclass
class Source:
    """Where the tables come from: ``read(table_pa)`` and the level-0 table's PA."""

    read: Callable[[int], np.ndarray] | None
    root_pa: int
    as_nr: int | None
    transcfg: int = 0
    vm_id: int | None = None
    demo: bool = False
    notes: list[str] = field(default_factory=list)

    def header(self) -> dict[str, Any]:
        return {"as": self.as_nr, "vm": self.vm_id, "transtab": self.root_pa, "transcfg": self.transcfg,
                "demo": self.demo, "notes": self.notes, "configured": self.read is not None}


def _as_config(regs: RegisterAccess, as_nr: int) -> tuple[int, int]:
    return (regs.read64(mmu_regs.as_register(as_nr, "TRANSTAB")),
            regs.read64(mmu_regs.as_register(as_nr, "TRANSCFG")))


def _translating(transtab: int, transcfg: int) -> bool:
    return transcfg & 0xF == mmu_regs.AdrMode.AARCH64_4K and transtab != 0


def _carveout_reader(platform: Platform) -> Callable[[int], np.ndarray]:
    allocator = platform.dma_allocator()
    cache: dict[int, np.ndarray] = {}

    def read(table_pa: int) -> np.ndarray:
        if table_pa not in cache:
            cache[table_pa] = np.frombuffer(allocator.peek(table_pa, PAGE_SIZE), dtype="<u8")
        return cache[table_pa]
    return read


def _find_source(platform: Platform, args: argparse.Namespace) -> Source:
    regs = RegisterAccess(platform.mmio)
    if args.vm_id is not None:
        return _vm_source(platform, args.vm_id)
    wanted = [args.as_nr] if args.as_nr is not None else list(range(mmu_regs.AS_COUNT))
    for as_nr in wanted:
        transtab, transcfg = _as_config(regs, as_nr)  # validates --as (InvalidArgument)
        if _translating(transtab, transcfg):
            return Source(_carveout_reader(platform), transtab, as_nr, transcfg)
    if platform.simulated:
        return _demo_source(platform, DEMO_AS if args.as_nr is None else args.as_nr)
    as_nr = wanted[0] if len(wanted) == 1 else None
    transtab, transcfg = _as_config(regs, as_nr) if as_nr is not None else (0, 0)
    what = (f"AS{as_nr} is not translating (TRANSCFG {transcfg:#x}, TRANSTAB {transtab:#x})"
            if as_nr is not None else "no address space is translating (none in AArch64 4K mode)")
    return Source(None, transtab, as_nr, transcfg, notes=[f"{what}: nothing is mapped"])


def _vm_source(platform: Platform, vm_id: int) -> Source:
    if not platform.simulated:
        raise InvalidArgument(f"no VM {vm_id} in this process: VMs live in the process that created them; "
                              "use --as N to read an address space's tables")
    source = _demo_source(platform, DEMO_AS)
    if vm_id != source.vm_id:
        raise InvalidArgument(f"no VM {vm_id} in this process (the simulator demo VM is {source.vm_id})")
    return source


def build_demo(platform: Platform, as_nr: int = DEMO_AS) -> VM:
    """Map the demo layout in a new VM and bind it to ``as_nr`` (simulator CLI processes)."""
    gpu = Gpu(platform)
    gpu.probe()
    mmu = Mmu(gpu)
    vm = mmu.create_vm(name="demo VM")
    allocator = platform.dma_allocator()
    for what, va, size, align, flags in DEMO_LAYOUT:
        buf = allocator.alloc(size, align=align, name=f"demo: {what}")
        vm.map(buf, va, flags=flags)
    mmu.activate(vm, slot=as_nr)
    return vm


def _demo_source(platform: Platform, as_nr: int) -> Source:
    vm = build_demo(platform, as_nr)
    regs = RegisterAccess(platform.mmio)
    transtab, transcfg = _as_config(regs, as_nr)
    note = (f"simulator: nothing was mapped in this fresh GPU, so a demo VM (id {vm.id}) was built and "
            f"bound to AS{as_nr}: " + "; ".join(f"{w} at {va:#x}" for w, va, *_ in DEMO_LAYOUT))
    return Source(_carveout_reader(platform), transtab, as_nr, transcfg, vm_id=vm.id, demo=True, notes=[note])


def _report_notes(source: Source) -> None:
    err = console(stderr=True)
    for note in source.notes:
        err.print(note)


def _size_text(size: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift} {unit}"
    return f"{size:#x} B"


# -- dump ------------------------------------------------------------------------------------------


def run_dump(args: argparse.Namespace) -> int:
    with open_backend(args) as platform:
        source = _find_source(platform, args)
        ranges = ptwalk.dump(source.read, source.root_pa) if source.read else []
    _report_notes(source)
    data = {**source.header(), "ranges": [r.to_dict() for r in ranges]}
    emit(args, data, lambda c: _render_dump(c, source, ranges))
    return 0


def _render_dump(c: Console, source: Source, ranges: list[MappedRange]) -> None:
    if source.read is None:
        c.print(source.notes[0])
        return
    title = f"AS{source.as_nr} TRANSTAB {source.root_pa:#x}" + (" (simulator demo VM)" if source.demo else "")
    rows = [(f"{r.va:#014x}", f"{r.va + r.size:#014x}", f"{r.pa:#012x}", _size_text(r.size),
             prot_text(r.prot), _size_text(r.block_size)) for r in ranges]
    c.print(table(title, ["VA start", "VA end", "PA", "size", "prot", "leaf"], rows))
    if not ranges:
        c.print("nothing is mapped")


# -- walk ------------------------------------------------------------------------------------------


def run_walk(args: argparse.Namespace) -> int:
    ptwalk.check_va(args.va)
    with open_backend(args) as platform:
        source = _find_source(platform, args)
        steps = ptwalk.walk(source.read, source.root_pa, args.va) if source.read else []
    _report_notes(source)
    leaf = ptwalk.leaf_of(steps, args.va) if steps else None
    data: dict[str, Any] = {**source.header(), "va": args.va, "mapped": leaf is not None,
                            "steps": [s.to_dict() for s in steps]}
    if leaf is not None:
        data.update(pa=leaf.pa, level=leaf.level, block_size=leaf.block_size, prot=int(leaf.prot),
                    prot_text=prot_text(leaf.prot), descriptor=leaf.descriptor)
    data["summary"] = _walk_summary(args.va, steps, source)
    emit(args, data, lambda c: _render_walk(c, source, steps, data["summary"]))
    return 0


def _walk_summary(va: int, steps: list[WalkStep], source: Source) -> str:
    if not steps:
        return f"VA {va:#x} is not mapped: {source.notes[0]}"
    leaf = ptwalk.leaf_of(steps, va)
    last = steps[-1]
    if leaf is None:
        return (f"VA {va:#x} is not mapped (invalid descriptor {last.descriptor:#x} at level {last.level}, "
                f"index {last.index})")
    kind = "page" if leaf.level == 3 else "block"
    return (f"VA {va:#x} -> PA {leaf.pa:#x} ({prot_text(prot_of(leaf.descriptor))}, "
            f"{_size_text(leaf.block_size)} {kind} at level {leaf.level})")


def _render_walk(c: Console, source: Source, steps: list[WalkStep], summary: str) -> None:
    if steps:
        rows = [(s.level, f"{s.index} ({s.index:#x})", f"{s.table_pa:#x}", f"{s.descriptor:#018x}",
                 s.kind.value) for s in steps]
        c.print(table(f"walk in AS{source.as_nr} (TRANSTAB {source.root_pa:#x})",
                      ["level", "index", "table PA", "descriptor", "kind"], rows))
    c.print(summary)
