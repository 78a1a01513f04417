"""MissingParts: a thick band across a section filled with the section's mean (a torn or occluded part)."""

from __future__ import annotations

import math

import numba
import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.keys import ArrayKey
from flowgraph.request import BatchRequest
from flowgraph.validate import array_key, check_finite, number

from .augment import RandomAugment
from .cut_blur import requested_shape, setup_intensity
from .sections import data_axis, section_index

_NAME = "MissingParts"


@numba.njit(nogil=True, cache=True)
def _band(lo: np.ndarray, hi: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover (compiled)
    rows = lo.size
    left, right = np.empty(rows, np.int64), np.empty(rows, np.int64)
    for r in range(rows):
        a, b = lo[r] - n, hi[r] + n
        for k in range(max(0, r - n), min(rows, r + n + 1)):
            d = n - abs(k - r)
            a, b = min(a, lo[k] - d), max(b, hi[k] + d)
        left[r], right[r] = a, b
    return left, right


def line_band(shape: tuple[int, int], across_rows: bool, a: int, b: int, iterations: int) -> np.ndarray:
    """The mask of a line dilated ``iterations`` times by the 4-neighbourhood cross.

    The line (``skimage.draw.line``) runs from row 0, column ``a`` to the last row, column ``b``
    (``across_rows``), or from column 0, row ``a`` to the last column, row ``b``. Dilating it
    ``n`` times by the cross (``scipy.ndimage.binary_dilation(iterations=n)``, what
    pytorch_connectomics runs) gives every pixel within taxicab distance ``n``; as the line has
    pixels in every row, that is one interval per row, computed here in one pass instead of ``n``.

    Example:
        >>> line_band((3, 5), True, 2, 2, 1).astype(int)
        array([[0, 1, 1, 1, 0],
               [0, 1, 1, 1, 0],
               [0, 1, 1, 1, 0]])
    """
    cols = shape[1] if across_rows else shape[0]
    left, right = band_intervals(shape, across_rows, a, b, iterations)
    grid = np.arange(cols)
    mask = (grid >= left[:, None]) & (grid <= right[:, None])
    return mask if across_rows else mask.T


def band_intervals(
    shape: tuple[int, int], across_rows: bool, a: int, b: int, iterations: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`line_band` as one interval ``[left, right]`` per row (per column if not ``across_rows``)."""
    from skimage.draw import line  # imported on first use: scikit-image is slow to import

    rows, cols = shape if across_rows else shape[::-1]
    rr, cc = line(0, a, rows - 1, b)
    lo, hi = np.full(rows, cols, np.int64), np.full(rows, -1, np.int64)
    np.minimum.at(lo, rr, cc)
    np.maximum.at(hi, rr, cc)
    return _band(lo, hi, iterations)


@numba.njit(nogil=True, cache=True)
def _fill(section, left, right, value, across_rows):  # pragma: no cover (compiled)
    """Set ``section`` to ``value`` inside the band's intervals (only the band is written)."""
    n = section.shape[1] if across_rows else section.shape[0]
    for r in range(left.size):
        lo, hi = max(left[r], 0), min(right[r], n - 1)
        for c in range(lo, hi + 1):
            if across_rows:
                section[r, c] = value
            else:
                section[c, r] = value


class MissingParts(RandomAugment):
    """Fill a random thick line across sections with the section's mean (pytorch_connectomics' MissingParts).

    Walking through the sections (along the first spatial axis; a 2-D array is one section), each
    is hit with probability ``p`` and a hit skips the next section, so at most one of two
    consecutive sections is hit. A hit draws a line from one edge to the opposite edge (top to
    bottom or left to right, even odds, random ends), dilates it ``iterations`` times and sets
    it to the section's mean (per channel).

    Args:
        array: the float intensity array.
        iterations: the band's half-width in voxels (taxicab).
        p: probability that the node acts on a request, and that a section is hit.

    Requires: ``array`` float, finite, at least 2 spatial axes. Updates: ``array``. Request: unchanged.

    Randomness: the gate, then per section the hit, and for a hit the direction and two ends.

    Raises:
        ConfigError: bad arguments. SetupError: ``array`` missing, not float or not 2-D+.
        NonFiniteError: NaN or inf in ``array``.

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> data = np.zeros((4, 16, 16), np.float32); data[:, :, 8:] = 1
        >>> spec = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (4, 16, 16)), voxel_size=(1, 1, 1))
        >>> source = fg.ArraySource(raw, fg.Array(data, spec))
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (4, 16, 16)))
        >>> with fg.build(source + fg.MissingParts(raw, iterations=2, p=1.0)) as p:
        ...     out = p.request_batch(request)[raw].data
        >>> [bool((s == 0.5).any()) for s in out]  # sections 0 and 2 hit, each skipping the next
        [True, False, True, False]
    """

    checks_finite_in_augment = True

    def __init__(self, array: ArrayKey, iterations: int = 64, p: float = 0.5) -> None:
        self.array: ArrayKey = array_key(_NAME, "array", array)
        self.iterations = number(_NAME, "iterations", iterations, 0, integer=True)
        super().__init__(_NAME, p)

    def setup(self) -> None:
        setup_intensity(self, self.array, min_dims=2)

    def draw_params(self, rng: np.random.Generator, request: BatchRequest) -> list[tuple[int, bool, int, int]]:
        shape = requested_shape(self, self.array, request)
        hits, i = [], 0
        while i < (shape[0] if len(shape) > 2 else 1):
            if rng.random() < self.p:
                across_rows = bool(rng.random() < 0.5)
                a, b = rng.integers(0, shape[-1] if across_rows else shape[-2], 2)
                hits.append((i, across_rows, int(a), int(b)))
                i += 1
            i += 1
        return hits

    def augment(self, batch: Batch, request: BatchRequest, hits: list[tuple[int, bool, int, int]]) -> Batch:
        array = batch[self.array]
        assert isinstance(array, Array)
        data = array.data if array.data.flags.writeable else array.data.copy()
        dims, lead = array.roi.dims, data.ndim - array.roi.dims
        section_axis = data_axis(data.ndim, dims, 0) if dims > 2 else None
        # one pass over the array: the sums per section (and channel) give the means, and finite sums say
        # that every value is finite (the kit's own check is skipped: checks_finite_in_augment)
        plane = tuple(a for a in range(lead, data.ndim) if a != section_axis)
        sums = data.sum(axis=plane, dtype=np.float64)
        if not np.isfinite(sums).all():
            check_finite(self.name, self.array, data)  # raises, counting the non-finite values
        means = (sums / math.prod(data.shape[a] for a in plane)).astype(data.dtype)
        for i, across_rows, a, b in hits:
            view = data[section_index(data.ndim, section_axis, i)] if section_axis is not None else data
            left, right = band_intervals(view.shape[-2:], across_rows, a, b, self.iterations)
            for channel in np.ndindex(view.shape[:lead]):  # () once without channels
                mean = means[(*channel, i)] if section_axis is not None else means[channel]
                _fill(view[channel], left, right, mean, across_rows)  # only the band is written
        return Batch({self.array: Array.trusted(data, array.spec)})


__all__ = ["MissingParts", "band_intervals", "line_band"]
