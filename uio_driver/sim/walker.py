"""The simulated MMU's page-table walker: descriptor decoding, the 4-level AArch64 walk, permissions.

Written from ``mali-csf-registers-and-mmu.md`` (never from the driver's ``uio_driver.mmu``/``regs``,
so each side checks the other):

* §3.5 TRANSCFG: ADRMODE 3:0 (1 UNMAPPED, 2 IDENTITY, 6 AARCH64_4K; 0 LEGACY and 8 AARCH64_64K are
  not modelled), INA_BITS 10:6 (valid input bits = ``min(HW VA bits, 55 - INA_BITS)``, Tyr comment),
  DISABLE_AF_FAULT bit 34, WXN bit 35;
* §3.6 MEMATTR: byte *i* selected by AttrIndx; memory type bits 7:6 = 3 means FAULT;
* §3.7 FAULTSTATUS exception codes: bits 7:6 = 11, class in 5:3, level in 2:0;
* §4.1 geometry: 4 KiB granule, 9 VA bits per level, ``idx(level) = (VA >> (39 - 9*level)) & 0x1FF``;
* §4.2 descriptor types: ``x0`` invalid, ``11`` table (L0..L2) or page (L3), ``01`` block at L1/L2,
  invalid at L0 and (reserved, treated as invalid) at L3;
* §4.3 leaf bits: AttrIndx 4:2, NS 5, AP[1] 6, AP[2] 7 (read-only), SH 9:8, AF 10, nG 11,
  output address 47:12, Contiguous 52, PXN 53, UXN 54 (kbase's execute-never bit).

Fault priority follows the Arm VMSA order (address size, translation, access flag, then
permission); Mali's memory-attribute fault is checked after the access flag [inferred].

It also holds the records shared by the MMU model and its callers (:class:`SimTranslation`,
:class:`SimFault`, :class:`SimGpuFault`, :class:`InjectedFault`) and the argument checks of the
GPU access API.

Everything here is pure: :func:`walk` reads descriptors from a :class:`SimMemory` and returns a
:class:`SimTranslation` or a :class:`WalkFault`; it never touches registers. The MMU model
(:mod:`uio_driver.sim.mmu`) latches faults, records the :attr:`WalkResult.problems` as protocol
violations and caches translations in the TLB (:mod:`uio_driver.sim.tlb`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import BadAddress, HardwareFault, InvalidArgument
from .memory import SimMemory

# -- TRANSCFG (§3.5) -------------------------------------------------------------------------------
ADRMODE_LEGACY = 0
ADRMODE_UNMAPPED = 1
ADRMODE_IDENTITY = 2
ADRMODE_AARCH64_4K = 6
ADRMODE_AARCH64_64K = 8
ADRMODE_NAMES = {0: "LEGACY", 1: "UNMAPPED", 2: "IDENTITY", 6: "AARCH64_4K", 8: "AARCH64_64K"}
TRANSCFG_INA_BITS_SHIFT = 6
TRANSCFG_INA_BITS_MASK = 0x1F  # 5-bit field [inferred width, §3.5]
TRANSCFG_DISABLE_AF_FAULT = 1 << 34
TRANSCFG_WXN = 1 << 35
#: Input-size arithmetic of the Tyr driver comment (§3.5): bits = min(HW VA bits, 55 - INA_BITS).
INA_BITS_BASE = 55

# -- FAULTSTATUS (§3.7) ----------------------------------------------------------------------------
ACCESS_ATOMIC, ACCESS_EXECUTE, ACCESS_READ, ACCESS_WRITE = 0, 1, 2, 3
ACCESS_TYPES = {"atomic": ACCESS_ATOMIC, "execute": ACCESS_EXECUTE, "read": ACCESS_READ,
                "write": ACCESS_WRITE}
ACCESS_NAMES = {code: name for name, code in ACCESS_TYPES.items()}
FAULTSTATUS_ACCESS_SHIFT = 8
#: Bit 10 "decoder vs slave fault" for bus faults (panthor prints DECODER FAULT when set, §3.7).
FAULTSTATUS_DECODER_FAULT = 1 << 10
FAULTSTATUS_SOURCE_SHIFT = 16

TRANSLATION_FAULT = 0xC0  # + level 0..4
TRANSLATION_FAULT_IDENTITY = 0xC7
PERMISSION_FAULT = 0xC8  # + level
TRANSTAB_BUS_FAULT = 0xD0  # + level
ACCESS_FLAG_FAULT = 0xD8  # + level
ADDRESS_SIZE_FAULT_IN = 0xE0  # + level
ADDRESS_SIZE_FAULT_OUT = 0xE4  # + level
MEMORY_ATTRIBUTE_FAULT = 0xE8  # + level
MEMORY_ATTRIBUTE_NONCACHEABLE = 0xEC  # + level (kbase only)
#: GPU_FAULTSTATUS exception type of a bus error on a data access, and the fields that go with it:
#: ADDRESS_VALID bit 10, JASID_VALID bit 11, JASID 15:12 (§1.7).
GPU_BUS_FAULT = 0x80
GPU_FAULT_ADDRESS_VALID = 1 << 10
GPU_FAULT_JASID_VALID = 1 << 11
GPU_FAULT_JASID_SHIFT = 12
_U64_LIMIT = 1 << 64

#: The simulator's own table of MMU exception types (§3.7): code -> name.
MMU_EXCEPTION_NAMES: dict[int, str] = {
    **{TRANSLATION_FAULT + n: f"TRANSLATION_FAULT_{n}" for n in range(5)},
    TRANSLATION_FAULT_IDENTITY: "TRANSLATION_FAULT_IDENTITY",
    **{PERMISSION_FAULT + n: f"PERMISSION_FAULT_{n}" for n in range(4)},
    **{TRANSTAB_BUS_FAULT + n: f"TRANSTAB_BUS_FAULT_{n}" for n in range(4)},
    **{ACCESS_FLAG_FAULT + n: f"ACCESS_FLAG_{n}" for n in range(4)},
    **{ADDRESS_SIZE_FAULT_IN + n: f"ADDRESS_SIZE_FAULT_IN{n}" for n in range(4)},
    **{ADDRESS_SIZE_FAULT_OUT + n: f"ADDRESS_SIZE_FAULT_OUT{n}" for n in range(4)},
    **{MEMORY_ATTRIBUTE_FAULT + n: f"MEMORY_ATTRIBUTE_FAULT_{n}" for n in range(4)},
    **{MEMORY_ATTRIBUTE_NONCACHEABLE + n: f"MEMORY_ATTRIBUTE_NONCACHEABLE_{n}" for n in range(4)},
}

# -- descriptors (§4.2, §4.3) ----------------------------------------------------------------------
LEVELS = 4
ENTRIES_PER_TABLE = 512
DESC_VALID = 1 << 0
DESC_TYPE = 1 << 1  # 1 = table (L0..L2) / page (L3); 0 = block
ATTR_INDEX_SHIFT, ATTR_INDEX_MASK = 2, 0x7
DESC_NS = 1 << 5
DESC_AP_UNPRIV = 1 << 6  # AP[1]
DESC_AP_RDONLY = 1 << 7  # AP[2]
SH_SHIFT, SH_MASK = 8, 0x3
DESC_AF = 1 << 10
DESC_NG = 1 << 11
DESC_CONTIGUOUS = 1 << 52
DESC_PXN = 1 << 53
DESC_UXN = 1 << 54
#: Output address bits 47:12 (io-pgtable ARM_LPAE_PTE_ADDR_MASK). Bits 51:48 are RES0 with a 48-bit
#: output format; the walker counts them as address bits, so a stray one is an address-size fault
#: instead of silently aliasing a low address [inferred].
DESC_ADDR_MASK = ((1 << 52) - 1) & ~0xFFF
#: Table-descriptor attributes APTable 62:61, UXNTable 60, PXNTable 59, NSTable 63: io-pgtable writes
#: none of them (§4.2) and their effect on Mali is not documented, so the walker flags them.
TABLE_ATTR_MASK = 0x1F << 59
#: TRANSTAB holds the level-0 table PA; the table is one 4 KiB page (§3.2, §4.1).
TRANSTAB_LOW_MASK = 0xFFF


def level_shift(level: int) -> int:
    """log2 of the VA range one entry at ``level`` maps (L0 39, L1 30, L2 21, L3 12; §4.1)."""
    return 39 - 9 * level


def table_index(va: int, level: int) -> int:
    """Index into the level-``level`` table for ``va``: ``(VA >> (39 - 9*level)) & 0x1FF`` (§4.1)."""
    return (va >> level_shift(level)) & (ENTRIES_PER_TABLE - 1)


def exception_name(code: int) -> str:
    """Name of an exception type code (MMU table of §3.7 plus GPU_BUS_FAULT of §1.7)."""
    if code == GPU_BUS_FAULT:
        return "GPU_BUS_FAULT"
    return MMU_EXCEPTION_NAMES.get(code, f"UNKNOWN_{code:#04x}")


@dataclass(frozen=True)
class Descriptor:
    """One 64-bit page-table descriptor decoded for its level (§4.2, §4.3).

    Attributes:
        value: the raw descriptor.
        level: table level it was read from (0..3).
        kind: "invalid" (bit 0 clear), "table", "block", "page", or "reserved" (``01`` at L0 or L3).
        address: output/next-table address, bits 51:12 (see :data:`DESC_ADDR_MASK`).
        attr_index: AttrIndx, the MEMATTR byte a leaf selects.
        ns: NS bit. ap_unpriv: AP[1]. read_only: AP[2].
        shareability: SH (0 non-shareable, 2 outer, 3 inner).
        access_flag: AF. not_global: nG. contiguous: Contiguous hint. pxn/uxn: execute-never bits.
    """

    value: int
    level: int
    kind: str
    address: int
    attr_index: int
    ns: bool
    ap_unpriv: bool
    read_only: bool
    shareability: int
    access_flag: bool
    not_global: bool
    contiguous: bool
    pxn: bool
    uxn: bool

    @property
    def is_leaf(self) -> bool:
        return self.kind in ("block", "page")


def decode_descriptor(value: int, level: int) -> Descriptor:
    """Decode ``value`` as a descriptor read at ``level`` (0..3)."""
    if not value & DESC_VALID:
        kind = "invalid"
    elif value & DESC_TYPE:
        kind = "page" if level == 3 else "table"
    else:
        kind = "block" if level in (1, 2) else "reserved"
    return Descriptor(
        value=value, level=level, kind=kind, address=value & DESC_ADDR_MASK,
        attr_index=(value >> ATTR_INDEX_SHIFT) & ATTR_INDEX_MASK, ns=bool(value & DESC_NS),
        ap_unpriv=bool(value & DESC_AP_UNPRIV), read_only=bool(value & DESC_AP_RDONLY),
        shareability=(value >> SH_SHIFT) & SH_MASK, access_flag=bool(value & DESC_AF),
        not_global=bool(value & DESC_NG), contiguous=bool(value & DESC_CONTIGUOUS),
        pxn=bool(value & DESC_PXN), uxn=bool(value & DESC_UXN))


@dataclass(frozen=True)
class DescriptorRead:
    """One descriptor the walker read: its level, physical address and value."""

    level: int
    pa: int
    value: int


@dataclass(frozen=True)
class SimTranslation:
    """A successful translation of ``va`` (or, in the TLB, of the leaf's first byte).

    Attributes:
        va: the translated address. pa: where it lands.
        level: leaf level (3 page, 2 2 MiB block, 1 1 GiB block); None in IDENTITY mode (no walk).
        va_base/pa_base/size: the whole range the leaf maps (``pa = pa_base + va - va_base``).
        read_only: AP[2] set (writes and atomics fault). executable: no XN (and not WXN-writable).
        attr_index: AttrIndx. memattr: the MEMATTR byte it selects. shareability: SH.
        descriptors: every descriptor read on the way, level 0 first (empty in IDENTITY mode).
    """

    va: int
    pa: int
    level: int | None
    va_base: int
    pa_base: int
    size: int
    read_only: bool
    executable: bool
    attr_index: int
    memattr: int
    shareability: int
    descriptors: tuple[DescriptorRead, ...] = ()

    def at(self, va: int) -> int:
        """Physical address of ``va`` inside this leaf's range."""
        return self.pa_base + (va - self.va_base)


@dataclass(frozen=True)
class WalkFault:
    """Why a walk failed: the exception type (level encoded in bits 2:0) and a one-line reason."""

    exception_type: int
    reason: str
    bus_error: bool = False
    descriptor_pa: int | None = None


@dataclass(frozen=True)
class SimFault:
    """An MMU fault as an access in address space ``as_nr`` would report it.

    ``faultstatus`` is the AS_FAULTSTATUS value (§3.7): ``type | access << 8 | source << 16``,
    plus bit 10 (DECODER FAULT) for a table walk that hit no RAM — an address no slave decodes
    [inferred from the AXI DECERR/SLVERR split panthor's message names].
    """

    as_nr: int
    va: int
    exception_type: int
    access: str
    source: int = 0
    reason: str = ""
    bus_error: bool = False

    @property
    def name(self) -> str:
        return exception_name(self.exception_type)

    @property
    def level(self) -> int:
        """Page-table level encoded in the code's bits 2:0 (§3.7)."""
        return self.exception_type & 0x7

    @property
    def access_type(self) -> int:
        return ACCESS_TYPES[self.access]

    @property
    def faultstatus(self) -> int:
        decoder = FAULTSTATUS_DECODER_FAULT if self.bus_error else 0
        return (self.exception_type | self.access_type << FAULTSTATUS_ACCESS_SHIFT | decoder
                | self.source << FAULTSTATUS_SOURCE_SHIFT)


class SimGpuFault(HardwareFault):
    """A simulated GPU access faulted (EIO); the fault is latched in the AS (or GPU) fault registers.

    The caller (a test, later the MCU/CS model) turns it into the hardware reaction, e.g. a CS fault.

    Attributes:
        as_nr: address space of the access. va: faulting address (FAULTADDRESS).
        exception_type: §3.7 code (or GPU_BUS_FAULT 0x80 for a data bus error).
        access: "read", "write", "execute" or "atomic". source: SOURCE_ID.
        latched: False when an earlier fault of the AS was still pending (first fault wins).
        faultstatus: the status word that was (or would have been) latched.
    """

    def __init__(self, as_nr: int, va: int, exception_type: int, access: str, *, source: int = 0,
                 reason: str = "", latched: bool = True, faultstatus: int | None = None) -> None:
        status = (exception_type | ACCESS_TYPES.get(access, 0) << FAULTSTATUS_ACCESS_SHIFT
                  | source << FAULTSTATUS_SOURCE_SHIFT) if faultstatus is None else faultstatus
        pending = "" if latched else " (not latched: an earlier fault of this AS is still pending)"
        register = "GPU_FAULTSTATUS" if exception_type == GPU_BUS_FAULT else f"AS{as_nr}_FAULTSTATUS"
        name = exception_name(exception_type)
        super().__init__(f"sim: AS{as_nr} GPU {access} at VA {va:#x} faulted: {name} "
                         f"({exception_type:#04x}){': ' + reason if reason else ''}{pending}",
                         register=register, offset=va, value=status)
        self.as_nr = as_nr
        self.va = va
        self.exception_type = exception_type
        self.access = access
        self.source = source
        self.latched = latched
        self.faultstatus = status

    @classmethod
    def from_fault(cls, fault: SimFault, *, latched: bool) -> SimGpuFault:
        return cls(fault.as_nr, fault.va, fault.exception_type, fault.access, source=fault.source,
                   reason=fault.reason, latched=latched, faultstatus=fault.faultstatus)


@dataclass
class InjectedFault:
    """A forced fault (test hook), consumed by the next ``remaining`` matching accesses or walks.

    Attributes:
        as_nr: address space. va/size: VA range an access (or walk) must touch to match.
        exception_type: the code reported (for a walk bus error TRANSTAB_BUS_FAULT + level).
        on_walk: match table walks (TLB misses) instead of accesses.
        remaining: how many more times it fires.
    """

    as_nr: int
    va: int
    size: int
    exception_type: int
    on_walk: bool
    remaining: int

    def matches(self, as_nr: int, va: int, size: int) -> bool:
        return as_nr == self.as_nr and va < self.va + self.size and self.va < va + size


@dataclass(frozen=True)
class WalkParams:
    """What a walk needs from the live AS config and MMU_FEATURES.

    Attributes:
        table: PA of the level-0 table (TRANSTAB with bits 11:0 dropped).
        memattr: AS_MEMATTR (8 bytes).
        ias: valid input-address bits. oas: output-address bits (MMU_FEATURES.PA_BITS).
        disable_af_fault: TRANSCFG.DISABLE_AF_FAULT. wxn: TRANSCFG.WXN.
    """

    table: int
    memattr: int
    ias: int
    oas: int
    disable_af_fault: bool
    wxn: bool

    @classmethod
    def from_config(cls, transtab: int, memattr: int, transcfg: int, mmu_features: int) -> WalkParams:
        return cls(table=transtab & ~TRANSTAB_LOW_MASK, memattr=memattr,
                   ias=input_bits(transcfg, mmu_features), oas=(mmu_features >> 8) & 0xFF,
                   disable_af_fault=bool(transcfg & TRANSCFG_DISABLE_AF_FAULT),
                   wxn=bool(transcfg & TRANSCFG_WXN))


def input_bits(transcfg: int, mmu_features: int) -> int:
    """Valid VA bits: ``min(MMU_FEATURES.VA_BITS, 55 - TRANSCFG.INA_BITS)`` (§3.5, Tyr comment).

    panthor writes INA_BITS = 7, giving 48 bits on G610; 0 means "55, capped by hardware".
    """
    ina = (transcfg >> TRANSCFG_INA_BITS_SHIFT) & TRANSCFG_INA_BITS_MASK
    return min(mmu_features & 0xFF, INA_BITS_BASE - ina)


@dataclass
class WalkResult:
    """Outcome of :func:`walk`: a translation or a fault, plus descriptor problems to report.

    ``problems`` are ``(kind, message)`` pairs for descriptors the hardware would accept but that
    break the format rules the driver must follow (e.g. a misaligned block address); the MMU model
    records them as protocol violations.
    """

    outcome: SimTranslation | WalkFault
    reads: list[DescriptorRead] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)


