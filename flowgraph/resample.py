"""Resampling through a separable coordinate map, in compiled kernels.

Geometric nodes describe where every output voxel ``(k, i, j)`` reads its source as a
:class:`SeparableMap` in source voxel units::

    s_d(k, i, j) = alpha[d] + beta[d] . (k, i, j) + shift[d, k] + sum_t w[j, t] * P[d, k, i, c0[j] + t]

an affine part, a per-section offset (misalignment), and a smooth field whose last axis is a
4-tap B-spline (``P`` holds the field already expanded along the first two axes, i.e. at
control-point resolution along the last). The map is never materialised at full resolution:
the kernels evaluate it per voxel while they interpolate, so building it costs a few
milliseconds and the image is read once.

- :func:`warp` interpolates images linearly (float32 stays float32) or picks the nearest voxel
  of labels, masks and ids on their own dtype (uint64 ids stay exact). When the map leaves
  axis 0 alone (the usual anisotropic EM case) images are interpolated in 2-D per section.
- :func:`map_bounds` bounds the source coordinates without a pass over the output, so a node
  requests the region its map reads (plus at most the field's variation between control points).

Kernels release the GIL and run on a few threads. Coordinates outside the source are clamped
to its border (nodes request enough context that this happens only by rounding).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np

_MAX_THREADS = 4
_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


@dataclasses.dataclass
class SeparableMap:
    """Source voxel coordinates of every voxel of a 3-D output grid (2-D grids use ``n0 = 1``).

    Attributes:
        alpha: (3,) offsets. beta: (3, 3) per-index slopes.
        shift: (3, n0) per-section offsets.
        field: (3, n0, n1, m) the smooth part along the first two axes, float32.
        c0: (n2,) first control column of each output column j; weights: (n2, 4) its B-spline weights.
        shape: the output grid (n0, n1, n2).
    """

    alpha: np.ndarray
    beta: np.ndarray
    shift: np.ndarray
    field: np.ndarray
    c0: np.ndarray
    weights: np.ndarray
    shape: tuple[int, int, int]

    def keeps_axis0(self) -> bool:
        """True if output section k reads exactly source section alpha[0] + k."""
        return (
            bool(np.array_equal(self.beta[0], [1.0, 0.0, 0.0]))
            and not self.shift[0].any()
            and not self.field[0].any()
            and float(self.alpha[0]).is_integer()
        )

    def moved(self, origin: np.ndarray) -> SeparableMap:
        """The same map for a source whose voxel 0 lies ``origin`` voxels further."""
        return dataclasses.replace(self, alpha=self.alpha - origin)


def available_cpus() -> int:
    """The number of CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def num_threads() -> int:
    """Threads per resampling call: the CPUs this process may use, at most 4.

    The environment variable ``FLOWGRAPH_THREADS`` overrides it (1 disables threading; PreCache
    workers use it so that workers x threads never exceed the cores).
    """
    env = os.environ.get("FLOWGRAPH_THREADS")
    if env:
        return max(1, int(env))
    return max(1, min(_MAX_THREADS, available_cpus()))


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():  # a forked child needs threads of its own
            _pool = (os.getpid(), ThreadPoolExecutor(max_workers=_MAX_THREADS, thread_name_prefix="flowgraph"))
        return _pool[1]


