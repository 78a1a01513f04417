"""Batch: key -> Array/Graph with type checks, crops to a request, profiling."""

from __future__ import annotations

import numpy as np
import pytest

import flowgraph as fg
from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.errors import ConfigError
from flowgraph.graph import Graph
from flowgraph.keys import ArrayKey, GraphKey
from flowgraph.request import BatchRequest
from flowgraph.roi import Roi
from flowgraph.specs import ArraySpec, GraphSpec

RAW, POINTS = ArrayKey("RAW"), GraphKey("POINTS")


def make() -> Batch:
    raw = Array(np.arange(16).reshape(4, 4), ArraySpec(roi=Roi((0, 0), (8, 8)), voxel_size=(2, 2)))
    points = Graph([1, 2], [[1.0, 1.0], [7.0, 7.0]], GraphSpec(roi=Roi((0, 0), (8, 8))), edges=[[1, 2]])
    return Batch({RAW: raw, POINTS: points})


def test_mapping_and_views() -> None:
    batch = make()
    assert len(batch) == 2 and set(batch) == {RAW, POINTS}
    assert list(batch.arrays()) == [RAW] and list(batch.graphs()) == [POINTS]
    del batch[POINTS]
    assert POINTS not in batch and "RAW" in repr(batch)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (RAW, "data", "RAW is an ArrayKey and needs an Array, got str"),
        (POINTS, np.zeros(2), "POINTS is a GraphKey and needs a Graph, got ndarray"),
        ("RAW", np.zeros(2), "keys must be ArrayKey or GraphKey"),
    ],
)
def test_setitem_checks_types(key: object, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Batch()[key] = value  # type: ignore[index,assignment]


def test_crop_to_a_request() -> None:
    batch = make()
    batch.profiling.append(("Source", "process", 0.5))
    request = BatchRequest()
    request[RAW] = ArraySpec(roi=Roi((2, 4), (4, 4)))
    request[POINTS] = GraphSpec(roi=Roi((0, 0), (4, 4)))
    out = batch.crop(request)
    assert out[RAW].data.tolist() == [[6, 7], [10, 11]]  # type: ignore[union-attr]
    # point 2 lies outside but dangles from the edge 1-2 into the ROI: kept, as gunpowder's crop does
    assert out[POINTS].ids.tolist() == [1, 2] and out[POINTS].edges.tolist() == [[1, 2]]  # type: ignore[union-attr]
    assert out.profiling is batch.profiling
    only_raw = BatchRequest()
    only_raw[RAW] = ArraySpec()
    assert set(batch.crop(only_raw)) == {RAW} and batch.crop(only_raw)[RAW] is batch[RAW]


def test_profile_table_sums_per_node() -> None:
    batch = Batch()
    batch.profiling += [("A", "process", 1.0), ("B", "prepare", 0.25), ("B", "process", 0.5), ("A", "process", 2.0)]
    assert batch.profile_table() == [
        {"node": "A", "prepare": 0.0, "process": 3.0},
        {"node": "B", "prepare": 0.25, "process": 0.5},
    ]


def test_arrays_and_graphs_are_live_dict_views_as_in_gunpowder() -> None:
    batch = fg.Batch()
    raw, points = fg.ArrayKey("RAW"), fg.GraphKey("POINTS")
    array = fg.Array(np.zeros((2, 2)), fg.ArraySpec(roi=fg.Roi((0, 0), (2, 2)), voxel_size=(1, 1)))
    batch.arrays[raw] = array  # writes through
    assert batch[raw] is array and raw in batch.arrays and raw not in batch.graphs
    assert dict(batch.arrays) == {raw: array} == batch.arrays()
    batch.arrays[raw].data = np.ones((2, 2))  # gunpowder's in-place style
    assert batch[raw].data.sum() == 4
    graph = fg.Graph(np.arange(1), np.array([[5.0, 5.0]]), fg.GraphSpec(roi=fg.Roi((4, 4), (4, 4))))
    batch.graphs[points] = graph
    assert list(batch.graphs) == [points] and len(batch.arrays) == 1
    assert batch.get_total_roi() == fg.Roi((0, 0), (8, 8))
    del batch.arrays[raw]
    assert raw not in batch
    with pytest.raises(fg.ConfigError, match="expected a ArrayKey"):
        batch.arrays[points] = array  # type: ignore[index]
