"""Unsqueeze: add a leading (channel or batch) axis of length one to arrays, as gunpowder's Unsqueeze."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.errors import RequestError
from flowgraph.keys import ArrayKey
from flowgraph.provider import BatchFilter
from flowgraph.request import BatchRequest
from flowgraph.validate import number

from .squeeze import array_keys, leading_axes


def unsqueeze(data: np.ndarray, axis: int) -> np.ndarray:
    """``data`` with a new axis of length one at ``axis``, as a view.

    Example:
        >>> unsqueeze(np.zeros((3, 4)), 0).shape
        (1, 3, 4)
    """
    return np.expand_dims(data, axis)


class Unsqueeze(BatchFilter):
    """Insert a data axis of length one at ``axis`` into each of ``arrays``.

    As gunpowder's Unsqueeze: ``axis`` counts the axes of the data and must lie among or just
    after the leading non-spatial axes (``axis <= number of leading axes``), so the new axis is
    a channel or batch axis; the ROI, voxel size and the rest of the spec stay as they are.

    Args:
        arrays: the ArrayKeys to unsqueeze (those not requested are left alone).
        axis: where the new axis goes, at most the number of leading axes (0: in front).

    Requires: ``arrays``. Updates: ``arrays`` (data one axis more, same spec).
    Request: unchanged. Randomness: none.

    Raises:
        ConfigError: ``arrays`` not a list of ArrayKeys, or a negative ``axis``.
        RequestError: while processing, an ``axis`` inside the spatial axes (a
            ``PipelineRequestError``, which gunpowder's pipelines raise there).

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> spec = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (1, 4, 4)), voxel_size=(1, 1, 1))
        >>> source = fg.ArraySource(raw, fg.Array(np.zeros((1, 4, 4), np.float32), spec))  # one section
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (1, 4, 4)))
        >>> with fg.build(source + Unsqueeze([raw])) as p:  # a channel axis for the network
        ...     p.request_batch(request)[raw].data.shape
        (1, 1, 4, 4)
    """

    autoskip = True  # flowgraph's rules for library nodes (see BatchFilter)
    exact_dependencies = True

    def __init__(self, arrays: Sequence[ArrayKey], axis: int = 0) -> None:
        self.arrays = array_keys("Unsqueeze", arrays)
        self.axis = number("Unsqueeze", "axis", axis, 0, integer=True)

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
            lead = leading_axes(array)
            if self.axis > lead:
                raise RequestError(
                    f"{self.name}: axis={self.axis} lies inside the spatial axes of {key} (data {array.data.shape}, "
                    f"{lead} leading axes); Unsqueeze adds a leading axis: use axis <= {lead}."
                )
            out[key] = Array.trusted(unsqueeze(array.data, self.axis), array.spec)
        return out


__all__ = ["Unsqueeze", "unsqueeze"]
