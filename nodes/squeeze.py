"""Squeeze: drop a leading (channel or batch) axis of length one from arrays, as gunpowder's Squeeze."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.errors import ConfigError, RequestError
from flowgraph.keys import ArrayKey
from flowgraph.provider import BatchFilter
from flowgraph.request import BatchRequest
from flowgraph.validate import array_key, number


def array_keys(name: str, arrays: Any) -> tuple[ArrayKey, ...]:
    """``arrays`` as a tuple of ArrayKeys (ConfigError naming ``arrays`` otherwise)."""
    if isinstance(arrays, (str, bytes, ArrayKey)) or not isinstance(arrays, Sequence) or not arrays:
        raise ConfigError(f"{name}: arrays must be a non-empty list of ArrayKeys, got {arrays!r}.")
    return tuple(array_key(name, "arrays", a) for a in arrays)


def leading_axes(array: Array) -> int:
    """The number of leading (non-spatial) axes of ``array``'s data: all of them if nonspatial."""
    return array.data.ndim if array.spec.nonspatial else array.data.ndim - array.roi.dims


def squeeze(data: np.ndarray, axis: int) -> np.ndarray:
    """``data`` without its ``axis`` (of length one), as a view.

    Example:
        >>> squeeze(np.zeros((1, 3, 4)), 0).shape
        (3, 4)
    """
    return np.squeeze(data, axis)


class Squeeze(BatchFilter):
    """Remove the leading data axis ``axis`` (of length one) from each of ``arrays``.

    As gunpowder's Squeeze: ``axis`` counts the axes of the data, and only the leading
    non-spatial ones (channels, a batch axis from Stack) can go; the ROI, voxel size and the
    rest of the spec stay as they are. To train a 2-D network on one-section requests of a 3-D
    volume, keep the section axis (it is spatial) and squeeze or add channel axes around it.

    Args:
        arrays: the ArrayKeys to squeeze (those not requested are left alone).
        axis: the data axis to remove, among the leading (non-spatial) ones.

    Requires: ``arrays``. Updates: ``arrays`` (data one axis fewer, same spec).
    Request: unchanged. Randomness: none.

    Raises:
        ConfigError: ``arrays`` not a list of ArrayKeys, or a negative ``axis``.
        RequestError: while processing, an ``axis`` that is spatial or not of length one (a
            ``PipelineRequestError``, which gunpowder's pipelines raise there).

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> spec = fg.ArraySpec(roi=fg.Roi((0, 0), (4, 4)), voxel_size=(1, 1))
        >>> source = fg.ArraySource(raw, fg.Array(np.zeros((1, 4, 4), np.float32), spec))  # one channel
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((0, 0), (4, 4)))
        >>> with fg.build(source + Squeeze([raw], axis=0)) as p:
        ...     p.request_batch(request)[raw].data.shape
        (4, 4)
    """

    autoskip = True  # flowgraph's rules for library nodes (see BatchFilter)
    exact_dependencies = True

    def __init__(self, arrays: Sequence[ArrayKey], axis: int = 0) -> None:
        name = type(self).__name__
        self.arrays = array_keys(name, arrays)
        self.axis = number(name, "axis", axis, 0, integer=True)

    def setup(self) -> None:
        for key in self.arrays:
            self.updates(key)

    def prepare(self, request: BatchRequest) -> BatchRequest:
        return self.updated_dependencies(request)

    def process(self, batch: Batch, request: BatchRequest) -> Batch:
        out = Batch()
        for key in self.arrays:
            if key not in batch:
                continue
            array = batch[key]
            assert isinstance(array, Array)
            problem = self.refusal(array, leading_axes(array))
            if problem:
                raise RequestError(f"{self.name}: axis={self.axis} {problem} of {key} (data {array.data.shape}).")
            out[key] = Array.trusted(self.reshape(array.data), array.spec)
        return out

    def refusal(self, array: Array, lead: int) -> str:
        """Why ``axis`` cannot be squeezed from ``array`` (with ``lead`` leading axes), or ''."""
        if self.axis >= lead or array.data.shape[self.axis] != 1:
            return (
                f"is not a leading non-spatial axis of length one ({lead} leading axes); Squeeze removes only "
                "such an axis"
            )
        return ""

    def reshape(self, data: np.ndarray) -> np.ndarray:
        return squeeze(data, self.axis)


__all__ = ["Squeeze", "array_keys", "leading_axes", "squeeze"]
