"""GreyAugment: DataProvider's contrast, brightness and gamma, per section or on the whole volume."""

from __future__ import annotations

import math

import numba
import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.errors import ConfigError
from flowgraph.keys import ArrayKey
from flowgraph.request import BatchRequest
from flowgraph.validate import array_key, check_finite, number, require_float, upstream_array

from .augment import RandomAugment
from .sections import data_axis, section_count

_NAME = "GreyAugment"
_F = np.float32
_L2E, _LN2, _SQRT2 = _F(2 / math.log(2)), _F(math.log(2)), _F(math.sqrt(2))
_LOG = tuple(_F(1 / k) for k in (3, 5, 7, 9))
_EXP = tuple(_F(1 / math.factorial(k)) for k in (2, 3, 4, 5, 6))
_ONE, _HALF, _ULP = _F(1), _F(0.5), _F(2.0**-23)


@numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False, fastmath={"nsz", "contract"})
def _gamma(bits, g, ks, ps, pbits):
    """``v ** g`` for float32 ``v`` in [0, 1] given as int32 ``bits``; scratch arrays keep the loops vectorised."""
    c3, c5, c7, c9 = _LOG
    e2, e3, e4, e5, e6 = _EXP
    for i in range(bits.size):
        w = bits[i]
        m = _ONE + _F(w & 0x7FFFFF) * _ULP  # v = m * 2**e
        big = m > _SQRT2
        m = m * _HALF if big else m
        e = _F((w >> 23) - 126) if big else _F((w >> 23) - 127)
        t = (m - _ONE) / (m + _ONE)
        t2 = t * t
        y = max(g * (e + _L2E * t * (_ONE + t2 * (c3 + t2 * (c5 + t2 * (c7 + t2 * c9))))), _F(-126))
        k = np.floor(y + _HALF)
        r = (y - k) * _LN2
        ps[i] = _ONE + r * (_ONE + r * (e2 + r * (e3 + r * (e4 + r * (e5 + r * e6)))))
        ks[i] = np.int32(k) if w != 0 and y > _F(-125.5) else np.int32(-1000)
    for i in range(bits.size):
        bits[i] = pbits[i] + (ks[i] << 23) if ks[i] > -1000 else 0


@numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)
def _grey32(data, out, contrast, brightness, gamma):
    src, dst = data.reshape(contrast.size, -1), out.reshape(contrast.size, -1)
    block = 4096
    ks, ps = np.empty(block, np.int32), np.empty(block, np.float32)
    finite = _F(0)  # v - v is 0 for finite v and NaN for NaN or inf: check_finite in the same pass
    for s in range(contrast.size):
        c, b, g = contrast[s], brightness[s], gamma[s]
        for lo in range(0, src.shape[1], block):
            hi = min(src.shape[1], lo + block)
            for i in range(lo, hi):
                v = src[s, i]
                finite += v - v
                dst[s, i] = min(max(v * c + b, _F(0)), _ONE)
            n = hi - lo
            _gamma(dst[s, lo:hi].view(np.int32), g, ks[:n], ps[:n], ps[:n].view(np.int32))
    return finite == _F(0)


def grey(
    data: np.ndarray, r: np.ndarray, contrast: float, brightness: float, out: np.ndarray | None = None
) -> np.ndarray:
    """DataProvider's GreyAugment with draws ``r`` (shape ``(3,)``, or ``(sections, 3)`` along axis 0).

    ``x *= 1 + (r0 - 0.5) * contrast``, ``x += (r1 - 0.5) * brightness``, clip to [0, 1],
    ``x **= 2 ** (2 r2 - 1)``. float32 runs in one fused pass (numba; numpy's float32 power costs
    40 ns a voxel, 250 ms on a CREMI request) with a polynomial log2/exp2 (relative error below
    1e-6, 2e-6 for results under 1e-9);
    float64 uses numpy's exact power.

    Example:
        >>> grey(np.array([0.25, 1.0], np.float64), np.array([0.5, 0.5, 1.0]), 0.3, 0.3)
        array([0.0625, 1.    ])
    """
    return _grey(data, r, contrast, brightness, out)[0]


def _grey(
    data: np.ndarray, r: np.ndarray, contrast: float, brightness: float, out: np.ndarray | None = None
) -> tuple[np.ndarray, bool | None]:
    """:func:`grey`, and whether ``data`` was finite (None: not checked, the float64/strided path)."""
    rows = np.asarray(r, np.float64).reshape(-1, 3)
    if data.shape[:1] != (len(rows),) and len(rows) != 1:
        raise ValueError(f"grey: {len(rows)} draws for {data.shape[0] if data.ndim else 0} sections")
    out = np.empty_like(data) if out is None else out
    c, b = 1 + (rows[:, 0] - 0.5) * contrast, (rows[:, 1] - 0.5) * brightness
    g = 2.0 ** (rows[:, 2] * 2 - 1)
    if data.dtype == np.float32 and data.flags.c_contiguous and out.flags.c_contiguous and data.size:
        finite = _grey32(data, out, c.astype(np.float32), b.astype(np.float32), g.astype(np.float32))
        return out, bool(finite)
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
        out = np.empty(data.shape, data.dtype)
        out, finite = _grey(np.ascontiguousarray(data), r, self.contrast_factor, self.brightness_factor, out=out)
        if not finite:  # float32 checks in its single pass; otherwise (or if it found one) check here
            check_finite(self.name, self.array, array.data)
        if r.ndim == 2:
            out = np.moveaxis(out, 0, axis)
        return Batch({self.array: Array.trusted(out, array.spec)})


__all__ = ["GreyAugment", "grey"]
