"""Array: numpy data together with the ArraySpec that places it in the world."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from flowgraph.coordinate import Coordinate
from flowgraph.errors import BatchContractError, ConfigError
from flowgraph.roi import Roi
from flowgraph.specs import ArraySpec


def voxel_shape(roi: Roi, voxel_size: Iterable[int | None]) -> tuple[int, ...]:
    """Number of voxels per axis of a grid-aligned, bounded ``roi``."""
    shape = roi.shape
    if None in shape or None in voxel_size:
        raise ConfigError(f"voxel_shape: {roi} and voxel size {tuple(voxel_size)} must be bounded.")
    return tuple(s // v for s, v in zip(shape, voxel_size))  # type: ignore[operator]


class Array:
    """An n-D numpy array placed in world units by its spec.

    The last ``spec.roi.dims`` axes of ``data`` are spatial; any leading axes are channels
    (or a batch dimension). ``spec.dtype`` is filled from the data.

    Example:
        >>> a = Array(np.zeros((2, 3)), ArraySpec(roi=Roi((0, 0), (20, 30)), voxel_size=(10, 10)))
        >>> a.crop(Roi((10, 0), (10, 20))).data.shape
        (1, 2)
    """

    __slots__ = ("data", "spec")

    def __init__(self, data: np.ndarray, spec: ArraySpec) -> None:
        if not isinstance(data, np.ndarray):
            raise ConfigError(f"Array: data must be a numpy array, got {type(data).__name__}.")
        if not isinstance(spec, ArraySpec):
            raise ConfigError(f"Array: spec must be an ArraySpec, got {type(spec).__name__}.")
        spec = spec.copy()
        if spec.dtype is None:
            spec.dtype = data.dtype
        if not spec.nonspatial:
            if spec.roi is None or spec.voxel_size is None:
                raise ConfigError("Array: a spatial array needs spec.roi and spec.voxel_size; set both.")
            if spec.roi.dims != len(spec.voxel_size):
                raise ConfigError(
                    f"Array: roi {spec.roi} and voxel_size {spec.voxel_size} have different numbers of axes."
                )
            if not spec.roi.is_bounded():
                raise ConfigError(f"Array: roi {spec.roi} is unbounded; an array's roi must be bounded on every axis.")
            if data.ndim < spec.roi.dims:
                raise ConfigError(f"Array: data has {data.ndim} axes but roi {spec.roi} has {spec.roi.dims}.")
            if not spec.roi.on_grid(spec.voxel_size):
                raise ConfigError(
                    f"Array: roi {spec.roi} is not on the grid of voxel_size {spec.voxel_size}; "
                    "snap it with roi.snap_to_grid(voxel_size)."
                )
            expected = voxel_shape(spec.roi, spec.voxel_size)
            if data.shape[data.ndim - spec.roi.dims :] != expected:
                raise ConfigError(
                    f"Array: data shape {data.shape} does not match roi {spec.roi} at voxel size "
                    f"{spec.voxel_size} (expected spatial shape {expected})."
                )
        self.data = data
        self.spec = spec

    @property
    def roi(self) -> Roi:
        assert self.spec.roi is not None
        return self.spec.roi

    @property
    def voxel_size(self) -> Coordinate:
        assert self.spec.voxel_size is not None
        return self.spec.voxel_size

    def crop(self, roi: Roi) -> Array:
        """A view of the part inside ``roi`` (which must be contained and on the grid)."""
        if self.spec.nonspatial or roi == self.spec.roi:
            return self
        if not self.roi.contains(roi):
            raise BatchContractError(f"Array.crop: {roi} is not inside the array's ROI {self.roi}.")
        vs = self.voxel_size
        if not roi.on_grid(vs):
            raise BatchContractError(f"Array.crop: {roi} is not on the voxel grid {vs}.")
        local = ((roi.begin - self.roi.begin) // vs).ints()
        shape = (roi.shape // vs).ints()
        lead = self.data.ndim - roi.dims
        index = (slice(None),) * lead + tuple(slice(b, b + s) for b, s in zip(local, shape))
        return Array.trusted(self.data[index], self.spec, roi)

    def moved(self, roi: Roi) -> Array:
        """The same data placed at ``roi`` (same shape), e.g. after a shift."""
        if roi.shape != self.roi.shape:
            raise BatchContractError(f"Array.moved: {roi} has another shape than the array's ROI {self.roi}.")
        return Array.trusted(self.data, self.spec, roi)

    def copy(self) -> Array:
        """A copy with its own data and spec (gunpowder's ``Array.copy``).

        Example:
            >>> a = Array(np.zeros((2,)), ArraySpec(roi=Roi((0,), (2,)), voxel_size=(1,)))
            >>> b = a.copy()
            >>> b.data[0] = 1
            >>> a.data.tolist(), b.data.tolist(), b.spec == a.spec
            ([0.0, 0.0], [1.0, 0.0], True)
        """
        return Array.trusted(self.data.copy(), self.spec)

    @staticmethod
    def trusted(data: np.ndarray, spec: ArraySpec, roi: Roi | None = None) -> Array:
        """An Array from data and a copy of ``spec`` (with ``roi``), skipping the checks.

        For nodes that derive the data from an already valid Array; the pipeline still checks
        every batch after each node.
        """
        new = object.__new__(Array)
        new.data = data
        new.spec = spec.copy() if roi is None else spec.with_roi(roi)
        return new

    def __repr__(self) -> str:
        return (
            f"Array(shape={self.data.shape}, dtype={self.data.dtype}, roi={self.spec.roi}, "
            f"voxel_size={self.spec.voxel_size})"
        )


__all__ = ["Array", "voxel_shape"]