def walk(memory: SimMemory, params: WalkParams, va: int, *, bus_error_level: int | None = None) -> WalkResult:
    """Walk the 4-level AArch64 4 KiB tables for ``va`` (ADRMODE 6, §4.1-§4.3).

    Args:
        memory: simulated RAM holding the tables.
        params: the AS's live configuration.
        va: address to translate.
        bus_error_level: fault-injection hook — the descriptor read at this level gets a bus error.

    Returns:
        A :class:`WalkResult`; permissions of the leaf are checked separately
        (:func:`permission_fault`) because the TLB caches translations, not access checks.
    """
    result = WalkResult(WalkFault(TRANSLATION_FAULT, "not walked"))
    if va >> params.ias:
        result.outcome = WalkFault(ADDRESS_SIZE_FAULT_IN, f"VA {va:#x} is wider than the {params.ias}-bit "
                                   "input size (MMU_FEATURES.VA_BITS and TRANSCFG.INA_BITS)")
        return result
    if params.table >> params.oas:
        result.outcome = WalkFault(ADDRESS_SIZE_FAULT_OUT, f"TRANSTAB {params.table:#x} is beyond the "
                                   f"{params.oas}-bit physical address size")
        return result
    table = params.table
    for level in range(LEVELS):
        got = _read_descriptor(memory, result, table, va, level, bus_error_level)
        if isinstance(got, WalkFault):
            result.outcome = got
            return result
        if got.kind != "table":
            result.outcome = _leaf(got, params, va, result)
            return result
        bad = _check_table(got, params, result)
        if bad is not None:
            result.outcome = bad
            return result
        table = got.address
    # Not reached: decode_descriptor never calls a level-3 descriptor a table.
    return result


