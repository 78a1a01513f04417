"""The spatial augmentation kit: geometric transforms and the base node that applies them.

A geometric node draws a :class:`SpatialTransform` per request (``draw_params``). The base
:class:`SpatialAugment` then does the rest, the same way for every such node:

- asks upstream, for every requested array and graph, for the box the transform reads (on the
  array's voxel grid);
- resamples every array exactly once, on its own dtype: images linearly, labels, masks and ids
  (``interpolatable=False``) by nearest neighbour, exact at uint64 (the compiled kernels of
  :mod:`flowgraph.resample`); a transform may instead apply itself as a numpy view (a mirror);
- moves graph points with the content and drops those that leave the requested ROI;
- optionally provides the applied transform as an array (``displacement``).

Transforms that are smooth maps (affine, per-section shifts, B-spline jitter) are
:class:`SmoothTransform` s: a new geometric node only draws one.
"""

from __future__ import annotations

import contextvars
import dataclasses
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.coordinate import Coordinate
from flowgraph.graph import Graph, inside
from flowgraph.keys import ArrayKey, Key
from flowgraph.request import BatchRequest
from flowgraph.resample import SeparableMap, displacement_map, map_bounds, round_back, warp
from flowgraph.roi import Roi
from flowgraph.specs import ArraySpec, Spec
from flowgraph.validate import array_key, check_finite

from .augment import RandomAugment

_INVERSE_ITERATIONS = 30


