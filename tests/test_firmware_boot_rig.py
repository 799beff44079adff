"""Helpers for the driver firmware-layer tests (no tests here).

Expected values are spelled from the references, never taken from the code under test:

* csf-firmware-and-interfaces.md §2.2/§2.7/§8 — the Arm arch10.8 blob reports interface v1.5.0
  (0x01050000), the 2024-05 blob v1.1.0 (0x01010000), both with 8 CSG slots of 8 CS, instr_features
  0x71, shared section at 0x04000000 (64 KiB, 48 KiB for 2024-05); drm-shim's G610 CSIF_INFO is 8 / 8 /
  96 registers / 8 scoreboards / 4 unpreserved;
* §2.8 — GLB input at 0x04002000, GLB output at 0x04006000;
* mali-csf-registers-and-mmu.md §1.9 (MCU_CONTROL 0x700, MCU_STATUS 0x704), §2 (JOB_IRQ 0x1000..),
  §4.5 (leaf attribute bits), §8 of the firmware reference (RK3588 shader_present 0x50005).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from blobs import shared_firmware_root

from uio_driver.bringup import Bringup
from uio_driver.firmware.device import CsfFirmware
from uio_driver.firmware.glb import GlobalInterface
from uio_driver.mmu import VM
from uio_driver.sim.mcu import SimMcu
from uio_driver.sim.platform import SimPlatform

shared_firmware = shared_firmware_root


G610 = shared_firmware() / "arm" / "mali" / "arch10.8" / "mali_csffw.bin"
G610_2024 = shared_firmware() / "history" / "arch10.8-2024-05" / "mali_csffw.bin"


def needs(path: Path) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not path.is_file(),
                              reason=f"the Arm firmware blob {path} is not available (set "
                                     "MALI_UIO_SHARED_FIRMWARE to the shared/firmware tree)")


@dataclass(frozen=True)
class Release:
    """What the reference says a firmware image reports."""

    name: str
    path: Path | None  # None = the project's synthetic image
    version: int
    shared_size: int
    git_sha: str | None


RELEASES = [
    Release("synthetic", None, 0x01050000, 0x10000, None),
    Release("arm-arch10.8", G610, 0x01050000, 0x10000, "95a25d71030715381f33105394285e1dcc860a65"),
    Release("arm-arch10.8-2024-05", G610_2024, 0x01010000, 0xC000,
            "814b47b551159067b67a37c4e9adda458ad9d852"),
]


def release_params() -> list[object]:
    return [pytest.param(r, id=r.name, marks=[] if r.path is None else [needs(r.path)]) for r in RELEASES]


# -- registers and memory (references, see module docstring) -------------------------------------------
MCU_CONTROL, MCU_STATUS = 0x700, 0x704
JOB_IRQ_RAWSTAT, JOB_IRQ_CLEAR, JOB_IRQ_MASK, JOB_IRQ_STATUS = 0x1000, 0x1004, 0x1008, 0x100C
DOORBELL0 = 0x80000
SHARED = 0x04000000
GLB_IN, GLB_OUT = 0x04002000, 0x04006000
SHADER_PRESENT_RK3588 = 0x50005


class Rig:
    """A strict simulated G610 brought up to the MMU stage, with a :class:`CsfFirmware` located."""

    def __init__(self, firmware: Path | None = None, **platform: object) -> None:
        self.p = SimPlatform(strict=True, **platform)  # type: ignore[arg-type]
        self.sim = self.p.sim
        mcu = self.sim.mcu
        if not isinstance(mcu, SimMcu):
            raise TypeError("the simulated platform has no SimMcu attached")
        self.mcu: SimMcu = mcu
        self.clock = self.p.clock
        self.b = Bringup(self.p)
        self.b.run(until="mmu")
        self.gpu = self.b.gpu
        self.mmu = self.b.objects["mmu"]
        self.fw = CsfFirmware.locate(self.gpu, self.mmu, firmware, env={}, firmware_root="/nonexistent")

    def close(self) -> None:
        self.p.close()

    @property
    def vm(self) -> VM:
        """The MCU VM (after load)."""
        if self.fw.vm is None:
            raise RuntimeError("the firmware was not loaded")
        return self.fw.vm

    @property
    def glb(self) -> GlobalInterface:
        """The GLB request driver (after boot)."""
        if self.fw.glb is None:
            raise RuntimeError("the firmware has not booted")
        return self.fw.glb

    @property
    def trace(self) -> list[tuple[int, str, int, int]]:
        if self.sim.trace is None:
            raise RuntimeError("the simulator was created without trace=True")
        return self.sim.trace

    def r32(self, off: int) -> int:
        return self.p.mmio.read32(off)

    def mcu_read32(self, va: int) -> int:
        """A 32-bit load through AS0 by the simulator's own walker (what the MCU would read)."""
        return self.sim.mmu.gpu_read32(0, va)

    def mcu_read64(self, va: int) -> int:
        return self.sim.mmu.gpu_read64(0, va)