def _read_descriptor(memory: SimMemory, result: WalkResult, table: int, va: int, level: int,
                     bus_error_level: int | None) -> WalkFault | Descriptor:
    pa = table + table_index(va, level) * 8
    if bus_error_level == level or not memory.contains(pa, 8):
        why = "injected bus error" if bus_error_level == level else "no RAM there"
        return WalkFault(TRANSTAB_BUS_FAULT + level, f"level-{level} descriptor read at PA {pa:#x}: {why}",
                         bus_error=True, descriptor_pa=pa)
    value = memory.read64(pa)
    result.reads.append(DescriptorRead(level, pa, value))
    desc = decode_descriptor(value, level)
    if desc.kind == "invalid":
        return WalkFault(TRANSLATION_FAULT + level, f"level-{level} descriptor {value:#x} at PA {pa:#x} is "
                         "invalid (bit 0 clear)", descriptor_pa=pa)
    if desc.kind == "reserved":
        what = "a block at level 0" if level == 0 else "type 01 at level 3"
        return WalkFault(TRANSLATION_FAULT + level, f"level-{level} descriptor {value:#x} at PA {pa:#x} is "
                         f"{what}, which is invalid (§4.2)", descriptor_pa=pa)
    return desc


def _check_table(desc: Descriptor, params: WalkParams, result: WalkResult) -> WalkFault | None:
    pa = result.reads[-1].pa
    if desc.address >> params.oas:
        return WalkFault(ADDRESS_SIZE_FAULT_OUT + desc.level, f"level-{desc.level} table descriptor "
                         f"{desc.value:#x} at PA {pa:#x} points beyond the {params.oas}-bit PA size",
                         descriptor_pa=pa)
    if desc.value & TABLE_ATTR_MASK:
        result.problems.append(("bad-descriptor", f"level-{desc.level} table descriptor {desc.value:#x} at "
                                f"PA {pa:#x} sets NSTable/APTable/XNTable bits 63:59, which io-pgtable never "
                                "writes and the simulator does not model (§4.2)"))
    return None


