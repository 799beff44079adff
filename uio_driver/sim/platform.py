"""The ``sim`` backend: a :class:`~uio_driver.platform.base.Platform` over the simulated G610.

``SimPlatform`` gives the driver exactly what a board gives it — the 2 MiB GPU register window
(``regions["gpu"]``, physical base ``0xFB000000`` as on RK3588), a DMA carveout, the three IRQ
lines and a clock — all backed by the :class:`~uio_driver.sim.gpu.SimGpu` model on virtual time.
``platform.sim`` is the test/CLI handle to the model; driver code never touches it.
"""

from __future__ import annotations

import operator

from ..errors import InvalidArgument
from ..platform.base import IRQ_NAMES, RK3588_GPU_BASE, RK3588_GPU_SIZE, MmioRegion, Platform
from ..platform.dma import DmaAllocator
from .clock import VirtualClock
from .config import SimConfig, SimFaults
from .gpu import WINDOW_SIZE, SimGpu
from .irq import SimIrqLine
from .memory import SimMemory

#: Default carveout: like the example device-tree overlay (reserved-memory no-map at 0x30000000).
DEFAULT_CARVEOUT_BASE = 0x30000000
DEFAULT_CARVEOUT_SIZE = 256 << 20


class SimMmioRegion(MmioRegion):
    """The GPU window of the simulated GPU: every 32-bit access goes to the model.

    Offsets are checked like any :class:`MmioRegion` (``BadAddress``), values must fit 32 bits
    (``InvalidArgument``); nothing is written on error.
    """

    def __init__(self, sim: SimGpu, name: str = "gpu", phys_base: int = RK3588_GPU_BASE) -> None:
        self.name = name
        self.size = WINDOW_SIZE
        self.phys_base = phys_base
        self.sim = sim
        # Bound methods of the model: the hot path is one extra call.
        self._read = sim.read32
        self._write = sim.write32

    def read32(self, offset: int) -> int:
        return self._read(offset)

    def write32(self, offset: int, value: int) -> None:
        if type(value) is not int:
            value = _as_int(value, offset, self.name)
        self._write(offset, value)


def _as_int(value: object, offset: int, region: str) -> int:
    """Accept integer-like values (e.g. NumPy scalars) like a real mapping would."""
    try:
        if isinstance(value, bool):
            raise TypeError
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidArgument(f"{region}: value {value!r} for offset {offset!r} is not an integer",
                              offset=offset if isinstance(offset, int) else None) from None


class SimPlatform(Platform):
    """Simulated RK3588 Mali-G610 MP4.

    Args:
        strict: raise :class:`~uio_driver.errors.SimProtocolError` on protocol violations (default).
        config: :class:`SimConfig` (identification values, clocks, delays).
        faults: :class:`SimFaults` fault-injection hooks.
        carveout_base: physical base of the DMA carveout (page aligned).
        carveout_size: carveout size in bytes (page multiple); memory is only committed when touched.
        trace: record every MMIO access in ``platform.sim.trace``.
        mcu: attach the simulated MCU (the firmware interface model, ``platform.sim.mcu``); False
            gives a GPU with no firmware model (MCU_CONTROL only records a note).

    Raises:
        InvalidArgument: a bad option (nothing is left open).
    """

    OPTIONS = ("strict", "config", "faults", "carveout_base", "carveout_size", "trace", "mcu")
    name = "sim"
    simulated = True
    clock: VirtualClock

    def __init__(self, strict: bool = True, config: SimConfig | None = None, faults: SimFaults | None = None,
                 carveout_base: int = DEFAULT_CARVEOUT_BASE, carveout_size: int = DEFAULT_CARVEOUT_SIZE,
                 trace: bool = False, mcu: bool = True) -> None:
        super().__init__()
        _check_carveout(carveout_base, carveout_size)
        self.clock = VirtualClock()
        self.memory = SimMemory()
        self.sim = SimGpu(config, faults, strict=strict, clock=self.clock, memory=self.memory, trace=trace,
                          mcu=mcu)
        ram = self.memory.add_ram(carveout_base, carveout_size, name="carveout")
        self.regions["gpu"] = SimMmioRegion(self.sim, phys_base=RK3588_GPU_BASE)
        self.dma = DmaAllocator(carveout_base, carveout_size, ram.view, name="sim carveout")
        self.irqs = {name: SimIrqLine(name, self.sim.irq_block(name), self.clock) for name in IRQ_NAMES}
        mode = "strict" if strict else "non-strict"
        self.notes.append(f"simulated Mali-G610 MP4 (GPU_ID {self.sim.config.gpu_id:#010x}), {mode} mode, "
                          f"carveout {carveout_base:#x}+{carveout_size:#x}")

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        self.sim.close()
        self.memory.close()


def _check_carveout(base: int, size: int) -> None:
    for label, v in (("carveout_base", base), ("carveout_size", size)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise InvalidArgument(f"sim: {label} must be an integer, got {v!r}")
    if base < RK3588_GPU_BASE + RK3588_GPU_SIZE and RK3588_GPU_BASE < base + size:
        raise InvalidArgument(f"sim: carveout {base:#x}+{size:#x} overlaps the GPU register window "
                              f"{RK3588_GPU_BASE:#x}+{RK3588_GPU_SIZE:#x}")
