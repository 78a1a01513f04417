"""IntensityAugment: random contrast (scale about the mean) and brightness (shift) changes."""

from __future__ import annotations

import itertools

import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.errors import ConfigError
from flowgraph.keys import ArrayKey
from flowgraph.request import BatchRequest
from flowgraph.validate import array_key, number, require_float, upstream_array

from .augment import RandomAugment
from .sections import data_axis, draw_uniform, per_section, section_count, section_means

_NAME = "IntensityAugment"


# elements per block when applying the affine map: small enough to stay in cache between passes
_BLOCK = 1 << 18


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
        s = per_section(scale, data.ndim, section_axis, data.shape[section_axis])
        t = per_section(shift, data.ndim, section_axis, data.shape[section_axis])
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


class IntensityAugment(RandomAugment):
    """Randomly scale the contrast and shift the brightness of an intensity array.

    Each voxel becomes ``mean + (a - mean) * scale + shift``, with ``scale`` drawn uniformly
    from ``[scale_min, scale_max]`` and ``shift`` from ``[shift_min, shift_max]``, and the
    mean taken over the requested array (or over each section).

    Args:
        array: the float intensity array to modify.
        scale_min, scale_max: range of the contrast factor.
        shift_min, shift_max: range of the brightness offset.
        z_section_wise: draw ``scale``/``shift`` (and take the mean) per section along the
            first spatial axis (z for EM stacks), instead of once for the whole array. ``None``
            (gunpowder's default) means False.
        clip: clip the result to [0, 1].
        p: probability that the node does anything for a request (``p=0`` is the identity).
        slab: gunpowder's blocks: one entry per axis of the data (channel axes included), the
            block size along it in voxels, ``-1`` for the whole extent; every block gets its own
            mean, scale and shift. ``(1, -1, -1)`` on a 3-D array is ``z_section_wise=True``.
            Not together with ``z_section_wise``.

    Requires: ``array`` as float32 or float64 (put ``Normalize(array)`` upstream).

    Updates: ``array`` (same spec and dtype).

    Request: unchanged.

    Randomness: drawn in ``prepare``: whether the node acts (``p``), then ``scale`` and ``shift``
    (one pair, or one pair per section) from this node's generator; with ``slab``, a seed from
    which the pairs of the blocks are drawn once the data's shape is known.

    Raises:
        ConfigError: bad ``array``, a bound that is not a finite number, a min above its max.
        SetupError: ``array`` missing upstream or not a float array.
        NonFiniteError: ``array`` holds NaN or inf (checked by the kit's base for every request).

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
        z_section_wise: bool | None = None,
        clip: bool = True,
        p: float = 1.0,
        slab: tuple[int, ...] | None = None,
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
        for param, value in (("z_section_wise", False if z_section_wise is None else z_section_wise), ("clip", clip)):
            if not isinstance(value, (bool, np.bool_)):
                raise ConfigError(f"{_NAME}: {param} must be True or False, got {value!r}.")
        self.z_section_wise = bool(z_section_wise)
        if slab is not None:
            if z_section_wise is not None:
                raise ConfigError(f"{_NAME}: give slab or z_section_wise, not both (slab=(1, -1, -1) is section-wise).")
            entries = tuple(slab) if isinstance(slab, (tuple, list)) else None
            if not entries or not all(isinstance(v, (int, np.integer)) and (v == -1 or v > 0) for v in entries):
                raise ConfigError(f"{_NAME}: slab must be a tuple of block sizes (> 0) or -1 per axis, got {slab!r}.")
            slab = tuple(int(v) for v in entries)
        self.slab = slab
        self.clip = bool(clip)
        super().__init__(_NAME, p)

    def setup(self) -> None:
        spec = upstream_array(self.name, self.upstream_spec, self.array)
        require_float(self.name, self.array, spec)
        self.updates(self.array)

    def draw(self, rng: np.random.Generator, sections: int | None) -> tuple[bool, np.ndarray, np.ndarray]:
        """Whether to act, and the scales and shifts (shape ``()`` or ``(sections,)``): the draws of a request."""
        act = self.gate(rng)
        scale, shift = self._draw_scale_shift(rng, sections)
        return act, scale, shift

    def _draw_scale_shift(self, rng: np.random.Generator, sections: int | None) -> tuple[np.ndarray, np.ndarray]:
        scale = draw_uniform(rng, self.scale_min, self.scale_max, sections)
        shift = draw_uniform(rng, self.shift_min, self.shift_max, sections)
        return scale, shift

    def _sections(self, request: BatchRequest) -> int | None:
        """Sections along the first spatial axis of the requested array (None: one draw for all)."""
        offered = self.spec[self.array]
        if not self.z_section_wise or offered.nonspatial:
            return None
        return section_count(request[self.array], 0, offered.voxel_size)

    def draw_params(self, rng: np.random.Generator, request: BatchRequest) -> tuple[np.ndarray, np.ndarray] | int:
        if self.slab is not None:  # the number of blocks depends on the data's channels: draw them later
            return int(rng.integers(2**63))
        return self._draw_scale_shift(rng, self._sections(request))

    def augment(self, batch: Batch, request: BatchRequest, params: tuple[np.ndarray, np.ndarray]) -> Batch | None:
        array = batch[self.array]
        assert isinstance(array, Array)
        data = array.data
        if data.size == 0:
            return None
        if not data.flags.writeable:
            data = data.copy()
        if isinstance(params, int):
            out = self._augment_slabs(data, np.random.default_rng(params))
        else:
            scale, shift = params
            axis = None if scale.ndim == 0 else data_axis(data.ndim, array.roi.dims, 0)
            out = scale_shift(data, scale, shift, axis, self.clip, out=data)
        return Batch({self.array: Array.trusted(out, array.spec)})

    def _augment_slabs(self, data: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        assert self.slab is not None
        if len(self.slab) != data.ndim:
            raise ConfigError(
                f"{self.name}: slab {self.slab} has {len(self.slab)} entries, {self.array} has {data.ndim} axes "
                f"(shape {data.shape}); give one per axis, channels included."
            )
        size = tuple(n if s == -1 else s for n, s in zip(data.shape, self.slab))
        starts = list(itertools.product(*(range(0, n, s) for n, s in zip(data.shape, size))))
        scales, shifts = self._draw_scale_shift(rng, len(starts))
        for start, scale, shift in zip(starts, scales, shifts):
            block = tuple(slice(b, b + s) for b, s in zip(start, size))
            scale_shift(data[block], float(scale), float(shift), None, self.clip, out=data[block])
        return data


__all__ = ["IntensityAugment", "scale_shift", "section_means"]
