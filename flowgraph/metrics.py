"""Image similarity measures for registration (numpy/scipy, any number of axes).

Example:
    >>> import numpy as np
    >>> a = np.random.default_rng(0).random((32, 32))
    >>> round(ncc(a, 3 * a + 1), 4)
    1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from flowgraph.errors import ConfigError


def ncc(a: Any, b: Any, window: int | Sequence[int] = 9, eps: float = 1e-5) -> float:
    """Local normalized cross-correlation, as DLIR/VoxelMorph's NCC loss (without the minus sign).

    In every box window (side ``window`` voxels) the squared correlation coefficient of ``a`` and
    ``b`` is computed from local sums, ``cross**2 / (var_a * var_b + eps)`` with ``cross``,
    ``var_a``, ``var_b`` the window sums of centred products (as DLIR's convolution with a box of
    ones); the result is the mean over voxels. Identical images and ``b = s * a + t`` score 1;
    independent noise scores about ``1 / (n - 1)`` for ``n`` voxels per window (0.0125 for 9 x 9,
    but 0.125 for a 1-D window of 9). Windows where an image is constant score 0 (``eps`` keeps the
    division finite). Unlike DLIR's zero padding, windows at the border are completed by
    reflection, so an affine intensity change scores 1 there too. Every axis is spatial (pass one
    sample, no batch or channel axes).

    Args:
        a: image, any number of axes.
        b: image of the same shape.
        window: box side in voxels, one int or one per axis.
        eps: added to the denominator (DLIR's 1e-5).

    Returns:
        The mean local squared correlation, in [0, 1].

    Raises:
        ConfigError: shapes differ, empty or non-numeric images, bad window or eps.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> x, y = rng.random((64, 64)), rng.random((64, 64))
        >>> round(ncc(x, x), 4), ncc(x, y) < 0.05
        (1.0, True)
    """
    arrays = []
    for name, value in (("a", a), ("b", b)):
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise ConfigError(f"ncc: {name} must be a real numeric array; got dtype {array.dtype}. Pass a numpy image.")
        arrays.append(array.astype(np.float64))
    x, y = arrays
    if x.shape != y.shape:
        raise ConfigError(
            f"ncc: the images' shapes differ ({x.shape} vs {y.shape}). Crop or resample them to one shape."
        )
    if x.ndim == 0 or x.size == 0:
        raise ConfigError(
            f"ncc: the images are empty or scalars (shape {x.shape}). Pass arrays with at least one axis."
        )
    sizes = (window,) * x.ndim if isinstance(window, int | np.integer) else tuple(window)
    if len(sizes) != x.ndim or any(isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 1 for s in sizes):
        raise ConfigError(
            f"ncc: window must be a positive integer or {x.ndim} of them; got {window!r}. Pass e.g. window=9."
        )
    if not (isinstance(eps, int | float) and eps > 0):
        raise ConfigError(f"ncc: eps must be a positive number; got {eps!r}. Pass e.g. 1e-5.")
    # the score does not change under a global shift; centring keeps the local variances accurate
    x -= x.mean()
    y -= y.mean()
    n = float(np.prod(sizes))

    def local_mean(v: np.ndarray) -> np.ndarray:
        return np.asarray(ndimage.uniform_filter(v, size=sizes, mode="reflect"))

    mean_x, mean_y = local_mean(x), local_mean(y)
    cross = n * (local_mean(x * y) - mean_x * mean_y)
    var_x = np.maximum(n * (local_mean(x * x) - mean_x * mean_x), 0.0)
    var_y = np.maximum(n * (local_mean(y * y) - mean_y * mean_y), 0.0)
    return float(np.mean(cross * cross / (var_x * var_y + eps)))


__all__ = ["ncc"]
