"""USER page (0x10000-0x10FFF): LATEST_FLUSH, the only page userspace may map (read-only).

On CSF the cache-flush ID lives here, not at GPU_CONTROL 0x038 (that JM register is declared as
``gpu_control.LATEST_FLUSH_JM`` and is not used on G610). A job whose recorded flush ID is older
than LATEST_FLUSH needs no flush; 0 means "always flush", which is why panthor maps a dummy page
holding 1 while the GPU is suspended. Source: mali-csf-registers-and-mmu.md §0/§1.11 (panthor
``panthor_regs.h``, ``panthor_device.c``).
"""

from __future__ import annotations

from .model import Access, Field, Register, collect

BLOCK = "USER"
BASE = 0x10000
SIZE = 0x1000

#: Value panthor's dummy USER page holds while the GPU is suspended (0 would mean "always flush").
SUSPENDED_FLUSH_ID = 1

LATEST_FLUSH = Register(
    "LATEST_FLUSH", 0x10000, Access.RO, "current cache-flush ID (CSF location)",
    (Field("FLUSH_ID", 31, 0, "flush ID; 0 = always flush"),), None, BLOCK, 32,
    "ref §0/§1.11; panthor panthor_regs.h, panthor_device.c",
)

REGISTERS, VIEWS = collect(globals(), BLOCK)