def _run(kernel: Callable[..., None], args: tuple[Any, ...], n: int) -> None:
    threads = min(num_threads(), n)
    if threads <= 1:
        kernel(*args, 0, n)
        return
    bounds = np.linspace(0, n, threads + 1).astype(int)
    futures = [_executor().submit(kernel, *args, int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]
    for future in futures:
        future.result()


@numba.njit(nogil=True, cache=True, inline="always")
def _coordinate(d, k, i, j, alpha, beta, shift, field, c0, weights):
    c = c0[j]
    return (
        alpha[d]
        + beta[d, 0] * k
        + beta[d, 1] * i
        + beta[d, 2] * j
        + shift[d, k]
        + weights[j, 0] * field[d, k, i, c]
        + weights[j, 1] * field[d, k, i, c + 1]
        + weights[j, 2] * field[d, k, i, c + 2]
        + weights[j, 3] * field[d, k, i, c + 3]
    )


@numba.njit(nogil=True, cache=True)
def _displacement_sections(alpha, beta, shift, field, c0, weights, first, smooth, v, begin, out, start, stop):
    n1, n2 = out.shape[2], out.shape[3]
    for d in range(first, 3):
        e = d - first
        ve, be = v[e], begin[e]
        slope = beta[d, 2] - (1.0 if d == 2 else 0.0)  # the displacement subtracts the voxel's own index
        for k in range(start, stop):
            for i in range(n1):
                own = k if d == 0 else (i if d == 1 else 0)
                row = alpha[d] + beta[d, 0] * k + beta[d, 1] * i + shift[d, k] - own
                target = out[e, k, i]
                if smooth[d]:
                    f = field[d, k, i]
                    for j in range(n2):
                        c = c0[j]
                        taps = (
                            weights[j, 0] * f[c]
                            + weights[j, 1] * f[c + 1]
                            + weights[j, 2] * f[c + 2]
                            + weights[j, 3] * f[c + 3]
                        )
                        target[j] = (row + slope * j + taps) * ve - be
                else:
                    for j in range(n2):
                        target[j] = (row + slope * j) * ve - be


def displacement_map(m: SeparableMap, begin: Sequence[int], voxel_size: Sequence[int]) -> np.ndarray:
    """``(D, *shape)`` float32 world displacement ``source(p) - p`` of every voxel centre of the
    output grid of ``m`` (whose first voxel starts at world ``begin``), for ``D`` the length of
    ``voxel_size`` (3, or 2 for a map with one section), in one compiled pass over the grid.
    """
    dims = len(voxel_size)
    first = 3 - dims
    out = np.empty((dims, *m.shape), dtype=np.float32)
    v = np.asarray(voxel_size, dtype=np.float64)
    b = np.asarray(begin, dtype=np.float64)
    smooth = np.array([bool(m.field[d].any()) for d in range(3)])
    args = (m.alpha, m.beta, m.shift, m.field, m.c0, m.weights, first, smooth, v, b, out)
    _run(_displacement_sections, args, m.shape[0])
    return out if dims == 3 else out[:, 0]


@numba.njit(nogil=True, cache=True)
def _warp_sections(src, alpha, beta, shift, field, c0, weights, out, disp, emit, first, dd, start, stop):
    height, width = src.shape[1], src.shape[2]
    ymax, xmax = height - 1.0, width - 1.0
    for k in range(start, stop):
        section = src[int(alpha[0]) + k]
        for i in range(out.shape[1]):
            for j in range(out.shape[2]):
                y = _coordinate(1, k, i, j, alpha, beta, shift, field, c0, weights)
                x = _coordinate(2, k, i, j, alpha, beta, shift, field, c0, weights)
                if emit:  # the displacement in world units, from the same coordinates
                    disp[1 - first, k, i, j] = (y + dd[0, 1] - i) * dd[1, 1] - dd[2, 1]
                    disp[2 - first, k, i, j] = (x + dd[0, 2] - j) * dd[1, 2] - dd[2, 2]
                yy = min(max(y, 0.0), ymax)
                xx = min(max(x, 0.0), xmax)
                y0 = int(yy)
                x0 = int(xx)
                y1 = min(y0 + 1, height - 1)
                x1 = min(x0 + 1, width - 1)
                fy = yy - y0
                fx = xx - x0
                # in double precision (+ 0.0): float32 differences of extreme values would overflow
                s00, s01 = section[y0, x0] + 0.0, section[y0, x1] + 0.0
                s10, s11 = section[y1, x0] + 0.0, section[y1, x1] + 0.0
                top = s00 + (s01 - s00) * fx
                bottom = s10 + (s11 - s10) * fx
                out[k, i, j] = top + (bottom - top) * fy


@numba.njit(nogil=True, cache=True)
def _warp_3d(src, alpha, beta, shift, field, c0, weights, out, disp, emit, first, dd, start, stop):
    depth, height, width = src.shape
    zmax, ymax, xmax = depth - 1.0, height - 1.0, width - 1.0
    for k in range(start, stop):
        for i in range(out.shape[1]):
            for j in range(out.shape[2]):
                z = _coordinate(0, k, i, j, alpha, beta, shift, field, c0, weights)
                y = _coordinate(1, k, i, j, alpha, beta, shift, field, c0, weights)
                x = _coordinate(2, k, i, j, alpha, beta, shift, field, c0, weights)
                if emit:  # the displacement in world units, from the same coordinates
                    if first == 0:
                        disp[0, k, i, j] = (z + dd[0, 0] - k) * dd[1, 0] - dd[2, 0]
                    disp[1 - first, k, i, j] = (y + dd[0, 1] - i) * dd[1, 1] - dd[2, 1]
                    disp[2 - first, k, i, j] = (x + dd[0, 2] - j) * dd[1, 2] - dd[2, 2]
                zz = min(max(z, 0.0), zmax)
                yy = min(max(y, 0.0), ymax)
                xx = min(max(x, 0.0), xmax)
                z0, y0, x0 = int(zz), int(yy), int(xx)
                z1, y1, x1 = min(z0 + 1, depth - 1), min(y0 + 1, height - 1), min(x0 + 1, width - 1)
                fz, fy, fx = zz - z0, yy - y0, xx - x0
                # in double precision (+ 0.0): float32 differences of extreme values would overflow
                v000, v001 = src[z0, y0, x0] + 0.0, src[z0, y0, x1] + 0.0
                v010, v011 = src[z0, y1, x0] + 0.0, src[z0, y1, x1] + 0.0
                v100, v101 = src[z1, y0, x0] + 0.0, src[z1, y0, x1] + 0.0
                v110, v111 = src[z1, y1, x0] + 0.0, src[z1, y1, x1] + 0.0
                a0 = v000 + (v001 - v000) * fx
                a1 = v010 + (v011 - v010) * fx
                b0 = v100 + (v101 - v100) * fx
                b1 = v110 + (v111 - v110) * fx
                a = a0 + (a1 - a0) * fy
                b = b0 + (b1 - b0) * fy
                out[k, i, j] = a + (b - a) * fz


@numba.njit(nogil=True, cache=True)
def _warp_nearest(src, alpha, beta, shift, field, c0, weights, out, start, stop):
    depth, height, width = src.shape
    for k in range(start, stop):
        for i in range(out.shape[1]):
            for j in range(out.shape[2]):
                z = int(np.floor(_coordinate(0, k, i, j, alpha, beta, shift, field, c0, weights) + 0.5))
                y = int(np.floor(_coordinate(1, k, i, j, alpha, beta, shift, field, c0, weights) + 0.5))
                x = int(np.floor(_coordinate(2, k, i, j, alpha, beta, shift, field, c0, weights) + 0.5))
                out[k, i, j] = src[min(max(z, 0), depth - 1), min(max(y, 0), height - 1), min(max(x, 0), width - 1)]


def _args(m: SeparableMap) -> tuple:
    return (
        np.ascontiguousarray(m.alpha, dtype=np.float64),
        np.ascontiguousarray(m.beta, dtype=np.float64),
        np.ascontiguousarray(m.shift, dtype=np.float32),
        np.ascontiguousarray(m.field, dtype=np.float32),
        np.ascontiguousarray(m.c0, dtype=np.int64),
        np.ascontiguousarray(m.weights, dtype=np.float32),
    )


def map_bounds(m: SeparableMap) -> tuple[np.ndarray, np.ndarray]:
    """Per axis a lower and an upper bound of the source coordinates over the output grid.

    Exact for the affine part and the misalignment; the smooth part of each row is bounded by
    the range of its control values (B-spline weights are non-negative and sum to one), so the
    bounds exceed the exact range by at most the field's variation between control points.
    Costs ``O(n0 * n1 * m)``, not a pass over the output.
    """
    alpha, beta, shift, field, _, _ = _args(m)
    lo, hi = _bounds(alpha, beta, shift, field, int(m.c0.min()), int(m.c0.max()) + 4, m.shape[2])
    return lo, hi


@numba.njit(nogil=True, cache=True)
def _bounds(alpha, beta, shift, field, c_lo, c_hi, n2):
    lo = np.empty(3)
    hi = np.empty(3)
    for d in range(3):
        last = beta[d, 2] * (n2 - 1)
        lo[d] = np.inf
        hi[d] = -np.inf
        for k in range(field.shape[1]):
            for i in range(field.shape[2]):
                row = alpha[d] + beta[d, 0] * k + beta[d, 1] * i + shift[d, k]
                low = field[d, k, i, c_lo]
                high = low
                for c in range(c_lo + 1, c_hi):
                    low = min(low, field[d, k, i, c])
                    high = max(high, field[d, k, i, c])
                lo[d] = min(lo[d], row + min(0.0, last) + low)
                hi[d] = max(hi[d], row + max(0.0, last) + high)
    return lo, hi


def interpolation_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype :func:`warp` interpolates an image of ``dtype`` in (and returns).

    float32, float64, complex64 and complex128 stay (complex values interpolate their real and
    imaginary parts alike); float16, bool and integers of up to 16 bits go through float32, which
    holds every value of theirs exactly; wider integers go through float64, exact up to 2**53
    (the caller rounds and clips back, see ``flowgraph.nodes.spatial.resample``).
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "fc" and dtype.itemsize >= 4:
        return dtype
    if dtype.kind in "ui" and dtype.itemsize > 2:
        return np.dtype(np.float64)
    if dtype.kind in "fuib":
        return np.dtype(np.float32)
    raise TypeError(f"cannot interpolate an image of dtype {dtype}; only numbers and booleans can be interpolated.")


def round_back(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Interpolated ``values`` (float) as ``dtype``: integers rounded and clipped to the dtype's range.

    The clip bounds are the widest floats inside the range (``float(2**64 - 1)`` is ``2**64``,
    which would wrap to 0), so that the conversion never overflows.
    """
    dtype = np.dtype(dtype)
    if values.dtype == dtype:
        return values
    if dtype.kind in "uib":
        np.rint(values, out=values)
        if dtype.kind != "b":
            info = np.iinfo(dtype)
            low, high = (_inside(info.min, values.dtype, -1), _inside(info.max, values.dtype, +1))
            np.clip(values, low, high, out=values)
    return values.astype(dtype)


def _inside(bound: int, ftype: np.dtype, side: int) -> float:
    """The float of ``ftype`` closest to the integer ``bound`` that does not lie beyond it (``side``: +1 upper)."""
    value = ftype.type(bound)
    while (int(value) > bound) if side > 0 else (int(value) < bound):
        value = np.nextafter(value, ftype.type(-side * np.inf))
    return float(value)


_NO_DISPLACEMENT = np.empty((3, 0, 0, 0), dtype=np.float32)
_NO_FRAME = np.zeros((3, 3))


def warp(
    src: np.ndarray, m: SeparableMap, interpolate: bool, displacement: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """Read ``src`` (3-D spatial, leading channel axes allowed) through ``m``.

    Images (``interpolate``) are interpolated linearly in :func:`interpolation_dtype` (float32,
    float64, complex) and returned in it; anything else is read by nearest neighbour on its own dtype.

    ``displacement``, for an image: ``(out, frame)``, where ``out`` is a ``(D, *m.shape)`` float32
    array (D = 3, or 2 for the last two axes) filled in the same pass with the world displacement
    ``source(p) - p`` of every output voxel, and ``frame`` is ``(3, 3)``: per axis the origin of
    ``src`` in voxels (what ``m`` was moved by), the voxel size and the world begin of the output.
    """
    lead = src.ndim - 3
    kernel: Any
    if interpolate:
        dtype = interpolation_dtype(src.dtype)
        kernel = _warp_sections if m.keeps_axis0() else _warp_3d
    else:
        dtype = src.dtype
        kernel = _warp_nearest
    out = np.empty(src.shape[:lead] + m.shape, dtype=dtype)
    args = _args(m)
    for n, channel in enumerate(np.ndindex(src.shape[:lead])):
        data = np.ascontiguousarray(src[channel], dtype=dtype) if interpolate else src[channel]
        if not interpolate:
            _run(kernel, (data, *args, out[channel]), m.shape[0])
            continue
        emit = displacement is not None and n == 0
        disp, frame = displacement if emit else (_NO_DISPLACEMENT, _NO_FRAME)  # type: ignore[misc]
        first = 3 - disp.shape[0]
        _run(kernel, (data, *args, out[channel], disp, emit, first, frame), m.shape[0])
        if emit and kernel is _warp_sections and first == 0:  # axis 0 is kept: one value per section
            for k in range(m.shape[0]):
                disp[0, k] = (m.alpha[0] + k + frame[0, 0] - k) * frame[1, 0] - frame[2, 0]
    return out


__all__ = ["displacement_map", "SeparableMap", "interpolation_dtype", "map_bounds", "num_threads", "round_back", "warp"]
