"""GPU_CONTROL block (0x0000-0x0FFF): IDs, features, GPU IRQ, GPU_COMMAND, power domains, MCU.

Declared from mali-csf-registers-and-mmu.md §1 (register table §1.1, fields §1.2-§1.10) and §6 (reset
values of the identification registers = the real RK3588 Mali-G610 MP4 values). Values the
reference marks as coming from Mesa's drm-shim dump are secondary and say so in their provenance.
64-bit quantities are declared as ``<X>_LO``/``<X>_HI`` plus a 64-bit view ``<X>`` (see
:func:`~uio_driver.regs.model.pair`).
"""

from __future__ import annotations

from dataclasses import replace

# Commands, enums and field tables are re-exported so users need only this module.
from .gpu_command import (  # noqa: F401
    CACHE_CLEAN,
    CACHE_CLEAN_INVALIDATE,
    CACHE_INVALIDATE,
    CACHE_NONE,
    COMMANDS,
    GpuCommand,
)
from .gpu_fields import (  # noqa: F401
    COHERENCY_ENABLE_FIELDS,
    COHERENCY_FEATURES_FIELDS,
    CORE_FEATURES_FIELDS,
    FLUSH_L2,
    FLUSH_LSC,
    FLUSH_OTHER,
    GPU_COMMAND_FIELDS,
    GPU_FAULTSTATUS_FIELDS,
    GPU_FEATURES_FIELDS,
    GPU_ID_FIELDS,
    GPU_IRQ_FIELDS,
    GPU_STATUS_FIELDS,
    L2_CONFIG_ASN_HASH_ENABLE,
    L2_CONFIG_FIELDS,
    L2_FEATURES_FIELDS,
    MCU_CONTROL_FIELDS,
    MCU_STATUS_FIELDS,
    MEM_FEATURES_FIELDS,
    MMU_FEATURES_FIELDS,
    P_CMD,
    P_COH,
    P_IDS,
    P_IRQ,
    P_MCU,
    P_STATUS,
    PWR_KEY_FIELDS,
    PWR_KEY_UNLOCK,
    THREAD_FEATURES_FIELDS,
    TILER_FEATURES_FIELDS,
    AccessType,
    CacheOp,
    CoherencyProtocol,
    GpuCommandOp,
    ImplementationTechnology,
    McuControl,
    McuStatus,
    ResetMode,
    bitmap,
    value,
)
from .model import Access, Field, Register, collect, pair

BLOCK = "GPU_CONTROL"
BASE = 0x0000
SIZE = 0x1000

RO, RW, WO, W1C = Access.RO, Access.RW, Access.WO, Access.W1C

P_MAP = "ref §1.1; panthor panthor_regs.h (panthor_gpu_regs.h), kbase mali_kbase_gpu_regmap.h"
P_KBASE = "ref §1.1; kbase mali_kbase_gpu_regmap.h (not used by panthor)"
P_PWR = "ref §1.1/§1.10; panthor panthor_regs.h, kbase mali_kbase_gpu_regmap.h"
P_DRMSHIM = "; value: Mesa drm-shim dump (src/panfrost/drm-shim/panfrost_noop.c), secondary source"
P_DMESG = "; value: RK3588 panthor boot logs (ref §6, verified)"


def _reg(name: str, offset: int, access: Access, doc: str, fields: tuple = (), reset: int | None = None,
         provenance: str = P_MAP) -> Register:
    return Register(name, offset, access, doc, fields, reset, BLOCK, 32, provenance)


def _pair(name: str, offset: int, access: Access, doc: str, fields: tuple = (), reset: int | None = None,
          provenance: str = P_MAP) -> tuple[Register, Register, Register]:
    return pair(name, offset, access, doc, fields, reset, block=BLOCK, provenance=provenance)


# -- identification and features (ref §1.1-§1.3, values §6) -------------------------------------

GPU_ID = _reg("GPU_ID", 0x000, RO, "product and revision identifier", GPU_ID_FIELDS, 0xA8670005,
              P_IDS + P_DMESG)
L2_FEATURES = _reg("L2_FEATURES", 0x004, RO, "L2 geometry", L2_FEATURES_FIELDS, 0x07120306, P_IDS + P_DMESG)
CORE_FEATURES = _reg("CORE_FEATURES", 0x008, RO, "shader-core features; low byte = core variant",
                     CORE_FEATURES_FIELDS, None, P_IDS)
