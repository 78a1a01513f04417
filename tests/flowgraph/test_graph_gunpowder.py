"""gunpowder's graph API (Node, Edge, Graph(nodes, edges, spec), crop, trim, networkx) on the columns."""

from __future__ import annotations

import pickle

import networkx as nx
import numpy as np
import pytest

from flowgraph.errors import ConfigError
from flowgraph.graph import Edge, Graph, Node
from flowgraph.roi import Roi
from flowgraph.specs import GraphSpec

ROI = Roi((0, 0), (10, 10))


def skeleton(directed: bool | None = True) -> Graph:
    """1 -> 2 -> 3 inside [0, 10)^2, 3 -> 4 leaving it at x = 10, and 5 far outside, joined to 4."""
    nodes = [
        Node(1, np.array([1.0, 1.0]), attrs={"radius": 1.0}),
        Node(2, np.array([4.0, 2.0]), attrs={"radius": 2.0}),
        Node(3, np.array([8.0, 5.0]), attrs={"radius": 3.0}),
        Node(4, np.array([12.0, 5.0]), attrs={"radius": 4.0}),
        Node(5, np.array([20.0, 20.0]), attrs={"radius": 5.0}),
    ]
    edges = [Edge(1, 2, {"w": 0.5}), Edge(2, 3, {"w": 1.5}), Edge(3, 4, {"w": 2.5}), Edge(4, 5, {"w": 3.5})]
    return Graph(nodes, edges, GraphSpec(roi=Roi((0, 0), (30, 30)), directed=directed))


def test_node_and_edge_objects() -> None:
    n = Node(7, np.array([1.0, 2.0]), attrs={"radius": 0.5})
    assert n.id == 7 and n.location.tolist() == [1.0, 2.0] and n.radius == 0.5 and n.temporary is False
    assert set(n.attrs) == {"radius", "id", "location", "temporary"} and n.all is n.attrs
    assert n.original_id == 7 and Node(7, [0, 0]) == n and hash(n) == hash(7)
    n.color = "red"
    assert n.attrs["color"] == "red"
    assert Node(1, [0, 0], True).original_id is None
    with pytest.raises(AttributeError, match="no attribute 'size'"):
        _ = n.size
    e = Edge(1, 2, {"w": 3})
    u, v = e
    assert (u, v) == (1, 2) and e.attrs == {"w": 3} and e.all is e.attrs
    assert e == Edge(1, 2) and e != Edge(2, 1) and e.undirected_eq(Edge(2, 1)) and hash(e) == hash((1, 2))
    assert Node.from_attrs({"id": 3, "location": np.zeros(2)}).id == 3


def test_graph_from_nodes_and_edges_stores_columns() -> None:
    g = skeleton()
    assert g.ids.tolist() == [1, 2, 3, 4, 5] and g.locations.dtype == np.float64
    assert g.locations[3].tolist() == [12.0, 5.0]
    assert g.attributes["radius"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0] and g.attributes["radius"].dtype == np.float64
    assert "temporary" not in g.attributes  # no node is temporary
    assert g.edges.tolist() == [[1, 2], [2, 3], [3, 4], [4, 5]]
    assert g.edge_attributes["w"].tolist() == [0.5, 1.5, 2.5, 3.5]
    assert len(g) == g.num_vertices() == 5 and g.num_edges() == 4 and g.directed is True
    keyword = Graph(nodes=list(skeleton().nodes), edges=list(skeleton().edges), spec=g.spec)
    assert keyword.ids.tolist() == g.ids.tolist() and keyword.edges.tolist() == g.edges.tolist()
    assert len(Graph([], [], GraphSpec(roi=ROI))) == 0


def test_nodes_with_different_attributes_get_object_columns() -> None:
    g = Graph([Node(1, [0, 0], attrs={"a": 1}), Node(2, [1, 1])], [], GraphSpec(roi=ROI))
    assert g.attributes["a"].dtype == object
    assert list(g.node(1).attrs) == ["id", "location", "temporary", "a"] and list(g.node(2).attrs)[-1] == "temporary"
    assert "a" in g.node(1).attrs and "a" not in g.node(2).attrs and g.node(1).a == 1
    with pytest.raises(AttributeError):
        _ = g.node(2).a


