"""MCU boot, interface discovery, halt/stop, resets and fault recovery on the simulated MCU.

Expected values: csf-firmware-and-interfaces.md §2.7/§8 (interface versions, 8 CSG slots × 8 CS,
instr_features 0x71, drm-shim's 96 registers / 8 scoreboards, 4 unpreserved registers, panthor's log
lines), §3.5 and mali-csf-registers-and-mmu.md §5.7 (boot order JOB_IRQ_CLEAR = ~0, JOB_IRQ_MASK = ~0,
MCU_CONTROL = 2, 1000 ms boot timeout, MCU_STATUS 0 disabled / 1 enabled / 2 halt / 3 fatal), §3.8
(halt 100 ms, fast vs slow restart), §4.3 (halt_status 0x4E = halted on panic).
"""

from __future__ import annotations

import dataclasses
import errno
from collections.abc import Iterator

import pytest
from test_firmware_boot_rig import (
    GLB_IN,
    JOB_IRQ_CLEAR,
    JOB_IRQ_MASK,
    MCU_CONTROL,
    MCU_STATUS,
    Release,
    Rig,
    release_params,
)

from uio_driver.errors import Busy, FirmwareFormatError, FirmwareNotFound, HardwareFault, Timeout
from uio_driver.firmware.container import InterfaceVersion
from uio_driver.firmware.device import CsfFirmware
from uio_driver.regs.gpu_fields import McuStatus

AS0_COMMAND, AS0_TRANSTAB = 0x2418, 0x2400


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    try:
        yield r
    finally:
        r.close()


@pytest.mark.parametrize("release", release_params())
def test_boot_reports_the_reference_interface(release: Release) -> None:
    r = Rig(release.path)
    try:
        info = r.fw.start()
        major, minor = release.version >> 24, (release.version >> 16) & 0xFF
        assert info.version.raw == release.version
        assert info.csif_info() == {"csg_slot_count": 8, "cs_slot_count": 8, "cs_reg_count": 96,
                                    "scoreboard_slot_count": 8, "unpreserved_cs_reg_count": 4}
        assert (info.group_num, info.group_stride, info.stream_num, info.stream_stride) == (8, 0xA0, 8, 0x0C)
        assert info.instr_features == 0x71 and info.features == 0
        assert (info.shared_va, info.shared_size) == (0x04000000, release.shared_size)
        line = f"CSF FW using interface v{major}.{minor}.0, Features 0x0 Instrumentation features 0x71"
        assert line in r.fw.log
        if release.git_sha:
            assert info.git_sha == release.git_sha and f"Firmware git sha: {release.git_sha}" in r.fw.log
        else:
            assert r.fw.source is not None and r.fw.source.synthetic
            assert "synthetic image" in r.fw.log[0]
        assert r.r32(MCU_STATUS) == 1 and r.fw.ready
        assert [b.kind for b in r.mcu.boots] == ["cold"]
    finally:
        r.close()


def test_boot_register_order_follows_panthor() -> None:
    r = Rig(trace=True)
    try:
        r.fw.load()
        r.trace.clear()
        r.fw.boot()
        writes = [(off, value) for _, op, off, value in r.trace if op == "W"]
        start = writes.index((MCU_CONTROL, 2))
        assert writes[start - 2:start] == [(JOB_IRQ_CLEAR, 0xFFFFFFFF), (JOB_IRQ_MASK, 0xFFFFFFFF)]
        # The boot interrupt was handled and cleared (JOB_IRQ_CLEAR with bit 31) after MCU_CONTROL.
        assert any(off == JOB_IRQ_CLEAR and value & (1 << 31) for off, value in writes[start:])
        assert r.mcu.state.value == "running"
    finally:
        r.close()


def test_as0_is_bound_before_the_mcu_starts() -> None:
    r = Rig(trace=True)
    try:
        r.fw.start()
        writes = [(off, value) for _, op, off, value in r.trace if op == "W"]
        start = writes.index((MCU_CONTROL, 2))
        assert (AS0_COMMAND, 1) in writes[:start]  # AS0 UPDATE (registers §3.3)
        assert (AS0_TRANSTAB, r.vm.pt.root_pa & 0xFFFFFFFF) in writes[:start]
    finally:
        r.close()


def test_boot_works_without_an_irq_line(rig: Rig) -> None:
    del rig.p.irqs["job"]  # e.g. /dev/mem without a UIO node for the job interrupt: RAWSTAT/STATUS polling
    info = rig.fw.start()
    assert info.version.raw == 0x01050000 and rig.fw.ready
    rig.glb.ping()


