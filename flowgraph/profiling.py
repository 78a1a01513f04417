"""Per-node timings: tables from the timing records of batches, single or aggregated over batches.

Every batch carries ``records`` (see ``flowgraph.observe``), upstream first; the timing records
have phase ``"prepare"`` (the node's ``prepare``) or ``"process"`` (its ``process``, or
``provide`` for sources; for PreCache the time the caller waited). ``batch.profiling`` shows
them as ``(node name, phase, seconds)`` tuples; the functions here take either. A node that runs
several times for one batch (Reject retrying, the repetitions of Stack) has several records;
they add up. Records of other phases (drawn parameters, steps) are left out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from flowgraph.observe import TIMING_PHASES
from flowgraph.observe import Record as ObservedRecord

#: a timing as ``batch.profiling`` shows it: ``(node name, phase, seconds)``
Record = tuple[str, str, float]


def timings(records: Iterable[ObservedRecord | Record]) -> Iterator[Record]:
    """The timing records among ``records`` (Records or ``(node, phase, seconds)`` tuples) as tuples."""
    for item in records:
        if isinstance(item, ObservedRecord):
            if item.phase in TIMING_PHASES:
                yield item.node, item.phase, item.seconds
        else:
            node, phase, seconds = item
            if phase in TIMING_PHASES:
                yield node, phase, seconds


def profile_table(records: Iterable[ObservedRecord | Record]) -> list[dict[str, Any]]:
    """Seconds summed per node: ``[{"node", "prepare", "process"}]`` in order of first appearance."""
    rows: dict[str, dict[str, Any]] = {}
    for node, phase, seconds in timings(records):
        row = rows.setdefault(node, {"node": node, "prepare": 0.0, "process": 0.0})
        row[phase] = row.get(phase, 0.0) + seconds
    return list(rows.values())


class Timing:
    """One node's time in one phase of one batch, with gunpowder's accessors.

    Records carry durations, not timestamps, so :meth:`span` counts from 0.
    """

    __slots__ = ("_method", "_name", "_seconds")

    def __init__(self, node_name: str, method_name: str | None, seconds: float) -> None:
        self._name, self._method, self._seconds = node_name, method_name, seconds

    def elapsed(self) -> float:
        return self._seconds

    def span(self) -> tuple[float, float]:
        return 0.0, self._seconds

    def get_node_name(self) -> str:
        return self._name

    def get_method_name(self) -> str | None:
        return self._method


class TimingSummary:
    """The timings of one node and phase, for statistics (gunpowder's ``TimingSummary``)."""

    def __init__(self) -> None:
        self.timings: list[Timing] = []
        self.times: list[float] = []

    def add(self, timing: Timing) -> None:
        self.timings.append(timing)
        self.times.append(timing.elapsed())

    def merge(self, other: TimingSummary) -> None:
        for timing in other.timings:
            self.add(timing)

    def counts(self) -> int:
        return len(self.times)

    def min(self) -> float:
        return float(np.min(self.times))

    def max(self) -> float:
        return float(np.max(self.times))

    def mean(self) -> float:
        return float(np.mean(self.times))

    def median(self) -> float:
        return float(np.median(self.times))


class ProfilingStats:
    """A batch's timings grouped by (node class name, phase), as gunpowder's ``batch.profiling_stats``.

    Node names are class names, as in gunpowder (``IntensityAugment``, not
    ``IntensityAugment(RAW)``), so that ``get_timing_summary("IntensityAugment", "process")`` works.

    Example:
        >>> records = [("Normalize(RAW)", "process", 0.25), ("Normalize(RAW)", "process", 0.75)]
        >>> stats = ProfilingStats.from_records(records)
        >>> summary = stats.get_timing_summary("Normalize", "process")
        >>> summary.counts(), summary.mean(), stats.span_time()
        (2, 0.5, 1.0)
    """

    def __init__(self) -> None:
        self._summaries: dict[tuple[str, str | None], TimingSummary] = {}

    @classmethod
    def from_records(cls, records: Iterable[ObservedRecord | Record]) -> ProfilingStats:
        stats = cls()
        for node, phase, seconds in timings(records):
            stats.add(Timing(node.split("(", 1)[0], phase, seconds))
        return stats

    def add(self, timing: Timing) -> None:
        """Add a Timing, grouped by its node and method names."""
        key = (timing.get_node_name(), timing.get_method_name())
        self._summaries.setdefault(key, TimingSummary()).add(timing)

    def merge_with(self, other: ProfilingStats) -> None:
        """Add the timings of ``other``."""
        for key, summary in other._summaries.items():
            self._summaries.setdefault(key, TimingSummary()).merge(summary)

    def get_timing_summaries(self) -> dict[tuple[str, str | None], TimingSummary]:
        """``(node name, method name) -> TimingSummary``."""
        return self._summaries

    def get_timing_summary(self, node_name: str, method_name: str | None = None) -> TimingSummary:
        """The summary of one node and method (RuntimeError, as in gunpowder, if there is none)."""
        summary = self._summaries.get((node_name, method_name))
        if summary is None:
            raise RuntimeError(
                f"No timing summary for node {node_name}, method {method_name}; there are "
                f"{sorted(self._summaries, key=str)}."
            )
        return summary

    def span(self) -> tuple[float, float]:
        """From 0 to the summed time of every timing (records carry durations, not timestamps)."""
        return 0.0, sum(t for summary in self._summaries.values() for t in summary.times)

    def span_time(self) -> float:
        start, stop = self.span()
        return stop - start


@dataclasses.dataclass(frozen=True)
class ProfileRow:
    """One node's mean time per batch (milliseconds) and its share of all nodes' time."""

    node: str
    prepare_ms: float
    process_ms: float
    share: float

    @property
    def total_ms(self) -> float:
        return self.prepare_ms + self.process_ms


class ProfileStats:
    """Accumulates the profiling records of many batches.

    Example:
        >>> stats = ProfileStats()
        >>> stats.add([("Source", "process", 0.003), ("Normalize", "prepare", 0.0), ("Normalize", "process", 0.001)])
        >>> stats.add([("Source", "process", 0.005), ("Normalize", "prepare", 0.0), ("Normalize", "process", 0.003)])
        >>> [(r.node, r.process_ms, r.share) for r in stats.rows()]
        [('Source', 4.0, 0.666...), ('Normalize', 2.0, 0.333...)]
    """

    def __init__(self) -> None:
        self.batches = 0
        self._seconds: dict[str, list[float]] = {}

    def add(self, records: Iterable[ObservedRecord | Record]) -> None:
        """Count one batch with these records (``batch.records`` or ``batch.profiling``)."""
        self.batches += 1
        for node, phase, seconds in timings(records):
            entry = self._seconds.get(node)
            if entry is None:
                entry = self._seconds[node] = [0.0, 0.0]
            entry[0 if phase == "prepare" else 1] += seconds

    def reset(self) -> None:
        self.batches = 0
        self._seconds = {}

    def rows(self) -> list[ProfileRow]:
        """Mean milliseconds per batch for each node, upstream first."""
        n = max(self.batches, 1)
        total = sum(a + b for a, b in self._seconds.values())
        return [
            ProfileRow(node, 1e3 * prep / n, 1e3 * proc / n, (prep + proc) / total if total > 0 else 0.0)
            for node, (prep, proc) in self._seconds.items()
        ]

    def table(self, title: str | None = None) -> str:
        """The rows as a fixed-width text table."""
        return format_table(self.rows(), self.batches, title)


def format_table(rows: list[ProfileRow], batches: int, title: str | None = None) -> str:
    """A readable table: node, prepare ms, process ms (means per batch) and share of the total.

    Example:
        >>> rows = [ProfileRow("Hdf5Source(a.h5)", 0.0, 12.5, 0.8), ProfileRow("Normalize(RAW)", 0.01, 3.1, 0.2)]
        >>> print(format_table(rows, 10))
        profiling: mean over 10 batches
        node              prepare ms  process ms   share
        Hdf5Source(a.h5)       0.000      12.500   80.0%
        Normalize(RAW)         0.010       3.100   20.0%
        total                  0.010      15.600  100.0%
    """
    header = f"{title}: mean over {batches} batches" if title else f"profiling: mean over {batches} batches"
    width = max([len("node"), len("total"), *(len(r.node) for r in rows)])
    lines = [header, f"{'node':<{width}}  {'prepare ms':>10}  {'process ms':>10}  {'share':>6}"]
    for r in rows:
        lines.append(f"{r.node:<{width}}  {r.prepare_ms:>10.3f}  {r.process_ms:>10.3f}  {r.share:>6.1%}")
    prep = sum(r.prepare_ms for r in rows)
    proc = sum(r.process_ms for r in rows)
    share = sum(r.share for r in rows)
    lines.append(f"{'total':<{width}}  {prep:>10.3f}  {proc:>10.3f}  {share:>6.1%}")
    return "\n".join(lines)


__all__ = ["ProfileRow", "ProfileStats", "Record", "format_table", "profile_table", "timings"]
