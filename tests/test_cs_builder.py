"""CsBuilder: output vs hand-encoded words, labels/branch offsets, register and scoreboard checks."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from uio_driver.csf import (
    CsBuilder,
    CsCondition,
    CsFlushMode,
    CsHeapOperation,
    CsOtherFlushMode,
    CsState,
    CsSyncScope,
)
from uio_driver.errors import InvalidArgument

NOP = 0


def test_simple_stream_hand_encoded() -> None:
    cs = CsBuilder()
    cs.move48(92, 0x10000).move32(94, 64).wait(0x1).call(92, 94).error_barrier()
    assert cs.words() == [
        0x015C0000_00010000,  # MOVE48 d92 (0x5C in 55:48), imm in 47:0
        0x025E0000_00000040,  # MOVE32 r94
        0x03000000_00010000,  # WAIT mask 0x01 in 23:16
        0x20005C5E_00000000,  # CALL d92, r94
        0x2F000000_00000000,  # ERROR_BARRIER
    ]
    assert len(cs) == 5


def test_memory_and_arithmetic_hand_encoded() -> None:
    cs = CsBuilder()
    cs.load32(4, 2, 8)  # LDM base r4, address d2, mask 0x1, offset 8
    cs.load64(6, 2, -8)  # mask 0x3, offset -8 = 0xFFF8
    cs.store32(2, 5, 4)  # STM address d2, base r5
    cs.store64(2, 6, 0)
    cs.load_multiple(10, 20, 0xF, 0)
    cs.add_imm32(1, 1, -1)
    cs.add_imm64(2, 2, 0x40)
    cs.umin32(3, 4, 5)
    assert cs.words() == [
        0x14040200_00010008,
        0x14060200_0003FFF8,
        0x15050200_00010004,
        0x15060200_00030000,
        0x140A1400_000F0000,
        0x10010100_FFFFFFFF,
        0x11020200_00000040,
        0x12030405_00000000,
    ]


def test_sync_flush_and_state_hand_encoded() -> None:
    cs = CsBuilder()
    cs.flush_cache2(94, l2=CsFlushMode.CLEAN_AND_INVALIDATE, lsc=CsFlushMode.CLEAN_AND_INVALIDATE,
                    other=CsOtherFlushMode.INVALIDATE)
    cs.sync_add64(92, 94, error_propagate=True)
    cs.sync_set32(10, 12, scope=CsSyncScope.CSG, wait_mask=0x3, signal_slot=1)
    cs.sync_wait64(8, 10, CsCondition.GREATER, error_reject=True)
    cs.sync_wait32(8, 11, "lequal")
    cs.store_state(92, CsState.CYCLE_COUNT)
    cs.set_sb_entry(2, 1)
    cs.wait_all()
    assert cs.words() == [
        0x24005E00_00000233,  # cs-isa-and-uapi.md §1.9
        0x33005C5E_00000001,  # §1.9
        0x26010A0C_00030004,  # scope CSG = 2 in bits 2:1 -> 0x4; signal slot 1 in 51:48
        0x3500080A_10000001,  # GREATER = 1 in 31:28, error reject bit 0
        0x2700080B_00000000,
        0x28005C01_00000000,  # panthor's STORE_STATE cycles: (40<<56)|(92<<40)|(1<<32)
        0x17000000_00000012,
        0x03000000_00FF0000,
    ]


def test_work_instructions_hand_encoded() -> None:
    cs = CsBuilder()
    cs.req_resource(compute=True)
    cs.run_compute(1, "y", srt=1)
    cs.run_fragment(tile_order="horizontal")
    cs.run_fullscreen(40, 0x10)
    cs.finish_tiling()
    cs.heap_set(60)
    cs.heap_operation(CsHeapOperation.VERTEX_TILER_COMPLETED)  # 1 in 33:32
    assert cs.words() == [
        0x22000000_00000001,
        0x04000100_00004001,  # axis Y = 1 << 14, srt select 1 in 41:40
        0x07000000_00000010,  # tile order 1 in 7:4
        0x08002800_00000010,
        0x09000000_00000000,
        0x30003C00_00000000,
        0x31000001_00000000,
    ]


def test_move64_splits_above_48_bits() -> None:
    cs = CsBuilder()
    cs.move64(10, 0x0000_ABCD_1234_5678)  # fits in 48 bits: one MOVE48
    cs.move64(10, 0x1234_5678_9ABC_DEF0)
    assert cs.words() == [0x010AABCD_12345678, 0x010A5678_9ABCDEF0, 0x020B0000_12345678]
    before = cs.words()
    with pytest.raises(InvalidArgument):
        cs.move64(95, 1 << 60)  # odd pair and r96 does not exist: nothing appended
    assert cs.words() == before


def test_backward_label() -> None:
    cs = CsBuilder()
    loop = cs.label("loop")
    cs.bind(loop)
    cs.add_imm32(1, 1, -1)
    cs.branch(loop, CsCondition.NEQUAL, 1)  # at index 1, target 0: offset 0 - 1 - 1 = -2
    assert cs.words()[1] == 0x16000100_3000FFFE


def test_forward_labels_patched_on_bind() -> None:
    cs = CsBuilder()
    end = cs.label("end")
    cs.branch(end)  # index 0
    cs.nop()
    cs.branch(end, CsCondition.EQUAL, 7)  # index 2
    cs.nop()
    with pytest.raises(InvalidArgument, match="end"):
        cs.words()  # still unbound
    cs.bind(end)  # target index 4
    words = cs.words()
    assert words[0] == 0x16000000_60000003  # ALWAYS (6) in 30:28, offset 4 - 0 - 1 = 3
    assert words[2] == 0x16000700_20000001  # EQUAL (2), r7, offset 1


def test_branch_to_next_and_raw_offset() -> None:
    cs = CsBuilder()
    nxt = cs.label()
    cs.branch(nxt)
    cs.bind(nxt)
    cs.branch(-1)  # raw offset: to itself
    assert cs.words() == [0x16000000_60000000, 0x16000000_6000FFFF]


def test_label_misuse() -> None:
    cs, other = CsBuilder(), CsBuilder()
    lbl = cs.label("x")
    cs.bind(lbl)
    with pytest.raises(InvalidArgument, match="already bound"):
        cs.bind(lbl)
    with pytest.raises(InvalidArgument, match="does not belong"):
        other.branch(lbl)
    with pytest.raises(InvalidArgument, match="does not belong"):
        other.bind(lbl)


def test_forward_branch_out_of_range_changes_nothing() -> None:
    cs = CsBuilder()
    far = cs.label("far")
    cs.branch(far)
    cs.pad(40000)  # 39999 NOPs after the branch
    snapshot = list(cs._words)
    with pytest.raises(InvalidArgument, match="16 bits"):
        cs.bind(far)  # offset 39999 > 32767
    assert cs._words == snapshot and not far.bound


def test_backward_branch_out_of_range() -> None:
    cs = CsBuilder()
    top = cs.label()
    cs.bind(top)
    cs.nop().pad(32767)  # 32767 instructions
    cs.branch(top)  # index 32767: offset 0 - 32767 - 1 = -32768, the int16 minimum
    assert cs.words()[-1] == 0x16000000_60008000
    n = len(cs)
    with pytest.raises(InvalidArgument, match="16 bits"):
        cs.branch(top)  # index 32768: offset -32769
    assert len(cs) == n


def test_register_count_checks() -> None:
    cs = CsBuilder()  # 96 registers: r0..r95
    cs.move32(95, 1)
    cs.move48(94, 1)
    for call in (lambda: cs.move32(96, 0), lambda: cs.move48(96, 0), lambda: cs.call(92, 96),
                 lambda: cs.load_multiple(90, 2, 0xFF), lambda: cs.trace_point(94, 3),
                 lambda: cs.sync_add64(92, 96)):
        n = len(cs)
        with pytest.raises(InvalidArgument) as exc:
            call()
        assert exc.value.errno == errno.EINVAL and len(cs) == n
    cs.load_multiple(88, 2, 0xFF)  # r88..r95: fits exactly
    cs.trace_point(94, 2)

    small = CsBuilder(reg_count=64)
    small.move32(63, 0)
    with pytest.raises(InvalidArgument, match="64-register"):
        small.move32(64, 0)
    with pytest.raises(InvalidArgument, match="d62"):
        CsBuilder(reg_count=63).move48(62, 0)  # r63 would be outside


def test_numpy_integers_are_range_checked() -> None:
    cs = CsBuilder()
    cs.move32(np.int64(5), np.uint32(7))
    assert cs.words() == [0x02050000_00000007]
    with pytest.raises(InvalidArgument, match="96-register"):
        cs.move32(np.int64(200), 0)  # fits the 8-bit field but not the register file
    with pytest.raises(InvalidArgument, match="scoreboard"):
        cs.flush_cache2(0, wait_mask=np.int64(0x100))
    assert len(cs) == 1


def test_odd_pairs_refused() -> None:
    cs = CsBuilder()
    for call in (lambda: cs.move48(3, 0), lambda: cs.load64(5, 2), lambda: cs.store64(2, 7),
                 lambda: cs.call(1, 2), lambda: cs.add_imm64(2, 3, 1)):
        with pytest.raises(InvalidArgument):
            call()
    assert len(cs) == 0


def test_scoreboard_checks() -> None:
    cs = CsBuilder(sb_slot_count=4)
    cs.wait_all()
    assert cs.words() == [0x03000000_000F0000]
    with pytest.raises(InvalidArgument, match="scoreboard"):
        cs.wait(0x10)
    with pytest.raises(InvalidArgument, match="scoreboard"):
        cs.sync_add64(2, 4, signal_slot=4)
    with pytest.raises(InvalidArgument, match="scoreboard"):
        cs.flush_cache2(0, wait_mask=0x80)
    with pytest.raises(InvalidArgument, match="scoreboard"):
        cs.set_sb_entry(4, 0)
    assert len(cs) == 1


def test_pad_and_bytes() -> None:
    cs = CsBuilder()
    cs.move32(42, 0xDEADBEEF).nop().nop()
    cs.pad(8)
    assert len(cs) == 8 and cs.words()[3:] == [NOP] * 5
    cs.pad(8)
    assert len(cs) == 8  # already aligned
    data = cs.to_bytes()
    assert len(data) == 64
    assert data[:8] == bytes.fromhex("efbeadde00002a02")  # little-endian 0x022A0000DEADBEEF
    with pytest.raises(InvalidArgument):
        cs.pad(0)


def test_bad_builder_config() -> None:
    for kwargs in ({"reg_count": 1}, {"reg_count": 257}, {"sb_slot_count": 0}, {"sb_slot_count": 17},
                   {"reg_count": 96.0}):
        with pytest.raises(InvalidArgument):
            CsBuilder(**kwargs)  # type: ignore[arg-type]


def test_emit_generic_and_refusal_leaves_builder_unchanged() -> None:
    cs = CsBuilder()
    cs.emit("PROT_REGION", size=8)
    before = cs.words()
    for bad in (dict(mnemonic="MOVE32", destination=1, immediate=-1),
                dict(mnemonic="BOGUS"), dict(mnemonic="MOVE32", bogus=1)):
        with pytest.raises(InvalidArgument):
            cs.emit(**bad)
    assert cs.words() == before == [0x29000000_00000008]
