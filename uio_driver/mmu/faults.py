"""MMU faults: AS_FAULTSTATUS / AS_FAULTADDRESS decoding into :class:`MmuFault` records.

mali-csf-registers-and-mmu.md §3.7: EXCEPTION_TYPE bits 7:0 (e.g. ``0xC3`` TRANSLATION_FAULT_3),
ACCESS_TYPE bits 9:8 (0 ATOMIC, 1 EXECUTE, 2 READ, 3 WRITE), bit 10 decoder (1) vs slave (0) fault —
meaningful for bus faults only — and SOURCE_ID bits 31:16. Example: ``0x000003C3`` is a write that
found no page at level 3.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidArgument
from ..regs import exceptions
from ..regs.gpu_fields import AccessType

#: Exception types that are bus faults while walking tables (kbase TRANSTAB_BUS_FAULT_0..3), the
#: only ones for which the decoder/slave bit means something.
_BUS_FAULTS = range(0xD0, 0xD4)


@dataclass(frozen=True)
class MmuFault:
    """One MMU fault as read from an address space's fault registers.

    Attributes:
        as_nr: address space that faulted.
        status: raw AS_FAULTSTATUS.
        address: AS_FAULTADDRESS (the faulting GPU VA).
        exception_type: FAULTSTATUS[7:0].
        exception_name: its name (``TRANSLATION_FAULT_3`` ...), ``<unknown 0x..>`` if undefined.
        access_type: FAULTSTATUS[9:8].
        access_name: ``ATOMIC``, ``EXECUTE``, ``READ`` or ``WRITE``.
        decoder_fault: FAULTSTATUS[10] (bus faults: True = decoder fault, False = slave fault).
        source_id: FAULTSTATUS[31:16], the internal requester.
        vm_id: id of the VM bound to the AS when the fault was handled (None if none).
        time: platform time of handling (seconds).
    """

    as_nr: int
    status: int
    address: int
    exception_type: int
    exception_name: str
    access_type: int
    access_name: str
    decoder_fault: bool
    source_id: int
    vm_id: int | None = None
    time: float = 0.0

    @property
    def is_bus_fault(self) -> bool:
        return self.exception_type in _BUS_FAULTS

    @property
    def level(self) -> int | None:
        """Table level of a per-level MMU fault (kbase: bits 2:0 = level), else None."""
        if self.exception_type in exceptions.MMU_EXCEPTION_TYPES and self.exception_type not in (0xC4, 0xC7):
            return self.exception_type & 0b11
        return None

    def describe(self) -> str:
        """One line, panthor style: type, access, address, source (and decoder/slave for bus faults)."""
        text = (f"AS{self.as_nr}: {self.exception_name} ({self.exception_type:#04x}) on {self.access_name} "
                f"at VA {self.address:#x}, source {self.source_id:#x}, FAULTSTATUS {self.status:#010x}")
        if self.is_bus_fault:
            text += ", DECODER FAULT" if self.decoder_fault else ", SLAVE FAULT"
        return text

    def to_dict(self) -> dict[str, object]:
        return {"as": self.as_nr, "status": self.status, "address": self.address,
                "exception_type": self.exception_type, "exception_name": self.exception_name,
                "access_type": self.access_type, "access_name": self.access_name,
                "decoder_fault": self.decoder_fault, "source_id": self.source_id, "vm_id": self.vm_id,
                "time": self.time}


def decode_fault(as_nr: int, status: int, address: int, *, vm_id: int | None = None,
                 time: float = 0.0) -> MmuFault:
    """Decode AS_FAULTSTATUS and AS_FAULTADDRESS of address space ``as_nr``.

    Raises:
        InvalidArgument: ``status`` not 32-bit or ``address`` not 64-bit.
    """
    for label, v, bits in (("AS_FAULTSTATUS", status, 32), ("AS_FAULTADDRESS", address, 64)):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 1 << bits:
            raise InvalidArgument(f"AS{as_nr} {label} {v!r} does not fit {bits} bits", register=label)
    exc = status & 0xFF
    access = (status >> 8) & 0x3
    return MmuFault(as_nr=as_nr, status=status, address=address, exception_type=exc,
                    exception_name=exceptions.exception_name(exc), access_type=access,
                    access_name=AccessType(access).name, decoder_fault=bool(status >> 10 & 1),
                    source_id=status >> 16, vm_id=vm_id, time=time)
