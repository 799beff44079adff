"""DRM sync objects and fences: binary and timeline syncobjs, panthor's sync operations, waits.

Model (cs-isa-and-uapi.md §3.5, §4.3; ``drm_syncobj.c``, ``dma-fence-chain.c``):

* a :class:`Fence` signals once, possibly with an error (a failed job's fence still counts as
  signalled; waits do not report the error);
* a :class:`Syncobj` holds one fence or nothing. A *binary* use replaces it; a *timeline* use adds a
  :class:`ChainLink` whose seqno is the point. A link is signalled when its own fence and every older
  link are; signalled predecessors are dropped (garbage collected) as the kernel's chain walk does;
* :class:`SubmitContext` resolves the sync operations of one GROUP_SUBMIT or async VM_BIND exactly in
  panthor's order: every SIGNAL op of every job first, then job by job the WAIT ops (a WAIT on a point an
  earlier job of the same call signals depends on that job), then after everything succeeded the
  signalled syncobjs get the fence of the last job that signals them;
* :func:`wait_fences` is ``drm_syncobj_array_wait_timeout``: absolute CLOCK_MONOTONIC deadline, EINVAL for
  a point with no fence unless WAIT_FOR_SUBMIT/WAIT_AVAILABLE, ETIME on expiry, ``first_signaled``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from uio_driver.errors import InvalidArgument, MaliError, TimeExpired  # noqa: F401 - re-exported
from uio_driver.uapi import structs as S
from uio_driver.uapi.objects import FileObjects, NoEntry

_context_ids = itertools.count(1)

# drm.h wait flags.
DRM_SYNCOBJ_WAIT_FLAGS_WAIT_ALL = 1 << 0
DRM_SYNCOBJ_WAIT_FLAGS_WAIT_FOR_SUBMIT = 1 << 1
DRM_SYNCOBJ_WAIT_FLAGS_WAIT_AVAILABLE = 1 << 2
DRM_SYNCOBJ_WAIT_FLAGS_WAIT_DEADLINE = 1 << 3
DRM_SYNCOBJ_CREATE_SIGNALED = 1 << 0
DRM_SYNCOBJ_QUERY_FLAGS_LAST_SUBMITTED = 1 << 0

#: panthor's PANTHOR_SYNC_OP_FLAGS_MASK.
SYNC_OP_FLAGS_MASK = S.DRM_PANTHOR_SYNC_OP_HANDLE_TYPE_MASK | S.DRM_PANTHOR_SYNC_OP_SIGNAL


class Fence:
    """A ``dma_fence``: unsignalled until :meth:`signal`, or until ``probe`` reports completion.

    Args:
        name: label for messages and reprs.
        probe: called while unsignalled; returns ``(done, error)`` (error 0 or a negative errno).
    """

    def __init__(self, name: str = "", probe: Callable[[], tuple[bool, int]] | None = None) -> None:
        self.name = name
        self.error = 0
        self._signaled = False
        self._probe = probe

    @property
    def signaled(self) -> bool:
        """True once signalled (asks the probe while it is not)."""
        if not self._signaled and self._probe is not None:
            done, error = self._probe()
            if done:
                self.signal(error)
        return self._signaled

    def signal(self, error: int = 0) -> None:
        """Signal the fence (only the first call counts), with ``error`` (0 or ``-errno``)."""
        if not self._signaled:
            self._signaled = True
            self.error = error
            self._probe = None

    def __repr__(self) -> str:
        state = "signaled" if self._signaled else "pending"
        return f"Fence({self.name or id(self)}, {state}, error={self.error})"


def signaled_stub() -> Fence:
    """``dma_fence_get_stub()``: an already signalled fence."""
    fence = Fence("stub")
    fence.signal()
    return fence


class ChainLink(Fence):
    """One point of a timeline (``dma_fence_chain``).

    ``seqno`` never goes backwards: an out-of-order point gets ``max(prev.seqno, point)`` and starts a
    new context (``dma_fence_chain_init``), which stops point lookups and queries at that link.
    """

    def __init__(self, prev: Fence | None, fence: Fence, point: int) -> None:
        super().__init__(f"chain@{point}")
        self.fence = fence
        self.context: int
        self.prev_seqno: int
        self.seqno: int
        if isinstance(prev, ChainLink) and point > prev.seqno:
            self.context, self.prev_seqno, self.seqno = prev.context, prev.seqno, point
        else:
            self.context, self.prev_seqno = next(_context_ids), 0
            self.seqno = max(prev.seqno, point) if isinstance(prev, ChainLink) else point
        self.prev: Fence | None = prev

    @property
    def signaled(self) -> bool:
        if self._signaled:
            return True
        pending: list[ChainLink] = []
        link: Fence | None = self
        while isinstance(link, ChainLink) and not link._signaled:
            pending.append(link)
            link = link.prev
        if link is not None and not link.signaled:
            return False
        for item in reversed(pending):  # oldest first: a link is done when it and all older are
            if not item.fence.signaled:
                return False
            item.signal(item.fence.error)
            item.prev = None  # garbage-collect the signalled predecessors
        return True

    def walk(self) -> list[ChainLink]:
        """This link and its predecessors of the same context, newest first."""
        out: list[ChainLink] = [self]
        link = self
        while isinstance(link.prev, ChainLink) and link.prev.context == link.context:
            link = link.prev
            out.append(link)
        return out


class Syncobj:
    """A DRM sync object: a container for at most one fence (binary) or a fence chain (timeline)."""

    def __init__(self, signaled: bool = False) -> None:
        self.fence: Fence | None = signaled_stub() if signaled else None

    def replace_fence(self, fence: Fence | None) -> None:
        """``drm_syncobj_replace_fence``: binary signal/reset (drops any timeline)."""
        self.fence = fence

    def add_point(self, fence: Fence, point: int) -> None:
        """``drm_syncobj_add_point``: append ``fence`` at timeline ``point``."""
        self.fence = ChainLink(self.fence, fence, point)

    def find_fence(self, point: int) -> Fence | None:
        """The fence standing for ``point`` (``drm_syncobj_find_fence`` without flags), or None when
        nothing was submitted for it (no fence, or a point beyond the timeline's last)."""
        fence = self.fence
        if fence is None or point == 0:
            return fence
        if not isinstance(fence, ChainLink) or fence.seqno < point:
            return None
        link = fence
        while link.prev_seqno >= point:
            prev = link.prev
            if not isinstance(prev, ChainLink) or prev.context != link.context:
                return signaled_stub()  # garbage-collected: every older point has signalled
            link = prev
        return link

    def query(self, last_submitted: bool = False) -> int:
        """``drm_syncobj_query`` payload: last signalled point (or last submitted); 0 if binary."""
        fence = self.fence
        if not isinstance(fence, ChainLink):
            return 0
        if last_submitted:
            return fence.seqno
        fence.signaled  # noqa: B018 - runs the chain's garbage collection
        links = fence.walk()
        oldest_pending = next((lk for lk in reversed(links) if not lk.fence.signaled), None)
        if oldest_pending is None:
            return fence.seqno if fence.signaled else fence.prev_seqno
        return oldest_pending.prev_seqno

    def state(self) -> tuple[Any, ...]:
        """Hashable description for tests' before/after comparisons."""
        fence = self.fence
        if fence is None:
            return ("empty",)
        if isinstance(fence, ChainLink):
            return ("timeline", id(fence), fence.seqno)
        return ("binary", id(fence))


# ---------------------------------------------------------------------------------------------
# Sync operations of GROUP_SUBMIT / async VM_BIND (panthor_drv.c submit context)
# ---------------------------------------------------------------------------------------------


def check_sync_op(op: S.DrmPanthorSyncOp) -> None:
    """``panthor_check_sync_op``.

    Raises:
        InvalidArgument: unknown flag bits, handle type not 0/1, or a binary op with a timeline value.
    """
    flags = int(op.flags)
    if flags & ~SYNC_OP_FLAGS_MASK:
        raise InvalidArgument(f"sync op flags {flags:#x} has bits outside {SYNC_OP_FLAGS_MASK:#x}",
                              value=flags)
    kind = flags & S.DRM_PANTHOR_SYNC_OP_HANDLE_TYPE_MASK
    if kind not in (S.DRM_PANTHOR_SYNC_OP_HANDLE_TYPE_SYNCOBJ,
                    S.DRM_PANTHOR_SYNC_OP_HANDLE_TYPE_TIMELINE_SYNCOBJ):
        raise InvalidArgument(f"sync op handle type {kind} is neither SYNCOBJ (0) nor TIMELINE_SYNCOBJ (1)",
                              value=kind)
    if kind == S.DRM_PANTHOR_SYNC_OP_HANDLE_TYPE_SYNCOBJ and op.timeline_value:
        raise InvalidArgument(f"binary sync op on handle {op.handle} has timeline_value "
                              f"{int(op.timeline_value)} (must be 0)", value=int(op.timeline_value))


def is_signal(op: S.DrmPanthorSyncOp) -> bool:
    """SIGNAL when bit 31 of the flags is set; WAIT (== 0) otherwise (taken from the flags only)."""
    return bool(int(op.flags) & S.DRM_PANTHOR_SYNC_OP_SIGNAL)


def lookup_fence(objects: FileObjects, handle: int, point: int) -> Fence:
    """``drm_syncobj_find_fence(file, handle, point, 0)`` for a WAIT op.

    Raises:
        NoEntry: no syncobj has that handle (ENOENT).
        InvalidArgument: nothing was submitted for that point (EINVAL; no WAIT_FOR_SUBMIT here).
    """
    syncobj = objects.syncobjs.get(handle)
    if syncobj is None:
        raise NoEntry(f"wait sync op: no syncobj with handle {handle}", value=handle)
    fence = syncobj.find_fence(point)
    if fence is None:
        raise InvalidArgument(f"wait sync op: syncobj {handle} has no fence for point {point} "
                              "(not submitted)",
                              value=handle)
    return fence


@dataclass
class _Signal:
    handle: int
    point: int
    syncobj: Syncobj
    fence: Fence | None


@dataclass
class SubmitContext:
    """The sync side of one submission: signal list, then per-job dependencies, then the push.

    Usage: :meth:`collect_signals` for every job's ops, then for each job in order
    :meth:`job_dependencies` followed by :meth:`arm` with that job's fence, and finally :meth:`push`
    once nothing can fail any more. Nothing touches a syncobj before :meth:`push`.
    """

    objects: FileObjects
    signals: list[_Signal] = field(default_factory=list)

    def _find(self, handle: int, point: int) -> _Signal | None:
        return next((s for s in self.signals if s.handle == handle and s.point == point), None)

    def collect_signals(self, ops: Sequence[S.DrmPanthorSyncOp]) -> None:
        """Check and record every SIGNAL op (``panthor_submit_ctx_collect_job_signal_ops``).

        Raises:
            InvalidArgument: a bad op, or a SIGNAL on a handle that does not exist (EINVAL).
        """
        for op in ops:
            if not is_signal(op):
                continue
            check_sync_op(op)
            handle, point = int(op.handle), int(op.timeline_value)
            if self._find(handle, point) is not None:
                continue
            syncobj = self.objects.syncobjs.get(handle)
            if syncobj is None:
                raise InvalidArgument(f"signal sync op: no syncobj with handle {handle}", value=handle)
            self.signals.append(_Signal(handle, point, syncobj, syncobj.find_fence(point)))

    def job_dependencies(self, ops: Sequence[S.DrmPanthorSyncOp]) -> list[Fence]:
        """The fences a job waits for (``panthor_submit_ctx_add_sync_deps_to_job``).

        A WAIT on a (handle, point) that an earlier job of this call signals depends on that job's fence
        (only earlier: later jobs are not armed yet, so dependencies only point backwards).

        Raises:
            InvalidArgument / NoEntry: see :func:`check_sync_op` and :func:`lookup_fence`.
        """
        deps: list[Fence] = []
        for op in ops:
            if is_signal(op):
                continue
            check_sync_op(op)
            handle, point = int(op.handle), int(op.timeline_value)
            sig = self._find(handle, point)
            if sig is not None and sig.fence is not None:
                deps.append(sig.fence)
            elif sig is not None:
                raise InvalidArgument(f"wait sync op: syncobj {handle} point {point} has no fence yet",
                                      value=handle)
            else:
                deps.append(lookup_fence(self.objects, handle, point))
        return deps

    def arm(self, ops: Sequence[S.DrmPanthorSyncOp], fence: Fence) -> None:
        """Make ``fence`` the one this job's SIGNAL ops will install."""
        for op in ops:
            if is_signal(op):
                sig = self._find(int(op.handle), int(op.timeline_value))
                if sig is not None:
                    sig.fence = fence

    def push(self) -> None:
        """Install the fences (``panthor_submit_ctx_push_fences``): timeline point or replacement."""
        for sig in self.signals:
            if sig.fence is None:
                continue
            if sig.point > 0:
                sig.syncobj.add_point(sig.fence, sig.point)
            else:
                sig.syncobj.replace_fence(sig.fence)


# ---------------------------------------------------------------------------------------------
# Waiting
# ---------------------------------------------------------------------------------------------


@dataclass
class WaitResult:
    """Outcome of :func:`wait_fences`: ``first_signaled`` as the ioctl reports it."""

    first_signaled: int


def wait_fences(syncobjs: Sequence[Syncobj], points: Sequence[int], flags: int,
                wait: Callable[[Callable[[], bool]], bool]) -> WaitResult:
    """``drm_syncobj_array_wait_timeout``.

    Args:
        syncobjs, points: what to wait for (point 0 = the binary fence / the timeline's last).
        flags: ``DRM_SYNCOBJ_WAIT_FLAGS_*``.
        wait: runs the device until the predicate holds or the deadline passes; returns the
            predicate's last value (the caller converts the absolute deadline).

    Raises:
        InvalidArgument: a point has no fence and neither WAIT_FOR_SUBMIT nor WAIT_AVAILABLE is set.
        TimeExpired: the deadline passed first (ETIME).
    """
    available = bool(flags & DRM_SYNCOBJ_WAIT_FLAGS_WAIT_AVAILABLE)
    wait_all = bool(flags & DRM_SYNCOBJ_WAIT_FLAGS_WAIT_ALL)
    lazy = bool(flags & (DRM_SYNCOBJ_WAIT_FLAGS_WAIT_FOR_SUBMIT | DRM_SYNCOBJ_WAIT_FLAGS_WAIT_AVAILABLE))
    first = 0xFFFFFFFF
    entries: list[Fence | None] = []
    count = 0
    for i, (so, point) in enumerate(zip(syncobjs, points, strict=True)):
        fence = so.find_fence(point)
        if fence is None and not lazy:
            raise InvalidArgument(f"syncobj wait: entry {i} has no fence for point {point} and "
                                  "WAIT_FOR_SUBMIT is not set")
        entries.append(fence)
        if fence is not None and (available or fence.signaled):
            if count == 0:
                first = i
            count += 1
    if count == len(entries) or (count and not wait_all):
        return WaitResult(first)
    state = {"first": first}

    def done() -> bool:
        hits = 0
        for i, (so, point) in enumerate(zip(syncobjs, points, strict=True)):
            if entries[i] is None and lazy:
                entries[i] = so.find_fence(point)  # attached since: WAIT_FOR_SUBMIT covers it
            fence = entries[i]
            if fence is None or not (available or fence.signaled):
                continue
            if not wait_all:
                state["first"] = i
                return True
            hits += 1
        return hits == len(entries)

    if not wait(done):
        raise TimeExpired(f"syncobj wait on {len(entries)} object(s) timed out")
    return WaitResult(state["first"])
