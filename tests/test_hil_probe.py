"""Identification values that hold on the simulator and on a real RK3588 (``--mali-backend=uio``).

Expected values are the verified RK3588 Mali-G610 MP4 values of mali-csf-registers-and-mmu.md §6
(panthor boot logs), not the simulator's configuration. Only read-only ID registers are touched, so
these tests are safe to run on a board first.
"""

from __future__ import annotations

import pytest

from uio_driver.platform import Platform
from uio_driver.regs import RegisterAccess

# Register name -> verified value (reference §6 table).
VERIFIED_32 = {
    "GPU_ID": 0xA8670005,
    "L2_FEATURES": 0x07120306,
    "TILER_FEATURES": 0x00000809,
    "MEM_FEATURES": 0x00000301,
    "MMU_FEATURES": 0x00002830,
    "AS_PRESENT": 0x000000FF,
}
VERIFIED_64 = {"SHADER_PRESENT": 0x00050005, "L2_PRESENT": 0x1, "TILER_PRESENT": 0x1}


@pytest.mark.parametrize("name", sorted(VERIFIED_32))
def test_identification_register(mali_platform: Platform, name: str) -> None:
    assert RegisterAccess(mali_platform.mmio).read(name) == VERIFIED_32[name]


@pytest.mark.parametrize("name", sorted(VERIFIED_64))
def test_present_bitmaps(mali_platform: Platform, name: str) -> None:
    assert RegisterAccess(mali_platform.mmio).read64(f"{name}_LO") == VERIFIED_64[name]


def test_platform_matches_the_backend(mali_platform: Platform, mali_backend: str) -> None:
    assert mali_platform.name == mali_backend
    assert mali_platform.simulated == (mali_backend == "sim")


@pytest.mark.hardware_only
def test_register_window_is_the_gpu_node(mali_platform: Platform) -> None:
    # reg = <0x0 0xfb000000 0x0 0x200000> (rk3588-platform-and-uio.md §0)
    assert (mali_platform.mmio.phys_base, mali_platform.mmio.size) == (0xFB000000, 0x200000)


@pytest.mark.sim_only
def test_strict_simulator_is_in_use(mali_platform: Platform) -> None:
    assert mali_platform.sim.strict  # type: ignore[attr-defined]
