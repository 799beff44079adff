"""`mali-uio doctor` command line: table and JSON output, exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import FakeSysfs

from uio_driver.cli.main import main

CHECKS = ["board", "kernel-driver", "overlay", "devices", "udev", "carveout", "power", "regulator",
          "firmware", "gpu-id"]


@pytest.fixture(autouse=True)
def _no_firmware_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALI_UIO_FIRMWARE_DIR", raising=False)
    monkeypatch.setenv("COLUMNS", "250")


def test_json_on_a_healthy_board(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    FakeSysfs(tmp_path).add_board()
    assert main(["doctor", "--root", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["counts"] == {"ok": 10, "warn": 0, "fail": 0, "skip": 0}
    assert [c["name"] for c in data["checks"]] == CHECKS
    gpu_id = data["checks"][-1]
    assert gpu_id["details"]["gpu_id"] == "0xa8670005"


def test_table_names_the_failures_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = FakeSysfs(tmp_path)
    tree.add_board()
    tree.add_platform_device("fb000000.gpu", driver="panthor")
    assert main(["doctor", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "kernel-driver" in out and "bound to the kernel driver panthor" in out
    assert "not ready" in out and "(failed: kernel-driver)" in out


def test_firmware_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    FakeSysfs(tmp_path / "root").add_board()
    missing = tmp_path / "missing.bin"
    assert main(["doctor", "--root", str(tmp_path / "root"), "--firmware", str(missing), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    firmware = next(c for c in data["checks"] if c["name"] == "firmware")
    assert firmware["status"] == "fail" and str(missing) in firmware["summary"]


def test_no_board_exits_nonzero_without_a_traceback(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "uio_driver", "doctor", "--root", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, env={"COLUMNS": "250", "PATH": ""})
    assert proc.returncode == 1
    assert "no RK3588 board here" in proc.stdout and "not ready" in proc.stdout
    assert "Traceback" not in proc.stderr + proc.stdout


def test_usage_error_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["doctor", "--bogus"])
    assert exc.value.code == 2
