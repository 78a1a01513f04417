"""Batch: the arrays and graphs a pipeline delivers, by key, plus the records of what happened to it."""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, KeysView, MutableMapping, MutableSequence, ValuesView
from typing import Any, overload

from flowgraph.array import Array
from flowgraph.errors import ConfigError
from flowgraph.graph import Graph
from flowgraph.keys import ArrayKey, GraphKey, Key, KindView
from flowgraph.observe import Record, as_record, parameters_of
from flowgraph.profiling import ProfilingStats, profile_table
from flowgraph.roi import Roi
from flowgraph.specs import SpecMap

Data = Array | Graph
Timing = tuple[str, str, float]


class Timings(MutableSequence[Timing]):
    """The timing records of a batch's ``records`` as ``(node name, phase, seconds)`` tuples.

    A live view: appending a tuple appends a timing record to the batch's records. Extending
    it with another batch's view carries over all that batch's records (timings, drawn
    parameters and steps alike), so nodes that merge batches this way lose nothing.
    """

    __slots__ = ("_records",)

    def __init__(self, records: list[Record]) -> None:
        self._records = records

    def _timings(self) -> list[Timing]:
        return [(r.node, r.phase, r.seconds) for r in self._records if r.is_timing]

    def _index(self, i: int) -> int:
        """The index in the records of timing ``i`` (``len(self)``: the end)."""
        where = [j for j, r in enumerate(self._records) if r.is_timing]
        if i < 0:
            i += len(where)
        if i == len(where):
            return len(self._records)
        if not 0 <= i < len(where):
            raise IndexError("profiling index out of range")
        return where[i]

    def __len__(self) -> int:
        return sum(1 for r in self._records if r.is_timing)

    def __iter__(self) -> Iterator[Timing]:
        return ((r.node, r.phase, r.seconds) for r in self._records if r.is_timing)

    @overload
    def __getitem__(self, i: int) -> Timing: ...
    @overload
    def __getitem__(self, i: slice) -> list[Timing]: ...
    def __getitem__(self, i: int | slice) -> Timing | list[Timing]:
        return self._timings()[i]

    def __setitem__(self, i: Any, value: Any) -> None:
        if isinstance(i, slice):
            raise TypeError("profiling: slice assignment is not supported; assign batch.records instead")
        self._records[self._index(i)] = as_record(value)

    def __delitem__(self, i: Any) -> None:
        if isinstance(i, slice):
            raise TypeError("profiling: slice deletion is not supported; assign batch.records instead")
        del self._records[self._index(i)]

    def insert(self, i: int, value: Timing) -> None:
        self._records.insert(self._index(min(max(i, -len(self)), len(self))), as_record(value))

    def append(self, value: Timing) -> None:
        self._records.append(as_record(value))

    def extend(self, values: Iterable[Timing]) -> None:
        if isinstance(values, Timings):
            self._records.extend(values._records)
        else:
            self._records.extend(as_record(v) for v in values)

    def __iadd__(self, values: Iterable[Timing]) -> Timings:
        self.extend(values)
        return self

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Timings):
            return self._timings() == other._timings()
        if isinstance(other, (list, tuple)):
            return self._timings() == [tuple(o) for o in other]
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._timings())