# --------------------------------------------------------------------------------------------------
# transforms
# --------------------------------------------------------------------------------------------------
class SpatialTransform:
    """A geometric transform drawn for one request: where every output point reads the input.

    Map transforms implement :meth:`source_map` (and :meth:`move_points`); the defaults of the
    other methods then request, resample and describe them. Transforms that are exact on the
    voxel grid (mirrors, transposes) override :meth:`plan` and :meth:`apply` to return views.
    """

    def is_identity(self) -> bool:
        """True if the transform moves nothing (the node then passes the batch through untouched)."""
        return False

    def source_map(self, roi: Roi, voxel_size: Coordinate) -> SeparableMap:
        """The source voxel of every voxel of the output ``roi`` (for a source at the world origin).

        2-D ROIs get a leading axis of one voxel (the map is always 3-D).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement source_map(roi, voxel_size)")

    def move_points(self, locations: np.ndarray) -> np.ndarray:
        """Output world coordinates of the (N, D) input world ``locations`` (a new array)."""
        raise NotImplementedError(f"{type(self).__name__} must implement move_points(locations)")

    def plan(self, roi: Roi, voxel_size: Coordinate) -> tuple[Roi, Any]:
        """The box (on the ``voxel_size`` grid) the output ``roi`` reads, and what :meth:`apply` needs."""
        m = self.source_map(roi, voxel_size)
        return read_roi(m, voxel_size), m

    def graph_roi(self, roi: Roi, voxel_size: Coordinate) -> Roi:
        """The box whose points can land in the output ``roi`` (``voxel_size``: the finest grid)."""
        return self.plan(roi.snap_to_grid(voxel_size), voxel_size)[0]

    def apply(self, array: Array, roi: Roi, plan: Any) -> Array:
        """``array`` (exactly the planned box) transformed onto the output ``roi``."""
        return Array.trusted(resample(array, plan), array.spec, roi)

    def displacement(self, roi: Roi, voxel_size: Coordinate) -> np.ndarray:
        """(D, *shape) float32: for every voxel centre ``p`` of ``roi``, ``source(p) - p`` in world units."""
        return map_displacement(self.source_map(roi, voxel_size), roi, voxel_size)


@dataclasses.dataclass
class SmoothTransform(SpatialTransform):
    """``source(x) = center + matrix @ (x - center) + jitter(x) + misalign(x[0])`` in world units.

    ``jitter`` is a cubic B-spline on a regular grid of control points (``coefficients[d]`` per
    component, None where it is zero); ``misalign`` is a per-section offset along axis 0.
    ElasticAugment draws all three; :meth:`affine` builds a rotation or zoom alone.

    Example:
        >>> t = SmoothTransform.affine(center=[0.0, 0.0], matrix=[[0.5, 0.0], [0.0, 0.5]])  # 2x zoom
        >>> t.source_points(np.array([[4.0, -2.0]])), t.move_points(np.array([[2.0, -1.0]]))
        (array([[ 2., -1.]]), array([[ 4., -2.]]))
    """

    center: np.ndarray
    matrix: np.ndarray
    grid_begin: np.ndarray
    grid_spacing: np.ndarray
    coefficients: list[np.ndarray | None]
    section_begin: float = 0.0
    section_size: float = 1.0
    section_shifts: np.ndarray | None = None  # (sections, dims)

    @classmethod
    def affine(
        cls,
        center: Sequence[float],
        matrix: Sequence[Sequence[float]] | np.ndarray,
        section_shifts: np.ndarray | None = None,
    ) -> SmoothTransform:
        """``source(x) = center + matrix @ (x - center)``, plus optional per-section shifts along axis 0
        (``section_shifts``: (sections, dims) world offsets, one per voxel row of the output's axis 0)."""
        c = np.asarray(center, dtype=np.float64)
        dims = len(c)
        m = np.asarray(matrix, dtype=np.float64)
        return cls(c, m, np.zeros(dims), np.ones(dims), [None] * dims, section_shifts=section_shifts)

    @property
    def dims(self) -> int:
        return len(self.center)

    def source_map(self, roi: Roi, voxel_size: Coordinate) -> SeparableMap:
        return separable_map(self, roi, voxel_size)

    def move_points(self, locations: np.ndarray) -> np.ndarray:
        return self.output_points(locations)

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


def separable_map(transform: SmoothTransform, roi: Roi, voxel_size: Coordinate) -> SeparableMap:
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


def _lift(t: SmoothTransform) -> SmoothTransform:
    """A 2-D SmoothTransform as a 3-D one with a leading axis it leaves alone."""
    matrix = np.eye(3)
    matrix[1:, 1:] = t.matrix
    return SmoothTransform(
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


def resample(array: Array, m: SeparableMap, displacement: tuple[np.ndarray, Roi] | None = None) -> np.ndarray:
    """``array`` read through ``m`` (built for a source at the world origin), on its own dtype.

    Integer images (e.g. uint8 raw before Normalize) are interpolated in float32 (up to 16 bits)
    or float64 (wider), rounded and clipped back to their dtype's range, so a value at the
    dtype's maximum never wraps around; 64-bit integers beyond 2**53 lose their lowest bits (mark
    ids ``interpolatable=False``: nearest neighbour is exact). Complex images interpolate their
    real and imaginary parts. Float images holding NaN or inf are refused (NonFiniteError):
    interpolation would spread each to its neighbours.

    ``displacement``: ``(out, roi)`` with ``out`` a ``(D, *shape)`` float32 array on the grid of
    the output ``roi``, filled in the same pass with the map's world displacement (for an image).
    """
    data = array.data
    dims = array.roi.dims
    origin = np.asarray(array.roi.begin, dtype=np.float64) / np.asarray(array.voxel_size, dtype=np.float64)
    voxel = np.asarray(array.voxel_size, dtype=np.float64)
    if dims == 2:
        data = data[..., None, :, :]
        origin = np.concatenate([[0.0], origin])
        voxel = np.concatenate([[1.0], voxel])
    fused = None
    if displacement is not None:
        out_field, out_roi = displacement
        begin = np.asarray(out_roi.begin, dtype=np.float64)
        if dims == 2:
            begin = np.concatenate([[0.0], begin])
            out_field = out_field[:, None]
        fused = (out_field, np.stack([origin, voxel, begin]))
    interpolate = bool(array.spec.interpolatable)
    if interpolate and data.dtype.kind in "fc":
        owner, key = _resampling.get()
        check_finite(owner, key, data)
    out = warp(data, m.moved(origin), interpolate, fused)
    if interpolate:
        out = round_back(out, data.dtype)
    return out[..., 0, :, :] if dims == 2 else out


#: the node and key being resampled, for the messages of :func:`resample`
_resampling: contextvars.ContextVar[tuple[str, Any]] = contextvars.ContextVar(
    "resampling", default=("resample", "an image")
)


def finest_voxel_size(request: BatchRequest) -> Coordinate | None:
    """The per-axis minimum of the voxel sizes of the spatial arrays in ``request`` (None: no array)."""
    finest = None
    for spec in request.array_specs().values():
        if spec.voxel_size is not None and not spec.nonspatial:
            finest = spec.voxel_size if finest is None else finest.min(spec.voxel_size)
    return finest


def move_points(graph: Graph, transform: SpatialTransform, roi: Roi) -> Graph:
    """The points of ``graph`` (input coordinates) at their output coordinates, inside ``roi``."""
    locations = transform.move_points(graph.locations) if len(graph) else graph.locations
    return graph.subset(inside(locations, roi), graph.spec.with_roi(roi), locations)


def voxel_centres(roi: Roi, voxel_size: Coordinate) -> list[np.ndarray]:
    """Per axis the world coordinates of the voxel centres of ``roi`` (broadcastable grids)."""
    vs = np.asarray(voxel_size.ints(), dtype=np.float64)
    begin = np.asarray(roi.begin.ints(), dtype=np.float64)
    shape = (roi.shape // voxel_size).ints()
    return list(
        np.meshgrid(*[begin[d] + (np.arange(n) + 0.5) * vs[d] for d, n in enumerate(shape)], indexing="ij", sparse=True)
    )


def map_displacement(m: SeparableMap, roi: Roi, voxel_size: Coordinate) -> np.ndarray:
    """(D, *shape) float32 world displacement ``source(p) - p`` of every voxel centre of ``roi`` under ``m``.

    Evaluated by the same compiled map as the resampling, in one pass (only when a displacement
    array is requested).
    """
    return displacement_map(m, roi.begin.ints(), voxel_size.ints())


@dataclasses.dataclass
class SectionwiseTransform(SpatialTransform):
    """Runs of sections along axis 0, each through its own in-plane :class:`SmoothTransform`.

    An output section whose centre lies at world ``z`` in ``[starts[r - 1], starts[r])`` goes
    through ``transforms[r]`` (``starts`` ascending, one fewer than ``transforms``). Every
    transform must keep axis 0 (shifts, rotations and zooms of the last two axes), so a point
    stays in its section. Runs that are the identity are copied, the others resampled once.
    3-D ROIs only. MisAlignment draws these: a slip or a shift of sections, or their rotation.

    Example:
        >>> shift = SmoothTransform.affine([0.0] * 3, np.eye(3), section_shifts=np.array([[0.0, 0.0, -1.0]]))
        >>> t = SectionwiseTransform((2.0,), (SmoothTransform.affine([0.0] * 3, np.eye(3)), shift))
        >>> t.move_points(np.array([[0.5, 0.0, 0.0], [2.5, 0.0, 0.0]]))  # the second section moves
        array([[0.5, 0. , 0. ],
               [2.5, 0. , 1. ]])
    """

    starts: tuple[float, ...]
    transforms: tuple[SmoothTransform, ...]

    def is_identity(self) -> bool:
        return all(t.is_identity() for t in self.transforms)

    def runs(self, roi: Roi, voxel_size: Coordinate) -> list[tuple[Roi, SmoothTransform]]:
        """The output ``roi`` cut along axis 0 into boxes of consecutive sections sharing a transform."""
        vz = voxel_size.ints()[0]
        begin, n = roi.begin.ints()[0], roi.shape.ints()[0] // vz
        which = np.searchsorted(self.starts, begin + (np.arange(n) + 0.5) * vz, side="right")
        cuts = [0, *(np.flatnonzero(np.diff(which)) + 1).tolist(), n]
        return [
            (Roi((begin + a * vz, *roi.begin[1:]), ((b - a) * vz, *roi.shape[1:])), self.transforms[int(which[a])])
            for a, b in itertools.pairwise(cuts)
        ]

    def plan(self, roi: Roi, voxel_size: Coordinate) -> tuple[Roi, Any]:
        steps = []
        read: Roi | None = None
        for box, t in self.runs(roi, voxel_size):
            m = None if t.is_identity() else separable_map(t, box, voxel_size)
            needed = box
            if m is not None:  # in-plane: what the map reads; along axis 0 the run's own sections
                plane = read_roi(m, voxel_size)
                needed = Roi((box.begin[0], *plane.begin[1:]), (box.shape[0], *plane.shape[1:]))
            read = needed if read is None else read.union(needed)
            steps.append((box, m))
        assert read is not None
        return read, steps

    def apply(self, array: Array, roi: Roi, plan: Any) -> Array:
        parts = [array.crop(box).data if m is None else resample(array, m) for box, m in plan]
        data = parts[0].copy() if len(parts) == 1 else np.concatenate(parts, axis=array.data.ndim - 3)
        return Array.trusted(data, array.spec, roi)

    def move_points(self, locations: np.ndarray) -> np.ndarray:
        out = np.array(locations, dtype=np.float64, copy=True)
        which = np.searchsorted(self.starts, out[:, 0], side="right")
        for r, t in enumerate(self.transforms):
            chosen = which == r
            if chosen.any() and not t.is_identity():
                out[chosen] = t.output_points(out[chosen])
        return out

    def displacement(self, roi: Roi, voxel_size: Coordinate) -> np.ndarray:
        runs = self.runs(roi, voxel_size)
        parts = [map_displacement(separable_map(t, box, voxel_size), box, voxel_size) for box, t in runs]
        return np.concatenate(parts, axis=1)


# --------------------------------------------------------------------------------------------------
# the base node
# --------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SpatialState:
    """What ``prepare`` hands to ``process``: the drawn transform and, per array, its plan."""

    transform: SpatialTransform
    plans: dict[Key, Any]


class SpatialAugment(RandomAugment):
    """Base of geometric augmentations: transforms every spatial array and graph by one drawn map.

    Subclasses draw a :class:`SpatialTransform` in ``draw_params(rng, request)`` (None: identity),
    typically built around the centre of ``request.total_roi()``, and call ``self.announce`` in
    ``setup``. The base requests what the transform reads for every key, resamples every array
    once on its own dtype (nearest neighbour for ``interpolatable=False``), moves graph points,
    and, given ``displacement``, provides the applied transform as an array.

    Args:
        name: the node's class name, for error messages.
        p: probability that the node acts on a request.
        displacement: optional ArrayKey to provide the transform under: a ``(D, *shape)`` float32
            array on the grid of its requested ROI, in world units, such that the node's output at
            voxel centre ``p`` shows its input at ``p + displacement[:, p]`` (zeros when the node
            does not act). Its voxel size is the finest of the spatial arrays upstream.

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> class Zoom2(SpatialAugment):  # magnify twice about the centre of the request
        ...     def setup(self):
        ...         self.announce(self.spatial_specs())
        ...     def draw_params(self, rng, request):
        ...         roi = request.total_roi()
        ...         centre = [b + s / 2 for b, s in zip(roi.begin, roi.shape)]
        ...         return SmoothTransform.affine(centre, np.eye(2) / 2)
        >>> labels = fg.ArrayKey("LABELS")
        >>> spec = fg.ArraySpec(roi=fg.Roi((0, 0), (4, 4)), voxel_size=(1, 1), interpolatable=False)
        >>> source = fg.ArraySource(labels, fg.Array(np.arange(16, dtype=np.uint64).reshape(4, 4), spec))
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[labels] = fg.ArraySpec(roi=fg.Roi((0, 0), (4, 4)))
        >>> with fg.build(source + Zoom2("Zoom2")) as p:
        ...     p.request_batch(request)[labels].data
        array([[ 5,  5,  6,  6],
               [ 5,  5,  6,  6],
               [ 9,  9, 10, 10],
               [ 9,  9, 10, 10]], dtype=uint64)
    """

    displacement: ArrayKey | None = None

    def __init__(self, name: str, p: float = 1.0, displacement: ArrayKey | None = None) -> None:
        super().__init__(name, p)
        self.displacement = array_key(name, "displacement", displacement, optional=True)

    # -- setup helpers -------------------------------------------------------------------------
    def spatial_specs(self) -> dict[Key, Spec]:
        """The upstream keys this node transforms: arrays and graphs with a ROI (not nonspatial)."""
        return {
            key: spec
            for key, spec in self.upstream_spec.items()
            if spec.roi is not None and not (isinstance(spec, ArraySpec) and spec.nonspatial)
        }

    def announce(self, spatial: dict[Key, Spec]) -> None:
        """Update every key of ``spatial``; provide ``displacement`` (if given) beside them."""
        for key in spatial:
            self.updates(key)
        if self.displacement is None:
            return
        sizes = [s.voxel_size for s in spatial.values() if isinstance(s, ArraySpec) and s.voxel_size is not None]
        rois = [s.roi for s in spatial.values() if s.roi is not None]
        dims = rois[0].dims if rois else len(sizes[0]) if sizes else 0
        voxel_size = Coordinate((1,) * dims)
        if sizes:
            voxel_size = sizes[0]
            for vs in sizes[1:]:
                voxel_size = voxel_size.min(vs)
        roi = None
        for r in rois:
            roi = r if roi is None else roi.union(r)
        if roi is not None and roi.is_bounded():
            roi = roi.snap_to_grid(voxel_size, "shrink")
        spec = ArraySpec(roi=roi, voxel_size=voxel_size, interpolatable=True, dtype=np.dtype(np.float32))
        self.provides(self.displacement, spec)

    # -- per request ---------------------------------------------------------------------------
    def prepare(self, request: BatchRequest) -> tuple[BatchRequest, Any]:
        keys = [k for k, s in request.items() if (k in self._updated or k == self.displacement) and s.roi is not None]
        if not keys:
            return self.updated_dependencies(request), None
        return super().prepare(request)

    def dependencies(
        self, request: BatchRequest, transform: SpatialTransform
    ) -> tuple[BatchRequest, SpatialState | None]:
        """For every requested key the box ``transform`` reads for it; per array its plan."""
        if transform.is_identity():  # exact identity at zero strength: read only what is requested
            return self.updated_dependencies(request), None
        deps = BatchRequest(random_seed=request.random_seed)
        plans: dict[Key, Any] = {}
        grid: Coordinate | None = None
        for key, spec in request.items():
            if key not in self._updated or spec.roi is None:
                continue
            if isinstance(spec, ArraySpec):
                vs = spec.voxel_size or self.spec[key].voxel_size  # type: ignore[union-attr]
                assert vs is not None  # the pipeline gives every spatial array a voxel size
                read, plans[key] = transform.plan(spec.roi, vs)
            else:
                if grid is None:
                    grid = finest_voxel_size(request) or Coordinate((1,) * spec.roi.dims)
                read = self.graph_read_roi(key, spec.roi, transform, grid)
            deps[key] = spec.with_roi(read)
        return deps, SpatialState(transform, plans)

    def graph_read_roi(self, key: Key, roi: Roi, transform: SpatialTransform, grid: Coordinate) -> Roi:
        """The box requested upstream for graph ``key`` requested at ``roi`` (``grid``: the finest voxels)."""
        return transform.graph_roi(roi, grid)

    def process(self, batch: Batch, request: BatchRequest, state: SpatialState | None) -> Batch:
        out = Batch()
        field = self._fused_field(batch, request, state)  # written while an image is resampled
        if state is not None:
            for key, value in batch.items():
                roi = request[key].roi
                assert roi is not None  # only keys with a ROI are transformed
                if isinstance(value, Array):
                    token = _resampling.set((self.name, key))  # names them in resample()'s errors
                    try:
                        if field is not None and key == field[0]:
                            data = resample(value, state.plans[key], (field[1].data, roi))
                            out[key] = Array.trusted(data, value.spec, roi)
                        else:
                            out[key] = state.transform.apply(value, roi, state.plans[key])
                    finally:
                        _resampling.reset(token)
                else:
                    assert isinstance(value, Graph)
                    out[key] = move_points(value, state.transform, roi)
        if self.displacement is not None and self.displacement in request:
            out[self.displacement] = field[1] if field is not None else self._displacement(request, state)
        return out

    def _fused_field(self, batch: Batch, request: BatchRequest, state: SpatialState | None) -> tuple[Key, Array] | None:
        """An image resampled on exactly the displacement's grid by the plain map (an empty field
        array to fill in that pass), or None: the field is then computed on its own."""
        if state is None or self.displacement is None or self.displacement not in request:
            return None
        if type(state.transform).apply is not SpatialTransform.apply:  # views, runs of sections
            return None
        spec = request[self.displacement]
        vs = spec.voxel_size or self.spec[self.displacement].voxel_size
        if spec.roi is None or vs is None:
            return None
        for key, value in batch.items():
            plan = state.plans.get(key)
            if (
                isinstance(value, Array)
                and isinstance(plan, SeparableMap)
                and value.spec.interpolatable
                and request[key].roi == spec.roi
                and value.voxel_size == vs
            ):
                field = self._displacement_array(
                    request, np.empty((spec.roi.dims, *(spec.roi.shape // vs).ints()), np.float32)
                )
                return key, field
        return None

    def _displacement(self, request: BatchRequest, state: SpatialState | None) -> Array:
        assert self.displacement is not None
        spec = self.spec[self.displacement].with_roi(request[self.displacement].roi)
        assert spec.roi is not None and spec.voxel_size is not None
        vs = request[self.displacement].voxel_size or spec.voxel_size
        if state is None:
            data = np.zeros((spec.roi.dims, *(spec.roi.shape // vs).ints()), dtype=np.float32)
        else:
            data = state.transform.displacement(spec.roi, vs)
        return self._displacement_array(request, data)

    def _displacement_array(self, request: BatchRequest, data: np.ndarray) -> Array:
        assert self.displacement is not None
        return Array.trusted(data, self.spec[self.displacement].with_roi(request[self.displacement].roi))


__all__ = [
    "SectionwiseTransform",
    "SmoothTransform",
    "SpatialAugment",
    "SpatialState",
    "SpatialTransform",
    "bspline_weights",
    "finest_voxel_size",
    "map_displacement",
    "move_points",
    "read_roi",
    "resample",
    "separable_map",
]
