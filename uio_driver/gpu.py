"""GPU_CONTROL block driver: identification, soft reset, L2 power, cache flush, GPU IRQ.

Sequences and timeouts follow panthor (mali-csf-registers-and-mmu.md §5): soft reset waits up to
100 ms for RESET_COMPLETED, L2 power-up polls PWRTRANS/READY for up to 20 ms each, a cache flush waits
up to 100 ms for CLEAN_CACHES_COMPLETED, always re-checking RAWSTAT once after the deadline.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import Busy, DeviceNotFound, HardwareFault, NotSupported, Timeout
from .irq import IrqDispatcher
from .platform.base import Platform
from .regs import RegisterAccess
from .regs import gpu_control as gc

# panthor timeouts (seconds) and poll intervals (panthor_gpu.c).
RESET_TIMEOUT = 0.100
L2_TIMEOUT = 0.020
L2_POLL_INTERVAL = 100e-6
FLUSH_TIMEOUT = 0.100
POLL_INTERVAL = 10e-6

#: (ARCH_MAJOR, PRODUCT_MAJOR) → marketing name (panthor_gpu.c gpu_models[]; only the verified one).
GPU_MODELS = {(10, 7): "Mali-G610"}

#: COHERENCY_ENABLE protocol number "none" (RK3588's GPU is not dma-coherent).
COHERENCY_NONE = 31


def _irq_bit(name: str) -> int:
    return gc.GPU_IRQ_RAWSTAT.field(name).mask


IRQ_FAULT = _irq_bit("GPU_FAULT")
IRQ_PROTECTED_FAULT = _irq_bit("GPU_PROTECTED_FAULT")
IRQ_RESET_COMPLETED = _irq_bit("RESET_COMPLETED")
IRQ_CLEAN_CACHES_COMPLETED = _irq_bit("CLEAN_CACHES_COMPLETED")
#: panthor's GPU IRQ mask (panthor_gpu.c GPU_INTERRUPTS_MASK) = 0x20103.
GPU_IRQ_MASK = IRQ_FAULT | IRQ_PROTECTED_FAULT | IRQ_RESET_COMPLETED | IRQ_CLEAN_CACHES_COMPLETED


@dataclass(frozen=True)
class GpuInfo:
    """Identification as panthor reports it in ``struct drm_panthor_gpu_info``, plus decodings."""

    gpu_id: int
    gpu_rev: int
    csf_id: int
    l2_features: int
    tiler_features: int
    mem_features: int
    mmu_features: int
    thread_features: int
    max_threads: int
    thread_max_workgroup_size: int
    thread_max_barrier_size: int
    coherency_features: int
    texture_features: tuple[int, int, int, int]
    as_present: int
    shader_present: int
    l2_present: int
    tiler_present: int
    core_features: int
    decoded: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def arch(self) -> tuple[int, int, int]:
        return self.gpu_id >> 28, (self.gpu_id >> 24) & 0xF, (self.gpu_id >> 20) & 0xF

    @property
    def product_major(self) -> int:
        return (self.gpu_id >> 16) & 0xF

    @property
    def name(self) -> str:
        major, minor, _ = self.arch
        return GPU_MODELS.get((major, self.product_major),
                              f"Mali (arch {major}.{minor}, product {self.product_major})")

    @property
    def va_bits(self) -> int:
        return self.mmu_features & 0xFF

    @property
    def pa_bits(self) -> int:
        return (self.mmu_features >> 8) & 0xFF

    @property
    def shader_core_count(self) -> int:
        return bin(self.shader_present).count("1")

    @property
    def address_spaces(self) -> int:
        return bin(self.as_present).count("1")

    @property
    def firmware_path(self) -> str:
        """Path panthor requests: ``arm/mali/arch<MAJOR>.<MINOR>/mali_csffw.bin``."""
        major, minor, _ = self.arch
        return f"arm/mali/arch{major}.{minor}/mali_csffw.bin"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["texture_features"] = list(self.texture_features)
        d.update(name=self.name, arch="{}.{}.{}".format(*self.arch), va_bits=self.va_bits,
                 pa_bits=self.pa_bits, shader_core_count=self.shader_core_count,
                 firmware_path=self.firmware_path)
        return d


class Gpu:
    """Driver for the GPU_CONTROL block of one GPU reached through ``platform``."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.clock = platform.clock
        self.regs = RegisterAccess(platform.mmio)
        self.irq = IrqDispatcher(platform, self.regs)
        self.info: GpuInfo | None = None
        self._events = 0
        self._flush_pending = False
        self.faults: list[dict[str, Any]] = []
        self.irq.add_handler("gpu", self._on_gpu_irq)

    # -- identification ---------------------------------------------------------------------

    def probe(self) -> GpuInfo:
        """Read the identification registers panthor reads at probe (panthor_gpu_init_info).

        Raises:
            DeviceNotFound: GPU_ID reads 0 (panthor refuses such a GPU with ENXIO).
            NotSupported: not a CSF GPU (arch major < 10).
        """
        r = self.regs.read
        gpu_id = r(gc.GPU_ID)
        if gpu_id == 0:
            raise DeviceNotFound("GPU_ID reads 0: no GPU answering (power domain or clocks off?)",
                                 register="GPU_ID", value=0, errno=6)  # ENXIO, as panthor
        if gpu_id >> 28 < 10:
            raise NotSupported(f"GPU_ID {gpu_id:#010x} is not a CSF (arch >= 10) Mali GPU",
                               register="GPU_ID", value=gpu_id)
        info = GpuInfo(
            gpu_id=gpu_id,
            gpu_rev=r(gc.GPU_REVID),
            csf_id=r(gc.CSF_ID),
            l2_features=r(gc.L2_FEATURES),
            tiler_features=r(gc.TILER_FEATURES),
            mem_features=r(gc.MEM_FEATURES),
            mmu_features=r(gc.MMU_FEATURES),
            thread_features=r(gc.THREAD_FEATURES),
            max_threads=r(gc.THREAD_MAX_THREADS),
            thread_max_workgroup_size=r(gc.THREAD_MAX_WORKGROUP_SIZE),
            thread_max_barrier_size=r(gc.THREAD_MAX_BARRIER_SIZE),
            coherency_features=r(gc.COHERENCY_FEATURES),
            texture_features=(r(gc.TEXTURE_FEATURES_0), r(gc.TEXTURE_FEATURES_1),
                              r(gc.TEXTURE_FEATURES_2), r(gc.TEXTURE_FEATURES_3)),
            as_present=r(gc.AS_PRESENT),
            shader_present=self.regs.read64(gc.SHADER_PRESENT_LO),
            l2_present=self.regs.read64(gc.L2_PRESENT_LO),
            tiler_present=self.regs.read64(gc.TILER_PRESENT_LO),
            core_features=r(gc.CORE_FEATURES),
            decoded=self._decode_ids(),
        )
        self.info = info
        return info

    def _decode_ids(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for reg in (gc.GPU_ID, gc.L2_FEATURES, gc.TILER_FEATURES, gc.MEM_FEATURES, gc.MMU_FEATURES,
                    gc.THREAD_FEATURES, gc.CORE_FEATURES):
            dec = self.regs.read_decoded(reg)
            out[reg.name] = {f.name: f.value for f in dec.fields.values()}
        return out

    # -- reset --------------------------------------------------------------------------------

    def soft_reset(self, timeout: float = RESET_TIMEOUT) -> None:
        """Soft-reset the GPU (panthor_gpu_soft_reset).

        On return the reset has completed: every power domain is off, the MCU is stopped and all
        address-space configuration is lost. Raises :class:`Timeout` naming GPU_IRQ_RAWSTAT if
        RESET_COMPLETED does not rise within ``timeout``.
        """
        self._events &= ~IRQ_RESET_COMPLETED
        self.regs.write(gc.GPU_IRQ_CLEAR, IRQ_RESET_COMPLETED)
        self.regs.write(gc.GPU_COMMAND, gc.GpuCommand.soft_reset())
        try:
            self._wait_event(IRQ_RESET_COMPLETED, timeout, "soft reset: GPU_IRQ_RAWSTAT.RESET_COMPLETED")
        except Timeout as err:
            err.register, err.stage = "GPU_IRQ_RAWSTAT", "reset"
            raise
        self._flush_pending = False

    # -- interrupts ---------------------------------------------------------------------------

    def enable_interrupts(self) -> None:
        """Program panthor's GPU IRQ mask (0x20103: faults, reset and flush completion)."""
        self.irq.set_mask("gpu", GPU_IRQ_MASK)

    def _on_gpu_irq(self, bits: int) -> None:
        if bits & (IRQ_FAULT | IRQ_PROTECTED_FAULT):
            status = self.regs.read(gc.GPU_FAULTSTATUS)
            address = self.regs.read64(gc.GPU_FAULTADDRESS_LO)
            decoded = self.regs.read_decoded(gc.GPU_FAULTSTATUS)
            self.faults.append({"status": status, "address": address,
                                "fields": {f.name: f.meaning or f.value for f in decoded.fields.values()},
                                "time": self.clock.now()})
        self._events |= bits

    def _wait_event(self, bit: int, timeout: float, what: str, interval: float = POLL_INTERVAL) -> None:
        """Wait until GPU IRQ ``bit`` was seen, serviced through the IRQ handler or polled in RAWSTAT."""

        def seen() -> bool:
            self.irq.service("gpu")
            self._events |= self.irq.take_raw_event("gpu", bit)
            if self._events & bit:
                self._events &= ~bit
                return True
            return False

        self.clock.poll(seen, timeout, what, interval)

    # -- power --------------------------------------------------------------------------------

    def power_on_l2(self, timeout: float = L2_TIMEOUT, set_coherency: bool = True) -> None:
        """Power the L2 up (panthor_gpu_l2_power_on); the firmware powers cores and tiler itself.

        Guarantees on return: every L2 present is READY. Raises :class:`Timeout` naming the
        register awaited.
        """
        l2_present = self.info.l2_present if self.info else self.regs.read64(gc.L2_PRESENT_LO)
        if set_coherency:
            # Later panthor writes NONE before L2 power-up on non-coherent systems such as RK3588.
            self.regs.write(gc.COHERENCY_ENABLE, COHERENCY_NONE)
        self._poll_clear(gc.L2_PWRTRANS_LO, l2_present, timeout, "L2 power-up: L2_PWRTRANS idle")
        self.regs.write(gc.L2_PWRON_LO, l2_present & 0xFFFFFFFF)
        if l2_present >> 32:
            self.regs.write(gc.L2_PWRON_HI, l2_present >> 32)
        self.clock.poll(lambda: (self.regs.read64(gc.L2_READY_LO) & l2_present) == l2_present,
                        timeout, f"L2 power-up: L2_READY={l2_present:#x}", L2_POLL_INTERVAL)

    def power_off_l2(self, timeout: float = L2_TIMEOUT) -> None:
        """Power the L2 down (panthor_gpu_block_power_off); on return L2_READY is 0."""
        l2_present = self.info.l2_present if self.info else self.regs.read64(gc.L2_PRESENT_LO)
        self._poll_clear(gc.L2_PWRTRANS_LO, l2_present, timeout, "L2 power-down: L2_PWRTRANS idle")
        self.regs.write(gc.L2_PWROFF_LO, l2_present & 0xFFFFFFFF)
        self._poll_clear(gc.L2_PWRTRANS_LO, l2_present, timeout, "L2 power-down: L2_PWRTRANS idle")
        self._poll_clear(gc.L2_READY_LO, l2_present, timeout, "L2 power-down: L2_READY clear")

    def _poll_clear(self, lo_reg: Any, bits: int, timeout: float, what: str) -> None:
        self.clock.poll(lambda: not (self.regs.read64(lo_reg) & bits), timeout, what, L2_POLL_INTERVAL)

    def l2_ready(self) -> bool:
        l2_present = self.info.l2_present if self.info else 1
        return (self.regs.read64(gc.L2_READY_LO) & l2_present) == l2_present

    # -- caches -------------------------------------------------------------------------------

    def flush_caches(self, l2: int = gc.CACHE_CLEAN_INVALIDATE, lsc: int = gc.CACHE_CLEAN_INVALIDATE,
                     other: int = gc.CACHE_INVALIDATE, timeout: float = FLUSH_TIMEOUT) -> None:
        """Flush GPU caches with GPU_COMMAND FLUSH_CACHES (panthor_gpu_flush_caches).

        Defaults are panthor's full flush 0x23304 (L2 and LSC clean+invalidate, other caches
        invalidated). On return the flush completed. Only one flush may be outstanding.
        """
        if self._flush_pending:
            raise Busy("cache flush requested while the previous one is still pending",
                       register="GPU_COMMAND")
        command = gc.GpuCommand.flush_caches(l2, lsc, other)
        self._events &= ~IRQ_CLEAN_CACHES_COMPLETED
        self._flush_pending = True
        self.regs.write(gc.GPU_COMMAND, command)
        try:
            self._wait_event(IRQ_CLEAN_CACHES_COMPLETED, timeout,
                             f"cache flush {command:#x}: GPU_IRQ_RAWSTAT.CLEAN_CACHES_COMPLETED")
        except Timeout as err:
            err.register, err.value, err.stage = "GPU_IRQ_RAWSTAT", command, "flush"
            raise
        finally:
            self._flush_pending = False

    # -- misc ---------------------------------------------------------------------------------

    def timestamp(self) -> int:
        """The GPU's 64-bit system timestamp (TIMESTAMP_LO/HI, tear-free)."""
        return self.regs.read64(gc.TIMESTAMP_LO)

    def check_fault(self) -> None:
        """Raise :class:`HardwareFault` if a GPU fault was recorded by the IRQ handler."""
        self.irq.service("gpu")
        if self.faults:
            f = self.faults[-1]
            raise HardwareFault(f"GPU fault: GPU_FAULTSTATUS={f['status']:#010x} {f['fields']} "
                                f"at {f['address']:#x}", register="GPU_FAULTSTATUS", value=f["status"])
