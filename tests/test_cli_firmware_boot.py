"""`mali-uio firmware boot`, `mali-uio bringup --firmware` and `mali-uio bench boot` on the simulator.

Expected values: csf-firmware-and-interfaces.md §2.7/§8 (v1.5.0, instr_features 0x71, git sha of the
current arch10.8 blob, panthor's log lines), drm-shim's G610 CSIF_INFO (8, 8, 96, 8, 4) and §3.7
(core_en_mask 0x50005 on RK3588, GLB_REQ 0x40E after global init).
"""

from __future__ import annotations

import json

import pytest
from test_firmware_boot_rig import G610, needs

from uio_driver.cli.main import main

CSIF = {"csg_slot_count": 8, "cs_slot_count": 8, "cs_reg_count": 96, "scoreboard_slot_count": 8,
        "unpreserved_cs_reg_count": 4}
LINE_150 = "CSF FW using interface v1.5.0, Features 0x0 Instrumentation features 0x71"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wide tables; no firmware directory from the environment; the simulated backend."""
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.delenv("MALI_UIO_FIRMWARE_DIR", raising=False)
    monkeypatch.setenv("MALI_UIO_BACKEND", "sim")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_firmware_boot_json_with_the_synthetic_image(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "firmware", "boot", "--json")
    assert code == 0
    data = json.loads(out)
    fw = data["firmware"]
    assert fw["ready"] is True and fw["csif_info"] == CSIF
    assert fw["source"]["synthetic"] is True and "synthetic image" in fw["source"]["description"]
    assert fw["info"]["log_line"] == LINE_150
    steps = [s["step"] for s in data["steps"]]
    assert steps[:9] == ["identify", "reset", "interrupts", "l2", "flush", "mmu", "firmware", "mcu_boot",
                         "glb_init"]
    assert {"firmware.load", "firmware.mcu_start", "firmware.discover", "firmware.glb_init"} <= set(steps)
    assert all(s["host_s"] >= 0 and s["device_s"] >= 0 for s in data["steps"])
    assert [s["va_start"] for s in fw["loaded"]["skipped"]] == [0x03000000]


@needs(G610)
def test_firmware_boot_table_with_the_g610_blob(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "firmware", "boot", "--firmware", str(G610))
    assert code == 0
    assert LINE_150 in out
    assert "git sha: 95a25d71030715381f33105394285e1dcc860a65" in out
    assert "Firmware protected mode entry not be supported, ignoring" in out
    split = ([c.strip() for c in line.split("│")] for line in out.splitlines())
    rows = {cells[1]: cells[2] for cells in split if len(cells) == 4}
    for field, value in CSIF.items():
        assert rows[field].split()[0] == str(value), field
    assert "firmware ready in" in out


def test_firmware_boot_missing_file_is_a_clean_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "firmware", "boot", "--firmware", "/nonexistent/mali_csffw.bin")
    assert code == 1
    assert "/nonexistent/mali_csffw.bin does not exist" in err
    assert "stage=firmware" in err and "errno=ENOENT" in err and "Traceback" not in err


@needs(G610)
def test_bringup_boots_the_given_firmware(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "bringup", "--json", "--firmware", str(G610))
    assert code == 0
    stages = {s["stage"]: s for s in json.loads(out)["stages"]}
    assert stages["mcu_boot"]["detail"] == LINE_150
    assert stages["mcu_boot"]["data"]["git_sha"] == "95a25d71030715381f33105394285e1dcc860a65"
    assert stages["glb_init"]["data"]["core_en_mask"] == 0x50005
    assert stages["glb_init"]["data"]["req"] & 0x7FF == 0x40E


def test_bringup_until_mmu_does_not_touch_the_firmware(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "bringup", "--json", "--until", "mmu", "--firmware", "/nonexistent")
    assert code == 0
    assert [s["stage"] for s in json.loads(out)["stages"]][-1] == "mmu"


def test_bench_boot_reports_both_runs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "bench", "boot", "--json", "--repeat", "1")
    assert code == 0
    results = json.loads(out)["results"]
    names = [r["case"] for r in results]
    assert names[0] == "synthetic" and (names[1:] == ["arm-g610"] if G610.is_file() else names[1:] == [])
    for r in results:
        assert r["baseline_name"] == "cold first run (same process)"
        assert r["breakdown"]["interface"] == "v1.5.0" and isinstance(r["goal_met"], bool)


def test_bench_boot_refuses_a_bad_repeat(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "bench", "boot", "--repeat", "0")
    assert code == 1 and "--repeat must be a positive integer" in err
