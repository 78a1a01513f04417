"""XYMasking: stripes across the section plane filled with a constant (albumentations' XYMasking)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.errors import ConfigError, RequestError, SetupError
from flowgraph.keys import ArrayKey
from flowgraph.request import BatchRequest
from flowgraph.roi import Roi
from flowgraph.specs import ArraySpec
from flowgraph.validate import array_key, number, upstream_array

from .augment import RandomAugment
from .cut_blur import setup_intensity

_NAME = "XYMasking"


def _range(param: str, value: Any) -> tuple[int, int]:
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        low, high = (number(_NAME, param, v, 0, integer=True) for v in value)
        if low > high:
            raise ConfigError(f"{_NAME}: {param} must be an int or a (min, max) pair with min <= max, got {value!r}.")
        return low, high
    n = number(_NAME, param, value, 0, integer=True)
    return n, n


def fill_stripes(data: np.ndarray, dims: int, stripes: Sequence[tuple[int, int, int]], fill: Any) -> np.ndarray:
    """``data`` with every stripe ``(spatial axis, start, stop)`` set to ``fill`` across all other axes.

    ``fill`` is a number or one value per channel (the first axis of an array with channel axes).

    Example:
        >>> fill_stripes(np.ones((2, 3, 4)), 2, [(1, 1, 2)], [5, 7])[:, 0]
        array([[1., 5., 1., 1.],
               [1., 7., 1., 1.]])
    """
    out = data if data.flags.writeable else data.copy()
    value = np.asarray(fill, out.dtype)
    if value.ndim:
        if out.ndim == dims or value.shape != out.shape[:1]:
            raise ConfigError(
                f"{_NAME}: fill_value has {value.size} values for an array of shape {out.shape}; give one per channel."
            )
        value = value.reshape((-1,) + (1,) * (out.ndim - 1))
    for axis, start, stop in stripes:
        index = [slice(None)] * out.ndim
        index[out.ndim - dims + axis] = slice(start, stop)
        out[tuple(index)] = value
    return out


class XYMasking(RandomAugment):
    """Mask stripes along x and y, spanning the whole extent of the other axes (SpecAugment-style dropout).

    Args:
        array: the float intensity array; its request's grid places the stripes.
        num_masks_x, num_masks_y: stripes along x (``axes[0]``) and y (``axes[1]``): an int or a
            ``(min, max)`` range (inclusive).
        mask_x_length, mask_y_length: each stripe's width in voxels: an int or a ``(min, max)`` range.
        fill_value: the stripes' value in ``array`` (and in interpolatable arrays in ``masks``): a
            number or one per channel.
        mask_fill_value: the stripes' value in the non-interpolatable arrays in ``masks``.
        masks: further ArrayKeys masked at the same world positions (labels, masks, images).
        axes: the spatial axes (x, y); leading axes are sections and channels: every section gets
            the same stripes.
        p: probability that the node acts on a request.

    Requires: ``array`` float, finite. Updates: ``array`` and ``masks``. Request: unchanged.

    Randomness: the gate, the counts (x then y), then per stripe its width and place.

    Raises:
        ConfigError: bad arguments. SetupError: arrays missing, ``array`` not float, an axis out
            of range, ``mask_fill_value`` not representable. RequestError: a stripe wider than the
            request. NonFiniteError: NaN or inf in ``array`` (checked by the kit for every request).

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> source = fg.ArraySource(raw, fg.Array(np.ones((2, 4, 6), np.float32),
        ...     fg.ArraySpec(roi=fg.Roi((0, 0, 0), (2, 4, 6)), voxel_size=(1, 1, 1))))
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (2, 4, 6)))
        >>> with fg.build(source + fg.XYMasking(raw, num_masks_x=1, mask_x_length=2, p=1.0)) as p:
        ...     out = p.request_batch(request)[raw].data
        >>> out[0].astype(int)  # one 2-voxel stripe along x, on every section and row
        array([[1, 1, 0, 0, 1, 1],
               [1, 1, 0, 0, 1, 1],
               [1, 1, 0, 0, 1, 1],
               [1, 1, 0, 0, 1, 1]])
        >>> bool((out[1] == out[0]).all())
        True
    """

    def __init__(
        self,
        array: ArrayKey,
        num_masks_x: int | tuple[int, int] = 0,
        num_masks_y: int | tuple[int, int] = 0,
        mask_x_length: int | tuple[int, int] = 0,
        mask_y_length: int | tuple[int, int] = 0,
        fill_value: float | Sequence[float] = 0,
        mask_fill_value: float = 0,
        masks: Sequence[ArrayKey] = (),
        axes: tuple[int, int] = (-1, -2),
        p: float = 0.5,
    ) -> None:
        self.array: ArrayKey = array_key(_NAME, "array", array)
        self.num_masks_x, self.num_masks_y = _range("num_masks_x", num_masks_x), _range("num_masks_y", num_masks_y)
        self.mask_x_length, self.mask_y_length = (
            _range("mask_x_length", mask_x_length),
            _range("mask_y_length", mask_y_length),
        )
        values = fill_value if isinstance(fill_value, Sequence) and not isinstance(fill_value, str) else [fill_value]
        for v in values:
            number(_NAME, "fill_value", v)
        self.fill_value = tuple(float(v) for v in values) if values is fill_value else float(fill_value)  # type: ignore[arg-type]
        self.mask_fill_value = number(_NAME, "mask_fill_value", mask_fill_value)
        if isinstance(masks, (ArrayKey, str)) or not isinstance(masks, Sequence):
            raise ConfigError(f"{_NAME}: masks must be a sequence of ArrayKeys, got {masks!r}.")
        self.masks = tuple(array_key(_NAME, "masks", m) for m in masks)
        ok = isinstance(axes, Sequence) and len(axes) == 2 and all(isinstance(a, numbers.Integral) for a in axes)
        if not ok or axes[0] == axes[1]:
            raise ConfigError(f"{_NAME}: axes must be two different spatial axes (x, y), got {axes!r}.")
        self.axes = (int(axes[0]), int(axes[1]))
        super().__init__(_NAME, p)

    def setup(self) -> None:
        dims = len(setup_intensity(self, self.array).voxel_size or ())
        if not all(-dims <= a < dims for a in self.axes) or self.axes[0] % dims == self.axes[1] % dims:
            raise SetupError(
                f"{self.name}: axes={self.axes} are not two different axes of {self.array}'s {dims}; use e.g. (-1, -2)."
            )
        for key in self.masks:
            spec = upstream_array(self.name, self.upstream_spec, key, " (in masks)")
            value = self.fill_value if spec.interpolatable is not False else self.mask_fill_value
            for v in np.atleast_1d(value):
                if spec.dtype is not None and np.asarray(v).astype(spec.dtype) != v:
                    raise SetupError(
                        f"{self.name}: {key} ({spec.dtype}) cannot hold the fill value {v}; choose another."
                    )
            self.updates(key)

    def _grid(self, request: BatchRequest) -> Roi:
        rois = [r for k in (self.array, *self.masks) if k in request and (r := request[k].roi) is not None]
        total = rois[0]
        for roi in rois[1:]:
            total = total.union(roi)
        return total

    def draw_params(self, rng: np.random.Generator, request: BatchRequest) -> list[tuple[int, int, int]]:
        grid, offered = self._grid(request), self.spec[self.array]
        assert isinstance(offered, ArraySpec) and offered.voxel_size is not None
        vs, begin0, shape = offered.voxel_size.ints(), grid.begin.ints(), grid.shape.ints()
        dims = grid.dims
        counts = [int(rng.integers(lo, hi + 1)) for lo, hi in (self.num_masks_x, self.num_masks_y)]
        stripes = []  # (spatial axis, world begin, world end)
        for axis, count, (low, high) in zip(self.axes, counts, (self.mask_x_length, self.mask_y_length)):
            axis %= dims
            extent = shape[axis] // vs[axis]
            if count and high > extent:
                raise RequestError(
                    f"{self.name}: stripes up to {high} voxels do not fit the request's {extent} along axis {axis}; "
                    "shorten them or request more."
                )
            for _ in range(count):
                length = int(rng.integers(low, high + 1))
                start = int(rng.integers(0, extent - length + 1))
                begin = begin0[axis] + start * vs[axis]
                stripes.append((axis, begin, begin + length * vs[axis]))
        return stripes

    def augment(self, batch: Batch, request: BatchRequest, stripes: list[tuple[int, int, int]]) -> Batch:
        out = Batch()
        for key in (self.array, *self.masks):
            if key not in batch:
                continue
            array = batch[key]
            assert isinstance(array, Array)
            assert array.voxel_size is not None
            offset, size, vs = array.roi.begin.ints(), array.roi.shape.ints(), array.voxel_size.ints()
            local = []
            for axis, begin, end in stripes:  # world -> this array's voxels (covering, clipped)
                lo = max(0, (begin - offset[axis]) // vs[axis])
                hi = min(size[axis] // vs[axis], -(-(end - offset[axis]) // vs[axis]))
                if lo < hi:
                    local.append((axis, lo, hi))
            fill = (
                self.fill_value if array.spec.interpolatable is not False or key == self.array else self.mask_fill_value
            )
            out[key] = Array.trusted(fill_stripes(array.data, array.roi.dims, local, fill), array.spec)
        return out


__all__ = ["XYMasking", "fill_stripes"]
