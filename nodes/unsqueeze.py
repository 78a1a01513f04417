"""Unsqueeze: add a leading (channel or batch) axis of length one to arrays, as gunpowder's Unsqueeze."""

from __future__ import annotations

import numpy as np

from flowgraph.array import Array

from .squeeze import Squeeze


def unsqueeze(data: np.ndarray, axis: int) -> np.ndarray:
    """``data`` with a new axis of length one at ``axis``, as a view.

    Example:
        >>> unsqueeze(np.zeros((3, 4)), 0).shape
        (1, 3, 4)
    """
    return np.expand_dims(data, axis)


class Unsqueeze(Squeeze):
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

    def refusal(self, array: Array, lead: int) -> str:
        if self.axis > lead:
            return (
                f"lies inside the spatial axes ({lead} leading axes); Unsqueeze adds a leading axis: use axis <= {lead}"
            )
        return ""

    def reshape(self, data: np.ndarray) -> np.ndarray:
        return unsqueeze(data, self.axis)


__all__ = ["Unsqueeze", "unsqueeze"]
