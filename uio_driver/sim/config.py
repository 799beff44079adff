"""Configuration, fault hooks and violation records of the simulated Mali-G610 MP4.

The identification values come from ``shared/reference/mali-csf-registers-and-mmu.md`` §6 (the
"Real Mali-G610 MP4 (RK3588) values" table) and the peers document §C4. Each value is tagged with
how well it is known, because the reference asks the simulator to use exactly the verified values and
to mark the secondary ones:

* **verified**: seen in published RK3588 panthor boot logs (dmesg);
* **secondary**: from Mesa's drm-shim dump "dumped from a G610"
  (``src/panfrost/drm-shim/panfrost_noop.c``), not seen in a log;
* **unverified / inferred**: no source gives the value; 0 unless a reason is stated.

Everything here is plain data so a test can change it (``SimConfig(gpu_id=...)``) before opening the
platform, or on the live model (``platform.sim.config.gpu_id = ...``; identification registers are
read from the config on every access and are therefore constant across resets).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..errors import InvalidArgument

_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF

# Fields holding 64-bit bitmaps / values; every other integer identification field is 32 bits.
_WIDE_FIELDS = frozenset({"shader_present", "tiler_present", "l2_present", "stack_present", "gpu_features"})
_DELAY_FIELDS = (
    "reset_delay_ns",
    "flush_delay_ns",
    "l2_power_delay_ns",
    "core_power_delay_ns",
    "as_command_delay_ns",
)

#: Number of doorbell pages the 2 MiB RK3588 window holds (0x80000 + 23 * 0x10000 + 0x10000 =
#: 0x200000; older kbase headers fix CSF_NUM_DOORBELL = 24) — reference §0, §1.11.
MAX_DOORBELLS = 24


@dataclass
class SimConfig:
    """Identification values, clock rates and virtual-time delays of the simulated GPU.

    Attributes:
        gpu_id: GPU_ID (0x000). Verified [dmesg]: 0xA8670005 = arch 10.8 rev 6, product 7, r0p0 status 5.
        l2_features: L2_FEATURES (0x004). Verified [dmesg].
        tiler_features: TILER_FEATURES (0x00C). Verified [dmesg].
        mem_features: MEM_FEATURES (0x010). Verified [dmesg].
        mmu_features: MMU_FEATURES (0x014): VA 48 bits, PA 40 bits. Verified [dmesg].
        as_present: AS_PRESENT (0x018): AS0..AS7. Verified [dmesg].
        shader_present: SHADER_PRESENT (0x100/0x104): cores 0, 2, 16, 18. Verified [dmesg].
        tiler_present: TILER_PRESENT (0x110/0x114). Verified [dmesg].
        l2_present: L2_PRESENT (0x120/0x124). Verified [dmesg].
        csf_id: CSF_ID (0x01C). Secondary (drm-shim).
        thread_features: THREAD_FEATURES (0x0AC), CSF layout. Secondary (drm-shim).
        thread_max_threads: THREAD_MAX_THREADS (0x0A0). Secondary (drm-shim).
        thread_max_workgroup_size: THREAD_MAX_WORKGROUP_SIZE (0x0A4). Secondary (drm-shim).
        thread_max_barrier_size: THREAD_MAX_BARRIER_SIZE (0x0A8). Secondary (drm-shim).
        texture_features: TEXTURE_FEATURES_0..3 (0x0B0..0x0BC). Index 0 secondary (drm-shim),
            1..3 unverified (0).
        coherency_features: COHERENCY_FEATURES (0x300). Secondary (drm-shim reports 0).
        core_features: CORE_FEATURES (0x008). Low byte 0 inferred from Mesa's model table
            (only variant 0 of 0xa867 listed); upper bits unverified.
        gpu_revid: GPU_REVID (0x280). Unverified.
        gpu_features: GPU_FEATURES (0x060/0x064). Expected 0 on G610 [inferred].
        prfcnt_features: PRFCNT_FEATURES (0x068). Unverified.
        thread_tls_alloc: THREAD_TLS_ALLOC (0x310). Unverified.
        stack_present: STACK_PRESENT (0xE00/0xE04). kbase-only register, value unverified; panthor
            never uses core stacks.
        coherency_enable_reset: reset value of COHERENCY_ENABLE (0x304). Unverified (reference §7).
        l2_config_reset: reset value of L2_CONFIG (0x048). Unverified (reference §7).
        gpu_clock_hz: GPU clock driving CYCLE_COUNT: 198 MHz at probe [dmesg].
        timestamp_hz: system-counter rate driving TIMESTAMP: 24 MHz on RK3588 [inferred, §7].
        reset_delay_ns: virtual duration of a soft/hard/fast reset.
        flush_delay_ns: virtual duration of a GPU_COMMAND cache flush (and a perf-counter sample).
        l2_power_delay_ns: virtual duration of an L2 power transition (§7 suggests ~50 µs).
        core_power_delay_ns: virtual duration of a shader/tiler/core-stack power transition.
        as_command_delay_ns: how long AS_STATUS.AS_ACTIVE stays set after an AS COMMAND write
            (0 = the command completes within the write; §7 "a few µs").
        preserve_irq_masks_on_reset: keep the GPU/JOB/MMU IRQ masks across a GPU_COMMAND reset
            (reference §7: unverified on hardware; panthor relies on it, so the default is True).
        num_doorbells: number of doorbell pages decoded (1..24).

    Identification values, clocks and delays are read on every use, so a test may change them on
    the live model; ``as_present`` and ``num_doorbells`` shape the register map and are sampled
    when the model is built.

    Every default delay is far below panthor's timeouts (100 ms reset/flush/AS, 20 ms L2), so no
    driver timeout fires unless a fault hook is set (reference §7 "Time").
    """

    # -- identification: verified [dmesg] (reference §6) ------------------------------------------
    gpu_id: int = 0xA8670005
    l2_features: int = 0x07120306
    tiler_features: int = 0x00000809
    mem_features: int = 0x00000301
    mmu_features: int = 0x00002830
    as_present: int = 0x000000FF
    shader_present: int = 0x00050005
    tiler_present: int = 0x1
    l2_present: int = 0x1
    # -- identification: SECONDARY source, Mesa drm-shim "dumped from a G610" (reference §6) ------
    csf_id: int = 0x040A0412
    thread_features: int = 0x04010000
    thread_max_threads: int = 2048
    thread_max_workgroup_size: int = 1024
    thread_max_barrier_size: int = 1024
    texture_features: tuple[int, int, int, int] = (0xC1FFFF9E, 0, 0, 0)
    coherency_features: int = 0
    # -- identification: unverified / inferred (reference §6, §8) -------------------------------
    core_features: int = 0
    gpu_revid: int = 0
    gpu_features: int = 0
    prfcnt_features: int = 0
    thread_tls_alloc: int = 0
    stack_present: int = 0
    coherency_enable_reset: int = 0
    l2_config_reset: int = 0
    # -- clocks --------------------------------------------------------------------------------
    gpu_clock_hz: int = 198_000_000
    timestamp_hz: int = 24_000_000
    # -- virtual-time behaviour ----------------------------------------------------------------
    reset_delay_ns: int = 20_000
    flush_delay_ns: int = 2_000
    l2_power_delay_ns: int = 50_000
    core_power_delay_ns: int = 10_000
    as_command_delay_ns: int = 1_000
    preserve_irq_masks_on_reset: bool = True
    num_doorbells: int = MAX_DOORBELLS

    def validate(self) -> None:
        """Check every field's type and range.

        Raises:
            InvalidArgument: naming the first bad field and its value.
        """
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "texture_features":
                _check_texture_features(value)
            elif f.name == "preserve_irq_masks_on_reset":
                if not isinstance(value, bool):
                    raise InvalidArgument(f"SimConfig.{f.name} must be a bool, got {value!r}")
            elif f.name in _DELAY_FIELDS:
                _check_int(f.name, value, 0, _U64)
            elif f.name in ("gpu_clock_hz", "timestamp_hz"):
                _check_int(f.name, value, 1, 10**12)
            elif f.name == "num_doorbells":
                _check_int(f.name, value, 1, MAX_DOORBELLS)
            elif f.name == "as_present":
                _check_int(f.name, value, 0, 0xFFFF)  # AS0..AS15 at most (reference §0)
            else:
                _check_int(f.name, value, 0, _U64 if f.name in _WIDE_FIELDS else _U32)


def _check_int(name: str, value: object, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidArgument(f"SimConfig.{name} must be an integer in [{lo:#x}, {hi:#x}], got {value!r}")


def _check_texture_features(value: object) -> None:
    if not isinstance(value, tuple) or len(value) != 4:
        raise InvalidArgument(f"SimConfig.texture_features must be a tuple of 4 integers, got {value!r}")
    for i, word in enumerate(value):
        _check_int(f"texture_features[{i}]", word, 0, _U32)


@dataclass
class SimFaults:
    """Fault-injection hooks for negative tests (reference §7 "Fault injection hooks").

    Flags are sampled when the operation starts (the command or request write), so set them before
    issuing the command whose failure you want to see.

    Attributes:
        reset_never_completes: a GPU_COMMAND reset starts but never finishes (no RESET_COMPLETED).
        l2_never_powers_up: an L2 power-on request sets L2_PWRTRANS and then never completes
            (L2_READY stays 0, PWRTRANS stays set).
        flush_never_completes: a GPU_COMMAND FLUSH_CACHES never raises CLEAN_CACHES_COMPLETED.
        as_active_stuck: an AS COMMAND sets AS_STATUS.AS_ACTIVE and never completes.
        as_active_stuck_mask: which address spaces ``as_active_stuck`` applies to (bit n = AS n).

    GPU faults are injected with :meth:`uio_driver.sim.gpu.SimGpu.inject_gpu_fault`; MMU faults
    with :meth:`uio_driver.sim.mmu.SimMmu.raise_fault`.
    """

    reset_never_completes: bool = False
    l2_never_powers_up: bool = False
    flush_never_completes: bool = False
    as_active_stuck: bool = False
    as_active_stuck_mask: int = 0xFFFF

    def as_stuck(self, as_nr: int) -> bool:
        """True when commands on address space ``as_nr`` must leave AS_ACTIVE stuck."""
        return self.as_active_stuck and bool(self.as_active_stuck_mask >> as_nr & 1)


@dataclass(frozen=True)
class SimViolation:
    """One protocol violation seen by the model (raised in strict mode, recorded always).

    Attributes:
        time_ns: virtual time of the access.
        kind: short category: "ro-write", "undefined", "power-off", "command-pending",
            "as-active", "bad-value", "doorbell-page", "l2-off", "unsupported", "stale-tlb" (a TLB
            hit whose descriptor changed in memory without LOCK/FLUSH/UNLOCK), "locked-access" (a
            GPU access to a locked region), "bad-descriptor" (misaligned block address, table
            attribute bits 63:59, AP[1] = 0, PXN without UXN); simulated MCU: "mcu-as0",
            "mcu-not-running", "no-doorbell", "request-outstanding", "fw-owned-write",
            "bad-request", "no-suspend-buffer", "bad-suspend-record" (also a missing stream-state
            area), "stale-sections"; command-stream executor: "doorbell-no-insert",
            "ring-insert", "ring-insert-backwards", "ring-overflow".
        message: one-line description naming the register/offset.
        register: register name, when there is one.
        offset: MMIO offset (or physical address for memory checks), when relevant.
        value: value written, when relevant.
    """

    time_ns: int
    kind: str
    message: str
    register: str | None = None
    offset: int | None = None
    value: int | None = None