class Batch(MutableMapping[Key, Data]):
    """key -> Array (for ArrayKeys) or Graph (for GraphKeys), plus the batch's ``records``.

    ``records`` lists what happened to the batch, upstream first (see ``flowgraph.observe``):
    the time every node spent, and inside ``fg.observing(...)`` the parameters random nodes
    drew and a copy of what each node delivered. ``profiling`` shows the timing records as
    ``(node name, phase, seconds)`` tuples.
    """

    __slots__ = ("_data", "_records", "_timings")

    def __init__(self, items: dict[Key, Data] | None = None) -> None:
        self._data: dict[Key, Data] = {}
        self._records: list[Record] = []
        self._timings: Timings | None = None
        for key, value in (items or {}).items():
            self[key] = value

    # -- records --------------------------------------------------------------------------------------
    @property
    def records(self) -> list[Record]:
        """What happened to this batch, upstream first: a list of ``flowgraph.observe.Record``."""
        return self._records

    @records.setter
    def records(self, records: list[Record]) -> None:
        self._records = records
        self._timings = None

    @property
    def profiling_stats(self) -> ProfilingStats:
        """The timings grouped per node class and phase, with gunpowder's summary methods."""
        return ProfilingStats.from_records(self._records)

    @property
    def profiling(self) -> Timings:
        """The timing records as ``(node name, phase, seconds)`` tuples (a live view of ``records``)."""
        timings = self._timings
        if timings is None or timings._records is not self._records:
            timings = self._timings = Timings(self._records)
        return timings

    @profiling.setter
    def profiling(self, value: Iterable[Record | Timing]) -> None:
        if isinstance(value, Timings):  # another batch's: share its records
            self._records, self._timings = value._records, value
        else:
            self.records = [as_record(v) for v in value]

    def share_records(self, other: Batch) -> None:
        """Make this batch's records ``other``'s (one list: what either adds, both have)."""
        self._records, self._timings = other._records, other._timings

    def drawn_parameters(self) -> dict[int, Any]:
        """The parameters random nodes drew for this batch, by node position.

        Empty unless the batch was requested inside ``fg.observing("params")``. Pass it to
        ``fg.replaying`` to make the same batch again.

        Raises:
            ValueError: two nodes drew at one position (branches joined by a MergeProvider).
        """
        return parameters_of(self._records)

    def steps(self) -> list[Record]:
        """The ``"step"`` records: what each node delivered (``record.value``, a Batch), upstream first.

        Empty unless the batch was requested inside ``fg.observing("steps")``.
        """
        return [r for r in self._records if r.phase == "step"]

    # the value of an ArrayKey is an Array, that of a GraphKey a Graph (``__setitem__`` checks)
    @overload
    def __getitem__(self, key: ArrayKey) -> Array: ...
    @overload
    def __getitem__(self, key: GraphKey) -> Graph: ...
    @overload
    def __getitem__(self, key: Key) -> Data: ...
    def __getitem__(self, key: Key) -> Data:
        return self._data[key]

    def __setitem__(self, key: Key, value: Data) -> None:
        if isinstance(key, ArrayKey):
            if not isinstance(value, Array):
                raise ConfigError(f"Batch: {key} is an ArrayKey and needs an Array, got {type(value).__name__}.")
        elif isinstance(key, GraphKey):
            if not isinstance(value, Graph):
                raise ConfigError(f"Batch: {key} is a GraphKey and needs a Graph, got {type(value).__name__}.")
        else:
            raise ConfigError(f"Batch: keys must be ArrayKey or GraphKey, got {key!r}.")
        self._data[key] = value

    def __delitem__(self, key: Key) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[Key]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    # direct dict views: the Mapping mixins would go through __getitem__ per key (hot path)
    def __contains__(self, key: object) -> bool:
        return key in self._data

    def items(self) -> ItemsView[Key, Data]:
        return self._data.items()

    def keys(self) -> KeysView[Key]:
        return self._data.keys()

    def values(self) -> ValuesView[Data]:
        return self._data.values()

    @property
    def arrays(self) -> KindView[ArrayKey, Array]:
        """The arrays by key: a live dict-like view, as gunpowder's ``batch.arrays``
        (``batch.arrays[key] = array`` writes to the batch); ``batch.arrays()`` gives a plain dict."""
        return KindView(self, self._data, ArrayKey)

    @property
    def graphs(self) -> KindView[GraphKey, Graph]:
        """The graphs by key: a live dict-like view (see :attr:`arrays`)."""
        return KindView(self, self._data, GraphKey)

    def get_total_roi(self) -> Roi | None:
        """The union of the ROIs of every array and graph (None if there is none), as in gunpowder."""
        total = None
        for value in self._data.values():
            roi = value.spec.roi
            if roi is not None and not (isinstance(value, Array) and value.spec.nonspatial):
                total = roi if total is None else total.union(roi)
        return total

    def crop(self, request: SpecMap) -> Batch:
        """A batch with exactly the keys of ``request``, each cropped (as a view) to its ROI."""
        out = Batch()
        out._records, out._timings = self._records, self._timings
        for key, spec in request.items():
            if spec.placeholder and key not in self._data:
                continue  # a placeholder's data is never delivered
            value = self._data[key]
            out._data[key] = value if spec.roi is None else value.crop(spec.roi)
        return out

    def profile_table(self) -> list[dict[str, Any]]:
        """Timings summed per node: ``[{"node", "prepare", "process"}]``, upstream first."""
        return profile_table(self._records)

    def __repr__(self) -> str:
        body = ", ".join(f"{k}: {v!r}" for k, v in self._data.items())
        return f"Batch({body})"


__all__ = ["Batch", "Timings"]
