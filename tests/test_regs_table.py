"""The register table against the reference (mali-csf-registers-and-mmu.md §0-§3), written out here by hand.

Expected names/offsets/access are copied from the reference's tables, not computed from the
database, so a wrong offset or access mode in uio_driver/regs fails here.
"""

from __future__ import annotations

import pytest

from uio_driver.regs import (
    BLOCKS,
    REGISTERS,
    VIEWS,
    Access,
    doorbell,
    gpu_control,
    job_control,
    lookup,
    mmu,
    user,
)

RO, RW, WO, W1C = Access.RO, Access.RW, Access.WO, Access.W1C

# ref §1.1 (CLEAR registers are "WO | W1C" there and declared W1C as the brief asks).
GPU_CONTROL_EXPECTED = {
    "GPU_ID": (0x000, RO), "L2_FEATURES": (0x004, RO), "CORE_FEATURES": (0x008, RO),
    "TILER_FEATURES": (0x00C, RO), "MEM_FEATURES": (0x010, RO), "MMU_FEATURES": (0x014, RO),
    "AS_PRESENT": (0x018, RO), "CSF_ID": (0x01C, RO),
    "GPU_IRQ_RAWSTAT": (0x020, RW), "GPU_IRQ_CLEAR": (0x024, W1C), "GPU_IRQ_MASK": (0x028, RW),
    "GPU_IRQ_STATUS": (0x02C, RO), "GPU_COMMAND": (0x030, WO), "GPU_STATUS": (0x034, RO),
    "LATEST_FLUSH_JM": (0x038, RO), "GPU_FAULTSTATUS": (0x03C, RO),
    "GPU_FAULTADDRESS_LO": (0x040, RO), "GPU_FAULTADDRESS_HI": (0x044, RO), "L2_CONFIG": (0x048, RW),
    "PWR_KEY": (0x050, WO), "PWR_OVERRIDE0": (0x054, RW), "PWR_OVERRIDE1": (0x058, RW),
    "GPU_FEATURES_LO": (0x060, RO), "GPU_FEATURES_HI": (0x064, RO), "PRFCNT_FEATURES": (0x068, RO),
    "TIMESTAMP_OFFSET_LO": (0x088, RW), "TIMESTAMP_OFFSET_HI": (0x08C, RW),
    "CYCLE_COUNT_LO": (0x090, RO), "CYCLE_COUNT_HI": (0x094, RO),
    "TIMESTAMP_LO": (0x098, RO), "TIMESTAMP_HI": (0x09C, RO),
    "THREAD_MAX_THREADS": (0x0A0, RO), "THREAD_MAX_WORKGROUP_SIZE": (0x0A4, RO),
    "THREAD_MAX_BARRIER_SIZE": (0x0A8, RO), "THREAD_FEATURES": (0x0AC, RO),
    "TEXTURE_FEATURES_0": (0x0B0, RO), "TEXTURE_FEATURES_1": (0x0B4, RO),
    "TEXTURE_FEATURES_2": (0x0B8, RO), "TEXTURE_FEATURES_3": (0x0BC, RO),
    "SHADER_PRESENT_LO": (0x100, RO), "SHADER_PRESENT_HI": (0x104, RO),
    "TILER_PRESENT_LO": (0x110, RO), "TILER_PRESENT_HI": (0x114, RO),
    "L2_PRESENT_LO": (0x120, RO), "L2_PRESENT_HI": (0x124, RO),
    "SHADER_READY_LO": (0x140, RO), "SHADER_READY_HI": (0x144, RO),
    "TILER_READY_LO": (0x150, RO), "TILER_READY_HI": (0x154, RO),
    "L2_READY_LO": (0x160, RO), "L2_READY_HI": (0x164, RO),
    "SHADER_PWRON_LO": (0x180, WO), "SHADER_PWRON_HI": (0x184, WO),
    "TILER_PWRON_LO": (0x190, WO), "TILER_PWRON_HI": (0x194, WO),
    "L2_PWRON_LO": (0x1A0, WO), "L2_PWRON_HI": (0x1A4, WO),
    "SHADER_PWROFF_LO": (0x1C0, WO), "SHADER_PWROFF_HI": (0x1C4, WO),
    "TILER_PWROFF_LO": (0x1D0, WO), "TILER_PWROFF_HI": (0x1D4, WO),
    "L2_PWROFF_LO": (0x1E0, WO), "L2_PWROFF_HI": (0x1E4, WO),
    "SHADER_PWRTRANS_LO": (0x200, RO), "SHADER_PWRTRANS_HI": (0x204, RO),
    "TILER_PWRTRANS_LO": (0x210, RO), "TILER_PWRTRANS_HI": (0x214, RO),
    "L2_PWRTRANS_LO": (0x220, RO), "L2_PWRTRANS_HI": (0x224, RO),
    "SHADER_PWRACTIVE_LO": (0x240, RO), "SHADER_PWRACTIVE_HI": (0x244, RO),
    "TILER_PWRACTIVE_LO": (0x250, RO), "TILER_PWRACTIVE_HI": (0x254, RO),
    "L2_PWRACTIVE_LO": (0x260, RO), "L2_PWRACTIVE_HI": (0x264, RO),
    "GPU_REVID": (0x280, RO), "ASN_HASH_0": (0x2C0, RW), "ASN_HASH_1": (0x2C4, RW), "ASN_HASH_2": (0x2C8, RW),
    "COHERENCY_FEATURES": (0x300, RO), "COHERENCY_ENABLE": (0x304, RW), "THREAD_TLS_ALLOC": (0x310, RO),
    "SYSC_ALLOC0": (0x340, RW), "SYSC_ALLOC7": (0x35C, RW),
    "MCU_CONTROL": (0x700, RW), "MCU_STATUS": (0x704, RO),
    "STACK_PRESENT_LO": (0xE00, RO), "STACK_PRESENT_HI": (0xE04, RO),
    "STACK_READY_LO": (0xE10, RO), "STACK_READY_HI": (0xE14, RO),
    "STACK_PWRON_LO": (0xE20, WO), "STACK_PWRON_HI": (0xE24, WO),
    "STACK_PWROFF_LO": (0xE30, WO), "STACK_PWROFF_HI": (0xE34, WO),
    "STACK_PWRTRANS_LO": (0xE40, RO), "STACK_PWRTRANS_HI": (0xE44, RO),
    "CSF_CONFIG": (0xF00, RW), "SHADER_CONFIG": (0xF04, RW), "TILER_CONFIG": (0xF08, RW),
    "L2_MMU_CONFIG": (0xF0C, RW),
}