def _leaf(desc: Descriptor, params: WalkParams, va: int, result: WalkResult) -> SimTranslation | WalkFault:
    level, pa = desc.level, result.reads[-1].pa
    where = f"level-{level} {desc.kind} descriptor {desc.value:#x} at PA {pa:#x}"
    if desc.address >> params.oas:
        return WalkFault(ADDRESS_SIZE_FAULT_OUT + level, f"{where}: output address {desc.address:#x} is "
                         f"beyond the {params.oas}-bit PA size", descriptor_pa=pa)
    size = 1 << level_shift(level)
    out = desc.address
    if out & (size - 1):
        result.problems.append(("bad-descriptor", f"{where}: output address bits {level_shift(level) - 1}:12 "
                                "must be 0 for a block (§4.3); the MMU ignores them"))
        out &= ~(size - 1)
    if not desc.access_flag and not params.disable_af_fault:
        return WalkFault(ACCESS_FLAG_FAULT + level, f"{where}: AF (bit 10) is 0 and "
                         "TRANSCFG.DISABLE_AF_FAULT is clear", descriptor_pa=pa)
    memattr = (params.memattr >> (8 * desc.attr_index)) & 0xFF
    if memattr >> 6 == 3:
        return WalkFault(MEMORY_ATTRIBUTE_FAULT + level, f"{where}: AttrIndx {desc.attr_index} selects "
                         f"MEMATTR byte {memattr:#04x} whose memory type (bits 7:6) is 3 = FAULT (§3.6)",
                         descriptor_pa=pa)
    _leaf_problems(desc, where, result)
    executable = not desc.uxn and not (params.wxn and not desc.read_only)
    va_base = va & ~(size - 1)
    return SimTranslation(va=va, pa=out + (va - va_base), level=level, va_base=va_base, pa_base=out,
                          size=size, read_only=desc.read_only, executable=executable,
                          attr_index=desc.attr_index, memattr=memattr, shareability=desc.shareability,
                          descriptors=tuple(result.reads))


