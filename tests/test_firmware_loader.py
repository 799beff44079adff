"""Firmware sections → MCU VM (uio_driver/firmware/loader.py) on the simulated G610.

Expectations come from the references, not from the loader:

* csf-firmware-and-interfaces.md §3.2 — WR clear → read-only, EX clear → no-exec, CACHE_MODE other
  than CACHED (1) → uncached, PROT → skipped; §3.3 — data copied to va.start, ZERO fills the rest;
  §2.2 — the eight arch10.8 sections and their flags; §1.5 — flag bits (RD 0, WR 1, EX 2, CACHE_MODE
  4:3, PROT 5, SHARED 30, ZERO 31);
* mali-csf-registers-and-mmu.md §4.3-§4.5 — leaf attribute bits: page type 0b11, AttrIndx 1 (0x4) +
  SH inner (0x300) when cached, AttrIndx 0 + SH outer (0x200) when not, AP_UNPRIV 0x40, AP_RDONLY 0x80,
  AF 0x400, nG 0x800, XN bits 53 and 54 (RW cached page = 0xF47).

Memory contents are read back through the simulator's own AS0 walker (``sim.mmu.gpu_read``).
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Iterator

import pytest
from test_firmware_boot_rig import G610, Rig, needs

from uio_driver.errors import InvalidArgument, OutOfMemory
from uio_driver.firmware.builder import Blob, HeaderSpec, IfaceSpec, build_image
from uio_driver.firmware.container import parse_firmware
from uio_driver.firmware.loader import PROT_SECTION_WARNING, load_firmware, section_prot
from uio_driver.firmware.synthetic import build_synthetic_image, synthetic_entry_specs
from uio_driver.mmu import Prot

RD, WR, EX, PROT, SHARED, ZERO = 1, 2, 4, 1 << 5, 1 << 30, 1 << 31
CM_NONE, CM_CACHED, CM_UNCACHED_COHERENT, CM_CACHED_COHERENT = 0 << 3, 1 << 3, 2 << 3, 3 << 3

PAGE, AF, NG, AP_UNPRIV, AP_RDONLY = 0x3, 0x400, 0x800, 0x40, 0x80
CACHED_ATTRS, UNCACHED_ATTRS = 0x4 | 0x300, 0x200
XN = 3 << 53
PA_MASK = ((1 << 48) - 1) & ~0xFFF


def expected_attrs(flags: int) -> int:
    """Leaf attribute bits §3.2 + §4.4 give for an IFACE section's flags."""
    attrs = PAGE | AF | NG | AP_UNPRIV
    attrs |= CACHED_ATTRS if (flags >> 3) & 3 == 1 else UNCACHED_ATTRS
    if not flags & WR:
        attrs |= AP_RDONLY
    if not flags & EX:
        attrs |= XN
    return attrs


def test_rw_cached_page_matches_the_reference_example() -> None:
    assert expected_attrs(RD | WR | EX | CM_CACHED) == 0xF47  # §4.5
    assert expected_attrs(RD | EX | CM_CACHED) == 0xFC7


@pytest.mark.parametrize(("flags", "prot"), [
    (RD | WR | EX | CM_CACHED, Prot.NONE),
    (RD | CM_CACHED, Prot.READONLY | Prot.NOEXEC),
    (RD | EX | CM_CACHED, Prot.READONLY),
    (RD | WR | CM_CACHED | ZERO, Prot.NOEXEC),
    (RD | WR | EX | CM_NONE, Prot.UNCACHED),
    (RD | WR | CM_UNCACHED_COHERENT, Prot.NOEXEC | Prot.UNCACHED),
    (RD | WR | CM_CACHED_COHERENT | SHARED | ZERO, Prot.NOEXEC | Prot.UNCACHED),
])
def test_section_prot_follows_panthor(flags: int, prot: Prot) -> None:
    specs, blobs = synthetic_entry_specs()
    extra = IfaceSpec(flags=flags, va_start=0x06000000, va_end=0x06001000)
    image = parse_firmware(build_image([*specs, extra], extra_blobs=blobs))
    assert section_prot(image.sections[-1]) == prot


