"""The driver's register accessor: read and write registers by object or name over an MmioRegion.

Used on every driver register access, so the hot path is one dictionary lookup (Register objects
hash by identity; exact names are keys too) followed by the region's bound ``read32``/``write32``.
Access-mode checks are folded into which dictionary a register appears in: read-only registers are
simply absent from the write table, so refusing a write costs nothing on the fast path.
Everything unusual (case-insensitive names, 64-bit views, refusals) goes through a slow path.
"""

from __future__ import annotations

from ..errors import AccessDenied, InvalidArgument
from ..platform.base import MmioRegion
from .model import DecodedRegister, Register
from .registry import REGISTERS, VIEWS, is_known, lookup_name, lookup_offset

RegisterRef = Register | str

_WRITE_ONLY_NOTE = "write-only register: the value read is not meaningful"


def _pairs() -> dict[str, tuple[Register, Register]]:
    """``{LO name: (lo, hi)}`` for every ``<X>_LO`` whose ``<X>_HI`` sits at +4."""
    by_name = {r.name: r for r in REGISTERS}
    out: dict[str, tuple[Register, Register]] = {}
    for reg in REGISTERS:
        if reg.name.endswith("_LO"):
            hi = by_name.get(reg.name[:-3] + "_HI")
            if hi is not None and hi.offset == reg.offset + 4:
                out[reg.name] = (reg, hi)
    return out


_PAIRS = _pairs()


