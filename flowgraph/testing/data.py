"""Small in-memory data for testing nodes: coordinate-encoding volumes and the sources serving them.

Every voxel of :func:`coordinate_volume` names its own position (``z * 10000 + y * 100 + x``), so
a crop, shift, flip or transpose can be checked exactly. :func:`sources` serves RAW, LABELS,
MASK and POINTS built from it on one anisotropic grid; :func:`default_request` asks for a part of
each.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flowgraph.array import Array
from flowgraph.coordinate import Coordinate
from flowgraph.graph import Graph
from flowgraph.keys import ArrayKey, GraphKey
from flowgraph.pipeline import Pipeline
from flowgraph.provider import BatchProvider
from flowgraph.request import BatchRequest
from flowgraph.roi import Roi
from flowgraph.specs import ArraySpec, GraphSpec

RAW = ArrayKey("RAW")
LABELS = ArrayKey("LABELS")
MASK = ArrayKey("MASK")
POINTS = GraphKey("POINTS")

VOXEL_SIZE = Coordinate((4, 2, 2))
SHAPE = (12, 40, 40)  # voxels


def coordinate_volume(shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    """``value = z * 10000 + y * 100 + x`` (in general: two decimal digits per axis), int64.

    Example:
        >>> from flowgraph.testing import coordinate_volume
        >>> coordinate_volume((2, 3))
        array([[  0,   1,   2],
               [100, 101, 102]])
    """
    grids = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    weights = [10 ** (2 * (len(shape) - 1 - d)) for d in range(len(shape))]
    return sum(g * w for g, w in zip(grids, weights, strict=True)).astype(np.int64)


def source_data(offset: tuple[int, ...] = (0, 0, 0)) -> dict[Any, Any]:
    """The Arrays (RAW, LABELS, MASK) and the Graph (POINTS) that :func:`sources` serves.

    RAW = (coordinate value % 997) / 997 (float32), LABELS = coordinate value // 1000 + 1 (uint64
    ids >= 1), MASK = 0 for the first 5 voxels along y and 1 elsewhere (uint8), POINTS = 20
    random points (fixed seed); all at ``offset`` with voxel size ``VOXEL_SIZE``.
    """
    coords = coordinate_volume()
    roi = Roi(offset, tuple(s * v for s, v in zip(SHAPE, VOXEL_SIZE.ints(), strict=True)))
    raw = (coords % 997).astype(np.float32) / 997.0
    labels = (coords // 1000 + 1).astype(np.uint64)
    mask = np.ones(SHAPE, np.uint8)
    mask[:, :5] = 0
    rng = np.random.default_rng(0)
    locations = np.asarray(roi.begin) + rng.uniform(0, 1, (20, 3)) * np.asarray(roi.shape)
    graph = Graph(np.arange(20), locations, GraphSpec(roi=roi))

    def array(data: np.ndarray, interpolatable: bool) -> Array:
        return Array(data, ArraySpec(roi=roi, voxel_size=VOXEL_SIZE, interpolatable=interpolatable))

    return {RAW: array(raw, True), LABELS: array(labels, False), MASK: array(mask, False), POINTS: graph}


def source_nodes(offset: tuple[int, ...] = (0, 0, 0)) -> tuple[BatchProvider, ...]:
    """Fresh (unjoined) sources of RAW, LABELS, MASK and POINTS; see :func:`source_data`."""
    from flowgraph.nodes import ArraySource, GraphSource

    data = source_data(offset)
    return (
        ArraySource(RAW, data[RAW]),
        ArraySource(LABELS, data[LABELS]),
        ArraySource(MASK, data[MASK]),
        GraphSource(POINTS, data[POINTS]),
    )


def sources(offset: tuple[int, ...] = (0, 0, 0)) -> Pipeline:
    """RAW, LABELS, MASK and POINTS joined by a MergeProvider: the default upstream of a node case.

    Example:
        >>> import flowgraph as fg
        >>> from flowgraph.testing import RAW, default_request, sources
        >>> with fg.build(sources()) as p:
        ...     p.request_batch(default_request())[RAW].data.shape
        (6, 20, 20)
    """
    from flowgraph.nodes import MergeProvider

    return source_nodes(offset) + MergeProvider()


def default_request(seed: int = 0) -> BatchRequest:
    """RAW and POINTS in [8:32, 20:60, 20:60], LABELS and MASK in [12:28, 30:50, 30:50], seeded."""
    request = BatchRequest(random_seed=seed)
    request[RAW] = ArraySpec(roi=Roi((8, 20, 20), (24, 40, 40)))
    request[LABELS] = ArraySpec(roi=Roi((12, 30, 30), (16, 20, 20)))
    request[MASK] = ArraySpec(roi=Roi((12, 30, 30), (16, 20, 20)))
    request[POINTS] = GraphSpec(roi=Roi((8, 20, 20), (24, 40, 40)))
    return request


__all__ = [
    "LABELS",
    "MASK",
    "POINTS",
    "RAW",
    "SHAPE",
    "VOXEL_SIZE",
    "coordinate_volume",
    "default_request",
    "source_data",
    "source_nodes",
    "sources",
]
