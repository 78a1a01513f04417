"""GraphSource: an in-memory graph, or a graph provider in gunpowder's form."""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import pytest

import flowgraph as fg

POINTS = fg.GraphKey("POINTS")


class RingProvider:
    """A provider like daisy's: ``provider[roi]`` is the networkx graph of the points in ``roi``."""

    def __init__(self, directed: bool, position_attribute: str = "position") -> None:
        self.directed = directed
        self.position_attribute = position_attribute
        self.locations = {i: np.array([i * 10.0 + 5, 5.0]) for i in range(6)}  # along y, 10 apart
        self.asked: list[Any] = []

    def __getitem__(self, roi: fg.Roi) -> Any:
        self.asked.append(roi)
        graph = nx.DiGraph() if self.directed else nx.Graph()
        for i, location in self.locations.items():
            if roi.contains(location):
                graph.add_node(i, **{self.position_attribute: location})
        for i in range(6):  # a ring: i -> i + 1; an edge leaving the ROI adds its end without a position
            j = (i + 1) % 6
            if i in graph:
                graph.add_edge(i, j)
        return graph


@pytest.mark.parametrize("directed", [True, False])
def test_gunpowder_form_reads_the_provider_for_the_requested_roi(directed: bool) -> None:
    provider = RingProvider(directed)
    roi = fg.Roi((10, 0), (30, 10))  # holds the points 1, 2, 3
    request = fg.BatchRequest(random_seed=0)
    request[POINTS] = fg.GraphSpec(roi=roi)
    with fg.build(fg.GraphSource(provider, POINTS)) as p:
        assert p.spec[POINTS].directed is directed
        graph = p.request_batch(request)[POINTS]
    assert provider.asked == [roi]
    assert sorted(graph.ids.tolist()) == [1, 2, 3] and graph.directed is directed
    for i, location in zip(graph.ids.tolist(), graph.locations, strict=True):
        np.testing.assert_array_equal(location, provider.locations[i])
    assert sorted(map(tuple, np.asarray(graph.edges).tolist())) == [(1, 2), (2, 3)]


def test_gunpowder_form_takes_a_graph_spec_and_refuses_a_provider_it_cannot_ask() -> None:
    spec = fg.GraphSpec(roi=fg.Roi((0, 0), (60, 10)), directed=False)
    with fg.build(fg.GraphSource(RingProvider(True), POINTS, spec)) as p:
        assert p.spec[POINTS].roi == spec.roi and p.spec[POINTS].directed is False
    with pytest.raises(fg.ConfigError, match="graph_provider must answer provider"):
        fg.GraphSource(3, POINTS)
