"""Decoding real G610 values and the reference's worked examples (mali-csf-registers-and-mmu.md §1-§3, §6).

Expected field values are the reference's own decodings or hand-computed bit slices.
"""

from __future__ import annotations

import pytest

from uio_driver.errors import InvalidArgument
from uio_driver.regs import decode, exception_name, is_fault, lookup, mmu
from uio_driver.regs import gpu_control as gc
from uio_driver.regs import job_control as jc
from uio_driver.regs.gpu_command import GpuCommand


def _fields(name: str, value: int) -> dict[str, int]:
    return {k: f.value for k, f in decode(name, value).fields.items()}


def test_gpu_id_g610() -> None:
    # ref §1.2: 0xA8670005 -> arch 10.8 rev 6, product major 7, r0p0, status 5.
    assert _fields("GPU_ID", 0xA8670005) == {
        "ARCH_MAJOR": 10, "ARCH_MINOR": 8, "ARCH_REV": 6, "PRODUCT_MAJOR": 7,
        "VERSION_MAJOR": 0, "VERSION_MINOR": 0, "VERSION_STATUS": 5,
    }
    assert decode("GPU_ID", 0xA8670005).unknown == {}
    # Tyr once decoded "major" from the wrong bits (ref §1.2): a non-zero r must land in 15:12.
    assert decode("GPU_ID", 0xA8672015)["VERSION_MAJOR"] == 2
    assert decode("GPU_ID", 0xA8672015)["VERSION_MINOR"] == 1


def test_feature_registers_g610() -> None:
    # ref §1.3 / §6 decodings.
    assert _fields("L2_FEATURES", 0x07120306) == {
        "LOG2_LINE_SIZE": 6, "LOG2_ASSOCIATIVITY": 3, "LOG2_CACHE_SIZE": 18, "LOG2_EXTERNAL_BUS_WIDTH": 7}
    assert _fields("MMU_FEATURES", 0x2830) == {"VA_BITS": 48, "PA_BITS": 40}
    assert _fields("TILER_FEATURES", 0x809) == {"LOG2_BIN_SIZE": 9, "MAX_ACTIVE_LEVELS": 8}
    assert _fields("MEM_FEATURES", 0x301) == {"GROUPS_L2_COHERENT": 1, "SUPER_L2_COHERENT": 0,
                                              "L2_SLICES_MINUS1": 3}
    # CSF layout: registers 21:0 = 0x10000, task queue 31:24 = 4 (not the pre-CSF 15:0 / 23:16 layout).
    tf = decode("THREAD_FEATURES", 0x04010000)
    assert tf["MAX_REGISTERS"] == 65536 and tf["MAX_TASK_QUEUE"] == 4
    assert tf.meaning("IMPLEMENTATION_TECHNOLOGY") == "UNSPECIFIED"


def test_unknown_bits_are_reported() -> None:
    # GPU_STATUS declares bits 0,1,2,4,6,7,8 (ref §1.6); bit 3 and bits 12/31 are undeclared.
    dec = decode("GPU_STATUS", (1 << 3) | (1 << 12) | (1 << 31) | 1)
    assert dec["GPU_ACTIVE"] == 1
    assert dec.unknown == {"UNK_3_3": 1, "UNK_31_9": (1 << 3) | (1 << 22)}
    # MMU_FEATURES bits 31:16 are undeclared.
    assert decode("MMU_FEATURES", 0x00012830).unknown == {"UNK_31_16": 1}
    # A register without fields reports everything as unknown, nothing hidden.
    assert decode("GPU_REVID", 0x1234).unknown == {"UNK_31_0": 0x1234}
    assert "UNK_31_9=" in str(dec)


