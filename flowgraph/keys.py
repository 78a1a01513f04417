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
        setattr(self._namespace, name, self)

    _namespace: type = object  # the class of ArrayKeys or GraphKeys, set on the subclasses

    @property
    def name(self) -> str:
        return self._name

    @property
    def identifier(self) -> str:
        """The name (gunpowder's word for it)."""
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


class ArrayKeys:
    """Every ArrayKey created so far, by name: after ``ArrayKey("RAW")``, ``ArrayKeys.RAW`` is it.

    As in gunpowder. Keys are values (``ArrayKey("RAW") == ArrayKey("RAW")``), so the attribute
    is the most recently created of equal keys.
    """


class GraphKeys:
    """Every GraphKey created so far, by name: after ``GraphKey("SYNAPSES")``, ``GraphKeys.SYNAPSES`` is it."""


class ArrayKey(_Key):
    """Names an array, e.g. ``ArrayKey("RAW")``; creating one makes ``ArrayKeys.RAW`` exist.

    Example:
        >>> raw = ArrayKey("RAW")
        >>> ArrayKeys.RAW == raw, raw.identifier
        (True, 'RAW')
    """

    __slots__ = ()
    kind = "array"
    _namespace = ArrayKeys


class GraphKey(_Key):
    """Names a graph of points, e.g. ``GraphKey("SYNAPSES")``; creating one makes ``GraphKeys.SYNAPSES`` exist."""

    __slots__ = ()
    kind = "graph"
    _namespace = GraphKeys


Key = ArrayKey | GraphKey

__all__ = ["ArrayKey", "ArrayKeys", "GraphKey", "GraphKeys", "Key"]