def _leaf_problems(desc: Descriptor, where: str, result: WalkResult) -> None:
    if not desc.ap_unpriv:
        result.problems.append(("bad-descriptor", f"{where}: AP[1] (bit 6) is 0; io-pgtable and kbase set it "
                                "for every GPU mapping and Mali's treatment of privileged-only pages is "
                                "unverified (§4.3)"))
    if desc.pxn and not desc.uxn:
        result.problems.append(("bad-descriptor", f"{where}: PXN (bit 53) without UXN (bit 54); Mali's "
                                "execute-never bit is 54 (kbase ENTRY_NX_BIT), PXN alone is unverified"))


def permission_fault(tr: SimTranslation, access: int) -> int | None:
    """The PERMISSION_FAULT code an ``access`` (ACCESS_* code) to ``tr`` raises, or None (§3.7, §4.3).

    Writes and atomics need AP[2] = 0; instruction fetches need no XN (and not WXN-writable).
    IDENTITY translations (``level`` None) allow everything.
    """
    if tr.level is None:
        return None
    if access in (ACCESS_WRITE, ACCESS_ATOMIC) and tr.read_only:
        return PERMISSION_FAULT + tr.level
    if access == ACCESS_EXECUTE and not tr.executable:
        return PERMISSION_FAULT + tr.level
    return None


