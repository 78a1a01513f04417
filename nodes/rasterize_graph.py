"""RasterizeGraph: draw a graph's points and edges into an array, as balls or Gaussian peaks.

The drawing works on the graph's columns as a whole: the points (and the voxels of the edges'
lines) are snapped to voxels, and a precomputed ball of offsets is stamped at all of them in
vectorised chunks, or, where the stamps would overlap heavily (long edges, many points), one
Euclidean distance transform over the region does the same. Peaks are one Gaussian filter of the
painted points.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.ndimage import distance_transform_edt, gaussian_filter

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.coordinate import Coordinate
from flowgraph.errors import ConfigError, RequestError, SetupError
from flowgraph.graph import MISSING, Graph
from flowgraph.keys import ArrayKey
from flowgraph.provider import BatchFilter
from flowgraph.request import BatchRequest
from flowgraph.roi import Roi
from flowgraph.specs import ArraySpec, GraphSpec
from flowgraph.validate import array_key, graph_key, upstream_array

_EPS = 1e-9  # relative tolerance of "within the radius": a voxel exactly at the radius is inside
_CHUNK = 1 << 20  # stamped voxels per vectorised step (bounds the temporary arrays to ~50 MB)
# above this many stamped voxels per voxel of the region, one distance transform is cheaper (measured on
# 64^3 regions: a transform costs ~200 ns per voxel, stamping ~5 ns per stamped voxel, ~30 ns when
# keeping the nearest distance for hollow balls)
_EDT_RATIO = 32
_EDT_RATIO_NEAREST = 6


class RasterizationSettings:
    """How :class:`RasterizeGraph` draws a graph (gunpowder's ``RasterizationSettings``).

    Args:
        radius: the ball's radius (mode ``"ball"``) or the Gaussian's sigma (mode ``"peak"``) in
            world units; one number or one per axis (0: no extent along that axis).
        mode: ``"ball"``: every voxel whose centre lies within ``radius`` of a point's voxel gets
            ``fg_value``; ``"peak"``: the points are blurred with a Gaussian of sigma ``radius``,
            normalised so that the highest value of the drawn region is 1.
        mask: an ArrayKey of object labels at the array's voxel size: each point is drawn only
            inside the object under it (points on label 0 are not drawn); edges only inside objects
            that hold a point.
        inner_radius_fraction: mode ``"ball"`` only: draw a hollow ball, leaving out the voxels
            within this fraction (in (0, 1)) of ``radius`` of the nearest point.
        fg_value: mode ``"ball"``: the value of drawn voxels (default 1).
        bg_value: mode ``"ball"``: the value of the background (default 0).
        edges: also draw the graph's edges as lines (thickened like the points).
        color_attr: the name of a point and edge attribute whose value is drawn instead of
            ``fg_value`` (e.g. a component id; a value of 1 becomes ``fg_value``, 0 is background);
            points and edges without it are not drawn. Where balls of different values overlap, the
            larger value wins.

    Raises:
        ConfigError: a bad argument (naming it), or ``fg_value``/``bg_value`` changed in mode
            ``"peak"`` (which draws values in [0, 1]).

    Example:
        >>> import flowgraph as fg
        >>> s = fg.RasterizationSettings(radius=(40, 8, 8), inner_radius_fraction=0.5)
        >>> s.radius.tolist(), s.mode, s.edges
        ([40.0, 8.0, 8.0], 'ball', True)
    """

    def __init__(
        self,
        radius: Any,
        mode: str = "ball",
        mask: ArrayKey | None = None,
        inner_radius_fraction: float | None = None,
        fg_value: Any = 1,
        bg_value: Any = 0,
        edges: bool = True,
        color_attr: str | None = None,
    ) -> None:
        owner = "RasterizationSettings"
        self.radius = _radius(owner, radius)
        if mode not in ("ball", "peak"):
            raise ConfigError(f"{owner}: mode must be 'ball' or 'peak', got {mode!r}.")
        self.mode = mode
        self.mask = array_key(owner, "mask", mask, optional=True)
        if inner_radius_fraction is not None:
            valid = isinstance(inner_radius_fraction, numbers.Real) and not isinstance(inner_radius_fraction, bool)
            if not valid or not 0.0 < float(inner_radius_fraction) < 1.0:
                raise ConfigError(
                    f"{owner}: inner_radius_fraction must be a number in (0, 1) (or None for a full ball), "
                    f"got {inner_radius_fraction!r}."
                )
            inner_radius_fraction = float(inner_radius_fraction)
        self.inner_radius_fraction = inner_radius_fraction
        self.fg_value = _value(owner, "fg_value", fg_value)
        self.bg_value = _value(owner, "bg_value", bg_value)
        if mode == "peak":
            for name, value, default in (("fg_value", fg_value, 1), ("bg_value", bg_value, 0)):
                if value != default:
                    raise ConfigError(
                        f"{owner}: {name} is only used in mode 'ball' (peaks are drawn in [0, 1]), got "
                        f"{name}={value!r} with mode='peak'; leave it at {default} or use mode='ball'."
                    )
        if not isinstance(edges, (bool, np.bool_)):
            raise ConfigError(f"{owner}: edges must be True or False, got {edges!r}.")
        self.edges = bool(edges)
        if color_attr is not None and not isinstance(color_attr, str):
            raise ConfigError(f"{owner}: color_attr must be an attribute name (a str) or None, got {color_attr!r}.")
        self.color_attr = color_attr

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"RasterizationSettings({fields})"


def _radius(owner: str, value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        value = value.ravel().tolist()
    items = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    valid = len(items) > 0 and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in items)
    if not valid or not all(math.isfinite(v) and v >= 0 for v in items):
        raise ConfigError(f"{owner}: radius must be a number >= 0 or one per axis (world units), got {value!r}.")
    return np.array(items, dtype=np.float64)


def _value(owner: str, param: str, value: Any) -> Any:
    if not isinstance(value, (numbers.Real, np.bool_)) or not math.isfinite(float(value)):
        raise ConfigError(f"{owner}: {param} must be a finite number, got {value!r}.")
    return value


# -- the drawing: pure functions on voxel coordinates -------------------------------------------------------


def ball_offsets(radius: np.ndarray, voxel_size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The voxel offsets of a ball and their squared distances in units of the radius.

    Args:
        radius: (D,) radius per axis in world units (0: no extent along that axis).
        voxel_size: (D,) voxel size in world units.

    Returns:
        ``offsets`` (K, D) int64, the offsets ``o`` with ``sum((o * voxel_size / radius) ** 2) <= 1``,
        and ``q`` (K,) float64, that sum for each.

    Example:
        >>> offsets, q = ball_offsets(np.array([4.0, 2.0]), np.array([4, 1]))
        >>> len(offsets), offsets[q == 0].tolist(), sorted(set(offsets[:, 0].tolist()))
        (7, [[0, 0]], [-1, 0, 1])
    """
    reach = np.ceil(radius / voxel_size - _EPS).astype(np.int64)
    reach = np.maximum(reach, 0)
    grids = np.meshgrid(*[np.arange(-r, r + 1) for r in reach], indexing="ij")
    offsets = np.stack([g.ravel() for g in grids], axis=1).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.where(radius > 0, offsets * voxel_size / np.where(radius > 0, radius, 1.0), 0.0)
    q = (scaled**2).sum(axis=1)
    keep = q <= 1.0 + _EPS
    return offsets[keep], q[keep]


def line_voxels(starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The voxels of straight lines between integer voxel coordinates, ends included.

    Every line gets ``max |stop - start| + 1`` evenly spaced voxels (one per step along its longest
    axis), so consecutive voxels touch (face, edge or corner neighbours); coordinates are rounded
    half to even, as scikit-image's ``line_nd(start, stop, endpoint=True)`` (what gunpowder draws)
    does; the two can differ at an exact tie that floating point decides differently.

    Args:
        starts, stops: (E, D) int voxel coordinates of the lines' ends.

    Returns:
        ``voxels`` (P, D) int64 and ``line`` (P,), the index of the line each voxel belongs to.

    Example:
        >>> voxels, line = line_voxels(np.array([[0, 0]]), np.array([[2, 4]]))
        >>> voxels.tolist()
        [[0, 0], [0, 1], [1, 2], [2, 3], [2, 4]]
    """
    starts = np.asarray(starts, dtype=np.int64).reshape(len(starts), -1)
    stops = np.asarray(stops, dtype=np.int64).reshape(starts.shape)
    steps = np.abs(stops - starts).max(axis=1, initial=0) + 1
    line = np.repeat(np.arange(len(starts)), steps)
    first = np.concatenate([[0], np.cumsum(steps)[:-1]]).astype(np.int64)
    k = np.arange(len(line)) - first[line]
    step = (stops - starts) / np.maximum(steps - 1, 1)[:, None]
    voxels = np.round(starts[line] + k[:, None] * step[line]).astype(np.int64)
    return voxels, line


class _Stamps:
    """Stamping ``offsets`` at ``points`` (all inside ``shape``) into a flat array of ``shape`` padded by
    the stamp's reach on every side: no bounds to check, one addition per stamped voxel.

    ``indices(i, j)`` gives the flat indices of the stamps of points ``i:j`` (point-major); ``inner``
    selects ``shape`` from the padded array; ``pad(image)`` pads an image of ``shape`` alike.
    """

    def __init__(self, points: np.ndarray, offsets: np.ndarray, shape: tuple[int, ...]) -> None:
        self.reach = np.abs(offsets).max(axis=0, initial=0)
        self.padded = tuple((np.asarray(shape) + 2 * self.reach).tolist())
        strides = np.array([math.prod(self.padded[d + 1 :]) for d in range(len(shape))], dtype=np.int64)
        self.base = (points + self.reach) @ strides
        self.relative = offsets @ strides
        self.inner = tuple(slice(r, r + n) for r, n in zip(self.reach.tolist(), shape, strict=True))
        self.step = max(1, _CHUNK // max(len(offsets), 1))  # points per chunk

    @property
    def size(self) -> int:
        return math.prod(self.padded)

    def chunks(self) -> range:
        return range(0, len(self.base), self.step)

    def indices(self, i: int) -> np.ndarray:
        return (self.base[i : i + self.step, None] + self.relative[None, :]).ravel()

    def pad(self, image: np.ndarray) -> np.ndarray:
        return np.pad(image, [(r, r) for r in self.reach.tolist()]).ravel()


def _seed_image(points: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    image = np.zeros(shape, dtype=bool)
    image[tuple(points.T)] = True
    return image


def _use_edt(n_points: int, n_offsets: int, size: int, radius: np.ndarray, ratio: float) -> bool:
    return bool((radius > 0).all()) and n_points * n_offsets > ratio * size


def _covered(
    points: np.ndarray, shape: tuple[int, ...], offsets: np.ndarray, radius: np.ndarray, voxel_size: np.ndarray
) -> np.ndarray:
    """Boolean image of the voxels within the ball of any of ``points`` (all inside ``shape``)."""
    if _use_edt(len(points), len(offsets), math.prod(shape), radius, _EDT_RATIO):
        distance = distance_transform_edt(~_seed_image(points, shape), sampling=voxel_size / radius)
        return np.asarray(distance) ** 2 <= 1.0 + _EPS
    stamps = _Stamps(points, offsets, shape)
    covered = np.zeros(stamps.size, dtype=bool)
    for i in stamps.chunks():
        covered[stamps.indices(i)] = True
    return covered.reshape(stamps.padded)[stamps.inner]


def _nearest(
    points: np.ndarray,
    shape: tuple[int, ...],
    offsets: np.ndarray,
    q: np.ndarray,
    radius: np.ndarray,
    voxel_size: np.ndarray,
) -> np.ndarray:
    """Squared distance (in radii) from every voxel to the nearest of ``points``; inf beyond one radius."""
    if _use_edt(len(points), len(offsets), math.prod(shape), radius, _EDT_RATIO_NEAREST):
        distance = distance_transform_edt(~_seed_image(points, shape), sampling=voxel_size / radius)
        return np.asarray(distance) ** 2
    stamps = _Stamps(points, offsets, shape)
    nearest = np.full(stamps.size, np.inf)
    for i in stamps.chunks():
        count = len(stamps.base[i : i + stamps.step])
        np.minimum.at(nearest, stamps.indices(i), np.tile(q, count))
    return nearest.reshape(stamps.padded)[stamps.inner]


def rasterize_balls(
    shape: tuple[int, ...],
    points: np.ndarray,
    ranks: np.ndarray,
    radius: np.ndarray,
    voxel_size: np.ndarray,
    inner_radius_fraction: float | None = None,
    labels: np.ndarray | None = None,
    point_labels: np.ndarray | None = None,
) -> np.ndarray:
    """Draw a ball around every point: the rank image (0: background).

    Args:
        shape: the region's shape in voxels.
        points: (P, D) int voxel coordinates in the region (others are ignored).
        ranks: (P,) positive ints: what each point draws; where balls overlap the largest rank wins.
        radius, voxel_size: (D,) world units.
        inner_radius_fraction: leave out the voxels whose nearest point (of the same rank and
            label) lies within this fraction of the radius: hollow balls.
        labels: an object-label image of ``shape``: each point draws only where ``labels`` equals
            its entry in ``point_labels``.
        point_labels: (P,) the label each point may draw into (0: none).

    Returns:
        an int64 image of ``shape`` with the winning rank per voxel, 0 where nothing is drawn.

    Example:
        >>> image = rasterize_balls((3, 5), np.array([[1, 2]]), np.array([1]), np.array([1.0, 2.0]), np.array([1, 1]))
        >>> image.tolist()
        [[0, 0, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 1, 0, 0]]
    """
    out = np.zeros(shape, dtype=np.int64)
    points = np.asarray(points, dtype=np.int64).reshape(-1, len(shape))
    keep = ((points >= 0) & (points < np.asarray(shape))).all(axis=1) & (ranks > 0)
    if labels is not None and point_labels is not None:
        keep &= point_labels != 0
    points, ranks = points[keep], ranks[keep]
    point_labels = point_labels[keep] if point_labels is not None else None
    if not len(points):
        return out
    offsets, q = ball_offsets(radius, voxel_size)
    if inner_radius_fraction is None and labels is None and (ranks == ranks[0]).all():
        out[_covered(points, shape, offsets, radius, voxel_size)] = ranks[0]
        return out
    if inner_radius_fraction is None:  # the union of balls: the largest rank stamped at each voxel
        stamps = _Stamps(points, offsets, shape)
        padded = np.zeros(stamps.size, dtype=np.int64)
        padded_labels = stamps.pad(labels) if labels is not None else None
        for i in stamps.chunks():
            flat = stamps.indices(i)
            value = np.repeat(ranks[i : i + stamps.step], len(offsets))
            if padded_labels is not None and point_labels is not None:
                valid = padded_labels[flat] == np.repeat(point_labels[i : i + stamps.step], len(offsets))
                flat, value = flat[valid], value[valid]
            np.maximum.at(padded, flat, value)
        return padded.reshape(stamps.padded)[stamps.inner]
    # hollow balls: the distance to the nearest point counts, per rank and label, in ascending rank
    inner = inner_radius_fraction**2 + _EPS
    reach = np.abs(offsets).max(axis=0, initial=0)
    # groups of (rank, label) in ascending rank, labels by index (exact for any label dtype)
    objects, label_index = np.unique(point_labels if point_labels is not None else np.zeros(1), return_inverse=True)
    label_index = np.broadcast_to(label_index.reshape(-1), ranks.shape)
    group = ranks * len(objects) + label_index
    for key in np.unique(group).tolist():
        rank, label = key // len(objects), objects[key % len(objects)]
        members = points[group == key]
        low = np.maximum(members.min(axis=0) - reach, 0)
        high = np.minimum(members.max(axis=0) + reach + 1, shape)
        box = tuple(slice(a, b) for a, b in zip(low.tolist(), high.tolist(), strict=True))
        nearest = _nearest(members - low, tuple((high - low).tolist()), offsets, q, radius, voxel_size)
        drawn = (nearest > inner) & (nearest <= 1.0 + _EPS)
        if labels is not None:
            drawn &= labels[box] == label
        out[box][drawn] = rank
    return out


def rasterize_peaks(
    shape: tuple[int, ...],
    points: np.ndarray,
    values: np.ndarray,
    sigma: np.ndarray,
    labels: np.ndarray | None = None,
    point_labels: np.ndarray | None = None,
) -> np.ndarray:
    """Gaussian peaks at ``points``, normalised so that the image's maximum is 1 (as gunpowder).

    The points are painted with their ``values`` (later ones win on a shared voxel), blurred with
    a Gaussian of ``sigma`` voxels (zero outside the region, truncated at 4 sigma) and divided by
    the maximum. With ``labels``, this is done once per label of ``point_labels`` with that
    label's points, kept where ``labels`` holds the label, and the results are summed.

    Example:
        >>> image = rasterize_peaks((1, 5), np.array([[0, 2]]), np.array([1.0]), np.array([0.0, 1.0]))
        >>> np.round(image, 4).tolist()
        [[0.1353, 0.6065, 1.0, 0.6065, 0.1353]]
    """
    points = np.asarray(points, dtype=np.int64).reshape(-1, len(shape))
    keep = ((points >= 0) & (points < np.asarray(shape))).all(axis=1)
    points, values = points[keep], values[keep]
    passes: list[tuple[Any, np.ndarray]] = [(None, np.ones(len(points), dtype=bool))]
    if labels is not None and point_labels is not None:
        point_labels = point_labels[keep]
        passes = [(label, point_labels == label) for label in np.unique(point_labels[point_labels != 0])]
    out = np.zeros(shape, dtype=np.float64)
    for label, members in passes:
        image = np.zeros(shape, dtype=np.float64)
        image[tuple(points[members].T)] = values[members]
        gaussian_filter(image, sigma, output=image, mode="constant")
        peak = image.max(initial=0.0)
        if peak > 0:
            image /= peak
        if label is not None:
            image *= labels == label
        out += image
    return out


# -- the node ---------------------------------------------------------------------------------------------------


class RasterizeGraph(BatchFilter):
    """Draw the points (and edges) of ``graph`` into a new array ``array``, as gunpowder's node.

    Every point is snapped to the voxel that contains it (coordinates divided by the voxel size,
    floored). In mode ``"ball"`` the voxels within ``radius`` of that voxel get ``fg_value`` and
    the rest ``bg_value``; in mode ``"peak"`` a Gaussian of sigma ``radius`` is drawn, normalised
    to a maximum of 1 over the drawn region. Edges become lines between their ends' voxels,
    thickened in the same way; see :class:`RasterizationSettings`.

    Args:
        graph: the GraphKey to draw.
        array: the ArrayKey to create.
        array_spec: the new array's spec: ``voxel_size`` (default 1 per axis), ``dtype`` (default
            uint8 for balls, float32 for peaks), ``roi`` (default the graph's ROI, snapped inwards
            onto the voxel grid), ``interpolatable`` (default False for balls, True for peaks).
        settings: a :class:`RasterizationSettings` (default: balls of radius 1).

    Requires: ``graph``; the settings' ``mask`` at the array's voxel size, if given.

    Provides: ``array``.

    Request: asks for ``graph`` in the requested ROI of ``array`` grown by ``ceil(radius)``
    (balls) or ``ceil(2 * radius)`` (peaks) world units on every side, within the graph's ROI, so
    that points just outside still draw into the array; and for the mask over that region, snapped
    to the voxel grid. A request for ``graph`` (or the mask) itself gets its own ROI, unchanged.
    Requests without ``array`` pass by.

    Randomness: none.

    Raises:
        ConfigError: bad arguments (naming the parameter): keys of the wrong kind, a non-float
            dtype for peaks, ``fg_value``/``bg_value`` that the dtype cannot hold.
        SetupError: ``graph`` or the mask is not provided upstream, a voxel size or radius of
            the wrong length, a mask at another voxel size.
        RequestError: ``color_attr`` holds values that are not numbers.

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> points, raster = fg.GraphKey("POINTS"), fg.ArrayKey("RASTER")
        >>> graph = fg.Graph([1], [[2.0, 3.5]], fg.GraphSpec(roi=fg.Roi((0, 0), (5, 7))))
        >>> pipeline = fg.GraphSource(points, graph) + fg.RasterizeGraph(
        ...     points, raster, settings=fg.RasterizationSettings(radius=1.5))
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[raster] = fg.ArraySpec(roi=fg.Roi((0, 0), (5, 7)))
        >>> with fg.build(pipeline) as p:
        ...     print(p.request_batch(request)[raster].data)
        [[0 0 0 0 0 0 0]
         [0 0 1 1 1 0 0]
         [0 0 1 1 1 0 0]
         [0 0 1 1 1 0 0]
         [0 0 0 0 0 0 0]]
    """

    autoskip = True  # as gunpowder's setup() enables it

    def __init__(
        self,
        graph: Any,
        array: Any,
        array_spec: ArraySpec | None = None,
        settings: RasterizationSettings | None = None,
    ) -> None:
        self.graph = graph_key("RasterizeGraph", "graph", graph)
        self.array = array_key("RasterizeGraph", "array", array)
        owner = f"RasterizeGraph({graph}, {array})"
        if array_spec is not None and not isinstance(array_spec, ArraySpec):
            raise ConfigError(f"{owner}: array_spec must be an ArraySpec or None, got {array_spec!r}.")
        if array_spec is not None and array_spec.nonspatial:
            raise ConfigError(f"{owner}: array_spec describes a non-spatial array; a raster is spatial.")
        if settings is None:
            settings = RasterizationSettings(1)
        if not isinstance(settings, RasterizationSettings):
            raise ConfigError(f"{owner}: settings must be a RasterizationSettings or None, got {settings!r}.")
        if settings.mask is not None and settings.mask == self.array:
            raise ConfigError(f"{owner}: settings.mask must be another array than the one drawn ({array}).")
        self.array_spec = array_spec.copy() if array_spec is not None else ArraySpec()
        self.settings = settings
        peak = settings.mode == "peak"
        if self.array_spec.dtype is None:
            self.array_spec.dtype = np.dtype(np.float32 if peak else np.uint8)
        dtype = self.array_spec.dtype
        if peak and dtype.kind != "f":
            raise ConfigError(
                f"{owner}: array_spec.dtype must be a float dtype for mode='peak' (values in [0, 1]), got {dtype}."
            )
        if dtype.kind not in "biuf":
            raise ConfigError(f"{owner}: array_spec.dtype must be a bool, integer or float dtype, got {dtype}.")
        for name in ("fg_value", "bg_value"):
            value = getattr(settings, name)
            if dtype.kind in "iu" and (float(value) != int(value) or not _fits(int(value), dtype)):
                raise ConfigError(
                    f"{owner}: settings.{name}={value!r} does not fit the array's dtype {dtype}; give another "
                    f"{name} or a wider dtype in array_spec."
                )
        if self.array_spec.interpolatable is None:
            self.array_spec.interpolatable = peak

    def setup(self) -> None:
        gspec = self.upstream_spec.get(self.graph)
        if not isinstance(gspec, GraphSpec):
            raise SetupError(
                f"{self.name}: needs {self.graph}, but upstream provides only "
                f"{', '.join(map(str, self.upstream_spec)) or 'nothing'}; add a source for {self.graph} upstream."
            )
        roi = self.array_spec.roi if self.array_spec.roi is not None else gspec.roi
        if roi is None:
            raise SetupError(
                f"{self.name}: {self.graph} is provided without a ROI; give the array's ROI in array_spec.roi."
            )
        dims = roi.dims
        voxel_size = self.array_spec.voxel_size or Coordinate((1,) * dims)
        if len(voxel_size) != dims:
            raise SetupError(
                f"{self.name}: array_spec.voxel_size {tuple(voxel_size)} has {len(voxel_size)} axes, but "
                f"{self.graph} has {dims}; give one voxel size per axis."
            )
        radius = self.settings.radius
        if len(radius) not in (1, dims):
            raise SetupError(
                f"{self.name}: settings.radius {radius.tolist()} needs 1 or {dims} entries (one per axis of "
                f"{self.graph})."
            )
        self._radius = np.broadcast_to(radius, (dims,)).astype(np.float64)
        self._voxel_size = np.asarray(voxel_size.ints(), dtype=np.int64)
        reach = self._radius * (2.0 if self.settings.mode == "peak" else 1.0)
        self._context = Coordinate(math.ceil(r) for r in reach.tolist())
        roi = roi.snap_to_grid(voxel_size, mode="shrink")
        if roi.empty():
            raise SetupError(f"{self.name}: the array's ROI {roi} holds no whole voxel of size {tuple(voxel_size)}.")
        mask = self.settings.mask
        if mask is not None:
            mspec = upstream_array(self.name, self.upstream_spec, mask, " (settings.mask)")
            if mspec.voxel_size is not None and mspec.voxel_size != voxel_size:
                raise SetupError(
                    f"{self.name}: the mask {mask} has voxel size {tuple(mspec.voxel_size)}, the array "
                    f"{tuple(voxel_size)}; they must be equal (set array_spec.voxel_size)."
                )
        self.provides(self.array, self.array_spec.replace(roi=roi, voxel_size=voxel_size))

    def prepare(self, request: BatchRequest) -> tuple[BatchRequest, Roi]:
        roi = request[self.array].roi
        if roi is None:
            roi = self.spec[self.array].roi
        assert roi is not None
        context = self._context
        graph_roi = roi.grow(context, context)
        provided = self.upstream_spec[self.graph].roi
        if provided is not None:
            graph_roi = graph_roi.intersect(provided)
        deps = BatchRequest(random_seed=request.random_seed)
        deps[self.graph] = GraphSpec(roi=graph_roi)
        if self.settings.mode == "ball":
            region = roi.grow(context, context)
        else:  # peaks are normalised over the region gunpowder draws: the graph's (and the request)
            region = graph_roi.union(roi) if not graph_roi.empty() else roi
        region = region.snap_to_grid(self._voxel_size.tolist(), mode="grow")
        mask = self.settings.mask
        if mask is not None:
            mask_roi = region
            offered = self.upstream_spec[mask].roi
            if offered is not None:
                mask_roi = mask_roi.intersect(offered)
            if not mask_roi.empty():
                deps[mask] = ArraySpec(roi=mask_roi)
        return deps, region

    def process(self, batch: Batch, request: BatchRequest, region: Roi) -> Batch:
        graph = batch[self.graph]
        assert isinstance(graph, Graph)
        settings = self.settings
        vs = self._voxel_size
        begin = np.asarray(region.begin.ints(), dtype=np.int64) // vs
        shape = tuple((np.asarray(region.shape.ints(), dtype=np.int64) // vs).tolist())
        absolute = np.floor(graph.locations / vs).astype(np.int64)  # lines are drawn here: the same in every region
        voxels = absolute - begin
        color = settings.color_attr
        node_values, node_ok = _colors(self.name, graph.attributes.get(color) if color else None, len(graph), color)
        points, values = [voxels[node_ok]], [node_values]
        edge_points = np.zeros((0, len(shape)), dtype=np.int64)
        edge_values = node_values[:0]
        if settings.edges and graph.num_edges():
            edges = np.asarray(graph.edges)
            order = np.argsort(graph.ids, kind="stable")
            rows = order[np.searchsorted(graph.ids, edges, sorter=order)]
            evalues, eok = _colors(
                self.name, graph.edge_attributes.get(color) if color else None, len(edges), color, "edge"
            )
            edge_points, line = line_voxels(absolute[rows[eok, 0]], absolute[rows[eok, 1]])
            edge_points -= begin
            edge_values = evalues[line]
        labels = point_labels = None
        if settings.mask is not None:
            labels = self._labels(batch, region, shape)
            node_labels = _lookup(labels, voxels)
            objects = np.unique(node_labels[node_labels != 0])
            # every edge voxel may draw into each object that holds a point (gunpowder's per-object passes)
            points = [voxels[node_ok], np.tile(edge_points, (len(objects), 1))]
            values = [node_values, np.tile(edge_values, len(objects))]
            point_labels = np.concatenate([node_labels[node_ok], np.repeat(objects, len(edge_points))])
        else:
            points.append(edge_points)
            values.append(edge_values)
        all_points = np.concatenate(points)
        all_values = np.concatenate(values)
        spec = self.spec[self.array]
        assert isinstance(spec, ArraySpec) and spec.dtype is not None
        roi = request[self.array].roi
        assert roi is not None
        inner = tuple(
            slice(a, a + s)
            for a, s in zip(
                ((np.asarray(roi.begin.ints()) // vs) - begin).tolist(),
                (np.asarray(roi.shape.ints()) // vs).tolist(),
                strict=True,
            )
        )
        if settings.mode == "peak":
            image = rasterize_peaks(shape, all_points, all_values.astype(np.float64), self._radius / vs,
                                    labels, point_labels)  # fmt: skip
            data = image[inner].astype(spec.dtype)
        else:
            drawn = np.unique(all_values[all_values != 0])
            ranks = np.searchsorted(drawn, all_values) + 1
            ranks[all_values == 0] = 0
            image = rasterize_balls(
                shape, all_points, ranks, self._radius, vs, settings.inner_radius_fraction, labels, point_labels
            )
            lut = np.empty(len(drawn) + 1, dtype=spec.dtype)
            lut[0] = settings.bg_value
            lut[1:] = np.where(drawn == 1, settings.fg_value, drawn)
            data = lut[image[inner]]
        return Batch({self.array: Array(data, spec.with_roi(roi))})

    def _labels(self, batch: Batch, region: Roi, shape: tuple[int, ...]) -> np.ndarray:
        """The mask over ``region`` (0 where the mask was not delivered)."""
        mask = self.settings.mask
        if mask is None or mask not in batch:
            return np.zeros(shape, dtype=np.int64)
        array = batch[mask]
        assert isinstance(array, Array)
        labels = np.zeros(shape, dtype=array.data.dtype)
        vs = self._voxel_size
        offset = (np.asarray(array.roi.begin.ints()) - np.asarray(region.begin.ints())) // vs
        box = tuple(slice(o, o + s) for o, s in zip(offset.tolist(), array.data.shape[-len(shape) :], strict=True))
        labels[box] = array.data
        return labels


def _fits(value: int, dtype: np.dtype) -> bool:
    info = np.iinfo(dtype)
    return info.min <= value <= info.max


def _lookup(image: np.ndarray, voxels: np.ndarray) -> np.ndarray:
    """``image`` at ``voxels`` (0 for voxels outside it)."""
    inside = ((voxels >= 0) & (voxels < np.asarray(image.shape))).all(axis=1)
    out = np.zeros(len(voxels), dtype=image.dtype)
    out[inside] = image[tuple(voxels[inside].T)]
    return out


def _colors(
    owner: str, column: np.ndarray | None, n: int, name: str | None, what: str = "point"
) -> tuple[np.ndarray, np.ndarray]:
    """The values the rows draw and which rows draw: all 1 without ``color_attr``; else the
    attribute's values, rows without it (missing or None) left out."""
    if name is None:
        return np.ones(n, dtype=np.int64), np.ones(n, dtype=bool)
    if column is None:
        return np.zeros(0, dtype=np.int64), np.zeros(n, dtype=bool)
    if column.dtype != object:
        return np.asarray(column).reshape(n), np.ones(n, dtype=bool)
    ok = np.array([v is not MISSING and v is not None for v in column], dtype=bool)
    values = np.asarray([v.item() if isinstance(v, np.generic) else v for v in column[ok]])
    if values.dtype.kind not in "biuf" and len(values):
        raise RequestError(
            f"{owner}: the {what} attribute {name!r} (color_attr) holds values that are not numbers "
            f"(e.g. {values[0]!r}); store numeric colors in it."
        )
    return values.reshape(int(ok.sum())), ok


__all__ = [
    "RasterizationSettings",
    "RasterizeGraph",
    "ball_offsets",
    "line_voxels",
    "rasterize_balls",
    "rasterize_peaks",
]
