"""`bench mmio` runs end to end (tiny access counts; goals are never asserted in tests)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from uio_driver import bench
from uio_driver.errors import InvalidArgument

REPO = Path(__file__).resolve().parents[1]


def test_bench_mmio_cases_and_baselines() -> None:
    module = bench.get("mmio")
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    args = parser.parse_args(["--accesses", "64", "--window", "2m"])
    cases = module.run(args)
    assert [c.case for c in cases] == ["read32", "write32", "read64"]
    assert [c.goal[:6] for c in cases if c.goal] == [">= 4x ", ">= 4x ", ">= 3x "]
    assert [c.baseline_name for c in cases] == ["periphery MMIO.read32", "periphery MMIO.write32",
                                                "periphery two read32 calls"]
    for c in cases:
        assert c.ours > 0 and c.baseline is not None and c.baseline > 0
        assert c.goal is not None and "faster than" in c.goal
        assert c.extra["accesses"] == 64 and c.extra["window"] == 0x200000
        assert isinstance(c.extra["goal_met"], bool)
    doc = bench.to_json("mmio", cases)
    assert doc["results"][0]["speedup"] == pytest.approx(cases[0].baseline / cases[0].ours)


@pytest.mark.parametrize("accesses", [0, -5])
def test_bench_mmio_refuses_non_positive_counts(accesses: int) -> None:
    with pytest.raises(InvalidArgument, match="--accesses"):
        bench.get("mmio").run(argparse.Namespace(accesses=accesses, window="64k"))


def test_benchmark_script_prints_json() -> None:
    script = REPO / "benchmarks" / "mmio.py"
    proc = subprocess.run([sys.executable, str(script), "--json", "--accesses", "32"],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["benchmark"] == "mmio" and doc["unit"] == "s"
    assert {r["case"] for r in doc["results"]} == {"read32", "write32", "read64"}
