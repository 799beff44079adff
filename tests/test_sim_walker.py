"""The simulated MMU's page-table walker against mali-csf-registers-and-mmu.md §3.5-§3.7 and §4.

Tables are written by hand, descriptor by descriptor (values from §4.5); address spaces are
programmed through raw MMIO offsets; expected FAULTSTATUS values are spelled out in hex from the
§3.7 code table (type | access << 8 | source << 16; access 1 execute, 2 read, 3 write).
"""

from __future__ import annotations

import pytest
from test_sim_walker_rig import (
    BLOCK_2M_RW,
    MEMATTR_RK3588,
    MMU_IRQ_RAWSTAT,
    PTE_NOEXEC,
    PTE_RO,
    PTE_RO_NOEXEC,
    PTE_RW,
    PTE_UNCACHED,
    TRANSCFG_RK3588,
    TRANSTAB,
    UPDATE,
    Rig,
    as_reg,
)

from uio_driver.errors import SimProtocolError
from uio_driver.sim.walker import SimGpuFault, decode_descriptor, table_index

# -- descriptor decoding (§4.2, §4.3, §4.5) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "level", "kind", "address", "attr", "ro", "sh", "xn"),
    [
        (PTE_RW, 3, "page", 0x12345000, 1, False, 3, False),
        (PTE_RO, 3, "page", 0x12345000, 1, True, 3, False),
        (PTE_NOEXEC, 3, "page", 0x12345000, 1, False, 3, True),
        (PTE_UNCACHED, 3, "page", 0x12345000, 0, False, 2, False),
        (PTE_RO_NOEXEC, 3, "page", 0x12345000, 1, True, 3, True),
        (BLOCK_2M_RW, 2, "block", 0x40200000, 1, False, 3, False),
        (0x0000000080001003, 1, "table", 0x80001000, 0, False, 0, False),
        (0x0000000040200F45, 0, "reserved", 0x40200000, 1, False, 3, False),  # block at L0
        (0x0000000012345F45, 3, "reserved", 0x12345000, 1, False, 3, False),  # 01 at L3
        (0x0000000012345F46, 3, "invalid", 0x12345000, 1, False, 3, False),  # bit 0 clear
    ],
)
def test_decode_reference_descriptors(value, level, kind, address, attr, ro, sh, xn):
    d = decode_descriptor(value, level)
    assert (d.kind, d.address, d.attr_index, d.read_only, d.shareability) == (kind, address, attr, ro, sh)
    assert d.uxn is xn and d.pxn is xn  # io-pgtable sets both XN bits (0x0060... = bits 54:53)
    if kind in ("page", "block"):
        assert d.access_flag and d.not_global and d.ap_unpriv and not d.ns and not d.contiguous


@pytest.mark.parametrize(("va", "indices"), [
    (0x0000_1234_5678_9000, (36, 209, 179, 393)),
    (0x7FFF_C0DE_5000, (255, 511, 6, 485)),
    (0x1020_3000, (0, 0, 0x81, 0x3)),
])
def test_table_index_reference_examples(va, indices):
    assert tuple(table_index(va, level) for level in range(4)) == indices


def test_walk_reads_the_descriptors_the_reference_indices_name():
    rig = Rig()
    va = 0x0000_1234_5678_9000  # §4.1: L0 36, L1 209, L2 179, L3 393
    t0, t1, t2, t3 = (rig.table() for _ in range(4))
    rig.put(t0, 36, t1 | 3)
    rig.put(t1, 209, t2 | 3)
    rig.put(t2, 179, t3 | 3)
    rig.put(t3, 393, PTE_RW)
    rig.configure(1, t0)
    tr = rig.mmu.translate(1, va + 0x123)
    assert tr.pa == 0x12345123 and tr.level == 3
    assert [(d.level, d.pa, d.value) for d in tr.descriptors] == [
        (0, t0 + 36 * 8, t1 | 3), (1, t1 + 209 * 8, t2 | 3), (2, t2 + 179 * 8, t3 | 3),
        (3, t3 + 393 * 8, PTE_RW)]


# -- successful walks -----------------------------------------------------------------------------------


