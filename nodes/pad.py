"""Pad: extend the ROI of an array or graph so requests may reach past the data's border."""

from __future__ import annotations

from typing import Any

import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.coordinate import Coordinate, integral_coordinate
from flowgraph.errors import ConfigError, RequestError, SetupError
from flowgraph.graph import Graph
from flowgraph.keys import ArrayKey, Key
from flowgraph.provider import BatchFilter
from flowgraph.request import BatchRequest
from flowgraph.roi import Roi
from flowgraph.specs import ArraySpec
from flowgraph.validate import any_key, number, upstream_array


def pad_array(data: np.ndarray, before: tuple[int, ...], after: tuple[int, ...], value: float) -> np.ndarray:
    """Constant-pad the trailing (spatial) axes of ``data``."""
    lead = data.ndim - len(before)
    return np.pad(data, [(0, 0)] * lead + list(zip(before, after)), mode="constant", constant_values=value)


def reflect_indices(begin: int, end: int, size: int) -> np.ndarray:
    """For positions ``begin .. end - 1`` of an axis of ``size`` voxels, the voxel each reads
    when the axis is mirrored at its borders without repeating the edge (numpy's "reflect").

    Example:
        >>> reflect_indices(-3, 6, 4).tolist()
        [3, 2, 1, 0, 1, 2, 3, 2, 1]
    """
    positions = np.arange(begin, end)
    if size == 1:
        return np.zeros_like(positions)
    period = 2 * (size - 1)
    folded = positions % period
    return np.where(folded < size, folded, period - folded)


def reflect_array(data: np.ndarray, indices: list[np.ndarray]) -> np.ndarray:
    """``data`` read at ``indices`` (one index array per trailing spatial axis)."""
    lead = data.ndim - len(indices)
    for axis, index in enumerate(indices):
        data = np.take(data, index, axis=lead + axis)
    return data


def check_fill_value(node: str, key: Key, value: float, dtype: np.dtype) -> None:
    """Raise SetupError unless ``value`` is exactly representable in ``dtype`` (300 is not a uint8)."""
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        ok = float(value).is_integer() and info.min <= value <= info.max
        allowed = f"an integer in [{info.min}, {info.max}]"
    elif dtype.kind == "b":
        ok, allowed = value in (0, 1), "0 or 1"
    else:
        return
    if not ok:
        raise SetupError(
            f"{node}: value {value:g} does not fit {key}'s dtype {dtype}; pass {allowed} (numpy would wrap it "
            "around or truncate it silently)."
        )


