"""Field layouts and encodings of the GPU_CONTROL block (declared once; used by ``gpu_control``).

Every table cites its section of mali-csf-registers-and-mmu.md and the source files the reference
names. ``[inferred]`` marks facts the reference itself marks as inferred.
"""

from __future__ import annotations

import enum

from .exceptions import GPU_EXCEPTION_TYPES, PROVENANCE_GPU
from .model import Field, enum_map

# Provenance notes (source files as the reference names them).
P_IDS = "ref §1.2/§1.3; panthor panthor_regs.h (GPU_ID/feature macros), kbase mali_kbase_gpuprops.c"
P_IRQ = "ref §1.4; panthor panthor_regs.h GPU_IRQ_*, kbase mali_kbase_gpu_regmap_csf.h"
P_CMD = "ref §1.5; kbase mali_kbase_gpu_regmap_csf.h GPU_COMMAND_*, panthor panthor_regs.h GPU_CMD_DEF"
P_STATUS = "ref §1.6; panthor panthor_regs.h GPU_STATUS_*, kbase mali_kbase_gpu_regmap.h"
P_MCU = "ref §1.9; kbase mali_kbase_gpu_regmap_csf.h MCU_CNTRL_*/MCU_STATUS_*, panthor panthor_regs.h"
P_COH = "ref §1.1; kbase mali_kbase_gpu_regmap.h COHERENCY_*, panthor panthor_regs.h GPU_COHERENCY_*"


class AccessType(enum.IntEnum):
    """ACCESS_TYPE of GPU_FAULTSTATUS and AS_FAULTSTATUS (ref §1.7, §3.7)."""

    ATOMIC = 0
    EXECUTE = 1
    READ = 2
    WRITE = 3


class McuControl(enum.IntEnum):
    """MCU_CONTROL values (ref §1.9). panthor and kbase write AUTO to boot the MCU."""

    DISABLE = 0
    ENABLE = 1
    AUTO = 2


class McuStatus(enum.IntEnum):
    """MCU_STATUS values (ref §1.9)."""

    DISABLED = 0
    ENABLED = 1
    HALT = 2
    FATAL = 3


class GpuCommandOp(enum.IntEnum):
    """GPU_COMMAND opcodes, CSF encoding ``opcode | payload << 8`` (ref §1.5; not panfrost's numbers)."""

    NOP = 0x00
    RESET = 0x01
    PRFCNT = 0x02
    TIME = 0x03
    FLUSH_CACHES = 0x04
    SET_PROTECTED_MODE = 0x05
    FINISH_HALT = 0x06
    CLEAR_FAULT = 0x07
    FLUSH_PA_RANGE = 0x08  # newer GPUs only, not G610 [inferred]


class ResetMode(enum.IntEnum):
    """Payload of GPU_COMMAND RESET (ref §1.5)."""

    FAST = 0
    SOFT = 1
    HARD = 2


class CacheOp(enum.IntEnum):
    """Per-cache operation in the FLUSH_CACHES payload (ref §1.5; panthor CACHE_CLEAN=1, CACHE_INV=2)."""

    NONE = 0
    CLEAN = 1
    INVALIDATE = 2
    CLEAN_INVALIDATE = 3


class CoherencyProtocol(enum.IntEnum):
    """COHERENCY_ENABLE protocol numbers (ref §1.1): a number, not a bitmap."""

    ACE_LITE = 0
    ACE = 1
    NONE = 31


class ImplementationTechnology(enum.IntEnum):
    """THREAD_FEATURES.IMPLEMENTATION_TECHNOLOGY (ref §1.3, kbase regmap)."""

    UNSPECIFIED = 0
    SILICON = 1
    FPGA = 2
    MODEL = 3


def bitmap(name: str = "BITMAP", width: int = 64, doc: str = "one bit per unit") -> tuple[Field, ...]:
    """A whole-register bitmap/quantity field (``width - 1 : 0``)."""
    return (Field(name, width - 1, 0, doc),)


def value(doc: str, width: int = 32) -> tuple[Field, ...]:
    """A whole-register numeric field named VALUE."""
    return (Field("VALUE", width - 1, 0, doc),)


GPU_ID_FIELDS = (
    Field("ARCH_MAJOR", 31, 28, "architecture major (10 = Valhall CSF)"),
    Field("ARCH_MINOR", 27, 24, "architecture minor (8 on G610)"),
    Field("ARCH_REV", 23, 20, "architecture revision"),
    Field("PRODUCT_MAJOR", 19, 16, "product major; (arch 10, product 7) = g610 in panthor gpu_models[]"),
    Field("VERSION_MAJOR", 15, 12, "the r in rNpM"),
    Field("VERSION_MINOR", 11, 4, "the p in rNpM"),
    Field("VERSION_STATUS", 3, 0, "version status"),
)

