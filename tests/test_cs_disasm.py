"""CS disassembler text and the `mali-uio cs` CLI (disasm on a file and on stdin, jobseq, opcodes)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from uio_driver.cli.main import main
from uio_driver.csf.disasm import disassemble, disassemble_bytes, disassemble_one, format_listing
from uio_driver.errors import InvalidArgument

# Known words (hand-encoded, see test_cs_isa.py) and the text the disassembler must print.
KNOWN = [
    (0x022A0000_DEADBEEF, "MOVE32 r42, #0xDEADBEEF"),
    (0x015C0000_00010000, "MOVE48 d92, #0x10000"),
    (0x03000000_00FF0000, "WAIT wait_mask=0xFF"),
    (0x03000001_00010000, "WAIT wait_mask=0x1, progress_increment"),
    (0x20005C5E_00000000, "CALL d92, r94"),
    (0x21000204_00000000, "JUMP d2, r4"),
    (0x33005C5E_00000001,
     "SYNC_ADD64 [d92], d94, error_propagate, scope=system, wait_mask=0x0, signal_slot=0"),
    (0x26010A0C_00030004, "SYNC_SET32 [d10], r12, scope=csg, wait_mask=0x3, signal_slot=1"),
    (0x3500080A_10000001, "SYNC_WAIT64 [d8], d10, condition=greater, error_reject"),
    (0x24005E00_00000233, "FLUSH_CACHE2 r94, l2_flush_mode=clean_and_invalidate, "
                          "lsc_flush_mode=clean_and_invalidate, other_flush_mode=invalidate, wait_mask=0x0, "
                          "signal_slot=0"),
    (0x140A1400_000FFFF8, "LOAD_MULTIPLE r10:r11:r12:r13, [d20 - 8]"),
    (0x150C1600_00030010, "STORE_MULTIPLE [d22 + 16], r12:r13"),
    (0x140A1400_00050000, "LOAD_MULTIPLE r10:r12, [d20]"),
    (0x10030400_FFFFFFFE, "ADD_IMMEDIATE32 r3, r4, #-2"),
    (0x12010203_00000000, "UMIN32 r1, r2, r3"),
    (0x28005C01_00000000, "STORE_STATE [d92], state=cycle_count, wait_mask=0x0, signal_slot=0"),
    (0x28015C03_0001FFF0, "STORE_STATE [d92 - 16], state=error_status, wait_mask=0x1, signal_slot=1"),
    (0x22000000_0000000D, "REQ_RESOURCE compute, tiler, idvs"),
    (0x07000001_00000061, "RUN_FRAGMENT enable_tem, tile_order=reverse_vertical, progress_increment"),
    (0x2F000000_00000000, "ERROR_BARRIER"),
    (0x00000000_00000000, "NOP"),
    (0x00000000_00000005, "NOP ignored=0x5"),
]


@pytest.mark.parametrize(("word", "text"), KNOWN, ids=[t.split()[0] for _, t in KNOWN])
def test_known_words(word: int, text: str) -> None:
    line = disassemble_one(word, 0x1000)
    assert line.text == text
    assert not line.flagged and line.comments == ()


def test_line_format_address_and_raw_word() -> None:
    lines = disassemble([0x022A0000_DEADBEEF, 0x2F000000_00000000], base=0x8000_1000)
    assert [str(ln) for ln in lines] == [
        "0x000080001000: 022A0000_DEADBEEF  MOVE32 r42, #0xDEADBEEF",
        "0x000080001008: 2F000000_00000000  ERROR_BARRIER",
    ]
    assert format_listing(lines) == "".join(f"{ln}\n" for ln in lines)


def test_reserved_bits_and_problems_flagged() -> None:
    line = disassemble_one(0x0200FF00_00000001)
    assert line.text == "MOVE32 r0, #0x1"
    assert line.flagged and "reserved bits set: 0x0000FF0000000000" in str(line)
    line = disassemble_one(0x24000000_00000002)  # L2 flush mode 2 is undefined
    assert "l2_flush_mode=?2" in line.text and line.flagged
    line = disassemble_one(0x20005D5E_00000000)  # odd pair d93
    assert line.text == "CALL d93, r94" and "odd register pair d93" in str(line)


def test_unknown_opcode_line() -> None:
    line = disassemble_one(0x1E000000_00000001, 0x40)
    assert str(line) == ("0x000000000040: 1E000000_00000001  .word 0x1E00000000000001  ; "
                         "opcode 0x1e is SHARED_SB_INC on arch v11+, invalid on v10")
    assert "not defined on arch v10" in str(disassemble_one(0x0A << 56))


def test_branch_targets() -> None:
    # BRANCH r1 NEQUAL -2 at 0x2008 -> 0x2008 + 8 - 16 = 0x2000; ALWAYS +1 at 0x2010 -> 0x2020.
    lines = disassemble([0x10010100_FFFFFFFF, 0x16000100_3000FFFE, 0x16000000_60000001], base=0x2000)
    assert str(lines[1]) == ("0x000000002008: 16000100_3000FFFE  BRANCH r1, condition=nequal, offset=-2  "
                             "; -> 0x000000002000")
    assert lines[2].comments == ("-> 0x000000002020",)
    assert lines[1].flagged is False  # an annotation is not a flag


def test_disassemble_refusals() -> None:
    with pytest.raises(InvalidArgument, match="multiple of 8"):
        disassemble_bytes(bytes(9))
    with pytest.raises(InvalidArgument, match="base"):
        disassemble([0], base=4)
    with pytest.raises(InvalidArgument):
        disassemble([1 << 64])
    with pytest.raises(InvalidArgument, match="address space"):
        disassemble([0, 0], base=(1 << 64) - 8)


# --- CLI ---------------------------------------------------------------------------------------

# The §1.9 per-job sequence, as raw little-endian bytes.
JOB_WORDS = [0x025E0000_00000000, 0x24005E00_00000233, 0x015C0000_00010000, 0x025E0000_00000100,
             0x03000000_00010000, 0x20005C5E_00000000, 0x015C0000_00020000, 0x015E0000_00000001,
             0x03000000_00FF0000, 0x33005C5E_00000001, 0x2F000000_00000000] + [0] * 5
JOB_BYTES = b"".join(w.to_bytes(8, "little") for w in JOB_WORDS)


class _BinaryStdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


def test_cli_disasm_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "job.bin"
    path.write_bytes(JOB_BYTES)
    assert main(["cs", "disasm", str(path), "--base", "0x1000"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 16
    assert out[0] == "0x000000001000: 025E0000_00000000  MOVE32 r94, #0x0"
    assert out[5] == "0x000000001028: 20005C5E_00000000  CALL d92, r94"
    assert out[10] == "0x000000001050: 2F000000_00000000  ERROR_BARRIER"
    assert out[15].endswith("NOP")


def test_cli_disasm_stdin_json(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    flagged_word = 0x0200FF00_00000001
    monkeypatch.setattr(sys, "stdin", _BinaryStdin(JOB_BYTES[:16] + flagged_word.to_bytes(8, "little")))
    assert main(["cs", "disasm", "-", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["count"] == 3 and doc["flagged"] == 1
    first, _, last = doc["instructions"]
    assert first["address"] == 0 and first["mnemonic"] == "MOVE32"
    assert first["fields"] == {"destination": 94, "immediate": 0}
    assert last["address"] == 16 and last["reserved_bits"] == "0x0000ff0000000000"


def test_cli_disasm_stdin_text(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", _BinaryStdin((0x022A0000_DEADBEEF).to_bytes(8, "little")))
    assert main(["cs", "disasm", "-"]) == 0
    assert capsys.readouterr().out == "0x000000000000: 022A0000_DEADBEEF  MOVE32 r42, #0xDEADBEEF\n"


def test_cli_disasm_bad_length(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", _BinaryStdin(bytes(12)))
    assert main(["cs", "disasm", "-"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    errors = [ln for ln in captured.err.splitlines() if ln.startswith("mali-uio: error:")]
    assert errors == [
        "mali-uio: error: <stdin>: 12 bytes is not a multiple of 8 (raw 64-bit CS instructions)"
    ]
    assert "Traceback" not in captured.err


def test_cli_disasm_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cs", "disasm", str(tmp_path / "nope.bin")]) == 1
    err = capsys.readouterr().err
    assert "nope.bin" in err and "errno=ENOENT" in err


def test_cli_jobseq_matches_reference(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cs", "jobseq", "--stream-addr", "0x10000", "--stream-size", "0x100", "--sync-addr",
                 "0x20000", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [int(i["word"], 16) for i in doc["instructions"]] == JOB_WORDS
    assert doc["bytes"] == 128


def test_cli_jobseq_refusal(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cs", "jobseq", "--stream-addr", "0x10008", "--stream-size", "8", "--sync-addr", "0"]) == 1
    assert "64-byte aligned" in capsys.readouterr().err


def test_cli_opcodes_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cs", "opcodes", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc) == 39
    call = next(d for d in doc if d["mnemonic"] == "CALL")
    assert call["opcode"] == 0x20
    fields = {(f["name"], f["hi"], f["lo"]) for f in call["fields"]}
    assert fields == {("address", 47, 40), ("length", 39, 32)}