def test_reference_walk_va_0x10203000_to_pa_0x12345000():
    rig = Rig()
    t0, t1, t2, t3 = rig.reference_tables()
    rig.configure(1, t0)
    rig.mem.write(0x12345FF8, b"ABCDEFGH")
    tr = rig.mmu.translate(1, 0x10203FF8)
    assert (tr.pa, tr.level, tr.va_base, tr.pa_base, tr.size) == (
        0x12345FF8, 3, 0x10203000, 0x12345000, 0x1000)
    # Cached RW page: AttrIndx 1 selects MEMATTR byte 1 = 0x8F, SH inner (§3.6, §4.4).
    assert (tr.read_only, tr.executable, tr.attr_index, tr.memattr, tr.shareability) == (
        False, True, 1, 0x8F, 3)
    assert [d.pa for d in tr.descriptors] == [t0, t1, t2 + 0x81 * 8, t3 + 3 * 8]
    assert rig.mmu.gpu_read(1, 0x10203FF8, 8) == b"ABCDEFGH"
    rig.mmu.gpu_write(1, 0x10203000, b"\x11\x22")
    assert rig.mem.read(0x12345000, 2) == b"\x11\x22"
    assert rig.r32(MMU_IRQ_RAWSTAT) == 0


def test_uncached_page_selects_memattr_byte_0():
    rig = Rig()
    t0, _, _, t3 = rig.reference_tables()
    rig.put(t3, 0x003, PTE_UNCACHED)
    rig.configure(1, t0)
    tr = rig.mmu.translate(1, 0x10203000)
    assert (tr.attr_index, tr.memattr, tr.shareability) == (0, 0x4C, 2)  # §3.6 index 0 = 0x4C, SH_OS


def test_2mib_block_covers_its_whole_range():
    rig = Rig()
    t0, _, t2, _ = rig.reference_tables()
    rig.put(t2, 1, BLOCK_2M_RW)  # VA [0x200000, 0x400000) -> PA [0x40200000, 0x40400000)
    rig.configure(1, t0)
    rig.mem.write64(0x403ABCD8, 0x0123456789ABCDEF)
    tr = rig.mmu.translate(1, 0x3ABCD8)
    assert (tr.pa, tr.level, tr.va_base, tr.size) == (0x403ABCD8, 2, 0x200000, 0x200000)
    assert rig.mmu.gpu_read64(1, 0x3ABCD8) == 0x0123456789ABCDEF
    assert rig.mmu.translate(1, 0x200000).pa == 0x40200000
    assert rig.mmu.translate(1, 0x3FFFFF).pa == 0x403FFFFF
    assert rig.mmu.translate(1, 0x400000).exception_type == 0xC2  # next L2 entry is empty


def test_1gib_block_at_level_1():
    rig = Rig(ram=((0x1000_0000, 0x10_0000), (0xC000_0000, 1 << 30)))
    t0, t1 = rig.table(), rig.table()
    rig.put(t0, 0, t1 | 3)
    rig.put(t1, 1, 0xC0000F45)  # VA [1 GiB, 2 GiB) -> PA [0xC0000000, 0x100000000)
    rig.configure(2, t0)
    rig.mem.write32(0xE3456788, 0xCAFEF00D)
    tr = rig.mmu.translate(2, 0x4000_0000 + 0x2345_6788)
    assert (tr.pa, tr.level, tr.va_base, tr.size) == (0xE3456788, 1, 0x4000_0000, 1 << 30)
    assert rig.mmu.gpu_read32(2, 0x6345_6788) == 0xCAFEF00D
    assert len(tr.descriptors) == 2


def test_walk_uses_only_the_live_config():
    rig = Rig()
    t0, *_ = rig.reference_tables()
    rig.configure(1, t0)
    empty = rig.table()
    rig.w64(as_reg(1, TRANSTAB), empty)  # pending only
    assert rig.mmu.translate(1, 0x10203000).pa == 0x12345000
    rig.command(1, UPDATE)
    assert rig.mmu.translate(1, 0x10203000).exception_type == 0xC0


# -- faults: exact FAULTSTATUS / FAULTADDRESS / IRQ bit ------------------------------------------------