def test_gpu_irq_bits() -> None:
    # ref §1.4 bit table and panthor's mask 0x20103.
    assert gc.GPU_IRQ_FAULT == 0x1 and gc.GPU_IRQ_PROTM_FAULT == 0x2
    assert gc.GPU_IRQ_RESET_COMPLETED == 0x100 and gc.RESET_COMPLETED == 0x100
    assert gc.GPU_IRQ_POWER_CHANGED_SINGLE == 0x200 and gc.GPU_IRQ_POWER_CHANGED_ALL == 0x400
    assert gc.GPU_IRQ_CLEAN_CACHES_COMPLETED == 0x20000 and gc.GPU_IRQ_DOORBELL_MIRROR == 0x40000
    assert gc.GPU_IRQ_MCU_STATUS_CHANGED == 0x80000
    assert gc.GPU_IRQ_PANTHOR_MASK == 0x20103
    assert gc.GPU_IRQ_KBASE_MASK == 0x80503
    dec = decode("GPU_IRQ_RAWSTAT", 0x20103)
    assert {k for k, f in dec.fields.items() if f.value} == {
        "GPU_FAULT", "GPU_PROTECTED_FAULT", "RESET_COMPLETED", "CLEAN_CACHES_COMPLETED"}
    # panthor spellings are accepted as aliases.
    assert gc.GPU_IRQ_MASK.field("MCU_STATUS_CHANGED").mask == 0x80000
    assert gc.GPU_IRQ_MASK.field("protm_fault").mask == 0x2


def test_gpu_command_constructors() -> None:
    # ref §1.5 table values.
    assert GpuCommand.nop() == 0x000
    assert gc.GpuCommand.soft_reset() == 0x101
    assert GpuCommand.hard_reset() == 0x201
    assert GpuCommand.fast_reset() == 0x001
    assert GpuCommand.cycle_count_start() == 0x103
    assert GpuCommand.cycle_count_stop() == 0x003
    assert GpuCommand.clear_fault() == 0x007
    assert GpuCommand.prfcnt_sample() == 0x102 and GpuCommand.prfcnt_clear() == 0x202
    # panthor's three flushes (ref §1.5): 0x304, 0x3304, 0x23304.
    assert GpuCommand.flush_caches(3, 0, 0) == 0x304
    assert GpuCommand.flush_caches(gc.CACHE_CLEAN_INVALIDATE, gc.CACHE_CLEAN_INVALIDATE,
                                   gc.CACHE_NONE) == 0x3304
    assert GpuCommand.flush_caches(3, 3, 2) == 0x23304
    assert GpuCommand.flush_caches() == 0x23304
    assert GpuCommand.flush_caches("CLEAN", "INVALIDATE", "NONE") == 0x2104
    assert (gc.CACHE_NONE, gc.CACHE_CLEAN, gc.CACHE_INVALIDATE, gc.CACHE_CLEAN_INVALIDATE) == (0, 1, 2, 3)


@pytest.mark.parametrize("args", [(4, 0, 0), (0, 16, 0), (0, 0, 1), (0, 0, 3), (-1, 0, 0), ("FLUSH", 0, 0)])
def test_flush_caches_refuses_undefined_operations(args: tuple) -> None:
    with pytest.raises(InvalidArgument) as exc:
        GpuCommand.flush_caches(*args)
    assert exc.value.errno == 22 and exc.value.register == "GPU_COMMAND"


def test_gpu_command_decode_and_describe() -> None:
    dec = decode("GPU_COMMAND", 0x23304)
    assert dec.meaning("OPCODE") == "FLUSH_CACHES" and dec["PAYLOAD"] == 0x233
    assert GpuCommand.describe(0x23304) == (
        "FLUSH_CACHES(L2=CLEAN_INVALIDATE, LSC=CLEAN_INVALIDATE, OTHER=INVALIDATE)")
    assert GpuCommand.describe(0x101) == "SOFT_RESET"
    assert GpuCommand.describe(0x1F) == "<unknown 0x1f>(payload=0x0)"
    assert decode("GPU_COMMAND", 0x1F).meaning("OPCODE") == "<unknown 0x1f>"
    with pytest.raises(InvalidArgument):
        GpuCommand.encode("REBOOT")
    with pytest.raises(InvalidArgument):
        GpuCommand.encode(0x1F)  # opcode table is exhaustive (ref §1.5)


