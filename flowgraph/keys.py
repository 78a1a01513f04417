"""Keys name the arrays and graphs of a batch: value objects, equal by kind and name."""

from __future__ import annotations

from flowgraph.errors import ConfigError


class _Key:
    __slots__ = ("_hash", "_name")
    kind = "key"

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{type(self).__name__}: name must be a non-empty string, got {name!r}.")
        self._name = name
        self._hash = hash((self.kind, name))  # keys are looked up in every node: hash once

    @property
    def name(self) -> str:
        return self._name

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._name == self._name

    def __lt__(self, other: _Key) -> bool:
        return (self.kind, self._name) < (other.kind, other._name)

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return self._name

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return (type(self), (self._name,))


class ArrayKey(_Key):
    """Names an array, e.g. ``ArrayKey("RAW")``."""

    __slots__ = ()
    kind = "array"


class GraphKey(_Key):
    """Names a graph of points, e.g. ``GraphKey("SYNAPSES")``."""

    __slots__ = ()
    kind = "graph"


Key = ArrayKey | GraphKey

__all__ = ["ArrayKey", "GraphKey", "Key"]
