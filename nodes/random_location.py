"""RandomLocation: move each request to a random place where it fits inside the data."""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import numpy as np

from flowgraph import observe
from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.coordinate import Coordinate
from flowgraph.errors import ConfigError, RequestError, SetupError, UnsatisfiableRequestError
from flowgraph.graph import Graph
from flowgraph.keys import ArrayKey, GraphKey, Key
from flowgraph.provider import BatchFilter
from flowgraph.request import BatchRequest
from flowgraph.roi import Roi
from flowgraph.specs import ArraySpec, GraphSpec
from flowgraph.validate import array_key, graph_key, number, probability, upstream_array

_MAX_POINT_TRIES = 100
_MAX_ACCEPT_TRIES = 20_000  # draws a subclass's accepts() may refuse before the request is unsatisfiable
_REJECTION_BATCH = 64
_REJECTION_ROUNDS = 16
_CACHE_SIZE = 16


def shift_range(rois: dict[Key, Roi], provided: dict[Key, Roi]) -> tuple[list[int | None], list[int | None]]:
    """Per axis the smallest and largest shift that keeps every ROI inside its provided ROI.

    ``None`` means the axis is unconstrained (no bounded provided ROI on it). RequestError if a
    ROI is unbounded along an axis where its provided ROI is bounded.
    """
    dims = next(iter(rois.values())).dims
    lo: list[int | None] = [None] * dims
    hi: list[int | None] = [None] * dims
    for key, roi in rois.items():
        for d, (bound, axis) in enumerate(zip(provided[key].bounds(), roi.bounds())):
            if bound is None:
                continue
            if axis is None:
                raise RequestError(
                    f"RandomLocation: {key} is requested at {roi}, unbounded along axis {d} where its data "
                    f"{provided[key]} is bounded; request a bounded ROI."
                )
            a, b = bound[0] - axis[0], bound[1] - axis[1]
            low, high = lo[d], hi[d]
            lo[d] = a if low is None else max(low, a)
            hi[d] = b if high is None else min(high, b)
    return lo, hi


def window_counts(
    mask: np.ndarray, begin: tuple[int, ...], step: tuple[int, ...], count: tuple[int, ...], window: tuple[int, ...]
) -> np.ndarray:
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


def summed_area_table(mask: np.ndarray) -> np.ndarray:
    """Zero-padded cumulative counts of non-zero voxels: ``sat[i, j, ...]`` counts ``mask[:i, :j, ...]``.

    Stored modulo 2**32 (uint32, 4 bytes per voxel): window sums taken with the same wrap-around
    arithmetic are exact for any window of fewer than 2**32 voxels.
    """
    sat = np.zeros(tuple(s + 1 for s in mask.shape), dtype=np.uint32)
    inner = sat[(slice(1, None),) * mask.ndim]
    np.not_equal(mask, 0, out=inner, casting="unsafe")
    for axis in range(mask.ndim):
        np.cumsum(inner, axis=axis, dtype=np.uint32, out=inner)
    return sat


def window_sums(sat: np.ndarray, starts: np.ndarray, window: tuple[int, ...]) -> np.ndarray:
    """Non-zero voxels in the windows ``[start, start + window)`` (rows of ``starts``), O(1) each."""
    total = np.zeros(len(starts), dtype=sat.dtype)
    dims = len(window)
    for corner in itertools.product((0, 1), repeat=dims):
        index = tuple(starts[:, d] + corner[d] * window[d] for d in range(dims))
        if (dims - sum(corner)) % 2:
            total -= sat[index]
        else:
            total += sat[index]
    return total.astype(np.int64)


