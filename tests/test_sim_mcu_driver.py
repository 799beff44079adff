"""The driver's firmware layer (uio_driver.firmware) against the simulated MCU, strict mode.

Both sides were written independently from csf-firmware-and-interfaces.md; here they meet: the
driver loads the image into an MCU VM, boots, validates the interface (§3.6), sends the global
initialisation (§3.7) and resets (§3.8) — and the model must see no protocol violation. The fault
hooks of §9.7 must make the driver fail with panthor's diagnostics.
"""

from __future__ import annotations

import pytest
from test_sim_mcu_rig import BLOBS, NO_BLOB

from uio_driver.errors import HardwareFault, MaliError
from uio_driver.firmware.device import CsfFirmware
from uio_driver.gpu import Gpu
from uio_driver.mmu import Mmu
from uio_driver.sim.platform import SimPlatform


class Driver:
    """Probe, soft reset, IRQs, L2 on, MMU — the bring-up before firmware (§3.5 step 1)."""

    def __init__(self, path: str | None = None) -> None:
        self.p = SimPlatform()
        self.sim = self.p.sim
        self.gpu = Gpu(self.p)
        self.gpu.probe()
        self.gpu.soft_reset()
        self.gpu.enable_interrupts()
        self.gpu.power_on_l2()
        self.mmu = Mmu(self.gpu)
        self.fw = CsfFirmware.locate(self.gpu, self.mmu, path)

    def close(self) -> None:
        self.p.close()


@pytest.fixture
def drv():
    d = Driver()
    yield d
    d.close()


def test_driver_boots_the_synthetic_firmware_to_ready(drv):
    info = drv.fw.start()
    assert drv.fw.ready
    assert info.version.raw == 0x01050000
    assert (info.csg_slot_count, info.cs_slot_count) == (8, 8)
    assert (info.cs_reg_count, info.scoreboard_slot_count) == (96, 8)  # drm-shim G610 values (§8)
    assert "CSF FW using interface v1.5.0, Features 0x0 Instrumentation features 0x71" in drv.fw.log
    mcu = drv.sim.mcu
    assert mcu.release.name == "synthetic" and [b.kind for b in mcu.boots] == ["cold"]
    # §3.7 global initialisation reached the firmware: RK3588 core mask and progress timer.
    assert (mcu.glb.core_en_mask, mcu.glb.progress_timer) == (0x50005, 0x271000)
    drv.p.clock.sleep(0.05)  # let the watchdog look at everything the driver left behind
    assert drv.sim.violations == []


def test_driver_ping_and_resets(drv):
    drv.fw.start()
    drv.fw.glb.ping()
    assert drv.sim.mcu.glb.applied["PING"] == 1
    assert drv.fw.reset() == "fast"
    assert drv.fw.reset(on_hang=True) == "slow"
    assert [b.kind for b in drv.sim.mcu.boots] == ["cold", "fast", "slow"]
    assert drv.fw.ready
    drv.p.clock.sleep(0.01)
    assert drv.sim.violations == []


@pytest.mark.parametrize("name,version", [("arm-arch10.8", 0x01050000), ("arm-arch10.8-2024-05", 0x01010000)])
def test_driver_boots_each_g610_release(name, version):
    if not BLOBS[name].exists():
        pytest.skip(f"{NO_BLOB}: {BLOBS[name]}")
    drv = Driver(str(BLOBS[name]))
    try:
        info = drv.fw.start()
        assert info.version.raw == version
        assert drv.sim.mcu.release.name == name
        assert drv.sim.violations == []
    finally:
        drv.close()


def test_driver_reports_a_firmware_that_never_boots(drv):
    drv.sim.mcu.faults.never_boots = True
    with pytest.raises(MaliError, match="disabled"):
        drv.fw.boot()


@pytest.mark.parametrize("corruption,match", [
    ("version_zero", "Firmware version is 0"),
    ("input_va_outside", "Invalid"),
    ("group_num_below_min", "group_num"),
    ("unequal_csg", "Expecting identical CSG slots"),
    ("unequal_cs", "Expecting identical CS slots"),
])
def test_driver_refuses_a_corrupt_interface(drv, corruption, match):
    drv.sim.mcu.faults.corrupt_interface = corruption
    with pytest.raises(HardwareFault, match=match):
        drv.fw.boot()


def test_driver_sees_a_ping_that_is_never_acknowledged(drv):
    drv.fw.start()
    drv.sim.mcu.faults.never_ack_glb = 1 << 8
    with pytest.raises(MaliError, match="PING"):
        drv.fw.glb.ping()
