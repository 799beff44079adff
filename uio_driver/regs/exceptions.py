"""Exception-type codes: the 8-bit namespace shared by GPU_FAULTSTATUS, AS_FAULTSTATUS and CS faults.

Source: mali-csf-registers-and-mmu.md §1.7 (GPU faults), §3.7 (MMU faults and the shared namespace),
from kbase ``mali_kbase_gpu_regmap_csf.h`` / ``AS_FAULTSTATUS_EXCEPTION_TYPE_*``, panfrost
``panfrost_device.h`` and panthor ``panthor_device.h`` (``enum drm_panthor_exception_type``). MMU codes
use the kbase names (the reference lists panthor's spellings next to them).
"""

from __future__ import annotations

from types import MappingProxyType

from ..errors import InvalidArgument

PROVENANCE_MMU = ("ref §3.7; kbase AS_FAULTSTATUS_EXCEPTION_TYPE_*, panfrost panfrost_device.h, "
                  "panthor panthor_device.h")
PROVENANCE_GPU = "ref §1.7; kbase mali_kbase_gpu_regmap_csf.h"
PROVENANCE_CS = "ref §3.7; panthor panthor_device.h enum drm_panthor_exception_type"

#: Largest code that is not a fault; codes above it are faults (panthor ``panthor_exception_is_fault``).
MAX_NON_FAULT = 0x3F


def _levels(base: int, prefix: str, count: int = 4) -> dict[int, str]:
    """Codes ``base + level`` named ``<prefix><level>`` (kbase encodes the table level in bits 2:0)."""
    return {base + level: f"{prefix}{level}" for level in range(count)}


def _mmu_codes() -> dict[int, str]:
    # Structure (kbase): bits 7:6 = 0b11, bits 5:3 = fault class, bits 2:0 = table level / sub-type.
    codes: dict[int, str] = {}
    codes |= _levels(0xC0, "TRANSLATION_FAULT_", 5)  # 0xC4 "level 4": listed by kbase/panfrost/panthor
    codes[0xC7] = "TRANSLATION_FAULT_IDENTITY"  # kbase, panfrost
    codes |= _levels(0xC8, "PERMISSION_FAULT_")
    codes |= _levels(0xD0, "TRANSTAB_BUS_FAULT_")
    codes |= _levels(0xD8, "ACCESS_FLAG_")
    codes |= _levels(0xE0, "ADDRESS_SIZE_FAULT_IN")
    codes |= _levels(0xE4, "ADDRESS_SIZE_FAULT_OUT")
    codes |= _levels(0xE8, "MEMORY_ATTRIBUTE_FAULT_")
    codes |= _levels(0xEC, "MEMORY_ATTRIBUTE_NONCACHEABLE_")  # kbase only
    return codes


#: Exception types AS_FAULTSTATUS reports (MMU faults), ref §3.7 table.
MMU_EXCEPTION_TYPES = MappingProxyType(_mmu_codes())

#: Exception types GPU_FAULTSTATUS reports, ref §1.7 table.
GPU_EXCEPTION_TYPES = MappingProxyType({
    0x00: "OK",
    0x80: "GPU_BUS_FAULT",
    0x88: "GPU_SHAREABILITY_FAULT",
    0x89: "SYSTEM_SHAREABILITY_FAULT",
    0x8A: "GPU_CACHEABILITY_FAULT",
})

#: CS-level codes of the shared namespace (panthor enum drm_panthor_exception_type), ref §3.7.
CS_EXCEPTION_TYPES = MappingProxyType({
    0x00: "OK",
    0x04: "TERMINATED",
    0x05: "KABOOM",
    0x06: "EUREKA",
    0x08: "ACTIVE",
    0x0F: "CS_RES_TERM",
    0x3F: "MAX_NON_FAULT",
    0x40: "CS_CONFIG_FAULT",
    0x41: "CS_UNRECOVERABLE",
    0x44: "CS_ENDPOINT_FAULT",
    0x48: "CS_BUS_FAULT",
    0x49: "CS_INSTR_INVALID",
    0x4A: "CS_CALL_STACK_OVERFLOW",
    0x4B: "CS_INHERIT_FAULT",
    0x50: "INSTR_INVALID_PC",
    0x51: "INSTR_INVALID_ENC",
    0x55: "INSTR_BARRIER_FAULT",
    0x58: "DATA_INVALID_FAULT",
    0x59: "TILE_RANGE_FAULT",
    0x5A: "ADDR_RANGE_FAULT",
    0x5B: "IMPRECISE_FAULT",
    0x60: "OOM",
    0x68: "CSF_FW_INTERNAL_ERROR",
    0x69: "CSF_RES_EVICTION_TIMEOUT",
    # kbase reserves 0x70..0x72 for driver-generated CS errors (ref §3.7).
    0x70: "SW_FAULT_0",
    0x71: "SW_FAULT_1",
    0x72: "SW_FAULT_2",
    0x80: "GPU_BUS_FAULT",
    0x88: "GPU_SHAREABILITY_FAULT",
    0x89: "SYS_SHAREABILITY_FAULT",
    0x8A: "GPU_CACHEABILITY_FAULT",
})

#: The whole namespace: CS codes, GPU codes (kbase spelling wins for 0x89) and MMU codes.
EXCEPTION_TYPES = MappingProxyType({**CS_EXCEPTION_TYPES, **GPU_EXCEPTION_TYPES, **MMU_EXCEPTION_TYPES})


def exception_name(code: int) -> str:
    """Name of an exception-type code, or ``<unknown 0x..>`` if the reference defines none.

    Raises:
        InvalidArgument: ``code`` is not an 8-bit value.
    """
    if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 0xFF:
        raise InvalidArgument(f"exception type {code!r} is not an 8-bit code", value=None)
    return EXCEPTION_TYPES.get(code, f"<unknown {code:#04x}>")


def is_fault(code: int) -> bool:
    """True for codes above ``MAX_NON_FAULT`` (0x3F), as panthor ``panthor_exception_is_fault``."""
    exception_name(code)  # validates the code
    return code > MAX_NON_FAULT
