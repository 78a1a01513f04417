"""Graph: points, attributes and edges; crops keep the points inside, the edges touching them, their dangling ends."""

from __future__ import annotations

import numpy as np
import pytest

from flowgraph.errors import ConfigError
from flowgraph.graph import Graph, inside
from flowgraph.roi import Roi
from flowgraph.specs import GraphSpec

ROI = Roi((0, 0), (10, 10))


def chain() -> Graph:
    """Points 1..5 along the diagonal, edges 1-2, 2-3, 3-4, 4-5, 1-5, and an attribute = id * 10."""
    ids = [1, 2, 3, 4, 5]
    locations = [[0.0, 0.0], [2.5, 2.5], [5.0, 5.0], [7.5, 7.5], [9.99, 9.99]]
    edges = [[1, 2], [2, 3], [3, 4], [4, 5], [1, 5]]
    return Graph(ids, locations, GraphSpec(roi=ROI, directed=True), {"size": np.array(ids) * 10}, edges)


def test_constructor_stores_columns() -> None:
    g = chain()
    assert len(g) == 5
    assert g.ids.dtype == np.int64 and g.locations.dtype == np.float64 and g.edges.dtype == np.int64
    assert g.locations.shape == (5, 2) and g.edges.shape == (5, 2)
    assert g.roi == ROI and g.spec.directed is True
    assert g.attributes["size"].tolist() == [10, 20, 30, 40, 50]


def test_crop_keeps_points_inside_edges_with_an_end_inside_and_their_dangling_ends() -> None:
    g = chain()
    out = g.crop(Roi((2, 2), (6, 6)))  # [2, 8): points 2, 3, 4 inside; 1 and 5 dangle from 1-2 and 4-5
    assert out.ids.tolist() == [1, 2, 3, 4, 5]
    assert out.edges.tolist() == [[1, 2], [2, 3], [3, 4], [4, 5]]  # 1-5 has no end inside
    assert out.attributes["size"].tolist() == [10, 20, 30, 40, 50]
    assert out.roi == Roi((2, 2), (6, 6)) and out.spec.directed is True
    assert len(g) == 5 and g.edges.shape == (5, 2) and g.roi == ROI  # the original is untouched


def test_crop_without_edges_keeps_exactly_the_points_inside() -> None:
    g = chain().subset(np.ones(5, dtype=bool))
    g.edges = np.zeros((0, 2), dtype=np.int64)
    out = g.crop(Roi((2, 2), (6, 6)))
    assert out.ids.tolist() == [2, 3, 4]
    assert out.locations.tolist() == [[2.5, 2.5], [5.0, 5.0], [7.5, 7.5]]
    assert out.attributes["size"].tolist() == [20, 30, 40]


def test_crop_boundaries_are_half_open() -> None:
    g = chain()
    low = g.crop(Roi((0, 0), (5, 5)))  # 5.0 is outside [0, 5): 1, 2 inside, 3 and 5 dangle
    assert low.ids.tolist() == [1, 2, 3, 5] and low.edges.tolist() == [[1, 2], [2, 3], [1, 5]]
    high = g.crop(Roi((5, 5), (5, 5)))  # 5.0 is inside [5, 10): 3, 4, 5 inside, 2 and 1 dangle
    assert high.ids.tolist() == [1, 2, 3, 4, 5] and high.edges.tolist() == [[2, 3], [3, 4], [4, 5], [1, 5]]


def test_crop_to_nothing_and_to_the_same_roi() -> None:
    g = chain()
    empty = g.crop(Roi((20, 20), (5, 5)))
    assert len(empty) == 0 and empty.edges.shape == (0, 2) and empty.locations.shape == (0, 2)
    same = g.crop(ROI)  # a new graph sharing the columns (no copy on the hot path)
    assert same is not g and same.locations is g.locations and same.ids is g.ids