TILER_FEATURES = _reg("TILER_FEATURES", 0x00C, RO, "tiler bin size / levels", TILER_FEATURES_FIELDS,
                      0x00000809, P_IDS + P_DMESG)
MEM_FEATURES = _reg("MEM_FEATURES", 0x010, RO, "memory-system features (L2 coherency, slices)",
                    MEM_FEATURES_FIELDS, 0x00000301, P_IDS + P_DMESG)
MMU_FEATURES = _reg("MMU_FEATURES", 0x014, RO, "VA and PA widths", MMU_FEATURES_FIELDS, 0x00002830,
                    P_IDS + P_DMESG)
AS_PRESENT = _reg("AS_PRESENT", 0x018, RO, "bitmap of implemented address spaces",
                  bitmap(width=16, doc="one bit per address space"), 0x000000FF, P_IDS + P_DMESG)
CSF_ID = _reg("CSF_ID", 0x01C, RO, "CSF hardware/interface identification (not decoded by panthor)", (),
              0x040A0412, P_MAP + P_DRMSHIM)

# -- GPU interrupts (ref §1.4) ---------------------------------------------------------------------

GPU_IRQ_RAWSTAT = _reg("GPU_IRQ_RAWSTAT", 0x020, RW, "raw GPU interrupt status (writable to set bits, kbase)",
                       GPU_IRQ_FIELDS, None, P_IRQ)
GPU_IRQ_CLEAR = _reg("GPU_IRQ_CLEAR", 0x024, W1C, "write 1 to clear that bit of GPU_IRQ_RAWSTAT",
                     GPU_IRQ_FIELDS, None, P_IRQ)
GPU_IRQ_MASK = _reg("GPU_IRQ_MASK", 0x028, RW, "1 = GPU interrupt source enabled", GPU_IRQ_FIELDS, None,
                    P_IRQ)
GPU_IRQ_STATUS = _reg("GPU_IRQ_STATUS", 0x02C, RO,
                      "RAWSTAT & MASK; the gpu IRQ line is asserted while non-zero",
                      GPU_IRQ_FIELDS, None, P_IRQ)

# -- command, status, faults (ref §1.5-§1.8) ---------------------------------------------------------

GPU_COMMAND = _reg("GPU_COMMAND", 0x030, WO, "GPU command (CSF encoding opcode | payload << 8)",
                   GPU_COMMAND_FIELDS, None, P_CMD)
GPU_STATUS = _reg("GPU_STATUS", 0x034, RO, "GPU status flags", GPU_STATUS_FIELDS, 0, P_STATUS)
LATEST_FLUSH_JM = _reg("LATEST_FLUSH_JM", 0x038, RO,
                       "JM-only flush ID; not used on CSF (the flush ID is USER page LATEST_FLUSH, 0x10000)",
                       value("flush ID (JM GPUs only)"), None, P_MAP + "; CSF non-use [inferred]")
# Not implemented on CSF: dumps and the simulator leave it alone.
LATEST_FLUSH_JM = replace(LATEST_FLUSH_JM, csf=False)
GPU_FAULTSTATUS = _reg("GPU_FAULTSTATUS", 0x03C, RO, "GPU (non-MMU) fault status", GPU_FAULTSTATUS_FIELDS, 0,
                       "ref §1.7; kbase mali_kbase_gpu_regmap_csf.h")
GPU_FAULTADDRESS_LO, GPU_FAULTADDRESS_HI, GPU_FAULTADDRESS = _pair(
    "GPU_FAULTADDRESS", 0x040, RO, "GPU fault address", bitmap("ADDRESS", doc="faulting address"), 0,
    "ref §1.7; kbase mali_kbase_gpu_regmap_csf.h")
L2_CONFIG = _reg("L2_CONFIG", 0x048, RW, "L2 size and hash configuration (not written on RK3588)",
                 L2_CONFIG_FIELDS, None,
                 "ref §1.8; panthor panthor_gpu_regs.h, kbase mali_kbase_gpu_regmap.h")
PWR_KEY = _reg("PWR_KEY", 0x050, WO, "write 0x2968A819 to unlock PWR_OVERRIDE0/1", PWR_KEY_FIELDS, None,
               P_KBASE)
PWR_OVERRIDE0 = _reg("PWR_OVERRIDE0", 0x054, RW, "power-manager override (implementation-specific)", (), None,
                     P_KBASE)
