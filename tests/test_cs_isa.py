"""CS instruction set: encode/decode against words hand-computed from cs-isa-and-uapi.md §1.2-§1.3."""

from __future__ import annotations

import errno

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uio_driver.csf.isa import (
    BY_OPCODE,
    INSTRUCTIONS,
    UNKNOWN_MNEMONIC,
    CsCondition,
    CsFlushMode,
    CsHeapOperation,
    CsOtherFlushMode,
    CsState,
    CsSyncScope,
    Field,
    FieldKind,
    InstrDef,
    TaskAxis,
    TileRenderOrder,
    decode,
    encode,
    lookup,
    words_from_bytes,
    words_to_bytes,
)
from uio_driver.errors import InvalidArgument

# The v10 opcode map, typed from the reference table §1.2 (decimal column).
REFERENCE_OPCODES = {
    0: "NOP", 1: "MOVE48", 2: "MOVE32", 3: "WAIT", 4: "RUN_COMPUTE", 5: "RUN_TILING", 6: "RUN_IDVS",
    7: "RUN_FRAGMENT", 8: "RUN_FULLSCREEN", 9: "FINISH_TILING", 11: "FINISH_FRAGMENT",
    16: "ADD_IMMEDIATE32", 17: "ADD_IMMEDIATE64", 18: "UMIN32", 20: "LOAD_MULTIPLE",
    21: "STORE_MULTIPLE", 22: "BRANCH", 23: "SET_SB_ENTRY", 24: "PROGRESS_WAIT",
    25: "SET_EXCEPTION_HANDLER", 32: "CALL", 33: "JUMP", 34: "REQ_RESOURCE", 36: "FLUSH_CACHE2",
    37: "SYNC_ADD32", 38: "SYNC_SET32", 39: "SYNC_WAIT32", 40: "STORE_STATE", 41: "PROT_REGION",
    42: "PROGRESS_STORE", 43: "PROGRESS_LOAD", 44: "RUN_COMPUTE_INDIRECT", 47: "ERROR_BARRIER",
    48: "HEAP_SET", 49: "HEAP_OPERATION", 50: "TRACE_POINT", 51: "SYNC_ADD64", 52: "SYNC_SET64",
    53: "SYNC_WAIT64",
}

