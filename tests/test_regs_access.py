"""RegisterAccess over a real buffer: offsets, refusals, 64-bit pairs, read-modify-write."""

from __future__ import annotations

import errno
import struct

import pytest

from uio_driver.errors import AccessDenied, BadAddress, InvalidArgument
from uio_driver.platform import MappedMmioRegion
from uio_driver.regs import RegisterAccess, doorbell, mmu, user
from uio_driver.regs import gpu_control as gc

WINDOW = 0x200000


@pytest.fixture
def mem() -> bytearray:
    return bytearray(WINDOW)


@pytest.fixture
def regs(mem: bytearray) -> RegisterAccess:
    return RegisterAccess(MappedMmioRegion("gpu", mem))


def word(mem: bytearray, offset: int) -> int:
    return struct.unpack_from("<I", mem, offset)[0]


def put(mem: bytearray, offset: int, value: int) -> None:
    struct.pack_into("<I", mem, offset, value)


def test_reads_come_from_the_right_offsets(mem: bytearray, regs: RegisterAccess) -> None:
    put(mem, 0x000, 0xA8670005)
    put(mem, 0x704, 2)
    put(mem, 0x10000, 0x55)
    put(mem, 0x2400 + 3 * 0x40 + 0x28, 1)  # AS3_STATUS
    assert regs.read(gc.GPU_ID) == 0xA8670005
    assert regs.read("GPU_ID") == 0xA8670005
    assert regs.read("gpu_id") == 0xA8670005
    assert regs.read(gc.MCU_STATUS) == 2
    assert regs.read(user.LATEST_FLUSH) == 0x55
    assert regs.read(mmu.AS3_STATUS) == 1
    assert regs.read(mmu.AS2_STATUS) == 0


def test_writes_land_at_the_right_offsets(mem: bytearray, regs: RegisterAccess) -> None:
    regs.write(gc.GPU_COMMAND, gc.GpuCommand.soft_reset())
    regs.write("MMU_IRQ_CLEAR", 0xFFFF)
    regs.write(mmu.AS7_COMMAND, mmu.AsCommand.UPDATE)
    regs.write(doorbell.DOORBELL23, 1)
    regs.write("doorbell0", 1)
    assert word(mem, 0x030) == 0x101
    assert word(mem, 0x2004) == 0xFFFF
    assert word(mem, 0x25D8) == 1
    assert word(mem, 0x1F0000) == 1 and word(mem, 0x80000) == 1
    assert sum(mem) == 0x01 + 0x01 + 0xFF + 0xFF + 1 + 1 + 1  # nothing else was touched


def test_read_only_write_is_refused_and_nothing_written(mem: bytearray, regs: RegisterAccess) -> None:
    put(mem, 0x000, 0xA8670005)
    for ref in (gc.GPU_ID, "GPU_ID", "gpu_id"):
        with pytest.raises(AccessDenied) as exc:
            regs.write(ref, 0)
        assert exc.value.register == "GPU_ID" and exc.value.errno == errno.EACCES
        assert "GPU_ID" in str(exc.value)
    with pytest.raises(AccessDenied):
        regs.write(user.LATEST_FLUSH, 1)
    assert word(mem, 0x000) == 0xA8670005 and word(mem, 0x10000) == 0


@pytest.mark.parametrize("value", [-1, 1 << 32, 1.5, None])
def test_value_not_fitting_is_refused(mem: bytearray, regs: RegisterAccess, value: object) -> None:
    with pytest.raises(InvalidArgument) as exc:
        regs.write(gc.GPU_IRQ_MASK, value)  # type: ignore[arg-type]
    assert exc.value.register == "GPU_IRQ_MASK"
    assert word(mem, 0x028) == 0


def test_unknown_register_references(regs: RegisterAccess) -> None:
    for ref in ("NOPE", 0x700, None):
        with pytest.raises(InvalidArgument):
            regs.read(ref)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument):
            regs.write(ref, 0)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        regs.read(mmu.MEMATTR_BYTE)  # a layout, not an MMIO register


