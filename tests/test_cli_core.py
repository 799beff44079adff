"""`mali-uio info / regs / peek / poke / bringup` on the simulated backend."""

from __future__ import annotations

import json

import pytest

from uio_driver.cli.main import main


@pytest.fixture(autouse=True)
def _sim_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALI_UIO_BACKEND", "sim")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_info_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "info", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["gpu_id"] == 0xA8670005 and data["name"] == "Mali-G610" and data["backend"] == "sim"
    assert data["shader_present"] == 0x50005 and data["va_bits"] == 48
    assert "sim" in err  # the backend choice is reported on stderr, not mixed into JSON


def test_info_table_and_backend_option_after_subcommand(capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALI_UIO_BACKEND")
    code, out, _ = run(capsys, "info", "--backend", "sim")
    assert code == 0 and "0xa8670005" in out and "Mali-G610" in out


def test_auto_backend_falls_back_to_sim_and_says_so(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("MALI_UIO_BACKEND", "auto")
    code, _, err = run(capsys, "info", "--json")
    assert code == 0 and "simulated backend" in err


def test_regs_dump_block(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "regs", "dump", "GPU_CONTROL", "--json")
    assert code == 0
    regs = {r["name"]: r for r in json.loads(out)["registers"]}
    assert regs["GPU_ID"]["value"] == 0xA8670005
    assert regs["GPU_ID"]["decoded"]["ARCH_MAJOR"] == 10
    assert regs["GPU_COMMAND"]["value"] is None  # write-only: not read
    assert regs["MMU_FEATURES"]["decoded"] == {"VA_BITS": 48, "PA_BITS": 40}


def test_regs_dump_all_blocks_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "regs", "dump")
    assert code == 0 and "AS7_TRANSCFG_LO" in out and "LATEST_FLUSH" in out


def test_regs_decode_offline(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "regs", "decode", "AS0_FAULTSTATUS", "0x3c3", "--json")
    assert code == 0
    fields = json.loads(out)["fields"]
    assert fields["EXCEPTION_TYPE"]["meaning"] == "TRANSLATION_FAULT_3"
    assert fields["ACCESS_TYPE"]["value"] == 3


def test_peek_by_name_and_offset(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "peek", "GPU_ID", "--json")
    assert code == 0 and json.loads(out)["value"] == 0xA8670005
    code, out, _ = run(capsys, "peek", "0x14", "--json")
    assert code == 0 and json.loads(out) ["name"] == "MMU_FEATURES"


def test_poke_rw_register(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "poke", "GPU_IRQ_MASK", "0x20103")
    assert code == 0 and "GPU_IRQ_MASK" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("poke", "GPU_ID", "1"), "GPU_ID"),                    # read-only register
        (("poke", "0x0", "1"), "GPU_ID"),                       # same, by offset
        (("peek", "0x2"), "aligned"),                           # misaligned
        (("peek", "0x200000"), "outside"),                      # past the 2 MiB window
        (("peek", "0x3000"), "--force"),                        # not a known register
        (("peek", "NO_SUCH_REG"), "NO_SUCH_REG"),
        (("peek", "GPU_COMMAND"), "write-only"),
        (("poke", "GPU_IRQ_MASK", "0x1ffffffff"), "32"),        # value does not fit
    ],
)
def test_refusals_are_one_line_errors_with_nonzero_exit(capsys: pytest.CaptureFixture[str],
                                                        argv: tuple[str, ...], needle: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith("mali-uio: error:")]
    assert len(lines) == 1 and needle in lines[0]
    assert "Traceback" not in err and "MALI_UIO_FAIL" in err


def test_unknown_offset_with_force_reaches_the_simulator_strict_check(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "peek", "0x3000", "--force")
    assert code == 1 and "0x3000" in err and "Traceback" not in err


def test_bringup_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "bringup", "--json")
    assert code == 0
    data = json.loads(out)
    assert [s["stage"] for s in data["stages"]][:5] == ["identify", "reset", "interrupts", "l2", "flush"]
    assert data["simulated"] is True


def test_bringup_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "bringup", "--until", "l2")
    assert code == 0 and "L2 powered" in out and "flush" not in out.split("bring-up on")[-1]


def test_usage_error_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["peek"])
    assert exc.value.code == 2