def test_graph_constructor_errors() -> None:
    spec = GraphSpec(roi=ROI)
    with pytest.raises(ConfigError, match="nodes must all be Node objects"):
        Graph([Node(1, [0, 0]), 3], [], spec)
    with pytest.raises(ConfigError, match="every edge must join two point ids"):
        Graph([Node(1, [0, 0])], [Edge(1, 2)], spec)
    with pytest.raises(ConfigError, match="either nodes and edges, or ids"):
        Graph([Node(1, [0, 0])], [], spec, attributes={"a": [1]})
    with pytest.raises(ConfigError, match="1 of 1 points lie outside the roi"):
        Graph([Node(1, [10, 0])], [], spec)


def test_node_views_write_the_columns() -> None:
    g = skeleton()
    node = g.node(2)
    node.location = np.array([5.0, 6.0])
    assert g.locations[1].tolist() == [5.0, 6.0]
    node.location += 1  # in place, as gunpowder's shift does
    assert g.locations[1].tolist() == [6.0, 7.0]
    for n in g.nodes:
        n.location[0] = 0.0
    assert g.locations[:, 0].tolist() == [0.0] * 5
    node.radius = 20.0
    node.attrs["label"] = "x"
    assert g.attributes["radius"][1] == 20.0 and g.node(2).label == "x" and "label" not in g.node(1).attrs
    with pytest.raises(ConfigError, match="cannot change"):
        node.attrs["id"] = 9
    g.shift(np.array([1.0, 1.0]))
    assert g.locations[0].tolist() == [1.0, 2.0]


def test_edges_iterate_with_attribute_views() -> None:
    g = skeleton()
    edges = list(g.edges)
    assert edges == [Edge(1, 2), Edge(2, 3), Edge(3, 4), Edge(4, 5)]
    assert [e.attrs["w"] for e in edges] == [0.5, 1.5, 2.5, 3.5]
    edges[0].attrs["w"] = 9.0
    assert g.edge_attributes["w"][0] == 9.0 and g.edge((1, 2)).attrs["w"] == 9.0
    with pytest.raises(KeyError):
        g.edge((2, 1))  # directed
    assert skeleton(directed=False).edge((2, 1)).attrs["w"] == 0.5


def test_lookups_and_neighbors() -> None:
    g = skeleton()
    assert g.contains(3) and not g.contains(6)
    with pytest.raises(KeyError, match="no node with id 6"):
        g.node(6)
    assert [n.id for n in g.neighbors(g.node(3))] == [4, 2]  # successors, then predecessors
    assert list(g.successors(g.node(3))) == [4] and list(g.predecessors(g.node(3))) == [2]
    u = skeleton(directed=False)
    assert u.directed is False and [n.id for n in u.neighbors(u.node(3))] == [2, 4]
    assert skeleton(directed=None).directed is True  # gunpowder's default


def test_crop_keeps_dangling_nodes() -> None:
    g = skeleton()
    out = g.crop(Roi((0, 0), (10, 10)))
    # 1, 2, 3 inside; 4 dangles from 3 -> 4; 5 (only joined to the outside 4) goes with 4 -> 5
    assert out.ids.tolist() == [1, 2, 3, 4] and out.edges.tolist() == [[1, 2], [2, 3], [3, 4]]
    assert out.edge_attributes["w"].tolist() == [0.5, 1.5, 2.5] and out.spec.roi == Roi((0, 0), (10, 10))
    assert g.num_vertices() == 5  # a copy


