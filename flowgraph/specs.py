"""Specs describe arrays and graphs (what a node offers, what a caller wants) without data."""

from __future__ import annotations

import dataclasses
from collections.abc import ItemsView, Iterable, Iterator, KeysView, MutableMapping, ValuesView
from typing import Any, TypeVar, overload

import numpy as np

from flowgraph.coordinate import Coordinate
from flowgraph.errors import ConfigError
from flowgraph.keys import ArrayKey, GraphKey, Key, KindView
from flowgraph.roi import Roi, as_roi

_S = TypeVar("_S")


def _shallow(spec: _S) -> _S:
    """A copy of ``spec`` sharing its (immutable) field values; 5x cheaper than ``copy.copy``."""
    new = object.__new__(type(spec))
    new.__dict__ = spec.__dict__.copy()
    return new


def _roi_or_none(owner: str, roi: Any) -> Roi | None:
    if roi is None or isinstance(roi, Roi):
        return roi
    if hasattr(roi, "shape") and (hasattr(roi, "offset") or hasattr(roi, "begin")):
        return as_roi(roi, owner)  # another box type (funlib.geometry's Roi, in gunpowder code)
    raise ConfigError(f"{owner}: roi must be a Roi or None, got {type(roi).__name__}.")


def _flag(owner: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{owner}: placeholder must be True or False, got {value!r}.")
    return bool(value)


@dataclasses.dataclass(eq=True)
class ArraySpec:
    """What is known about an array: where it is, its grid, how to resample it, its dtype.

    Args:
        roi: region in world units (``None`` while unknown).
        voxel_size: world size of one voxel per spatial axis.
        interpolatable: images interpolate; labels, masks and ids must not (nearest neighbour).
        dtype: numpy dtype of the data.
        nonspatial: the array has no spatial extent (a vector of values per batch).
        placeholder: in a request, the key's ROI takes part in the negotiation (RandomLocation
            keeps it inside the data, a warp reads around it) but no data is delivered for it.
    """

    roi: Roi | None = None
    voxel_size: Coordinate | None = None
    interpolatable: bool | None = None
    dtype: np.dtype | None = None
    nonspatial: bool = False
    placeholder: bool = False

    def __post_init__(self) -> None:
        self.roi = _roi_or_none("ArraySpec", self.roi)
        if self.voxel_size is not None:
            vs = Coordinate(self.voxel_size)
            if not vs.is_bounded() or any(v <= 0 for v in vs.ints()):
                raise ConfigError(f"ArraySpec: voxel_size must be positive integers, got {tuple(vs)}.")
            self.voxel_size = vs
        if self.dtype is not None:
            try:
                self.dtype = np.dtype(self.dtype)
            except TypeError as e:
                raise ConfigError(f"ArraySpec: dtype {self.dtype!r} is not a numpy dtype.") from e
        if self.interpolatable is not None and not isinstance(self.interpolatable, (bool, np.bool_)):
            raise ConfigError(f"ArraySpec: interpolatable must be a bool, got {self.interpolatable!r}.")
        self.placeholder = _flag("ArraySpec", self.placeholder)

    def copy(self) -> ArraySpec:
        """A shallow copy (the fields are immutable values): no re-validation."""
        return _shallow(self)

    def with_roi(self, roi: Roi | None) -> ArraySpec:
        """A copy with ``roi`` instead of this spec's ROI, for the hot path (only ``roi`` is checked).

        Example:
            >>> spec = ArraySpec(roi=Roi((0, 0), (4, 4)), voxel_size=(2, 2))
            >>> moved = spec.with_roi(Roi((2, 2), (4, 4)))
            >>> moved.roi, moved.voxel_size, spec.roi
            (Roi([2:6, 2:6]), Coordinate(2, 2), Roi([0:4, 0:4]))
        """
        new = _shallow(self)
        new.roi = _roi_or_none("ArraySpec", roi)
        return new

    def replace(self, **fields: Any) -> ArraySpec:
        """A copy with ``fields`` replaced; every field is validated as by the constructor.

        Example:
            >>> ArraySpec(voxel_size=(4, 4)).replace(dtype="uint8").dtype
            dtype('uint8')
        """
        return dataclasses.replace(self, **fields)

    def update(self, other: ArraySpec) -> ArraySpec:
        """A copy with every field that ``other`` sets (not None) taken from ``other``."""
        new = self.copy()
        for f in dataclasses.fields(self):
            value = getattr(other, f.name)
            if value is not None and not (f.name in ("nonspatial", "placeholder") and value is False):
                setattr(new, f.name, value)
        return new

    def update_with(self, spec: ArraySpec) -> None:
        """Merge ``spec`` into this spec in place, as gunpowder's ``update_with``: the ROI becomes the
        union of both, every other field that ``spec`` sets (not None) is taken from it, and
        ``nonspatial`` is always taken from it.

        Example:
            >>> spec = ArraySpec(roi=Roi((0, 0), (4, 4)), voxel_size=(1, 1))
            >>> spec.update_with(ArraySpec(roi=Roi((2, 2), (4, 4)), dtype="uint8"))
            >>> spec.roi, spec.voxel_size, spec.dtype
            (Roi([0:6, 0:6]), Coordinate(1, 1), dtype('uint8'))
        """
        if not isinstance(spec, ArraySpec):
            raise ConfigError(f"ArraySpec.update_with: expected an ArraySpec, got {type(spec).__name__}.")
        if spec.roi is not None:
            self.roi = spec.roi if self.roi is None else self.roi.union(spec.roi)
        for name in ("voxel_size", "interpolatable", "dtype"):
            value = getattr(spec, name)
            if value is not None:
                setattr(self, name, value)
        self.nonspatial = spec.nonspatial
        self.placeholder = spec.placeholder


@dataclasses.dataclass(eq=True)
class GraphSpec:
    """What is known about a graph: the region its points lie in and whether edges are directed.

    ``dtype`` is the dtype of the point locations: flowgraph stores them as float64 (gunpowder's
    default is float32); any float dtype is accepted and recorded.
    """

    roi: Roi | None = None
    directed: bool | None = None
    dtype: np.dtype = dataclasses.field(default=np.dtype(np.float64), repr=False)
    placeholder: bool = False

    def __post_init__(self) -> None:
        self.roi = _roi_or_none("GraphSpec", self.roi)
        self.placeholder = _flag("GraphSpec", self.placeholder)
        if not isinstance(self.dtype, np.dtype):
            try:
                self.dtype = np.dtype(self.dtype)
            except TypeError as e:
                raise ConfigError(f"GraphSpec: dtype {self.dtype!r} is not a numpy dtype.") from e
        if self.dtype.kind != "f":
            raise ConfigError(f"GraphSpec: dtype must be a float dtype (of the point locations), got {self.dtype}.")

    def copy(self) -> GraphSpec:
        """A shallow copy (the fields are immutable values): no re-validation."""
        return _shallow(self)

    def with_roi(self, roi: Roi | None) -> GraphSpec:
        """A copy with ``roi`` instead of this spec's ROI (see :meth:`ArraySpec.with_roi`)."""
        new = _shallow(self)
        new.roi = _roi_or_none("GraphSpec", roi)
        return new

    def replace(self, **fields: Any) -> GraphSpec:
        """A copy with ``fields`` replaced, validated as by the constructor."""
        return dataclasses.replace(self, **fields)

    def update(self, other: GraphSpec) -> GraphSpec:
        new = self.copy()
        if other.roi is not None:
            new.roi = other.roi
        if other.directed is not None:
            new.directed = other.directed
        return new

    def update_with(self, spec: GraphSpec) -> None:
        """Merge ``spec`` into this spec in place, as gunpowder's ``update_with``: the ROI becomes the
        union of both; ``directed`` and ``dtype`` are taken from ``spec`` where it sets them."""
        if not isinstance(spec, GraphSpec):
            raise ConfigError(f"GraphSpec.update_with: expected a GraphSpec, got {type(spec).__name__}.")
        if spec.roi is not None:
            self.roi = spec.roi if self.roi is None else self.roi.union(spec.roi)
        if spec.directed is not None:
            self.directed = spec.directed
        self.dtype = spec.dtype
        self.placeholder = spec.placeholder


Spec = ArraySpec | GraphSpec


def check_key_spec(owner: str, key: Any, spec: Any) -> None:
    """Raise ConfigError unless ``key`` and ``spec`` are an ArrayKey/ArraySpec or GraphKey/GraphSpec."""
    if isinstance(key, ArrayKey):
        if not isinstance(spec, ArraySpec):
            raise ConfigError(f"{owner}: {key} is an ArrayKey and needs an ArraySpec, got {type(spec).__name__}.")
    elif isinstance(key, GraphKey):
        if not isinstance(spec, GraphSpec):
            raise ConfigError(f"{owner}: {key} is a GraphKey and needs a GraphSpec, got {type(spec).__name__}.")
    else:
        raise ConfigError(f"{owner}: keys must be ArrayKey or GraphKey, got {key!r} ({type(key).__name__}).")


class SpecMap(MutableMapping[Key, Spec]):
    """A mapping from keys to specs (base of ProviderSpec and BatchRequest)."""

    def __init__(self, specs: Iterable[tuple[Key, Spec]] | dict[Key, Spec] | None = None) -> None:
        self._specs: dict[Key, Spec] = {}
        items = specs.items() if isinstance(specs, dict) else (specs or ())
        for key, spec in items:
            self[key] = spec

    # the spec of an ArrayKey is an ArraySpec, that of a GraphKey a GraphSpec (``__setitem__`` checks)
    @overload
    def __getitem__(self, key: ArrayKey) -> ArraySpec: ...
    @overload
    def __getitem__(self, key: GraphKey) -> GraphSpec: ...
    @overload
    def __getitem__(self, key: Key) -> Spec: ...
    def __getitem__(self, key: Key) -> Spec:
        try:
            return self._specs[key]
        except KeyError:
            raise KeyError(key) from None

    def __setitem__(self, key: Key, spec: Spec) -> None:
        check_key_spec(type(self).__name__, key, spec)
        self._specs[key] = spec

    def __delitem__(self, key: Key) -> None:
        del self._specs[key]

    def __iter__(self) -> Iterator[Key]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    # direct dict views: the Mapping mixins would go through __getitem__ per key (hot path)
    def __contains__(self, key: object) -> bool:
        return key in self._specs

    def items(self) -> ItemsView[Key, Spec]:
        return self._specs.items()

    def keys(self) -> KeysView[Key]:
        return self._specs.keys()

    def values(self) -> ValuesView[Spec]:
        return self._specs.values()

    def get(self, key: Key, default: Any = None) -> Any:
        return self._specs.get(key, default)

    @property
    def array_specs(self) -> SpecsOfKind[ArrayKey, ArraySpec]:
        """The array keys and their specs: a live dict-like view, as gunpowder's ``array_specs``
        (``spec.array_specs[key] = ...`` writes through). Calling it, ``array_specs()``, gives a
        plain dict."""
        return SpecsOfKind(self, self._specs, ArrayKey)

    @property
    def graph_specs(self) -> SpecsOfKind[GraphKey, GraphSpec]:
        """The graph keys and their specs: a live dict-like view (see :attr:`array_specs`)."""
        return SpecsOfKind(self, self._specs, GraphKey)

    def get_total_roi(self) -> Roi | None:
        """The union of all ROIs (None if there are none), as in gunpowder."""
        return self.total_roi()

    def get_common_roi(self) -> Roi | None:
        """The intersection of all ROIs (None if there are none), as in gunpowder."""
        common = None
        for spec in self._specs.values():
            if spec.roi is not None:
                common = spec.roi if common is None else common.intersect(spec.roi)
        return common

    def get_lcm_voxel_size(self, array_keys: Iterable[ArrayKey] | None = None) -> Coordinate | None:
        """The least common multiple of the voxel sizes of ``array_keys`` (default: every array).

        None if there are no such arrays or none has a voxel size, as in gunpowder.
        """
        keys = [k for k in self._specs if isinstance(k, ArrayKey)] if array_keys is None else list(array_keys)
        lcm = None
        for key in keys:
            voxel_size = self[key].voxel_size
            if voxel_size is not None:
                lcm = voxel_size if lcm is None else lcm.lcm(voxel_size)
        return lcm

    def total_roi(self) -> Roi | None:
        """The union of all spatial ROIs (None if there are none)."""
        total = None
        for spec in self._specs.values():
            if spec.roi is None or (isinstance(spec, ArraySpec) and spec.nonspatial):
                continue
            total = spec.roi if total is None else total.union(spec.roi)
        return total

    def common_voxel_size(self) -> Coordinate | None:
        """The least common multiple of all array voxel sizes (None if there are none)."""
        common = None
        for spec in self.array_specs().values():
            if spec.voxel_size is None or spec.nonspatial:
                continue
            common = spec.voxel_size if common is None else common.lcm(spec.voxel_size)
        return common

    def copy(self) -> Any:
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._specs = {k: s.copy() for k, s in self._specs.items()}
        return new

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SpecMap):
            return NotImplemented
        return self._specs == other._specs

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}("]
        for key, spec in self._specs.items():
            lines.append(f"  {key}: {spec},")
        return "\n".join(lines) + ")"


#: the live array (or graph) entries of a spec map (see flowgraph.keys.KindView)
SpecsOfKind = KindView


class ProviderSpec(SpecMap):
    """What a node offers: key -> spec."""


__all__ = ["ArraySpec", "GraphSpec", "ProviderSpec", "Spec", "SpecMap", "check_key_spec"]


def default_interpolatable(dtype: np.dtype) -> bool:
    """Images (floats, uint8, uint16) interpolate; other integers and bools are labels/masks/ids."""
    return dtype.kind == "f" or dtype in (np.dtype(np.uint8), np.dtype(np.uint16))
