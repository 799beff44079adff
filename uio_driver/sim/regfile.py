"""The simulator's own register-file machinery.

Each simulated block declares its registers as :class:`Register` entries (name, absolute offset in
the GPU window, access mode, reset value, optional hooks) and adds them to the one
:class:`RegisterFile` of the window. The register file enforces the access modes of the reference
(``mali-csf-registers-and-mmu.md`` "Conventions" and §7 "Register file semantics"):

* **RO**: reads return the value (or the read hook's); writes are a protocol violation and ignored;
* **RW**: reads return the stored value; writes store it (after the optional validator accepts it);
* **WO**: reads return 0; writes call the write hook;
* **W1C**: reads return 0; writes call the write hook, which clears bits elsewhere;
* an offset no block claims is "undefined": reads return 0, writes are ignored, both are violations
  (unless a fallback decoder — the doorbell and USER pages — claims it).

Violations go to a reporter callback; the top-level model (:class:`uio_driver.sim.gpu.SimGpu`) raises
:class:`~uio_driver.errors.SimProtocolError` in strict mode or records them otherwise.

This module deliberately shares nothing with the driver's register database (``uio_driver.regs``):
the two are written independently from the reference so each checks the other.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import InvalidArgument

U32_MASK = 0xFFFFFFFF

ReadHook = Callable[[], int]
WriteHook = Callable[[int], None]
#: What a validator returns: None = accept; a reason (a "bad-value" violation); or (kind, reason).
Refusal = str | tuple[str, str] | None
Validator = Callable[[int], Refusal]


class Access(enum.Enum):
    """Access mode of a register, as the reference tables spell it."""

    RO = "RO"
    RW = "RW"
    WO = "WO"
    W1C = "W1C"


class Reporter(Protocol):
    """Receives protocol violations (implemented by ``SimGpu.violation``)."""

    def __call__(self, kind: str, message: str, *, register: str | None = None,
                 offset: int | None = None, value: int | None = None) -> None: ...


@dataclass(eq=False)
class Register:
    """One 32-bit register of the simulated window.

    Attributes:
        name: register name from the reference (e.g. ``"GPU_IRQ_MASK"``, ``"AS3_TRANSTAB_LO"``).
        offset: absolute byte offset in the GPU window.
        access: access mode.
        reset: value after power-on / reset (RW and plain RO registers).
        on_read: computes the value on every read (dynamic registers); overrides ``value``.
        on_write: called after a write was accepted (and, for RW, stored).
        validate: called before a write; a returned reason (or ``(kind, reason)``) makes the write a
            violation of that kind ("bad-value" by default) and nothing is stored or triggered.
        value: current stored value.
    """

    name: str
    offset: int
    access: Access
    reset: int = 0
    on_read: ReadHook | None = None
    on_write: WriteHook | None = None
    validate: Validator | None = None
    value: int = field(init=False)

    def __post_init__(self) -> None:
        if self.offset < 0 or self.offset & 3:
            raise InvalidArgument(f"register {self.name}: offset {self.offset:#x} is not 4-byte aligned")
        if not 0 <= self.reset <= U32_MASK:
            raise InvalidArgument(f"register {self.name}: reset value {self.reset:#x} does not fit 32 bits")
        self.value = self.reset

    def read(self) -> int:
        """The value a 32-bit load returns (no side effects)."""
        if self.on_read is not None:
            return self.on_read() & U32_MASK
        if self.access in (Access.WO, Access.W1C):
            return 0
        return self.value

    def reset_value(self) -> None:
        """Return the stored value to its reset value (hooks are not called)."""
        self.value = self.reset


class RegisterFile:
    """All registers of the GPU window by offset, with access-mode enforcement.

    Args:
        report: where violations go.
        fallback_read: decoder for offsets no register claims; returns None if it does not
            decode the offset either (then the access is "undefined").
        fallback_write: same for writes; returns False if it does not decode the offset.
        describe: names the block an undefined offset falls in (used in messages).
    """

    def __init__(
        self,
        report: Reporter,
        *,
        fallback_read: Callable[[int], int | None] | None = None,
        fallback_write: Callable[[int, int], bool] | None = None,
        describe: Callable[[int], str] | None = None,
    ) -> None:
        self._report = report
        self._regs: dict[int, Register] = {}
        self._by_name: dict[str, Register] = {}
        self._fallback_read = fallback_read
        self._fallback_write = fallback_write
        self._describe = describe or (lambda off: "GPU window")

    # -- declaration ---------------------------------------------------------------------------

    def add(self, reg: Register) -> Register:
        """Add ``reg``; two registers may not share an offset or a name."""
        if reg.offset in self._regs:
            raise InvalidArgument(
                f"register {reg.name}: offset {reg.offset:#x} already used by {self._regs[reg.offset].name}")
        if reg.name in self._by_name:
            raise InvalidArgument(f"register name {reg.name} declared twice")
        self._regs[reg.offset] = reg
        self._by_name[reg.name] = reg
        return reg

    def extend(self, regs: Iterable[Register]) -> None:
        for reg in regs:
            self.add(reg)

    # -- lookup --------------------------------------------------------------------------------

    def at(self, offset: int) -> Register | None:
        """The register at ``offset`` or None."""
        return self._regs.get(offset)

    def named(self, name: str) -> Register:
        """The register called ``name``.

        Raises:
            InvalidArgument: no register has that name.
        """
        try:
            return self._by_name[name]
        except KeyError:
            raise InvalidArgument(f"simulated GPU has no register named {name!r}") from None

    def __iter__(self) -> Iterator[Register]:
        return iter(sorted(self._regs.values(), key=lambda r: r.offset))

    def __len__(self) -> int:
        return len(self._regs)

    # -- access ----------------------------------------------------------------------------------

    def read(self, offset: int) -> int:
        """Perform a 32-bit load at ``offset`` (already checked for alignment and range)."""
        reg = self._regs.get(offset)
        if reg is not None:
            return reg.read()
        if self._fallback_read is not None:
            value = self._fallback_read(offset)
            if value is not None:
                return value
        self._report("undefined",
                     f"read of undefined offset {offset:#x} ({self._describe(offset)}) returns 0",
                     offset=offset)
        return 0

    def write(self, offset: int, value: int) -> None:
        """Perform a 32-bit store of ``value`` at ``offset`` (already range-checked)."""
        reg = self._regs.get(offset)
        if reg is None:
            if self._fallback_write is not None and self._fallback_write(offset, value):
                return
            self._report("undefined",
                         f"write of {value:#x} to undefined offset {offset:#x} "
                         f"({self._describe(offset)}) ignored", offset=offset, value=value)
            return
        if reg.access is Access.RO:
            self._report("ro-write", f"write of {value:#x} to read-only {reg.name} ({offset:#x}) ignored",
                         register=reg.name, offset=offset, value=value)
            return
        if reg.validate is not None:
            refusal = reg.validate(value)
            if refusal is not None:
                kind, reason = ("bad-value", refusal) if isinstance(refusal, str) else refusal
                self._report(kind, f"{reg.name} ({offset:#x}) = {value:#x} refused: {reason}",
                             register=reg.name, offset=offset, value=value)
                return
        if reg.access is Access.RW:
            reg.value = value
        if reg.on_write is not None:
            reg.on_write(value)


def split64(name: str, offset: int, access: Access, getter: Callable[[], int]) -> list[Register]:
    """Two 32-bit registers ``<name>_LO``/``<name>_HI`` reading the halves of a 64-bit value."""
    return [
        Register(f"{name}_LO", offset, access, on_read=lambda: getter() & U32_MASK),
        Register(f"{name}_HI", offset + 4, access, on_read=lambda: (getter() >> 32) & U32_MASK),
    ]
