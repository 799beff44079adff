"""Simulated MCU boot: preconditions, what the firmware publishes, release identification, boot hooks.

Expectations come from csf-firmware-and-interfaces.md §2.7-§2.8 (versions, shared image), §3.5 (boot
sequence), §8 (G610 values) and §9.2 (checklist), and mali-csf-registers-and-mmu.md §1.9, §2, §3.7
(AS fault codes), §5.7 — spelled out here, not taken from the model.
"""

from __future__ import annotations

import pytest
from test_sim_mcu_rig import (
    AS0,
    AS_FAULTADDRESS,
    AS_FAULTSTATUS,
    BLOBS,
    GLB_IN,
    GLB_OUT,
    GPU_IRQ_MCU_STATUS_CHANGED,
    GPU_IRQ_RAWSTAT,
    JOB_IRQ_GLB,
    JOB_IRQ_RAWSTAT,
    MCU_CONTROL,
    MCU_STATUS,
    MMU_IRQ_RAWSTAT,
    NO_BLOB,
    PTE_RO,
    SHARED,
    McuRig,
    cs_control,
    csg_control,
    csg_out,
    iface_sections,
    synthetic_image,
)

from uio_driver.errors import SimProtocolError
from uio_driver.sim.platform import SimPlatform


@pytest.fixture
def rig():
    r = McuRig()
    yield r
    r.close()


def nonstrict_rig() -> McuRig:
    return McuRig(strict=False)


def check_published_interface(rig: McuRig, version: int, prfcnt_features: int | None) -> None:
    """Control blocks after boot (§2.8 image + the fields the FW fills in, §9.1)."""
    assert rig.rd32(SHARED) == version
    assert rig.rd32(SHARED + 0x04) == 0  # features: "Features 0x0" in the G610 boot log (§2.7)
    assert rig.rd32(SHARED + 0x08) == GLB_IN and rig.rd32(SHARED + 0x0C) == GLB_OUT
    assert (rig.rd32(SHARED + 0x10), rig.rd32(SHARED + 0x14)) == (8, 0xA0)
    assert rig.rd32(SHARED + 0x18) != 0  # prfcnt_size is filled in at boot
    assert rig.rd32(SHARED + 0x1C) == 0x71
    if prfcnt_features is not None:
        assert rig.rd32(SHARED + 0x20) == prfcnt_features
    suspend = {(rig.rd32(csg_control(g) + 0x0C), rig.rd32(csg_control(g) + 0x10)) for g in range(8)}
    assert len(suspend) == 1  # identical CSG slots (§3.6 step 4)
    for size in suspend.pop():
        assert size and size % 0x1000 == 0  # non-zero page multiples (§9.1)
    features = {rig.rd32(cs_control(g, s)) for g in range(8) for s in range(8)}
    assert features == {0x5F | 8 << 8 | 0x7 << 16}  # 96 registers, 8 scoreboards, compute|fragment|tiler
    assert rig.rd32(GLB_OUT) == 0 and all(rig.rd32(csg_out(g)) == 0 for g in range(8))  # ACKs 0 (§9.2)


# -- a good boot ------------------------------------------------------------------------------------


def test_synthetic_boot_publishes_the_interface_then_raises_job_irq_31(rig):
    raw = rig.boot()
    assert raw == JOB_IRQ_GLB
    assert rig.r32(MCU_STATUS) == 1
    assert rig.r32(GPU_IRQ_RAWSTAT) & GPU_IRQ_MCU_STATUS_CHANGED
    check_published_interface(rig, 0x01050000, 1)
    assert rig.mcu.release.name == "synthetic" and [b.kind for b in rig.mcu.boots] == ["cold"]
    assert rig.sim.violations == []


