"""`mali-uio run`: bring-up, firmware, a group and one job storing a pattern, checked by the host.

The pattern is spelled here (eight words 0x6A00FF5A, 0x6A01FE5A, ...: 0x6A, index, 0xFF - index, 0x5A),
not taken from the command module, and the sync object must read seqno 1 after the single job
(cs-isa-and-uapi.md §2.5).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from uio_driver.cli import main as cli
from uio_driver.cli.commands import run as run_cmd
from uio_driver.csf.builder import CsBuilder
from uio_driver.csf.device import CsfDevice

PATTERN = [f"{0x6A000000 | i << 16 | (0xFF - i) << 8 | 0x5A:#010x}" for i in range(8)]


def test_run_prints_steps_and_the_pattern(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--backend", "sim"]) == 0
    out = capsys.readouterr().out
    for step in ("bringup", "vm", "buffers", "group", "submit", "complete", "check"):
        assert step in out
    assert "6a00ff5a 6a01fe5a 6a02fd5a 6a03fc5a 6a04fb5a 6a05fa5a 6a06f95a 6a07f85a" in out
    assert "OK" in out and "seqno 1" in out


def test_run_json_reports_pattern_seqno_and_timings(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--backend", "sim", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["backend"] == "sim" and report["simulated"] is True
    assert report["pattern"]["expected"] == PATTERN and report["pattern"]["read"] == PATTERN
    assert report["pattern"]["va"] == 0x1010000 and report["sync_seqno"] == 1
    assert report["job"]["error"] is None and report["job"]["seqno"] == 1
    steps = {s["step"]: s for s in report["steps"]}
    assert list(steps) == ["bringup", "vm", "buffers", "group", "submit", "complete", "check"]
    assert all(s["host_s"] >= 0 and s["device_s"] >= 0 for s in steps.values())
    assert steps["complete"]["device_s"] > 0  # the job took virtual time on the simulator


def test_run_exits_1_when_the_pattern_is_wrong(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    def wrong_stream(result_va: int = run_cmd.RESULT_VA) -> bytes:
        cs = CsBuilder()
        cs.move48(64, result_va)
        cs.move32(66, 0xDEADBEEF)
        cs.store_multiple(64, 66, 0x1)  # one word only, and the wrong one
        cs.wait_all()
        return cs.to_bytes()

    monkeypatch.setattr(run_cmd, "pattern_stream", wrong_stream)
    assert cli.main(["run", "--backend", "sim", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["pattern"]["ok"] is False
    assert report["pattern"]["read"][0] == "0xdeadbeef" and report["sync_seqno"] == 1


def test_run_exits_1_with_a_fail_line_when_the_job_faults(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    start = CsfDevice.start

    def faulty_start(self: CsfDevice) -> Any:
        results = start(self)
        faults = self.platform.sim.mcu.faults
        faults.instruction_fault_at, faults.instruction_fault_fatal = 8, True
        faults.instruction_fault_type = 0x49  # CS_INVALID_INSTRUCTION in the user stream
        return results

    monkeypatch.setattr(CsfDevice, "start", faulty_start)
    assert cli.main(["run", "--backend", "sim"]) == 1
    err = capsys.readouterr().err
    assert "CS_INVALID_INSTRUCTION" in err and "MALI_UIO_FAIL" in err and "errno=EINVAL" in err
