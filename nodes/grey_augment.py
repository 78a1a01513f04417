"""GreyAugment: DataProvider's contrast, brightness and gamma, per section or on the whole volume."""

from __future__ import annotations

import numba
import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.errors import ConfigError
from flowgraph.keys import ArrayKey
from flowgraph.request import BatchRequest
from flowgraph.validate import array_key, check_finite, non_finite_error, number, require_float, upstream_array

from .augment import RandomAugment
from .sections import data_axis, section_count

_NAME = "GreyAugment"
_F = np.float32
_ONE = _F(1)
_BITS = 10  # mantissa bits that index the table: interpolation error below 2.5e-7, 5e-7 with the roundings
_LOG2_MANTISSA = np.log2(1 + np.arange(2**_BITS + 1) / 2**_BITS)
_LOG2_SCALE = np.arange(128) - 127.0  # the float32 exponents of (0, 1]: fields 1..127 (0: zero, subnormal)


def _power_tables(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per exponent ``g``: ``m ** g`` on a grid of mantissas ``m`` in [1, 2], and ``(2 ** e) ** g``."""
    with np.errstate(under="ignore"):
        mantissa = np.exp2(g[:, None] * _LOG2_MANTISSA).astype(np.float32)
        scale = np.exp2(g[:, None] * _LOG2_SCALE).astype(np.float32)
    return mantissa, scale


@numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False, fastmath={"nsz", "contract"})
def _affine_clip(src, dst, c, b):
    """``dst = clip(src * c + b, 0, 1)``; returns how many values of ``src`` are NaN or inf.

    NaN becomes 0 (every comparison with it is false), so ``dst`` is always in [0, 1]: the power's
    table lookup never reads outside its tables, and the caller raises for the count.
    """
    bits = src.view(np.int32)
    bad = 0
    for i in range(src.size):
        bad += (bits[i] & 0x7F800000) == 0x7F800000
        v = src[i] * c + b
        dst[i] = _ONE if v >= _ONE else (v if v > _F(0) else _F(0))
    return bad


@numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False, fastmath={"nsz", "contract"})
def _power(values, mantissa, scale, g):
    """``values **= g`` for ``values`` in [0, 1]: table lookup of the mantissa's power, times the exponent's."""
    bits = values.view(np.int32)
    shift = 23 - _BITS
    step = _F(2.0**-shift)
    for i in range(values.size):
        w = bits[i]
        if w < 0x00800000:  # zero or subnormal: rare, computed in double precision
            values[i] = np.float32(np.float64(values[i]) ** g)
            continue
        j = (w >> shift) & (2**_BITS - 1)
        a = mantissa[j]
        values[i] = (a + _F(w & (2**shift - 1)) * step * (mantissa[j + 1] - a)) * scale[w >> 23]


@numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)
def _grey32(data, out, contrast, brightness, gamma, mantissa, scale):
    src, dst = data.reshape(contrast.size, -1), out.reshape(contrast.size, -1)
    block = 8192  # clip, then raise to the power while the block is in cache
    bad = 0
    for s in range(contrast.size):
        for lo in range(0, src.shape[1], block):
            hi = min(src.shape[1], lo + block)
            bad += _affine_clip(src[s, lo:hi], dst[s, lo:hi], contrast[s], brightness[s])
            _power(dst[s, lo:hi], mantissa[s], scale[s], gamma[s])
    return bad


def grey(
    data: np.ndarray, r: np.ndarray, contrast: float, brightness: float, out: np.ndarray | None = None
) -> np.ndarray:
    """DataProvider's GreyAugment with draws ``r`` (shape ``(3,)``, or ``(sections, 3)`` along axis 0).

    ``x *= 1 + (r0 - 0.5) * contrast``, ``x += (r1 - 0.5) * brightness``, clip to [0, 1],
    ``x **= 2 ** (2 r2 - 1)``. float32 runs in one compiled pass over cache-sized blocks (numba;
    numpy's float32 power costs 40 ns a voxel, 250 ms on a CREMI request): the power of each
    value ``m * 2**e`` is ``m**g`` from a table of 1025 mantissas, interpolated linearly, times
    ``(2**e)**g`` from a table of exponents (relative error below 5e-7; zero and subnormal
    values in double precision). float64 uses numpy's exact power. ``out`` may be ``data`` (in place).

    Example:
        >>> grey(np.array([0.25, 1.0], np.float64), np.array([0.5, 0.5, 1.0]), 0.3, 0.3)
        array([0.0625, 1.    ])
    """
    return _grey(data, r, contrast, brightness, out)[0]


def _grey(
    data: np.ndarray, r: np.ndarray, contrast: float, brightness: float, out: np.ndarray | None = None
) -> tuple[np.ndarray, int | None]:
    """:func:`grey`, and how many values of ``data`` were NaN or inf (None: not checked, the float64 path)."""
    rows = np.asarray(r, np.float64).reshape(-1, 3)
    if data.shape[:1] != (len(rows),) and len(rows) != 1:
        raise ValueError(f"grey: {len(rows)} draws for {data.shape[0] if data.ndim else 0} sections")
    out = np.empty_like(data) if out is None else out
    c, b = 1 + (rows[:, 0] - 0.5) * contrast, (rows[:, 1] - 0.5) * brightness
    g = 2.0 ** (rows[:, 2] * 2 - 1)
    if data.dtype == np.float32 and data.flags.c_contiguous and out.flags.c_contiguous and data.size:
        f32 = np.float32
        bad = _grey32(data, out, c.astype(f32), b.astype(f32), g, *_power_tables(g))
        return out, int(bad)
    shape = (-1,) + (1,) * (data.ndim - 1) if len(rows) > 1 else ()
    out[...] = np.clip(data * c.reshape(shape).astype(data.dtype) + b.reshape(shape).astype(data.dtype), 0, 1)
    return np.power(out, g.reshape(shape).astype(data.dtype), out=out), None


class GreyAugment(RandomAugment):
    """Random contrast, brightness and gamma of an intensity array (DataProvider/ELEKTRONN's GreyAugment).

    Args:
        array: the float intensity array (values in [0, 1]).
        contrast_factor: ``x *= 1 + (r - 0.5) * contrast_factor``.
        brightness_factor: ``x += (r - 0.5) * brightness_factor``; then clip to [0, 1] and
            ``x **= 2 ** (2r - 1)`` (each ``r`` a fresh uniform draw in [0, 1)).
        mode: ``"2D"`` (draws per section along the first spatial axis), ``"3D"`` (one set for the
            whole array) or ``"mix"`` (one of the two drawn per batch, as the name promises;
            pytorch_connectomics' "mix" always ends in the 3-D path).
        p: probability that the node acts on a request.

    Requires: ``array`` as float32 or float64, finite. Updates: ``array``. Request: unchanged.

    Randomness: the gate, then (for "mix") the mode, then 3 (or 3 per section) uniform draws.

    Raises:
        ConfigError: bad arguments. SetupError: ``array`` missing or not float.
        NonFiniteError: NaN or inf in ``array``.

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> data = np.full((2, 4, 4), 0.5, np.float32)
        >>> spec = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (2, 4, 4)), voxel_size=(1, 1, 1))
        >>> source = fg.ArraySource(raw, fg.Array(data, spec))
        >>> request = fg.BatchRequest(random_seed=1)
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (2, 4, 4)))
        >>> with fg.build(source + fg.GreyAugment(raw, mode="2D", p=1.0)) as p:
        ...     out = p.request_batch(request)[raw].data
        >>> bool(out[0].std() == 0 and out[0, 0, 0] != out[1, 0, 0])  # one change per section
        True
    """

    def __init__(
        self,
        array: ArrayKey,
        contrast_factor: float = 0.3,
        brightness_factor: float = 0.3,
        mode: str = "mix",
        p: float = 0.5,
    ) -> None:
        self.array: ArrayKey = array_key(_NAME, "array", array)
        self.contrast_factor = number(_NAME, "contrast_factor", contrast_factor, 0.0, 2.0)
        self.brightness_factor = number(_NAME, "brightness_factor", brightness_factor, 0.0)
        if mode not in ("2D", "3D", "mix"):
            raise ConfigError(f"{_NAME}: mode must be '2D', '3D' or 'mix', got {mode!r}.")
        self.mode = mode
        super().__init__(_NAME, p)

    checks_finite_in_augment = True

    def setup(self) -> None:
        require_float(self.name, self.array, upstream_array(self.name, self.upstream_spec, self.array))
        self.updates(self.array)

    def draw_params(self, rng: np.random.Generator, request: BatchRequest) -> np.ndarray:
        mode = self.mode if self.mode != "mix" else ("3D" if rng.random() > 0.5 else "2D")
        offered = self.spec[self.array]
        sections = None if offered.nonspatial or len(offered.voxel_size or ()) < 3 else 1
        if mode == "2D" and sections:
            sections = section_count(request[self.array], 0, offered.voxel_size)
        return rng.random((sections or 1, 3) if mode == "2D" else 3)

    def augment(self, batch: Batch, request: BatchRequest, r: np.ndarray) -> Batch:
        array = batch[self.array]
        assert isinstance(array, Array)
        data, axis = array.data, data_axis(array.data.ndim, array.roi.dims, 0)
        r = r if r.ndim == 1 or len(r) > 1 else r[0]
        if r.ndim == 2:  # per section: sections first, channels after
            data = np.moveaxis(data, axis, 0)
        data = np.ascontiguousarray(data)
        if data.dtype != np.float32:  # the float32 kernel checks in its own pass (checks_finite_in_augment)
            check_finite(self.name, self.array, data)
        # in place when the batch's array may be changed (sources hand out copies): no second buffer
        out = data if data.flags.writeable else np.empty(data.shape, data.dtype)
        out, bad = _grey(data, r, self.contrast_factor, self.brightness_factor, out=out)
        if bad:
            raise non_finite_error(self.name, self.array, data.size, bad)
        if r.ndim == 2:
            out = np.moveaxis(out, 0, axis)
        return Batch({self.array: Array.trusted(out, array.spec)})


__all__ = ["GreyAugment", "grey"]