@pytest.mark.parametrize("name,version,prfcnt_features", [
    # §2.8 gives prfcnt_features for the four current blobs only; the 2024-05 image keeps its own.
    ("arm-arch10.8", 0x01050000, 1), ("arm-arch10.8-2024-05", 0x01010000, None),
    ("arm-arch11.8", 0x02080000, 2),
    ("arm-arch12.8", 0x030D0000, 2), ("arm-arch13.8", 0x030D0000, 2)])
def test_each_arm_release_boots_with_its_interface_version(rig, name, version, prfcnt_features):
    if not BLOBS[name].exists():
        pytest.skip(f"{NO_BLOB}: {BLOBS[name]}")
    image = BLOBS[name].read_bytes()
    rig.boot(image)
    check_published_interface(rig, version, prfcnt_features)
    shared = next(s for s in iface_sections(image) if s.va_start == SHARED)
    assert rig.rd32(SHARED + 0x20) == int.from_bytes(shared.data[0x20:0x24], "little")  # image word kept
    assert rig.mcu.release.name == name
    assert rig.sim.violations == []


def test_boot_order_is_control_blocks_then_status_then_irq(rig):
    seen = []
    raise_bits = rig.sim.job_irq.raise_bits

    def spy(bits):
        seen.append((bits, rig.rd32(SHARED), rig.sim.gpu.mcu_status))
        raise_bits(bits)

    rig.sim.job_irq.raise_bits = spy
    rig.boot()
    assert seen == [(JOB_IRQ_GLB, 0x01050000, 1)]


def test_boot_latency_is_configurable_and_status_is_0_until_booted(rig):
    rig.mcu.config.boot_latency_ns = 30_000
    rig.power_l2()
    rig.load(synthetic_image())
    rig.enable_as0()
    rig.start_mcu()
    rig.clock.sleep(29e-6)
    assert rig.r32(MCU_STATUS) == 0 and rig.r32(JOB_IRQ_RAWSTAT) == 0
    rig.clock.sleep(2e-6)
    assert rig.r32(MCU_STATUS) == 1 and rig.r32(JOB_IRQ_RAWSTAT) == JOB_IRQ_GLB


def test_boot_irq_is_latched_while_job_irq_is_masked(rig):
    rig.power_l2()
    rig.load(synthetic_image())
    rig.enable_as0()
    rig.w32(MCU_CONTROL, 2)  # JOB_IRQ_MASK left 0
    assert not rig.p.irq("job").wait(0.01)
    assert rig.r32(JOB_IRQ_RAWSTAT) & JOB_IRQ_GLB  # panthor's fallback check of §3.5 step 6


def test_as0_update_still_in_flight_at_mcu_control_is_fine():
    with SimPlatform(mcu=True) as p:
        p.sim.config.as_command_delay_ns = 5_000
        rig = McuRig(platform=p)
        rig.power_l2()
        rig.load(synthetic_image())
        rig.w64(AS0, rig.root)
        rig.w64(AS0 + 0x08, 0x4C4C4C4C_8C4C8F4C)
        rig.w64(AS0 + 0x30, 0x420001C6)
        rig.w32(AS0 + 0x18, 1)  # UPDATE, not waited for (panthor, registers §5.5 step 6)
        rig.start_mcu()
        assert rig.wait_job(1.0) == JOB_IRQ_GLB


def test_repeated_enable_while_running_changes_nothing(rig):
    rig.boot()
    rig.w32(MCU_CONTROL, 2)
    rig.w32(MCU_CONTROL, 1)
    rig.settle(1e-3)
    assert rig.r32(MCU_STATUS) == 1 and len(rig.mcu.boots) == 1


def test_unknown_image_answers_as_v1_5_0_with_a_note(rig):
    image = synthetic_image()
    code = next(s for s in iface_sections(image) if s.flags & 4)
    rig.power_l2()
    rig.load(image)
    rig.wr32(code.va_start, 0x12345678)  # no longer the synthetic filler, and no known hash
    rig.enable_as0()
    rig.start_mcu()
    assert rig.wait_job(1.0) == JOB_IRQ_GLB
    assert rig.rd32(SHARED) == 0x01050000
    assert rig.mcu.release.name == "unknown"
    assert any("unknown firmware image" in n for n in rig.sim.notes)


