"""`mali-uio firmware inspect PATH [--json]` on real, synthetic and malformed files.

Expected values for the real G610 blob come from csf-firmware-and-interfaces.md §2.1/§2.2/§2.7.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from blobs import shared_firmware_root

from uio_driver.cli.main import main
from uio_driver.firmware import ConfigSpec, IfaceSpec, build_image, build_synthetic_image

G610 = shared_firmware_root() / "arm" / "mali" / "arch10.8" / "mali_csffw.bin"
needs_g610 = pytest.mark.skipif(not G610.is_file(), reason=f"the Arm G610 firmware blob is not available "
                                                          f"({G610} missing; set MALI_UIO_SHARED_FIRMWARE)")
ARM_SHA = "95a25d71030715381f33105394285e1dcc860a65"


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """rich sizes tables from $COLUMNS when stdout is not a terminal; keep cells on one line."""
    monkeypatch.setenv("COLUMNS", "250")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@needs_g610
def test_inspect_real_blob_tables(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "firmware", "inspect", str(G610))
    assert code == 0 and err == ""
    assert f"git sha: {ARM_SHA} (clean)" in out
    assert "interface version: v1.5.0 (version_hash 0x01050000)" in out
    assert "a27847ea11f8efb3136340c3ba8aab413ae25145eeb4a7f64ff5edd829a2405b" in out
    assert "24 (8 IFACE sections, 1 of undefined types)" in out
    assert "RD WR CM=CACHED_COHERENT SHARED ZERO" in out and "0x04000000-0x04010000" in out
    assert "0x43000-0x45000" in out  # shared data range (§2.2 #7)
    assert "TYPE_5" in out and "PAGE_FAULT_CNT" in out and '"Log verbosity"' in out
    assert "warning: IFACE entry at 0xd4: protected-mode section" in out


@needs_g610
def test_inspect_real_blob_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "firmware", "inspect", str(G610), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["path"] == str(G610)
    assert doc["sha256"] == "a27847ea11f8efb3136340c3ba8aab413ae25145eeb4a7f64ff5edd829a2405b"
    assert doc["file_size"] == 282624
    assert doc["header"] == {"magic": 0xC3F13A6E, "minor": 3, "major": 0, "padding1": 0,
                             "version_hash": 0x01050000, "padding2": 0, "entry_end": 0x318}
    assert doc["interface_version"] == {"raw": 0x01050000, "major": 1, "minor": 5, "patch": 0,
                                        "text": "v1.5.0"}
    assert doc["git_sha"] == ARM_SHA and doc["build_info"]["dirty"] is False
    assert len(doc["entries"]) == 24 and len(doc["sections"]) == 8
    shared = doc["sections"][7]
    assert (shared["offset"], shared["flags"], shared["va_start"], shared["va_end"], shared["data_start"],
            shared["data_end"]) == (0xF4, 0xC000001B, 0x04000000, 0x04010000, 0x43000, 0x45000)
    assert shared["cache_mode"] == "CACHED_COHERENT" and shared["shared"] and shared["zero"]
    assert doc["shared_section_offset"] == 0xF4
    assert doc["unknown_entries"] == [0x2D4]
    assert [e["type"] for e in doc["entries"][8:]] == [1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 7, 6, 5, 9, 4, 8]
    assert len(doc["warnings"]) == 1


def test_inspect_synthetic_without_arm_blobs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "synthetic.bin"
    path.write_bytes(build_synthetic_image())
    code, out, _ = run(capsys, "firmware", "inspect", str(path), "--json", "--kbase-strict")
    assert code == 0
    doc = json.loads(out)
    assert doc["interface_version"]["text"] == "v1.5.0"
    assert bytes.fromhex(doc["git_sha"]) == b"mali-uio:synthetic:1"
    assert [s["va_start"] for s in doc["sections"]][-1] == 0x04000000


def test_markup_in_names_is_printed_literally(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shared = IfaceSpec(flags=0xC000001B, va_start=0x04000000, va_end=0x04010000)
    path = tmp_path / "odd.bin"
    path.write_bytes(build_image([shared, ConfigSpec(address=0x10, name="[/bold]x[red]")]))
    code, out, err = run(capsys, "firmware", "inspect", str(path))
    assert code == 0 and err == ""
    assert '"[/bold]x[red]"' in out


def _assert_one_error(err: str, *needles: str) -> list[str]:
    lines = err.splitlines()
    assert "Traceback" not in err
    assert len(lines) == 2, lines  # the message, then the greppable MALI_UIO_FAIL line (cli/main.py)
    assert lines[0].startswith("mali-uio: error: ")
    assert lines[1].startswith("MALI_UIO_FAIL ")
    for needle in needles:
        assert needle in err
    return lines


def test_inspect_malformed_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.bin"
    data = bytearray(build_synthetic_image())
    data[0x35] = 0x1F  # entry at 0x34: size 0x1f
    path.write_bytes(bytes(data))
    code, out, err = run(capsys, "firmware", "inspect", str(path))
    assert code == 1 and out == ""
    lines = _assert_one_error(err, "kind=FirmwareFormatError", "offset=0x34", "errno=EINVAL")
    assert lines[0] == f"mali-uio: error: {path}: entry at 0x34: size 0x1f is not a multiple of 4"


def test_inspect_not_firmware(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "text.bin"
    path.write_bytes(b"this is not a firmware image at all\n")
    code, out, err = run(capsys, "firmware", "inspect", str(path), "--json")
    assert code == 1 and out == ""
    _assert_one_error(err, "bad magic 0x73696874", "offset=0x0")


def test_inspect_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.bin"
    code, out, err = run(capsys, "firmware", "inspect", str(missing))
    assert code == 1 and out == ""
    lines = _assert_one_error(err, "kind=FirmwareNotFound", "errno=ENOENT")
    assert lines[0] == f"mali-uio: error: firmware file {missing} does not exist"


def test_inspect_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "firmware", "inspect", str(tmp_path))
    assert code == 1
    _assert_one_error(err, "is a directory")


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["firmware"], ["firmware", "inspect"], ["firmware", "unknown"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
    capsys.readouterr()