def test_gpu_faultstatus() -> None:
    # ref §1.7: 0x80 GPU_BUS_FAULT, access 3 WRITE, ADDRESS_VALID, JASID_VALID, JASID 5, source 0x1234.
    value = 0x80 | 3 << 8 | 1 << 10 | 1 << 11 | 5 << 12 | 0x1234 << 16
    dec = decode("GPU_FAULTSTATUS", value)
    assert dec.meaning("EXCEPTION_TYPE") == "GPU_BUS_FAULT"
    assert dec.meaning("ACCESS_TYPE") == "WRITE"
    assert (dec["ADDRESS_VALID"], dec["JASID_VALID"], dec["JASID"], dec["SOURCE_ID"]) == (1, 1, 5, 0x1234)
    assert decode("GPU_FAULTSTATUS", 0xC3).meaning("EXCEPTION_TYPE") == "<unknown 0xc3>"


def test_as_faultstatus_0x3c3() -> None:
    # ref §3.7 example: 0x3C3 -> TRANSLATION_FAULT_3, WRITE, source 0.
    dec = mmu.AS2_FAULTSTATUS.decode(0x3C3)
    assert dec.meaning("EXCEPTION_TYPE") == "TRANSLATION_FAULT_3"
    assert dec.meaning("ACCESS_TYPE") == "WRITE"
    assert dec["SOURCE_ID"] == 0
    assert "TRANSLATION_FAULT_3" in str(dec) and "WRITE" in str(dec)


@pytest.mark.parametrize("code,name", [
    (0xC0, "TRANSLATION_FAULT_0"), (0xC4, "TRANSLATION_FAULT_4"), (0xC7, "TRANSLATION_FAULT_IDENTITY"),
    (0xCB, "PERMISSION_FAULT_3"), (0xD1, "TRANSTAB_BUS_FAULT_1"), (0xD9, "ACCESS_FLAG_1"),
    (0xE0, "ADDRESS_SIZE_FAULT_IN0"), (0xE7, "ADDRESS_SIZE_FAULT_OUT3"), (0xEA, "MEMORY_ATTRIBUTE_FAULT_2"),
    (0xEF, "MEMORY_ATTRIBUTE_NONCACHEABLE_3"),
])
def test_mmu_exception_table(code: int, name: str) -> None:
    assert mmu.AS0_FAULTSTATUS.decode(code).meaning("EXCEPTION_TYPE") == name


def test_mmu_exception_table_is_exhaustive() -> None:
    # Codes the reference does not list for AS_FAULTSTATUS (ref §3.7).
    for code in (0x00, 0x80, 0xC5, 0xCC, 0xD4, 0xF0):
        assert mmu.AS0_FAULTSTATUS.decode(code).meaning("EXCEPTION_TYPE") == f"<unknown {code:#x}>"
        assert mmu.AS0_FAULTSTATUS.field("EXCEPTION_TYPE").meaning(code) is None


def test_shared_exception_namespace() -> None:
    assert exception_name(0x48) == "CS_BUS_FAULT"
    assert exception_name(0x60) == "OOM"
    assert exception_name(0x88) == "GPU_SHAREABILITY_FAULT"
    assert exception_name(0xC3) == "TRANSLATION_FAULT_3"
    assert exception_name(0x3E) == "<unknown 0x3e>"
    assert not is_fault(0x3F) and is_fault(0x40)
    with pytest.raises(InvalidArgument):
        exception_name(0x100)


def test_transcfg_rk3588_value() -> None:
    # ref §3.5: PTW_MEMATTR_WB (2<<24) | PTW_RA (1<<30) | AARCH64_4K (6) | INA_BITS 7 (<<6) = 0x420001C6.
    assert mmu.AS_TRANSCFG_RK3588 == 0x00000000_420001C6
    dec = decode("AS0_TRANSCFG", mmu.AS_TRANSCFG_RK3588)
    assert dec.meaning("ADRMODE") == "AARCH64_4K" and dec["ADRMODE"] == 6
    assert dec["INA_BITS"] == 7  # 55 - 48
    assert dec.meaning("PTW_MEMATTR") == "WRITE_BACK"
    assert dec["R_ALLOCATE"] == 1 and dec["PTW_SH"] == 0
    assert dec["OUTA_BITS"] == 0 and dec["DISABLE_AF_FAULT"] == 0
    assert dec.unknown == {}
    # Encoding the same fields gives back the constant.
    assert mmu.AS0_TRANSCFG.encode(ADRMODE="AARCH64_4K", INA_BITS=7, PTW_MEMATTR="WRITE_BACK",
                                   PTW_RA=1) == 0x420001C6
    # Coherent variant adds PTW_SH_OS (2<<28).
    assert decode("AS0_TRANSCFG", mmu.AS_TRANSCFG_COHERENT).meaning("PTW_SH") == "OUTER_SHAREABLE"
    # AS disable value: TRANSCFG_LO = 1 = ADRMODE_UNMAPPED (ref §5.6).
    assert mmu.AS_TRANSCFG_DISABLED == 1
    assert decode("AS5_TRANSCFG_LO", mmu.AS_TRANSCFG_DISABLED).meaning("ADRMODE") == "UNMAPPED"


