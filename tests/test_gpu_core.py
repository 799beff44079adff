"""Driver core (uio_driver/gpu.py, irq.py, bringup.py) against the simulated G610."""

from __future__ import annotations

import errno

import pytest

from uio_driver.bringup import Bringup
from uio_driver.errors import Busy, DeviceNotFound, HardwareFault, NotSupported, Timeout
from uio_driver.gpu import Gpu
from uio_driver.sim.config import SimConfig, SimFaults
from uio_driver.sim.platform import SimPlatform

# Offsets straight from mali-csf-registers-and-mmu.md, independent of the register database.
GPU_IRQ_RAWSTAT, GPU_IRQ_MASK = 0x020, 0x028
L2_READY_LO, L2_PWRTRANS_LO = 0x160, 0x220
LATEST_FLUSH = 0x10000


def test_probe_reports_the_real_g610_values(sim_platform: SimPlatform) -> None:
    info = Gpu(sim_platform).probe()
    assert info.gpu_id == 0xA8670005
    assert info.arch == (10, 8, 6) and info.product_major == 7
    assert info.name == "Mali-G610"
    assert (info.l2_features, info.tiler_features, info.mem_features) == (0x07120306, 0x809, 0x301)
    assert (info.mmu_features, info.va_bits, info.pa_bits) == (0x2830, 48, 40)
    assert info.as_present == 0xFF and info.address_spaces == 8
    assert info.shader_present == 0x50005 and info.shader_core_count == 4
    assert (info.l2_present, info.tiler_present) == (1, 1)
    assert info.csf_id == 0x040A0412
    assert info.texture_features[0] == 0xC1FFFF9E
    threads = (info.max_threads, info.thread_max_workgroup_size, info.thread_max_barrier_size)
    assert threads == (2048, 1024, 1024)
    assert info.firmware_path == "arm/mali/arch10.8/mali_csffw.bin"
    assert info.decoded["GPU_ID"]["VERSION_STATUS"] == 5
    assert info.to_dict()["arch"] == "10.8.6"


def test_probe_refuses_gpu_id_zero() -> None:
    with SimPlatform(config=SimConfig(gpu_id=0)) as platform, pytest.raises(DeviceNotFound) as exc:
        Gpu(platform).probe()
    assert exc.value.register == "GPU_ID" and exc.value.errno == errno.ENXIO


def test_probe_refuses_pre_csf_gpu() -> None:
    with SimPlatform(config=SimConfig(gpu_id=0x72120000)) as platform, pytest.raises(NotSupported):
        Gpu(platform).probe()


def test_soft_reset_waits_in_virtual_time_and_clears_the_event(sim_platform: SimPlatform) -> None:
    gpu = Gpu(sim_platform)
    t0 = sim_platform.clock.now_ns()
    gpu.soft_reset()
    elapsed = sim_platform.clock.now_ns() - t0
    assert elapsed >= sim_platform.sim.config.reset_delay_ns
    assert sim_platform.mmio.read32(GPU_IRQ_RAWSTAT) & 0x100 == 0  # acknowledged


def test_reset_that_never_completes_times_out_naming_the_register() -> None:
    with SimPlatform(faults=SimFaults(reset_never_completes=True)) as platform:
        gpu = Gpu(platform)
        with pytest.raises(Timeout) as exc:
            gpu.soft_reset()
        assert "RESET_COMPLETED" in str(exc.value) and exc.value.register == "GPU_IRQ_RAWSTAT"
        assert exc.value.errno == errno.ETIMEDOUT and exc.value.stage == "reset"
        # 100 ms of virtual time passed, not of real time.
        assert 0.1 <= platform.clock.now() < 0.2


def test_power_on_l2(sim_platform: SimPlatform) -> None:
    gpu = Gpu(sim_platform)
    gpu.probe()
    gpu.soft_reset()
    assert sim_platform.mmio.read32(L2_READY_LO) == 0
    gpu.power_on_l2()
    assert sim_platform.mmio.read32(L2_READY_LO) & 1
    assert sim_platform.mmio.read32(L2_PWRTRANS_LO) == 0
    assert gpu.l2_ready()
    gpu.power_off_l2()
    assert sim_platform.mmio.read32(L2_READY_LO) == 0