PWR_OVERRIDE1 = _reg("PWR_OVERRIDE1", 0x058, RW, "power-manager override (implementation-specific)", (), None,
                     P_KBASE)
GPU_FEATURES_LO, GPU_FEATURES_HI, GPU_FEATURES = _pair(
    "GPU_FEATURES", 0x060, RO, "feature bits (arch 11+; expect 0 on G610 [inferred])", GPU_FEATURES_FIELDS,
    None, "ref §1.1/§1.3; panthor panthor_hw.c / panthor_gpu_regs.h")
PRFCNT_FEATURES = _reg("PRFCNT_FEATURES", 0x068, RO, "performance-counter features (unused by panthor)",
                       bitmap("COUNTER_BLOCK_SIZE", 8, "counter block size"), None,
                       "ref §1.1; kbase mali_kbase_gpu_regmap.h (common regmap)")

# -- time (ref §1.1) -------------------------------------------------------------------------------

TIMESTAMP_OFFSET_LO, TIMESTAMP_OFFSET_HI, TIMESTAMP_OFFSET = _pair(
    "TIMESTAMP_OFFSET", 0x088, RW, "offset added to the system timestamp", value("offset", 64))
CYCLE_COUNT_LO, CYCLE_COUNT_HI, CYCLE_COUNT = _pair(
    "CYCLE_COUNT", 0x090, RO, "GPU cycle counter (runs only after CYCLE_COUNT_START)", value("cycles", 64))
TIMESTAMP_LO, TIMESTAMP_HI, TIMESTAMP = _pair(
    "TIMESTAMP", 0x098, RO, "global (system-counter) timestamp", value("timestamp", 64))

# -- thread and texture properties (ref §1.1, §1.3) ---------------------------------------------------

THREAD_MAX_THREADS = _reg("THREAD_MAX_THREADS", 0x0A0, RO, "maximum threads per core",
                          value("threads per core"), 0x800, P_IDS + P_DRMSHIM)
THREAD_MAX_WORKGROUP_SIZE = _reg("THREAD_MAX_WORKGROUP_SIZE", 0x0A4, RO, "maximum workgroup size",
                                 value("threads per workgroup"), 0x400, P_IDS + P_DRMSHIM)
THREAD_MAX_BARRIER_SIZE = _reg("THREAD_MAX_BARRIER_SIZE", 0x0A8, RO, "maximum threads waiting at a barrier",
                               value("threads per barrier"), 0x400, P_IDS + P_DRMSHIM)
THREAD_FEATURES = _reg("THREAD_FEATURES", 0x0AC, RO, "registers / task queue / technology (CSF layout)",
                       THREAD_FEATURES_FIELDS, 0x04010000,
                       "ref §1.3; kbase mali_kbase_gpuprops.c (MALI_USE_CSF)" + P_DRMSHIM)
TEXTURE_FEATURES_0 = _reg("TEXTURE_FEATURES_0", 0x0B0, RO, "supported texture formats, bitmap 0",
                          bitmap(width=32, doc="format-support bits"), 0xC1FFFF9E, P_IDS + P_DRMSHIM)
TEXTURE_FEATURES_1 = _reg("TEXTURE_FEATURES_1", 0x0B4, RO, "supported texture formats, bitmap 1",
                          bitmap(width=32, doc="format-support bits"), None, P_IDS)
TEXTURE_FEATURES_2 = _reg("TEXTURE_FEATURES_2", 0x0B8, RO, "supported texture formats, bitmap 2",
                          bitmap(width=32, doc="format-support bits"), None, P_IDS)
TEXTURE_FEATURES_3 = _reg("TEXTURE_FEATURES_3", 0x0BC, RO, "texture order", (), None, P_IDS)

# -- power domains (ref §1.1, §1.10): the host powers only the L2 on CSF ------------------------------

_UNITS = "one bit per unit"
SHADER_PRESENT_LO, SHADER_PRESENT_HI, SHADER_PRESENT = _pair(
    "SHADER_PRESENT", 0x100, RO, "shader-core bitmap (not contiguous)", bitmap(doc="one bit per shader core"),
    0x00050005, P_IDS + P_DMESG)
TILER_PRESENT_LO, TILER_PRESENT_HI, TILER_PRESENT = _pair(
    "TILER_PRESENT", 0x110, RO, "tiler bitmap", bitmap(doc=_UNITS), 0x1, P_IDS + P_DMESG)
