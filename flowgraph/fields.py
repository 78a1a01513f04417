"""Dense n-D displacement fields: generate, warp, compose, invert, measure, store.

The convention (the only one; :meth:`DisplacementField.save` writes it into the file):

- ``deltas`` has shape ``(D, *shape)``: ``deltas[d]`` is the displacement along array axis ``d``,
  in voxels of the field's own grid. Axes are in array order: for a 2-D image ``deltas[0]`` is
  the displacement along rows (y, downwards) and ``deltas[1]`` along columns (x, rightwards),
  as in atlalign's row/column images.
- Warping is backward: output voxel ``p`` reads the input at ``p + deltas[:, p]``, i.e.
  ``warp(image)[p] = image[p + deltas[:, p]]`` (interpolated). The field therefore lives on the
  output grid and maps it into the input.
- Points are ``(N, D)`` arrays of voxel coordinates in the same axis order (voxel centres at
  integers). :meth:`DisplacementField.warp_points` sends input points to where they appear in
  the output.
- ``voxel_size`` is stored metadata (world units per voxel); the maths is in voxels.
- Randomness comes from a ``numpy.random.Generator`` passed as ``rng`` (``None`` draws a fresh one).

Example:
    >>> import numpy as np
    >>> f = DisplacementField.generate((3, 4), "affine", matrix=[[1, 0, 1], [0, 1, 0]])
    >>> f.warp(np.arange(12.0).reshape(3, 4))
    array([[ 4.,  5.,  6.,  7.],
           [ 8.,  9., 10., 11.],
           [ 0.,  0.,  0.,  0.]])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numba
import numpy as np
from scipy import fft as sp_fft
from scipy import ndimage

from flowgraph.errors import ConfigError
from flowgraph.resample import round_back

CONVENTION = "backward: warp(image)[p] = image[p + deltas[:, p]]"
AXIS_ORDER = "array"  # deltas[d] moves along array axis d (2-D: d=0 rows/y, d=1 columns/x)
FORMAT = "flowgraph.DisplacementField/1"

_BORDERS = {"constant": "constant", "reflect": "reflect", "edge": "nearest"}

# approach -> {parameter: default}; _REQUIRED marks parameters without a default
_REQUIRED = object()
_APPROACHES: dict[str, dict[str, Any]] = {
    "identity": {},
    "affine": {"matrix": _REQUIRED},
    "affine_simple": {
        "scale_x": 1.0,
        "scale_y": 1.0,
        "rotation": 0.0,
        "translation_x": 0.0,
        "translation_y": 0.0,
        "shear": 0.0,
        "apply_centering": True,
    },
    "projective": {"matrix": _REQUIRED},
    "control_points": {
        "points": _REQUIRED,
        "values": _REQUIRED,
        "interpolation": "griddata",
        "anchor_corners": True,
    },
    "edge_stretching": {
        "edge_mask": _REQUIRED,
        "n_perturbation_points": 3,
        "radius_max": 30.0,
        "interpolation": "griddata",
    },
    "elastic": {"alpha": 1000.0, "sigma": 10.0},
}
_RANDOM = {"edge_stretching", "elastic"}


# -- compiled kernels: multilinear interpolation with edge clamping, and a per-point Newton solve --


@numba.njit(nogil=True, cache=True, inline="always")
def _locate(shape, q, base, frac, step, live):
    """Cell of ``q`` (clamped to the grid): lower corner, fractions, neighbour steps, live axes."""
    for k in range(shape.shape[0]):
        n = shape[k]
        x = q[k]
        live[k] = 1.0
        if x < 0.0:
            x = 0.0
            live[k] = 0.0
        elif x > n - 1:
            x = float(n - 1)
            live[k] = 0.0
        if n == 1:
            base[k] = 0
            frac[k] = 0.0
            step[k] = 0
            live[k] = 0.0
            continue
        i = int(x)  # x >= 0 here
        if i > n - 2:
            i = n - 2
        base[k] = i
        frac[k] = x - i


@numba.njit(nogil=True, cache=True, inline="always")
def _evaluate(flat, strides, step, base, frac, live, val, jac, with_jac):
    """Multilinear value (and derivative) of every component of ``flat`` in the located cell."""
    dims = base.shape[0]
    comps = flat.shape[0]
    for c in range(comps):
        val[c] = 0.0
        for k in range(dims):
            jac[c, k] = 0.0
    for corner in range(1 << dims):
        offset = 0
        weight = 1.0
        for k in range(dims):
            if (corner >> k) & 1:
                offset += base[k] * strides[k] + step[k]
                weight *= frac[k]
            else:
                offset += base[k] * strides[k]
                weight *= 1.0 - frac[k]
        for c in range(comps):
            val[c] += weight * flat[c, offset]
        if with_jac:
            for k in range(dims):
                if live[k] == 0.0:
                    continue
                dw = 1.0
                for j in range(dims):
                    bit = (corner >> j) & 1
                    if j == k:
                        dw *= 1.0 if bit else -1.0
                    else:
                        dw *= frac[j] if bit else 1.0 - frac[j]
                for c in range(comps):
                    jac[c, k] += dw * flat[c, offset]


@numba.njit(nogil=True, cache=True)
def _sample(flat, shape, positions, out):
    """``out[:, m]`` = the field ``flat`` (components x voxels) interpolated at ``positions[:, m]``."""
    dims = shape.shape[0]
    strides = np.empty(dims, np.int64)
    s = 1
    for k in range(dims - 1, -1, -1):
        strides[k] = s
        s *= shape[k]
    step = strides.copy()
    base = np.empty(dims, np.int64)
    frac = np.empty(dims)
    live = np.empty(dims)
    q = np.empty(dims)
    val = np.empty(flat.shape[0])
    jac = np.empty((flat.shape[0], dims))
    for m in range(positions.shape[1]):
        for k in range(dims):
            q[k] = positions[k, m]
            step[k] = strides[k]
        _locate(shape, q, base, frac, step, live)
        _evaluate(flat, strides, step, base, frac, live, val, jac, False)
        for c in range(flat.shape[0]):
            out[c, m] = val[c]


@numba.njit(nogil=True, cache=True, inline="always")
def _residual(flat, shape, strides, step, base, frac, live, q, t, val, jac, r):
    """r = q + f(q) - t (and the derivative of f at q in ``jac``); returns max |r|."""
    dims = shape.shape[0]
    for k in range(dims):
        step[k] = strides[k]
    _locate(shape, q, base, frac, step, live)
    _evaluate(flat, strides, step, base, frac, live, val, jac, True)
    worst = 0.0
    for k in range(dims):
        r[k] = q[k] + val[k] - t[k]
        worst = max(worst, abs(r[k]))
    return worst


@numba.njit(nogil=True, cache=True, inline="always")
def _newton_step(jac, r, a, s):
    """Solve (I + jac) s = r by Gaussian elimination with partial pivoting; False if singular."""
    dims = r.shape[0]
    for i in range(dims):
        for j in range(dims):
            a[i, j] = jac[i, j] + (1.0 if i == j else 0.0)
        s[i] = r[i]
    for col in range(dims):
        pivot = col
        for i in range(col + 1, dims):
            if abs(a[i, col]) > abs(a[pivot, col]):
                pivot = i
        if abs(a[pivot, col]) < 1e-9:
            return False
        if pivot != col:
            for j in range(dims):
                a[col, j], a[pivot, j] = a[pivot, j], a[col, j]
            s[col], s[pivot] = s[pivot], s[col]
        for i in range(col + 1, dims):
            factor = a[i, col] / a[col, col]
            for j in range(col, dims):
                a[i, j] -= factor * a[col, j]
            s[i] -= factor * s[col]
    for i in range(dims - 1, -1, -1):
        acc = s[i]
        for j in range(i + 1, dims):
            acc -= a[i, j] * s[j]
        s[i] = acc / a[i, i]
    return True


@numba.njit(nogil=True, cache=True)
def _solve(flat, shape, targets, guess, max_iter, tol, out, final):
    """For every m: q with q + f(q) == targets[:, m], from guess[:, m]; damped Newton steps.

    A Newton step is halved until the residual decreases (at most 6 times); if that fails or the
    Jacobian is singular, the plain fixed-point step q <- t - f(q) is taken. ``final[m]`` is the
    achieved residual |q + f(q) - t|.
    """
    dims = shape.shape[0]
    strides = np.empty(dims, np.int64)
    s_ = 1
    for k in range(dims - 1, -1, -1):
        strides[k] = s_
        s_ *= shape[k]
    step = strides.copy()
    base = np.empty(dims, np.int64)
    frac = np.empty(dims)
    live = np.empty(dims)
    q = np.empty(dims)
    qn = np.empty(dims)
    t = np.empty(dims)
    val = np.empty(dims)
    jac = np.empty((dims, dims))
    jacn = np.empty((dims, dims))
    r = np.empty(dims)
    rn = np.empty(dims)
    a = np.empty((dims, dims))
    s = np.empty(dims)
    for m in range(targets.shape[1]):
        for k in range(dims):
            q[k] = guess[k, m]
            t[k] = targets[k, m]
        err = _residual(flat, shape, strides, step, base, frac, live, q, t, val, jac, r)
        for _ in range(max_iter):
            if err < tol:
                break
            accepted = False
            if _newton_step(jac, r, a, s):
                lam = 1.0
                for _h in range(7):
                    for k in range(dims):
                        qn[k] = q[k] - lam * s[k]
                    err_n = _residual(flat, shape, strides, step, base, frac, live, qn, t, val, jacn, rn)
                    if err_n < err:
                        accepted = True
                        break
                    lam *= 0.5
            if not accepted:
                for k in range(dims):
                    qn[k] = q[k] - r[k]
                err_n = _residual(flat, shape, strides, step, base, frac, live, qn, t, val, jacn, rn)
            for k in range(dims):
                q[k] = qn[k]
                r[k] = rn[k]
                for j in range(dims):
                    jac[k, j] = jacn[k, j]
            err = err_n
        total = 0.0
        for k in range(dims):
            out[k, m] = q[k]
            total += r[k] * r[k]
        final[m] = math.sqrt(total)


@numba.njit(nogil=True, cache=True, inline="always")
def _cell(x, n):
    """Lower voxel, fraction and liveness (0 if clamped) of coordinate ``x`` on an axis of n >= 2."""
    live = 1.0
    if x < 0.0:
        x = 0.0
        live = 0.0
    elif x > n - 1:
        x = float(n - 1)
        live = 0.0
    i = int(x)
    if i > n - 2:
        i = n - 2
    return i, x - i, live


@numba.njit(nogil=True, cache=True, inline="always")
def _bilinear(f, c, i, j, fy, fx):
    """Value, d/dy and d/dx of component c of the (C, n0, n1) field in cell (i, j)."""
    top = (1.0 - fx) * f[c, i, j] + fx * f[c, i, j + 1]
    bottom = (1.0 - fx) * f[c, i + 1, j] + fx * f[c, i + 1, j + 1]
    dx = (1.0 - fy) * (f[c, i, j + 1] - f[c, i, j]) + fy * (f[c, i + 1, j + 1] - f[c, i + 1, j])
    return (1.0 - fy) * top + fy * bottom, bottom - top, dx


@numba.njit(nogil=True, cache=True)
def _sample_2d(f, positions, out):
    """2-D specialisation of :func:`_sample` (every axis >= 2 voxels)."""
    n0, n1 = f.shape[1], f.shape[2]
    for m in range(positions.shape[1]):
        i, fy, _ = _cell(positions[0, m], n0)
        j, fx, _ = _cell(positions[1, m], n1)
        for c in range(f.shape[0]):
            out[c, m] = _bilinear(f, c, i, j, fy, fx)[0]


@numba.njit(nogil=True, cache=True)
def _solve_2d(f, targets, guess, max_iter, tol, out, final):
    """2-D specialisation of :func:`_solve` (every axis >= 2 voxels)."""
    n0, n1 = f.shape[1], f.shape[2]
    for m in range(targets.shape[1]):
        t0 = targets[0, m]
        t1 = targets[1, m]
        q0 = guess[0, m]
        q1 = guess[1, m]
        i, fy, ly = _cell(q0, n0)
        j, fx, lx = _cell(q1, n1)
        v0, a00, a01 = _bilinear(f, 0, i, j, fy, fx)
        v1, a10, a11 = _bilinear(f, 1, i, j, fy, fx)
        r0 = q0 + v0 - t0
        r1 = q1 + v1 - t1
        err = max(abs(r0), abs(r1))
        for _ in range(max_iter):
            if err < tol:
                break
            j00 = 1.0 + a00 * ly
            j01 = a01 * lx
            j10 = a10 * ly
            j11 = 1.0 + a11 * lx
            det = j00 * j11 - j01 * j10
            accepted = False
            if abs(det) > 1e-9:
                s0 = (j11 * r0 - j01 * r1) / det
                s1 = (j00 * r1 - j10 * r0) / det
                lam = 1.0
                for _h in range(7):
                    p0 = q0 - lam * s0
                    p1 = q1 - lam * s1
                    i, fy, ly = _cell(p0, n0)
                    j, fx, lx = _cell(p1, n1)
                    v0, a00, a01 = _bilinear(f, 0, i, j, fy, fx)
                    v1, a10, a11 = _bilinear(f, 1, i, j, fy, fx)
                    e0 = p0 + v0 - t0
                    e1 = p1 + v1 - t1
                    if max(abs(e0), abs(e1)) < err:
                        accepted = True
                        break
                    lam *= 0.5
            if not accepted:
                p0 = q0 - r0
                p1 = q1 - r1
                i, fy, ly = _cell(p0, n0)
                j, fx, lx = _cell(p1, n1)
                v0, a00, a01 = _bilinear(f, 0, i, j, fy, fx)
                v1, a10, a11 = _bilinear(f, 1, i, j, fy, fx)
                e0 = p0 + v0 - t0
                e1 = p1 + v1 - t1
            q0, q1, r0, r1 = p0, p1, e0, e1
            err = max(abs(r0), abs(r1))
        out[0, m] = q0
        out[1, m] = q1
        final[m] = math.sqrt(r0 * r0 + r1 * r1)


@numba.njit(nogil=True, cache=True, inline="always")
def _trilinear(f, c, i, j, k, fz, fy, fx):
    """Value and the three derivatives of component c of the (C, n0, n1, n2) field in cell (i, j, k)."""
    c00 = (1.0 - fx) * f[c, i, j, k] + fx * f[c, i, j, k + 1]
    c01 = (1.0 - fx) * f[c, i, j + 1, k] + fx * f[c, i, j + 1, k + 1]
    c10 = (1.0 - fx) * f[c, i + 1, j, k] + fx * f[c, i + 1, j, k + 1]
    c11 = (1.0 - fx) * f[c, i + 1, j + 1, k] + fx * f[c, i + 1, j + 1, k + 1]
    d00 = f[c, i, j, k + 1] - f[c, i, j, k]
    d01 = f[c, i, j + 1, k + 1] - f[c, i, j + 1, k]
    d10 = f[c, i + 1, j, k + 1] - f[c, i + 1, j, k]
    d11 = f[c, i + 1, j + 1, k + 1] - f[c, i + 1, j + 1, k]
    lower = (1.0 - fy) * c00 + fy * c01
    upper = (1.0 - fy) * c10 + fy * c11
    value = (1.0 - fz) * lower + fz * upper
    dz = upper - lower
    dy = (1.0 - fz) * (c01 - c00) + fz * (c11 - c10)
    dx = (1.0 - fz) * ((1.0 - fy) * d00 + fy * d01) + fz * ((1.0 - fy) * d10 + fy * d11)
    return value, dz, dy, dx


@numba.njit(nogil=True, cache=True)
def _sample_3d(f, positions, out):
    """3-D specialisation of :func:`_sample` (every axis >= 2 voxels)."""
    n0, n1, n2 = f.shape[1], f.shape[2], f.shape[3]
    for m in range(positions.shape[1]):
        i, fz, _ = _cell(positions[0, m], n0)
        j, fy, _ = _cell(positions[1, m], n1)
        k, fx, _ = _cell(positions[2, m], n2)
        for c in range(f.shape[0]):
            out[c, m] = _trilinear(f, c, i, j, k, fz, fy, fx)[0]


@numba.njit(nogil=True, cache=True, inline="always")
def _eval_3d(f, q, t, r, jac, n0, n1, n2):
    """r = q + f(q) - t and jac = I + df/dq (clamped axes have zero derivative); returns max |r|."""
    i, fz, lz = _cell(q[0], n0)
    j, fy, ly = _cell(q[1], n1)
    k, fx, lx = _cell(q[2], n2)
    err = 0.0
    for c in range(3):
        v, dz, dy, dx = _trilinear(f, c, i, j, k, fz, fy, fx)
        r[c] = q[c] + v - t[c]
        jac[c, 0] = dz * lz
        jac[c, 1] = dy * ly
        jac[c, 2] = dx * lx
        jac[c, c] += 1.0
        err = max(err, abs(r[c]))
    return err


@numba.njit(nogil=True, cache=True)
def _solve_3d(f, targets, guess, max_iter, tol, out, final):
    """3-D specialisation of :func:`_solve` (every axis >= 2 voxels); Cramer's rule for the step."""
    n0, n1, n2 = f.shape[1], f.shape[2], f.shape[3]
    q = np.empty(3)
    p = np.empty(3)
    t = np.empty(3)
    r = np.empty(3)
    e = np.empty(3)
    jac = np.empty((3, 3))
    jn = np.empty((3, 3))
    s = np.empty(3)
    for m in range(targets.shape[1]):
        for c in range(3):
            q[c] = guess[c, m]
            t[c] = targets[c, m]
        err = _eval_3d(f, q, t, r, jac, n0, n1, n2)
        for _ in range(max_iter):
            if err < tol:
                break
            m00 = jac[1, 1] * jac[2, 2] - jac[1, 2] * jac[2, 1]
            m01 = jac[1, 0] * jac[2, 2] - jac[1, 2] * jac[2, 0]
            m02 = jac[1, 0] * jac[2, 1] - jac[1, 1] * jac[2, 0]
            det = jac[0, 0] * m00 - jac[0, 1] * m01 + jac[0, 2] * m02
            accepted = False
            err_n = err
            if abs(det) > 1e-9:
                s[0] = (
                    r[0] * m00
                    - jac[0, 1] * (r[1] * jac[2, 2] - jac[1, 2] * r[2])
                    + jac[0, 2] * (r[1] * jac[2, 1] - jac[1, 1] * r[2])
                ) / det
                s[1] = (
                    jac[0, 0] * (r[1] * jac[2, 2] - jac[1, 2] * r[2])
                    - r[0] * m01
                    + jac[0, 2] * (jac[1, 0] * r[2] - r[1] * jac[2, 0])
                ) / det
                s[2] = (
                    jac[0, 0] * (jac[1, 1] * r[2] - r[1] * jac[2, 1])
                    - jac[0, 1] * (jac[1, 0] * r[2] - r[1] * jac[2, 0])
                    + r[0] * m02
                ) / det
                lam = 1.0
                for _h in range(7):
                    for c in range(3):
                        p[c] = q[c] - lam * s[c]
                    err_n = _eval_3d(f, p, t, e, jn, n0, n1, n2)
                    if err_n < err:
                        accepted = True
                        break
                    lam *= 0.5
            if not accepted:
                for c in range(3):
                    p[c] = q[c] - r[c]
                err_n = _eval_3d(f, p, t, e, jn, n0, n1, n2)
            q[:] = p
            r[:] = e
            jac[:, :] = jn
            err = err_n
        for c in range(3):
            out[c, m] = q[c]
        final[m] = math.sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2])