def test_transcfg_high_word_fields() -> None:
    # DISABLE_HIER_AP (33) .. XREADABLE (36) sit in TRANSCFG_HI bits 1..4.
    assert decode("AS0_TRANSCFG", 1 << 34)["DISABLE_AF_FAULT"] == 1
    assert decode("AS0_TRANSCFG_HI", 1 << 2)["DISABLE_AF_FAULT"] == 1
    assert decode("AS0_TRANSCFG_HI", 1 << 4)["XREADABLE"] == 1
    assert decode("AS0_TRANSCFG", 1 << 40).unknown == {"UNK_63_37": 1 << 3}


def test_memattr_rk3588_value() -> None:
    # ref §3.6: bytes [0x4C, 0x8F, 0x4C, 0x8C, 0x4C x4].
    assert mmu.AS_MEMATTR_RK3588 == 0x4C4C4C4C_8C4C8F4C
    dec = decode("AS1_MEMATTR", mmu.AS_MEMATTR_RK3588)
    assert [dec[f"ATTR{i}"] for i in range(8)] == [0x4C, 0x8F, 0x4C, 0x8C, 0x4C, 0x4C, 0x4C, 0x4C]
    assert dec.meaning("ATTR0") == "NON_CACHEABLE" and dec.meaning("ATTR1") == "FORCE_CACHE_ALL"
    assert dec.meaning("ATTR3") is None  # valid but unnamed encoding
    assert _fields("AS1_MEMATTR_LO", 0x8C4C8F4C) == {"ATTR0": 0x4C, "ATTR1": 0x8F, "ATTR2": 0x4C,
                                                     "ATTR3": 0x8C}
    assert _fields("AS1_MEMATTR_HI", 0x4C4C4C4C) == {"ATTR4": 0x4C, "ATTR5": 0x4C, "ATTR6": 0x4C,
                                                     "ATTR7": 0x4C}


def test_memattr_bytes() -> None:
    # ref §3.6 byte format: 0x4C = NC, SH_MIDGARD_INNER, explicit, no allocate; 0x8F = WB, explicit R+W.
    nc, wb = mmu.decode_memattr(mmu.AS_MEMATTR_RK3588)[:2]
    assert nc.meaning("MEMORY_TYPE") == "NON_CACHEABLE" and nc.meaning("ALLOC_POLICY") == "EXPLICIT"
    assert nc.meaning("SHAREABILITY") == "MIDGARD_INNER" and (nc["ALLOC_R"], nc["ALLOC_W"]) == (0, 0)
    assert wb.meaning("MEMORY_TYPE") == "WRITE_BACK" and (wb["ALLOC_R"], wb["ALLOC_W"]) == (1, 1)
    coherent = mmu.decode_memattr(mmu.AS_MEMATTR_COHERENT)[1]
    assert coherent.meaning("SHAREABILITY") == "CPU_INNER"
    assert mmu.MEMATTR_BYTE.decode(0xC0).meaning("MEMORY_TYPE") == "FAULT"


def test_lockaddr_layout() -> None:
    # ref §3.4 rows: 0x0000000123440011 -> size code 17 (256 KiB), base 0x123440000.
    dec = decode("AS1_LOCKADDR", 0x0000000123440011)
    assert dec["SIZE"] == 0x11 and dec["BASE"] << 12 == 0x123440000
    assert mmu.AS1_LOCKADDR.encode(SIZE=14, BASE=0x1000000 >> 12) == 0x100000E
    assert mmu.AS1_LOCKADDR.field("SIZE").mask == 0x3F
    assert mmu.AS1_LOCKADDR.field("BASE").mask == 0xFFFFFFFF_FFFFF000
    # Bits 11:6 are reserved on G610 (FLUSH_SKIP_LEVELS is arch >= 12.0.4 only).
    assert decode("AS1_LOCKADDR", 1 << 6).unknown == {"UNK_11_6": 1}
    # The halves carry the slices of BASE: LO 31:12, HI 31:0 (= 63:32).
    assert decode("AS1_LOCKADDR_LO", 0x23440011)["BASE"] == 0x23440
    assert decode("AS1_LOCKADDR_HI", 0x1)["BASE"] == 0x1
    assert (mmu.LOCKADDR_SIZE_MIN, mmu.LOCKADDR_SIZE_MAX) == (14, 47)


