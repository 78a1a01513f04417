"""ElasticAugment: smooth random deformation, rotation, scale and section misalignment."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.coordinate import Coordinate
from flowgraph.errors import ConfigError, SetupError
from flowgraph.graph import Graph, inside
from flowgraph.keys import ArrayKey, GraphKey
from flowgraph.provider import BatchFilter
from flowgraph.request import BatchRequest
from flowgraph.resample import SeparableMap, map_bounds, warp
from flowgraph.roi import Roi
from flowgraph.specs import ArraySpec
from flowgraph.validate import interval, number, per_axis, probability

_INVERSE_ITERATIONS = 30


# --------------------------------------------------------------------------------------------------
# the transformation: output world coordinate -> source world coordinate
# --------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Transform:
    """``source(x) = center + matrix @ (x - center) + jitter(x) + misalign(x[0])`` in world units.

    ``jitter`` is a cubic B-spline on a regular grid of control points (``coefficients[d]`` per
    component, None where it is zero); ``misalign`` is a per-section offset along axis 0.
    """

    center: np.ndarray
    matrix: np.ndarray
    grid_begin: np.ndarray
    grid_spacing: np.ndarray
    coefficients: list[np.ndarray | None]
    section_begin: float = 0.0
    section_size: float = 1.0
    section_shifts: np.ndarray | None = None  # (sections, dims)

    @property
    def dims(self) -> int:
        return len(self.center)

    def is_identity(self) -> bool:
        return (
            np.array_equal(self.matrix, np.eye(self.dims))
            and all(c is None for c in self.coefficients)
            and self.section_shifts is None
        )

    def section_index(self, z: np.ndarray) -> np.ndarray:
        assert self.section_shifts is not None
        index = np.floor((np.asarray(z) - self.section_begin) / self.section_size).astype(np.intp)
        return np.clip(index, 0, len(self.section_shifts) - 1)

    # -- evaluation at scattered points ------------------------------------------------------------------
    def source_points(self, points: np.ndarray) -> np.ndarray:
        """Source coordinates of ``points`` (N, dims)."""
        out = self.center + (points - self.center) @ self.matrix.T
        weights = None
        for d, coefficients in enumerate(self.coefficients):
            if coefficients is None:
                continue
            if weights is None:
                weights = [
                    bspline_weights(points[:, e], self.grid_begin[e], self.grid_spacing[e], coefficients.shape[e])
                    for e in range(self.dims)
                ]
            letters = "abcdefgh"[: self.dims]
            subscripts = ",".join(f"p{c}" for c in letters) + f",{letters}->p"
            value = np.einsum(subscripts, *weights, coefficients, optimize=True)
            out[:, d] += value
        if self.section_shifts is not None:
            out += self.section_shifts[self.section_index(points[:, 0])]
        return out

    def output_points(self, sources: np.ndarray) -> np.ndarray:
        """Invert the map for scattered source points (Newton steps with the linear part)."""
        if self.is_identity():
            return sources.copy()
        inverse = np.linalg.inv(self.matrix)
        x = self.center + (sources - self.center) @ inverse.T
        for _ in range(_INVERSE_ITERATIONS):
            residual = sources - self.source_points(x)
            x = x + residual @ inverse.T
            if np.abs(residual).max(initial=0.0) < 1e-6:
                break
        return x


def bspline_weights(x: np.ndarray, begin: float, spacing: float, count: int) -> np.ndarray:
    """Cubic B-spline weights (len(x), count) of control points at ``begin + k * spacing``."""
    u = (np.asarray(x, dtype=np.float64) - begin) / spacing
    i = np.floor(u).astype(np.intp)
    f = u - i
    w = np.stack([(1 - f) ** 3, 3 * f**3 - 6 * f**2 + 4, -3 * f**3 + 3 * f**2 + 3 * f + 1, f**3], axis=1) / 6.0
    out = np.zeros((len(u), count))
    rows = np.arange(len(u))
    for k in range(4):
        np.add.at(out, (rows, np.clip(i - 1 + k, 0, count - 1)), w[:, k])
    return out


def separable_apply(coefficients: np.ndarray, weights: Sequence[np.ndarray]) -> np.ndarray:
    """Contract axis ``d`` of ``coefficients`` with ``weights[d]`` (n_out, n_in) for the first axes.

    Axis by axis from the first, each step one contiguous matrix product, so the most expensive
    (last) step costs ``n_out_total * n_in_last`` multiply-adds.
    """
    value = coefficients
    for axis, w in enumerate(weights):
        before = int(np.prod(value.shape[:axis]))
        after = int(np.prod(value.shape[axis + 1 :]))
        if axis == value.ndim - 1:
            value = value.reshape(-1, w.shape[1]) @ w.T
        elif axis == 0:
            value = w @ value.reshape(w.shape[1], -1)
        else:
            value = np.matmul(w, value.reshape(before, w.shape[1], after))
        value = value.reshape(*[weights[e].shape[0] for e in range(axis + 1)], *coefficients.shape[axis + 1 :])
    return value


# --------------------------------------------------------------------------------------------------
# drawing a transformation
# --------------------------------------------------------------------------------------------------
def draw_transform(
    rng: np.random.Generator,
    roi: Roi,
    voxel_size: Coordinate,
    spatial_dims: int,
    control_point_spacing: Sequence[float],
    jitter_sigma: Sequence[float],
    rotation_interval: tuple[float, float],
    scale_interval: tuple[float, float],
    prob_slip: float,
    prob_shift: float,
    max_misalign: float,
) -> Transform:
    """A random Transform for the output ``roi``; lengths in voxels of ``voxel_size``.

    The elastic part acts on the last ``spatial_dims`` axes; rotation turns the last two axes;
    scale zooms the last ``spatial_dims`` axes (> 1 magnifies); misalignment shifts whole
    sections along axis 0 in the last two axes (slip: one section; shift: this and all later).
    """
    dims = roi.dims
    vs = np.asarray(voxel_size, dtype=np.float64)
    begin = np.asarray(roi.begin, dtype=np.float64)
    shape = np.asarray(roi.shape, dtype=np.float64)
    center = begin + shape / 2.0
    first = dims - spatial_dims

    matrix = np.eye(dims)
    angle = rng.uniform(*rotation_interval) if rotation_interval[1] > rotation_interval[0] else rotation_interval[0]
    scale = rng.uniform(*scale_interval) if scale_interval[1] > scale_interval[0] else scale_interval[0]
    if angle != 0.0 and dims >= 2:
        c, s = math.cos(angle), math.sin(angle)
        matrix[-2:, -2:] = [[c, -s], [s, c]]
    if scale != 1.0:
        matrix[first:, :] /= scale

    spacing = np.ones(dims) * shape.max()
    spacing[first:] = np.asarray(control_point_spacing, dtype=np.float64) * vs[first:]
    spacing = np.maximum(spacing, vs)
    grid_begin = begin - spacing
    count = np.ceil(shape / spacing).astype(int) + 3
    count[:first] = 1
    coefficients: list[np.ndarray | None] = [None] * dims
    for d, sigma in zip(range(first, dims), jitter_sigma):
        if sigma > 0:
            offsets = rng.normal(0.0, sigma * vs[d], size=tuple(count))
            coefficients[d] = ndimage.spline_filter(offsets, order=3, mode="mirror") if offsets.size > 1 else offsets

    shifts = None
    if dims >= 3 and (prob_slip > 0 or prob_shift > 0) and max_misalign > 0:
        sections = round(shape[0] / vs[0])
        shifts = np.zeros((sections, dims))
        draws = rng.random(sections)
        offsets = rng.integers(-int(max_misalign), int(max_misalign) + 1, size=(sections, 2)) * vs[-2:]
        for z in range(sections):
            if draws[z] < prob_slip:
                shifts[z, -2:] += offsets[z]
            elif draws[z] < prob_slip + prob_shift:
                shifts[z:, -2:] += offsets[z]
        if not shifts.any():
            shifts = None
    return Transform(center, matrix, grid_begin, spacing, coefficients, float(begin[0]), float(vs[0]), shifts)


# --------------------------------------------------------------------------------------------------
# applying it
# --------------------------------------------------------------------------------------------------
def separable_map(transform: Transform, roi: Roi, voxel_size: Coordinate) -> SeparableMap:
    """The map of ``transform`` for the voxels of ``roi``, in voxels of a source at the world origin.

    The affine part becomes ``alpha + beta . index``; the jitter is expanded separably along the
    first axes (``separable_apply``) and kept as 4-tap B-spline weights along the last; the
    misalignment becomes one offset per output section. 2-D grids get a leading axis of size 1.
    """
    t = transform if transform.dims == 3 else _lift(transform)
    if roi.dims == 2:
        roi = Roi((0, *roi.begin), (1, *roi.shape))
        voxel_size = Coordinate((1, *voxel_size))
    v = np.asarray(voxel_size, dtype=np.float64)
    begin = np.asarray(roi.begin, dtype=np.float64)
    nz, ny, nx = (roi.shape // voxel_size).ints()  # 3-D from here on
    shape = (nz, ny, nx)
    first_centre = begin + 0.5 * v
    alpha = (t.center + t.matrix @ (first_centre - t.center)) / v - 0.5
    beta = t.matrix * v[None, :] / v[:, None]
    axes = [first_centre[d] + np.arange(shape[d]) * v[d] for d in range(3)]
    shift = np.zeros((3, shape[0]), dtype=np.float32)
    if t.section_shifts is not None:
        shift[:] = (t.section_shifts[t.section_index(axes[0])] / v).T
    size = max((c.shape[2] for c in t.coefficients if c is not None), default=4)
    field = np.zeros((3, shape[0], shape[1], size), dtype=np.float32)
    c0 = np.zeros(shape[2], dtype=np.int64)
    weights = np.zeros((shape[2], 4), dtype=np.float32)
    jittered = {d: c for d, c in enumerate(t.coefficients) if c is not None}
    if jittered:
        grid_shape = next(iter(jittered.values())).shape
        u = (axes[2] - t.grid_begin[2]) / t.grid_spacing[2]
        index = np.floor(u).astype(np.int64)
        c0 = np.clip(index - 1, 0, size - 4)
        weights = bspline_taps(u - index).astype(np.float32)
        leading = [
            bspline_weights(axes[e], t.grid_begin[e], t.grid_spacing[e], grid_shape[e]).astype(np.float32)
            for e in range(2)
        ]
        for d, c in jittered.items():
            field[d] = separable_apply(c.astype(np.float32) / np.float32(v[d]), leading)
    return SeparableMap(alpha, beta, shift, field, c0, weights, shape)


def bspline_taps(f: np.ndarray) -> np.ndarray:
    """The four cubic B-spline weights (n, 4) for fractional positions ``f`` in [0, 1)."""
    return np.stack([(1 - f) ** 3, 3 * f**3 - 6 * f**2 + 4, -3 * f**3 + 3 * f**2 + 3 * f + 1, f**3], axis=1) / 6.0


def _lift(t: Transform) -> Transform:
    """A 2-D Transform as a 3-D one with a leading axis it leaves alone."""
    matrix = np.eye(3)
    matrix[1:, 1:] = t.matrix
    return Transform(
        np.concatenate([[0.5], t.center]),
        matrix,
        np.concatenate([[-1.0], t.grid_begin]),
        np.concatenate([[1.0], t.grid_spacing]),
        [None, *(None if c is None else c[None] for c in t.coefficients)],
    )


def read_roi(m: SeparableMap, voxel_size: Coordinate) -> Roi:
    """The ROI (on the ``voxel_size`` grid) holding every voxel the map ``m`` reads.

    Coordinate ``s`` (voxels of a source at the world origin) is read from voxels ``floor(s)``
    and ``floor(s) + 1`` by linear interpolation, and from one of them by nearest neighbour.
    """
    lo, hi = map_bounds(m)
    vs = np.asarray(voxel_size, dtype=np.int64)
    begin = np.floor(lo[3 - len(vs) :]).astype(np.int64) * vs
    end = (np.floor(hi[3 - len(vs) :]).astype(np.int64) + 2) * vs
    return Roi.from_begin_end(begin.tolist(), end.tolist())


def resample(array: Array, m: SeparableMap) -> np.ndarray:
    """``array`` read through ``m`` (built for a source at the world origin), on its own dtype.

    Integer images (e.g. uint8 raw before Normalize) are interpolated in float32 and rounded back.
    """
    data = array.data
    dims = array.roi.dims
    origin = np.asarray(array.roi.begin, dtype=np.float64) / np.asarray(array.voxel_size, dtype=np.float64)
    if dims == 2:
        data = data[..., None, :, :]
        origin = np.concatenate([[0.0], origin])
    interpolate = bool(array.spec.interpolatable)
    out = warp(data, m.moved(origin), interpolate)
    if interpolate and data.dtype.kind in "uib":
        info = np.iinfo(data.dtype) if data.dtype.kind != "b" else None
        np.rint(out, out=out)
        if info is not None:
            np.clip(out, info.min, info.max, out=out)
        out = out.astype(data.dtype)
    return out[..., 0, :, :] if dims == 2 else out


class ElasticAugment(BatchFilter):
    """Deform every array and graph by one smooth random map: jitter, rotation, scale, misalignment.

    Args:
        control_point_spacing: distance between control points, in voxels, per elastic axis.
        jitter_sigma: standard deviation of the control point displacements, in voxels, per
            elastic axis (0 disables the jitter on that axis).
        rotation_interval: (min, max) rotation angle in radians, in the plane of the last two axes.
        scale_interval: (min, max) zoom factor of the last ``spatial_dims`` axes (> 1 magnifies).
        prob_slip: per section (axis 0) probability that only this section is shifted in-plane.
        prob_shift: per section probability that this and all following sections are shifted.
        max_misalign: largest in-plane misalignment, in voxels.
        subsample: accepted for gunpowder compatibility; the map is always built at control-point
            resolution and expanded separably, which is what subsampling tried to save.
        spatial_dims: number of trailing spatial axes the elastic part acts on (2 or 3).
        p: probability of augmenting a request at all.

    Voxel units are those of the finest requested voxel size per axis.

    Requires: every requested key (arrays and graphs).

    Updates: every spatial array and graph key (same specs).

    Request: for each key a box holding everything the map reads for the requested ROI (the
    affine part and the misalignment exactly, the jitter bounded per row by its control values,
    plus one voxel of interpolation support), on the key's voxel grid. Place RandomLocation or
    Pad upstream so it fits.

    Randomness: the control point offsets, angle, scale and misalignment per request.

    Raises:
        ConfigError: bad arguments.
        SetupError: arrays with fewer spatial axes than ``spatial_dims``.

    Example:
        >>> import math, numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> data = np.random.default_rng(0).random((20, 60, 60), dtype=np.float32)
        >>> source = fg.ArraySource(raw, fg.Array(data, fg.ArraySpec(roi=fg.Roi((0, 0, 0), (800, 240, 240)),
        ...                                                         voxel_size=(40, 4, 4))))
        >>> pipeline = source + fg.RandomLocation() + fg.ElasticAugment([4, 10, 10], [0, 2, 2], [0, math.pi / 2])
        >>> request = fg.BatchRequest(random_seed=1)
        >>> request.add(raw, (400, 80, 80))
        >>> with fg.build(pipeline) as p:
        ...     p.request_batch(request)[raw].data.shape
        (10, 20, 20)
    """

    def __init__(
        self,
        control_point_spacing: Sequence[float] | float,
        jitter_sigma: Sequence[float] | float,
        rotation_interval: Sequence[float],
        scale_interval: Sequence[float] = (1.0, 1.0),
        prob_slip: float = 0.0,
        prob_shift: float = 0.0,
        max_misalign: float = 0,
        subsample: int = 1,
        spatial_dims: int = 3,
        p: float = 1.0,
    ) -> None:
        name = "ElasticAugment"
        self.spatial_dims = number(name, "spatial_dims", spatial_dims, 2, 3, integer=True)
        self.control_point_spacing = per_axis(name, "control_point_spacing", control_point_spacing, self.spatial_dims)
        if any(s <= 0 for s in self.control_point_spacing):
            raise ConfigError(f"{name}: control_point_spacing must be positive, got {control_point_spacing!r}.")
        self.jitter_sigma = per_axis(name, "jitter_sigma", jitter_sigma, self.spatial_dims, low=0.0)
        self.rotation_interval = interval(name, "rotation_interval", rotation_interval)
        self.scale_interval = interval(name, "scale_interval", scale_interval)
        if self.scale_interval[0] <= 0:
            raise ConfigError(f"{name}: scale_interval must be positive, got {tuple(scale_interval)!r}.")
        self.prob_slip = probability(name, "prob_slip", prob_slip)
        self.prob_shift = probability(name, "prob_shift", prob_shift)
        if self.prob_slip + self.prob_shift > 1.0:
            total = self.prob_slip + self.prob_shift
            raise ConfigError(f"{name}: prob_slip + prob_shift must not exceed 1, got {total}.")
        self.max_misalign = number(name, "max_misalign", max_misalign, 0.0)
        self.subsample = number(name, "subsample", subsample, 1, integer=True)
        self.p = probability(name, "p", p)

    def setup(self) -> None:
        for key, spec in self.upstream_spec.items():
            if spec.roi is None or (isinstance(spec, ArraySpec) and spec.nonspatial):
                continue
            if spec.roi.dims not in (2, 3) or spec.roi.dims < self.spatial_dims:
                raise SetupError(
                    f"{self.name}: {key} has {spec.roi.dims} spatial axes but spatial_dims={self.spatial_dims}; "
                    "ElasticAugment works on 2-D and 3-D data with spatial_dims <= the number of axes."
                )
            self.updates(key)

    def prepare(self, request: BatchRequest) -> tuple[BatchRequest, Any]:
        rng = self.rng(request)
        deps = BatchRequest(random_seed=request.random_seed)
        spatial = {k: s for k, s in request.items() if k in self._updated and s.roi is not None}
        if not spatial or rng.random() >= self.p:
            for key, spec in spatial.items():
                deps[key] = spec.copy()
            return deps, None
        total = request.total_roi()
        assert total is not None
        voxel_size = finest_voxel_size(request) or Coordinate((1,) * total.dims)
        transform = draw_transform(
            rng,
            total,
            voxel_size,
            self.spatial_dims,
            self.control_point_spacing,
            self.jitter_sigma,
            self.rotation_interval,
            self.scale_interval,
            self.prob_slip,
            self.prob_shift,
            self.max_misalign,
        )
        if transform.is_identity():
            for key, spec in spatial.items():
                deps[key] = spec.copy()
            return deps, None
        maps = {}
        for key, spec in spatial.items():
            dep = spec.copy()
            assert spec.roi is not None  # spatial holds only specs with a ROI
            # arrays: the map of their voxels (the pipeline gave them a voxel size); graphs: of the
            # finest voxels of their ROI
            if isinstance(spec, ArraySpec):
                assert spec.voxel_size is not None
                step, roi = spec.voxel_size, spec.roi
            else:
                step, roi = voxel_size, spec.roi.snap_to_grid(voxel_size)
            m = separable_map(transform, roi, step)
            dep.roi = read_roi(m, step)
            if isinstance(spec, ArraySpec):
                maps[key] = m
            deps[key] = dep
        return deps, (transform, maps)

    def process(self, batch: Batch, request: BatchRequest, state: Any) -> Batch:
        if state is None:
            return batch
        transform, maps = state
        out = Batch()
        for key, value in batch.items():
            roi = request[key].roi
            assert roi is not None
            if isinstance(key, ArrayKey):
                assert isinstance(value, Array)
                spec = value.spec.copy()
                spec.roi = roi
                out[key] = Array.trusted(resample(value, maps[key]), spec)
            else:
                assert isinstance(key, GraphKey) and isinstance(value, Graph)
                out[key] = move_points(value, transform, roi)
        return out


def finest_voxel_size(request: BatchRequest) -> Coordinate | None:
    finest = None
    for spec in request.array_specs().values():
        if spec.voxel_size is not None and not spec.nonspatial:
            finest = spec.voxel_size if finest is None else finest.min(spec.voxel_size)
    return finest


def move_points(graph: Graph, transform: Transform, roi: Roi) -> Graph:
    """The points of ``graph`` (source coordinates) at their output coordinates, inside ``roi``."""
    locations = transform.output_points(graph.locations) if len(graph) else graph.locations
    spec = graph.spec.copy()
    spec.roi = roi
    return graph.subset(inside(locations, roi), spec, locations)