class _MaskWindows:
    """Which candidate positions put at least ``needed`` mask voxels in the window."""

    def __init__(
        self,
        node: RandomLocation,
        begin: tuple[int, ...],
        step: tuple[int, ...],
        count: tuple[int, ...],
        window: tuple[int, ...],
        needed: int,
    ) -> None:
        self.node, self.begin, self.step, self.count = node, np.asarray(begin), np.asarray(step), count
        self.window, self.needed = window, needed

    def accept(self, index: np.ndarray) -> np.ndarray:
        starts = self.begin + index * self.step
        return window_sums(self.node._sat(), starts, self.window) >= self.needed

    def table(self) -> np.ndarray:
        """Every candidate at once (one pass over the mask; cached per window shape)."""
        key = (tuple(self.begin), tuple(self.step), self.count, self.window, self.needed)
        node = self.node
        with node._lock:
            table = node._tables.get(key)
            if table is None:
                counts = window_counts(node._mask(), tuple(self.begin), tuple(self.step), self.count, self.window)
                table = counts >= self.needed
                node._tables[key] = table
                if len(node._tables) > _CACHE_SIZE:
                    node._tables.popitem(last=False)
            else:
                node._tables.move_to_end(key)
        return table


def _sample(
    rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray, windows: _MaskWindows | None
) -> tuple[int, ...] | None:
    """A uniform candidate index in the box ``[lo, hi)`` accepted by ``windows`` (None: none is).

    Rejection sampling with O(1) summed-area-table checks; after a bounded number of draws,
    all candidates of the box are checked at once, which is exact and answers "none".
    """
    if windows is None:
        return tuple(int(rng.integers(a, b)) for a, b in zip(lo, hi))
    for _ in range(_REJECTION_ROUNDS):
        index = lo + (rng.random((_REJECTION_BATCH, len(lo))) * (hi - lo)).astype(np.int64)
        ok = windows.accept(index)
        if ok.any():
            return tuple(int(i) for i in index[int(np.argmax(ok))])
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    flat = np.flatnonzero(windows.table()[box])
    if not len(flat):
        return None
    local = np.unravel_index(flat[rng.integers(len(flat))], tuple(int(b - a) for a, b in zip(lo, hi)))
    return tuple(int(a + i) for a, i in zip(lo, local))


