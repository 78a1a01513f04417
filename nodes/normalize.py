"""Normalize: scale an intensity array into [0, 1] floats."""

from __future__ import annotations

from typing import Any

import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.errors import SetupError
from flowgraph.keys import ArrayKey
from flowgraph.provider import BatchFilter
from flowgraph.request import BatchRequest
from flowgraph.specs import ArraySpec
from flowgraph.validate import array_key, check_finite, float_dtype, number, upstream_array


def default_factor(dtype: np.dtype) -> float:
    """1 / the largest value of an integer dtype; 1 for floats and bools."""
    if dtype.kind in "ui":
        return 1.0 / float(np.iinfo(dtype).max)
    return 1.0


def normalize(data: np.ndarray, factor: float, dtype: np.dtype) -> np.ndarray:
    """``data * factor`` as ``dtype`` (a new array, converted and scaled in one pass)."""
    if factor == 1.0:
        return data.astype(dtype, copy=True)
    return np.multiply(data, dtype.type(factor), dtype=dtype)


class Normalize(BatchFilter):
    """Multiply ``array`` by ``factor`` and convert it to a float dtype.

    Args:
        array: the ArrayKey to normalize.
        factor: the multiplier; by default 1/255 for uint8, 1/65535 for uint16, 1/max for other
            integer dtypes and 1 for floats.
        dtype: the float dtype to produce (float32 or float64).

    Requires: ``array``.

    Updates: ``array`` (dtype becomes ``dtype``).

    Request: unchanged.

    Randomness: none.

    Raises:
        ConfigError: bad ``array``, ``factor`` or a non-float ``dtype``.
        SetupError: ``array`` is not provided upstream, or is complex.
        NonFiniteError: ``array`` holds NaN or infinite values (counted in the message).

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> source = fg.ArraySource(raw, fg.Array(np.full((2, 2), 255, np.uint8),
        ...                         fg.ArraySpec(roi=fg.Roi((0, 0), (2, 2)), voxel_size=(1, 1))))
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((0, 0), (2, 2)))
        >>> with fg.build(source + fg.Normalize(raw)) as p:
        ...     p.request_batch(request)[raw].data
        array([[1., 1.],
               [1., 1.]], dtype=float32)
    """

    autoskip = True  # flowgraph's rules for library nodes (see BatchFilter)
    exact_dependencies = True

    def __init__(self, array: ArrayKey, factor: float | None = None, dtype: Any = np.float32) -> None:
        self.array = array_key("Normalize", "array", array)
        self.factor = None if factor is None else number("Normalize", "factor", factor)
        self.dtype = float_dtype("Normalize", "dtype", dtype)

    def setup(self) -> None:
        spec = upstream_array(self.name, self.upstream_spec, self.array)
        if spec.dtype is not None and spec.dtype.kind == "c":
            raise SetupError(
                f"{self.name}: {self.array} is complex ({spec.dtype}); a real float array would drop its imaginary "
                f"part. Convert it upstream (np.abs for the magnitude, .real for the real part)."
            )
        self.updates(self.array, ArraySpec(dtype=self.dtype))

    def prepare(self, request: BatchRequest) -> BatchRequest:
        return self.updated_dependencies(request)

    def process(self, batch: Batch, request: BatchRequest) -> Batch:
        array = batch[self.array]
        assert isinstance(array, Array)
        check_finite(self.name, self.array, array.data)
        factor = self.factor if self.factor is not None else default_factor(array.data.dtype)
        spec = array.spec.copy()
        spec.dtype = self.dtype
        return Batch({self.array: Array(normalize(array.data, factor, self.dtype), spec)})