@numba.njit(nogil=True, cache=True)
def _forward_error_2d(f, g, g_inside):
    """max |f(p) + g(p + f(p))| over the voxels where f.compose(g) is defined (see _round_trip_error)."""
    n0, n1 = f.shape[1], f.shape[2]
    worst = 0.0
    for y in range(n0):
        for x in range(n1):
            a = y + f[0, y, x]
            b = x + f[1, y, x]
            if a < 0.0 or b < 0.0 or a > n0 - 1 or b > n1 - 1:
                continue
            i, fy, _ = _cell(a, n0)
            j, fx, _ = _cell(b, n1)
            if not (g_inside[i, j] and g_inside[i, j + 1] and g_inside[i + 1, j] and g_inside[i + 1, j + 1]):
                continue
            e0 = f[0, y, x] + _bilinear(g, 0, i, j, fy, fx)[0]
            e1 = f[1, y, x] + _bilinear(g, 1, i, j, fy, fx)[0]
            worst = max(worst, math.sqrt(e0 * e0 + e1 * e1))
    return worst


def _sample_any(deltas: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """(C, M) values of the (C, *shape) field at the (D, M) positions; multilinear, edge-clamped."""
    out = np.empty((deltas.shape[0], positions.shape[1]))
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    shape = deltas.shape[1:]
    if min(shape) >= 2 and len(shape) == 2:
        _sample_2d(deltas, positions, out)
    elif min(shape) >= 2 and len(shape) == 3:
        _sample_3d(deltas, positions, out)
    else:
        _sample(deltas.reshape(deltas.shape[0], -1), np.asarray(shape, dtype=np.int64), positions, out)
    return out


def _solve_any(deltas: np.ndarray, targets: np.ndarray, max_iter: int, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Positions q (D, M) with q + f(q) == targets, starting from targets - f(targets); and the residuals."""
    targets = np.ascontiguousarray(targets, dtype=np.float64)
    guess = targets - _sample_any(deltas, targets)
    out = np.empty_like(targets)
    final = np.empty(targets.shape[1])
    shape = deltas.shape[1:]
    if min(shape) >= 2 and len(shape) == 2:
        _solve_2d(deltas, targets, guess, max_iter, tol, out, final)
    elif min(shape) >= 2 and len(shape) == 3:
        _solve_3d(deltas, targets, guess, max_iter, tol, out, final)
    else:
        flat = deltas.reshape(deltas.shape[0], -1)
        _solve(flat, np.asarray(shape, dtype=np.int64), targets, guess, max_iter, tol, out, final)
    return out, final


# -- helpers --------------------------------------------------------------------------------------


def _shape_tuple(shape: Any, who: str) -> tuple[int, ...]:
    try:
        out = tuple(int(s) for s in shape)
        ok = all(int(s) == s for s in shape)
    except (TypeError, ValueError):
        ok, out = False, ()
    if not ok or not out or min(out) < 1:
        raise ConfigError(
            f"{who}: shape must be a non-empty sequence of positive integers; got {shape!r}. Pass e.g. (64, 64)."
        )
    return out


def _grid(shape: tuple[int, ...]) -> np.ndarray:
    """(D, *shape) float64 voxel coordinates."""
    return np.indices(shape, dtype=np.float64)


def _float_array(value: Any, name: str, who: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{who}: {name} must be a numeric array; got {type(value).__name__}. Pass a numpy array of numbers."
        ) from None
    if not np.all(np.isfinite(array)):
        raise ConfigError(f"{who}: {name} contains NaN or infinite values. Pass finite numbers only.")
    return array


def _matrix(value: Any, rows: int, cols: int, name: str) -> np.ndarray:
    matrix = _float_array(value, "matrix", f"DisplacementField.generate('{name}')")
    if matrix.shape == (cols, cols) and rows != cols:
        if not np.allclose(matrix[-1], np.eye(cols)[-1]):
            raise ConfigError(
                f"DisplacementField.generate('{name}'): a {cols} x {cols} matrix must end with the row "
                f"{np.eye(cols)[-1].tolist()}; got {matrix[-1].tolist()}. Pass the top {rows} x {cols} block."
            )
        matrix = matrix[:rows]
    if matrix.shape != (rows, cols):
        raise ConfigError(
            f"DisplacementField.generate('{name}'): matrix must have shape ({rows}, {cols}); got {matrix.shape}. "
            "Pass one row per spatial axis in array order, the translation last."
        )
    return matrix


def _affine_deltas(shape: tuple[int, ...], matrix: np.ndarray) -> np.ndarray:
    dims = len(shape)
    grid = _grid(shape)
    out = np.tensordot(matrix[:, :dims], grid, axes=(1, 0))
    out += matrix[:, dims].reshape((dims,) + (1,) * dims)
    out -= grid
    return out


def _interpolate_points(
    shape: tuple[int, ...], points: np.ndarray, values: np.ndarray, interpolation: str, anchor: bool
) -> np.ndarray:
    from scipy.interpolate import RBFInterpolator, griddata

    dims = len(shape)
    if anchor:
        corners = np.array(np.meshgrid(*[[0, n - 1] for n in shape], indexing="ij")).reshape(dims, -1).T
        corners = np.unique(corners, axis=0)
        keep = ~(points[:, None, :] == corners[None]).all(-1).any(0)  # a given point wins over its anchor
        points = np.concatenate([corners[keep], points])
        values = np.concatenate([np.zeros((int(keep.sum()), dims)), values])
    grid = _grid(shape).reshape(dims, -1).T
    who = "DisplacementField.generate('control_points')"
    try:
        if interpolation == "rbf":
            result = RBFInterpolator(points, values, kernel="thin_plate_spline")(grid)
        else:
            if dims == 1:
                order = np.argsort(points[:, 0])
                result = np.interp(grid[:, 0], points[order, 0], values[order, 0], left=0.0, right=0.0)[:, None]
            else:
                result = np.stack(
                    [griddata(points, values[:, d], grid, method="linear", fill_value=0.0) for d in range(dims)], -1
                )
    except (ValueError, np.linalg.LinAlgError, RuntimeError) as exc:
        raise ConfigError(
            f"{who}: {interpolation} interpolation failed on these points ({exc}). "
            "Give more points in general position or keep anchor_corners=True."
        ) from None
    return np.ascontiguousarray(result.T.reshape((dims, *shape)))


def _check_points_inside(points: np.ndarray, shape: tuple[int, ...], who: str) -> None:
    if points.size and (np.any(points < 0) or np.any(points > np.asarray(shape) - 1)):
        raise ConfigError(
            f"{who}: some points lie outside the grid of shape {shape}. Pass voxel coordinates within it."
        )


def _elastic(shape: tuple[int, ...], alpha: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Simard's field: uniform(-1, 1) noise per axis, gaussian-smoothed (sigma voxels), times alpha.

    The noise is drawn on the grid extended by 4 sigma on every side and smoothed there by an
    FFT; the extension is cropped, so the field has no boundary artefact (no reflected noise).
    """
    dims = len(shape)
    margin = math.ceil(4 * sigma)
    ext = [int(sp_fft.next_fast_len(n + 2 * margin, real=True)) for n in shape]
    noise = rng.random((dims, *ext), dtype=np.float32)
    noise *= 2
    noise -= 1
    axes = tuple(range(1, dims + 1))
    spectrum = sp_fft.rfftn(noise, axes=axes, workers=1)
    for axis, n in enumerate(ext):
        freq = sp_fft.rfftfreq(n) if axis == dims - 1 else sp_fft.fftfreq(n)
        gain = np.exp(-2.0 * (np.pi * sigma * freq) ** 2).astype(np.float32)
        spectrum *= gain.reshape([-1 if a == axis + 1 else 1 for a in range(dims + 1)])
    smooth = sp_fft.irfftn(spectrum, s=ext, axes=axes, workers=1)
    crop = (slice(None), *(slice(margin, margin + n) for n in shape))
    out = np.asarray(smooth[crop], dtype=np.float64)
    out *= alpha
    return out


class DisplacementField:
    """A dense backward displacement field on an n-D voxel grid (convention: see the module docstring).

    Args:
        deltas: ``(D, *shape)`` displacements in voxels, ``deltas[d]`` along array axis ``d``.
            float32 and float64 are kept; other numeric types become float64.
        voxel_size: world units per voxel, D positive numbers (default all ones); stored only.

    Attributes:
        deltas: the ``(D, *shape)`` array.
        voxel_size: tuple of D floats.
        residual: for a field made by :meth:`inverse`, the largest distance (voxels) from the identity
            of the two compositions with the original field over the voxels where both are
            defined; ``None`` otherwise.

    Example:
        >>> import numpy as np
        >>> f = DisplacementField(np.zeros((2, 3, 4)), voxel_size=(40, 4))
        >>> f
        DisplacementField(shape=(3, 4), voxel_size=(40.0, 4.0), dtype=float64, max |delta|=0 voxels)
        >>> g = DisplacementField.generate((8, 8), "affine_simple", translation_x=2.0)
        >>> g.deltas[:, 0, 0].tolist()  # (rows, columns): output voxel p reads the input 2 columns right
        [0.0, 2.0]
        >>> g.warp_points(np.array([[4.0, 6.0]])).tolist()  # so input column 6 appears at column 4
        [[4.0, 4.0]]
    """

    def __init__(self, deltas: Any, voxel_size: Sequence[float] | None = None) -> None:
        array = np.asarray(deltas)
        if not (np.issubdtype(array.dtype, np.number) and not np.issubdtype(array.dtype, np.complexfloating)):
            raise ConfigError(
                f"DisplacementField: deltas must be a real numeric array; got dtype {array.dtype}. "
                "Pass float32 or float64 displacements."
            )
        if array.ndim < 2 or array.shape[0] != array.ndim - 1:
            raise ConfigError(
                "DisplacementField: deltas must have shape (D, *shape) with D == number of spatial axes; "
                f"got {array.shape}. Stack one displacement array per axis on a new first axis."
            )
        if array.dtype not in (np.float32, np.float64):
            array = array.astype(np.float64)
        if not np.all(np.isfinite(array)):
            raise ConfigError(
                "DisplacementField: deltas contain NaN or infinite values. Replace them by finite displacements."
            )
        self.deltas: np.ndarray = np.ascontiguousarray(array)
        dims = array.shape[0]
        if voxel_size is None:
            self.voxel_size: tuple[float, ...] = (1.0,) * dims
        else:
            try:
                size = tuple(float(v) for v in voxel_size)
            except (TypeError, ValueError):
                size = ()
            if len(size) != dims or not all(v > 0 and math.isfinite(v) for v in size):
                raise ConfigError(
                    f"DisplacementField: voxel_size must be {dims} positive numbers; got {voxel_size!r}. "
                    "Pass one size per spatial axis or None."
                )
            self.voxel_size = size
        self.residual: float | None = None

    # -- properties and representation --

    @property
    def shape(self) -> tuple[int, ...]:
        """The spatial shape of the grid (``deltas.shape[1:]``)."""
        return tuple(self.deltas.shape[1:])

    @property
    def ndim(self) -> int:
        """The number of spatial axes D."""
        return int(self.deltas.shape[0])

    def __repr__(self) -> str:
        norm = float(np.sqrt((self.deltas.astype(np.float64) ** 2).sum(0)).max())
        extra = "" if self.residual is None else f", residual={self.residual:.3g}"
        return (
            f"DisplacementField(shape={self.shape}, voxel_size={self.voxel_size}, dtype={self.deltas.dtype}, "
            f"max |delta|={norm:.3g} voxels{extra})"
        )

    # -- generation --

    @classmethod
    def generate(
        cls,
        shape: Sequence[int],
        approach: str,
        rng: np.random.Generator | None = None,
        voxel_size: Sequence[float] | None = None,
        **params: Any,
    ) -> DisplacementField:
        """Make a field by one of atlalign's approaches (float64 deltas).

        Approaches and their parameters (defaults as in atlalign):

        - ``identity``: no parameters.
        - ``affine``: ``matrix``, ``(D, D + 1)`` (or ``(D + 1, D + 1)`` homogeneous): output voxel
          ``p`` reads the input at ``A p + t``, in array axis order.
        - ``affine_simple`` (2-D): ``scale_x=1, scale_y=1, rotation=0, translation_x=0,
          translation_y=0, shear=0, apply_centering=True``. In (x, y) = (column, row) coordinates the
          input position is ``M (p - c) + c + t`` with ``M = [[scale_x cos r, -scale_y sin(r + shear)],
          [scale_x sin r, scale_y cos(r + shear)]]``, ``t = (translation_x, translation_y)`` and ``c``
          the grid centre ``((w - 1) / 2, (h - 1) / 2)`` (``c = 0`` without centering). Since the map
          reads the input, ``scale_x > 1`` shrinks the content along x, a positive translation moves
          the content left/up, and a positive ``rotation`` (radians) turns the content
          counter-clockwise on screen (rows down).
        - ``projective`` (2-D): ``matrix``, a 3 x 3 homography acting on ``(y, x, 1)``: output voxel
          ``(y, x)`` reads the input at ``(u / w, v / w)`` with ``(u, v, w) = H (y, x, 1)``. An atlalign
          or scikit-image matrix ``M`` acting on ``(x, y, 1)`` becomes ``H = P M P`` with ``P`` the
          permutation swapping the first two coordinates.
        - ``control_points``: ``points`` ``(N, D)`` voxel coordinates inside the grid, ``values``
          ``(N, D)`` displacements there, ``interpolation="griddata"`` (piecewise linear on a Delaunay
          triangulation, 0 outside the hull) or ``"rbf"`` (thin-plate spline), ``anchor_corners=True``
          (the 2**D grid corners are added with zero displacement, as atlalign does).
        - ``edge_stretching``: ``edge_mask`` (bool, ``shape``, e.g. ``skimage.feature.canny(image)``),
          ``n_perturbation_points=3``, ``radius_max=30``, ``interpolation="griddata"``:
          ``min(n, mask.sum())`` distinct True voxels are drawn with ``rng``, each gets a displacement
          of uniformly random direction and length uniform in ``[0, radius_max]``, then
          ``control_points`` interpolates with anchored corners. An empty mask gives the identity.
        - ``elastic``: ``alpha=1000, sigma=10`` (Simard et al. 2003): uniform(-1, 1) noise per axis,
          smoothed by a gaussian of ``sigma`` voxels, times ``alpha``. The noise is drawn beyond the
          grid by 4 sigma and cropped, so the field is statistically the same everywhere.

        Args:
            shape: the spatial shape of the field.
            approach: one of the names above.
            rng: random generator for ``edge_stretching`` and ``elastic`` (None: a fresh one).
            voxel_size: passed to the constructor.
            **params: the approach's parameters.

        Returns:
            The new field.

        Raises:
            ConfigError: unknown approach, unknown or missing parameter, or an invalid value.

        Example:
            >>> f = DisplacementField.generate((5, 5), "affine_simple", rotation=np.pi / 2)
            >>> f.deltas[:, 2, 2].tolist()  # the centre stays
            [0.0, 0.0]
            >>> np.round(f.jacobian()[0, 0], 6)
            np.float64(1.0)
        """
        grid_shape = _shape_tuple(shape, "DisplacementField.generate")
        if approach not in _APPROACHES:
            raise ConfigError(
                f"DisplacementField.generate: unknown approach {approach!r}. Use one of {sorted(_APPROACHES)}."
            )
        spec = _APPROACHES[approach]
        unknown = sorted(set(params) - set(spec))
        if unknown:
            valid = sorted(spec) or "none"
            raise ConfigError(
                f"DisplacementField.generate('{approach}'): unknown parameter(s) {unknown}. Valid parameters: {valid}."
            )
        missing = sorted(k for k, v in spec.items() if v is _REQUIRED and k not in params)
        if missing:
            raise ConfigError(
                f"DisplacementField.generate('{approach}'): missing parameter(s) {missing}. Pass them as keywords."
            )
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise ConfigError(
                f"DisplacementField.generate: rng must be a numpy.random.Generator or None; got {type(rng).__name__}. "
                "Pass numpy.random.default_rng(seed)."
            )
        args = {**spec, **params}
        dims = len(grid_shape)
        if approach in ("affine_simple", "projective") and dims != 2:
            raise ConfigError(
                f"DisplacementField.generate('{approach}'): this approach is 2-D only; got shape {grid_shape}. "
                "Use 'affine' with a (D, D + 1) matrix for other dimensions."
            )
        if approach in _RANDOM and rng is None:
            rng = np.random.default_rng()
        deltas: np.ndarray
        if approach == "identity":
            deltas = np.zeros((dims, *grid_shape))
        elif approach == "affine":
            deltas = _affine_deltas(grid_shape, _matrix(args["matrix"], dims, dims + 1, approach))
        elif approach == "affine_simple":
            deltas = _affine_deltas(grid_shape, _affine_simple_matrix(grid_shape, args))
        elif approach == "projective":
            deltas = _projective_deltas(grid_shape, _matrix(args["matrix"], 3, 3, approach))
        elif approach == "control_points":
            deltas = _control_points(grid_shape, args)
        elif approach == "edge_stretching":
            assert rng is not None
            deltas = _edge_stretching(grid_shape, args, rng)
        else:
            assert rng is not None
            alpha, sigma = _number(args["alpha"], "alpha", approach), _number(args["sigma"], "sigma", approach)
            if sigma <= 0:
                raise ConfigError(
                    f"DisplacementField.generate('elastic'): sigma must be > 0; got {sigma}. "
                    "Pass a smoothing scale in voxels."
                )
            deltas = _elastic(grid_shape, alpha, sigma, rng)
        return cls(deltas, voxel_size=voxel_size)

    # -- resampling --

    def _check_spatial(self, array: np.ndarray, name: str, method: str) -> None:
        if array.ndim < self.ndim or tuple(array.shape[-self.ndim :]) != self.shape:
            raise ConfigError(
                f"DisplacementField.{method}: the last {self.ndim} axes of {name} must be the field's shape "
                f"{self.shape}; got {array.shape}. Crop or resample the {name} to the field's grid first."
            )

    def coordinates(self) -> np.ndarray:
        """Where every output voxel reads the input: ``grid + deltas``, shape ``(D, *shape)``, float64.

        Example:
            >>> DisplacementField(np.ones((1, 3))).coordinates().tolist()
            [[1.0, 2.0, 3.0]]
        """
        coords = _grid(self.shape)
        coords += self.deltas
        return coords

    def warp(self, image: Any, order: int = 1, border: str = "constant", cval: float = 0) -> np.ndarray:
        """Resample ``image`` (spatial axes last, leading channel axes allowed): ``out[p] = image[p + deltas[:, p]]``.

        Uses ``scipy.ndimage.map_coordinates``. Borders: ``"constant"`` reads ``cval`` beyond the
        outermost voxel centres; ``"edge"`` repeats the border voxel (scipy ``nearest``);
        ``"reflect"`` mirrors about the voxel edge, repeating the border voxel (scipy ``reflect``,
        OpenCV's BORDER_REFLECT used by atlalign: a position half a voxel outside reads the border
        voxel, as ``"edge"`` does, instead of blending in its neighbour as ``mirror`` would).

        float images keep their dtype; integer images are interpolated in float64, rounded and
        clipped to their dtype's range; bool images are thresholded at 0.5. For label images use
        :meth:`warp_labels` instead.

        Args:
            image: array whose last D axes have the field's shape.
            order: spline order 0-5 (1: linear).
            border: ``"constant"``, ``"reflect"`` or ``"edge"``.
            cval: the value read beyond the border with ``"constant"``.

        Returns:
            The warped image, same shape and dtype.

        Example:
            >>> f = DisplacementField(np.full((1, 4), 0.5))
            >>> f.warp(np.array([0.0, 2.0, 4.0, 6.0])).tolist()
            [1.0, 3.0, 5.0, 0.0]
            >>> f.warp(np.array([0.0, 2.0, 4.0, 6.0]), border="edge").tolist()
            [1.0, 3.0, 5.0, 6.0]
        """
        array = np.asarray(image)
        self._check_spatial(array, "image", "warp")
        if border not in _BORDERS:
            raise ConfigError(f"DisplacementField.warp: unknown border {border!r}. Use one of {sorted(_BORDERS)}.")
        if isinstance(order, bool) or not isinstance(order, int | np.integer) or not 0 <= order <= 5:
            raise ConfigError(
                f"DisplacementField.warp: order must be an integer from 0 to 5; got {order!r}. Use 1 for linear."
            )
        kind = array.dtype.kind
        if kind not in "biuf":
            raise ConfigError(
                f"DisplacementField.warp: cannot interpolate dtype {array.dtype}. Pass a bool, integer or float image."
            )
        work_dtype = array.dtype if kind == "f" else np.dtype(np.float64)
        coords = self.coordinates()
        if work_dtype == np.float32:
            coords = coords.astype(np.float32)
        lead = array.shape[: array.ndim - self.ndim]
        flat_in = array.reshape((-1, *self.shape))
        out = np.empty((flat_in.shape[0], *self.shape), dtype=work_dtype)
        for i in range(flat_in.shape[0]):
            ndimage.map_coordinates(
                flat_in[i].astype(work_dtype, copy=False),
                coords,
                output=out[i],
                order=order,
                mode=_BORDERS[border],
                cval=cval,
                prefilter=order > 1,
            )
        out = out.reshape(lead + self.shape)
        return round_back(out, array.dtype) if kind in "biu" else out  # rounded, clipped without wrapping

    def warp_labels(self, labels: Any) -> np.ndarray:
        """Nearest-neighbour warp of ids (any dtype, exact: values are only copied, never computed).

        Output voxel ``p`` takes the label of the input voxel nearest to ``p + deltas[:, p]``
        (ties round up); where that position is more than half a voxel outside the grid the output
        is 0 (background). Leading axes are allowed as in :meth:`warp`.

        Example:
            >>> ids = np.array([2**62 + 1, 2**62 + 2, 2**62 + 3], dtype=np.uint64)
            >>> DisplacementField(np.array([[0.6, -0.4, 0.6]])).warp_labels(ids).tolist()
            [4611686018427387906, 4611686018427387906, 0]
        """
        array = np.asarray(labels)
        self._check_spatial(array, "labels", "warp_labels")
        nearest = np.floor(self.coordinates() + 0.5).astype(np.intp)
        inside = np.ones(self.shape, dtype=bool)
        for d, n in enumerate(self.shape):
            inside &= (nearest[d] >= 0) & (nearest[d] < n)
            np.clip(nearest[d], 0, n - 1, out=nearest[d])
        index = np.ravel_multi_index(tuple(nearest), self.shape)
        lead = array.shape[: array.ndim - self.ndim]
        out = array.reshape((*lead, -1))[..., index]
        out[..., ~inside] = 0
        return out

    # -- geometry --

    def _flat(self) -> np.ndarray:
        return self.deltas.reshape(self.ndim, -1)

    def _shape_array(self) -> np.ndarray:
        return np.asarray(self.shape, dtype=np.int64)

    def sample(self, positions: Any) -> np.ndarray:
        """The displacement at arbitrary positions ``(N, D)``, multilinear, clamped to the grid (edge mode).

        Example:
            >>> DisplacementField(np.array([[0.0, 2.0]])).sample([[0.25], [7.0]]).tolist()
            [[0.5], [2.0]]
        """
        points = self._points(positions, "sample")
        return _sample_any(self.deltas, points.T).T

    def _points(self, value: Any, method: str) -> np.ndarray:
        points = _float_array(value, "points", f"DisplacementField.{method}")
        if points.ndim != 2 or points.shape[1] != self.ndim:
            raise ConfigError(
                f"DisplacementField.{method}: points must have shape (N, {self.ndim}); got {points.shape}. "
                "Pass one row of voxel coordinates (array axis order) per point."
            )
        return points

    def compose(self, other: DisplacementField) -> DisplacementField:
        """The field ``c(p) = self(p) + other(p + self(p))``: ``c.warp(x) ≈ self.warp(other.warp(x))``.

        ``other`` is interpolated linearly at ``p + self(p)``, clamped to its grid (edge mode).

        Example:
            >>> a = DisplacementField(np.full((1, 4), 1.0))
            >>> b = DisplacementField(np.array([[0.0, 0.0, 3.0, 3.0]]))
            >>> a.compose(b).deltas.tolist()
            [[1.0, 4.0, 4.0, 4.0]]
        """
        if not isinstance(other, DisplacementField):
            raise ConfigError(
                f"DisplacementField.compose: other must be a DisplacementField; got {type(other).__name__}. "
                "Wrap the array with DisplacementField(deltas)."
            )
        if other.shape != self.shape:
            raise ConfigError(
                f"DisplacementField.compose: the fields' shapes differ ({self.shape} vs {other.shape}). "
                "Compose fields defined on the same grid."
            )
        if not np.allclose(other.voxel_size, self.voxel_size):
            raise ConfigError(
                f"DisplacementField.compose: the fields' voxel sizes differ ({self.voxel_size} vs {other.voxel_size}). "
                "Resample one field to the other's grid first."
            )
        moved = _sample_any(other.deltas, self.coordinates().reshape(self.ndim, -1))
        out = (self._flat() + moved).reshape(self.deltas.shape).astype(self.deltas.dtype, copy=False)
        return DisplacementField(out, voxel_size=self.voxel_size)

    def inverse(self, max_iter: int = 20, tol: float = 1e-4) -> DisplacementField:
        """The inverse field ``g`` with ``g(p) = -f(p + g(p))``, solved voxel by voxel.

        For each output voxel ``p`` the position ``q = p + g(p)`` solving ``q + f(q) = p`` is found by
        damped Newton iterations on the multilinear interpolant of ``f`` (edge-clamped outside the
        grid), starting from ``q = p - f(p)``; a step that does not reduce the residual is halved,
        and the plain fixed-point step ``q <- p - f(q)`` is the fallback. Folded fields have no
        inverse: there the result is the last iterate.

        The returned field's ``residual`` is the largest of ``|f.compose(g)|`` over voxels where
        ``p + f(p)`` lies in the grid and ``|g.compose(f)|`` where ``p + g(p)`` does (voxels).

        Args:
            max_iter: iterations per voxel.
            tol: stop a voxel when ``max |q + f(q) - p|`` is below this (voxels).

        Example:
            >>> f = DisplacementField.generate((16, 16), "affine", matrix=[[1.1, 0, -0.8], [0, 0.9, 0.8]])
            >>> g = f.inverse()
            >>> g.residual < 1e-3, round(float(g.deltas[0, 8, 8]), 4)  # 1.1 q - 0.8 = 8 at q = 8
            (True, 0.0)
        """
        if isinstance(max_iter, bool) or not isinstance(max_iter, int | np.integer) or max_iter < 1:
            raise ConfigError(
                f"DisplacementField.inverse: max_iter must be a positive integer; got {max_iter!r}. Pass e.g. 20."
            )
        if not (isinstance(tol, int | float) and tol > 0):
            raise ConfigError(f"DisplacementField.inverse: tol must be a positive number; got {tol!r}. Pass e.g. 1e-4.")
        grid = _grid(self.shape).reshape(self.ndim, -1)
        solution, final = _solve_any(self.deltas, grid, int(max_iter), float(tol))
        inverse = DisplacementField(
            (solution - grid).reshape(self.deltas.shape).astype(self.deltas.dtype), voxel_size=self.voxel_size
        )
        inverse.residual = _round_trip_error(self, inverse, final)
        return inverse

    def warp_points(self, points: Any, max_iter: int = 20, tol: float = 1e-4) -> np.ndarray:
        """Where input points appear in the output grid: ``q`` with ``q + deltas(q) == point``.

        Solved per point as in :meth:`inverse` (Newton on the interpolated field, starting from
        ``point - deltas(point)``). Points may lie outside the grid (the field is edge-clamped).

        Args:
            points: ``(N, D)`` input voxel coordinates, array axis order.
            max_iter: iterations per point.
            tol: target residual in voxels.

        Returns:
            ``(N, D)`` float64 output coordinates.

        Example:
            >>> f = DisplacementField.generate((9, 9), "affine", matrix=[[2, 0, 0], [0, 1, 3]])
            >>> f.warp_points([[4.0, 5.0]]).tolist()
            [[2.0, 2.0]]
        """
        pts = self._points(points, "warp_points")
        out, _ = _solve_any(self.deltas, pts.T, int(max_iter), float(tol))
        return out.T.copy()

    def jacobian(self) -> np.ndarray:
        """Per-voxel determinant of the Jacobian of ``p -> p + deltas[:, p]`` (``np.gradient``, voxel units).

        Central differences inside, one-sided at the border: exact for affine fields.

        Example:
            >>> f = DisplacementField.generate((4, 4), "affine", matrix=[[2, 0, 0], [0, 2, 0]])
            >>> f.jacobian()[0].tolist()
            [4.0, 4.0, 4.0, 4.0]
        """
        dims = self.ndim
        deltas = self.deltas.astype(np.float64)
        jac = np.zeros((dims, dims, *self.shape))
        for c in range(dims):
            for k in range(dims):
                if self.shape[k] > 1:
                    jac[c, k] = np.gradient(deltas[c], axis=k)
            jac[c, c] += 1.0
        if dims == 1:
            return jac[0, 0]
        if dims == 2:
            return jac[0, 0] * jac[1, 1] - jac[0, 1] * jac[1, 0]
        if dims == 3:
            return (
                jac[0, 0] * (jac[1, 1] * jac[2, 2] - jac[1, 2] * jac[2, 1])
                - jac[0, 1] * (jac[1, 0] * jac[2, 2] - jac[1, 2] * jac[2, 0])
                + jac[0, 2] * (jac[1, 0] * jac[2, 1] - jac[1, 1] * jac[2, 0])
            )
        return np.asarray(np.linalg.det(np.moveaxis(jac, (0, 1), (-2, -1))))

    def folds(self) -> np.ndarray:
        """Boolean map of the voxels where the Jacobian determinant is not positive (the map folds).

        Example:
            >>> DisplacementField(np.array([[0.0, 0.0, -3.0, -3.0]])).folds().tolist()
            [False, True, True, False]
        """
        return np.asarray(self.jacobian() <= 0)

    # -- storage --

    def save(self, path: str | Path, key: str, overwrite: bool = False) -> None:
        """Store the field as dataset ``key`` of the HDF5 file ``path`` (created if missing; other keys kept).

        The attributes ``convention``, ``axis_order``, ``voxel_size``, ``units`` ("voxels") and
        ``format`` describe the data; :meth:`load` checks them.

        Raises:
            ConfigError: ``key`` exists and ``overwrite`` is False.

        Example:
            >>> import tempfile, os
            >>> path = os.path.join(tempfile.mkdtemp(), "fields.h5")
            >>> DisplacementField(np.ones((1, 3))).save(path, "shift")
            >>> DisplacementField.load(path, "shift").deltas.tolist()
            [[1.0, 1.0, 1.0]]
        """
        import h5py

        with h5py.File(path, "a") as f:
            if key in f:
                if not overwrite:
                    raise ConfigError(
                        f"DisplacementField.save: {str(path)!r} already holds {key!r}. "
                        "Pass overwrite=True to replace it or choose another key."
                    )
                del f[key]
            dataset = f.create_dataset(key, data=self.deltas)
            dataset.attrs["convention"] = CONVENTION
            dataset.attrs["axis_order"] = AXIS_ORDER
            dataset.attrs["voxel_size"] = np.asarray(self.voxel_size, dtype=np.float64)
            dataset.attrs["units"] = "voxels"
            dataset.attrs["format"] = FORMAT

    @classmethod
    def load(cls, path: str | Path, key: str) -> DisplacementField:
        """Read a field written by :meth:`save`.

        Raises:
            ConfigError: the file has no ``key`` or the dataset does not carry this convention.
        """
        import h5py

        with h5py.File(path, "r") as f:
            if key not in f or not isinstance(f[key], h5py.Dataset):
                raise ConfigError(
                    f"DisplacementField.load: {str(path)!r} has no dataset {key!r}. Use one of {sorted(f.keys())}."
                )
            dataset = f[key]
            attrs = {name: dataset.attrs.get(name) for name in ("convention", "axis_order", "units")}
            for name, expected in (("convention", CONVENTION), ("axis_order", AXIS_ORDER), ("units", "voxels")):
                value = attrs[name]
                if isinstance(value, bytes):
                    value = value.decode()
                if value != expected:
                    raise ConfigError(
                        f"DisplacementField.load: dataset {key!r} of {str(path)!r} has {name}={value!r}, "
                        f"not {expected!r}. "
                        "Convert it to flowgraph's convention and write it with DisplacementField.save."
                    )
            deltas = dataset[()]
            voxel_size = dataset.attrs.get("voxel_size")
        return cls(deltas, voxel_size=None if voxel_size is None else tuple(float(v) for v in voxel_size))


def _number(value: Any, name: str, approach: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.integer | np.floating)
        or not math.isfinite(value)
    ):
        raise ConfigError(
            f"DisplacementField.generate('{approach}'): {name} must be a finite number; got {value!r}. Pass a float."
        )
    return float(value)


def _affine_simple_matrix(shape: tuple[int, ...], args: dict[str, Any]) -> np.ndarray:
    """The (2, 3) array-order matrix of atlalign's affine_simple parameters."""
    sx, sy, rot, tx, ty, shear = (
        _number(args[k], k, "affine_simple")
        for k in ("scale_x", "scale_y", "rotation", "translation_x", "translation_y", "shear")
    )
    linear_xy = np.array(
        [[sx * math.cos(rot), -sy * math.sin(rot + shear)], [sx * math.sin(rot), sy * math.cos(rot + shear)]]
    )
    centre_xy = np.array([(shape[1] - 1) / 2, (shape[0] - 1) / 2]) if args["apply_centering"] else np.zeros(2)
    offset_xy = centre_xy - linear_xy @ centre_xy + np.array([tx, ty])
    swap = np.array([[0, 1], [1, 0]])
    linear = swap @ linear_xy @ swap
    return np.column_stack([linear, swap @ offset_xy])


def _projective_deltas(shape: tuple[int, ...], matrix: np.ndarray) -> np.ndarray:
    grid = _grid(shape)
    homogeneous = np.concatenate([grid, np.ones((1, *shape))])
    mapped = np.tensordot(matrix, homogeneous, axes=(1, 0))
    w = mapped[2]
    if np.any(w <= 1e-12 * np.abs(mapped[:2]).max(initial=1.0)):
        raise ConfigError(
            "DisplacementField.generate('projective'): the homography sends part of the grid through infinity "
            "(third coordinate <= 0). Pass a matrix whose last row keeps w > 0 on the grid."
        )
    return mapped[:2] / w - grid


def _control_points(shape: tuple[int, ...], args: dict[str, Any]) -> np.ndarray:
    who = "DisplacementField.generate('control_points')"
    dims = len(shape)
    points = _float_array(args["points"], "points", who)
    values = _float_array(args["values"], "values", who)
    if points.ndim != 2 or points.shape[1] != dims or values.shape != points.shape:
        raise ConfigError(
            f"{who}: points and values must both have shape (N, {dims}); got {points.shape} and {values.shape}. "
            "Pass one row per control point, array axis order."
        )
    if len(points) == 0:
        raise ConfigError(f"{who}: no control points given. Pass at least one point or use approach='identity'.")
    if args["interpolation"] not in ("griddata", "rbf"):
        raise ConfigError(f"{who}: unknown interpolation {args['interpolation']!r}. Use 'griddata' or 'rbf'.")
    _check_points_inside(points, shape, who)
    return _interpolate_points(shape, points, values, args["interpolation"], bool(args["anchor_corners"]))


def _edge_stretching(shape: tuple[int, ...], args: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    who = "DisplacementField.generate('edge_stretching')"
    mask = np.asarray(args["edge_mask"])
    if mask.dtype != bool or mask.shape != shape:
        raise ConfigError(
            f"{who}: edge_mask must be a bool array of shape {shape}; got {mask.dtype} {mask.shape}. "
            "Pass e.g. skimage.feature.canny(image)."
        )
    count = args["n_perturbation_points"]
    if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 0:
        raise ConfigError(f"{who}: n_perturbation_points must be a non-negative integer; got {count!r}. Pass e.g. 3.")
    radius_max = _number(args["radius_max"], "radius_max", "edge_stretching")
    if radius_max < 0:
        raise ConfigError(f"{who}: radius_max must be >= 0; got {radius_max}. Pass a length in voxels.")
    if args["interpolation"] not in ("griddata", "rbf"):
        raise ConfigError(f"{who}: unknown interpolation {args['interpolation']!r}. Use 'griddata' or 'rbf'.")
    candidates = np.argwhere(mask)
    n = min(int(count), len(candidates))
    dims = len(shape)
    if n == 0:
        return np.zeros((dims, *shape))
    points = candidates[rng.choice(len(candidates), size=n, replace=False)].astype(np.float64)
    radii = rng.uniform(0.0, radius_max, size=n)
    directions = rng.standard_normal((n, dims))
    directions /= np.maximum(np.linalg.norm(directions, axis=1, keepdims=True), 1e-12)
    return _interpolate_points(shape, points, directions * radii[:, None], args["interpolation"], True)


def _round_trip_error(f: DisplacementField, g: DisplacementField, solver_residual: np.ndarray) -> float:
    """The largest |f.compose(g)| and |g.compose(f)| (voxels) over the voxels where they are defined.

    ``g.compose(f)(p) = q + f(q) - p`` with ``q = p + g(p)`` is the solver's own residual; it is
    defined where ``q`` lies in the grid. ``f.compose(g)`` is defined at ``p`` if ``x = p + f(p)``
    lies in the grid and every corner voxel ``v`` of the cell of ``x`` (which ``g`` is interpolated
    from) has ``v + g(v)`` in the grid.
    """
    upper = np.asarray(f.shape).reshape((f.ndim,) + (1,) * f.ndim) - 1
    g_coords = g.coordinates()
    g_inside = np.all((g_coords >= 0) & (g_coords <= upper), axis=0)
    worst = float(solver_residual.reshape(f.shape)[g_inside].max(initial=0.0))
    if f.ndim == 2 and min(f.shape) >= 2:
        return max(worst, float(_forward_error_2d(f.deltas, g.deltas, g_inside)))
    f_coords = f.coordinates()
    defined = np.all((f_coords >= 0) & (f_coords <= upper), axis=0)
    # corners of the cell of x: voxels floor(x) + {0, 1}^D, clipped like the interpolation clips them
    usable = ndimage.minimum_filter(g_inside, size=2, origin=-1, mode="nearest")
    lower = np.floor(f_coords).astype(np.intp)
    for d, n in enumerate(f.shape):
        np.clip(lower[d], 0, max(n - 2, 0), out=lower[d])
    defined &= usable[tuple(lower)]
    if defined.any():
        error = np.sqrt((f.compose(g).deltas.astype(np.float64) ** 2).sum(0))
        worst = max(worst, float(error[defined].max()))
    return worst


__all__ = ["AXIS_ORDER", "CONVENTION", "DisplacementField"]