# -- preconditions ------------------------------------------------------------------------------------


def test_enable_with_l2_off_is_a_strict_error_and_never_boots(rig):
    rig.load(synthetic_image())
    rig.enable_as0()
    with pytest.raises(SimProtocolError, match="L2"):
        rig.w32(MCU_CONTROL, 2)
    rig.clock.sleep(2.0)
    assert rig.r32(MCU_STATUS) == 0 and rig.r32(JOB_IRQ_RAWSTAT) == 0


def test_enable_with_l2_off_non_strict_records_and_never_boots():
    rig = nonstrict_rig()
    rig.load(synthetic_image())
    rig.enable_as0()
    rig.w32(MCU_CONTROL, 2)
    rig.clock.sleep(2.0)
    assert rig.r32(MCU_STATUS) == 0 and rig.r32(JOB_IRQ_RAWSTAT) == 0
    assert [v.kind for v in rig.sim.violations] == ["l2-off"]
    rig.close()


def test_enable_with_as0_unprogrammed_is_a_strict_error(rig):
    rig.power_l2()
    rig.load(synthetic_image())
    with pytest.raises(SimProtocolError, match="AS0") as info:
        rig.w32(MCU_CONTROL, 2)
    assert info.value.register == "MCU_CONTROL"
    rig.clock.sleep(0.1)
    assert rig.r32(MCU_STATUS) == 0


def test_as0_unmapped_mode_makes_the_boot_fail_fatally_with_an_as0_fault():
    rig = nonstrict_rig()
    rig.power_l2()
    rig.load(synthetic_image())
    rig.enable_as0(transcfg=1)  # ADRMODE 1 UNMAPPED (registers §3.5)
    rig.start_mcu()
    assert not rig.p.irq("job").wait(1.0)
    assert rig.r32(MCU_STATUS) == 3  # FATAL
    assert rig.r32(GPU_IRQ_RAWSTAT) & GPU_IRQ_MCU_STATUS_CHANGED
    # TRANSLATION_FAULT_0 (0xC0) on an instruction fetch (access type 1 in bits 9:8) at the code VA.
    assert rig.r32(AS0 + AS_FAULTSTATUS) == 0xC0 | 1 << 8
    assert rig.r32(AS0 + AS_FAULTADDRESS) == 0x00800000
    assert rig.r32(MMU_IRQ_RAWSTAT) & 1
    assert [v.kind for v in rig.sim.violations] == ["mcu-as0"]
    rig.close()


def test_shared_section_not_mapped_makes_the_boot_fail_fatally(rig):
    rig.power_l2()
    rig.load(synthetic_image(), skip=(SHARED,))
    rig.enable_as0()
    rig.start_mcu()
    assert not rig.p.irq("job").wait(1.0)
    assert rig.r32(MCU_STATUS) == 3
    # 0x04000000: level-2 index 32 has no table (code and data sit at indices 4, 8, 16) →
    # TRANSLATION_FAULT_2 (0xC2) on a data read (access type 2).
    assert rig.r32(AS0 + AS_FAULTSTATUS) == 0xC2 | 2 << 8
    assert rig.r32(AS0 + AS_FAULTADDRESS) == SHARED
    assert rig.sim.violations == []


def test_code_section_mapped_no_execute_makes_the_boot_fail_fatally(rig):
    rig.power_l2()
    rig.load(synthetic_image(), attrs={0x00800000: PTE_RO | 3 << 53})
    rig.enable_as0()
    rig.start_mcu()
    assert not rig.p.irq("job").wait(1.0)
    assert rig.r32(MCU_STATUS) == 3
    assert rig.r32(AS0 + AS_FAULTSTATUS) == 0xCB | 1 << 8  # PERMISSION_FAULT_3, instruction fetch


