"""The simulator's own CS decoder against the reference (cs-isa-and-uapi.md §1.2, §1.3, §1.6, §1.9).

Expected values are read off the reference tables by hand: opcode in bits 63:56, the field bit
ranges of §1.3, the §1.9 word table and Mesa's ``MOVE32 r42, 0xDEADBEEF`` test vector.
"""

from __future__ import annotations

import pytest

from uio_driver.sim import cs_decode as d

#: §1.2: every defined v10 opcode and its Mesa name.
OPCODE_MAP = {
    0x00: "NOP", 0x01: "MOVE48", 0x02: "MOVE32", 0x03: "WAIT", 0x04: "RUN_COMPUTE", 0x05: "RUN_TILING",
    0x06: "RUN_IDVS", 0x07: "RUN_FRAGMENT", 0x08: "RUN_FULLSCREEN", 0x09: "FINISH_TILING",
    0x0B: "FINISH_FRAGMENT", 0x10: "ADD_IMMEDIATE32", 0x11: "ADD_IMMEDIATE64", 0x12: "UMIN32",
    0x14: "LOAD_MULTIPLE", 0x15: "STORE_MULTIPLE", 0x16: "BRANCH", 0x17: "SET_SB_ENTRY",
    0x18: "PROGRESS_WAIT",
    0x19: "SET_EXCEPTION_HANDLER", 0x20: "CALL", 0x21: "JUMP", 0x22: "REQ_RESOURCE", 0x24: "FLUSH_CACHE2",
    0x25: "SYNC_ADD32", 0x26: "SYNC_SET32", 0x27: "SYNC_WAIT32", 0x28: "STORE_STATE", 0x29: "PROT_REGION",
    0x2A: "PROGRESS_STORE", 0x2B: "PROGRESS_LOAD", 0x2C: "RUN_COMPUTE_INDIRECT", 0x2F: "ERROR_BARRIER",
    0x30: "HEAP_SET", 0x31: "HEAP_OPERATION", 0x32: "TRACE_POINT", 0x33: "SYNC_ADD64", 0x34: "SYNC_SET64",
    0x35: "SYNC_WAIT64",
}
#: §1.2 "Unused numbers" (10, 12-15, 19, 26-31, 35, 45, 46, >= 54), which include the v11+ opcodes of §1.8.
UNDEFINED = [10, 12, 13, 14, 15, 19, 26, 27, 28, 29, 30, 31, 35, 45, 46, 54, 0x40, 0x80, 0xFF]


def fields(word: int) -> dict[str, int]:
    instr = d.decode(word)
    return dict(zip((f.name for f in d.LAYOUTS[instr.opcode].fields), instr.args, strict=True))


def test_the_opcode_map_is_the_reference_one():
    assert {op: lay.name for op, lay in d.LAYOUTS.items()} == OPCODE_MAP


@pytest.mark.parametrize("opcode", UNDEFINED)
def test_undefined_opcodes_decode_as_invalid(opcode):
    instr = d.decode(opcode << 56 | 0x1234)
    assert (instr.opcode, instr.name, instr.args) == (opcode, "INVALID", ())


def test_mesa_move32_vector():
    assert d.decode(0x022A0000DEADBEEF).name == "MOVE32"
    assert fields(0x022A0000DEADBEEF) == {"dest": 42, "imm": 0xDEADBEEF}


@pytest.mark.parametrize("word,name,expected", [
    (0x025E0000_00000007, "MOVE32", {"dest": 94, "imm": 7}),
    (0x24005E00_00000233, "FLUSH_CACHE2",
     {"l2": 3, "lsc": 3, "other": 2, "wait": 0, "flush_id": 94, "signal": 0}),
    (0x015C1234_56789ABC, "MOVE48", {"dest": 92, "imm": 0x1234_56789ABC}),
    (0x03000000_00010000, "WAIT", {"mask": 1, "progress": 0}),
    (0x20005C5E_00000000, "CALL", {"addr": 92, "length": 94}),
    (0x015E0000_00000001, "MOVE48", {"dest": 94, "imm": 1}),
    (0x03000000_00FF0000, "WAIT", {"mask": 0xFF, "progress": 0}),
    (0x33005C5E_00000001, "SYNC_ADD64",
     {"propagate": 1, "scope": 0, "wait": 0, "data": 94, "addr": 92, "signal": 0}),
    (0x2F000000_00000000, "ERROR_BARRIER", {}),
    (0, "NOP", {}),
])
def test_the_panthor_job_words_of_section_1_9(word, name, expected):
    assert d.decode(word).name == name
    assert fields(word) == expected


