"""Keys name the arrays and graphs of a batch: value objects, equal by kind and name."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any, Generic, TypeVar

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

K = TypeVar("K", "ArrayKey", "GraphKey")
V = TypeVar("V")


class KindView(MutableMapping[K, V], Generic[K, V]):
    """The entries of one kind of key (ArrayKey or GraphKey) of a keyed container, as a live mapping:
    gunpowder's ``batch.arrays``, ``request.array_specs`` and their graph counterparts.

    Reading, setting and deleting go to the owner (``owner[key] = value``, so the owner checks
    what is set); iterating reads ``entries``, the owner's own dict. Calling the view returns a
    plain dict of its entries (flowgraph's older ``batch.arrays()`` form).
    """

    __slots__ = ("_entries", "_kind", "_owner")

    def __init__(self, owner: Any, entries: dict[Any, Any], kind: type) -> None:
        self._owner = owner
        self._entries = entries
        self._kind = kind

    def __getitem__(self, key: K) -> V:
        if not isinstance(key, self._kind):
            raise KeyError(key)
        return self._owner[key]

    def __setitem__(self, key: K, value: V) -> None:
        if not isinstance(key, self._kind):
            raise ConfigError(f"{type(self._owner).__name__}: expected a {self._kind.__name__}, got {key!r}.")
        self._owner[key] = value

    def __delitem__(self, key: K) -> None:
        if not isinstance(key, self._kind):
            raise KeyError(key)
        del self._owner[key]

    def __iter__(self) -> Iterator[K]:
        kind = self._kind
        return (k for k in self._entries if isinstance(k, kind))  # type: ignore[misc]

    def __len__(self) -> int:
        kind = self._kind
        return sum(1 for k in self._entries if isinstance(k, kind))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, self._kind) and key in self._entries

    def __call__(self) -> dict[K, V]:
        kind = self._kind
        return {k: v for k, v in self._entries.items() if isinstance(k, kind)}  # type: ignore[misc]

    def copy(self) -> dict[K, V]:
        """A plain dict of the entries (the values themselves are shared)."""
        return self()

    def __repr__(self) -> str:
        return repr(self())


__all__ = ["ArrayKey", "ArrayKeys", "GraphKey", "GraphKeys", "Key", "KindView"]