def test_trim_moves_dangling_nodes_onto_the_border() -> None:
    roi = Roi((0, 0), (10, 10))
    out = skeleton().crop(roi).trim(roi)
    # 4 (outside) goes; a temporary node 5 = max(1, 2, 3, 4) + 1 at x just below 10 on the segment 3 -> 4
    assert out.ids.tolist() == [1, 2, 3, 5]
    assert out.locations[3, 0] == np.nextafter(10.0, 0) and out.locations[3, 1] == 5.0
    assert out.edges.tolist() == [[1, 2], [2, 3], [3, 5]]
    assert out.attributes["temporary"].tolist() == [False, False, False, True]
    assert out.attributes["radius"].tolist() == [1.0, 2.0, 3.0, 4.0]  # copied from the outer end
    assert out.node(5).temporary and out.node(5).original_id is None
    assert not out.edge((3, 5)).attrs  # the new edge has no attributes
    assert out.spec.roi == roi


def test_trim_ids_locations_directions_and_spec_by_hand() -> None:
    nodes = [Node(1, [12.0, 4.0]), Node(2, [6.0, 4.0]), Node(3, [2.0, -6.0])]
    g = Graph(nodes, [Edge(1, 2), Edge(2, 3)], GraphSpec(roi=Roi((-10, -10), (30, 30))))
    out = g.trim(ROI)
    # inside: {2}; with the ends of its edges {1, 2, 3}: new ids count from 4, in edge order
    assert out.ids.tolist() == [2, 4, 5]
    assert out.locations[1].tolist() == [np.nextafter(10.0, 0), 4.0]  # on 2 -> 1, leaving through x = 10
    np.testing.assert_allclose(out.locations[2], [4.4, 0.0])  # on 2 -> 3, leaving through y = 0 at 0.4 of the way
    assert out.edges.tolist() == [[4, 2], [2, 5]]  # directions kept
    assert out.spec.roi == Roi((-10, -10), (30, 30))  # trim keeps the spec, as gunpowder's


def test_trim_adds_no_node_where_the_edge_leaves_at_its_inner_end() -> None:
    g = Graph([Node(1, [9.99999999, 5.0]), Node(2, [11.0, 5.0])], [Edge(1, 2)], GraphSpec(roi=Roi((0, 0), (20, 20))))
    out = g.trim(ROI)  # the border point is close to node 1: 2 and the edge go, nothing is added
    assert out.ids.tolist() == [1] and out.num_edges() == 0


def test_trim_of_a_graph_without_edges_drops_the_points_outside() -> None:
    g = Graph([Node(1, [1.0, 1.0]), Node(2, [15.0, 1.0])], [], GraphSpec(roi=Roi((0, 0), (20, 20))))
    assert g.trim(ROI).ids.tolist() == [1]


def test_remove_node_with_and_without_retain_connectivity() -> None:
    g = skeleton()
    g.remove_node(g.node(3))
    assert g.ids.tolist() == [1, 2, 4, 5] and g.edges.tolist() == [[1, 2], [4, 5]]
    assert g.edge_attributes["w"].tolist() == [0.5, 3.5] and g.locations.shape == (4, 2)
    h = skeleton()
    h.remove_node(h.node(3), retain_connectivity=True)  # 2 -> 3 -> 4 becomes 2 -> 4
    assert h.ids.tolist() == [1, 2, 4, 5] and h.edges.tolist() == [[1, 2], [4, 5], [2, 4]]
    assert h.node(4).radius == 4.0 and not h.contains(3)
    u = skeleton(directed=False)
    u.remove_node(3, retain_connectivity=True)
    assert u.edges.tolist() == [[1, 2], [4, 5], [2, 4]]  # one undirected edge 2 - 4
    with pytest.raises(KeyError):
        u.remove_node(3)


def test_add_node_add_edge_remove_edge() -> None:
    g = skeleton()
    g.add_node(Node(9, np.array([3.0, 3.0]), attrs={"radius": 9.0}))
    assert g.ids.tolist()[-1] == 9 and g.locations[-1].tolist() == [3.0, 3.0] and g.node(9).radius == 9.0
    g.add_node(Node(9, np.array([4.0, 4.0])))  # an existing id: the location is replaced, radius stays
    assert len(g) == 6 and g.node(9).location.tolist() == [4.0, 4.0] and g.node(9).radius == 9.0
    g.add_edge(Edge(9, 1, {"w": 7.0}))
    assert g.edges.tolist()[-1] == [9, 1] and g.edge((9, 1)).attrs["w"] == 7.0
    g.add_edge(Edge(9, 1, {"w": 8.0}))  # updates, no duplicate
    assert g.num_edges() == 5 and g.edge((9, 1)).attrs["w"] == 8.0
    g.remove_edge(Edge(9, 1))
    assert g.num_edges() == 4 and [9, 1] not in g.edges.tolist()
    with pytest.raises(ConfigError, match="no node 42"):
        g.add_edge(Edge(9, 42))
    g.add_node(Node(10, [1.0, 1.0], temporary=True))
    assert g.node(10).temporary and not g.node(1).temporary


