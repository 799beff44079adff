"""The MMU: address-space slots, VMs, table updates on live address spaces and MMU interrupts.

Policy as panthor's ``panthor_mmu.c`` (mali-csf-registers-and-mmu.md §3.1-§3.2, §4.7, §5.5-§5.6):

* AS0 is reserved for the MCU (firmware) VM; user VMs get the lowest free AS of 1..n-1 and, when
  all are taken, the least recently activated VM is evicted (its AS disabled; its tables stay, and
  it is re-bound on its next :meth:`Mmu.activate`).
* A change to the tables of a bound VM runs inside the flush sequence (:class:`FlushMode`, P3 by
  default) covering exactly the descriptors it changed; an unbound VM only records the dirty range
  (the UPDATE that binds it invalidates its whole TLB).
* An MMU fault in AS *n*: the fault registers are decoded into an :class:`MmuFault`, the VM is marked
  faulty, only AS *n* is disabled and bit *n* leaves the MMU IRQ mask until the VM is activated
  again (then ``MMU_IRQ_CLEAR = 1<<n`` and the mask is restored before the AS is re-enabled). Other
  VMs and the device keep running.
"""

from __future__ import annotations

from ..errors import Busy, InvalidArgument, MaliError
from ..gpu import Gpu
from ..platform.dma import DmaAllocator
from ..regs import gpu_control as gc
from ..regs import mmu as mmu_regs
from .address_space import AddressSpace, FlushMode
from .faults import MmuFault, decode_fault
from .tablepool import TablePool
from .update import PtUpdate
from .vm import VM, mcu_vm_layout, user_vm_layout


