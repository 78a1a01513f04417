"""Test-only data and nodes shared by the engine tests (tests/flowgraph/)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import flowgraph as fg


def coordinate_volume(shape: tuple[int, ...]) -> np.ndarray:
    """``value = z * 10000 + y * 100 + x`` (for 3-D): every voxel names its own index."""
    grids = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    weights = [10 ** (2 * (len(shape) - 1 - d)) for d in range(len(shape))]
    return sum(g * w for g, w in zip(grids, weights)).astype(np.int64)


def expected_crop(roi: fg.Roi, data_roi: fg.Roi, voxel_size: tuple[int, ...]) -> np.ndarray:
    """The coordinate-encoding values a crop to ``roi`` of a volume at ``data_roi`` must hold."""
    begin = [(b - db) // v for b, db, v in zip(roi.begin, data_roi.begin, voxel_size)]  # type: ignore[operator]
    shape = [s // v for s, v in zip(roi.shape, voxel_size)]  # type: ignore[operator]
    grids = np.meshgrid(*[np.arange(b, b + s) for b, s in zip(begin, shape)], indexing="ij")
    weights = [10 ** (2 * (len(shape) - 1 - d)) for d in range(len(shape))]
    return sum(g * w for g, w in zip(grids, weights)).astype(np.int64)


def array_source(
    key: fg.ArrayKey,
    shape: tuple[int, ...] = (10, 20, 20),
    voxel_size: tuple[int, ...] = (4, 2, 2),
    offset: tuple[int, ...] | None = None,
    dtype: Any = np.int64,
) -> fg.ArraySource:
    """An ArraySource of a coordinate-encoding volume of ``shape`` voxels."""
    offset = offset if offset is not None else (0,) * len(shape)
    roi = fg.Roi(offset, tuple(s * v for s, v in zip(shape, voxel_size)))
    data = coordinate_volume(shape).astype(dtype)
    return fg.ArraySource(key, fg.Array(data, fg.ArraySpec(roi=roi, voxel_size=voxel_size)))


class Recorder(fg.BatchFilter):
    """Passes ``key`` through unchanged and records every request and batch it sees."""

    def __init__(self, key: fg.ArrayKey) -> None:
        self.key = key
        self.requests: list[fg.BatchRequest] = []
        self.batches: list[fg.Batch] = []

    def setup(self) -> None:
        self.updates(self.key)

    def prepare(self, request: fg.BatchRequest) -> fg.BatchRequest:
        self.requests.append(request.copy())
        deps = fg.BatchRequest(random_seed=request.random_seed)
        deps[self.key] = request[self.key].copy()
        return deps

    def process(self, batch: fg.Batch, request: fg.BatchRequest) -> None:
        self.batches.append(batch)


class Context(fg.BatchFilter):
    """Updates ``key``: asks for ``roi.grow(neg, pos)`` upstream and returns ``transform(data)``.

    Records, per request, the request it got, the dependencies it returned and the batch that
    ``process`` received.
    """

    def __init__(
        self,
        key: fg.ArrayKey,
        neg: Any = 0,
        pos: Any = 0,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        extra: dict[Any, fg.ArraySpec] | None = None,
    ) -> None:
        self.key = key
        self.neg, self.pos = neg, pos
        self.transform = transform
        self.extra = extra or {}
        self.log: list[dict[str, Any]] = []

    def setup(self) -> None:
        self.updates(self.key)

    def prepare(self, request: fg.BatchRequest) -> tuple[fg.BatchRequest, dict[str, Any]]:
        deps = fg.BatchRequest(random_seed=request.random_seed)
        spec = request[self.key].copy()
        spec.roi = spec.roi.grow(self.neg, self.pos)
        deps[self.key] = spec
        for key, extra in self.extra.items():
            deps[key] = extra.copy()
        entry = {"request": request.copy(), "deps": deps.copy()}
        self.log.append(entry)
        return deps, entry

    def process(self, batch: fg.Batch, request: fg.BatchRequest, entry: dict[str, Any]) -> fg.Batch:
        entry["batch"] = {k: (v.spec.roi, v.data.copy()) for k, v in batch.items()}  # type: ignore[union-attr]
        entry["request_at_process"] = request.copy()
        array = batch[self.key]
        data = array.data if self.transform is None else self.transform(array.data)  # type: ignore[union-attr]
        return fg.Batch({self.key: fg.Array(data, array.spec)})  # type: ignore[union-attr]
