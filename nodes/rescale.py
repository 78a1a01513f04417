"""Rescale: a random zoom in the section plane, images anti-aliased when shrinking."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numba
import numpy as np

from flowgraph.array import Array
from flowgraph.coordinate import Coordinate
from flowgraph.errors import ConfigError, SetupError
from flowgraph.keys import ArrayKey
from flowgraph.request import BatchRequest
from flowgraph.resample import _run
from flowgraph.roi import Roi
from flowgraph.validate import number

from .spatial import SeparableMap, SmoothTransform, SpatialAugment, resample


def antialias_sigma(scale: float) -> float:
    """scikit-image's anti-aliasing sigma (``skimage.transform.resize``) for a zoom by ``scale``:
    ``max(0, (1 / scale - 1) / 2)`` input voxels; 0 when magnifying.

    Example:
        >>> antialias_sigma(0.5), antialias_sigma(1.2)
        (0.5, 0.0)
    """
    return max(0.0, (1.0 / scale - 1.0) / 2.0)


def gaussian_taps(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """The normalised 1-D Gaussian of ``scipy.ndimage.gaussian_filter`` (radius ``int(truncate sigma + 0.5)``)."""
    radius = int(truncate * sigma + 0.5)
    if sigma <= 0 or radius == 0:
        return np.ones(1)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (x / sigma) ** 2)
    return taps / taps.sum()


@numba.njit(nogil=True, cache=True)
def _blur_sections(src, ty, tx, out, start, stop):  # pragma: no cover - compiled
    height, width = src.shape[1], src.shape[2]
    ry, rx = len(ty) // 2, len(tx) // 2
    rows = np.empty((height, width), dtype=out.dtype)
    for k in range(start, stop):
        for i in range(height):  # along x, borders repeated ("nearest")
            for j in range(width):
                acc = 0.0
                for t in range(len(tx)):
                    acc += tx[t] * src[k, i, min(max(j + t - rx, 0), width - 1)]
                rows[i, j] = acc
        for i in range(height):  # along y
            for j in range(width):
                acc = 0.0
                for t in range(len(ty)):
                    acc += ty[t] * rows[min(max(i + t - ry, 0), height - 1), j]
                out[k, i, j] = acc


def antialias(data: np.ndarray, sigma: Sequence[float]) -> np.ndarray:
    """``data`` smoothed in its last two axes by a Gaussian of ``sigma`` voxels each: the filter of
    ``skimage.filters.gaussian`` / ``scipy.ndimage.gaussian_filter`` (truncated at 4 sigma, borders
    repeated), in a compiled kernel, section by section on a few threads; float32 or float64."""
    dtype = data.dtype if data.dtype.kind == "f" else np.dtype(np.float32)
    sections = np.ascontiguousarray(data, dtype=dtype).reshape(-1, *data.shape[-2:])
    out = np.empty_like(sections)
    _run(_blur_sections, (sections, gaussian_taps(sigma[0]), gaussian_taps(sigma[1]), out), len(sections))
    return out.reshape(data.shape)


@dataclasses.dataclass
class Zoom(SmoothTransform):
    """An affine zoom whose images are pre-filtered with ``sigma`` voxels per axis (anti-aliasing)."""

    sigma: tuple[float, ...] = ()

    def margin(self) -> list[int]:
        return [int(4.0 * s + 0.5) for s in self.sigma]  # the filter's radius (scipy's truncate=4 rule)

    def plan(self, roi: Roi, voxel_size: Coordinate) -> tuple[Roi, Any]:
        read, m = super().plan(roi, voxel_size)
        grow = Coordinate([r * v for r, v in zip(self.margin(), voxel_size.ints(), strict=True)])
        return read.grow(grow, grow), m

    def apply(self, array: Array, roi: Roi, plan: SeparableMap) -> Array:
        if not array.spec.interpolatable or not any(self.sigma):
            return super().apply(array, roi, plan)
        out = resample(Array.trusted(antialias(array.data, self.sigma[-2:]), array.spec), plan)
        if array.data.dtype.kind in "ui":  # an integer image: rounded back to its dtype
            info = np.iinfo(array.data.dtype)
            out = np.clip(np.rint(out), info.min, info.max).astype(array.data.dtype)
        return Array.trusted(out, array.spec, roi)


class Rescale(SpatialAugment):
    """Zoom every array and graph in the section plane (the last two axes) by a random factor.

    The factor is drawn uniformly from ``[low, high]``, per in-plane axis unless ``fix_aspect``
    (> 1 magnifies), about the centre of the request (pytorch_connectomics' Rescale crops a
    random window instead; RandomLocation upstream places the sample). Shrunk images are first
    smoothed with scikit-image's anti-aliasing Gaussian (``skimage.transform.resize``'s sigma rule
    ``(1 / factor - 1) / 2``, the filter of ``skimage.filters.gaussian`` in a compiled kernel),
    then resampled linearly by the kit's compiled kernels; labels, masks and points go through the
    same map (nearest).

    Args:
        low, high: the range of the zoom factor (``0 < low <= high``).
        fix_aspect: one factor for both in-plane axes.
        p: probability that the node acts on a request.
        displacement: optional ArrayKey to provide the applied map under (see :class:`SpatialAugment`).

    Requires: every requested key; 2-D or 3-D spatial arrays and graphs.
    Updates: every spatial array and graph (same specs).
    Request: each key at the box the zoom reads (``1 / factor`` times larger when shrinking),
    plus one voxel of interpolation support and, for a shrink, the filter's radius.
    Randomness: drawn in ``prepare``: the gate (``p``), then the factor(s).

    Raises:
        ConfigError: ``low``/``high`` not positive or ``low > high``, ``p`` outside [0, 1].
        SetupError: spatial data with other than 2 or 3 axes.

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> labels = fg.ArrayKey("LABELS")
        >>> spec = fg.ArraySpec(roi=fg.Roi((0, 0), (8, 8)), voxel_size=(1, 1), interpolatable=False)
        >>> source = fg.ArraySource(labels, fg.Array(np.arange(64, dtype=np.uint64).reshape(8, 8), spec))
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[labels] = fg.ArraySpec(roi=fg.Roi((2, 2), (4, 4)))
        >>> with fg.build(source + Rescale(low=2.0, high=2.0, p=1.0)) as p:
        ...     p.request_batch(request)[labels].data  # magnified twice about the centre
        array([[27, 27, 28, 28],
               [27, 27, 28, 28],
               [35, 35, 36, 36],
               [35, 35, 36, 36]], dtype=uint64)
    """

    def __init__(
        self,
        low: float = 0.8,
        high: float = 1.2,
        fix_aspect: bool = False,
        p: float = 0.5,
        displacement: ArrayKey | None = None,
    ) -> None:
        self.low = number("Rescale", "low", low)
        self.high = number("Rescale", "high", high)
        if not 0 < self.low <= self.high:
            raise ConfigError(f"Rescale: low and high must satisfy 0 < low <= high, got low={low!r}, high={high!r}.")
        if not isinstance(fix_aspect, (bool, np.bool_)):
            raise ConfigError(f"Rescale: fix_aspect must be True or False, got {fix_aspect!r}.")
        self.fix_aspect = bool(fix_aspect)
        super().__init__("Rescale", p, displacement)

    def setup(self) -> None:
        spatial = self.spatial_specs()
        for key, spec in spatial.items():
            if spec.roi is not None and spec.roi.dims not in (2, 3):
                raise SetupError(
                    f"{self.name}: {key} has {spec.roi.dims} spatial axes; Rescale works on 2-D and 3-D data."
                )
        self.announce(spatial)

    def draw_params(self, rng: np.random.Generator, request: BatchRequest) -> Zoom | None:
        total = request.total_roi()
        assert total is not None  # SpatialAugment asks only for requests with a ROI
        factors = rng.uniform(self.low, self.high, 1 if self.fix_aspect else 2) * np.ones(2)
        if np.all(factors == 1.0):
            return None
        dims = total.dims
        matrix = np.eye(dims)
        matrix[-2:, -2:] = np.diag(1.0 / factors)
        sigma = (0.0,) * (dims - 2) + tuple(antialias_sigma(f) for f in factors)
        centre = [b + s / 2 for b, s in zip(total.begin.ints(), total.shape.ints(), strict=True)]
        return Zoom(np.asarray(centre, float), matrix, np.zeros(dims), np.ones(dims), [None] * dims, sigma=sigma)


__all__ = ["Rescale", "Zoom", "antialias", "antialias_sigma"]
