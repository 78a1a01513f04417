"""Section-wise helpers shared by the intensity and defect augmentations.

A *section* is one index along a spatial axis (z for EM stacks). Arrays may carry leading channel
axes before their spatial axes; these helpers translate a spatial axis into a data axis, index
sections as views, take per-section means and draw per-section values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flowgraph.coordinate import Coordinate
from flowgraph.specs import ArraySpec


def data_axis(ndim: int, spatial_dims: int, axis: int) -> int:
    """The axis of an ``ndim``-D array that is spatial axis ``axis`` (channel axes come first).

    Example:
        >>> data_axis(4, 3, 0)  # (channels, z, y, x): z is data axis 1
        1
    """
    return ndim - spatial_dims + axis


def section_index(ndim: int, axis: int, index: Any) -> tuple[Any, ...]:
    """The index tuple selecting ``index`` (an int, slice or array) along data axis ``axis``.

    Example:
        >>> np.arange(8).reshape(2, 2, 2)[section_index(3, 1, slice(1, 2))].ravel()
        array([2, 3, 6, 7])
    """
    return (slice(None),) * axis + (index,) + (slice(None),) * (ndim - axis - 1)


def section(data: np.ndarray, axis: int, i: int) -> np.ndarray:
    """Section ``i`` along data axis ``axis`` as a view that keeps the axis (length 1)."""
    return data[section_index(data.ndim, axis, slice(i, i + 1))]


def section_count(spec: ArraySpec, axis: int, voxel_size: Coordinate | None = None) -> int | None:
    """The number of sections of a request ``spec`` along spatial ``axis`` (None without a ROI).

    ``voxel_size`` is used when the spec does not name one (the voxel size offered upstream).

    Example:
        >>> from flowgraph.roi import Roi
        >>> section_count(ArraySpec(roi=Roi((0, 0, 0), (40, 8, 8)), voxel_size=(4, 1, 1)), 0)
        10
    """
    vs = spec.voxel_size or voxel_size
    if spec.roi is None or vs is None:
        return None
    return int(spec.roi.shape.ints()[axis] // vs.ints()[axis])


def section_means(data: np.ndarray, section_axis: int | None = None, fast: bool = True) -> np.ndarray:
    """The mean of ``data`` (a 0-d float64 array), or per index along ``section_axis`` (keepdims).

    With ``fast``, contiguous data is summed in its own dtype with numpy's pairwise summation
    (accurate to a few ulps and twice as fast as a float64 accumulator); otherwise, and for
    anything else, the sum accumulates in float64.

    Example:
        >>> section_means(np.array([[0.0, 1.0], [2.0, 4.0]], np.float32), 0).ravel()
        array([0.5, 3. ])
    """
    if section_axis is None:
        if fast and data.flags.c_contiguous:
            return np.asarray(float(np.add.reduce(data.reshape(-1))) / max(data.size, 1))
        return np.asarray(data.mean(dtype=np.float64))
    if fast and section_axis == 0 and data.flags.c_contiguous and data.size:
        sums = np.add.reduce(data.reshape(data.shape[0], -1), axis=1).astype(np.float64)
        shape = (data.shape[0],) + (1,) * (data.ndim - 1)
        return (sums / (data.size // data.shape[0])).reshape(shape)
    others = tuple(a for a in range(data.ndim) if a != section_axis)
    return data.mean(axis=others, dtype=np.float64, keepdims=True)


def per_section(values: Any, ndim: int, section_axis: int, sections: int) -> np.ndarray:
    """``values`` (a number or one per section) as float64, shaped to broadcast along ``section_axis``."""
    shape = [1] * ndim
    shape[section_axis] = sections
    return np.asarray(values, np.float64).reshape(shape)


def draw_uniform(rng: np.random.Generator, low: float, high: float, sections: int | None) -> np.ndarray:
    """One uniform draw in ``[low, high)`` (shape ``()``), or one per section (shape ``(sections,)``).

    Example:
        >>> draw_uniform(np.random.default_rng(0), 0.0, 1.0, 3).shape
        (3,)
    """
    return rng.uniform(low, high, () if sections is None else (sections,))


__all__ = [
    "data_axis",
    "draw_uniform",
    "per_section",
    "section",
    "section_count",
    "section_index",
    "section_means",
]