def _case_setup(name, rig, t0, t1, t2, t3):
    setups = {
        "l0-block": lambda: rig.put(t0, 2, 0x40000F45),
        "l3-type01": lambda: rig.put(t3, 5, 0x12345F45),
        "l3-oa-40bit": lambda: rig.put(t3, 6, (1 << 40) | 0xF47),
        "l1-table-oa-40bit": lambda: rig.put(t1, 2, (1 << 40) | 3),
        "l2-block-oa-40bit": lambda: rig.put(t2, 0x83, (1 << 41) | 0xF45),
        "l3-af0": lambda: rig.put(t3, 7, PTE_RW & ~0x400),
        "l2-af0": lambda: rig.put(t2, 0x84, BLOCK_2M_RW & ~0x400),
        "l1-af0": lambda: rig.put(t1, 3, 0x40000F45 & ~0x400),
        "l3-ro-write": lambda: rig.put(t3, 8, PTE_RO),
        "l2-ro-write": lambda: rig.put(t2, 0x85, 0x40200FC5),
        "l3-xn-exec": lambda: rig.put(t3, 9, PTE_NOEXEC),
        "l2-xn-exec": lambda: rig.put(t2, 0x86, 0x0060000040200F45),
        "l2-table-no-ram": lambda: rig.put(t1, 4, 0x2000_0000 | 3),
    }
    setups.get(name, lambda: None)()


# (case, VA, access, FAULTSTATUS, MMU_IRQ_RAWSTAT bit for AS1)
FAULT_CASES = [
    ("l0-invalid", 0x80_0000_0018, "read", 0x2C0, 1 << 1),
    ("l1-invalid", 0x4000_0018, "read", 0x2C1, 1 << 1),
    ("l2-invalid", 0x1040_0018, "read", 0x2C2, 1 << 1),
    ("l3-invalid", 0x1020_4018, "read", 0x2C3, 1 << 1),
    ("l3-invalid", 0x1020_4018, "write", 0x3C3, 1 << 1),  # §3.7's own decode example
    ("l3-invalid", 0x1020_4018, "execute", 0x1C3, 1 << 1),
    ("l0-block", 0x100_0000_0018, "read", 0x2C0, 1 << 1),
    ("l3-type01", 0x1020_5018, "read", 0x2C3, 1 << 1),
    ("l3-oa-40bit", 0x1020_6018, "read", 0x2E7, 1 << 1),
    ("l1-table-oa-40bit", 0x8000_0018, "read", 0x2E5, 1 << 1),
    ("l2-block-oa-40bit", 0x1060_0018, "read", 0x2E6, 1 << 1),
    ("l3-af0", 0x1020_7018, "read", 0x2DB, 1 << 1),
    ("l2-af0", 0x1080_0018, "read", 0x2DA, 1 << 1),
    ("l1-af0", 0xC000_0018, "read", 0x2D9, 1 << 1),
    ("l3-ro-write", 0x1020_8018, "write", 0x3CB, 1 << 1),
    ("l2-ro-write", 0x10A0_0018, "write", 0x3CA, 1 << 1),
    ("l3-xn-exec", 0x1020_9018, "execute", 0x1CB, 1 << 1),
    ("l2-xn-exec", 0x10C0_0018, "execute", 0x1CA, 1 << 1),
    ("va-49bit", 1 << 48, "read", 0x2E0, 1 << 1),
    # Bus error reading the L2 table: TRANSTAB_BUS_FAULT_2, DECODER bit 10, IRQ bit 16 + 1.
    ("l2-table-no-ram", 0x1_0000_0018, "read", 0x6D2, 1 << 17),
]


@pytest.mark.parametrize(("case", "va", "access", "status", "irq"), FAULT_CASES,
                         ids=[f"{c[0]}-{c[2]}" for c in FAULT_CASES])
def test_fault_latches_exact_faultstatus_and_address(case, va, access, status, irq):
    rig = Rig()
    tables = rig.reference_tables()
    _case_setup(case, rig, *tables)
    rig.configure(1, tables[0])
    with pytest.raises(SimGpuFault) as info:
        if access == "write":
            rig.mmu.gpu_write(1, va, b"\0" * 8)
        else:
            rig.mmu.gpu_read(1, va, 8, access=access)
    err = info.value
    assert (err.as_nr, err.va, err.exception_type, err.access) == (1, va, status & 0xFF, access)
    assert err.latched and err.faultstatus == status
    assert rig.fault_regs(1) == (status, va)
    assert rig.r32(MMU_IRQ_RAWSTAT) == irq
    assert rig.fault_regs(0) == (0, 0)


