"""Staged bring-up (style rule 23): identify → reset → interrupts → L2 → flush → ...

Each stage can run alone and is timed twice: host CPU time and platform time (virtual on the
simulator). A failing stage raises its :class:`~uio_driver.errors.MaliError` with ``stage`` set, so
the CLI prints a greppable ``MALI_UIO_FAIL stage=...`` line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidArgument, MaliError
from .gpu import Gpu
from .mmu import Mmu
from .platform.base import Platform


@dataclass
class StageResult:
    """Outcome of one bring-up stage."""

    name: str
    description: str
    host_seconds: float
    device_seconds: float
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stage": self.name, "description": self.description,
                               "host_s": self.host_seconds, "device_s": self.device_seconds,
                               "detail": self.detail}
        if self.data:
            out["data"] = self.data
        return out


StageFn = Callable[["Bringup"], "tuple[str, dict[str, Any]] | str"]


@dataclass(frozen=True)
class Stage:
    name: str
    description: str
    run: StageFn


def _identify(b: Bringup) -> tuple[str, dict[str, Any]]:
    info = b.gpu.probe()
    return (f"{info.name} GPU_ID {info.gpu_id:#010x} arch {'.'.join(map(str, info.arch))}, "
            f"{info.shader_core_count} cores, {info.address_spaces} AS", info.to_dict())


def _reset(b: Bringup) -> str:
    b.gpu.soft_reset()
    return "soft reset completed (RESET_COMPLETED)"


def _interrupts(b: Bringup) -> str:
    b.gpu.enable_interrupts()
    return f"GPU IRQ mask {b.gpu.irq.mask_of('gpu'):#x}"


def _l2(b: Bringup) -> str:
    b.gpu.power_on_l2()
    return "L2 powered and ready"


def _flush(b: Bringup) -> str:
    b.gpu.flush_caches()
    return "caches cleaned and invalidated (FLUSH_CACHES 0x23304)"


def _mmu(b: Bringup) -> str:
    # panthor_mmu_init: MMU_IRQ_CLEAR/MASK = 0xFFFF; no VM or AS is set up here (the MCU VM is the
    # firmware stage's). The Mmu object is left in objects["mmu"] for later stages.
    mmu = Mmu(b.gpu)
    mmu.enable_interrupts()
    b.objects["mmu"] = mmu
    return (f"MMU IRQ mask {b.gpu.irq.mask_of('mmu'):#x}, {len(mmu.as_numbers)} address spaces "
            "(AS0 for the MCU)")


def _firmware(b: Bringup) -> tuple[str, dict[str, Any]]:
    # panthor_fw_init: locate and parse the image, create the MCU VM, map and initialise every section,
    # bind the MCU VM to AS0 (csf-firmware-and-interfaces.md §3.2-§3.5 step 3).
    from .firmware.device import CsfFirmware

    fw = CsfFirmware.locate(b.gpu, b.objects["mmu"], b.firmware_path)
    b.objects["firmware"] = fw
    loaded = fw.load()
    source = fw.source.description if fw.source else "?"
    return (f"{source}: {len(loaded.sections)} sections in the MCU VM (AS0), {len(loaded.skipped)} PROT "
            f"skipped", {"source": source, "sections": len(loaded.sections), "skipped": len(loaded.skipped),
                         "git_sha": fw.image.git_sha})


def _mcu_boot(b: Bringup) -> tuple[str, dict[str, Any]]:
    # panthor_fw_start + panthor_fw_init_ifaces (§3.5 steps 4-6, §3.6).
    info = b.objects["firmware"].boot()
    return info.log_line, info.to_dict()


def _glb_init(b: Bringup) -> tuple[str, dict[str, Any]]:
    # panthor_fw_init_global_iface (§3.7), waiting for the acknowledgements like kbase.
    values = b.objects["firmware"].init_global()
    return (f"GLB initialised: core_en_mask {values['core_en_mask']:#x}, GLB_REQ {values['req']:#x}, "
            "acknowledged"), values


def _scheduler(b: Bringup) -> tuple[str, dict[str, Any]]:
    # panthor_sched_init: CSG slots = min(group_num, 31, 16), one kernel-object allocator per VM
    # (cs-isa-and-uapi.md §5.1). Objects "kmem" and "scheduler" are left for CsfDevice / the CLI.
    from .csf.kmem import KernelMemory
    from .csf.scheduler import Scheduler

    mmu, fw = b.objects["mmu"], b.objects["firmware"]
    kmem = KernelMemory(mmu.allocator)
    sched = Scheduler(b.gpu, mmu, fw, kmem, b.objects.get("scheduler_config"))
    b.objects["kmem"], b.objects["scheduler"] = kmem, sched
    cfg = sched.config
    data = {"csg_slots": len(sched.slots), "cs_slots": sched.info.cs_slot_count,
            "user_address_spaces": sched.user_as_count, "tick_period_s": cfg.tick_period_s,
            "job_timeout_s": cfg.job_timeout_s}
    return (f"CSG scheduler: {len(sched.slots)} CSG slots x {sched.info.cs_slot_count} CS, "
            f"{sched.user_as_count} user address spaces, tick {cfg.tick_period_s * 1e3:g} ms, job timeout "
            f"{cfg.job_timeout_s * 1e3:g} ms"), data


#: The stages in order. Later layers (MMU, firmware, scheduler) append theirs.
STAGES: list[Stage] = [
    Stage("identify", "read identification registers", _identify),
    Stage("reset", "soft reset", _reset),
    Stage("interrupts", "program GPU interrupt mask", _interrupts),
    Stage("l2", "power on the L2 cache", _l2),
    Stage("flush", "flush GPU caches", _flush),
    Stage("mmu", "program the MMU interrupt mask", _mmu),
    Stage("firmware", "load the CSF firmware into the MCU VM (AS0)", _firmware),
    Stage("mcu_boot", "boot the MCU and discover the CSF interface", _mcu_boot),
    Stage("glb_init", "global interface initialisation", _glb_init),
    Stage("scheduler", "start the CSG scheduler", _scheduler),
]


class Bringup:
    """Runs bring-up stages against one platform and keeps the driver objects they create."""

    def __init__(self, platform: Platform, stages: Iterable[Stage] | None = None, *,
                 firmware_path: str | None = None) -> None:
        self.platform = platform
        #: Firmware file or directory for the "firmware" stage (None: search, synthetic on the simulator).
        self.firmware_path = firmware_path
        self.gpu = Gpu(platform)
        self.stages = list(STAGES if stages is None else stages)
        self.results: list[StageResult] = []
        #: Objects later stages leave for the caller (e.g. "firmware", "mcu_vm").
        self.objects: dict[str, Any] = {}

    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]

    def run(self, until: str | None = None,
            on_result: Callable[[StageResult], None] | None = None,
            on_start: Callable[[Stage], None] | None = None) -> list[StageResult]:
        """Run every stage in order (up to and including ``until``)."""
        if until is not None and until not in self.stage_names():
            names = ", ".join(self.stage_names())
            raise InvalidArgument(f"unknown bring-up stage {until!r}; stages: {names}")
        for stage in self.stages:
            if on_start:
                on_start(stage)
            result = self.run_stage(stage)
            if on_result:
                on_result(result)
            if stage.name == until:
                break
        return self.results

    def run_stage(self, stage: Stage) -> StageResult:
        clock = self.platform.clock
        t0, d0 = time.perf_counter(), clock.now()
        try:
            out = stage.run(self)
        except MaliError as err:
            if err.stage is None:
                err.stage = stage.name
            raise
        detail, data = (out, {}) if isinstance(out, str) else out
        result = StageResult(stage.name, stage.description, time.perf_counter() - t0,
                             clock.now() - d0, detail, data)
        self.results.append(result)
        return result
