"""Register-file semantics of the simulated GPU window: identification values, access modes,
undefined offsets, strict vs non-strict mode, power-domain checks, bad offsets/values.

Offsets and values are raw numbers from shared/reference/mali-csf-registers-and-mmu.md (§1.1, §6),
not the driver's register database.
"""

from __future__ import annotations

import errno

import pytest

from uio_driver.errors import BadAddress, DeviceNotFound, InvalidArgument, SimProtocolError
from uio_driver.sim import SimConfig, SimPlatform
from uio_driver.sim.regfile import Access, Register, RegisterFile

# (offset, expected value) — reference §6 "Real Mali-G610 MP4 (RK3588) values" and the task brief.
G610_IDS = [
    (0x000, 0xA8670005),  # GPU_ID
    (0x004, 0x07120306),  # L2_FEATURES
    (0x00C, 0x00000809),  # TILER_FEATURES
    (0x010, 0x00000301),  # MEM_FEATURES
    (0x014, 0x00002830),  # MMU_FEATURES
    (0x018, 0x000000FF),  # AS_PRESENT
    (0x01C, 0x040A0412),  # CSF_ID (drm-shim)
    (0x0A0, 2048),  # THREAD_MAX_THREADS
    (0x0A4, 1024),  # THREAD_MAX_WORKGROUP_SIZE
    (0x0A8, 1024),  # THREAD_MAX_BARRIER_SIZE
    (0x0AC, 0x04010000),  # THREAD_FEATURES
    (0x0B0, 0xC1FFFF9E),  # TEXTURE_FEATURES_0
    (0x100, 0x00050005),  # SHADER_PRESENT_LO
    (0x104, 0x0),  # SHADER_PRESENT_HI
    (0x110, 0x1),  # TILER_PRESENT_LO
    (0x120, 0x1),  # L2_PRESENT_LO
    (0x300, 0x0),  # COHERENCY_FEATURES
]


@pytest.mark.parametrize(("offset", "expected"), G610_IDS, ids=[f"{o:#05x}" for o, _ in G610_IDS])
def test_identification_registers_return_g610_values(sim_platform, offset, expected):
    assert sim_platform.mmio.read32(offset) == expected


def test_gpu_id_decodes_to_arch_10_8_product_7(sim_platform):
    gpu_id = sim_platform.mmio.read32(0x000)
    # §1.2: ARCH_MAJOR 31:28, ARCH_MINOR 27:24, ARCH_REV 23:20, PRODUCT_MAJOR 19:16, VERSION_STATUS 3:0
    assert (gpu_id >> 28, gpu_id >> 24 & 0xF, gpu_id >> 20 & 0xF, gpu_id >> 16 & 0xF, gpu_id & 0xF) == (
        10, 8, 6, 7, 5)


def test_identification_constant_across_reset_and_configurable():
    with SimPlatform(config=SimConfig(gpu_id=0xA8670001, shader_present=0x1_0000_0005)) as p:
        m = p.mmio
        assert m.read32(0x000) == 0xA8670001
        assert (m.read32(0x100), m.read32(0x104)) == (0x5, 0x1)
        m.write32(0x030, 0x101)  # soft reset
        p.clock.sleep(0.001)
        assert m.read32(0x020) & 0x100
        assert m.read32(0x000) == 0xA8670001
        p.sim.config.l2_features = 0x07130306  # a live config change is visible immediately
        assert m.read32(0x004) == 0x07130306


def test_write_to_read_only_register_raises_naming_it_and_changes_nothing(sim_platform):
    with pytest.raises(SimProtocolError) as info:
        sim_platform.mmio.write32(0x000, 0x12345678)
    err = info.value
    assert err.errno == errno.EPROTO
    assert err.register == "GPU_ID" and err.offset == 0x000 and err.value == 0x12345678
    assert "GPU_ID" in str(err) and "read-only" in str(err)
    assert sim_platform.mmio.read32(0x000) == 0xA8670005


def test_jm_latest_flush_reads_zero_on_csf(sim_platform):
    m = sim_platform.mmio
    m.write32(0x030, 0x304)
    sim_platform.clock.sleep(1e-3)
    assert m.read32(0x10000) == 1  # the CSF flush ID lives in the USER page (§1.11)...
    assert m.read32(0x038) == 0  # ... not at the JM offset 0x038 (§1.1)


@pytest.mark.parametrize("offset", [0x02C, 0x034, 0x038, 0x03C, 0x160, 0x220, 0x704, 0x10000, 0x241C, 0x2428])
def test_every_kind_of_ro_register_refuses_writes(sim_platform, offset):
    with pytest.raises(SimProtocolError) as info:
        sim_platform.mmio.write32(offset, 1)
    assert info.value.offset == offset
    assert sim_platform.sim.violations[-1].kind == "ro-write"


@pytest.mark.parametrize("offset", [0x030, 0x024, 0x1A0, 0x050, 0x2418])
def test_write_only_registers_read_as_zero(sim_platform, offset):
    assert sim_platform.mmio.read32(offset) == 0


@pytest.mark.parametrize("offset", [
    0x00C + 0x1000 + 0x10,  # JOB_CONTROL beyond the IRQ registers (0x101C)
    0x2010,  # MMU block beyond the IRQ registers
    0x242C,  # AS0 +0x2C is unused (§3.2)
    0x2600,  # AS8: not present on G610 (AS_PRESENT = 0xFF)
    0x10004,  # USER page beyond LATEST_FLUSH
    0x40000,  # IPA_CONTROL, not modelled
    0x7FFFC,  # gap before the doorbell pages
])
def test_undefined_offsets_are_strict_errors(sim_platform, offset):
    with pytest.raises(SimProtocolError) as info:
        sim_platform.mmio.read32(offset)
    assert info.value.offset == offset and "undefined" in str(info.value)
    with pytest.raises(SimProtocolError):
        sim_platform.mmio.write32(offset, 0xFFFFFFFF)