L2_PRESENT_LO, L2_PRESENT_HI, L2_PRESENT = _pair(
    "L2_PRESENT", 0x120, RO, "L2 slice-group bitmap", bitmap(doc=_UNITS), 0x1, P_IDS + P_DMESG)
SHADER_READY_LO, SHADER_READY_HI, SHADER_READY = _pair(
    "SHADER_READY", 0x140, RO, "shader cores powered and ready", bitmap(doc=_UNITS), 0, P_PWR)
TILER_READY_LO, TILER_READY_HI, TILER_READY = _pair(
    "TILER_READY", 0x150, RO, "tilers powered and ready", bitmap(doc=_UNITS), 0, P_PWR)
L2_READY_LO, L2_READY_HI, L2_READY = _pair(
    "L2_READY", 0x160, RO, "L2 powered and ready", bitmap(doc=_UNITS), 0, P_PWR)
SHADER_PWRON_LO, SHADER_PWRON_HI, SHADER_PWRON = _pair(
    "SHADER_PWRON", 0x180, WO, "request shader power-on (firmware's job on CSF; panthor never writes it)",
    bitmap(doc=_UNITS), None, P_PWR)
TILER_PWRON_LO, TILER_PWRON_HI, TILER_PWRON = _pair(
    "TILER_PWRON", 0x190, WO, "request tiler power-on (firmware's job on CSF)", bitmap(doc=_UNITS), None,
    P_PWR)
L2_PWRON_LO, L2_PWRON_HI, L2_PWRON = _pair(
    "L2_PWRON", 0x1A0, WO, "request L2 power-on", bitmap(doc=_UNITS), None, P_PWR)
SHADER_PWROFF_LO, SHADER_PWROFF_HI, SHADER_PWROFF = _pair(
    "SHADER_PWROFF", 0x1C0, WO, "request shader power-off", bitmap(doc=_UNITS), None, P_PWR)
TILER_PWROFF_LO, TILER_PWROFF_HI, TILER_PWROFF = _pair(
    "TILER_PWROFF", 0x1D0, WO, "request tiler power-off", bitmap(doc=_UNITS), None, P_PWR)
L2_PWROFF_LO, L2_PWROFF_HI, L2_PWROFF = _pair(
    "L2_PWROFF", 0x1E0, WO, "request L2 power-off", bitmap(doc=_UNITS), None, P_PWR)
SHADER_PWRTRANS_LO, SHADER_PWRTRANS_HI, SHADER_PWRTRANS = _pair(
    "SHADER_PWRTRANS", 0x200, RO, "shader power transition in progress", bitmap(doc=_UNITS), 0, P_PWR)
TILER_PWRTRANS_LO, TILER_PWRTRANS_HI, TILER_PWRTRANS = _pair(
    "TILER_PWRTRANS", 0x210, RO, "tiler power transition in progress", bitmap(doc=_UNITS), 0, P_PWR)
L2_PWRTRANS_LO, L2_PWRTRANS_HI, L2_PWRTRANS = _pair(
    "L2_PWRTRANS", 0x220, RO, "L2 power transition in progress", bitmap(doc=_UNITS), 0, P_PWR)
SHADER_PWRACTIVE_LO, SHADER_PWRACTIVE_HI, SHADER_PWRACTIVE = _pair(
    "SHADER_PWRACTIVE", 0x240, RO, "shader cores currently active", bitmap(doc=_UNITS), 0, P_PWR)
TILER_PWRACTIVE_LO, TILER_PWRACTIVE_HI, TILER_PWRACTIVE = _pair(
    "TILER_PWRACTIVE", 0x250, RO, "tilers currently active", bitmap(doc=_UNITS), 0, P_PWR)
L2_PWRACTIVE_LO, L2_PWRACTIVE_HI, L2_PWRACTIVE = _pair(
    "L2_PWRACTIVE", 0x260, RO, "L2 currently active", bitmap(doc=_UNITS), 0, P_PWR)

# -- revision, hashing, coherency, system cache (ref §1.1) -------------------------------------------

GPU_REVID = _reg("GPU_REVID", 0x280, RO, "revision ID (read by panthor into gpu_rev, not decoded)", (), None,
                 P_MAP)
ASN_HASH_0 = _reg("ASN_HASH_0", 0x2C0, RW, "L2 address-slice hash argument 0 (if ASN_HASH_ENABLE)", (), None,
                  "ref §1.1/§1.8; panthor panthor_gpu_regs.h GPU_ASN_HASH(n)")