def test_crop_with_an_unbounded_axis() -> None:
    g = chain()
    out = g.crop(Roi((None, 4), (None, 4)))  # y in [4, 8): points 3, 4; 2 and 5 dangle
    assert out.ids.tolist() == [2, 3, 4, 5] and out.edges.tolist() == [[2, 3], [3, 4], [4, 5]]


def test_subset_with_new_locations() -> None:
    g = chain()
    keep = np.array([True, False, True, False, True])
    out = g.subset(keep, GraphSpec(roi=Roi((0, 0), (20, 20))), g.locations + 1)
    assert out.ids.tolist() == [1, 3, 5]
    assert out.locations[:, 0].tolist() == [1.0, 6.0, 10.99]
    assert out.edges.tolist() == [[1, 5]]
    assert out.roi == Roi((0, 0), (20, 20))


def test_inside() -> None:
    loc = np.array([[0.0, 0.0], [9.999, 0.0], [10.0, 0.0], [-0.001, 5.0]])
    assert inside(loc, ROI).tolist() == [True, True, False, False]


def test_empty_graph() -> None:
    g = Graph([], [], GraphSpec(roi=ROI))
    assert len(g) == 0 and g.locations.shape == (0, 2) and g.edges.shape == (0, 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"spec": GraphSpec()}, "spec must be a GraphSpec with a roi"),
        ({"spec": "x"}, "spec must be a GraphSpec with a roi"),
        ({"locations": [[0, 0], [1, 1], [2, 2]]}, r"2 ids need locations of shape \(2, 2\)"),
        ({"locations": [[0, 0, 0], [1, 1, 1]]}, r"2 ids need locations of shape \(2, 2\)"),
        ({"locations": [0, 0, 1]}, r"2 ids need locations of shape \(2, 2\)"),
        ({"ids": [1, 1]}, "ids must be unique"),
        ({"attributes": {"a": [1]}}, "attribute 'a' has 1 rows for 2 points"),
        ({"edges": [[1, 3]]}, "every edge must join two point ids"),
        ({"edges": [[1, 2, 1]]}, r"edges must be pairs of ids"),
        ({"locations": [[0, 0], [10, 1]]}, "1 of 2 points lie outside the roi"),
        ({"locations": [[10, 0], [10, 1]], "edges": [[1, 2]]}, "2 of 2 points lie outside the roi"),
        ({"locations": [[0, np.nan], [1, 1]]}, "1 of 2 points lie outside the roi"),
    ],
)
def test_constructor_errors(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"ids": [1, 2], "locations": [[0, 0], [1, 1]], "spec": GraphSpec(roi=ROI)}
    args.update(kwargs)
    with pytest.raises(ConfigError, match=message):
        Graph(**args)  # type: ignore[arg-type]


def test_the_spec_is_copied() -> None:
    spec = GraphSpec(roi=ROI)
    g = Graph([1], [[1, 1]], spec)
    g.spec.roi = Roi((0, 0), (1, 1))
    assert spec.roi == ROI


def test_a_dangling_point_outside_the_roi_is_allowed() -> None:
    g = Graph([1, 2], [[1, 1], [12, 1]], GraphSpec(roi=ROI), edges=[[2, 1]])
    assert g.locations[1].tolist() == [12.0, 1.0]
    with pytest.raises(ConfigError, match="1 of 3 points lie outside the roi"):
        Graph([1, 2, 3], [[1, 1], [12, 1], [15, 1]], GraphSpec(roi=ROI), edges=[[1, 2], [2, 3]])


def test_edges_are_an_array_that_iterates_as_edge_objects() -> None:
    g = chain()
    assert isinstance(g.edges, np.ndarray) and g.edges.dtype == np.int64 and len(g.edges) == 5
    assert [(e.u, e.v) for e in g.edges] == [(1, 2), (2, 3), (3, 4), (4, 5), (1, 5)]
    assert [tuple(row) for row in g.edges] == [(1, 2), (2, 3), (3, 4), (4, 5), (1, 5)]
    assert type(np.asarray(g.edges)) is np.ndarray and g.edges[0].tolist() == [1, 2]