# One vector per opcode: fields with distinctive values and the word computed by hand from the
# bit ranges of §1.3 (the comment shows the byte split: opcode | 55:48 | 47:40 | 39:32 | 31:0).
VECTORS = [
    ("NOP", {}, 0x00000000_00000000),
    ("MOVE48", dict(destination=32, immediate=0x123456789ABC), 0x0120_1234_5678_9ABC),
    ("MOVE32", dict(destination=42, immediate=0xDEADBEEF), 0x022A0000_DEADBEEF),  # Mesa unit test, §1.9
    ("WAIT", dict(wait_mask=0x81, progress_increment=True), 0x03_00_00_01_0081_0000),
    # task_axis Z (2<<14) | 0x155; selects srt1 spd2 tsd3 fau1 -> 0x79 in 47:40
    ("RUN_COMPUTE", dict(task_increment=0x155, task_axis=TaskAxis.Z, progress_increment=True, srt_select=1,
                         spd_select=2, tsd_select=3, fau_select=1), 0x04_00_79_01_0000_8155),
    ("RUN_TILING", dict(flags_override=0xCAFEF00D, srt_select=3, fau_select=2), 0x05_00_83_00_CAFEF00D),
    # bits 32,33,34,36,38,39 -> 0xD7; draw_id r17
    ("RUN_IDVS", dict(draw_id=17, flags_override=0x12345678, progress_increment=True, malloc_enable=True,
                      draw_id_register_enable=True, varying_fau_select=1, fragment_srt_select=1,
                      fragment_tsd_select=1), 0x06_00_11_D7_12345678),
    ("RUN_FRAGMENT", dict(enable_tem=True, tile_order=TileRenderOrder.REVERSE_VERTICAL,
                          progress_increment=True), 0x07_00_00_01_0000_0061),
    ("RUN_FULLSCREEN", dict(dcd=40, flags_override=1), 0x08_00_28_00_0000_0001),
    ("FINISH_TILING", dict(progress_increment=True), 0x09_00_00_01_0000_0000),
    ("FINISH_FRAGMENT", dict(increment_fragment_completed=True, wait_mask=0xF0, last_heap_chunk=6,
                             first_heap_chunk=4, signal_slot=5), 0x0B_05_04_06_00F0_0001),
    ("ADD_IMMEDIATE32", dict(destination=3, source=4, immediate=-2), 0x10_03_04_00_FFFFFFFE),
    ("ADD_IMMEDIATE64", dict(destination=6, source=8, immediate=0x100), 0x11_06_08_00_00000100),
    ("UMIN32", dict(destination=1, source_0=2, source_1=3), 0x12_01_02_03_00000000),
    ("LOAD_MULTIPLE", dict(base_register=10, address=20, mask=0xF, offset=-8), 0x14_0A_14_00_000F_FFF8),
    ("STORE_MULTIPLE", dict(address=22, base_register=12, mask=0x3, offset=16), 0x15_0C_16_00_0003_0010),
    ("BRANCH", dict(value=5, condition=CsCondition.GEQUAL, offset=-3), 0x16_00_05_00_5000_FFFD),
    ("SET_SB_ENTRY", dict(endpoint_entry=3, other_entry=6), 0x17_00_00_00_0000_0063),
    ("PROGRESS_WAIT", dict(source=30, queue=17), 0x18_00_1E_00_0000_0011),
    ("SET_EXCEPTION_HANDLER", dict(address=50, length=52, exception_type=2), 0x19_00_32_34_0000_0002),
    ("CALL", dict(address=92, length=94), 0x20_00_5C_5E_0000_0000),  # §1.9
    ("JUMP", dict(address=2, length=4), 0x21_00_02_04_0000_0000),
    ("REQ_RESOURCE", dict(compute=True, tiler=True, idvs=True), 0x22_00_00_00_0000_000D),
    ("FLUSH_CACHE2", dict(latest_flush_id=7, l2_flush_mode=CsFlushMode.CLEAN, lsc_flush_mode=CsFlushMode.NONE,
                          other_flush_mode=CsOtherFlushMode.INVALIDATE, wait_mask=0x3, signal_slot=2),
     0x24_02_07_00_0003_0201),
    ("SYNC_ADD32", dict(address=10, data=12, error_propagate=True, scope=CsSyncScope.CSG, wait_mask=0x10,
                        signal_slot=7), 0x25_07_0A_0C_0010_0005),
    ("SYNC_SET32", dict(address=2, data=3), 0x26_00_02_03_0000_0000),
    ("SYNC_WAIT32", dict(address=4, data=6, condition=CsCondition.GREATER, error_reject=True),
     0x27_00_04_06_1000_0001),
    ("STORE_STATE", dict(address=92, offset=-16, state=CsState.ERROR_STATUS, wait_mask=1, signal_slot=1),
     0x28_01_5C_03_0001_FFF0),
    ("PROT_REGION", dict(size=0x40), 0x29_00_00_00_0000_0040),
    ("PROGRESS_STORE", dict(source=8), 0x2A_00_08_00_0000_0000),
    ("PROGRESS_LOAD", dict(destination=10), 0x2B_0A_00_00_0000_0000),
    ("RUN_COMPUTE_INDIRECT", dict(workgroups_per_task=0xBEEF, spd_select=1, tsd_select=2, fau_select=3),
     0x2C_00_E4_00_0000_BEEF),
    ("ERROR_BARRIER", {}, 0x2F_00_00_00_0000_0000),
    ("HEAP_SET", dict(address=60), 0x30_00_3C_00_0000_0000),
    ("HEAP_OPERATION", dict(operation=CsHeapOperation.FRAGMENT_COMPLETED, wait_mask=0x80, signal_slot=3),
     0x31_03_00_03_0080_0000),
    ("TRACE_POINT", dict(base_register=32, register_count=4, wait_mask=2, signal_slot=1),
     0x32_01_04_20_0002_0000),
    ("SYNC_ADD64", dict(address=92, data=94, error_propagate=True), 0x33_00_5C_5E_0000_0001),  # §1.9
    ("SYNC_SET64", dict(address=4, data=6, scope=CsSyncScope.CSG, wait_mask=0xFF), 0x34_00_04_06_00FF_0004),
    ("SYNC_WAIT64", dict(address=8, data=10, condition=CsCondition.LEQUAL), 0x35_00_08_0A_0000_0000),
]