def test_read64_write64_pairs(mem: bytearray, regs: RegisterAccess) -> None:
    regs.write64(mmu.AS0_TRANSCFG_LO, mmu.AS_TRANSCFG_RK3588)
    regs.write64(mmu.AS0_MEMATTR, mmu.AS_MEMATTR_RK3588)  # the 64-bit view works too
    regs.write64("as0_transtab_lo", 0x1_2345_6000)
    assert (word(mem, 0x2430), word(mem, 0x2434)) == (0x420001C6, 0)
    assert (word(mem, 0x2408), word(mem, 0x240C)) == (0x8C4C8F4C, 0x4C4C4C4C)
    assert (word(mem, 0x2400), word(mem, 0x2404)) == (0x23456000, 0x1)
    put(mem, 0x100, 0x50005)
    put(mem, 0x104, 0x7)
    assert regs.read64(gc.SHADER_PRESENT_LO) == 0x7_00050005
    assert regs.read64("SHADER_PRESENT") == 0x7_00050005
    assert regs.read(gc.SHADER_PRESENT) == 0x7_00050005  # read() of a view reads the pair


def test_read64_write64_refuse_non_pairs(mem: bytearray, regs: RegisterAccess) -> None:
    for ref in (gc.GPU_ID, gc.SHADER_PRESENT_HI, "MCU_CONTROL", mmu.AS0_COMMAND):
        with pytest.raises(InvalidArgument) as exc:
            regs.read64(ref)
        assert "_HI" in str(exc.value)
    with pytest.raises(InvalidArgument):
        regs.write64(gc.MCU_CONTROL, 1)
    with pytest.raises(AccessDenied):
        regs.write64(gc.SHADER_PRESENT_LO, 1)
    with pytest.raises(InvalidArgument):
        regs.write64(mmu.AS0_TRANSTAB_LO, 1 << 64)
    assert not any(mem)


def test_update_read_modify_write(mem: bytearray, regs: RegisterAccess) -> None:
    put(mem, 0x048, 0xAB00_1234)  # L2_CONFIG: HASH 0xAB, SIZE 0, unknown low bits kept
    assert regs.update(gc.L2_CONFIG, SIZE=0x12) == 0xAB12_1234
    assert word(mem, 0x048) == 0xAB12_1234
    regs.update("GPU_IRQ_MASK", GPU_FAULT=1, CLEAN_CACHES_COMPLETED=1)
    regs.update(gc.GPU_IRQ_MASK, RESET_COMPLETED=1, PROTM_FAULT=1)
    assert word(mem, 0x028) == 0x20103
    regs.update(mmu.AS1_TRANSCFG, ADRMODE="AARCH64_4K", INA_BITS=7, PTW_MEMATTR="WRITE_BACK", R_ALLOCATE=1,
                DISABLE_AF_FAULT=1)
    assert (word(mem, 0x2470), word(mem, 0x2474)) == (0x420001C6, 1 << 2)


def test_update_refusals_change_nothing(mem: bytearray, regs: RegisterAccess) -> None:
    for reg in (gc.GPU_COMMAND, gc.GPU_IRQ_CLEAR, gc.GPU_STATUS, doorbell.DOORBELL0):
        with pytest.raises(AccessDenied) as exc:
            regs.update(reg, **{reg.fields[0].name: 1})
        assert reg.name in str(exc.value)
    put(mem, 0x700, 0)
    with pytest.raises(InvalidArgument):
        regs.update(gc.MCU_CONTROL, MODE=3)
    with pytest.raises(InvalidArgument):
        regs.update(gc.MCU_CONTROL, BOGUS=1)
    assert not any(mem)


def test_read_decoded(mem: bytearray, regs: RegisterAccess) -> None:
    put(mem, 0x2400 + 0x1C, 0x3C3)  # AS0_FAULTSTATUS
    dec = regs.read_decoded(mmu.AS0_FAULTSTATUS)
    assert dec.meaning("EXCEPTION_TYPE") == "TRANSLATION_FAULT_3" and dec.meaning("ACCESS_TYPE") == "WRITE"
    assert dec.notes == ()
    put(mem, 0x030, 0x101)  # whatever a write-only register reads back
    wo = regs.read_decoded("GPU_COMMAND")
    assert wo.value == 0x101 and any("write-only" in n for n in wo.notes)
    assert regs.read(gc.GPU_COMMAND) == 0x101  # reading WO is allowed
    put(mem, 0x2430, 0x420001C6)
    assert regs.read_decoded("AS0_TRANSCFG").meaning("ADRMODE") == "AARCH64_4K"


def test_window_smaller_than_the_register_is_a_bad_address() -> None:
    small = RegisterAccess(MappedMmioRegion("gpu", bytearray(0x4000)))
    assert small.read(gc.GPU_ID) == 0
    with pytest.raises(BadAddress):
        small.write(doorbell.DOORBELL0, 1)