L2_FEATURES_FIELDS = (
    Field("LOG2_LINE_SIZE", 7, 0, "cache line = 2^n bytes",
          provenance="ref §1.3; panthor GPU_L2_FEATURES_LINE_SIZE"),
    Field("LOG2_ASSOCIATIVITY", 15, 8, "ways = 2^n [field name inferred]"),
    Field("LOG2_CACHE_SIZE", 23, 16, "size = 2^n bytes (per slice [inferred])"),
    Field("LOG2_EXTERNAL_BUS_WIDTH", 31, 24, "bus = 2^n bits [field name inferred]"),
)

CORE_FEATURES_FIELDS = (
    Field("CORE_VARIANT", 7, 0, "product variant inside an (arch, product) pair [inferred]",
          provenance="ref §1.3; Mesa src/panfrost/lib/pan_props.c model table"),
)

TILER_FEATURES_FIELDS = (
    Field("LOG2_BIN_SIZE", 5, 0, "bin size = 2^n bytes"),
    Field("MAX_ACTIVE_LEVELS", 11, 8, "maximum active hierarchy levels"),
)

MEM_FEATURES_FIELDS = (
    Field("GROUPS_L2_COHERENT", 0, 0, "core groups share a coherent L2"),
    Field("SUPER_L2_COHERENT", 1, 1, "super-L2 coherent"),
    Field("L2_SLICES_MINUS1", 11, 8, "number of L2 slices minus 1 (kbase decodes [11:8] + 1)"),
)

MMU_FEATURES_FIELDS = (
    Field("VA_BITS", 7, 0, "virtual-address bits", provenance="ref §1.3; panthor GPU_MMU_FEATURES_VA_BITS"),
    Field("PA_BITS", 15, 8, "physical-address bits",
          provenance="ref §1.3; panthor GPU_MMU_FEATURES_PA_BITS"),
)

THREAD_FEATURES_FIELDS = (
    Field("MAX_REGISTERS", 21, 0, "registers per core (CSF layout)"),
    Field("IMPLEMENTATION_TECHNOLOGY", 23, 22, "implementation technology [position inferred]",
          enum_map(ImplementationTechnology)),
    Field("MAX_TASK_QUEUE", 31, 24, "maximum task queue (CSF layout)"),
)

COHERENCY_FEATURES_FIELDS = (
    Field("ACE_LITE", 0, 0, "ACE-Lite coherency supported"),
    Field("ACE", 1, 1, "ACE coherency supported"),
    Field("NONE", 31, 31, "'no coherency' protocol bit"),
)

COHERENCY_ENABLE_FIELDS = (
    Field("PROTOCOL", 31, 0, "selected protocol number (31 = none, correct for non-coherent RK3588)",
          enum_map(CoherencyProtocol)),
)

#: GPU IRQ bits (GPU_IRQ_RAWSTAT/CLEAR/MASK/STATUS), kbase names with panthor names as aliases.
GPU_IRQ_FIELDS = (
    Field("GPU_FAULT", 0, 0, "a GPU fault was latched in GPU_FAULTSTATUS/ADDRESS", aliases=("FAULT",)),
    Field("GPU_PROTECTED_FAULT", 1, 1, "fault while in protected mode", aliases=("PROTM_FAULT",)),
    Field("RESET_COMPLETED", 8, 8, "soft/hard reset finished"),
    Field("POWER_CHANGED_SINGLE", 9, 9, "one core/domain finished a power transition",
          aliases=("POWER_CHANGED",)),
    Field("POWER_CHANGED_ALL", 10, 10, "all requested power transitions finished"),
    Field("PRFCNT_SAMPLE_COMPLETED", 16, 16, "performance-counter sample written (kbase CSF)"),
    Field("CLEAN_CACHES_COMPLETED", 17, 17, "a GPU_COMMAND cache flush finished"),
    Field("DOORBELL_MIRROR", 18, 18,
          "mirrors the doorbell line; not clearable via GPU_IRQ_CLEAR, never unmask"),
    Field("MCU_STATUS_GPU_IRQ", 19, 19, "MCU requires attention / MCU_STATUS changed",
          aliases=("MCU_STATUS_CHANGED",)),
    Field("FLUSH_PA_RANGE_COMPLETED", 20, 20, "physical-range flush done (GPUs newer than G610)"),
)