# -- page-table contents per section ---------------------------------------------------------------------


def check_section_tables(r: Rig, image_bytes: bytes) -> None:
    """Every page of every non-PROT section is mapped at its VA with the §3.2 flags, backed by the loaded
    buffer, and holds the file data then zeros (ZERO) — checked through the driver's tables and the
    simulator's walker."""
    loaded = r.fw.loaded
    assert loaded is not None
    image = r.fw.image
    for entry in image.sections:
        if entry.flags & PROT:
            continue
        section = loaded.section_at(entry.va_start)
        assert section is not None and section.va_start == entry.va_start
        want = expected_attrs(entry.flags)
        for va in range(entry.va_start, entry.va_end, 0x1000):
            t = r.vm.translate(va)
            assert t.level == 3, f"{va:#x}"
            assert t.descriptor & ~PA_MASK == want, f"{va:#x}: {t.descriptor:#x} vs attrs {want:#x}"
            assert t.pa == section.buffer.phys + (va - entry.va_start)
        data = image_bytes[entry.data_start:entry.data_end]
        got = r.sim.mmu.gpu_read(0, entry.va_start, entry.va_end - entry.va_start)
        assert got[:len(data)] == data
        if entry.flags & ZERO:
            assert got[len(data):] == bytes(len(got) - len(data))


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    try:
        yield r
    finally:
        r.close()


def test_synthetic_image_sections_mapped_with_their_flags(rig: Rig) -> None:
    rig.fw.load()
    check_section_tables(rig, build_synthetic_image())
    # AS0 is live: TRANSTAB of AS0 points at the MCU VM's level-0 table (registers §3.2: 0x2400).
    assert rig.p.mmio.read64(0x2400) == rig.vm.pt.root_pa
    assert rig.vm.as_nr == 0


@needs(G610)
def test_g610_blob_sections_mapped_with_their_flags() -> None:
    r = Rig(G610)
    try:
        r.fw.load()
        check_section_tables(r, G610.read_bytes())
        loaded = r.fw.loaded
        assert loaded is not None
        # §2.2: eight IFACE sections, the PROT one (0x03000000) skipped -> 7 mapped.
        assert sorted(s.va_start for s in loaded.sections) == [0x0, 0x400000, 0x410000, 0x800000, 0x1000000,
                                                               0x2000000, 0x4000000]
        assert [e.va_start for e in loaded.skipped] == [0x3000000]
        # The executable section (0x800000, flags 0x0d) is the only one without XN; the shared one
        # (CACHED_COHERENT) is uncached and writable (§2.2 flags).
        assert not r.vm.translate(0x800000).descriptor & XN
        shared_attrs = PAGE | AF | NG | AP_UNPRIV | UNCACHED_ATTRS | XN
        assert r.vm.translate(0x4000000).descriptor & ~PA_MASK == shared_attrs
    finally:
        r.close()


def test_prot_section_skipped_with_panthors_warning(rig: Rig) -> None:
    loaded = rig.fw.load()
    assert PROT_SECTION_WARNING == "Firmware protected mode entry not be supported, ignoring"  # §8
    assert PROT_SECTION_WARNING in rig.fw.log
    assert [(e.va_start, e.va_end) for e in loaded.skipped] == [(0x03000000, 0x03040000)]
    with pytest.raises(Exception, match="not mapped"):
        rig.vm.translate(0x03000000)