def test_shared_section_left_empty_is_fatal(rig):
    image = synthetic_image()
    rig.power_l2()
    rig.load(image)
    rig.buffers[SHARED].zero()  # the driver forgot to copy the control-block image
    rig.enable_as0()
    rig.start_mcu()
    rig.clock.sleep(0.01)
    assert rig.r32(MCU_STATUS) == 3
    assert "control-block image" in rig.mcu.crashes[0][1]


# -- hooks ------------------------------------------------------------------------------------------


def test_never_boots_hook(rig):
    rig.mcu.faults.never_boots = True
    rig.power_l2()
    rig.load(synthetic_image())
    rig.enable_as0()
    rig.start_mcu()
    assert not rig.p.irq("job").wait(1.0)  # panthor's 1000 ms boot wait times out
    assert rig.r32(MCU_STATUS) == 0 and rig.r32(JOB_IRQ_RAWSTAT) == 0


def test_slow_boot_hook_exceeds_one_second_then_boots(rig):
    rig.mcu.faults.slow_boot = True
    rig.power_l2()
    rig.load(synthetic_image())
    rig.enable_as0()
    rig.start_mcu()
    t0 = rig.clock.now_ns()
    assert not rig.p.irq("job").wait(1.0)
    assert rig.r32(MCU_STATUS) == 0
    assert rig.p.irq("job").wait(1.0)
    assert rig.clock.now_ns() - t0 > 1_000_000_000 and rig.r32(MCU_STATUS) == 1


@pytest.mark.parametrize("corruption,check", [
    ("version_zero", lambda r: r.rd32(SHARED) == 0),
    ("input_va_outside", lambda r: r.rd32(SHARED + 0x08) == 0x04010000),
    ("group_num_below_min", lambda r: r.rd32(SHARED + 0x10) == 2),
    ("unequal_csg", lambda r: r.rd32(csg_control(1) + 0x0C) != r.rd32(csg_control(0) + 0x0C)),
    ("unequal_cs", lambda r: r.rd32(cs_control(0, 1)) != r.rd32(cs_control(0, 0))),
])
def test_corrupt_interface_hooks_publish_what_drivers_must_refuse(rig, corruption, check):
    rig.mcu.faults.corrupt_interface = corruption
    rig.boot()
    assert check(rig)


def test_bad_corruption_name_is_refused_at_enable(rig):
    from uio_driver.errors import InvalidArgument

    rig.mcu.faults.corrupt_interface = "everything"
    rig.power_l2()
    rig.load(synthetic_image())
    rig.enable_as0()
    with pytest.raises(InvalidArgument, match="corrupt_interface"):
        rig.start_mcu()
    assert rig.r32(MCU_STATUS) == 0


def test_inject_fatal_reports_status_3_irq_19_and_halt_status(rig):
    rig.boot()
    rig.w32(0x024, 0xFFFFFFFF)  # GPU_IRQ_CLEAR
    rig.mcu.inject_fatal(halt_status=0x4F)
    assert rig.r32(MCU_STATUS) == 3
    assert rig.r32(GPU_IRQ_RAWSTAT) & GPU_IRQ_MCU_STATUS_CHANGED
    assert rig.rd32(GLB_OUT + 0x10) == 0x4F  # halt_status: halted on watchdog expiration (§4.3)


def test_mcu_control_disable_stops_the_mcu(rig):
    rig.boot()
    rig.w32(MCU_CONTROL, 0)
    assert rig.r32(MCU_STATUS) == 0
    with pytest.raises(SimProtocolError, match="doorbell 0"):
        rig.ring(0)


def test_a_gpu_without_the_mcu_model_keeps_the_old_behaviour():
    with SimPlatform(mcu=False) as p:
        assert p.sim.mcu is None
        p.mmio.write32(MCU_CONTROL, 2)
        assert p.mmio.read32(MCU_STATUS) == 0
        assert any("no firmware model" in n for n in p.sim.notes)