def test_opcode_map_matches_reference() -> None:
    assert {d.opcode: d.mnemonic for d in INSTRUCTIONS} == REFERENCE_OPCODES


def test_every_opcode_has_a_hand_vector() -> None:
    assert sorted(m for m, _, _ in VECTORS) == sorted(REFERENCE_OPCODES.values())


@pytest.mark.parametrize(("mnemonic", "fields", "word"), VECTORS, ids=[v[0] for v in VECTORS])
def test_encode_matches_hand_vector(mnemonic: str, fields: dict, word: int) -> None:
    assert encode(mnemonic, **fields) == word


@pytest.mark.parametrize(("mnemonic", "fields", "word"), VECTORS, ids=[v[0] for v in VECTORS])
def test_decode_hand_vector(mnemonic: str, fields: dict, word: int) -> None:
    instr = decode(word)
    assert instr.mnemonic == mnemonic
    assert instr.opcode == word >> 56
    assert instr.reserved_bits == 0 and instr.problems == ()
    for name, value in fields.items():
        assert instr.fields[name] == value, name
    # Fields not given in the vector decode as zero/False.
    for name, value in instr.fields.items():
        if name not in fields:
            assert value == 0, name


def test_fields_do_not_overlap_and_stay_in_payload() -> None:
    for d in INSTRUCTIONS:
        seen = 0
        for f in d.fields:
            assert f.hi < 56 and f.lo >= 0 and f.hi >= f.lo, (d.mnemonic, f.name)
            assert not seen & f.mask, (d.mnemonic, f.name)
            seen |= f.mask


def _field_strategy(f: Field) -> st.SearchStrategy:
    if f.kind is FieldKind.FLAG:
        return st.booleans()
    if f.kind is FieldKind.ENUM:
        return st.sampled_from(sorted(f.accepted_values()))
    if f.kind is FieldKind.SINT:
        return st.integers(-(1 << (f.width - 1)), (1 << (f.width - 1)) - 1)
    if f.kind is FieldKind.REG64:
        return st.integers(0, (1 << (f.width - 1)) - 1).map(lambda r: 2 * r)
    return st.integers(0, (1 << f.width) - 1)


@pytest.mark.parametrize("defn", INSTRUCTIONS, ids=[d.mnemonic for d in INSTRUCTIONS])
def test_round_trip_every_opcode(defn: InstrDef) -> None:
    @settings(max_examples=40, deadline=None)
    @given(st.fixed_dictionaries({f.name: _field_strategy(f) for f in defn.fields}))
    def check(fields: dict) -> None:
        word = encode(defn.mnemonic, **fields)
        assert word >> 56 == defn.opcode
        instr = decode(word)
        assert instr.mnemonic == defn.mnemonic
        assert dict(instr.fields) == fields
        assert instr.reserved_bits == 0 and instr.problems == ()

    check()