# ref §2 and §3.1.
IRQ_EXPECTED = {
    "JOB_IRQ_RAWSTAT": (0x1000, RW), "JOB_IRQ_CLEAR": (0x1004, W1C), "JOB_IRQ_MASK": (0x1008, RW),
    "JOB_IRQ_STATUS": (0x100C, RO),
    "MMU_IRQ_RAWSTAT": (0x2000, RW), "MMU_IRQ_CLEAR": (0x2004, W1C), "MMU_IRQ_MASK": (0x2008, RW),
    "MMU_IRQ_STATUS": (0x200C, RO),
}

# ref §3.2: AS-relative offsets and access.
AS_TABLE = {
    "TRANSTAB_LO": (0x00, RW), "TRANSTAB_HI": (0x04, RW), "MEMATTR_LO": (0x08, RW), "MEMATTR_HI": (0x0C, RW),
    "LOCKADDR_LO": (0x10, RW), "LOCKADDR_HI": (0x14, RW), "COMMAND": (0x18, WO), "FAULTSTATUS": (0x1C, RO),
    "FAULTADDRESS_LO": (0x20, RO), "FAULTADDRESS_HI": (0x24, RO), "STATUS": (0x28, RO),
    "TRANSCFG_LO": (0x30, RW), "TRANSCFG_HI": (0x34, RW), "FAULTEXTRA_LO": (0x38,
                                                                            RO), "FAULTEXTRA_HI": (0x3C, RO),
}
# ref §3.2: "AS0 0x2400, AS1 0x2440, ..., AS7 0x25C0".
AS_BASES = {0: 0x2400, 1: 0x2440, 2: 0x2480, 3: 0x24C0, 4: 0x2500, 5: 0x2540, 6: 0x2580, 7: 0x25C0}


def _expect(name: str, offset: int, access: Access) -> None:
    reg = lookup(name)
    assert reg.name == name
    assert (reg.offset, reg.access) == (offset, access), name
    assert reg.width == 32


@pytest.mark.parametrize("name", sorted(GPU_CONTROL_EXPECTED))
def test_gpu_control_registers(name: str) -> None:
    _expect(name, *GPU_CONTROL_EXPECTED[name])
    assert lookup(name).block == "GPU_CONTROL"
    assert getattr(gpu_control, name) is lookup(name)


@pytest.mark.parametrize("name", sorted(IRQ_EXPECTED))
def test_job_and_mmu_irq_registers(name: str) -> None:
    _expect(name, *IRQ_EXPECTED[name])
    module = job_control if name.startswith("JOB") else mmu
    assert getattr(module, name) is lookup(name)


@pytest.mark.parametrize("as_nr", [0, 7])
@pytest.mark.parametrize("suffix", sorted(AS_TABLE))
def test_as_registers(as_nr: int, suffix: str) -> None:
    rel, access = AS_TABLE[suffix]
    name = f"AS{as_nr}_{suffix}"
    _expect(name, AS_BASES[as_nr] + rel, access)
    assert getattr(mmu, name) is lookup(name)
    assert mmu.as_register(as_nr, suffix) is lookup(name)
    assert lookup(name).block == f"AS{as_nr}"


