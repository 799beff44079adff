"""`bench pagetable` runs end to end on a small size (goals are never asserted in tests), and its
per-entry baseline builds exactly the tables the NumPy core builds (the comparison the benchmark
relies on is itself checked against an independent walk)."""

from __future__ import annotations

import argparse
import json
import mmap
import subprocess
import sys
from pathlib import Path

import pytest

from uio_driver import bench
from uio_driver.bench.pagetable import NaiveTables, same_tables
from uio_driver.errors import InvalidArgument
from uio_driver.mmu import SZ_2M, PageTable
from uio_driver.platform.dma import DmaAllocator

REPO = Path(__file__).resolve().parents[1]


def test_bench_pagetable_cases() -> None:
    module = bench.get("pagetable")
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    cases = module.run(parser.parse_args(["--size", str(8 << 20), "--repeat", "1"]))
    assert [c.case for c in cases] == ["map 4K warm", "map 4K cold", "map 2M warm", "unmap 4K", "split 2M"]
    for c in cases:
        assert c.ours > 0 and c.baseline is not None and c.baseline > 0
        assert c.baseline_name == "per-entry Python walk" and c.extra["size"] == 8 << 20 and c.extra["state"]
    goals = {c.case: c.goal for c in cases if c.goal}
    assert set(goals) == {"map 4K warm", "map 4K cold", "map 2M warm"}
    assert "50x" in goals["map 4K warm"] and "1 ms" in goals["map 2M warm"]
    assert all(isinstance(c.extra["goal_met"], bool) for c in cases if c.goal)


@pytest.mark.parametrize("argv", [["--size", "4096"], ["--size", "0"], ["--repeat", "0"]])
def test_bench_pagetable_refuses_bad_sizes(argv: list[str]) -> None:
    module = bench.get("pagetable")
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    with pytest.raises(InvalidArgument):
        module.run(parser.parse_args(argv))


def test_baseline_and_core_tables_compare_equal_and_unequal() -> None:
    size = 16 << 20
    alloc = DmaAllocator(0x40000000, size, mmap.mmap(-1, size))
    data = alloc.alloc(4 << 20, align=SZ_2M)
    pt = PageTable(alloc)
    naive = NaiveTables(alloc)
    va = 0x7F_FFE0_0000  # the 4 MiB straddles a 1 GiB and a 512 GiB boundary
    pt.map(va, data.phys, 4 << 20, max_block=0x1000)
    naive.map(va, data.phys, 4 << 20, 0x1000)
    assert same_tables(pt.read_table, pt.root_pa, naive.tables.__getitem__, naive.root)
    # Independent check of the leaves: both translate every 64th page identically.
    for off in range(0, 4 << 20, 64 << 12):
        assert pt.translate(va + off).pa == data.phys + off
    naive.unmap_pages(va + 0x5000, 0x1000)
    assert not same_tables(pt.read_table, pt.root_pa, naive.tables.__getitem__, naive.root)
    pt.unmap(va + 0x5000, 0x1000)
    assert same_tables(pt.read_table, pt.root_pa, naive.tables.__getitem__, naive.root)


def test_benchmark_script_prints_json() -> None:
    script = REPO / "benchmarks" / "pagetable.py"
    proc = subprocess.run([sys.executable, str(script), "--json", "--size", str(4 << 20), "--repeat", "1"],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["benchmark"] == "pagetable" and len(doc["results"]) == 5
    assert all(r["speedup"] > 0 for r in doc["results"])