def test_field_layouts_by_hand():
    # SYNC_WAIT64: 0 error reject, 31:28 condition, 39:32 reference, 47:40 address.
    assert fields(0x35 << 56 | 0x50 << 40 | 0x52 << 32 | 1 << 28 | 1) == {"reject": 1, "cond": 1, "ref": 0x52,
                                                                         "addr": 0x50}
    # STORE_STATE: 15:0 signed offset, 31:16 wait, 33:32 state, 47:40 address, 51:48 signal.
    assert fields(0x28 << 56 | 7 << 48 | 0x40 << 40 | 1 << 32 | 0x3 << 16 | 0xFFF8) == {
        "offset": -8, "wait": 3, "state": 1, "addr": 0x40, "signal": 7}
    # FINISH_FRAGMENT: 0 increment, 31:16 wait, 39:32 last, 47:40 first, 51:48 signal.
    assert fields(0x0B << 56 | 2 << 48 | 0x20 << 40 | 0x22 << 32 | 0x80 << 16 | 1) == {
        "increment": 1, "wait": 0x80, "last": 0x22, "first": 0x20, "signal": 2}
    # RUN_IDVS: 33 malloc enable, 47:40 draw-ID register.
    got = fields(0x06 << 56 | 0x30 << 40 | 1 << 33 | 1 << 32 | 0xABCD)
    assert (got["flags"], got["progress"], got["malloc"], got["draw_id_reg"]) == (0xABCD, 1, 1, 0x30)
    # SET_SB_ENTRY: 3:0 endpoint, 7:4 other.
    assert fields(0x17 << 56 | 0x53) == {"endpoint": 3, "other": 5}
    # LOAD_MULTIPLE: 55:48 base, 47:40 address, 31:16 mask, 15:0 signed offset.
    assert fields(0x14 << 56 | 10 << 48 | 60 << 40 | 0x8001 << 16 | 0x8000) == {
        "base": 10, "addr": 60, "mask": 0x8001, "offset": -0x8000}


def test_signed_immediates_and_branch_offsets():
    assert fields(0x10 << 56 | 1 << 48 | 2 << 40 | 0xFFFFFFFF)["imm"] == -1
    assert fields(0x11 << 56 | 0x7FFFFFFF)["imm"] == 0x7FFFFFFF
    branch = fields(0x16 << 56 | 5 << 40 | 6 << 28 | 0xFFFD)
    assert branch == {"value": 5, "cond": 6, "offset": -3}


def test_decoding_is_cached_and_describe_names_fields():
    word = 0x33005C5E_00000001
    assert d.decode(word) is d.decode(word)
    assert d.describe(word).startswith("SYNC_ADD64 propagate=1 scope=0 wait=0 data=0x5e addr=0x5c")
    assert d.describe(0x0A << 56) == "INVALID opcode 0x0a (word 0x0a00000000000000)"


@pytest.mark.parametrize("cond,value,taken", [
    (d.COND_LEQUAL, 0, True), (d.COND_LEQUAL, 1, False), (d.COND_LEQUAL, 0xFFFFFFFF, True),
    (d.COND_GREATER, 1, True), (d.COND_GREATER, 0, False), (d.COND_GREATER, 0x80000000, False),
    (d.COND_EQUAL, 0, True), (d.COND_EQUAL, 5, False), (d.COND_NEQUAL, 5, True), (d.COND_NEQUAL, 0, False),
    (d.COND_LESS, 0xFFFFFFFF, True), (d.COND_LESS, 0, False), (d.COND_GEQUAL, 0, True),
    (d.COND_GEQUAL, 0x80000000, False), (d.COND_ALWAYS, 0, True), (7, 0, False),
])
def test_branch_conditions_compare_the_register_with_zero_signed(cond, value, taken):
    assert d.branch_taken(cond, value) is taken


@pytest.mark.parametrize("cond,mem,ref,done", [
    (d.COND_LEQUAL, 3, 3, True), (d.COND_LEQUAL, 4, 3, False), (d.COND_GREATER, 4, 3, True),
    (d.COND_GREATER, 3, 3, False), (d.COND_GREATER, 1 << 63, 1, True),  # unsigned
])
def test_sync_wait_conditions(cond, mem, ref, done):
    assert d.sync_wait_done(cond, mem, ref) is done