def test_permitted_accesses_next_to_the_faulting_ones():
    rig = Rig()
    t0, _, t2, t3 = rig.reference_tables()
    rig.put(t3, 8, PTE_RO)
    rig.put(t3, 9, PTE_NOEXEC)
    rig.put(t2, 0x85, 0x40200FC5)
    rig.configure(1, t0)
    rig.mmu.gpu_read(1, 0x10208000, 4)  # RO page: reads and fetches are fine
    rig.mmu.gpu_read(1, 0x10208000, 4, access="execute")
    rig.mmu.gpu_write(1, 0x10209000, b"1234")  # XN page: data writes are fine
    rig.mmu.gpu_read(1, 0x10A00000, 4, access="execute")
    assert rig.r32(MMU_IRQ_RAWSTAT) == 0


def test_memattr_fault_type_3_at_page_and_block():
    rig = Rig()
    t0, _, t2, _ = rig.reference_tables()
    rig.put(t2, 1, BLOCK_2M_RW)
    rig.configure(1, t0, memattr=(MEMATTR_RK3588 & ~0xFF00) | 0xC800)  # byte 1: type 3 = FAULT
    with pytest.raises(SimGpuFault):
        rig.mmu.gpu_read(1, 0x10203000, 4)
    assert rig.fault_regs(1) == (0x2EB, 0x10203000)
    rig.w32(0x2004, 1 << 1)
    with pytest.raises(SimGpuFault):
        rig.mmu.gpu_write(1, 0x200010, b"x")
    assert rig.fault_regs(1) == (0x3EA, 0x200010)


def test_transtab_outside_ram_is_a_level_0_bus_fault():
    rig = Rig()
    rig.configure(3, 0x2000_0000)
    with pytest.raises(SimGpuFault):
        rig.mmu.gpu_read(3, 0x1000, 4)
    assert rig.fault_regs(3) == (0x6D0, 0x1000)
    assert rig.r32(MMU_IRQ_RAWSTAT) == 1 << (16 + 3)


def test_source_id_lands_in_faultstatus_bits_31_16():
    rig = Rig()
    t0, *_ = rig.reference_tables()
    rig.configure(1, t0)
    with pytest.raises(SimGpuFault) as info:
        rig.mmu.gpu_read(1, 0x10204000, 4, source=0xBEEF)
    assert rig.fault_regs(1) == (0xBEEF02C3, 0x10204000)
    assert info.value.source == 0xBEEF


def test_disable_af_fault_lets_af0_leaves_through():
    rig = Rig()
    t0, _, _, t3 = rig.reference_tables()
    rig.put(t3, 0x003, PTE_RW & ~0x400)
    rig.configure(1, t0, transcfg=(1 << 34) | TRANSCFG_RK3588)  # TRANSCFG.DISABLE_AF_FAULT
    assert rig.mmu.translate(1, 0x10203000).pa == 0x12345000


def test_wxn_makes_writable_pages_execute_never():
    rig = Rig()
    t0, _, _, t3 = rig.reference_tables()
    rig.put(t3, 4, PTE_RO)
    rig.configure(1, t0, transcfg=(1 << 35) | TRANSCFG_RK3588)  # TRANSCFG.WXN
    assert rig.mmu.translate(1, 0x10204000, "execute").pa == 0x12345000  # read-only: still executable
    fault = rig.mmu.translate(1, 0x10203000, "execute")
    assert fault.faultstatus == 0x1CB


def test_ina_bits_shrink_the_input_size():
    rig = Rig()
    t0, *_ = rig.reference_tables()
    rig.configure(1, t0, transcfg=0x42000000 | 16 << 6 | 6)  # INA_BITS 16 -> 55 - 16 = 39 bits
    assert rig.mmu.translate(1, 0x10203000).pa == 0x12345000
    assert rig.mmu.translate(1, 1 << 39).faultstatus == 0x2E0
    # Just inside: walks normally; L0[0] -> T1, whose entry 511 is empty -> TRANSLATION_FAULT_1.
    assert rig.mmu.translate(1, (1 << 39) - 0x1000).faultstatus == 0x2C1


