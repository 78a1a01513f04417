"""Batch: the arrays and graphs a pipeline delivers, by key, plus per-node timings."""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, MutableMapping, ValuesView
from typing import Any, overload

from flowgraph.array import Array
from flowgraph.errors import ConfigError
from flowgraph.graph import Graph
from flowgraph.keys import ArrayKey, GraphKey, Key
from flowgraph.profiling import profile_table
from flowgraph.specs import SpecMap

Data = Array | Graph


class Batch(MutableMapping[Key, Data]):
    """key -> Array (for ArrayKeys) or Graph (for GraphKeys).

    ``profiling`` lists ``(node name, phase, seconds)`` for every node the batch went through,
    upstream first.
    """

    __slots__ = ("_data", "profiling")

    def __init__(self, items: dict[Key, Data] | None = None) -> None:
        self._data: dict[Key, Data] = {}
        self.profiling: list[tuple[str, str, float]] = []
        for key, value in (items or {}).items():
            self[key] = value

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

    def arrays(self) -> dict[ArrayKey, Array]:
        return {k: v for k, v in self._data.items() if isinstance(k, ArrayKey)}  # type: ignore[misc]

    def graphs(self) -> dict[GraphKey, Graph]:
        return {k: v for k, v in self._data.items() if isinstance(k, GraphKey)}  # type: ignore[misc]

    def crop(self, request: SpecMap) -> Batch:
        """A batch with exactly the keys of ``request``, each cropped (as a view) to its ROI."""
        out = Batch()
        out.profiling = self.profiling
        for key, spec in request.items():
            value = self._data[key]
            out._data[key] = value if spec.roi is None else value.crop(spec.roi)
        return out

    def profile_table(self) -> list[dict[str, Any]]:
        """Timings summed per node: ``[{"node", "prepare", "process"}]``, upstream first."""
        return profile_table(self.profiling)

    def __repr__(self) -> str:
        body = ", ".join(f"{k}: {v!r}" for k, v in self._data.items())
        return f"Batch({body})"


__all__ = ["Batch"]
