"""DOORBELL pages: doorbell *i* at ``0x80000 + i*0x10000``, i = 0..23 (one 64 KiB page each).

Writing 1 at offset 0 of page *i* rings doorbell *i*; doorbell 0 is the global (GLB) doorbell that
panthor rings after every GLB request or CSG doorbell toggle, doorbells 1..23 serve user command-stream
queues. Source: mali-csf-registers-and-mmu.md §0 and §1.11 (panthor ``panthor_regs.h``
``CSF_DOORBELL(i)``, ``panthor_fw.c``; kbase ``CSF_NUM_DOORBELL = 24``). 24 pages fill the RK3588
window: 0x80000 + 24 * 0x10000 = 0x200000 [inferred in the reference].
"""

from __future__ import annotations

from ..errors import InvalidArgument
from .model import Access, Field, Register, collect

BLOCK = "DOORBELL"
BASE = 0x80000
#: Bytes per doorbell page.
STRIDE = 0x10000
#: Doorbells in the RK3588 2 MiB window (older kbase CSF_NUM_DOORBELL).
NUM_DOORBELLS = 24
SIZE = NUM_DOORBELLS * STRIDE
#: The global-interface doorbell.
GLB_DOORBELL = 0
#: Value panthor writes to ring a doorbell.
DOORBELL_RING = 1

P_DOORBELL = "ref §0/§1.11; panthor panthor_regs.h CSF_DOORBELL(i), panthor_fw.c; kbase CSF_NUM_DOORBELL"

_FIELDS = (Field("RING", 0, 0, "write 1 to ring (the simulator treats any write as a ring)"),)


def _check_index(index: int) -> None:
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < NUM_DOORBELLS:
        raise InvalidArgument(f"doorbell {index!r} outside 0..{NUM_DOORBELLS - 1}")


def doorbell_offset(index: int) -> int:
    """Byte offset of doorbell ``index`` in the GPU window.

    Raises:
        InvalidArgument: ``index`` outside 0..23.
    """
    _check_index(index)
    return BASE + index * STRIDE


def _doorbell(index: int) -> Register:
    role = "global (GLB) doorbell" if index == GLB_DOORBELL else "command-stream queue doorbell"
    return Register(f"DOORBELL{index}", BASE + index * STRIDE, Access.WO, f"doorbell {index}: {role}",
                    _FIELDS,
                    None, BLOCK, 32, P_DOORBELL)


_DOORBELLS = tuple(_doorbell(i) for i in range(NUM_DOORBELLS))
globals().update({reg.name: reg for reg in _DOORBELLS})


def __getattr__(name: str) -> Register:
    # Only reached for names not generated above; typed so mypy accepts doorbell.DOORBELL<n>.
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def doorbell_register(index: int) -> Register:
    """The DOORBELL<index> register.

    Raises:
        InvalidArgument: ``index`` outside 0..23.
    """
    _check_index(index)
    return _DOORBELLS[index]


REGISTERS, VIEWS = collect(globals(), BLOCK)