# -- failures and recovery -----------------------------------------------------------------------------


def recover(r: Rig) -> None:
    """The device must be resettable: soft reset + reload + boot + global init, then a ping."""
    assert r.fw.reset() == "slow"
    assert r.fw.ready and r.r32(MCU_STATUS) == 1
    r.glb.ping()


def test_never_boots_times_out_naming_mcu_status(rig: Rig) -> None:
    rig.mcu.faults.never_boots = True
    rig.fw.load()
    t0 = rig.clock.now_ns()
    with pytest.raises(Timeout) as exc:
        rig.fw.boot()
    assert rig.clock.now_ns() - t0 >= 1_000_000_000  # panthor's 1000 ms
    assert "Failed to boot MCU (status=disabled)" in str(exc.value)
    assert "JOB IRQ GLOBAL_IF" in str(exc.value) and exc.value.register == "MCU_STATUS"
    rig.mcu.faults.never_boots = False
    recover(rig)


def test_slow_boot_beyond_one_second_times_out(rig: Rig) -> None:
    rig.mcu.faults.slow_boot = True  # the simulator's 1.5 s boot
    with pytest.raises(Timeout, match="Failed to boot MCU"):
        rig.fw.start()
    rig.mcu.faults.slow_boot = False
    recover(rig)


def test_mcu_fatal_at_boot_is_reported_at_once(rig: Rig) -> None:
    loaded = rig.fw.load()
    code = loaded.section_at(0x00800000)
    assert code is not None
    rig.vm.unmap(0x00800000, code.buffer.size)  # the MCU cannot fetch its code: it crashes
    t0 = rig.clock.now()
    with pytest.raises(HardwareFault, match=r"Failed to boot MCU \(status=fatal\)"):
        rig.fw.boot()
    assert rig.clock.now() - t0 < 0.1 and rig.r32(MCU_STATUS) == 3
    rig.vm.map(code.buffer, 0x00800000, flags=code.prot)
    recover(rig)


def test_fatal_error_while_running(rig: Rig) -> None:
    rig.fw.start()
    rig.mcu.faults.crash_on_glb = 1 << 8  # PING makes the firmware crash (halt_status 0x4E)
    with pytest.raises(HardwareFault) as exc:
        rig.glb.ping()
    assert "MCU_STATUS=fatal, halt_status=0x4e halted on panic" in str(exc.value)
    assert rig.r32(MCU_STATUS) == 3
    with pytest.raises(HardwareFault, match="fatal"):
        rig.glb.set_core_mask()  # nothing more is sent to a crashed MCU
    rig.mcu.faults.crash_on_glb = 0
    recover(rig)


def test_injected_fatal_then_reset(rig: Rig) -> None:
    rig.fw.start()
    rig.mcu.inject_fatal()
    assert rig.r32(MCU_STATUS) == 3
    recover(rig)  # no halt is attempted on a FATAL MCU: slow reset


@pytest.mark.parametrize(("hook", "match"), [
    ("version_zero", "Firmware version is 0. Firmware may have failed to boot"),
    ("input_va_outside", "Invalid global interface input VA"),
    ("group_num_below_min", "group_num = 2 outside 3..31"),
    ("unequal_csg", "Expecting identical CSG slots: CSG 1 suspend_size"),
    ("unequal_cs", "Expecting identical CS slots: CS 0.1 features"),
])
def test_corrupt_interface_is_refused_and_recoverable(rig: Rig, hook: str, match: str) -> None:
    rig.mcu.faults.corrupt_interface = hook
    with pytest.raises(HardwareFault, match=match) as exc:
        rig.fw.start()
    assert exc.value.errno == errno.EINVAL
    assert not rig.fw.ready
    rig.mcu.faults.corrupt_interface = None
    recover(rig)


def test_version_change_across_a_reboot_is_refused(rig: Rig) -> None:
    rig.fw.start()
    iface = rig.fw.interface
    assert iface is not None
    iface.info = dataclasses.replace(iface.info, version=InterfaceVersion.from_raw(0x01010000))
    with pytest.raises(HardwareFault, match="Version check failed in firmware reboot: interface v1.5.0 after "
                                            "v1.1.0"):
        rig.fw.reset()


# -- halt, stop, resets ---------------------------------------------------------------------------------