def identity_translation(va: int, oas: int) -> SimTranslation | WalkFault:
    """ADRMODE 2 (IDENTITY, §3.5): VA = PA; an address beyond the PA size faults with
    TRANSLATION_FAULT_IDENTITY (kbase/panfrost list 0xC7 as "fault in identity mode") [inferred]."""
    if va >> oas:
        return WalkFault(TRANSLATION_FAULT_IDENTITY, f"identity-mapped VA {va:#x} is beyond the {oas}-bit "
                         "physical address size")
    return SimTranslation(va=va, pa=va, level=None, va_base=0, pa_base=0, size=1 << oas, read_only=False,
                          executable=True, attr_index=0, memattr=0, shareability=0)


def check_access_args(as_nr: int, va: int, size: int, access: str, source: int) -> None:
    """Refuse a malformed GPU access (InvalidArgument): non-integer or out-of-range VA/size,
    an unknown access type, a SOURCE_ID wider than FAULTSTATUS bits 31:16."""
    if (type(va) is int and type(size) is int and type(source) is int  # noqa: E721 - bool is not int here
            and 0 <= va and 0 <= size and va + size <= _U64_LIMIT and access in ACCESS_TYPES
            and 0 <= source <= 0xFFFF):
        return  # the common case, checked in one expression
    if not (type(va) is int and type(size) is int and type(source) is int):  # noqa: E721 - bool is not int here
        for label, v in (("VA", va), ("size", size), ("source", source)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise InvalidArgument(f"sim: AS{as_nr} GPU access {label} must be an integer, got {v!r}")
    if not 0 <= va < _U64_LIMIT or size < 0 or va + size > _U64_LIMIT:
        raise InvalidArgument(f"sim: AS{as_nr} GPU access [{va:#x}, +{size:#x}) is not inside the 64-bit "
                              "VA space")
    if access not in ACCESS_TYPES:
        raise InvalidArgument(f"sim: AS{as_nr} GPU access type {access!r} is not one of "
                              f"{sorted(ACCESS_TYPES)}")
    if not 0 <= source <= 0xFFFF:
        raise InvalidArgument(f"sim: AS{as_nr} SOURCE_ID {source:#x} does not fit FAULTSTATUS bits 31:16")


def check_aligned(va: int, width: int) -> None:
    """Refuse (BadAddress) a ``width``-byte scalar access that is not naturally aligned."""
    if isinstance(va, int) and not isinstance(va, bool) and va % width:
        raise BadAddress(f"sim: {width * 8}-bit GPU access at VA {va:#x} is not naturally aligned", offset=va)


def check_count(count: int) -> int:
    """Return ``count`` if it is a positive integer, else raise InvalidArgument."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidArgument(f"sim: injected fault count must be a positive integer, got {count!r}")
    return count


def value_bytes(value: int, width: int) -> bytes:
    """``value`` as ``width`` little-endian bytes; InvalidArgument if it does not fit."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << (8 * width):
        raise InvalidArgument(f"sim: GPU store value {value!r} does not fit {8 * width} bits")
    return value.to_bytes(width, "little")