GPU_COMMAND_OPCODE = Field("OPCODE", 7, 0, "command opcode", enum_map(GpuCommandOp), P_CMD)
GPU_COMMAND_PAYLOAD = Field("PAYLOAD", 31, 8, "command payload (meaning depends on OPCODE)", {}, P_CMD)
GPU_COMMAND_FIELDS = (GPU_COMMAND_OPCODE, GPU_COMMAND_PAYLOAD)

#: FLUSH_CACHES payload nibbles in register bit positions (payload bits + 8), ref §1.5.
FLUSH_L2 = Field("L2", 11, 8, "L2 cache operation", enum_map(CacheOp), P_CMD)
FLUSH_LSC = Field("LSC", 15, 12, "load/store caches in the cores", enum_map(CacheOp), P_CMD)
# Read-only caches can only be invalidated: the reference (and kbase's payload macros) define 0 and 2.
FLUSH_OTHER = Field("OTHER", 19, 16, "read-only caches (texture, instruction...)",
                    {int(CacheOp.NONE): "NONE", int(CacheOp.INVALIDATE): "INVALIDATE"}, P_CMD)

GPU_STATUS_FIELDS = (
    Field("GPU_ACTIVE", 0, 0, "GPU is executing work (panthor GPU_STATUS_ACTIVE)"),
    Field("PWR_ACTIVE", 1, 1, "a power transition is in progress"),
    Field("PRFCNT_ACTIVE", 2, 2, "performance counters active (kbase)"),
    Field("PAGE_FAULT", 4, 4, "a page fault is pending in some AS"),
    Field("CYCLE_COUNT_ACTIVE", 6, 6, "cycle counter running (after CYCLE_COUNT_START, kbase)"),
    Field("PROTM_ACTIVE", 7, 7, "protected mode active", aliases=("PROTECTED_MODE_ACTIVE",)),
    Field("DBG_ENABLED", 8, 8, "DBGEN input wire status", aliases=("GPU_DBGEN",)),
)

GPU_FAULTSTATUS_FIELDS = (
    Field("EXCEPTION_TYPE", 7, 0, "GPU fault exception type", GPU_EXCEPTION_TYPES, PROVENANCE_GPU),
    Field("ACCESS_TYPE", 9, 8, "access that faulted", enum_map(AccessType), PROVENANCE_GPU),
    Field("ADDRESS_VALID", 10, 10, "GPU_FAULTADDRESS holds a valid address", provenance=PROVENANCE_GPU),
    Field("JASID_VALID", 11, 11, "JASID holds a valid address-space ID", provenance=PROVENANCE_GPU),
    Field("JASID", 15, 12, "address space of the faulting access", provenance=PROVENANCE_GPU),
    Field("SOURCE_ID", 31, 16, "internal source of the access", provenance=PROVENANCE_GPU),
)

L2_CONFIG_FIELDS = (
    Field("SIZE", 23, 16, "L2 size configuration (log2)"),
    Field("HASH", 31, 24, "hash configuration (bit 24 = ASN_HASH_ENABLE in the newer layout)"),
)

#: Newer-layout view of L2_CONFIG bit 24 (panthor's newest header GPU_L2_CONFIG_ASN_HASH_ENABLE).
L2_CONFIG_ASN_HASH_ENABLE = Field("ASN_HASH_ENABLE", 24, 24, "use ASN_HASH_0..2 as the L2 slice hash",
                                  provenance="ref §1.8; panthor panthor_gpu_regs.h")

#: PWR_KEY unlock value (ref §1.1).
PWR_KEY_UNLOCK = 0x2968A819
PWR_KEY_FIELDS = (Field("KEY", 31, 0, "write UNLOCK to unlock PWR_OVERRIDE0/1", {PWR_KEY_UNLOCK: "UNLOCK"}),)

GPU_FEATURES_FIELDS = (
    Field("RAY_INTERSECTION", 2, 2, "ray intersection (newer GPUs; expect 0 on G610 [inferred])"),
    Field("RAY_TRAVERSAL", 5, 5, "ray traversal (newer GPUs; expect 0 on G610 [inferred])"),
)

MCU_CONTROL_FIELDS = (Field("MODE", 1, 0, "MCU run request", enum_map(McuControl), P_MCU),)
MCU_STATUS_FIELDS = (Field("STATUS", 1, 0, "MCU state", enum_map(McuStatus), P_MCU),)