class RandomLocation(BatchFilter):
    """Shift each request to a uniformly random position where all requested ROIs fit.

    Args:
        min_masked: if > 0, only positions where at least this fraction of ``mask`` is
            non-zero inside the window are chosen (answered exactly from summed-area tables).
        mask: the ArrayKey of the mask, required with ``min_masked``.
        ensure_nonempty: a GraphKey; positions are chosen so that at least one of its points
            lies inside the requested graph ROI.
        p_nonempty: probability with which ``ensure_nonempty`` is enforced per request.
        ensure_centered: with ``ensure_nonempty``, the chosen point lies in the central voxel
            (of the least common multiple grid) of the requested graph ROI.
        point_balance_radius: with ``ensure_nonempty``, a point is chosen with a probability
            inversely proportional to the number of points within this distance of it (itself
            included), so that dense clusters are not oversampled; points alone within the
            radius are chosen uniformly.
        random_shift_key: an ArrayKey to provide the chosen shift as a nonspatial int64 array
            (world units), e.g. to find where a snapshot came from.

    Subclasses may override ``accepts(request)``: it receives the shifted request of a candidate
    position that met every other criterion and returns whether to take it (at most 20000
    candidates are refused before an UnsatisfiableRequestError; gunpowder loops forever).

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
        RequestError: no requested key is bounded upstream on some axis, or ``ensure_nonempty``
            is not requested.
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
        (Roi([0:4, 0:4]), (4, 4))
    """

    autoskip = True  # flowgraph's rules for library nodes (see BatchFilter)
    exact_dependencies = True

    def __init__(
        self,
        min_masked: float = 0,
        mask: ArrayKey | None = None,
        ensure_nonempty: GraphKey | None = None,
        p_nonempty: float = 1.0,
        ensure_centered: bool | None = None,
        point_balance_radius: float = 1,
        random_shift_key: ArrayKey | None = None,
    ) -> None:
        self.min_masked = probability("RandomLocation", "min_masked", min_masked)
        self.mask = array_key("RandomLocation", "mask", mask, optional=True)
        if self.min_masked > 0 and self.mask is None:
            raise ConfigError("RandomLocation: min_masked > 0 needs mask=ArrayKey of the mask to check.")
        self.ensure_nonempty = graph_key("RandomLocation", "ensure_nonempty", ensure_nonempty, optional=True)
        self.p_nonempty = probability("RandomLocation", "p_nonempty", p_nonempty)
        if ensure_centered is not None and not isinstance(ensure_centered, bool):
            raise ConfigError(f"RandomLocation: ensure_centered must be True, False or None, got {ensure_centered!r}.")
        self.ensure_centered = bool(ensure_centered)
        self.point_balance_radius = number("RandomLocation", "point_balance_radius", point_balance_radius, 0.0)
        self.random_shift_key = array_key("RandomLocation", "random_shift_key", random_shift_key, optional=True)

    def accepts(self, request: BatchRequest) -> bool:
        """Whether to take a candidate position (``request`` shifted there); override to add tests."""
        return True

    def setup(self) -> None:
        self._lock = threading.Lock()  # guards the mask caches below (made on first use)
        self._data_rois: dict[Key, Roi] = {}
        if self.mask is not None:
            mask_spec = upstream_array(self.name, self.upstream_spec, self.mask, " (the mask)")
            if mask_spec.roi is None or not mask_spec.roi.is_bounded():
                raise SetupError(
                    f"{self.name}: the mask {self.mask} needs a bounded ROI upstream; "
                    "put RandomLocation after the source."
                )
        if self.ensure_nonempty is not None and self.ensure_nonempty not in self.upstream_spec:
            raise SetupError(
                f"{self.name}: ensure_nonempty={self.ensure_nonempty} is not provided upstream; add a source for it."
            )
        for key, spec in self.upstream_spec.items():
            if spec.roi is None or (isinstance(spec, ArraySpec) and spec.nonspatial):
                continue
            self._data_rois[key] = spec.roi
            self.updates(key, spec.with_roi(Roi((None,) * spec.roi.dims, (None,) * spec.roi.dims)))
        if self.random_shift_key is not None:
            self.provides(self.random_shift_key, ArraySpec(nonspatial=True, dtype=np.dtype(np.int64)))
        self._mask_data: np.ndarray | None = None
        self._sat_data: np.ndarray | None = None
        self._points: np.ndarray | None = None
        self._point_weights: np.ndarray | None = None
        self._tables: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        # the configuration: the lock and the mask caches are per process, made again by setup()
        runtime = ("_lock", "_mask_data", "_sat_data", "_points", "_point_weights", "_tables")
        return {k: v for k, v in self.__dict__.items() if k not in runtime}

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
            mask_vs = self.upstream_spec[self.mask].voxel_size
            grid = grid.lcm(mask_vs)
            window = rois.get(self.mask) or total.snap_to_grid(mask_vs, "grow")
            constrained[_WINDOW] = window
            bounds[_WINDOW] = self._data_rois[self.mask]
        lo, hi = shift_range(constrained, bounds)
        first: list[int] = []
        count: list[int] = []
        steps = grid.ints()
        for d in range(total.dims):
            low, high = lo[d], hi[d]
            if low is None or high is None:  # both or neither
                raise RequestError(
                    f"{self.name}: no requested key is bounded upstream along axis {d} "
                    f"({', '.join(f'{k} {self._data_rois[k]}' for k in rois)}), so there is no range to pick a "
                    "position from; request a key whose data is bounded (e.g. the source array, not only a padded one)."
                )
            f = -((-low) // steps[d]) * steps[d]
            first.append(f)
            count.append(max(0, (high - f) // steps[d] + 1))
        if 0 in count:
            self._refuse_apart(rois)
            worst = max(
                rois,
                key=lambda k: max(
                    (r / s)
                    for r, s in zip(rois[k].shape, self._data_rois[k].shape)
                    if r is not None and s is not None  # shift_range() refused r None where s is not
                ),
            )
            raise UnsatisfiableRequestError(
                f"{self.name}: no position of a {_voxels(request, worst, rois[worst])} request fits inside "
                f"{worst}'s ROI {self._data_rois[worst]}; pad upstream or request less."
            )

        def choose() -> Coordinate:  # the draw: recorded and replayed by flowgraph.observe
            windows = self._windows(window, first, count, grid) if window is not None else None
            checked = type(self).accepts is not RandomLocation.accepts
            for _ in range(_MAX_ACCEPT_TRIES if checked else 1):
                index = self._choose(request, rng, first, count, grid, windows)
                shift = Coordinate(f + i * g for f, i, g in zip(first, index, steps))
                if not checked or self.accepts(_shifted(request, shift, self._data_rois)):
                    return shift
            raise UnsatisfiableRequestError(
                f"{self.name}: accepts() refused {_MAX_ACCEPT_TRIES} positions in a row; check its criterion."
            )

        shift = observe.draw(self, choose)
        for key, spec in _shifted(request, shift, self._data_rois).items():
            if key != self.random_shift_key:
                deps[key] = spec
        return deps, shift

    def _refuse_apart(self, rois: dict[Key, Roi]) -> None:
        """UnsatisfiableRequestError if every requested ROI fits alone, but not all at one shift."""
        if len(rois) < 2:
            return
        alone = {k: shift_range({k: r}, {k: self._data_rois[k]}) for k, r in rois.items()}
        if any(a is not None and b is not None and a > b for lo, hi in alone.values() for a, b in zip(lo, hi)):
            return  # one key does not fit even alone: the message below names it

        def text(key: Key) -> str:
            lo, hi = alone[key]
            return f"{key} in [{', '.join(f'{a}:{b}' for a, b in zip(lo, hi))}]"

        union = _union(rois.values())
        raise UnsatisfiableRequestError(
            f"{self.name}: each requested ROI fits inside its data alone, but not all at one position: their union "
            f"{union} does not fit (the shifts that keep each inside: {'; '.join(text(k) for k in rois)}); "
            "request ROIs that lie together in the data, or pad the arrays."
        )

    def _windows(self, window: Roi, first: list[int], count: list[int], grid: Coordinate) -> _MaskWindows:
        assert self.mask is not None
        vs = self.upstream_spec[self.mask].voxel_size
        begin = ((window.begin + Coordinate(first) - self._data_rois[self.mask].begin) // vs).ints()
        shape = (window.shape // vs).ints()
        needed = int(np.ceil(self.min_masked * float(np.prod(shape)) - 1e-9))
        return _MaskWindows(self, begin, (grid // vs).ints(), tuple(count), shape, needed)

    def _sat(self) -> np.ndarray:
        with self._lock:
            if self._sat_data is None:
                self._sat_data = summed_area_table(self._mask())
            return self._sat_data

    def _mask(self) -> np.ndarray:
        if self._mask_data is None:
            assert self.mask is not None
            spec = self.upstream_spec[self.mask]
            roi = spec.roi
            assert roi is not None  # setup() checked that the mask's ROI is bounded
            whole = BatchRequest({self.mask: ArraySpec(roi=roi, voxel_size=spec.voxel_size)}, random_seed=0)
            array = self.upstream.request_batch(whole)[self.mask]
            data = array.data
            self._mask_data = (
                (data != 0) if data.ndim == roi.dims else (data != 0).any(axis=tuple(range(data.ndim - roi.dims)))
            )
        return self._mask_data

    def _points_of(self) -> np.ndarray:
        if self._points is None:
            assert self.ensure_nonempty is not None
            spec = self.upstream_spec[self.ensure_nonempty]
            whole = BatchRequest({self.ensure_nonempty: GraphSpec(roi=spec.roi)}, random_seed=0)
            graph = self.upstream.request_batch(whole)[self.ensure_nonempty]
            self._points = graph.locations
        return self._points

    def _choose(
        self,
        request: BatchRequest,
        rng: np.random.Generator,
        first: list[int],
        count: list[int],
        grid: Coordinate,
        windows: _MaskWindows | None,
    ) -> tuple[int, ...]:
        """A uniformly random candidate index (with enough mask, and a point if asked for)."""
        full = (np.zeros(len(count), dtype=np.int64), np.asarray(count, dtype=np.int64))
        if self.ensure_nonempty is not None and self.ensure_nonempty not in request:
            raise RequestError(
                f"{self.name}: ensure_nonempty={self.ensure_nonempty} is not in the request, so there is no graph ROI "
                f"that must hold a point; request {self.ensure_nonempty} too."
            )
        use_points = self.ensure_nonempty is not None and rng.random() < self.p_nonempty
        if not use_points:
            index = _sample(rng, *full, windows)
            if index is None:
                assert windows is not None
                raise UnsatisfiableRequestError(
                    f"{self.name}: no position of a {windows.window} window has >= {self.min_masked:.0%} of "
                    f"{self.mask} masked in; lower min_masked or check the mask."
                )
            return index
        assert self.ensure_nonempty is not None
        points = self._points_of()
        weights = self._weights()
        graph_roi = request[self.ensure_nonempty].roi
        assert graph_roi is not None
        graph_bounds, steps = graph_roi.bounds(), grid.ints()
        for _ in range(_MAX_POINT_TRIES if len(points) else 0):
            p = points[rng.integers(len(points)) if weights is None else rng.choice(len(points), p=weights)]
            # graph_roi.begin + s <= p < graph_roi.end + s, with s = first + i * grid
            lo, hi = full[0].copy(), full[1].copy()
            for d in range(len(count)):
                axis = graph_bounds[d]
                if axis is None:
                    continue
                b, e = axis
                if self.ensure_centered:  # p in the central grid cell: [b + c * g, b + (c + 1) * g) + s
                    c = ((e - b) // steps[d]) // 2
                    b, e = b + c * steps[d], b + (c + 1) * steps[d]
                smallest = int(np.floor(p[d] - e)) + 1
                largest = int(np.floor(p[d] - b))
                lo[d] = max(0, -((first[d] - smallest) // steps[d]))
                hi[d] = min(count[d], (largest - first[d]) // steps[d] + 1)
            if (hi > lo).all():
                index = _sample(rng, lo, hi, windows)
                if index is not None:
                    return index
        raise UnsatisfiableRequestError(
            f"{self.name}: found no position with a point of {self.ensure_nonempty} inside the request "
            f"({len(points)} points, {_MAX_POINT_TRIES} tries); request a larger graph ROI or lower p_nonempty."
        )

    def _weights(self) -> np.ndarray | None:
        """Choice probabilities of the points (point_balance_radius); None when uniform."""
        with self._lock:
            if self._point_weights is None:
                points = self._points_of()
                if len(points) < 2 or self.point_balance_radius <= 0:
                    self._point_weights = np.ones(len(points))
                else:
                    from scipy.spatial import cKDTree

                    neighbours = cKDTree(points).query_ball_point(
                        points, r=self.point_balance_radius, return_length=True
                    )
                    self._point_weights = 1.0 / np.asarray(neighbours, dtype=np.float64)
            weights = self._point_weights
        if weights.size == 0 or (weights == weights[0]).all():
            return None
        return weights / weights.sum()

    def process(self, batch: Batch, request: BatchRequest, shift: Coordinate) -> Batch:
        out = Batch()
        if self.random_shift_key is not None and self.random_shift_key in request:
            out[self.random_shift_key] = Array(np.array(tuple(shift), dtype=np.int64), ArraySpec(nonspatial=True))
        for key, value in batch.items():
            if key not in self._data_rois or not shift:
                out[key] = value
            elif isinstance(value, Array):
                out[key] = value.moved(value.roi.shift(-shift))
            else:
                assert isinstance(value, Graph)
                spec = value.spec.with_roi(value.roi.shift(-shift))
                out[key] = value.subset(
                    np.ones(len(value), dtype=bool), spec, value.locations - np.asarray(shift, float)
                )
        return out


_WINDOW = ArrayKey("__random_location_window__")


def _shifted(request: BatchRequest, shift: Coordinate, data_rois: dict[Key, Roi]) -> BatchRequest:
    """``request`` with the ROIs of the keys RandomLocation moves shifted by ``shift``."""
    out = BatchRequest(random_seed=request.random_seed)
    for key, spec in request.items():
        moved = key in data_rois and spec.roi is not None
        out[key] = spec.with_roi(spec.roi.shift(shift)) if moved else spec  # type: ignore[union-attr]
    return out


def _union(rois: Iterable[Roi]) -> Roi:
    total = None
    for roi in rois:
        total = roi if total is None else total.union(roi)
    assert total is not None
    return total


def _voxels(request: BatchRequest, key: Key, roi: Roi) -> str:
    vs = getattr(request[key], "voxel_size", None)
    shape = roi.shape // vs if vs is not None else roi.shape
    return str(tuple(shape))
