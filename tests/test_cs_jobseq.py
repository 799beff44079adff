"""panthor's per-job ring sequence vs cs-isa-and-uapi.md §1.9/§2.3 and panthor_sched.c."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uio_driver.csf import JobProfiling, decode, job_instruction_count, panthor_job_instructions
from uio_driver.errors import InvalidArgument

STREAM, SIZE, SYNC, FLUSH = 0x8000_1240, 0x1C8, 0xFFFF_F010, 0x00A1_B2C3

# §1.9 "Worked encodings", with the xxxx filled in for STREAM/SIZE/SYNC/FLUSH above.
REFERENCE_96 = [
    0x025E0000_00A1B2C3,  # MOVE32 r94, latest_flush
    0x24005E00_00000233,  # FLUSH_CACHE2 clean+inv L2/LSC, invalidate other, flush-ID r94
    0x015C0000_80001240,  # MOVE48 d92, stream_addr
    0x025E0000_000001C8,  # MOVE32 r94, stream_size
    0x03000000_00010000,  # WAIT 0x01
    0x20005C5E_00000000,  # CALL d92, r94
    0x015C0000_FFFFF010,  # MOVE48 d92, sync_addr
    0x015E0000_00000001,  # MOVE48 d94, 1
    0x03000000_00FF0000,  # WAIT 0xFF
    0x33005C5E_00000001,  # SYNC_ADD64 [d92] += d94, error propagate
    0x2F000000_00000000,  # ERROR_BARRIER
    0, 0, 0, 0, 0,  # NOP padding to 128 bytes
]


def test_reference_sequence_word_for_word() -> None:
    assert panthor_job_instructions(STREAM, SIZE, SYNC, FLUSH) == REFERENCE_96


def test_reference_sequence_instruction_by_instruction() -> None:
    names = [decode(w).mnemonic for w in panthor_job_instructions(STREAM, SIZE, SYNC, FLUSH)]
    assert names == ["MOVE32", "FLUSH_CACHE2", "MOVE48", "MOVE32", "WAIT", "CALL", "MOVE48", "MOVE48",
                     "WAIT", "SYNC_ADD64", "ERROR_BARRIER"] + ["NOP"] * 5


def test_top_of_48_bit_range() -> None:
    words = panthor_job_instructions(0xFFFF_FFFF_FFC0, 8, 0xFFFF_FFFF_FFF8)
    assert words[0] == 0x025E0000_00000000  # latest_flush 0 forces the flush
    assert words[2] == 0x015CFFFF_FFFFFFC0
    assert words[3] == 0x025E0000_00000008
    assert words[6] == 0x015CFFFF_FFFFFFF8


def test_other_register_file_and_scoreboards() -> None:
    # addr_reg = 64 - 4 = 60 (0x3C), val_reg = 62 (0x3E); wait-all = GENMASK(3, 0) = 0xF.
    words = panthor_job_instructions(STREAM, SIZE, SYNC, FLUSH, cs_reg_count=64, sb_slot_count=4)
    assert words[:11] == [
        0x023E0000_00A1B2C3, 0x24003E00_00000233, 0x013C0000_80001240, 0x023E0000_000001C8,
        0x03000000_00010000, 0x20003C3E_00000000, 0x013C0000_FFFFF010, 0x013E0000_00000001,
        0x03000000_000F0000, 0x33003C3E_00000001, 0x2F000000_00000000,
    ]


SLOT = 0x4_0000
# panthor_sched.c prepare_job_instrs: cycles use d[addr_reg] (92), timestamps d[val_reg] (94);
# STORE_STATE = (40 << 56) | (reg << 40) | (state << 32), state 1 = cycles, 0 = timestamp.
# panthor_job_profiling_data: cycles.before @0, cycles.after @8, time.before @16, time.after @24.
CYCLES_BEFORE = [0x015C0000_00040000, 0x28005C01_00000000]
TIME_BEFORE = [0x015E0000_00040010, 0x28005E00_00000000]
CYCLES_AFTER = [0x015C0000_00040008, 0x28005C01_00000000]
TIME_AFTER = [0x015E0000_00040018, 0x28005E00_00000000]


@pytest.mark.parametrize(("mask", "before", "after", "padded"), [
    (JobProfiling.CYCLES, CYCLES_BEFORE, CYCLES_AFTER, 16),
    (JobProfiling.TIMESTAMP, TIME_BEFORE, TIME_AFTER, 16),
    (JobProfiling.ALL, CYCLES_BEFORE + TIME_BEFORE, CYCLES_AFTER + TIME_AFTER, 24),
])
def test_profiling_sequences(mask: JobProfiling, before: list[int], after: list[int], padded: int) -> None:
    words = panthor_job_instructions(STREAM, SIZE, SYNC, FLUSH, profiling=mask, profiling_slot_addr=SLOT)
    ref = REFERENCE_96
    expected = ref[0:2] + before + ref[2:6] + after + ref[6:11]
    assert words == expected + [0] * (padded - len(expected))
    assert len(words) == job_instruction_count(mask) == padded


def test_instruction_counts() -> None:
    # §2.3: 11 -> 16 without profiling, 19 -> 24 (MAX_INSTRS_PER_JOB) with both kinds.
    assert job_instruction_count() == 16
    assert job_instruction_count(JobProfiling.ALL) == 24
    with pytest.raises(InvalidArgument):
        job_instruction_count(4)


def test_zero_size_job_emits_nothing() -> None:
    assert panthor_job_instructions(0, 0, SYNC) == []


@pytest.mark.parametrize("kwargs", [
    dict(stream_addr=0x1008, stream_size=8, sync_addr=SYNC),  # not 64-byte aligned
    dict(stream_addr=0x1000, stream_size=12, sync_addr=SYNC),  # size not a multiple of 8
    dict(stream_addr=0x1000, stream_size=0, sync_addr=SYNC),  # size 0 with an address
    dict(stream_addr=0, stream_size=8, sync_addr=SYNC),  # address 0 with a size
    dict(stream_addr=1 << 48, stream_size=8, sync_addr=SYNC),  # beyond MOVE48
    dict(stream_addr=0x1000, stream_size=1 << 32, sync_addr=SYNC),
    dict(stream_addr=0x1000, stream_size=8, sync_addr=SYNC + 4),  # unaligned sync object
    dict(stream_addr=0x1000, stream_size=8, sync_addr=-16),
    dict(stream_addr=0x1000, stream_size=8, sync_addr=SYNC, latest_flush=1 << 32),
    dict(stream_addr=0x1000, stream_size=8, sync_addr=SYNC, cs_reg_count=95),  # odd: d91 impossible
    dict(stream_addr=0x1000, stream_size=8, sync_addr=SYNC, cs_reg_count=2),
    dict(stream_addr=0x1000, stream_size=8, sync_addr=SYNC, cs_reg_count=258),
    dict(stream_addr=0x1000, stream_size=8, sync_addr=SYNC, sb_slot_count=9),  # WAIT mask is 8 bits
    dict(stream_addr=0x1000, stream_size=8, sync_addr=SYNC, profiling=4),
    dict(stream_addr=0x1000, stream_size=8, sync_addr=SYNC, profiling=1, profiling_slot_addr=0x1004),
    dict(stream_addr=0x1000, stream_size=8, sync_addr=SYNC, profiling=True),
    dict(stream_addr=4096.0, stream_size=8, sync_addr=SYNC),
])
def test_refusals(kwargs: dict) -> None:
    with pytest.raises(InvalidArgument):
        panthor_job_instructions(**kwargs)


@settings(max_examples=200, deadline=None)
@given(addr=st.integers(1, (1 << 42) - 1).map(lambda a: a * 64),
       size=st.integers(1, (1 << 29) - 1).map(lambda s: s * 8),
       sync=st.integers(0, (1 << 45) - 1).map(lambda s: s * 8),
       flush=st.integers(0, (1 << 32) - 1),
       regs=st.integers(2, 128).map(lambda n: 2 * n))
def test_sequence_fields_follow_panthor_formulas(
    addr: int, size: int, sync: int, flush: int, regs: int
) -> None:
    words = panthor_job_instructions(addr, size, sync, flush, cs_reg_count=regs)
    a, v = regs - 4, regs - 2
    # The shifts panthor_sched.c prepare_job_instrs uses, written out independently.
    assert words[0] == (2 << 56) | (v << 48) | flush
    assert words[1] == (36 << 56) | (v << 40) | 0x233
    assert words[2] == (1 << 56) | (a << 48) | addr
    assert words[3] == (2 << 56) | (v << 48) | size
    assert words[5] == (32 << 56) | (a << 40) | (v << 32)
    assert words[6] == (1 << 56) | (a << 48) | sync
    assert words[7] == (1 << 56) | (v << 48) | 1
    assert words[9] == (51 << 56) | (a << 40) | (v << 32) | 1
    assert len(words) == 16