class Mmu:
    """The GPU's MMU as the driver manages it.

    Args:
        gpu: the GPU (probed or not; AS_PRESENT and MMU_FEATURES are read if needed).
        flush_mode: how live table updates are flushed (P3 default, or P1 with FLUSH_PT/FLUSH_MEM).
        blocks_2m: map with 2 MiB blocks where possible (panthor does).
        blocks_1g: map with 1 GiB blocks where possible (panthor does not; default on).
    """

    def __init__(self, gpu: Gpu, *, flush_mode: FlushMode = FlushMode.P3, blocks_2m: bool = True,
                 blocks_1g: bool = True) -> None:
        self.gpu = gpu
        self.flush_mode = FlushMode(flush_mode)
        self.blocks_2m = blocks_2m
        self.blocks_1g = blocks_1g
        info = gpu.info
        as_present = info.as_present if info else gpu.regs.read(gc.AS_PRESENT)
        mmu_features = info.mmu_features if info else gpu.regs.read(gc.MMU_FEATURES)
        self.va_bits = mmu_features & 0xFF or 48
        self.as_numbers = [n for n in range(mmu_regs.AS_COUNT) if as_present >> n & 1]
        if mmu_regs.MCU_AS not in self.as_numbers:
            raise InvalidArgument(f"AS_PRESENT {as_present:#x} has no AS0 for the MCU VM",
                                  register="AS_PRESENT")
        self.spaces = {n: AddressSpace(gpu, n) for n in self.as_numbers}
        self._pool: TablePool | None = None
        self.owner: dict[int, VM | None] = dict.fromkeys(self.as_numbers)
        self.enabled: dict[int, bool] = dict.fromkeys(self.as_numbers, False)
        #: User slots, least recently activated first.
        self._lru: list[int] = []
        self.faulty_mask = 0
        self.faults: list[MmuFault] = []
        self.vms: dict[int, VM] = {}
        self._next_id = 1
        self._irq_enabled = False
        gpu.irq.add_handler("mmu", self._on_irq)

    @property
    def pool(self) -> TablePool:
        """Table pages for every VM, from the platform's carveout (opened on first use, so the bring-up
        stage works on a platform without one; creating a VM there raises DeviceNotFound)."""
        if self._pool is None:
            self._pool = TablePool(self.gpu.platform.dma_allocator())
        return self._pool

    @property
    def allocator(self) -> DmaAllocator:
        """The DMA allocator of the carveout VMs map from (raises DeviceNotFound without one)."""
        return self.pool.allocator

    # -- interrupts ---------------------------------------------------------------------------------

    def enable_interrupts(self) -> None:
        """Program panthor's MMU IRQ mask: page-fault bits 15:0 (0xFFFF), minus faulted address spaces."""
        self._irq_enabled = True
        self.gpu.irq.set_mask("mmu", mmu_regs.MMU_IRQ_PANTHOR_MASK & ~self.faulty_mask)

    def service(self) -> list[MmuFault]:
        """Handle pending MMU interrupts now; returns the faults handled."""
        before = len(self.faults)
        self.gpu.irq.service("mmu")
        return self.faults[before:]

    def _on_irq(self, bits: int) -> None:
        for as_nr in mmu_regs.faulted_address_spaces(bits):
            if as_nr in self.spaces:
                self._handle_fault(as_nr)

    def _handle_fault(self, as_nr: int) -> None:
        status, address = self.spaces[as_nr].read_fault()
        vm = self.owner[as_nr]
        fault = decode_fault(as_nr, status, address, vm_id=vm.id if vm else None, time=self.gpu.clock.now())
        self.faults.append(fault)
        bit = mmu_regs.mmu_irq_page_fault(as_nr)
        self.faulty_mask |= bit
        # Called from IrqDispatcher.service: the new mask takes effect when servicing ends.
        self.gpu.irq.update_mask("mmu", self.gpu.irq.mask_of("mmu") & ~bit)
        if vm is not None:
            vm.faulty = True
            vm.faults.append(fault)
        if self.enabled[as_nr]:
            self.enabled[as_nr] = False
            self.spaces[as_nr].disable(self.flush_mode)

    def _unmask_fault(self, as_nr: int) -> None:
        """Re-arm AS ``as_nr``'s fault interrupt (panthor_vm_active, before re-enabling the AS)."""
        bit = mmu_regs.mmu_irq_page_fault(as_nr)
        if not self.faulty_mask & bit:
            return
        self.faulty_mask &= ~bit
        regs = self.gpu.regs
        regs.write(mmu_regs.MMU_IRQ_CLEAR, bit)
        if self._irq_enabled:
            # Not IrqDispatcher.set_mask: it would CLEAR every enabled bit and lose other AS's faults.
            self.gpu.irq.update_mask("mmu", mmu_regs.MMU_IRQ_PANTHOR_MASK & ~self.faulty_mask)

    # -- VMs ------------------------------------------------------------------------------------------

    def create_vm(self, user_va_range: int = 0, *, name: str = "") -> VM:
        """A new user VM laid out as panthor's VM_CREATE (see :func:`user_vm_layout`).

        Raises:
            InvalidArgument: bad ``user_va_range``. OutOfMemory: no DMA memory for the level-0 table.
        """
        layout = user_vm_layout(user_va_range, self.va_bits)
        vm = VM(self, self._next_id, layout, name=name)
        self.vms[vm.id] = vm
        self._next_id += 1
        return vm

    def create_mcu_vm(self) -> VM:
        """The firmware VM (id 0, VA 0..4 GiB, always AS0).

        Raises:
            Busy: it already exists.
        """
        if 0 in self.vms:
            raise Busy("the MCU VM already exists")
        vm = VM(self, 0, mcu_vm_layout(), is_mcu=True)
        self.vms[0] = vm
        return vm

    def destroy_vm(self, vm: VM) -> None:
        """Unbind ``vm`` (disabling its AS) and free its tables."""
        self._check_vm(vm)
        if vm.as_nr is not None:
            self.deactivate(vm)
        vm.pt.destroy()
        vm.destroyed = True
        del self.vms[vm.id]

    def _check_vm(self, vm: VM) -> None:
        if not isinstance(vm, VM) or self.vms.get(vm.id) is not vm:
            raise InvalidArgument(f"{vm!r} is not a live VM of this MMU")

    # -- address-space slots ----------------------------------------------------------------------

    def activate(self, vm: VM, *, slot: int | None = None) -> int:
        """Make ``vm`` translate in an AS and return its number (panthor_vm_active).

        A bound VM keeps its AS (re-enabled if a fault disabled it). Otherwise the MCU VM takes AS0
        and a user VM ``slot`` if given (it must be free), else the lowest free user AS, else the AS
        of the least recently activated VM, which is evicted. On return the AS is enabled.

        Raises:
            InvalidArgument: not a VM of this MMU, or a bad/occupied ``slot``. Timeout: AS commands.
        """
        self._check_vm(vm)
        as_nr = vm.as_nr
        if as_nr is None:
            as_nr = self._choose_slot(vm, slot)
            self._bind(vm, as_nr)
        elif slot is not None and slot != as_nr:
            raise InvalidArgument(f"{vm.name} is already bound to AS{as_nr}, not AS{slot}")
        if not self.enabled[as_nr]:
            self._unmask_fault(as_nr)
            vm.pt.take_dirty()  # UPDATE invalidates the whole AS
            self.spaces[as_nr].enable(vm.pt.root_pa)
            self.enabled[as_nr] = True
        if as_nr in self._lru:
            self._lru.remove(as_nr)
            self._lru.append(as_nr)
        return as_nr

    def _choose_slot(self, vm: VM, slot: int | None) -> int:
        if vm.is_mcu:
            if slot not in (None, mmu_regs.MCU_AS):
                raise InvalidArgument(f"the MCU VM always uses AS{mmu_regs.MCU_AS}, not AS{slot}")
            return mmu_regs.MCU_AS
        user = [n for n in self.as_numbers if n != mmu_regs.MCU_AS]
        if slot is not None:
            if slot not in user:
                raise InvalidArgument(f"AS{slot} is not a user address space (valid: {user})")
            if self.owner[slot] is not None:
                raise InvalidArgument(f"AS{slot} is in use by {self.owner[slot].name}")  # type: ignore[union-attr]
            return slot
        free = [n for n in user if self.owner[n] is None]
        if free:
            return free[0]
        if not self._lru:
            raise Busy("no user address space available")
        victim_slot = self._lru[0]
        victim = self.owner[victim_slot]
        if victim is not None:
            self.deactivate(victim)
        return victim_slot

    def _bind(self, vm: VM, as_nr: int) -> None:
        self.owner[as_nr] = vm
        vm.as_nr = as_nr
        self.enabled[as_nr] = False
        if as_nr != mmu_regs.MCU_AS:
            self._lru.append(as_nr)

    def deactivate(self, vm: VM) -> None:
        """Disable ``vm``'s AS (§5.6) and free the slot; its tables stay for the next activation."""
        self._check_vm(vm)
        as_nr = vm.as_nr
        if as_nr is None:
            return
        if self.enabled[as_nr]:
            self.spaces[as_nr].disable(self.flush_mode)
            self.enabled[as_nr] = False
        self.owner[as_nr] = None
        vm.as_nr = None
        if as_nr in self._lru:
            self._lru.remove(as_nr)

    def post_reset(self) -> None:
        """After a GPU reset every AS is unconfigured: forget all bindings and re-arm the MMU IRQ."""
        for as_nr, vm in self.owner.items():
            if vm is not None:
                vm.as_nr = None
            self.owner[as_nr] = None
            self.enabled[as_nr] = False
        self._lru.clear()
        self.faulty_mask = 0
        if self._irq_enabled:
            self.enable_interrupts()

    # -- table updates --------------------------------------------------------------------------------

    def apply_update(self, vm: VM, txn: PtUpdate) -> None:
        """Commit a prepared update of ``vm``'s tables, with the flush sequence if the GPU uses them.

        Raises:
            Timeout: an AS command or flush did not complete (a failed P3 LOCK rolls the update back).
        """
        as_nr = vm.as_nr
        rng = txn.range
        if rng is None or as_nr is None or not self.enabled[as_nr]:
            txn.commit()
            vm.pt.reclaim()  # no GPU walk can reach these tables: reuse freed pages at once
            return
        try:
            self.spaces[as_nr].update(rng[0], rng[1], txn.commit, self.flush_mode)
        except MaliError:
            if txn.state == "prepared":
                txn.rollback()
            raise
        vm.pt.take_dirty()
        vm.pt.reclaim()

    def close(self) -> None:
        """Destroy every VM (disabling their address spaces) and return all table memory."""
        for vm in list(self.vms.values()):
            self.destroy_vm(vm)
        if self._pool is not None:
            self._pool.close()
        self.gpu.irq.remove_handler("mmu", self._on_irq)
