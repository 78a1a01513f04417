"""CutBlur: a random cuboid downsampled and upsampled back (pytorch_connectomics' CutBlur)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.errors import ConfigError, SetupError
from flowgraph.keys import ArrayKey
from flowgraph.request import BatchRequest
from flowgraph.specs import ArraySpec
from flowgraph.validate import array_key, number, require_float, upstream_array

from .augment import RandomAugment

_NAME = "CutBlur"


def random_box(rng: np.random.Generator, shape: tuple[int, ...], length_ratio: float) -> tuple[slice, ...]:
    """A box whose length along each axis is ``int(length_ratio * length)`` (at least 1) at a random place.

    Example:
        >>> random_box(np.random.default_rng(0), (8, 4), 0.5)
        (slice(4, 8, None), slice(1, 3, None))
    """
    lengths = [max(1, int(length_ratio * n)) for n in shape]
    return tuple(
        slice(lo, lo + n) for lo, n in zip((int(rng.integers(0, s - n + 1)) for s, n in zip(shape, lengths)), lengths)
    )


def requested_shape(node: RandomAugment, key: ArrayKey, request: BatchRequest) -> tuple[int, ...]:
    """The spatial shape in voxels of ``key`` in ``request`` (at the voxel size offered upstream)."""
    spec = request[key]
    vs = spec.voxel_size or node.spec[key].voxel_size
    assert spec.roi is not None and vs is not None
    return tuple(s // v for s, v in zip(spec.roi.shape.ints(), vs.ints()))


def setup_intensity(node: RandomAugment, key: ArrayKey, min_dims: int = 1) -> ArraySpec:
    """Shared setup of the intensity nodes: ``key`` upstream, float, spatial with ``min_dims`` axes."""
    spec = upstream_array(node.name, node.upstream_spec, key)
    require_float(node.name, key, spec)
    if spec.nonspatial or spec.voxel_size is None or len(spec.voxel_size) < min_dims:
        raise SetupError(
            f"{node.name}: needs {key} with at least {min_dims} spatial axes; got {spec}. Request a spatial array."
        )
    node.updates(key)
    return spec


def cut_blur(data: np.ndarray, box: tuple[slice, ...], factors: tuple[float, ...]) -> np.ndarray:
    """``data`` with ``data[..., box]`` shrunk by ``factors`` (linear, anti-aliased) and blown up again (nearest).

    The result is scikit-image's ``resize`` down (order 1, anti-aliased, ``mode="reflect"``) and
    up again (order 0), clipped to the box's range: order 0 upsampling keeps the blocky
    low-resolution look the network must learn to undo, as in pytorch_connectomics. Both resizes
    are linear and act on each axis on its own, so each axis is one small matrix product
    (:func:`shrink_operator`) and one ``np.repeat`` (:func:`blow_up_counts`): 6 ms instead of
    scikit-image's 66 ms on a 50 x 160 x 160 box. Only the box is read and written; leading
    (channel) axes are kept.

    Example:
        >>> cut_blur(np.arange(4.0).reshape(1, 4) / 4, (slice(None), slice(0, 4)), (1.0, 2.0)).round(3)
        array([[0.152, 0.152, 0.598, 0.598]])
    """
    index: tuple[Any, ...] = (Ellipsis, *box)
    region = data[index]
    lead = region.ndim - len(box)
    low, repeats = region, []
    for axis, factor in enumerate(factors, start=lead):
        n = region.shape[axis]
        m = max(1, int(n / factor))
        if m != n:
            shrink = shrink_operator(n, m).astype(region.dtype, copy=False)
            low = np.moveaxis(np.moveaxis(low, axis, -1) @ shrink.T, -1, axis)
            repeats.append((axis, blow_up_counts(m, n)))
    if not repeats:
        return data
    np.clip(low, region.min(), region.max(), out=low)  # as scikit-image: rounding stays in the input's range
    for axis, counts in repeats:
        low = np.repeat(low, counts, axis=axis)
    out = data.copy() if not data.flags.writeable else data
    out[index] = low
    return out


@functools.lru_cache(maxsize=256)
def shrink_operator(n: int, m: int) -> np.ndarray:
    """The ``(m, n)`` matrix of scikit-image's anti-aliased linear resize of ``n`` samples to ``m``.

    ``resize`` is linear, so resizing the identity gives its matrix: row ``i`` holds the weights
    of output sample ``i`` (the Gaussian of sigma ``(n / m - 1) / 2`` and the linear interpolation).

    Example:
        >>> shrink_operator(4, 2).sum(axis=1).round(6)
        array([1., 1.])
    """
    from skimage.transform import resize  # imported on first use: scikit-image is slow to import

    matrix = resize(np.eye(n), (m, n), order=1, mode="reflect", anti_aliasing=True, preserve_range=True)
    matrix.flags.writeable = False  # cached: shared by every call
    return matrix


@functools.lru_cache(maxsize=256)
def blow_up_counts(m: int, n: int) -> np.ndarray:
    """How often each of ``m`` samples repeats in scikit-image's nearest (order 0) resize to ``n``.

    Example:
        >>> blow_up_counts(2, 5)
        array([2, 3])
    """
    from skimage.transform import resize

    source = resize(np.arange(m, dtype=np.float64), (n,), order=0, mode="reflect", preserve_range=True)
    index = source.astype(np.intp)
    assert np.all(np.diff(index) >= 0), "nearest resize is monotone"
    counts = np.bincount(index, minlength=m)
    counts.flags.writeable = False  # cached: shared by every call
    return counts


class CutBlur(RandomAugment):
    """Blur a random cuboid by downsampling and upsampling it (CutBlur, arXiv:2004.00448).

    Args:
        array: the float intensity array.
        length_ratio: the cuboid's length along every spatial axis, as a share of the request's.
        down_ratio_min, down_ratio_max: range of the downsampling factor (one per batch).
        downsample_z: also downsample along the section axis (spatial axis 0 of 3-D+ arrays);
            in-plane (the last two axes) is always downsampled.
        p: probability that the node acts on a request.

    Requires: ``array`` float, finite. Updates: ``array``. Request: unchanged.

    Randomness: the gate, the cuboid's place per axis, the factor.

    Raises:
        ConfigError: bad arguments. SetupError: ``array`` missing or not float.
        NonFiniteError: NaN or inf in ``array`` (checked by the kit for every request).

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> data = np.random.default_rng(0).random((4, 16, 16)).astype(np.float32)
        >>> spec = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (4, 16, 16)), voxel_size=(1, 1, 1))
        >>> source = fg.ArraySource(raw, fg.Array(data, spec))
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (4, 16, 16)))
        >>> with fg.build(source + fg.CutBlur(raw, length_ratio=0.5, p=1.0)) as p:
        ...     out = p.request_batch(request)[raw].data
        >>> int((out != data).sum() > 0), int((out != data).sum() <= 2 * 8 * 8)
        (1, 1)
    """

    def __init__(
        self,
        array: ArrayKey,
        length_ratio: float = 0.25,
        down_ratio_min: float = 2.0,
        down_ratio_max: float = 8.0,
        downsample_z: bool = False,
        p: float = 0.5,
    ) -> None:
        self.array: ArrayKey = array_key(_NAME, "array", array)
        self.length_ratio = number(_NAME, "length_ratio", length_ratio, 0.0, 1.0)
        self.down_ratio_min = number(_NAME, "down_ratio_min", down_ratio_min, 1.0)
        self.down_ratio_max = number(_NAME, "down_ratio_max", down_ratio_max, 1.0)
        if self.down_ratio_min > self.down_ratio_max:
            raise ConfigError(
                f"{_NAME}: down_ratio_min={down_ratio_min} exceeds down_ratio_max={down_ratio_max}; swap them."
            )
        if not isinstance(downsample_z, (bool, np.bool_)):
            raise ConfigError(f"{_NAME}: downsample_z must be True or False, got {downsample_z!r}.")
        self.downsample_z = bool(downsample_z)
        super().__init__(_NAME, p)

    def setup(self) -> None:
        setup_intensity(self, self.array)

    def draw_params(
        self, rng: np.random.Generator, request: BatchRequest
    ) -> tuple[tuple[slice, ...], tuple[float, ...]]:
        shape = requested_shape(self, self.array, request)
        box = random_box(rng, shape, self.length_ratio)
        ratio = float(rng.uniform(self.down_ratio_min, self.down_ratio_max))
        inplane = max(0, len(shape) - 2)  # axes before the last two: the section axes
        return box, tuple(ratio if d >= inplane or self.downsample_z else 1.0 for d in range(len(shape)))

    def augment(
        self, batch: Batch, request: BatchRequest, params: tuple[tuple[slice, ...], tuple[float, ...]]
    ) -> Batch:
        array = batch[self.array]
        assert isinstance(array, Array)
        box, factors = params
        return Batch({self.array: Array.trusted(cut_blur(array.data, box, factors), array.spec)})


__all__ = ["CutBlur", "blow_up_counts", "cut_blur", "random_box", "shrink_operator"]