class RegisterAccess:
    """Named register access over one :class:`~uio_driver.platform.base.MmioRegion` (the GPU window).

    ``reg`` arguments are a :class:`Register` from this database or its name (case-insensitive).

    Args:
        mmio: the GPU register window (offsets as in the register database).
    """

    def __init__(self, mmio: MmioRegion) -> None:
        self.mmio = mmio
        self._read32 = mmio.read32
        self._write32 = mmio.write32
        self._roff: dict[RegisterRef, int] = {}
        self._woff: dict[RegisterRef, int] = {}
        self._pair_roff: dict[RegisterRef, int] = {}
        self._pair_woff: dict[RegisterRef, int] = {}
        for reg in REGISTERS:
            self._add(self._roff, self._woff, reg, reg.access.writable)
        for lo, hi in _PAIRS.values():
            self._add(self._pair_roff, self._pair_woff, lo, lo.access.writable and hi.access.writable)
        for view in VIEWS:
            self._add(self._pair_roff, self._pair_woff, view, view.access.writable)

    @staticmethod
    def _add(rtable: dict[RegisterRef, int], wtable: dict[RegisterRef, int], reg: Register,
             writable: bool) -> None:
        for key in (reg, reg.name):
            rtable[key] = reg.offset
            if writable:
                wtable[key] = reg.offset

    # -- 32-bit access ---------------------------------------------------------------------------

    def read(self, reg: RegisterRef) -> int:
        """Read a register (a 64-bit view is read tear-free as a pair, like :meth:`read64`).

        Reading a write-only register is allowed and returns whatever the hardware returns.

        Raises:
            InvalidArgument: unknown register.
        """
        try:
            offset = self._roff[reg]
        except (KeyError, TypeError):
            return self._read_slow(reg)
        return self._read32(offset)

    def write(self, reg: RegisterRef, value: int) -> None:
        """Write a register (a 64-bit view is written LO then HI, like :meth:`write64`).

        Raises:
            AccessDenied: the register is read-only (nothing is written).
            InvalidArgument: unknown register or ``value`` does not fit (nothing is written).
        """
        try:
            offset = self._woff[reg]
        except (KeyError, TypeError):
            self._write_slow(reg, value)
            return
        try:
            self._write32(offset, value)
        except InvalidArgument as err:
            raise self._value_error(lookup_offset(offset), value, err) from None

    # -- 64-bit pairs ----------------------------------------------------------------------------

    def read64(self, lo_reg: RegisterRef) -> int:
        """Read a ``<X>_LO``/``<X>_HI`` pair (or its 64-bit view ``<X>``) hi-lo-hi, tear-free.

        Raises:
            InvalidArgument: ``lo_reg`` is not the ``_LO`` half of a pair (with ``_HI`` at +4).
        """
        try:
            offset = self._pair_roff[lo_reg]
        except (KeyError, TypeError):
            offset = self._pair_of(lo_reg).offset
        return self.mmio.read64(offset)

    def write64(self, lo_reg: RegisterRef, value: int) -> None:
        """Write a ``<X>_LO``/``<X>_HI`` pair, LO then HI (panthor's order).

        Raises:
            AccessDenied: either half is read-only (nothing is written).
            InvalidArgument: not a pair, or ``value`` does not fit 64 bits (nothing is written).
        """
        try:
            offset = self._pair_woff[lo_reg]
        except (KeyError, TypeError):
            reg = self._pair_of(lo_reg)
            self._refuse_readonly(reg, value)
            offset = reg.offset
        try:
            self.mmio.write64(offset, value)
        except InvalidArgument as err:
            raise self._value_error(self._pair_of(lo_reg), value, err) from None

    # -- field-level helpers ---------------------------------------------------------------------

    def update(self, reg: RegisterRef, **fields: int | str) -> int:
        """Read-modify-write the named fields of a readable-and-writable register.

        The new value is computed (and validated) before anything is written.

        Returns:
            The value written.

        Raises:
            AccessDenied: the register is RO, WO or W1C (no meaningful read-modify-write).
            InvalidArgument: unknown register/field or a field value that does not fit.
        """
        r = self.resolve(reg)
        if not (r.access.readable and r.access.writable):
            raise AccessDenied(
                f"{r.name} is {r.access.value}: read-modify-write of "
                f"{', '.join(fields) or 'nothing'} refused",
                register=r.name, offset=r.offset,
            )
        if r.width == 64:
            value = r.update_value(self.read64(r), **fields)
            self.write64(r, value)
        else:
            value = r.update_value(self._read32(r.offset), **fields)
            self._write32(r.offset, value)
        return value

    def read_decoded(self, reg: RegisterRef) -> DecodedRegister:
        """Read a register and split it into fields (notes say when the register is write-only).

        Raises:
            InvalidArgument: unknown register.
        """
        r = self.resolve(reg)
        decoded = r.decode(self.read64(r) if r.width == 64 else self._read32(r.offset))
        if not r.access.readable:
            decoded.notes = (*decoded.notes, _WRITE_ONLY_NOTE)
        return decoded

    @staticmethod
    def resolve(reg: RegisterRef) -> Register:
        """The database Register for a Register or a name.

        Raises:
            InvalidArgument: unknown name, or a Register that is not an MMIO register/view of this
                database (e.g. a layout such as ``mmu.MEMATTR_BYTE``).
        """
        if isinstance(reg, Register):
            if not is_known(reg):
                raise InvalidArgument(f"{reg.name} is not an MMIO register of the GPU window",
                                      register=reg.name)
            return reg
        if isinstance(reg, str):
            return lookup_name(reg)
        raise InvalidArgument(f"register reference must be a Register or a name, not {reg!r}")

    # -- slow paths ------------------------------------------------------------------------------

    def _read_slow(self, reg: RegisterRef) -> int:
        r = self.resolve(reg)
        return self.read64(r) if r.width == 64 else self._read32(r.offset)

    def _write_slow(self, reg: RegisterRef, value: int) -> None:
        r = self.resolve(reg)
        self._refuse_readonly(r, value)
        if r.width == 64:
            self.write64(r, value)
            return
        try:
            self._write32(r.offset, value)
        except InvalidArgument as err:
            raise self._value_error(r, value, err) from None

    def _pair_of(self, reg: RegisterRef) -> Register:
        r = self.resolve(reg)
        if r.width == 64 or r.name in _PAIRS:
            return r
        raise InvalidArgument(
            f"{r.name} is not the _LO half of a 64-bit register pair (needs {r.name.removesuffix('_LO')}_HI "
            f"at {r.offset + 4:#x})", register=r.name, offset=r.offset,
        )

    @staticmethod
    def _refuse_readonly(r: Register, value: object) -> None:
        if not r.access.writable:
            shown = f"{value:#x}" if isinstance(value, int) else repr(value)
            raise AccessDenied(f"{r.name} is read-only: write of {shown} refused", register=r.name,
                               offset=r.offset, value=value if isinstance(value,
                                                                          int) and value >= 0 else None)

    @staticmethod
    def _value_error(r: Register | None, value: object, err: InvalidArgument) -> InvalidArgument:
        name = r.name if r is not None else "register"
        width = r.width if r is not None else 32
        return InvalidArgument(f"{name}: value {value!r} does not fit {width} bits ({err.message})",
                               register=r.name if r is not None else None, offset=err.offset,
                               value=value if isinstance(value, int) and value >= 0 else None)
