"""MMIO traces: record every register access of a run, show it by name, replay it, diff two runs.

* :mod:`.format` - the file format (docs/trace-format.md): header, 16-byte records, errors.
* :mod:`.writer` / :mod:`.reader` - streaming writer (bounded memory) and validating reader.
* :mod:`.recorder` - :class:`TracingMmioRegion`, the opt-in wrapper around a platform's region,
  and :func:`start_tracing` (what ``--trace FILE`` does).
* :mod:`.names` - register/field names derived from the register database when showing.
* :mod:`.replay` - replay against the simulator and report reads that differ.
* :mod:`.diff` - align two traces with polling loops collapsed and report divergences.

A board run recorded with ``--trace`` and replayed on the simulator is a regression test for the
simulator (peers-and-style.md A8, envytools' hwtest discipline).
"""

from __future__ import annotations

from .diff import DiffReport, Divergence, PollDifference, diff_traces
from .format import RECORD_SIZE, VERSION, RegionInfo, TraceFormatError, TraceHeader
from .names import AccessName, fields_text, name_access, regdb_fingerprint
from .reader import Access, AccessArray, Trace, TraceReader, read_trace
from .recorder import TraceSink, TracingMmioRegion, start_tracing
from .replay import Mismatch, ReplayReport, replay
from .writer import TraceWriter

__all__ = [
    "RECORD_SIZE",
    "VERSION",
    "Access",
    "AccessArray",
    "AccessName",
    "DiffReport",
    "Divergence",
    "Mismatch",
    "PollDifference",
    "RegionInfo",
    "ReplayReport",
    "Trace",
    "TraceFormatError",
    "TraceHeader",
    "TraceReader",
    "TraceSink",
    "TraceWriter",
    "TracingMmioRegion",
    "diff_traces",
    "fields_text",
    "name_access",
    "read_trace",
    "regdb_fingerprint",
    "replay",
    "start_tracing",
]