@settings(max_examples=400, deadline=None)
@given(st.integers(0, (1 << 64) - 1))
def test_decode_is_total_and_lossless(word: int) -> None:
    instr = decode(word)
    opcode = word >> 56
    if opcode not in REFERENCE_OPCODES:
        assert instr.mnemonic == UNKNOWN_MNEMONIC and not instr.known
        assert instr.reserved_bits == word & ((1 << 56) - 1)
        assert instr.fields == {}
    elif not instr.problems:
        # Nothing is dropped: fields re-encode to the word minus exactly the reserved bits.
        assert encode(instr.mnemonic, **instr.fields) | instr.reserved_bits == word
        assert encode(instr.mnemonic, **instr.fields) & instr.reserved_bits == 0


def test_reserved_bits_reported() -> None:
    # MOVE32 has nothing in 47:32 (§1.3 "Bits 47:32 zero").
    i = decode(0x0200FF00_00000001)
    assert i.mnemonic == "MOVE32" and i.fields == {"destination": 0, "immediate": 1}
    assert i.reserved_bits == 0x0000FF00_00000000
    # WAIT: only 23:16 and 32 are fields.
    assert decode(0x03000000_00010001).reserved_bits == 1
    # ERROR_BARRIER has no fields at all.
    assert decode(0x2F123456_789ABCDE).reserved_bits == 0x00123456_789ABCDE
    # BRANCH's condition is 3 bits (30:28), so bit 31 is reserved; SYNC_WAIT32's is 4 bits (31:28).
    assert decode(0x16000000_E0000000).reserved_bits == 1 << 31
    assert decode(0x16000000_E0000000).fields["condition"] == CsCondition.ALWAYS
    assert decode(0x27000000_10000000).reserved_bits == 0
    # RUN_FRAGMENT: bits 3:1 lie between enable_tem (0) and tile_order (7:4).
    assert decode(0x07000000_0000000E).reserved_bits == 0xE


def test_unknown_and_later_arch_opcodes() -> None:
    for opcode in (10, 12, 13, 14, 15, 19, 26, 27, 28, 29, 30, 31, 35, 45, 46, 54, 0xFF):
        word = (opcode << 56) | 0x1234
        i = decode(word)
        assert i.mnemonic == UNKNOWN_MNEMONIC and i.word == word and i.opcode == opcode
        assert i.problems
    assert "SHARED_SB_INC" in decode(30 << 56).problems[0]
    assert "SHARED_SB_DEC" in decode(31 << 56).problems[0]


def test_decode_flags_undefined_enum_and_odd_pairs() -> None:
    # FLUSH_CACHE2 with L2 mode 2 (undefined in CS Flush Mode).
    i = decode(0x24000000_00000002)
    assert i.fields["l2_flush_mode"] == 2 and not isinstance(i.fields["l2_flush_mode"], CsFlushMode)
    assert any("l2_flush_mode" in p for p in i.problems)
    # SYNC_WAIT64 with EQUAL: defined condition but not valid for sync waits (§1.6).
    i = decode(0x35000406_20000000)
    assert i.fields["condition"] is CsCondition.EQUAL
    assert any("EQUAL" in p for p in i.problems)
    # CALL d93: odd pair.
    i = decode(0x20005D5E_00000000)
    assert i.fields["address"] == 93 and any("odd" in p for p in i.problems)


def test_aliases_and_enum_spellings() -> None:
    assert lookup("mov32") is lookup("MOVE32") is BY_OPCODE[2]
    assert lookup("MOV48") is lookup("MOVE") is BY_OPCODE[1]
    assert lookup("COMPARE_SELECT32") is BY_OPCODE[0x12]
    assert lookup("LDM").opcode == 0x14 and lookup("STM").opcode == 0x15
    expected = 0x24005E00_00000233  # §1.9
    assert encode("FLUSH_CACHE2", latest_flush_id=94, l2_flush_mode=3, lsc_flush_mode=3, other_flush_mode=2) \
        == expected
    assert encode("FLUSH_CACHE2", latest_flush_id=94, l2_flush_mode="clean_and_invalidate",
                  lsc_flush_mode="CLEAN_AND_INVALIDATE", other_flush_mode="invalidate") == expected
    # SET_EXCEPTION_HANDLER defaults to the only defined exception type, TILER_OOM (2).
    assert encode("SET_EXCEPTION_HANDLER", address=2, length=4) == 0x19000204_00000002