def test_every_as_has_the_same_template() -> None:
    for as_nr, base in AS_BASES.items():
        regs = [r for r in REGISTERS if r.block == f"AS{as_nr}"]
        assert {r.name.removeprefix(f"AS{as_nr}_"): (r.offset - base, r.access) for r in regs} == AS_TABLE
    assert not any(r.name.startswith("AS8_") for r in REGISTERS)  # G610 has AS0..AS7 only


def test_doorbells_and_user_page() -> None:
    _expect("DOORBELL0", 0x80000, WO)
    _expect("DOORBELL23", 0x80000 + 23 * 0x10000, WO)
    assert doorbell.DOORBELL23.offset == 0x1F0000  # last page of the 2 MiB window
    assert doorbell.doorbell_register(23) is doorbell.DOORBELL23
    assert len([r for r in REGISTERS if r.block == "DOORBELL"]) == 24
    _expect("LATEST_FLUSH", 0x10000, RO)
    assert user.LATEST_FLUSH.block == "USER"


def test_jm_flush_register_is_not_latest_flush() -> None:
    # 0x038 is JM-only; on CSF the flush ID is the USER page (ref §1.1, §1.11).
    assert lookup(0x038).name == "LATEST_FLUSH_JM"
    assert "not used on CSF" in lookup(0x038).doc
    assert lookup("LATEST_FLUSH").offset == 0x10000


def test_offsets_unique_aligned_and_inside_their_block() -> None:
    offsets = [r.offset for r in REGISTERS]
    assert len(offsets) == len(set(offsets))
    names = [r.name for r in (*REGISTERS, *VIEWS)]
    assert len(names) == len(set(names))
    blocks = {b.name: b for b in BLOCKS}
    for reg in REGISTERS:
        assert reg.offset % 4 == 0, reg.name
        b = blocks[reg.block]
        assert b.base <= reg.offset and reg.offset + 4 <= b.base + b.size, reg.name
        assert reg in b.registers


def test_blocks_do_not_overlap_and_fit_the_window() -> None:
    spans = sorted((b.base, b.base + b.size, b.name) for b in BLOCKS)
    for (_, end, name), (start, _, nxt) in zip(spans, spans[1:], strict=False):
        assert end <= start, (name, nxt)
    assert spans[-1][1] <= 0x200000  # RK3588 window size (ref §0)
    assert {b.name for b in BLOCKS} >= {"GPU_CONTROL", "JOB_CONTROL", "MMU", "DOORBELL", "USER"}
    assert {(b.name, b.base) for b in BLOCKS} >= {("GPU_CONTROL", 0), ("JOB_CONTROL", 0x1000), ("MMU",
                                                                                                0x2000),
                                                  ("AS0", 0x2400), ("USER", 0x10000), ("DOORBELL", 0x80000)}


def test_views_pair_lo_and_hi() -> None:
    for view in VIEWS:
        lo, hi = lookup(view.name + "_LO"), lookup(view.name + "_HI")
        assert (lo.offset, hi.offset) == (view.offset, view.offset + 4)
        assert view.width == 64 and view.access == lo.access == hi.access
        assert view not in REGISTERS


def test_every_register_and_field_is_documented_with_provenance() -> None:
    for reg in (*REGISTERS, *VIEWS):
        assert reg.doc and reg.provenance.startswith("ref §"), reg.name
        for f in reg.fields:
            assert f.doc and f.provenance, (reg.name, f.name)


def test_clear_registers_are_w1c_and_not_readable() -> None:
    clears = [r for r in REGISTERS if r.name.endswith("_IRQ_CLEAR")]
    assert {r.name for r in clears} == {"GPU_IRQ_CLEAR", "JOB_IRQ_CLEAR", "MMU_IRQ_CLEAR"}
    for r in clears:
        assert r.access is W1C and r.access.writable and not r.access.readable
    assert RO.readable and not RO.writable and RW.readable and RW.writable
    assert WO.writable and not WO.readable


def test_reset_values_of_identification_registers() -> None:
    # ref §6 verified values; identification registers are constant across resets (§7).
    expected = {"GPU_ID": 0xA8670005, "L2_FEATURES": 0x07120306, "TILER_FEATURES": 0x809,
                "MEM_FEATURES": 0x301, "MMU_FEATURES": 0x2830, "AS_PRESENT": 0xFF,
                "SHADER_PRESENT_LO": 0x50005, "SHADER_PRESENT_HI": 0, "L2_PRESENT_LO": 1,
                "TILER_PRESENT_LO": 1}
    for name, value in expected.items():
        assert lookup(name).reset == value, name
    # §7 reset state: MCU stopped, no transitions, JOB/MMU RAWSTAT clear.
    for name in ("MCU_CONTROL", "MCU_STATUS", "GPU_STATUS", "L2_READY_LO", "L2_PWRTRANS_LO",
                 "JOB_IRQ_RAWSTAT", "MMU_IRQ_RAWSTAT", "AS3_STATUS"):
        assert lookup(name).reset == 0, name
    # Secondary (drm-shim) values are marked as such.
    assert "secondary" in lookup("THREAD_FEATURES").provenance
