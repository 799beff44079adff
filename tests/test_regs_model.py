"""Field/Register model: encode/insert refusals, enum handling, lookup by name and offset."""

from __future__ import annotations

import errno

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uio_driver.errors import InvalidArgument
from uio_driver.regs import (
    REGISTERS,
    VIEWS,
    Access,
    Field,
    Register,
    as_register,
    decode,
    describe_offset,
    doorbell_register,
    lookup,
    lookup_offset,
    mmu,
)
from uio_driver.regs import (
    gpu_control as gc,
)
from uio_driver.regs.registry import block, block_of


def test_field_geometry() -> None:
    f = Field("X", 11, 8, "a nibble")
    assert (f.width, f.mask) == (4, 0xF00)
    assert f.extract(0xABCD) == 0xB
    assert f.insert(0xFFFF, 0x3) == 0xF3FF
    assert f.insert(0, 0) == 0
    with pytest.raises(InvalidArgument) as exc:
        f.insert(0, 0x10)  # five bits into a four-bit field
    assert exc.value.errno == errno.EINVAL and "X" in str(exc.value)
    for bad in (-1, 1.5, None, "ONE"):
        with pytest.raises(InvalidArgument):
            f.insert(0, bad)  # type: ignore[arg-type]


def test_field_enum_meaning_and_names() -> None:
    f = Field("MODE", 1, 0, "mode", {0: "OFF", 2: "ON"})
    assert f.meaning(2) == "ON" and f.meaning(1) is None
    assert f.describe(1) == "<unknown 0x1>"
    assert f.insert(0, "on") == 2  # enum names are case-insensitive
    with pytest.raises(InvalidArgument):
        f.insert(0, 1)  # exhaustive: 1 is not a defined encoding
    with pytest.raises(InvalidArgument):
        f.insert(0, "MAYBE")
    open_enum = Field("HINT", 7, 0, "hint", {0x4C: "NC"}, exhaustive=False)
    assert open_enum.insert(0, 0x8C) == 0x8C and open_enum.describe(0x8C) is None


def test_bad_declarations_are_refused() -> None:
    with pytest.raises(InvalidArgument):
        Field("lower", 1, 0)
    with pytest.raises(InvalidArgument):
        Field("BACKWARDS", 0, 3)
    with pytest.raises(InvalidArgument):
        Field("E", 0, 0, enum={2: "TOO_WIDE"})
    with pytest.raises(InvalidArgument):  # overlapping fields
        Register("R", 0, Access.RW, "r", (Field("A", 3, 0), Field("B", 4, 3)))
    with pytest.raises(InvalidArgument):  # field past the register width
        Register("R", 0, Access.RW, "r", (Field("A", 32, 0),))
    with pytest.raises(InvalidArgument):  # misaligned
        Register("R", 2, Access.RW, "r")
    with pytest.raises(InvalidArgument):  # duplicate names
        Register("R", 0, Access.RW, "r", (Field("A", 0, 0), Field("A", 1, 1)))


def test_register_encode() -> None:
    assert gc.GPU_IRQ_MASK.encode(GPU_FAULT=1, RESET_COMPLETED=1, CLEAN_CACHES_COMPLETED=1,
                                  GPU_PROTECTED_FAULT=1) == 0x20103
    assert gc.GPU_COMMAND.encode(OPCODE="RESET", PAYLOAD=1) == 0x101
    assert gc.L2_CONFIG.update_value(0xFF00FFFF, SIZE=0x12) == 0xFF12FFFF


@pytest.mark.parametrize("kwargs", [
    {"NO_SUCH_FIELD": 1},  # unknown field name
    {"OPCODE": 0x100},  # does not fit 8 bits
    {"OPCODE": "REBOOT"},  # unknown enum name
    {"OPCODE": 0x42},  # encoding outside the exhaustive opcode table
    {"PAYLOAD": 1 << 24},
    {"PAYLOAD": -1},
])
def test_register_encode_refusals(kwargs: dict) -> None:
    with pytest.raises(InvalidArgument) as exc:
        gc.GPU_COMMAND.encode(**kwargs)
    assert exc.value.register == "GPU_COMMAND"
    assert "GPU_COMMAND" in str(exc.value)


def test_field_lookup_on_register() -> None:
    assert gc.GPU_ID.field("arch_major").name == "ARCH_MAJOR"
    with pytest.raises(InvalidArgument) as exc:
        gc.GPU_ID.field("ARCH")
    assert "GPU_ID" in str(exc.value) and "ARCH_MAJOR" in str(exc.value)