ASN_HASH_1 = _reg("ASN_HASH_1", 0x2C4, RW, "L2 address-slice hash argument 1 (if ASN_HASH_ENABLE)", (), None,
                  "ref §1.1/§1.8; panthor panthor_gpu_regs.h GPU_ASN_HASH(n)")
ASN_HASH_2 = _reg("ASN_HASH_2", 0x2C8, RW, "L2 address-slice hash argument 2 (if ASN_HASH_ENABLE)", (), None,
                  "ref §1.1/§1.8; panthor panthor_gpu_regs.h GPU_ASN_HASH(n)")
COHERENCY_FEATURES = _reg("COHERENCY_FEATURES", 0x300, RO, "bitmap of supported coherency protocols",
                          COHERENCY_FEATURES_FIELDS, None, P_COH + "; G610 value unverified")
COHERENCY_ENABLE = _reg("COHERENCY_ENABLE", 0x304, RW,
                        "selected coherency protocol number (panthor GPU_COHERENCY_PROTOCOL)",
                        COHERENCY_ENABLE_FIELDS, None, P_COH)
THREAD_TLS_ALLOC = _reg("THREAD_TLS_ALLOC", 0x310, RO, "threads per core that TLS must be allocated for",
                        value("threads per core"), None, P_MAP)
_P_SYSC = "ref §1.1; kbase mali_kbase_gpu_regmap.h (not used on RK3588)"
SYSC_ALLOC0 = _reg("SYSC_ALLOC0", 0x340, RW, "system-cache allocation hints 0", (), None, _P_SYSC)
SYSC_ALLOC1 = _reg("SYSC_ALLOC1", 0x344, RW, "system-cache allocation hints 1", (), None, _P_SYSC)
SYSC_ALLOC2 = _reg("SYSC_ALLOC2", 0x348, RW, "system-cache allocation hints 2", (), None, _P_SYSC)
SYSC_ALLOC3 = _reg("SYSC_ALLOC3", 0x34C, RW, "system-cache allocation hints 3", (), None, _P_SYSC)
SYSC_ALLOC4 = _reg("SYSC_ALLOC4", 0x350, RW, "system-cache allocation hints 4", (), None, _P_SYSC)
SYSC_ALLOC5 = _reg("SYSC_ALLOC5", 0x354, RW, "system-cache allocation hints 5", (), None, _P_SYSC)
SYSC_ALLOC6 = _reg("SYSC_ALLOC6", 0x358, RW, "system-cache allocation hints 6", (), None, _P_SYSC)
SYSC_ALLOC7 = _reg("SYSC_ALLOC7", 0x35C, RW, "system-cache allocation hints 7", (), None, _P_SYSC)

# -- MCU (ref §1.9) ----------------------------------------------------------------------------------

MCU_CONTROL = _reg("MCU_CONTROL", 0x700, RW, "MCU run control (write AUTO to boot)", MCU_CONTROL_FIELDS, 0,
                   P_MCU)
MCU_STATUS = _reg("MCU_STATUS", 0x704, RO, "MCU state", MCU_STATUS_FIELDS, 0, P_MCU)

# -- core stacks (ref §1.1, §1.10: kbase only, unused by panthor) --------------------------------------

_P_STACK = "ref §1.1/§1.10; kbase mali_kbase_gpu_regmap.h STACK_* (unused by panthor)"
STACK_PRESENT_LO, STACK_PRESENT_HI, STACK_PRESENT = _pair(
    "STACK_PRESENT", 0xE00, RO, "core-stack bitmap", bitmap(doc=_UNITS), None, _P_STACK)
STACK_READY_LO, STACK_READY_HI, STACK_READY = _pair(
    "STACK_READY", 0xE10, RO, "core stacks powered and ready", bitmap(doc=_UNITS), 0, _P_STACK)
STACK_PWRON_LO, STACK_PWRON_HI, STACK_PWRON = _pair(
    "STACK_PWRON", 0xE20, WO, "request core-stack power-on (kbase comment says RO; treated as WO)",
    bitmap(doc=_UNITS), None, _P_STACK)
STACK_PWROFF_LO, STACK_PWROFF_HI, STACK_PWROFF = _pair(
    "STACK_PWROFF", 0xE30, WO, "request core-stack power-off", bitmap(doc=_UNITS), None, _P_STACK)