def test_non_strict_records_violations_and_behaves_like_hardware():
    with SimPlatform(strict=False) as p:
        m, sim = p.mmio, p.sim
        m.write32(0x000, 0xDEAD)  # RO write ignored
        assert m.read32(0x000) == 0xA8670005
        assert m.read32(0x2600) == 0  # undefined reads 0
        m.write32(0x2600, 5)  # undefined write ignored
        assert m.read32(0x2600) == 0
        assert [v.kind for v in sim.violations] == ["ro-write", "undefined", "undefined", "undefined"]
        assert sim.violations[0].register == "GPU_ID" and sim.violations[0].value == 0xDEAD
        assert sim.violations[2].offset == 0x2600


def test_strict_violations_are_also_recorded(sim_platform):
    with pytest.raises(SimProtocolError):
        sim_platform.mmio.write32(0x014, 1)
    assert sim_platform.sim.violations[-1].register == "MMU_FEATURES"


def test_rw_register_round_trips_and_resets(sim_platform):
    m = sim_platform.mmio
    m.write32(0x048, 0x00120000)  # L2_CONFIG
    m.write32(0x088, 0x1234)  # TIMESTAMP_OFFSET_LO
    assert (m.read32(0x048), m.read32(0x088)) == (0x00120000, 0x1234)
    m.write32(0x030, 0x101)
    sim_platform.clock.sleep(0.001)
    assert (m.read32(0x048), m.read32(0x088)) == (0, 0)


def test_coherency_enable_accepts_protocol_numbers_only(sim_platform):
    m = sim_platform.mmio
    m.write32(0x304, 31)  # NONE, what panthor writes on RK3588 (§5.3)
    assert m.read32(0x304) == 31
    with pytest.raises(SimProtocolError) as info:
        m.write32(0x304, 2)
    assert info.value.register == "COHERENCY_ENABLE"
    assert m.read32(0x304) == 31


def test_access_with_power_domain_off_is_a_strict_error(sim_platform):
    sim = sim_platform.sim
    sim.set_power_domain(False)
    with pytest.raises(SimProtocolError) as info:
        sim_platform.mmio.read32(0x000)
    assert "power domain" in str(info.value) and info.value.register == "GPU_ID"
    with pytest.raises(SimProtocolError):
        sim_platform.mmio.write32(0x1A0, 1)
    assert sim.violations[-1].kind == "power-off"
    sim.set_power_domain(True)
    assert sim_platform.mmio.read32(0x000) == 0xA8670005


def test_power_domain_off_non_strict_reads_zero_and_drops_writes_and_state():
    with SimPlatform(strict=False) as p:
        m = p.mmio
        m.write32(0x028, 0x20103)
        p.sim.set_power_domain(False)
        assert m.read32(0x000) == 0
        m.write32(0x028, 0x1)
        p.sim.set_power_domain(True)
        assert m.read32(0x028) == 0  # power cycle: masks back to reset value
        assert [v.kind for v in p.sim.violations] == ["power-off", "power-off"]


@pytest.mark.parametrize("offset", [-4, 0x2, 0x200000, 0x1FFFFE, "0x0"])
def test_bad_offsets_raise_bad_address(sim_platform, offset):
    with pytest.raises(BadAddress):
        sim_platform.mmio.read32(offset)
    with pytest.raises(BadAddress):
        sim_platform.mmio.write32(offset, 0)
    assert sim_platform.sim.violations == []


@pytest.mark.parametrize("value", [-1, 1 << 32, 1.0, None, True])
def test_bad_values_raise_invalid_argument_and_write_nothing(sim_platform, value):
    with pytest.raises(InvalidArgument):
        sim_platform.mmio.write32(0x028, value)
    assert sim_platform.mmio.read32(0x028) == 0


def test_numpy_integer_values_are_accepted(sim_platform):
    import numpy as np

    sim_platform.mmio.write32(0x028, np.uint32(0x103))
    assert sim_platform.mmio.read32(0x028) == 0x103


def test_access_after_close_raises_device_not_found():
    p = SimPlatform()
    m = p.mmio
    p.close()
    with pytest.raises(DeviceNotFound):
        m.read32(0)


def test_register_file_rejects_duplicate_offsets_and_names():
    def report(*_a, **_k):
        raise AssertionError("no violation expected")

    rf = RegisterFile(report)
    rf.add(Register("A", 0x10, Access.RW))
    with pytest.raises(InvalidArgument):
        rf.add(Register("B", 0x10, Access.RW))
    with pytest.raises(InvalidArgument):
        rf.add(Register("A", 0x14, Access.RW))
    with pytest.raises(InvalidArgument):
        Register("C", 0x11, Access.RW)
    with pytest.raises(InvalidArgument):
        rf.named("NOPE")


def test_window_declares_registers_from_every_block(sim_platform):
    names = {r.name for r in sim_platform.sim.regs}
    for expected in ("GPU_ID", "GPU_IRQ_CLEAR", "JOB_IRQ_MASK", "MMU_IRQ_STATUS", "L2_PWRON_LO",
                     "AS7_TRANSCFG_HI", "MCU_CONTROL", "TIMESTAMP_HI", "STACK_PWRTRANS_HI"):
        assert expected in names
    assert "AS8_TRANSTAB_LO" not in names
    assert sim_platform.sim.register("AS1_COMMAND").offset == 0x2458  # 0x2400 + 1*0x40 + 0x18