def test_every_cache_mode_and_permission_combination() -> None:
    """Extra sections with NONE / coherent cache modes, no data, data without ZERO."""
    specs, blobs = synthetic_entry_specs()
    extra = [
        IfaceSpec(flags=RD | WR | EX | CM_CACHED, va_start=0x05000000, va_end=0x05001000,
                  data=Blob(b"rwx" * 10)),
        IfaceSpec(flags=RD | CM_NONE | ZERO, va_start=0x05010000, va_end=0x05012000,
                  data=Blob(b"\x11" * 0x1800)),
        IfaceSpec(flags=RD | WR | CM_UNCACHED_COHERENT, va_start=0x05020000, va_end=0x05021000,
                  data=Blob(b"\x22" * 0x10)),
        IfaceSpec(flags=RD | EX | CM_CACHED_COHERENT, va_start=0x05030000, va_end=0x05031000),
    ]
    image = build_image([*specs, *extra], header=HeaderSpec(version_hash=0x01050000), extra_blobs=blobs)
    r = Rig()
    try:
        r.fw = type(r.fw)(r.gpu, r.mmu, parse_firmware(image))
        r.fw.load()
        check_section_tables(r, image)
        # Without ZERO the rest of the section is whatever the allocator gave: fresh memory is zero.
        assert r.sim.mmu.gpu_read(0, 0x05020010, 0x10) == bytes(16)
        # §3.2: NONE, UNCACHED_COHERENT and CACHED_COHERENT are all mapped non-cacheable.
        for va in (0x05010000, 0x05020000, 0x05030000):
            assert r.vm.translate(va).descriptor & 0x31C == UNCACHED_ATTRS
        assert r.vm.translate(0x05000000).descriptor & 0x31C == CACHED_ATTRS
    finally:
        r.close()


# -- reload and failure ----------------------------------------------------------------------------------


def test_reload_restores_every_section_from_the_private_copy(rig: Rig) -> None:
    loaded = rig.fw.load()
    image = build_synthetic_image()
    for section in loaded.sections:
        section.buffer.write(0, b"\xee" * 64)
        section.buffer.write(section.buffer.size - 8, b"\xee" * 8)
    done = loaded.reload(writable_only=True)
    # Only sections with WR (0x02000000 and the shared one in the synthetic image, §2.2 layout).
    assert sorted(s.va_start for s in done) == [0x02000000, 0x04000000]
    assert rig.sim.mmu.gpu_read(0, 0x00400000, 4) == b"\xee" * 4  # RO left alone
    loaded.reload()
    check_section_tables(rig, image)


def test_an_existing_mapping_makes_loading_fail_and_change_nothing(rig: Rig) -> None:
    vm = rig.mmu.create_mcu_vm()
    blocker = rig.p.dma_allocator().alloc(0x1000, name="blocker")
    vm.map(blocker, 0x02000000, flags=Prot.NOEXEC)
    before = rig.p.dma_allocator().used_bytes
    with pytest.raises(InvalidArgument) as exc:
        load_firmware(rig.mmu, vm, rig.fw.image)
    assert exc.value.errno == errno.EEXIST
    assert [(m.va, m.size) for m in vm.dump()] == [(0x02000000, 0x1000)]
    assert not [b for b in rig.p.dma_allocator().allocations() if b.name.startswith("fw section")]
    assert rig.p.dma_allocator().used_bytes <= before
    assert vm.as_nr is None  # never bound


def test_out_of_memory_leaves_nothing_mapped() -> None:
    r = Rig(carveout_size=0x40000)  # 256 KiB: not enough for the 0x02000000 section plus the rest
    try:
        with pytest.raises(OutOfMemory):
            r.fw.load()
        assert r.fw.loaded is None
        assert r.vm.dump() == []
        assert not [b for b in r.p.dma_allocator().allocations() if b.name.startswith("fw section")]
    finally:
        r.close()


def test_user_vm_refused(rig: Rig) -> None:
    with pytest.raises(InvalidArgument, match="MCU VM"):
        load_firmware(rig.mmu, rig.mmu.create_vm(), rig.fw.image)


def test_unload_frees_sections(rig: Rig) -> None:
    loaded = rig.fw.load()
    loaded.unload()
    assert rig.vm.dump() == []
    assert not [b for b in rig.p.dma_allocator().allocations() if b.name.startswith("fw section")]


def test_shared_section_cpu_view_is_the_mcu_view(rig: Rig) -> None:
    loaded = rig.fw.load()
    view = loaded.shared_view
    assert (view.va_start, view.size) == (0x04000000, 0x10000)
    # GLB control input_va (§2.8: 0x04002000) read through the CPU view and through AS0 agree.
    assert struct.unpack("<I", view.read_bytes(0x04000008, 4))[0] == 0x04002000
    assert rig.sim.mmu.gpu_read32(0, 0x04000008) == 0x04002000