STACK_PWRTRANS_LO, STACK_PWRTRANS_HI, STACK_PWRTRANS = _pair(
    "STACK_PWRTRANS", 0xE40, RO, "core-stack power transition in progress", bitmap(doc=_UNITS), 0, _P_STACK)

# -- configuration registers (ref §1.1; implementation-specific) -------------------------------------

_P_CFG = "ref §1.1; kbase mali_kbase_gpu_regmap.h / mali_kbase_gpu_regmap_csf.h"
CSF_CONFIG = _reg("CSF_CONFIG", 0xF00, RW, "CSF configuration",
                  (Field("FORCE_COHERENCY_FEATURES", 2, 2,
                         "force the COHERENCY_FEATURES value"),), None, _P_CFG)
SHADER_CONFIG = _reg("SHADER_CONFIG", 0xF04, RW, "shader configuration (implementation-specific)", (), None,
                     _P_CFG)
TILER_CONFIG = _reg("TILER_CONFIG", 0xF08, RW, "tiler configuration (implementation-specific)",
                    (Field("CLOCK_GATE_OVERRIDE", 0, 0, "clock-gate override"),), None, _P_CFG)
L2_MMU_CONFIG = _reg("L2_MMU_CONFIG", 0xF0C, RW, "L2/MMU configuration (implementation-specific)",
                     (Field("ALLOW_SNOOP_DISPARITY", 23, 23, "allow snoop disparity"),), None, _P_CFG)

# -- data-backed constants -----------------------------------------------------------------------------


def _irq_bit(name: str) -> int:
    return GPU_IRQ_RAWSTAT.field(name).mask


GPU_IRQ_FAULT = _irq_bit("GPU_FAULT")
GPU_IRQ_PROTM_FAULT = GPU_IRQ_PROTECTED_FAULT = _irq_bit("GPU_PROTECTED_FAULT")
GPU_IRQ_RESET_COMPLETED = RESET_COMPLETED = _irq_bit("RESET_COMPLETED")
GPU_IRQ_POWER_CHANGED_SINGLE = POWER_CHANGED_SINGLE = _irq_bit("POWER_CHANGED_SINGLE")
GPU_IRQ_POWER_CHANGED_ALL = POWER_CHANGED_ALL = _irq_bit("POWER_CHANGED_ALL")
GPU_IRQ_PRFCNT_SAMPLE_COMPLETED = PRFCNT_SAMPLE_COMPLETED = _irq_bit("PRFCNT_SAMPLE_COMPLETED")
GPU_IRQ_CLEAN_CACHES_COMPLETED = CLEAN_CACHES_COMPLETED = _irq_bit("CLEAN_CACHES_COMPLETED")
GPU_IRQ_DOORBELL_MIRROR = DOORBELL_MIRROR = _irq_bit("DOORBELL_MIRROR")
GPU_IRQ_MCU_STATUS_CHANGED = MCU_STATUS_CHANGED = _irq_bit("MCU_STATUS_GPU_IRQ")
GPU_IRQ_FLUSH_PA_RANGE_COMPLETED = FLUSH_PA_RANGE_COMPLETED = _irq_bit("FLUSH_PA_RANGE_COMPLETED")

#: panthor's GPU IRQ mask: FAULT | PROTM_FAULT | RESET_COMPLETED | CLEAN_CACHES_COMPLETED
#: (panthor_gpu.c GPU_INTERRUPTS_MASK, ref §1.4); POWER_CHANGED_* are polled instead.
GPU_IRQ_PANTHOR_MASK = (GPU_IRQ_FAULT | GPU_IRQ_PROTM_FAULT | GPU_IRQ_RESET_COMPLETED
                        | GPU_IRQ_CLEAN_CACHES_COMPLETED)

#: kbase's common GPU IRQ mask (ref §1.4), for comparison only.
GPU_IRQ_KBASE_MASK = (GPU_IRQ_FAULT | GPU_IRQ_PROTM_FAULT | GPU_IRQ_RESET_COMPLETED
                      | GPU_IRQ_POWER_CHANGED_ALL | GPU_IRQ_MCU_STATUS_CHANGED)

#: COHERENCY_ENABLE value for a non-coherent system such as RK3588 (ref §5.3).
COHERENCY_NONE = int(CoherencyProtocol.NONE)

REGISTERS, VIEWS = collect(globals(), BLOCK)
