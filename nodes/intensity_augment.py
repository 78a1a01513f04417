"""IntensityAugment: random contrast (scale about the mean) and brightness (shift) changes."""

from __future__ import annotations

import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.errors import ConfigError
from flowgraph.keys import ArrayKey
from flowgraph.provider import BatchFilter
from flowgraph.request import BatchRequest
from flowgraph.validate import array_key, number, probability, require_float, upstream_array

_NAME = "IntensityAugment"


# elements per block when applying the affine map: small enough to stay in cache between passes
_BLOCK = 1 << 18


def section_means(data: np.ndarray, section_axis: int | None = None) -> np.ndarray:
    """The mean of ``data`` (a 0-d float64 array), or per index along ``section_axis`` (keepdims).

    Contiguous data is summed in its own dtype with numpy's pairwise summation (accurate to a
    few ulps and twice as fast as a float64 accumulator); anything else accumulates in float64.
    """
    if section_axis is None:
        if data.flags.c_contiguous:
            return np.asarray(float(np.add.reduce(data.reshape(-1))) / max(data.size, 1))
        return np.asarray(data.mean(dtype=np.float64))
    if section_axis == 0 and data.flags.c_contiguous and data.size:
        sums = np.add.reduce(data.reshape(data.shape[0], -1), axis=1).astype(np.float64)
        shape = (data.shape[0],) + (1,) * (data.ndim - 1)
        return (sums / (data.size // data.shape[0])).reshape(shape)
    others = tuple(a for a in range(data.ndim) if a != section_axis)
    return data.mean(axis=others, dtype=np.float64, keepdims=True)


def scale_shift(
    data: np.ndarray,
    scale: float | np.ndarray,
    shift: float | np.ndarray,
    section_axis: int | None = None,
    clip: bool = True,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """``mean + (data - mean) * scale + shift``, optionally clipped to [0, 1], in ``data``'s dtype.

    With ``section_axis=None`` the mean is taken over the whole array and ``scale``/``shift``
    are numbers. Otherwise every index along ``section_axis`` (a section) has its own mean,
    taken over that section, and ``scale``/``shift`` hold one value per section. The constant
    part ``mean * (1 - scale) + shift`` is computed in float64 and cast; the voxels are
    computed as ``data * scale + constant`` in ``data``'s dtype (float32 stays float32), so
    ``scale=1, shift=0`` returns ``data`` bit for bit. Write into ``out`` (which may be ``data``
    itself) to avoid an allocation.

    Example:
        >>> scale_shift(np.array([0.25, 0.75], np.float32), 2.0, 0.125)
        array([0.125, 1.   ], dtype=float32)
    """
    dtype = data.dtype
    mean = section_means(data, section_axis)
    if section_axis is None:
        s = np.asarray(scale, np.float64)
        t = np.asarray(shift, np.float64)
    else:
        shape = [1] * data.ndim
        shape[section_axis] = data.shape[section_axis]
        s = np.asarray(scale, np.float64).reshape(shape)
        t = np.asarray(shift, np.float64).reshape(shape)
    constant = np.asarray(mean * (1.0 - s) + t).astype(dtype)
    factor = s.astype(dtype)
    if out is None:
        out = np.empty_like(data)
    if data.ndim == 0:
        out[...] = data * factor + constant
        if clip:
            np.clip(out, 0, 1, out=out)
        return out
    # multiply, add and clip block by block along the first axis, so each block stays in cache
    step = max(1, _BLOCK // max(1, data.size // max(1, data.shape[0])))
    for i in range(0, data.shape[0], step):
        block = slice(i, i + step)
        f = factor[block] if section_axis == 0 else factor
        c = constant[block] if section_axis == 0 else constant
        x = out[block]
        np.multiply(data[block], f, out=x)
        x += c
        if clip:
            np.clip(x, 0, 1, out=x)
    return out


class IntensityAugment(BatchFilter):
    """Randomly scale the contrast and shift the brightness of an intensity array.

    Each voxel becomes ``mean + (a - mean) * scale + shift``, with ``scale`` drawn uniformly
    from ``[scale_min, scale_max]`` and ``shift`` from ``[shift_min, shift_max]``, and the
    mean taken over the requested array (or over each section).

    Args:
        array: the float intensity array to modify.
        scale_min, scale_max: range of the contrast factor.
        shift_min, shift_max: range of the brightness offset.
        z_section_wise: draw ``scale``/``shift`` (and take the mean) per section along the
            first spatial axis (z for EM stacks), instead of once for the whole array.
        clip: clip the result to [0, 1].
        p: probability that the node does anything for a request (``p=0`` is the identity).

    Requires: ``array`` as float32 or float64 (put ``Normalize(array)`` upstream).

    Updates: ``array`` (same spec and dtype).

    Request: unchanged.

    Randomness: whether the node acts (``p``), then ``scale`` and ``shift`` (one pair, or one
    pair per section) from this node's generator.

    Raises:
        ConfigError: bad ``array``, a bound that is not a finite number, a min above its max.
        SetupError: ``array`` missing upstream or not a float array.

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> source = fg.ArraySource(raw, fg.Array(np.array([[0.25, 0.375], [0.625, 0.75]], np.float32),
        ...                         fg.ArraySpec(roi=fg.Roi((0, 0), (2, 2)), voxel_size=(1, 1))))
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((0, 0), (2, 2)))
        >>> with fg.build(source + fg.IntensityAugment(raw, 0.5, 0.5, 0.125, 0.125)) as p:
        ...     p.request_batch(request)[raw].data
        array([[0.5   , 0.5625],
               [0.6875, 0.75  ]], dtype=float32)
    """

    def __init__(
        self,
        array: ArrayKey,
        scale_min: float,
        scale_max: float,
        shift_min: float,
        shift_max: float,
        z_section_wise: bool = False,
        clip: bool = True,
        p: float = 1.0,
    ) -> None:
        self.array: ArrayKey = array_key(_NAME, "array", array)
        self.scale_min = number(_NAME, "scale_min", scale_min)
        self.scale_max = number(_NAME, "scale_max", scale_max)
        self.shift_min = number(_NAME, "shift_min", shift_min)
        self.shift_max = number(_NAME, "shift_max", shift_max)
        if self.scale_min > self.scale_max:
            raise ConfigError(f"{_NAME}: scale_min={scale_min} exceeds scale_max={scale_max}; swap them.")
        if self.shift_min > self.shift_max:
            raise ConfigError(f"{_NAME}: shift_min={shift_min} exceeds shift_max={shift_max}; swap them.")
        for param, value in (("z_section_wise", z_section_wise), ("clip", clip)):
            if not isinstance(value, (bool, np.bool_)):
                raise ConfigError(f"{_NAME}: {param} must be True or False, got {value!r}.")
        self.z_section_wise = bool(z_section_wise)
        self.clip = bool(clip)
        self.p = probability(_NAME, "p", p)

    def setup(self) -> None:
        spec = upstream_array(self.name, self.upstream_spec, self.array)
        require_float(self.name, self.array, spec)
        self.updates(self.array)

    def draw(self, rng: np.random.Generator, sections: int | None) -> tuple[bool, np.ndarray, np.ndarray]:
        """Whether to act, and the scales and shifts (shape ``()`` or ``(sections,)``)."""
        act = bool(rng.random() < self.p)
        size = () if sections is None else (sections,)
        scale = rng.uniform(self.scale_min, self.scale_max, size)
        shift = rng.uniform(self.shift_min, self.shift_max, size)
        return act, scale, shift

    def process(self, batch: Batch, request: BatchRequest) -> Batch | None:
        array = batch[self.array]
        assert isinstance(array, Array)
        data = array.data
        axis = None
        if self.z_section_wise and not array.spec.nonspatial:
            axis = data.ndim - array.roi.dims
        act, scale, shift = self.draw(self.rng(request), None if axis is None else data.shape[axis])
        if not act or data.size == 0:
            return None
        if not data.flags.writeable:
            data = data.copy()
        out = scale_shift(data, scale, shift, axis, self.clip, out=data)
        return Batch({self.array: Array.trusted(out, array.spec)})


__all__ = ["IntensityAugment", "scale_shift", "section_means"]
