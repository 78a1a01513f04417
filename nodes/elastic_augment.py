"""ElasticAugment: smooth random deformation, rotation, scale and section misalignment."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from flowgraph.coordinate import Coordinate
from flowgraph.errors import ConfigError, SetupError
from flowgraph.keys import ArrayKey
from flowgraph.request import BatchRequest
from flowgraph.roi import Roi
from flowgraph.validate import interval, number, per_axis, probability

from .spatial import SmoothTransform, SpatialAugment, finest_voxel_size, separable_map


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
) -> SmoothTransform:
    """A random SmoothTransform for the output ``roi``; lengths in voxels of ``voxel_size``.

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
    return SmoothTransform(center, matrix, grid_begin, spacing, coefficients, float(begin[0]), float(vs[0]), shifts)


class ElasticAugment(SpatialAugment):
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
        use_fast_points_transform: accepted for gunpowder's code; points are always moved by
            the exact, vectorised inverse of the map (gunpowder's fast mode rasterises them and
            can lose some), so both settings give the same, exact points.
        recompute_missing_points: accepted for gunpowder's code; no point is ever lost, so
            there is nothing to recompute.
        p: probability of augmenting a request at all (``p=0`` is the identity).
        displacement: optional ArrayKey under which to provide the applied map: ``(D, *shape)``
            float32 on the grid of its requested ROI, in world units; the output at voxel centre
            ``x`` shows the input at ``x + displacement[:, x]`` (see :class:`SpatialAugment`).

    Voxel units are those of the finest requested voxel size per axis.

    Requires: every requested key (arrays and graphs).

    Updates: every spatial array and graph key (same specs).

    Provides: ``displacement`` if given (float32, at the finest voxel size of the arrays).

    Request: for each key a box holding everything the map reads for the requested ROI (the
    affine part and the misalignment exactly, the jitter bounded per row by its control values,
    plus one voxel of interpolation support), on the key's voxel grid. Place RandomLocation or
    Pad upstream so it fits.

    Randomness: drawn in ``prepare``: whether the node acts (``p``), then the angle, scale,
    control point offsets and misalignment per request.

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
        use_fast_points_transform: bool = False,
        recompute_missing_points: bool = True,
        p: float = 1.0,
        displacement: ArrayKey | None = None,
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
        for param, value in (
            ("use_fast_points_transform", use_fast_points_transform),
            ("recompute_missing_points", recompute_missing_points),
        ):
            if not isinstance(value, (bool, np.bool_)):
                raise ConfigError(f"{name}: {param} must be True or False, got {value!r}.")
        self.use_fast_points_transform = bool(use_fast_points_transform)
        self.recompute_missing_points = bool(recompute_missing_points)
        super().__init__(name, p, displacement)

    def setup(self) -> None:
        spatial = self.spatial_specs()
        for key, spec in spatial.items():
            assert spec.roi is not None  # spatial_specs holds keys with a ROI
            if spec.roi.dims not in (2, 3) or spec.roi.dims < self.spatial_dims:
                raise SetupError(
                    f"{self.name}: {key} has {spec.roi.dims} spatial axes but spatial_dims={self.spatial_dims}; "
                    "ElasticAugment works on 2-D and 3-D data with spatial_dims <= the number of axes."
                )
        self.announce(spatial)

    def draw_params(self, rng: np.random.Generator, request: BatchRequest) -> SmoothTransform | None:
        total = request.total_roi()
        assert total is not None  # SpatialAugment.prepare asks only for requests with a spatial ROI
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
        return None if transform.is_identity() else transform


Transform = SmoothTransform  # the name of earlier versions

__all__ = ["ElasticAugment", "Transform", "draw_transform", "separable_map"]