def test_halt_then_fast_reset(rig: Rig) -> None:
    rig.fw.start()
    rig.fw.halt()
    assert rig.r32(MCU_STATUS) == 2
    assert rig.mcu_read32(GLB_IN) & 1 == 0  # HALT cleared again after the halt (§3.8)
    with pytest.raises(Busy, match="not running"):
        rig.glb.ping()
    assert rig.fw.reset() == "fast"  # panthor's suspend (halt) then resume (fast reset)
    assert rig.fw.reset() == "fast"  # a running MCU is halted first
    assert [b.kind for b in rig.mcu.boots] == ["cold", "fast", "fast"]
    rig.glb.ping()
    assert rig.mcu.glb.core_en_mask == 0x50005  # global init re-sent after the fast restart


def test_reset_on_hang_reloads_every_section(rig: Rig) -> None:
    rig.fw.start()
    loaded = rig.fw.loaded
    assert loaded is not None
    rw = loaded.section_at(0x02000000)
    ro = loaded.section_at(0x00400000)
    assert rw is not None and ro is not None
    # 0x02000000 is RD WR ZERO (all of it is re-initialised); 0x00400000 is RD without ZERO: only its
    # file data (0x80 bytes in the synthetic image) is copied again, the rest is left as it is (§3.3).
    want_rw, want_ro = rig.sim.mmu.gpu_read(0, 0x02000000, 0x100), rig.sim.mmu.gpu_read(0, 0x00400000, 0x80)
    rw.buffer.write(0, b"\xa5" * 0x100)
    ro.buffer.write(0, b"\x5a" * 0x100)
    assert rig.fw.reset(on_hang=True) == "slow"
    assert rig.sim.mmu.gpu_read(0, 0x02000000, 0x100) == want_rw
    assert rig.sim.mmu.gpu_read(0, 0x00400000, 0x100) == want_ro + b"\x5a" * 0x80
    assert [b.kind for b in rig.mcu.boots] == ["cold", "slow"]
    assert rig.fw.resets == ["slow"] and rig.fw.ready


def test_stop_and_close(rig: Rig) -> None:
    rig.fw.start()
    rig.fw.stop()
    assert rig.r32(MCU_STATUS) == 0 and not rig.fw.ready
    rig.fw.close()
    assert rig.fw.vm is None and rig.fw.loaded is None
    assert not [b for b in rig.p.dma_allocator().allocations() if b.name.startswith("fw section")]


def test_close_stops_a_running_mcu(rig: Rig) -> None:
    rig.fw.start()
    rig.fw.close()
    assert rig.r32(MCU_STATUS) == 0


def test_requests_before_boot_are_refused(rig: Rig) -> None:
    with pytest.raises(Busy, match="has not booted"):
        rig.fw.init_global()
    with pytest.raises(Busy, match="never loaded"):
        rig.fw.reset()
    rig.fw.load()
    with pytest.raises(Busy, match="already loaded"):
        rig.fw.load()


# -- locating ---------------------------------------------------------------------------------------------


def test_missing_firmware_on_hardware_names_the_paths(rig: Rig) -> None:
    rig.p.simulated = False  # policy only: pretend to be a board
    with pytest.raises(FirmwareNotFound) as exc:
        CsfFirmware.locate(rig.gpu, rig.mmu, env={}, firmware_root="/nonexistent")
    assert exc.value.paths == ["/nonexistent/arm/mali/arch10.8/mali_csffw.bin"]  # GPU_ID 0xA8670005 → 10.8


def test_malformed_firmware_names_the_file(rig: Rig, tmp_path: object) -> None:
    from pathlib import Path

    bad = Path(str(tmp_path)) / "bad.bin"
    bad.write_bytes(b"\0" * 64)
    with pytest.raises(FirmwareFormatError, match=f"{bad}: bad magic"):
        CsfFirmware.locate(rig.gpu, rig.mmu, bad)


def test_mcu_status_waits_name_what_they_saw(rig: Rig) -> None:
    rig.fw.start()
    with pytest.raises(Timeout) as exc:
        rig.fw.mcu.wait_status(McuStatus.HALT, 0.001, "Failed to cleanly suspend MCU")
    assert str(exc.value) == ("Failed to cleanly suspend MCU: MCU_STATUS is 1 (enabled), not 2 (halt) "
                              "after 1 ms")
    assert exc.value.register == "MCU_STATUS" and exc.value.value == 1
