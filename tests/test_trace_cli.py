"""`--trace FILE` on every backend command, and `mali-uio trace show|replay|diff`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from uio_driver.cli.common import open_backend
from uio_driver.cli.main import main
from uio_driver.sim.platform import SimMmioRegion
from uio_driver.trace import TracingMmioRegion, read_trace


@pytest.fixture(autouse=True)
def _sim_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALI_UIO_BACKEND", "sim")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def accesses(path: Path) -> list[tuple[str, int, int]]:
    return [(a.op, a.offset, a.value) for a in read_trace(path).accesses]


# -- --trace after every command that opens a backend ----------------------------------------------


def test_peek_records_exactly_its_one_read(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "peek.bin"
    code, out, err = run(capsys, "peek", "GPU_ID", "--trace", str(path), "--json")
    assert code == 0 and json.loads(out)["value"] == 0xA8670005
    assert accesses(path) == [("R", 0x000, 0xA8670005)]
    t = read_trace(path)
    assert t.complete and t.header.gpu_id == 0xA8670005
    assert (t.header.command or "").startswith("mali-uio peek (")
    assert "target='GPU_ID'" in (t.header.command or "")
    assert f"tracing MMIO to {path}" in err


def test_poke_records_exactly_its_one_write(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "poke.bin"
    code, _, _ = run(capsys, "poke", "GPU_IRQ_MASK", "0x20103", "--trace", str(path))
    assert code == 0
    assert accesses(path) == [("W", 0x028, 0x20103)]  # GPU_IRQ_MASK at 0x028 (reference §1.1)


def test_info_records_the_probe_reads(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "info.bin"
    assert run(capsys, "info", "--backend", "sim", "--trace", str(path))[0] == 0
    rows = accesses(path)
    assert rows[0] == ("R", 0x000, 0xA8670005) and all(op == "R" for op, _, _ in rows)
    assert ("R", 0x100, 0x50005) in rows  # SHADER_PRESENT_LO, reference §6


def test_regs_dump_records_one_read_per_readable_register(capsys: pytest.CaptureFixture[str],
                                                           tmp_path: Path) -> None:
    path = tmp_path / "dump.bin"
    code, out, _ = run(capsys, "regs", "dump", "MMU", "--json", "--trace", str(path))
    assert code == 0
    dumped = [(r["offset"], r["value"]) for r in json.loads(out)["registers"] if r["value"] is not None]
    assert [(off, v) for _, off, v in accesses(path)] == dumped


def test_bringup_trace_then_replay_agrees(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    # MMIO-only traces replay exactly up to the stages that depend on DMA memory (MMU walks, firmware).
    assert run(capsys, "bringup", "--backend", "sim", "--until", "flush", "--trace", str(path))[0] == 0
    code, out, _ = run(capsys, "trace", "replay", str(path), "--backend", "sim")
    assert code == 0 and "OK" in out and f"{len(read_trace(path))} accesses" in out


def test_open_backend_wraps_regions_only_when_tracing(tmp_path: Path) -> None:
    with open_backend(argparse.Namespace(backend="sim", trace=None)) as platform:
        assert type(platform.mmio) is SimMmioRegion  # the fast region itself: no tracing cost
    with open_backend(argparse.Namespace(backend="sim", trace=str(tmp_path / "t.bin"))) as platform:
        assert isinstance(platform.mmio, TracingMmioRegion) and type(platform.mmio.inner) is SimMmioRegion


def test_commands_without_a_backend_do_not_take_trace(capsys: pytest.CaptureFixture[str],
                                                      tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["regs", "decode", "GPU_ID", "0", "--trace", str(tmp_path / "x.bin")])
    assert exc.value.code == 2
    assert not (tmp_path / "x.bin").exists()


def test_an_unwritable_trace_path_is_a_clean_error(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    code, _, err = run(capsys, "info", "--trace", str(tmp_path / "no-such-dir" / "t.bin"))
    assert code == 1 and "cannot create trace file" in err and "errno=ENOENT" in err


# -- show ------------------------------------------------------------------------------------------


@pytest.fixture
def bringup_trace(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Path:
    path = tmp_path / "bringup.bin"
    # MMIO-only traces replay exactly up to the stages that depend on DMA memory (firmware boot).
    assert run(capsys, "bringup", "--json", "--until", "flush", "--trace", str(path))[0] == 0
    return path


def test_show_prints_one_decoded_line_per_access(capsys: pytest.CaptureFixture[str],
                                                 bringup_trace: Path) -> None:
    code, out, _ = run(capsys, "trace", "show", str(bringup_trace))
    assert code == 0
    lines = [line for line in out.splitlines() if not line.startswith("#")]
    assert len(lines) == len(read_trace(bringup_trace))
    assert lines[0].split() == ["0.000", "us", "R", "GPU_CONTROL", "GPU_ID=0xa8670005", "ARCH_MAJOR=0xa",
                                "ARCH_MINOR=8", "ARCH_REV=6", "PRODUCT_MAJOR=7", "VERSION_STATUS=5"]
    # The soft reset completes after 20 us (simulator default): RESET_COMPLETED is bit 8 (reference §1.4).
    assert "20.000 us R GPU_CONTROL GPU_IRQ_RAWSTAT=0x00000100 RESET_COMPLETED=1" in out
    assert "W GPU_CONTROL GPU_COMMAND=0x00000101 OPCODE=RESET PAYLOAD=1" in out
    assert "GPU_ID 0xa8670005" in out and "virtual clock" in out and "; complete" in out


def test_show_json_limit_and_writes_only(capsys: pytest.CaptureFixture[str], bringup_trace: Path) -> None:
    code, out, _ = run(capsys, "trace", "show", str(bringup_trace), "--json", "--writes-only", "--limit", "2")
    assert code == 0
    data = json.loads(out)
    assert data["shown"] == 2 and data["total"] == len(read_trace(bringup_trace)) and data["complete"]
    first, second = data["accesses"]
    assert (first["op"], first["register"], first["value"], first["fields"]) == (
        "W", "GPU_IRQ_CLEAR", 0x100, {"RESET_COMPLETED": 1})
    assert (second["register"], second["fields"]) == ("GPU_COMMAND", {"OPCODE": "RESET", "PAYLOAD": 1})
    assert data["header"]["gpu_id"] == 0xA8670005 and data["regdb_matches"]


def test_show_marks_unknown_offsets_and_failed_accesses(capsys: pytest.CaptureFixture[str],
                                                        tmp_path: Path) -> None:
    path = tmp_path / "odd.bin"
    # 0x1234 is an undefined offset: the strict simulator refuses the read.
    assert run(capsys, "peek", "0x1234", "--force", "--backend", "sim", "--trace", str(path))[0] == 1
    code, out, _ = run(capsys, "trace", "show", str(path))
    assert code == 0
    assert "R JOB_CONTROL 0x01234?=0x00000000 FAILED EPROTO" in out  # 0x1234: JOB_CONTROL block, undefined


def test_show_reports_corruption_with_the_byte_offset(capsys: pytest.CaptureFixture[str],
                                                      bringup_trace: Path) -> None:
    raw = bytearray(bringup_trace.read_bytes())
    hsize = int.from_bytes(raw[16:20], "little")
    raw[hsize + 5 * 16 + 4] = 0x99
    bringup_trace.write_bytes(bytes(raw))
    code, _, err = run(capsys, "trace", "show", str(bringup_trace))
    assert code == 1 and f"byte {hsize + 80:#x}: unknown record op 0x99" in err
    assert f"offset={hsize + 80:#x}" in err and "errno=EINVAL" in err


def test_show_truncated_and_incomplete_files(capsys: pytest.CaptureFixture[str], bringup_trace: Path) -> None:
    raw = bringup_trace.read_bytes()
    cut = bringup_trace.with_name("cut.bin")
    cut.write_bytes(raw[:-16 - 5])  # no END record, and 11 bytes of the last access
    assert run(capsys, "trace", "show", str(cut))[0] == 1
    code, out, _ = run(capsys, "trace", "show", str(cut), "--allow-truncated")
    assert code == 0 and "truncated at byte" in out
    prefix = bringup_trace.with_name("prefix.bin")
    prefix.write_bytes(raw[:-16])  # whole records, no END: the recorder was killed
    code, out, _ = run(capsys, "trace", "show", str(prefix))
    assert code == 0 and "incomplete: no END record" in out


# -- replay ------------------------------------------------------------------------------------------


def _tamper_first_read_of(path: Path, offset: int, value: int) -> None:
    t = read_trace(path)
    i = next(a.byte_offset for a in t.accesses if a.op == "R" and a.offset == offset)
    raw = bytearray(path.read_bytes())
    raw[i + 12:i + 16] = value.to_bytes(4, "little")
    path.write_bytes(bytes(raw))


def test_replay_reports_a_read_that_differs(capsys: pytest.CaptureFixture[str], bringup_trace: Path) -> None:
    _tamper_first_read_of(bringup_trace, 0x014, 0x2831)  # MMU_FEATURES recorded as another value
    code, out, _ = run(capsys, "trace", "replay", str(bringup_trace))
    assert code == 1
    assert "R MMU_FEATURES: recorded 0x00002831, replay read 0x00002830" in out
    assert "FAIL: 1 read(s) differ" in out
    code, out, _ = run(capsys, "trace", "replay", str(bringup_trace), "--json")
    data = json.loads(out)
    assert code == 1 and not data["ok"] and data["reads_differ"] == 1
    assert data["mismatches"][0]["register"] == "MMU_FEATURES" and data["mismatches"][0]["got"] == 0x2830


def test_replay_no_strict_and_recording_the_replay(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    path = tmp_path / "poke.bin"
    assert run(capsys, "poke", "GPU_ID", "0x1", "--force", "--trace", str(path))[0] == 1  # RO: refused
    assert accesses(path) == []  # refused by the register database before any access
    src = tmp_path / "p.bin"
    # An undefined offset: the strict simulator refuses the write (EPROTO) and it is recorded so.
    assert run(capsys, "poke", "0x1234", "0x1", "--force", "--trace", str(src))[0] == 1
    assert read_trace(src).accesses.errno.tolist() == [71]  # EPROTO
    assert run(capsys, "trace", "replay", str(src))[0] == 0
    code, out, _ = run(capsys, "trace", "replay", str(src), "--no-strict")
    assert code == 1 and "recorded error EPROTO, replay ok" in out
    again = tmp_path / "again.bin"
    assert run(capsys, "trace", "replay", str(src), "--trace", str(again))[0] == 0
    assert accesses(again) == accesses(src)
    assert read_trace(again).accesses.errno.tolist() == [71]


def test_replay_of_a_replay_recording_is_identical(capsys: pytest.CaptureFixture[str], bringup_trace: Path,
                                                   tmp_path: Path) -> None:
    again = tmp_path / "again.bin"
    assert run(capsys, "trace", "replay", str(bringup_trace), "--trace", str(again))[0] == 0
    code, out, _ = run(capsys, "trace", "diff", str(bringup_trace), str(again))
    assert code == 0 and "IDENTICAL" in out


def test_replay_refuses_other_backends(capsys: pytest.CaptureFixture[str], bringup_trace: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["trace", "replay", str(bringup_trace), "--backend", "uio"])
    assert exc.value.code == 2


# -- diff ----------------------------------------------------------------------------------------------


def test_diff_reports_a_different_write(capsys: pytest.CaptureFixture[str], bringup_trace: Path,
                                        tmp_path: Path) -> None:
    other = tmp_path / "other.bin"
    assert run(capsys, "bringup", "--trace", str(other))[0] == 0
    t = read_trace(other)
    i = next(a.byte_offset for a in t.accesses if a.op == "W" and a.offset == 0x028)  # GPU_IRQ_MASK
    raw = bytearray(other.read_bytes())
    raw[i + 12:i + 16] = (0x20101).to_bytes(4, "little")
    other.write_bytes(bytes(raw))
    code, out, _ = run(capsys, "trace", "diff", str(bringup_trace), str(other))
    assert code == 1 and "W GPU_IRQ_MASK: A 0x00020103, B 0x00020101" in out and "DIFFERENT" in out
    code, out, _ = run(capsys, "trace", "diff", str(bringup_trace), str(other), "--json")
    data = json.loads(out)
    assert code == 1 and data["writes_differ"] == 1 and data["first"]["kind"] == "write-value"
    assert not data["equivalent"] and not data["identical"]