def test_to_nx_graph_and_back() -> None:
    g = skeleton()
    n = g.to_nx_graph()
    assert isinstance(n, nx.DiGraph) and sorted(n.nodes) == [1, 2, 3, 4, 5]
    assert n.nodes[4]["location"].tolist() == [12.0, 5.0] and n.nodes[4]["radius"] == 4.0
    assert n.nodes[4]["id"] == 4 and n.nodes[4]["temporary"] is False and n.edges[3, 4] == {"w": 2.5}
    n.nodes[4]["location"][0] = 0.0  # a copy
    assert g.locations[3, 0] == 12.0
    back = Graph.from_nx_graph(n, GraphSpec(roi=Roi((0, 0), (30, 30))))
    assert back.directed is True and back.ids.tolist() == [1, 2, 3, 4, 5]
    assert back.locations[3].tolist() == [0.0, 5.0] and back.attributes["radius"].tolist() == [1, 2, 3, 4, 5]
    assert back.edges.tolist() == g.edges.tolist() and back.edge_attributes["w"].tolist() == [0.5, 1.5, 2.5, 3.5]
    assert isinstance(skeleton(directed=False).to_nx_graph(), nx.Graph)
    assert not skeleton(directed=False).to_nx_graph().is_directed()


def test_from_nx_graph_takes_directed_from_the_nx_graph() -> None:
    n = nx.Graph()
    n.add_node(1, location=np.array([1.0, 1.0]))
    n.add_node(2, location=np.array([2.0, 2.0]), label=3)
    n.add_edge(2, 1)
    g = Graph.from_nx_graph(n, GraphSpec(roi=ROI))
    assert g.directed is False and g.edges.tolist() == [[1, 2]] and g.node(2).label == 3
    with pytest.raises(ConfigError, match="no 'location'"):
        Graph.from_nx_graph(nx.Graph([(1, 2)]), GraphSpec(roi=ROI))


def test_copy_and_crop_results_are_independent() -> None:
    g = skeleton()
    c = g.copy()
    c.node(1).location = np.array([9.0, 9.0])
    c.node(1).radius = 0.0
    assert g.locations[0].tolist() == [1.0, 1.0] and g.attributes["radius"][0] == 1.0
    same = g.crop(g.spec.roi)  # shares the columns until changed through the API
    same.node(1).location = np.array([7.0, 7.0])
    same.remove_node(2)
    assert g.locations[0].tolist() == [1.0, 1.0] and len(g) == 5
    assert same.locations[0].tolist() == [7.0, 7.0] and len(same) == 4
    g.node(4).location = np.array([40.0, 5.0])  # moved outside through the API: crop sees it
    g.node(5).location = np.array([40.0, 40.0])
    assert g.crop(g.spec.roi).ids.tolist() == [1, 2, 3, 4]  # 4 dangles from 3 -> 4, 5 goes


def test_pickle_keeps_columns_and_missing_values() -> None:
    g = Graph([Node(1, [0, 0], attrs={"a": 1}), Node(2, [1, 1])], [Edge(1, 2)], GraphSpec(roi=ROI))
    back = pickle.loads(pickle.dumps(g))
    assert back.ids.tolist() == [1, 2] and "a" not in back.node(2).attrs and back.node(1).a == 1
    node = pickle.loads(pickle.dumps(g.node(1)))
    assert node.id == 1 and node.a == 1 and node.location.tolist() == [0.0, 0.0]
