"""RandomLocation: move each request to a random place where it fits inside the data."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.coordinate import Coordinate
from flowgraph.errors import ConfigError, SetupError, UnsatisfiableRequestError
from flowgraph.graph import Graph
from flowgraph.keys import ArrayKey, GraphKey, Key
from flowgraph.provider import BatchFilter
from flowgraph.request import BatchRequest
from flowgraph.roi import Roi
from flowgraph.specs import ArraySpec, GraphSpec
from flowgraph.validate import array_key, graph_key, probability, upstream_array

_MAX_POINT_TRIES = 100
_CACHE_SIZE = 16


def shift_range(rois: dict[Key, Roi], provided: dict[Key, Roi]) -> tuple[list[int | None], list[int | None]]:
    """Per axis the smallest and largest shift that keeps every ROI inside its provided ROI.

    ``None`` means the axis is unconstrained (no bounded provided ROI on it).
    """
    dims = next(iter(rois.values())).dims
    lo: list[int | None] = [None] * dims
    hi: list[int | None] = [None] * dims
    for key, roi in rois.items():
        bound = provided[key]
        for d in range(dims):
            if bound.begin[d] is None:
                continue
            a = bound.begin[d] - roi.begin[d]  # type: ignore[operator]
            b = bound.end[d] - roi.end[d]  # type: ignore[operator]
            lo[d] = a if lo[d] is None else max(lo[d], a)  # type: ignore[type-var]
            hi[d] = b if hi[d] is None else min(hi[d], b)  # type: ignore[type-var]
    return lo, hi


def window_counts(mask: np.ndarray, begin: tuple[int, ...], step: tuple[int, ...], count: tuple[int, ...],
                  window: tuple[int, ...]) -> np.ndarray:
    """Non-zero voxels of ``mask`` in windows of shape ``window`` starting at ``begin + k * step``.

    Returns an int64 array of shape ``count``. Box sums are taken axis by axis from cumulative
    sums (a separable summed-area table), keeping only the wanted window starts along each axis
    before moving on, so the cost is one pass over the mask.
    """
    counts = (mask != 0).astype(np.int32 if mask.size < 2**31 else np.int64)
    for axis, (b, s, n, w) in enumerate(zip(begin, step, count, window)):
        cum = np.cumsum(counts, axis=axis, dtype=counts.dtype)
        pad = [(0, 0)] * counts.ndim
        pad[axis] = (1, 0)
        cum = np.pad(cum, pad)
        starts = b + s * np.arange(n)
        counts = np.take(cum, starts + w, axis=axis) - np.take(cum, starts, axis=axis)
    return counts.astype(np.int64)


class RandomLocation(BatchFilter):
    """Shift each request to a uniformly random position where all requested ROIs fit.

    Args:
        min_masked: if > 0, only positions where at least this fraction of ``mask`` is
            non-zero inside the window are chosen (answered exactly from summed-area tables).
        mask: the ArrayKey of the mask, required with ``min_masked``.
        ensure_nonempty: a GraphKey; positions are chosen so that at least one of its points
            lies inside the requested graph ROI.
        p_nonempty: probability with which ``ensure_nonempty`` is enforced per request.

    Requires: every requested key, and ``mask`` / ``ensure_nonempty`` if given.

    Updates: every key; downstream their ROIs are unbounded (any position can be requested).

    Request: each requested ROI is shifted by the same random offset, a multiple of the least
    common multiple of the requested voxel sizes, uniformly over all offsets that keep every
    ROI inside the data. The masked window is the mask's requested ROI, or, if the mask is not
    requested, the union of all requested ROIs.

    Randomness: the offset (and the point for ``ensure_nonempty``) from this node's generator.

    Raises:
        ConfigError: bad arguments; ``min_masked`` without ``mask``.
        SetupError: ``mask`` or ``ensure_nonempty`` not provided upstream.
        UnsatisfiableRequestError: the request fits nowhere, or no position has enough mask or
            a point.

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> data = np.arange(100, dtype=np.int64).reshape(10, 10)
        >>> source = fg.ArraySource(raw, fg.Array(data, fg.ArraySpec(roi=fg.Roi((0, 0), (10, 10)), voxel_size=(1, 1))))
        >>> request = fg.BatchRequest(random_seed=5)
        >>> request.add(raw, (4, 4))
        >>> with fg.build(source + fg.RandomLocation()) as p:
        ...     batch = p.request_batch(request)
        >>> batch[raw].spec.roi, batch[raw].data.shape
        (Roi([-2:2, -2:2]), (4, 4))
    """

    def __init__(
        self,
        min_masked: float = 0,
        mask: ArrayKey | None = None,
        ensure_nonempty: GraphKey | None = None,
        p_nonempty: float = 1.0,
    ) -> None:
        self.min_masked = probability("RandomLocation", "min_masked", min_masked)
        self.mask = array_key("RandomLocation", "mask", mask, optional=True)
        if self.min_masked > 0 and self.mask is None:
            raise ConfigError("RandomLocation: min_masked > 0 needs mask=ArrayKey of the mask to check.")
        self.ensure_nonempty = graph_key("RandomLocation", "ensure_nonempty", ensure_nonempty, optional=True)
        self.p_nonempty = probability("RandomLocation", "p_nonempty", p_nonempty)
        self._lock = threading.Lock()

    def setup(self) -> None:
        self._data_rois: dict[Key, Roi] = {}
        if self.mask is not None:
            spec = upstream_array(self.name, self.upstream_spec, self.mask, " (the mask)")
            if spec.roi is None or not spec.roi.is_bounded():
                raise SetupError(f"{self.name}: the mask {self.mask} needs a bounded ROI upstream; put RandomLocation after the source.")
        if self.ensure_nonempty is not None and self.ensure_nonempty not in self.upstream_spec:
            raise SetupError(
                f"{self.name}: ensure_nonempty={self.ensure_nonempty} is not provided upstream; add a source for it."
            )
        for key, spec in self.upstream_spec.items():
            if spec.roi is None or (isinstance(spec, ArraySpec) and spec.nonspatial):
                continue
            self._data_rois[key] = spec.roi
            unbounded = spec.copy()
            unbounded.roi = Roi((None,) * spec.roi.dims, (None,) * spec.roi.dims)
            self.updates(key, unbounded)
        self._mask_data: np.ndarray | None = None
        self._points: np.ndarray | None = None
        self._tables: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()

    # -- the choice of a shift -------------------------------------------------------------------------
    def prepare(self, request: BatchRequest) -> tuple[BatchRequest, Coordinate]:
        rng = self.rng(request)
        rois = {k: s.roi for k, s in request.items() if k in self._data_rois and s.roi is not None}
        deps = BatchRequest(random_seed=request.random_seed)
        if not rois:
            return deps, Coordinate(())
        total = _union(rois.values())
        grid = request.common_voxel_size() or Coordinate((1,) * total.dims)
        window = None
        constrained = dict(rois)
        bounds = dict(self._data_rois)
        if self.min_masked > 0:
            assert self.mask is not None
            mask_vs = self.upstream_spec[self.mask].voxel_size  # type: ignore[union-attr]
            grid = grid.lcm(mask_vs)
            window = rois.get(self.mask) or total.snap_to_grid(mask_vs, "grow")
            constrained[_WINDOW] = window
            bounds[_WINDOW] = self._data_rois[self.mask]
        lo, hi = shift_range(constrained, bounds)
        first, count = [], []
        for d in range(total.dims):
            if lo[d] is None:
                first.append(0)
                count.append(1)
                continue
            f = -((-lo[d]) // grid[d]) * grid[d]  # type: ignore[operator]
            first.append(f)
            count.append(max(0, (hi[d] - f) // grid[d] + 1))  # type: ignore[operator]
        if 0 in count:
            worst = max(rois, key=lambda k: max((r / s) for r, s in zip(rois[k].shape, self._data_rois[k].shape)  # type: ignore[operator]
                                                 if s is not None))
            raise UnsatisfiableRequestError(
                f"{self.name}: no position of a {_voxels(request, worst)} request fits inside {worst}'s ROI "
                f"{self._data_rois[worst]}; pad upstream or request less."
            )
        valid = self._valid_positions(request, window, first, count, grid) if window is not None else None
        index = self._choose(request, rng, first, count, grid, valid)
        shift = Coordinate(f + i * g for f, i, g in zip(first, index, grid))
        for key, spec in request.items():
            moved = spec.copy()
            if key in self._data_rois and spec.roi is not None:
                moved.roi = spec.roi.shift(shift)
            deps[key] = moved
        return deps, shift

    def _valid_positions(self, request: BatchRequest, window: Roi, first: list[int], count: list[int],
                         grid: Coordinate) -> np.ndarray:
        """Boolean array over the candidate positions: does the window hold enough mask?"""
        assert self.mask is not None
        mask_spec = self.upstream_spec[self.mask]
        vs = mask_spec.voxel_size  # type: ignore[union-attr]
        mask_roi = self._data_rois[self.mask]
        begin = tuple((window.begin + Coordinate(first) - mask_roi.begin) // vs)
        key = (begin, tuple(grid // vs), tuple(count), tuple(window.shape // vs))
        with self._lock:
            table = self._tables.get(key)
            if table is None:
                counts = window_counts(self._mask(), begin, tuple(grid // vs), tuple(count), tuple(window.shape // vs))  # type: ignore[arg-type]
                needed = self.min_masked * (window.shape // vs).product()
                table = counts >= needed - 1e-9
                self._tables[key] = table
                if len(self._tables) > _CACHE_SIZE:
                    self._tables.popitem(last=False)
            else:
                self._tables.move_to_end(key)
        if not table.any():
            raise UnsatisfiableRequestError(
                f"{self.name}: no position of a {_voxels(request, self.mask, window)} window has >= "
                f"{self.min_masked:.0%} of {self.mask} masked in; lower min_masked or check the mask."
            )
        return table

    def _mask(self) -> np.ndarray:
        if self._mask_data is None:
            assert self.mask is not None
            spec = self.upstream_spec[self.mask]
            whole = BatchRequest({self.mask: ArraySpec(roi=spec.roi, voxel_size=spec.voxel_size)}, random_seed=0)  # type: ignore[union-attr]
            array = self.upstream.request_batch(whole)[self.mask]
            data = array.data  # type: ignore[union-attr]
            self._mask_data = (data != 0) if data.ndim == spec.roi.dims else (data != 0).any(axis=tuple(range(data.ndim - spec.roi.dims)))  # type: ignore[union-attr]
        return self._mask_data

    def _points_of(self) -> np.ndarray:
        if self._points is None:
            assert self.ensure_nonempty is not None
            spec = self.upstream_spec[self.ensure_nonempty]
            whole = BatchRequest({self.ensure_nonempty: GraphSpec(roi=spec.roi)}, random_seed=0)
            graph = self.upstream.request_batch(whole)[self.ensure_nonempty]
            self._points = graph.locations  # type: ignore[union-attr]
        return self._points

    def _choose(self, request: BatchRequest, rng: np.random.Generator, first: list[int], count: list[int],
                grid: Coordinate, valid: np.ndarray | None) -> tuple[int, ...]:
        """A uniformly random candidate index (respecting ``valid`` and ``ensure_nonempty``)."""
        use_points = self.ensure_nonempty is not None and self.ensure_nonempty in request and rng.random() < self.p_nonempty
        if not use_points:
            if valid is None:
                return tuple(int(rng.integers(n)) for n in count)
            flat = np.flatnonzero(valid)
            return tuple(int(i) for i in np.unravel_index(flat[rng.integers(len(flat))], valid.shape))
        assert self.ensure_nonempty is not None
        points = self._points_of()
        graph_roi = request[self.ensure_nonempty].roi
        assert graph_roi is not None
        if len(points):
            for _ in range(_MAX_POINT_TRIES):
                p = points[rng.integers(len(points))]
                # graph_roi.begin + s <= p < graph_roi.end + s, with s = first + i * grid
                box = []
                for d in range(len(count)):
                    b, e = graph_roi.begin[d], graph_roi.end[d]
                    if b is None:
                        box.append(slice(0, count[d]))
                        continue
                    lo = int(np.floor(p[d] - e)) + 1  # type: ignore[operator]
                    hi = int(np.floor(p[d] - b))  # type: ignore[operator]
                    i0 = max(0, -((first[d] - lo) // grid[d]))  # type: ignore[operator]
                    i1 = min(count[d] - 1, (hi - first[d]) // grid[d])  # type: ignore[operator]
                    box.append(slice(i0, i1 + 1))
                if any(s.stop <= s.start for s in box):
                    continue
                sub = np.ones([s.stop - s.start for s in box], dtype=bool) if valid is None else valid[tuple(box)]
                flat = np.flatnonzero(sub)
                if len(flat):
                    local = np.unravel_index(flat[rng.integers(len(flat))], sub.shape)
                    return tuple(int(s.start + i) for s, i in zip(box, local))
        raise UnsatisfiableRequestError(
            f"{self.name}: found no position with a point of {self.ensure_nonempty} inside the request "
            f"({len(points)} points, {_MAX_POINT_TRIES} tries); request a larger graph ROI or lower p_nonempty."
        )

    def process(self, batch: Batch, request: BatchRequest, shift: Coordinate) -> Batch:
        out = Batch()
        for key, value in batch.items():
            if key not in self._data_rois or not shift:
                out[key] = value
            elif isinstance(value, Array):
                out[key] = value.moved(value.roi.shift(-shift))
            else:
                assert isinstance(value, Graph)
                spec = value.spec.copy()
                spec.roi = value.roi.shift(-shift)
                out[key] = value.subset(np.ones(len(value), dtype=bool), spec, value.locations - np.asarray(shift, float))
        return out


_WINDOW = ArrayKey("__random_location_window__")


def _union(rois: Any) -> Roi:
    total = None
    for roi in rois:
        total = roi if total is None else total.union(roi)
    assert total is not None
    return total


def _voxels(request: BatchRequest, key: Key, roi: Roi | None = None) -> str:
    spec = request[key]
    roi = roi or spec.roi
    vs = getattr(spec, "voxel_size", None)
    shape = roi.shape // vs if vs is not None else roi.shape  # type: ignore[union-attr]
    return str(tuple(shape))
