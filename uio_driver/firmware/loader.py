"""Place a parsed firmware image into the MCU's address space (sections → MCU VM on AS0).

Rules from shared/reference/csf-firmware-and-interfaces.md:

* §3.1 — the MCU runs behind the GPU MMU in address space 0; its VM spans 0..4 GiB and every section
  is mapped at its fixed ``va.start`` (panthor requires the VA to be exactly that);
* §3.2 — mapping flags per IFACE section, as panthor ``panthor_fw_load_section_entry`` sets them:
  WR clear → read-only, EX clear → no-exec, CACHE_MODE other than CACHED (NONE and both coherent
  modes) → uncached; PROT sections are skipped with panthor's warning; SHARED sections keep their
  CPU mapping for the life of the driver;
* §3.3 — copy ``data.end - data.start`` bytes to the start, zero-fill the rest if ZERO is set (panthor
  ``panthor_fw_init_section_mem``), keep a private copy of each section's data for re-initialisation
  after a reset, then clean caches towards the device;
* §3.5 step 3 — make the MCU VM active in AS 0.

Only the container is interpreted: section bytes are copied, never decoded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..errors import InvalidArgument, MaliError
from ..mmu import VM, Mmu, Prot
from ..platform.dma import DmaBuffer
from .container import FirmwareImage
from .entries import IfaceEntry
from .format import CacheMode
from .interface import SharedSection

log = logging.getLogger(__name__)

#: panthor's message for a PROT section (§2.6, §8), printed as it prints it.
PROT_SECTION_WARNING = "Firmware protected mode entry not be supported, ignoring"


def section_prot(entry: IfaceEntry) -> Prot:
    """The MCU VM mapping flags panthor uses for ``entry`` (§3.2).

    Read-only unless WR, no-exec unless EX, uncached unless CACHE_MODE is CACHED (panthor has no
    coherent mode: NONE, UNCACHED_COHERENT and CACHED_COHERENT are all mapped non-cacheable).
    """
    prot = Prot.NONE
    if not entry.wr:
        prot |= Prot.READONLY
    if not entry.ex:
        prot |= Prot.NOEXEC
    if entry.cache_mode is not CacheMode.CACHED:
        prot |= Prot.UNCACHED
    return prot


@dataclass(eq=False)
class LoadedSection:
    """One IFACE section backed by DMA memory and mapped in the MCU VM.

    Attributes:
        entry: the IFACE entry.
        buffer: its memory (``va.end - va.start`` bytes, page rounded); its CPU view stays mapped.
        prot: the mapping flags used.
        data: private copy of the initial contents (for re-initialisation after a reset).
    """

    entry: IfaceEntry
    buffer: DmaBuffer
    prot: Prot
    data: bytes = field(repr=False)

    @property
    def va_start(self) -> int:
        return self.entry.va_start

    @property
    def va_end(self) -> int:
        return self.entry.va_end

    @property
    def size(self) -> int:
        return self.entry.va_size

    def initialise(self) -> None:
        """Copy the data, zero-fill per ZERO, clean towards the device (§3.3, panthor order).

        Without ZERO and without data panthor leaves the memory as it is; so does this.
        """
        if not self.data and not self.entry.zero:
            return
        self.buffer.write(0, self.data)
        if self.entry.zero:
            self.buffer.zero(len(self.data), self.buffer.size - len(self.data))
        self.buffer.sync_for_device()

    def to_dict(self) -> dict[str, object]:
        return {"va_start": self.va_start, "va_end": self.va_end, "pa": self.buffer.phys,
                "flags": self.entry.flags, "flags_text": self.entry.flags_text, "prot": int(self.prot),
                "data_size": len(self.data)}


@dataclass(eq=False)
class LoadedFirmware:
    """A firmware image placed in the MCU VM.

    Attributes:
        image: the parsed image.
        vm: the MCU VM (AS 0).
        sections: mapped sections, in file order.
        skipped: PROT sections left out (panthor skips them).
        shared: the shared interface section; :attr:`shared_view` is its CPU view.
        log: the lines panthor would print while loading.
    """

    image: FirmwareImage
    vm: VM
    sections: list[LoadedSection]
    skipped: list[IfaceEntry]
    shared: LoadedSection
    log: list[str]
    shared_view: SharedSection = field(init=False)

    def __post_init__(self) -> None:
        self.shared_view = SharedSection(self.shared.buffer, self.shared.va_start, self.shared.size)

    def section_at(self, va: int) -> LoadedSection | None:
        """The loaded section whose VA range contains ``va``, or None."""
        return next((s for s in self.sections if s.va_start <= va < s.va_end), None)

    def reload(self, *, writable_only: bool = False) -> list[LoadedSection]:
        """Re-initialise sections from the private copies (panthor ``panthor_reload_fw_sections``).

        The slow-reset path reloads every section, read-only ones included (§3.8).

        Returns:
            The sections re-initialised.
        """
        done = [s for s in self.sections if s.entry.wr or not writable_only]
        for section in done:
            section.initialise()
        return done

    def unload(self) -> None:
        """Unmap every section from the MCU VM and free its memory (the VM itself stays)."""
        _unload(self.vm, self.sections)
        self.sections = []

    def to_dict(self) -> dict[str, object]:
        return {"sections": [s.to_dict() for s in self.sections],
                "skipped": [{"va_start": e.va_start, "va_end": e.va_end, "flags": e.flags}
                            for e in self.skipped],
                "shared_va": self.shared.va_start, "shared_size": self.shared.size, "log": list(self.log)}


def _load_section(vm: VM, image: FirmwareImage, entry: IfaceEntry, done: list[LoadedSection]) -> None:
    allocator = vm.mmu.allocator
    buffer = allocator.alloc(entry.va_size, name=f"fw section {entry.va_start:#x}")
    try:
        prot = section_prot(entry)
        section = LoadedSection(entry, buffer, prot, image.section_data(entry))
        section.initialise()
        vm.map(buffer, entry.va_start, size=buffer.size, flags=prot)
    except BaseException:
        buffer.free()
        raise
    done.append(section)


def load_firmware(mmu: Mmu, vm: VM, image: FirmwareImage, *, activate: bool = True) -> LoadedFirmware:
    """Map and initialise every loadable section of ``image`` in the MCU VM ``vm`` (§3.2-§3.3).

    Args:
        mmu: the MMU (its DMA allocator backs the sections).
        vm: the MCU VM (:meth:`Mmu.create_mcu_vm`).
        image: the parsed firmware.
        activate: bind ``vm`` to AS 0 afterwards (§3.5 step 3).

    Returns:
        The loaded firmware. On return every section is initialised and cleaned towards the device,
        mapped at its va.start, and (with ``activate``) AS 0 translates through the MCU VM.

    Raises:
        InvalidArgument: ``vm`` is not the MCU VM, or a section overlaps an existing mapping (EEXIST).
        OutOfMemory: no DMA memory for a section or its page tables.
        Timeout: the AS 0 UPDATE did not complete.
        Nothing stays mapped or allocated when loading fails.
    """
    if not vm.is_mcu:
        raise InvalidArgument(f"firmware sections go into the MCU VM, not {vm.name}")
    lines: list[str] = []
    sections: list[LoadedSection] = []
    skipped: list[IfaceEntry] = []
    try:
        for entry in image.sections:
            if entry.prot:
                skipped.append(entry)
                lines.append(PROT_SECTION_WARNING)
                log.info("%s (section %#x-%#x)", PROT_SECTION_WARNING, entry.va_start, entry.va_end)
                continue
            _load_section(vm, image, entry, sections)
        # The parser guarantees exactly one shared section, never PROT (§1.11), so it was loaded.
        shared = next(s for s in sections if s.va_start == image.shared_section.va_start)
        loaded = LoadedFirmware(image, vm, sections, skipped, shared, lines)
        if activate:
            mmu.activate(vm)
    except MaliError:
        _unload(vm, sections)
        raise
    if image.git_sha:
        loaded.log.append(f"Firmware git sha: {image.git_sha}")
    return loaded


def _unload(vm: VM, sections: list[LoadedSection]) -> None:
    for section in sections:
        if not vm.destroyed:
            vm.unmap(section.va_start, section.buffer.size)
        if not section.buffer.freed:
            section.buffer.free()