# -- address-space modes (§3.5) ----------------------------------------------------------------------


def test_unmapped_mode_faults_every_access_at_level_0():
    rig = Rig()
    rig.configure(4, 0, transcfg=1, memattr=0)  # panthor's AS disable values (§5.6)
    with pytest.raises(SimGpuFault):
        rig.mmu.gpu_write(4, 0x12345000, b"x")
    assert rig.fault_regs(4) == (0x3C0, 0x12345000)
    assert rig.mem.read(0x12345000, 1) == b"\0"


def test_identity_mode_maps_va_to_pa():
    rig = Rig()
    rig.configure(5, 0, transcfg=2, memattr=0)
    rig.mmu.gpu_write(5, 0x12345010, b"identity")
    assert rig.mem.read(0x12345010, 8) == b"identity"
    assert rig.mmu.translate(5, 0x40200000).pa == 0x40200000
    with pytest.raises(SimGpuFault):
        rig.mmu.gpu_read(5, 1 << 40, 4)
    assert rig.fault_regs(5) == (0x2C7, 1 << 40)  # TRANSLATION_FAULT_IDENTITY


@pytest.mark.parametrize("transcfg", [0, 0x420001C8], ids=["never-configured-LEGACY", "64K-granule"])
def test_unmodelled_modes_are_strict_errors(transcfg):
    rig = Rig()
    if transcfg:
        rig.configure(2, 0x1000_0000, transcfg=transcfg)
    with pytest.raises(SimProtocolError, match="ADRMODE") as info:
        rig.mmu.gpu_read(2, 0x1000, 4)
    assert info.value.details["kind"] == "unsupported"
    assert rig.fault_regs(2) == (0, 0) and rig.r32(MMU_IRQ_RAWSTAT) == 0  # refused: nothing latched


@pytest.mark.parametrize("transcfg", [0, 0x420001C8])
def test_unmodelled_modes_non_strict_record_and_fault(transcfg):
    rig = Rig(strict=False)
    if transcfg:
        rig.configure(2, 0x1000_0000, transcfg=transcfg)
    with pytest.raises(SimGpuFault):
        rig.mmu.gpu_read(2, 0x1000, 4)
    assert [v.kind for v in rig.sim.violations] == ["unsupported"]
    assert rig.fault_regs(2) == (0x2C0, 0x1000)


# -- descriptors that break the format rules -------------------------------------------------------------


def test_block_with_low_address_bits_is_flagged_and_masked():
    strict = Rig()
    t0, _, t2, _ = strict.reference_tables()
    strict.put(t2, 1, BLOCK_2M_RW | 0x1000)  # bit 12 set in a 2 MiB block
    strict.configure(1, t0)
    with pytest.raises(SimProtocolError, match="bits 20:12 must be 0"):
        strict.mmu.gpu_read(1, 0x200000, 4)
    lax = Rig(strict=False)
    t0, _, t2, _ = lax.reference_tables()
    lax.put(t2, 1, BLOCK_2M_RW | 0x1000)
    lax.configure(1, t0)
    assert lax.mmu.translate(1, 0x200010).pa == 0x40200010
    assert [v.kind for v in lax.sim.violations] == ["bad-descriptor"]


@pytest.mark.parametrize(("leaf", "table_bits", "match"), [
    (PTE_RW & ~0x40, 0, r"AP\[1\]"),
    (PTE_RW | 1 << 53, 0, "PXN"),
    (PTE_RW, 1 << 62, "APTable"),
])
def test_unmodelled_descriptor_bits_are_flagged(leaf, table_bits, match):
    rig = Rig()
    t0, _, t2, t3 = rig.reference_tables()
    rig.put(t3, 3, leaf)
    rig.put(t2, 0x81, (t3 | 3) | table_bits)
    rig.configure(1, t0)
    with pytest.raises(SimProtocolError, match=match):
        rig.mmu.gpu_read(1, 0x10203000, 4)


def test_transtab_low_bits_are_flagged():
    rig = Rig()
    t0, *_ = rig.reference_tables()
    rig.configure(1, t0 | 0x10)
    with pytest.raises(SimProtocolError, match="bits 11:0"):
        rig.mmu.gpu_read(1, 0x10203000, 4)
