"""`bench submit` runs its three cases and reports ours beside a baseline (goals are never asserted in
tests; benchmarks/submit.py --check does that)."""

from __future__ import annotations

import argparse
import json

import pytest

from uio_driver.bench import submit
from uio_driver.cli import main as cli
from uio_driver.errors import InvalidArgument


def test_bench_submit_cases_and_baselines() -> None:
    cases = submit.run(argparse.Namespace(jobs=12, batch=6, repeat=1, profile=True))
    assert [c.case for c in cases] == ["round_trip", "batched", "submit_host"]
    for c in cases:
        assert c.ours > 0 and c.baseline is not None and c.baseline > 0 and c.baseline_name
        assert c.extra["cpu_s"] > 0
    assert cases[0].goal == "<= 200 µs per job" and "10,000 jobs/s" in (cases[1].goal or "")
    profile = cases[0].extra["profile"]
    assert abs(profile["simulator_share"] + profile["driver_share"] + profile["other_share"] - 1) < 1e-9


def test_bench_submit_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "submit", "--json", "--jobs", "8", "--batch", "4", "--repeat", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["benchmark"] == "submit" and {r["case"] for r in out["results"]} == {
        "round_trip", "batched", "submit_host"}


@pytest.mark.parametrize("bad", [{"jobs": 0}, {"batch": 513}, {"repeat": -1}])
def test_bench_submit_refuses_bad_options(bad: dict[str, int]) -> None:
    args = {"jobs": 4, "batch": 2, "repeat": 1, **bad}
    with pytest.raises(InvalidArgument):
        submit.run(argparse.Namespace(**args))
