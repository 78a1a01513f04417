"""ArraySource: serve an in-memory fg.Array."""

from __future__ import annotations

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.errors import ConfigError
from flowgraph.keys import ArrayKey
from flowgraph.provider import BatchProvider
from flowgraph.request import BatchRequest
from flowgraph.specs import default_interpolatable
from flowgraph.validate import array_key


class ArraySource(BatchProvider):
    """Provide ``key`` from an in-memory :class:`~flowgraph.Array`.

    Args:
        key: the ArrayKey to provide.
        array: an ``fg.Array`` (numpy data and a spec with roi and voxel_size).

    Requires: nothing (a source).

    Provides: ``key`` with ``array.spec``; ``interpolatable`` defaults to True for floats,
    uint8 and uint16, False for other dtypes (labels, masks).

    Request: delivers a copy of the requested part, so downstream nodes may modify it.

    Randomness: none.

    Raises:
        ConfigError: ``key`` is not an ArrayKey or ``array`` not an Array.

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> source = fg.ArraySource(raw, fg.Array(np.zeros((10, 10), np.uint8),
        ...                         fg.ArraySpec(roi=fg.Roi((0, 0), (40, 40)), voxel_size=(4, 4))))
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request.add(raw, (8, 8))
        >>> with fg.build(source + fg.RandomLocation()) as p:
        ...     p.request_batch(request)[raw].data.shape
        (2, 2)
    """

    def __init__(self, key: ArrayKey, array: Array) -> None:
        self.key = array_key("ArraySource", "key", key)
        if not isinstance(array, Array):
            raise ConfigError(
                f"ArraySource({key}): array must be an fg.Array, got {type(array).__name__}; "
                "wrap numpy data as fg.Array(data, fg.ArraySpec(roi=..., voxel_size=...))."
            )
        self.array = array

    def setup(self) -> None:
        spec = self.array.spec.copy()
        if spec.interpolatable is None:
            spec.interpolatable = default_interpolatable(spec.dtype)  # type: ignore[arg-type]
        self.provides(self.key, spec)

    def provide(self, request: BatchRequest) -> Batch:
        batch = Batch()
        spec = request[self.key]
        part = self.array.crop(spec.roi) if spec.roi is not None else self.array
        out = Array(part.data.copy(), part.spec)
        out.spec.interpolatable = self.spec[self.key].interpolatable
        batch[self.key] = out
        return batch