def test_l2_that_never_powers_up_times_out() -> None:
    with SimPlatform(faults=SimFaults(l2_never_powers_up=True)) as platform:
        gpu = Gpu(platform)
        gpu.probe()
        with pytest.raises(Timeout, match="L2"):
            gpu.power_on_l2()


@pytest.mark.parametrize("irqs_enabled", [False, True])
def test_flush_caches_completes_both_polled_and_interrupt_driven(irqs_enabled: bool,
                                                                sim_platform: SimPlatform) -> None:
    gpu = Gpu(sim_platform)
    gpu.probe()
    gpu.soft_reset()
    if irqs_enabled:
        gpu.enable_interrupts()
        assert sim_platform.mmio.read32(GPU_IRQ_MASK) == 0x20103
    gpu.power_on_l2()
    before = sim_platform.mmio.read32(LATEST_FLUSH)
    gpu.flush_caches()
    gpu.flush_caches(l2=1, lsc=0, other=0)
    assert sim_platform.mmio.read32(LATEST_FLUSH) == before + 2
    assert sim_platform.mmio.read32(GPU_IRQ_RAWSTAT) & 0x20000 == 0


def test_flush_that_never_completes_times_out_and_allows_a_new_flush_after_reset() -> None:
    with SimPlatform(faults=SimFaults(flush_never_completes=True)) as platform:
        gpu = Gpu(platform)
        gpu.probe()
        gpu.power_on_l2()
        with pytest.raises(Timeout, match="CLEAN_CACHES_COMPLETED") as exc:
            gpu.flush_caches()
        assert exc.value.value == 0x23304
        platform.sim.faults.flush_never_completes = False
        gpu.soft_reset()
        gpu.power_on_l2()
        gpu.flush_caches()


def test_second_flush_while_pending_is_refused(sim_platform: SimPlatform) -> None:
    gpu = Gpu(sim_platform)
    gpu._flush_pending = True  # as if a flush were outstanding (e.g. issued from a handler)
    with pytest.raises(Busy):
        gpu.flush_caches()


def test_gpu_fault_interrupt_is_decoded(sim_platform: SimPlatform) -> None:
    gpu = Gpu(sim_platform)
    gpu.probe()
    gpu.enable_interrupts()
    # GPU_FAULTSTATUS: type 0x80 GPU_BUS_FAULT, access 3 (write), ADDRESS_VALID.
    sim_platform.sim.inject_gpu_fault(0x0000_0780, 0x1234_5000)
    assert sim_platform.irq("gpu").wait(0.001)
    with pytest.raises(HardwareFault, match="GPU_FAULTSTATUS=0x00000780"):
        gpu.check_fault()
    assert gpu.faults[0]["address"] == 0x1234_5000


def test_bringup_runs_every_stage_and_times_them(sim_platform: SimPlatform) -> None:
    b = Bringup(sim_platform)
    results = b.run()
    # Later layers append their stages (mmu, firmware, ...); these come first, in this order.
    assert [r.name for r in results][:5] == ["identify", "reset", "interrupts", "l2", "flush"]
    assert all(r.host_seconds >= 0 for r in results)
    assert results[1].device_seconds > 0  # reset took virtual time
    assert sim_platform.mmio.read32(L2_READY_LO) & 1


def test_bringup_until_stops_early_and_failures_name_the_stage() -> None:
    with SimPlatform(faults=SimFaults(l2_never_powers_up=True)) as platform:
        b = Bringup(platform)
        assert [r.name for r in b.run(until="interrupts")] == ["identify", "reset", "interrupts"]
        with pytest.raises(Timeout) as exc:
            Bringup(platform).run()
        assert exc.value.stage == "l2"
        assert "stage=l2" in exc.value.fail_line()