def test_as_command_and_status() -> None:
    assert [int(c) for c in mmu.AsCommand] == [0, 1, 2, 3, 4, 5]
    assert [c.name for c in mmu.AsCommand] == ["NOP", "UPDATE", "LOCK", "UNLOCK", "FLUSH_PT", "FLUSH_MEM"]
    assert mmu.AS0_COMMAND.encode(COMMAND="FLUSH_MEM") == 5
    assert decode("AS0_COMMAND", 1).meaning("COMMAND") == "UPDATE"
    assert decode("AS0_COMMAND", 6).meaning("COMMAND") == "<unknown 0x6>"
    assert mmu.AS_STATUS_ACTIVE == 1
    assert decode("AS4_STATUS", 1)["AS_ACTIVE"] == 1


def test_mmu_irq_helpers() -> None:
    assert mmu.mmu_irq_page_fault(0) == 1 and mmu.mmu_irq_page_fault(7) == 0x80
    assert mmu.mmu_irq_bus_error(0) == 1 << 16 and mmu.mmu_irq_bus_error(7) == 1 << 23
    assert mmu.MMU_IRQ_PANTHOR_MASK == 0xFFFF
    assert mmu.faulted_address_spaces(0x00810005) == (0, 2)
    for bad in (-1, 16, True, "3"):
        with pytest.raises(InvalidArgument):
            mmu.mmu_irq_page_fault(bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument):
            mmu.mmu_irq_bus_error(bad)  # type: ignore[arg-type]


def test_job_irq_helpers() -> None:
    assert jc.JOB_IRQ_GLOBAL_IF == 0x80000000
    assert jc.job_irq_csg(0) == 1 and jc.job_irq_csg(7) == 0x80
    assert jc.csg_slots(0x80000005) == (0, 2)
    dec = decode("JOB_IRQ_STATUS", 0x80000001)
    assert dec["GLOBAL_IF"] == 1 and dec["CSG"] == 1
    for bad in (-1, 31, 1.0):
        with pytest.raises(InvalidArgument):
            jc.job_irq_csg(bad)  # type: ignore[arg-type]


def test_mcu_enums() -> None:
    assert [(m.name, int(m)) for m in gc.McuControl] == [("DISABLE", 0), ("ENABLE", 1), ("AUTO", 2)]
    assert [(m.name, int(m)) for m in gc.McuStatus] == [("DISABLED", 0), ("ENABLED", 1), ("HALT", 2),
                                                        ("FATAL", 3)]
    assert gc.MCU_CONTROL.encode(MODE="AUTO") == 2
    assert decode("MCU_STATUS", 3).meaning("STATUS") == "FATAL"
    with pytest.raises(InvalidArgument):
        gc.MCU_CONTROL.encode(MODE=3)  # not a defined MCU_CONTROL value (ref §1.9)


def test_coherency_and_pwr_key() -> None:
    assert gc.COHERENCY_NONE == 31
    assert gc.COHERENCY_ENABLE.encode(PROTOCOL="NONE") == 31
    with pytest.raises(InvalidArgument):
        gc.COHERENCY_ENABLE.encode(PROTOCOL=2)
    assert gc.PWR_KEY.encode(KEY="UNLOCK") == 0x2968A819


def test_decoded_register_to_dict_and_lookup_by_offset() -> None:
    dec = decode(0x14, 0x2830)
    assert dec.register is lookup("MMU_FEATURES")
    data = dec.to_dict()
    assert data["fields"]["VA_BITS"] == {"value": 48, "meaning": None}
    assert data["offset"] == 0x14 and data["unknown"] == {}