def test_decode_refuses_values_wider_than_the_register() -> None:
    for bad in (-1, 1 << 32, 1.0, True):
        with pytest.raises(InvalidArgument):
            gc.GPU_ID.decode(bad)  # type: ignore[arg-type]
    assert decode("AS0_TRANSTAB", (1 << 64) - 1)["ADDRESS"] == (1 << 64) - 1
    with pytest.raises(InvalidArgument):
        decode("AS0_TRANSTAB", 1 << 64)


def test_lookup_by_name_and_offset() -> None:
    assert lookup("GPU_ID") is gc.GPU_ID
    assert lookup("gpu_id") is gc.GPU_ID
    assert lookup("Mcu_Control") is gc.MCU_CONTROL
    assert lookup(0x700) is gc.MCU_CONTROL
    assert lookup(0x2418) is mmu.AS0_COMMAND
    assert lookup(0x25C0).name == "AS7_TRANSTAB_LO"
    assert lookup(0x80000 + 5 * 0x10000) is doorbell_register(5)
    assert lookup("0x10000").name == "LATEST_FLUSH"
    assert lookup("as0_transcfg").width == 64  # 64-bit view, by name only
    assert lookup(0x2430).name == "AS0_TRANSCFG_LO"  # offsets give the 32-bit register
    assert lookup(gc.GPU_ID) is gc.GPU_ID


@pytest.mark.parametrize("key", ["NOPE", "GPU_IDX", 0x3, 0x04C, 0x2C00, 0x80004, -4, 1 << 40, 2.0, None,
                                 True])
def test_lookup_unknown(key: object) -> None:
    with pytest.raises(InvalidArgument) as exc:
        lookup(key)  # type: ignore[arg-type]
    assert exc.value.errno == errno.EINVAL
    if isinstance(key, str):
        assert key in str(exc.value)
    elif isinstance(key, int) and not isinstance(key, bool) and key >= 0:
        assert f"{key:#x}" in str(exc.value)


def test_lookup_suggests_close_names() -> None:
    with pytest.raises(InvalidArgument) as exc:
        lookup("GPU_IDD")
    assert "GPU_ID" in str(exc.value)


def test_lookup_offset_and_describe() -> None:
    assert lookup_offset(0x0) is gc.GPU_ID
    assert lookup_offset(0x04C) is None
    assert describe_offset(0x04C) == "GPU_CONTROL+0x4c"
    assert describe_offset(0x80004) == "DOORBELL+0x4"
    assert describe_offset(0x24D8) == "AS3_COMMAND"
    assert describe_offset(0x30000) == "0x30000"
    assert block_of(0x2440) is block("as1")
    with pytest.raises(InvalidArgument):
        block("AS8")


def test_as_register() -> None:
    assert as_register(3, "COMMAND").name == "AS3_COMMAND"
    assert as_register(3, "COMMAND").offset == 0x24C0 + 0x18
    assert as_register(0, "as_transtab_lo") is mmu.AS0_TRANSTAB_LO
    assert as_register(7, "TRANSCFG") is mmu.AS7_TRANSCFG and mmu.AS7_TRANSCFG.width == 64
    for bad_nr in (-1, 8, 16, True, "1"):
        with pytest.raises(InvalidArgument):
            as_register(bad_nr, "COMMAND")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument) as exc:
        as_register(1, "COMMANDS")
    assert "COMMANDS" in str(exc.value)
    assert mmu.as_block(2).base == 0x2480


def test_doorbell_register() -> None:
    assert doorbell_register(0).name == "DOORBELL0" and doorbell_register(0).offset == 0x80000
    assert doorbell_register(23).offset == 0x1F0000
    for bad in (-1, 24, True, 1.0):
        with pytest.raises(InvalidArgument):
            doorbell_register(bad)  # type: ignore[arg-type]


_ALL = tuple(r for r in (*REGISTERS, *VIEWS, mmu.MEMATTR_BYTE))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_decode_then_encode_round_trips(data: st.DataObject) -> None:
    reg = data.draw(st.sampled_from(_ALL))
    value = data.draw(st.integers(0, (1 << reg.width) - 1))
    dec = reg.decode(value)
    # Re-encode every field whose encoding is defined; undefined ones must be the only refusals.
    known = {n: f.value for n, f in dec.fields.items() if not (f.meaning or "").startswith("<unknown")}
    rebuilt = reg.encode(**known)
    unknown_bits = 0
    for key, bits in dec.unknown.items():
        hi, lo = (int(x) for x in key.removeprefix("UNK_").split("_"))
        assert bits < 1 << (hi - lo + 1)
        unknown_bits |= bits << lo
    skipped = 0
    for name in dec.fields.keys() - known.keys():
        skipped |= reg.field(name).mask
    assert rebuilt | unknown_bits | (value & skipped) == value
    assert rebuilt & unknown_bits == 0