REFUSALS = [
    ("FOO", {}),
    ("SHARED_SB_INC", {}),
    ("MOVE32", {"dest": 1}),
    ("MOVE32", {"destination": 1, "immediate": 1 << 32}),
    ("MOVE32", {"destination": 256}),
    ("MOVE32", {"destination": -1}),
    ("MOVE48", {"destination": 2, "immediate": 1 << 48}),
    ("MOVE48", {"destination": 93}),  # odd pair
    ("SYNC_ADD64", {"address": 92, "data": 95}),  # odd pair
    ("CALL", {"address": 1, "length": 2}),  # odd pair
    ("ADD_IMMEDIATE32", {"immediate": 1 << 31}),
    ("ADD_IMMEDIATE32", {"immediate": -(1 << 31) - 1}),
    ("WAIT", {"wait_mask": 0x100}),  # 8-bit field
    ("LOAD_MULTIPLE", {"offset": 1 << 15}),
    ("FLUSH_CACHE2", {"l2_flush_mode": 2}),  # undefined flush mode
    ("FLUSH_CACHE2", {"other_flush_mode": 1}),
    ("SYNC_WAIT32", {"condition": CsCondition.EQUAL}),  # not valid for sync waits
    ("SYNC_WAIT64", {"condition": "always"}),
    ("BRANCH", {"condition": 7}),
    ("BRANCH", {"condition": CsFlushMode.CLEAN}),  # wrong enum type
    ("BRANCH", {"condition": "sometimes"}),
    ("SET_EXCEPTION_HANDLER", {"exception_type": 0}),
    ("HEAP_OPERATION", {"operation": 2}),
    ("WAIT", {"progress_increment": 2}),
    ("MOVE32", {"immediate": "5"}),
    ("MOVE32", {"immediate": 1.5}),
    ("MOVE32", {"destination": True}),
]


@pytest.mark.parametrize(("mnemonic", "fields"), REFUSALS)
def test_encode_refusals(mnemonic: str, fields: dict) -> None:
    with pytest.raises(InvalidArgument) as exc:
        encode(mnemonic, **fields)
    assert exc.value.errno == errno.EINVAL
    assert "\n" not in str(exc.value)


def test_refusal_messages_are_specific() -> None:
    with pytest.raises(InvalidArgument, match="v11"):
        encode("SHARED_SB_INC")
    with pytest.raises(InvalidArgument, match="even"):
        encode("MOVE48", destination=93)
    with pytest.raises(InvalidArgument, match=r"MOVE32\.immediate"):
        encode("MOVE32", immediate=1 << 32)
    with pytest.raises(InvalidArgument, match="no field"):
        encode("NOP", destination=1)


@pytest.mark.parametrize("bad", [-1, 1 << 64, "0x1", 1.0, None])
def test_decode_refuses_non_64bit(bad: object) -> None:
    with pytest.raises(InvalidArgument):
        decode(bad)  # type: ignore[arg-type]


def test_words_bytes_little_endian() -> None:
    data = bytes.fromhex("efbeadde00002a02") + bytes(8)
    assert words_from_bytes(data) == [0x022A0000_DEADBEEF, 0]
    assert words_to_bytes([0x022A0000_DEADBEEF, 0]) == data
    with pytest.raises(InvalidArgument, match="multiple of 8"):
        words_from_bytes(bytes(12))
    with pytest.raises(InvalidArgument):
        words_to_bytes([1 << 64])


def test_instructions_compare_and_hash_by_content() -> None:
    a, b = decode(0x022A0000_DEADBEEF), decode(0x022A0000_DEADBEEF)
    assert a == b and len({a, b, decode(0)}) == 2
    assert a.to_dict()["fields"] == {"destination": 42, "immediate": 0xDEADBEEF}