class Pad(BatchFilter):
    """Add a border of ``size`` (world units) around ``key``'s ROI, filled with ``value`` or mirrored.

    Args:
        key: the ArrayKey or GraphKey to pad.
        size: world units per axis to add on each side; ``None`` (for all axes or one) means
            unbounded.
        mode: ``"constant"`` (fill with ``value``) or ``"reflect"`` (mirror the data at its border
            without repeating the edge voxel, numpy's "reflect", repeatedly for wide borders).
        value: fill value for arrays in ``"constant"`` mode; by default 0.

    Requires: ``key``.

    Updates: ``key`` (its ROI grows by ``size`` on both sides).

    Request: upstream asks only for the part of the request that lies inside the data (in
    ``"reflect"`` mode: the part of the data the mirrored request reads).

    Randomness: none.

    Raises:
        ConfigError: bad ``key``, ``size`` or ``value``.
        SetupError: ``key`` not provided upstream, or ``size`` not on the voxel grid.

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> source = fg.ArraySource(raw, fg.Array(np.ones((2, 2), np.uint8),
        ...                         fg.ArraySpec(roi=fg.Roi((0, 0), (2, 2)), voxel_size=(1, 1))))
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((-1, 0), (3, 2)))
        >>> with fg.build(source + fg.Pad(raw, (1, 1))) as p:
        ...     p.request_batch(request)[raw].data
        array([[0, 0],
               [1, 1],
               [1, 1]], dtype=uint8)
    """

    autoskip = True  # flowgraph's rules for library nodes (see BatchFilter)
    exact_dependencies = True

    def __init__(self, key: Key, size: Any, mode: str = "constant", value: float | None = None) -> None:
        self.key = any_key("Pad", "key", key)
        if mode not in ("constant", "reflect"):
            raise ConfigError(
                f"Pad({key}): mode must be 'constant' or 'reflect', got {mode!r}; pass a fill value as value=..."
            )
        self.mode = mode
        if size is None:
            self.size: Coordinate | None = None
        else:
            try:
                self.size = integral_coordinate(size)  # strict: a fractional size is a mistake
            except (ConfigError, TypeError) as e:
                raise ConfigError(f"Pad({key}): size must be a sequence of integers or None, got {size!r}.") from e
            if any(s is not None and s < 0 for s in self.size):
                raise ConfigError(f"Pad({key}): size must be >= 0, got {tuple(self.size)}.")
        self.value = 0.0 if value is None else number("Pad", "value", value)

    def setup(self) -> None:
        if isinstance(self.key, ArrayKey):
            spec: Any = upstream_array(self.name, self.upstream_spec, self.key)
        else:
            spec = self.upstream_spec.get(self.key)
            if spec is None:
                upstream_array(self.name, self.upstream_spec, self.key)  # type: ignore[arg-type]
        roi = spec.roi
        self._data_roi = roi
        self._voxel_size = getattr(spec, "voxel_size", None)
        if self.mode == "reflect" and isinstance(spec, ArraySpec) and not roi.is_bounded():
            raise SetupError(
                f"{self.name}: mode='reflect' needs {self.key} bounded upstream to mirror it, got {roi}; "
                "put Pad right after the source or use mode='constant'."
            )
        size = self.size if self.size is not None else Coordinate((None,) * roi.dims)
        if len(size) != roi.dims:
            raise SetupError(
                f"{self.name}: size {tuple(size)} has {len(size)} axes, {self.key} has {roi.dims}; "
                "give one size per axis."
            )
        if isinstance(spec, ArraySpec) and (size % spec.voxel_size) != Coordinate(
            (None if s is None else 0) for s in size
        ):
            raise SetupError(
                f"{self.name}: size {tuple(size)} is not a multiple of the voxel size {spec.voxel_size}; "
                "give the size in world units (voxels * voxel_size)."
            )
        if isinstance(spec, ArraySpec) and spec.dtype is not None:
            check_fill_value(self.name, self.key, self.value, spec.dtype)
        begin = [None if s is None else b - s for b, s in zip(roi.begin, size)]
        end = [None if s is None else e + s for e, s in zip(roi.end, size)]
        self.updates(self.key, spec.with_roi(Roi.from_begin_end(begin, end)))

    def prepare(self, request: BatchRequest) -> BatchRequest:
        deps = BatchRequest(random_seed=request.random_seed)
        spec = request[self.key]
        if spec.roi is None:
            raise RequestError(
                f"{self.name}: {self.key} is requested without a ROI, but its padded ROI may be unbounded; "
                "request a ROI."
            )
        if self.mode == "reflect" and isinstance(spec, ArraySpec):
            assert self._voxel_size is not None  # setup() refused reflect without a bounded array
            deps[self.key] = spec.with_roi(self._mirrored(spec.roi, self._voxel_size)[0])
            return deps
        inside = spec.roi.intersect(self._data_roi)
        if inside.empty():
            # nothing of the data is needed; ask for one voxel / an empty graph ROI at the border
            inside = Roi(self._data_roi.begin, Coordinate(getattr(spec, "voxel_size", None) or (0,) * inside.dims))
        deps[self.key] = spec.with_roi(inside)
        return deps

    def _mirrored(self, roi: Roi, vs: Coordinate) -> tuple[Roi, list[np.ndarray]]:
        """The data ROI the mirrored ``roi`` reads, and per axis the voxels of it each output reads."""
        data = self._data_roi
        begin, shape = ((roi.begin - data.begin) // vs).ints(), (roi.shape // vs).ints()
        sizes = (data.shape // vs).ints()
        full = [reflect_indices(b, b + s, n) for b, s, n in zip(begin, shape, sizes)]
        low = [int(i.min()) for i in full]
        high = [int(i.max()) + 1 for i in full]
        read = Roi(data.begin + Coordinate(low) * vs, Coordinate(h - lo for h, lo in zip(high, low)) * vs)
        return read, [i - lo for i, lo in zip(full, low)]

    def process(self, batch: Batch, request: BatchRequest) -> Batch:
        value = batch[self.key]
        roi = request[self.key].roi
        assert roi is not None  # prepare() refused requests without a ROI
        if isinstance(value, Graph):
            return Batch({self.key: value.subset(np.ones(len(value), dtype=bool), value.spec.with_roi(roi))})
        vs = value.voxel_size
        if self.mode == "reflect":
            read, indices = self._mirrored(roi, vs)
            return Batch({self.key: Array(reflect_array(value.crop(read).data, indices), value.spec.with_roi(roi))})
        inside = roi.intersect(value.roi)
        if inside.empty():
            shape = value.data.shape[: value.data.ndim - roi.dims] + (roi.shape // vs).ints()
            data = np.full(shape, self.value, dtype=value.data.dtype)
        else:
            value = value.crop(inside)
            before = ((inside.begin - roi.begin) // vs).ints()
            after = ((roi.end - inside.end) // vs).ints()
            data = pad_array(value.data, before, after, self.value)
        return Batch({self.key: Array(data, value.spec.with_roi(roi))})
