"""Graph: points with attributes and edges, stored as columns of numpy arrays.

Points carry world coordinates (float64); every geometric node transforms ``locations`` as a
whole, never point by point. On top of the columns, gunpowder's object API: :class:`Node` and
:class:`Edge`, ``graph.nodes``, ``graph.edges``, ``node(id)``, ``add_node``, ``remove_node``,
``crop`` / ``trim`` with dangling nodes, ``to_nx_graph()`` and ``Graph.from_nx_graph``. The
objects the graph hands out are views: writing ``node.location`` writes the ``locations`` row.
"""

from __future__ import annotations

import copy as copy_module
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any

import numpy as np

from flowgraph.errors import ConfigError
from flowgraph.roi import Roi
from flowgraph.specs import GraphSpec


class _Missing:
    """The value of an object attribute column in the rows whose node (or edge) lacks the attribute."""

    def __repr__(self) -> str:
        return "<missing>"

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

# keys every node's ``attrs`` has (as in gunpowder); they are not attribute columns
_NODE_KEYS = ("id", "location", "temporary")


def _column(values: list[Any]) -> np.ndarray:
    """One attribute column from per-row values: numeric when they allow it, else object."""
    if not any(v is MISSING for v in values):
        try:
            arr = np.asarray(values)
        except ValueError:  # ragged
            arr = None
        if arr is not None and arr.dtype.kind not in "OUSV" and len(arr) == len(values):
            return arr
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return out


def _cell(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _set_cell(columns: dict[str, np.ndarray], name: str, n: int, row: int, value: Any) -> None:
    """``columns[name][row] = value``, creating or widening the column so the value is kept exactly."""
    col = columns.get(name)
    if col is None:
        col = columns[name] = np.full(n, MISSING, dtype=object)
    if col.dtype != object:
        v = np.asarray(value)
        if v.shape == col.shape[1:] and v.dtype.kind not in "OUSV":
            target = np.result_type(col.dtype, v.dtype)
            if target != col.dtype and col.dtype.kind in "biuf" and target.kind in "biuf" and target.itemsize >= 8:
                col = columns[name] = col.astype(target)
            if target == col.dtype:
                col[row] = v
                return
        obj = np.empty(n, dtype=object)
        for i in range(n):
            obj[i] = col[i]
        col = columns[name] = obj
    col[row] = value


def _append(column: np.ndarray | None, n: int, values: list[Any]) -> np.ndarray:
    """``column`` (n rows, or None: all missing) followed by ``values``."""
    old = np.full(n, MISSING, dtype=object) if column is None else column
    new = _column(values)
    if old.dtype != object and new.dtype != object and old.shape[1:] == new.shape[1:]:
        return np.concatenate([old, new])
    out = np.empty(n + len(values), dtype=object)
    for i in range(n):
        out[i] = old[i]
    for i, v in enumerate(values):
        out[n + i] = v
    return out


def _copy_column(column: np.ndarray) -> np.ndarray:
    return copy_module.deepcopy(column) if column.dtype == object else column.copy()


class _RowAttrs(MutableMapping[str, Any]):
    """A dict view of one row of a graph's attribute columns (``node.attrs`` / ``edge.attrs``)."""

    __slots__ = ("_graph", "_key", "_node")

    def __init__(self, graph: Graph, key: Any, node: bool) -> None:
        self._graph, self._key, self._node = graph, key, node

    def _row(self) -> int:
        return self._graph._row(self._key) if self._node else self._graph._edge_row(self._key)

    def _columns(self) -> dict[str, np.ndarray]:
        return self._graph.attributes if self._node else self._graph.edge_attributes

    def __getitem__(self, name: str) -> Any:
        g, row = self._graph, self._row()
        if self._node and name == "id":
            return int(g.ids[row])
        if self._node and name == "location":
            g._own()
            g._clean = False  # the caller may write into the view
            return g.locations[row]
        col = self._columns().get(name)
        value = MISSING if col is None else col[row]
        if value is MISSING:
            if self._node and name == "temporary":
                return False
            raise KeyError(name)
        return bool(value) if name == "temporary" and self._node else _cell(value)

    def __setitem__(self, name: str, value: Any) -> None:
        g, row = self._graph, self._row()
        g._own()
        g._clean = False
        if self._node and name == "id":
            if value != g.ids[row]:
                raise ConfigError(f"Graph: the id of node {g.ids[row]} cannot change; add a new node instead.")
            return
        if self._node and name == "location":
            g.locations[row] = value
            return
        n = len(g) if self._node else len(g._edges)
        _set_cell(g.attributes if self._node else g.edge_attributes, name, n, row, value)

    def __delitem__(self, name: str) -> None:
        if self._node and name in ("id", "location"):
            raise ConfigError(f"Graph: a node's {name!r} cannot be deleted.")
        if name not in self:
            raise KeyError(name)
        self[name] = MISSING

    def __iter__(self) -> Iterator[str]:
        row = self._row()
        if self._node:
            yield from _NODE_KEYS
        for name, col in self._columns().items():
            if not (self._node and name == "temporary") and col[row] is not MISSING:
                yield name

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return repr(dict(self))


class Node:
    """A point of a graph: ``id``, ``location`` and ``attrs``, as gunpowder's ``Node``.

    A Node you build holds its own ``attrs`` dict (with ``"id"``, ``"location"`` and
    ``"temporary"``, like gunpowder's); hand it to ``Graph(nodes, edges, spec)`` or
    ``graph.add_node``. The nodes a graph gives out (``graph.nodes``, ``graph.node(id)``,
    ``graph.neighbors``) are views of its columns: ``node.location`` is a view of the row of
    ``graph.locations``, and setting it (or any attribute, ``node.attrs[name] = v`` or
    ``node.name = v``) writes the graph. Nodes are equal when their ids are.

    Args:
        id: the node's id, unique in its graph.
        location: world coordinates (stored as float64).
        temporary: True for nodes that ``trim`` makes on the ROI's border.
        attrs: further attributes (name -> value); the dict is kept and completed, as in gunpowder.

    Example:
        >>> n = Node(3, np.array([1.0, 2.0]), attrs={"radius": 0.5})
        >>> n.id, n.location.tolist(), n.radius, n.temporary
        (3, [1.0, 2.0], 0.5, False)
    """

    __slots__ = ("_attrs", "_graph", "_id")

    def __init__(self, id: int, location: Any, temporary: bool = False, attrs: dict[str, Any] | None = None) -> None:
        object.__setattr__(self, "_graph", None)
        object.__setattr__(self, "_id", id)
        a = attrs if attrs is not None else {}
        a["id"] = id
        a["location"] = np.asarray(location, dtype=np.float64)
        a["temporary"] = temporary
        object.__setattr__(self, "_attrs", a)

    @classmethod
    def _view(cls, graph: Graph, node_id: int) -> Node:
        node = object.__new__(cls)
        object.__setattr__(node, "_graph", graph)
        object.__setattr__(node, "_id", node_id)
        object.__setattr__(node, "_attrs", None)
        return node

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> Node:
        """A Node whose attributes are ``attrs`` (which must hold ``"id"`` and ``"location"``)."""
        return cls(attrs["id"], attrs["location"], attrs.get("temporary", False), attrs)

    @property
    def attrs(self) -> MutableMapping[str, Any]:
        """All attributes, ``"id"``, ``"location"`` and ``"temporary"`` included."""
        if self._graph is not None:
            return _RowAttrs(self._graph, self._id, True)
        return self._attrs

    @property
    def all(self) -> MutableMapping[str, Any]:
        """The same as ``attrs`` (gunpowder's name)."""
        return self.attrs

    @property
    def id(self) -> int:
        return self._id

    @property
    def location(self) -> np.ndarray:
        """World coordinates; for a node of a graph, a view of its row of ``graph.locations``."""
        return self.attrs["location"]

    @location.setter
    def location(self, value: Any) -> None:
        if self._graph is not None:
            self.attrs["location"] = value
        else:
            self._attrs["location"] = np.asarray(value, dtype=np.float64)

    @property
    def temporary(self) -> bool:
        return bool(self.attrs.get("temporary", False))

    @property
    def original_id(self) -> int | None:
        return None if self.temporary else self.id

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self.attrs[name]
        except KeyError:
            raise AttributeError(f"Node {self.id} has no attribute {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "location":
            Node.location.fset(self, value)  # type: ignore[attr-defined]
        elif name.startswith("_"):
            object.__setattr__(self, name, value)
        elif name == "id" and self._graph is None:
            object.__setattr__(self, "_id", value)
            self._attrs["id"] = value
        else:
            self.attrs[name] = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and self.id == other.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"Node({self.temporary}) ({self.id}) at ({self.location})"

    def __getstate__(self) -> dict[str, Any]:
        return {"id": self._id, "attrs": dict(self.attrs)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "_graph", None)
        object.__setattr__(self, "_id", state["id"])
        object.__setattr__(self, "_attrs", state["attrs"])


class Edge:
    """An edge ``u -> v`` with ``attrs``, as gunpowder's ``Edge``; unpacks as ``u, v = edge``.

    Edges from ``graph.edges`` or ``graph.edge((u, v))`` have ``attrs`` that read and write the
    graph's edge attribute columns. Edges are equal when ``(u, v)`` are (``undirected_eq``
    ignores the direction).

    Example:
        >>> e = Edge(1, 2, {"weight": 0.5})
        >>> u, v = e
        >>> (u, v), e.attrs["weight"], e == Edge(1, 2), e.undirected_eq(Edge(2, 1))
        ((1, 2), 0.5, True, True)
    """

    __slots__ = ("_attrs", "_u", "_v")

    def __init__(self, u: int, v: int, attrs: MutableMapping[str, Any] | None = None) -> None:
        self._u, self._v = u, v
        self._attrs: MutableMapping[str, Any] = attrs if attrs is not None else {}

    @property
    def u(self) -> int:
        return self._u

    @property
    def v(self) -> int:
        return self._v

    @property
    def attrs(self) -> MutableMapping[str, Any]:
        return self._attrs

    @property
    def all(self) -> MutableMapping[str, Any]:
        return self._attrs

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> Edge:
        return cls(attrs["u"], attrs["v"], attrs)

    def __iter__(self) -> Iterator[int]:
        return iter((self._u, self._v))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Edge) and self._u == other._u and self._v == other._v

    def __hash__(self) -> int:
        return hash((self._u, self._v))

    def directed_eq(self, other: Edge) -> bool:
        return self == other

    def undirected_eq(self, other: Edge) -> bool:
        return {self._u, self._v} == {other.u, other.v}

    def __repr__(self) -> str:
        return f"({self._u}, {self._v})"

    def __getstate__(self) -> tuple[int, int, dict[str, Any]]:
        return (self._u, self._v, dict(self._attrs))

    def __setstate__(self, state: tuple[int, int, dict[str, Any]]) -> None:
        self._u, self._v, self._attrs = state


class EdgeArray(np.ndarray):
    """``graph.edges``: the (M, 2) int64 array of id pairs, iterating as :class:`Edge` objects.

    Everything numpy does with it is what it does with the plain array (``graph.edges.tolist()``,
    ``np.isin(graph.edges, ids)``, ``len(graph.edges)``); ``for edge in graph.edges`` yields
    Edges (``edge.u``, ``edge.v``, ``edge.attrs``, or ``u, v = edge``), as in gunpowder.
    """

    _graph: Graph | None = None

    def __array_finalize__(self, obj: Any) -> None:
        self._graph = None  # only the array ``graph.edges`` returns reads the graph's edge attributes

    def __iter__(self) -> Iterator[Any]:
        if self.ndim != 2:
            return super().__iter__()
        graph = self._graph
        pairs = self.tolist()
        if graph is None:
            return (Edge(u, v) for u, v in pairs)
        return (Edge(u, v, _RowAttrs(graph, (u, v), False)) for u, v in pairs)


def _pairs(edges: Any) -> np.ndarray:
    e = np.asarray(edges if edges is not None else np.zeros((0, 2)), dtype=np.int64)
    if e.size == 0:
        e = np.zeros((0, 2), dtype=np.int64)
    if e.ndim != 2 or e.shape[1] != 2:
        raise ConfigError(f"Graph: edges must be pairs of ids, an (M, 2) array, got shape {e.shape}.")
    return e


def _is_node_list(first: list[Any], second: Any) -> bool:
    """Whether ``Graph(first, second, spec)`` is gunpowder's ``Graph(nodes, edges, spec)``."""
    if any(isinstance(n, Node) for n in first):
        return True
    return not first and isinstance(second, list) and any(isinstance(e, Edge) for e in second)


class Graph:
    """Points (``ids``, ``locations``, per-point ``attributes``) and ``edges`` between ids.

    Two constructors, told apart by the arguments:

    - ``Graph(ids, locations, spec, attributes=None, edges=None, edge_attributes=None)``: the
      columns. ``ids`` (N,) unique integers, ``locations`` (N, D) world coordinates,
      ``attributes`` name -> array of N rows, ``edges`` (M, 2) pairs of ids,
      ``edge_attributes`` name -> array of M rows.
    - ``Graph(nodes, edges, spec)`` (gunpowder's): ``nodes`` an iterable of :class:`Node`,
      ``edges`` an iterable of :class:`Edge` (or ``(u, v)`` pairs). It is chosen when the first
      argument holds Nodes (or is empty while the second holds Edges) or is passed as
      ``nodes=``. Node attributes become columns (numeric where every node has a number or
      an array of one shape, object columns otherwise).

    Points lie in ``spec.roi`` (``begin <= p < end``) except *dangling* ones: the outer end of
    an edge whose other end lies inside, as gunpowder's ``crop`` keeps them. The constructor
    refuses other points outside the ROI; the mutating methods do not check.

    ``len(graph)`` is the number of points; ``graph.edges`` (an :class:`EdgeArray`) is the
    (M, 2) array and iterates as Edges; ``graph.nodes`` iterates Node views.

    Example:
        >>> g = Graph([1, 2], [[0.0, 0.0], [5.0, 5.0]], GraphSpec(roi=Roi((0, 0), (8, 8))), edges=[[1, 2]])
        >>> small = g.crop(Roi((0, 0), (4, 4)))  # point 2 stays: it dangles from the edge 1-2
        >>> len(small), small.edges.tolist(), small.trim(Roi((0, 0), (4, 4))).locations.round(3).tolist()
        (2, [[1, 2]], [[0.0, 0.0], [4.0, 4.0]])
        >>> bool(small.trim(Roi((0, 0), (4, 4))).locations[1, 0] < 4)
        True
    """

    __slots__ = (
        "_clean",
        "_edge_rows",
        "_edges",
        "_rows",
        "_shared",
        "attributes",
        "edge_attributes",
        "ids",
        "locations",
        "spec",
    )

    ids: np.ndarray
    locations: np.ndarray
    attributes: dict[str, np.ndarray]
    edge_attributes: dict[str, np.ndarray]
    spec: GraphSpec
    _edges: np.ndarray

    def __init__(
        self,
        ids: Any = None,
        locations: Any = None,
        spec: GraphSpec | None = None,
        attributes: Mapping[str, Any] | None = None,
        edges: Any = None,
        edge_attributes: Mapping[str, Any] | None = None,
        *,
        nodes: Iterable[Node] | None = None,
    ) -> None:
        if not isinstance(spec, GraphSpec) or spec.roi is None:
            raise ConfigError("Graph: spec must be a GraphSpec with a roi.")
        if nodes is None and ids is not None and not isinstance(ids, np.ndarray):
            ids = list(ids)
            if locations is not None and not isinstance(locations, np.ndarray):
                locations = list(locations)
            if _is_node_list(ids, locations):
                nodes, edges, locations = ids, locations, None
        elif nodes is not None and edges is None:
            edges, locations = locations, None
        if nodes is not None:
            if locations is not None or attributes is not None or edge_attributes is not None:
                raise ConfigError("Graph: give either nodes and edges, or ids, locations and columns, not both.")
            ids, locations, attributes, edges, edge_attributes = _columns_of(
                list(nodes), edges if edges is not None else [], spec.directed is False, spec.roi.dims
            )
        ids_a = np.asarray(ids if ids is not None else [], dtype=np.int64).reshape(-1)
        dims = spec.roi.dims
        loc = np.asarray(locations if locations is not None else [], dtype=np.float64)
        if loc.size == 0 and not len(ids_a):
            loc = np.zeros((0, dims))
        if loc.shape != (len(ids_a), dims):
            raise ConfigError(
                f"Graph: {len(ids_a)} ids need locations of shape ({len(ids_a)}, {dims}), got {loc.shape}."
            )
        if len(np.unique(ids_a)) != len(ids_a):
            raise ConfigError("Graph: point ids must be unique.")
        attrs = {name: np.asarray(v) for name, v in (attributes or {}).items()}
        for name, v in attrs.items():
            if len(v) != len(ids_a):
                raise ConfigError(f"Graph: attribute {name!r} has {len(v)} rows for {len(ids_a)} points.")
        e = _pairs(edges)
        if not np.isin(e, ids_a).all():
            raise ConfigError("Graph: every edge must join two point ids of the graph.")
        eattrs = {name: np.asarray(v) for name, v in (edge_attributes or {}).items()}
        for name, v in eattrs.items():
            if len(v) != len(e):
                raise ConfigError(f"Graph: edge attribute {name!r} has {len(v)} rows for {len(e)} edges.")
        self._set(spec.copy(), ids_a, loc, attrs, e, eattrs)
        outside = ~inside(loc, spec.roi)
        if outside.any():
            allowed = np.zeros(len(ids_a), dtype=bool)
            if len(e):
                rows = self._edge_row_pairs()
                ins = ~outside[rows]
                crossing = ins[:, 0] ^ ins[:, 1]
                allowed[rows[crossing].ravel()] = True
            stray = int((outside & ~allowed).sum())
            if stray:
                raise ConfigError(
                    f"Graph: {stray} of {len(ids_a)} points lie outside the roi {spec.roi} (and are not the outer "
                    "end of an edge into it); grow the roi or crop the points with Graph.crop."
                )

    def _set(
        self,
        spec: GraphSpec,
        ids: np.ndarray,
        locations: np.ndarray,
        attributes: dict[str, np.ndarray],
        edges: np.ndarray,
        edge_attributes: dict[str, np.ndarray],
    ) -> None:
        self.spec, self.ids, self.locations, self.attributes = spec, ids, locations, attributes
        self._edges, self.edge_attributes = edges, edge_attributes
        self._rows: dict[int, int] | None = None
        self._edge_rows: dict[tuple[int, int], int] | None = None
        self._clean = True  # no point moved or removed through the Node/Edge API since it was made
        self._shared = False  # columns shared with another Graph (crop to the same ROI): copy before writing

    @classmethod
    def _new(
        cls,
        spec: GraphSpec,
        ids: np.ndarray,
        locations: np.ndarray,
        attributes: dict[str, np.ndarray],
        edges: np.ndarray,
        edge_attributes: dict[str, np.ndarray],
    ) -> Graph:
        new = object.__new__(cls)
        new._set(spec, ids, locations, attributes, edges, edge_attributes)
        return new

    # -- columns ---------------------------------------------------------------------------------
    @property
    def roi(self) -> Roi:
        assert self.spec.roi is not None
        return self.spec.roi

    @property
    def edges(self) -> EdgeArray:
        """The (M, 2) int64 array of id pairs; iterating it yields :class:`Edge` objects."""
        view = self._edges.view(EdgeArray)
        view._graph = self
        return view

    @edges.setter
    def edges(self, value: Any) -> None:
        e = _pairs(value)
        if len(e) != len(self._edges):
            self.edge_attributes = {}
        self._edges, self._edge_rows, self._shared = e, None, False

    @property
    def directed(self) -> bool:
        """``spec.directed``; True when the spec leaves it open (gunpowder's default)."""
        return self.spec.directed is not False

    def __len__(self) -> int:
        return len(self.ids)

    def num_vertices(self) -> int:
        return len(self.ids)

    def num_edges(self) -> int:
        return len(self._edges)

    def subset(self, keep: np.ndarray, spec: GraphSpec | None = None, locations: np.ndarray | None = None) -> Graph:
        """A new graph with the points where ``keep`` is True (optionally moved / re-specced).

        Edges between kept points stay. The caller vouches that the result's points lie in its ROI.
        """
        ids = self.ids[keep]
        loc = (self.locations if locations is None else locations)[keep]
        attrs = {k: v[keep] for k, v in self.attributes.items()}
        e = self._edges
        if len(e):
            edge_keep = np.isin(e, ids).all(axis=1)
            e = e[edge_keep]
            eattrs = {k: v[edge_keep] for k, v in self.edge_attributes.items()}
        else:
            eattrs = {k: v[:0] for k, v in self.edge_attributes.items()}
        return Graph._new((spec or self.spec).copy(), ids, loc, attrs, e, eattrs)

    def _edge_row_pairs(self) -> np.ndarray:
        """(M, 2) row indices of the edges' ends."""
        order = np.argsort(self.ids, kind="stable")
        return order[np.searchsorted(self.ids, self._edges, sorter=order)]

    def _select(self, keep: np.ndarray, edge_keep: np.ndarray, spec: GraphSpec) -> Graph:
        return Graph._new(
            spec,
            self.ids[keep],
            self.locations[keep],
            {k: v[keep] for k, v in self.attributes.items()},
            self._edges[edge_keep],
            {k: v[edge_keep] for k, v in self.edge_attributes.items()},
        )

    def crop(self, roi: Roi) -> Graph:
        """The points inside ``roi``, the edges with an end inside, and their dangling outer ends.

        As gunpowder's ``Graph.crop``: an edge with one end inside ``roi`` stays, and so does its
        outer end (a *dangling* node, outside ``roi``); edges with both ends outside go. The new
        graph has ``spec.roi = roi``. Without edges this keeps exactly the points inside. Cropping
        to the graph's own ROI shares the columns until either graph changes them through the
        Node/Edge API (writing into ``graph.locations`` directly writes both).
        """
        if roi == self.spec.roi and self._clean:
            new = Graph._new(self.spec.copy(), self.ids, self.locations, self.attributes.copy(), self._edges,
                             self.edge_attributes.copy())  # fmt: skip
            new._shared = self._shared = True
            return new
        contained = inside(self.locations, roi)
        spec = self.spec.copy()
        spec.roi = roi
        if not len(self._edges):
            return self._select(contained, np.zeros(0, dtype=bool), spec)
        rows = self._edge_row_pairs()
        ends_in = contained[rows]
        edge_keep = ends_in[:, 0] | ends_in[:, 1]
        keep = contained.copy()
        keep[rows[edge_keep].ravel()] = True
        return self._select(keep, edge_keep, spec)

    def trim(self, roi: Roi) -> Graph:
        """A copy whose points all lie in ``roi``: dangling ends are moved onto the ROI's border.

        As gunpowder's ``Graph.trim``: for every edge with exactly one end inside ``roi``, a new
        *temporary* node (a copy of the outer end's attributes, ``temporary=True``, new ids
        counting up from the largest id of the points inside and the ends of their edges) is put
        where the edge leaves ``roi`` (just inside the upper border), and joined to the inner end
        in the edge's direction, without edge attributes; no node is added when that point is
        the inner end itself. Then every point outside ``roi`` goes. ``spec`` is kept (crop first
        to change it: ``graph.crop(roi).trim(roi)``).
        """
        contained = inside(self.locations, roi)
        if not len(self._edges):
            return self._select(contained, np.zeros(0, dtype=bool), self.spec.copy())
        rows = self._edge_row_pairs()
        ends_in = contained[rows]
        touching = ends_in[:, 0] | ends_in[:, 1]
        crossing = ends_in[:, 0] ^ ends_in[:, 1]
        known = np.concatenate([self.ids[contained], self._edges[touching].ravel()])
        next_id = int(known.max()) + 1 if len(known) else 0
        u_in = ends_in[crossing, 0]
        in_rows = np.where(u_in, rows[crossing, 0], rows[crossing, 1])
        out_rows = np.where(u_in, rows[crossing, 1], rows[crossing, 0])
        border = _exit_points(self.locations[in_rows], self.locations[out_rows], roi)
        new = ~np.isclose(border, self.locations[in_rows]).all(axis=1)
        kept = self._select(contained, ends_in[:, 0] & ends_in[:, 1], self.spec.copy())
        k = int(new.sum())
        if not k:
            return kept
        new_ids = np.arange(next_id, next_id + k, dtype=np.int64)
        sources = out_rows[new]
        n = len(kept)
        attrs = {}
        for name in dict.fromkeys([*self.attributes, "temporary"]):
            if name == "temporary":
                values: list[Any] = [True] * k
            elif name in self.attributes:
                values = [copy_module.deepcopy(self.attributes[name][r]) for r in sources]
            else:
                values = [MISSING] * k
            column = kept.attributes.get(name)
            if name == "temporary" and column is None:
                column = np.zeros(n, dtype=bool)
            attrs[name] = _append(column, n, values)
        inner = self.ids[in_rows[new]]
        pairs = np.where(u_in[new][:, None], np.stack([inner, new_ids], 1), np.stack([new_ids, inner], 1))
        m = len(kept._edges)
        eattrs = {name: _append(col, m, [MISSING] * k) for name, col in kept.edge_attributes.items()}
        return Graph._new(
            kept.spec,
            np.concatenate([kept.ids, new_ids]),
            np.concatenate([kept.locations, border[new]]),
            attrs,
            np.concatenate([kept._edges, pairs]),
            eattrs,
        )

    def copy(self) -> Graph:
        """A deep copy: columns copied (object columns deep-copied)."""
        return Graph._new(
            self.spec.copy(),
            self.ids.copy(),
            self.locations.copy(),
            {k: _copy_column(v) for k, v in self.attributes.items()},
            self._edges.copy(),
            {k: _copy_column(v) for k, v in self.edge_attributes.items()},
        )

    def shift(self, offset: Any) -> None:
        """Move every point by ``offset`` (in place, as gunpowder's ``Graph.shift``)."""
        self._own()
        self._clean = False
        self.locations += np.asarray(offset, dtype=np.float64)

    # -- gunpowder's object API ------------------------------------------------------------------
    def _own(self) -> None:
        """Copy columns shared with another graph before writing into them."""
        if self._shared:
            self.ids, self.locations, self._edges = self.ids.copy(), self.locations.copy(), self._edges.copy()
            self.attributes = {k: _copy_column(v) for k, v in self.attributes.items()}
            self.edge_attributes = {k: _copy_column(v) for k, v in self.edge_attributes.items()}
            self._shared = False

    def _row(self, node_id: Any) -> int:
        if self._rows is None:
            self._rows = dict(zip(self.ids.tolist(), range(len(self.ids)), strict=True))
        try:
            return self._rows[int(node_id.id if isinstance(node_id, Node) else node_id)]
        except KeyError:
            raise KeyError(f"Graph: no node with id {node_id}") from None

    def _edge_row(self, pair: Any) -> int:
        if self._edge_rows is None:
            self._edge_rows = {}
            for i, (u, v) in enumerate(self._edges.tolist()):
                self._edge_rows.setdefault((u, v), i)
                if not self.directed:
                    self._edge_rows.setdefault((v, u), i)
        u, v = pair
        try:
            return self._edge_rows[int(u), int(v)]
        except KeyError:
            raise KeyError(f"Graph: no edge ({u}, {v})") from None

    @property
    def nodes(self) -> Iterator[Node]:
        """The points as :class:`Node` views, in row order (setting a location writes ``locations``)."""
        return (Node._view(self, i) for i in self.ids.tolist())

    def node(self, id: int) -> Node:
        """The node with ``id`` (a view); KeyError if there is none."""
        self._row(id)
        return Node._view(self, int(id))

    def edge(self, id: tuple[int, int]) -> Edge:
        """The edge ``(u, v)`` (either direction for an undirected graph); KeyError if there is none."""
        self._edge_row(id)
        u, v = id
        return Edge(int(u), int(v), _RowAttrs(self, (int(u), int(v)), False))

    def contains(self, node_id: int) -> bool:
        """Whether the graph has a node with ``node_id``."""
        try:
            self._row(node_id)
        except KeyError:
            return False
        return True

    def successors(self, node: Node | int) -> Iterator[int]:
        """Ids of the ends of the edges leaving ``node`` (all its neighbours if undirected)."""
        if not self.directed:
            return self._neighbor_ids(node)
        node_id = self.ids[self._row(node)]
        return iter(dict.fromkeys(self._edges[self._edges[:, 0] == node_id, 1].tolist()))

    def predecessors(self, node: Node | int) -> Iterator[int]:
        """Ids of the starts of the edges entering ``node`` (all its neighbours if undirected)."""
        if not self.directed:
            return self._neighbor_ids(node)
        node_id = self.ids[self._row(node)]
        return iter(dict.fromkeys(self._edges[self._edges[:, 1] == node_id, 0].tolist()))

    def _neighbor_ids(self, node: Node | int) -> Iterator[int]:
        node_id = self.ids[self._row(node)]
        e = self._edges
        touching = (e == node_id).any(axis=1)
        other = np.where(e[touching, 0] == node_id, e[touching, 1], e[touching, 0])
        return iter(dict.fromkeys(other.tolist()))

    def neighbors(self, node: Node | int) -> Iterator[Node]:
        """Node views of the neighbours: successors then predecessors if directed, as gunpowder."""
        ids = [*self.successors(node), *self.predecessors(node)] if self.directed else [*self._neighbor_ids(node)]
        return (Node._view(self, i) for i in ids)

    def add_node(self, node: Node) -> None:
        """Add ``node`` (its location and attributes are copied into the columns).

        A node with the same id gets the new location, and the new values of the attributes
        ``node`` has (the others stay), as in gunpowder.
        """
        self._own()
        self._clean = False
        attrs = dict(node.attrs)
        location = np.asarray(attrs.pop("location"), dtype=np.float64)
        node_id = int(attrs.pop("id"))
        if attrs.get("temporary") is False and "temporary" not in self.attributes:
            del attrs["temporary"]
        if self.contains(node_id):
            row = self._row(node_id)
            self.locations[row] = location
            for name, value in attrs.items():
                _set_cell(self.attributes, name, len(self), row, value)
            return
        dims = self.locations.shape[1]
        if location.shape != (dims,):
            raise ConfigError(f"Graph: node {node_id} has a location of shape {location.shape}, expected ({dims},).")
        n = len(self)
        columns = {}
        for name in dict.fromkeys([*self.attributes, *attrs]):
            column = self.attributes.get(name)
            if name == "temporary" and column is None:
                column = np.zeros(n, dtype=bool)
            columns[name] = _append(column, n, [attrs.get(name, MISSING)])
        self.ids = np.append(self.ids, np.int64(node_id))
        self.locations = np.concatenate([self.locations, location[None]])
        self.attributes = columns
        self._rows = None

    def remove_node(self, node: Node | int, retain_connectivity: bool = False) -> None:
        """Remove ``node`` and its edges.

        With ``retain_connectivity``, first join every predecessor to every successor (a -> b -> c
        becomes a -> c), as gunpowder does.
        """
        node_id = int(node.id if isinstance(node, Node) else node)
        row = self._row(node_id)
        if retain_connectivity:
            preds, succs = list(self.predecessors(node_id)), list(self.successors(node_id))
            for p in preds:
                for s in succs:
                    if p != s:
                        self.add_edge(Edge(p, s))
        self._own()
        self._clean = False
        keep = np.ones(len(self), dtype=bool)
        keep[row] = False
        edge_keep = ~(self._edges == node_id).any(axis=1)
        self.ids, self.locations = self.ids[keep], self.locations[keep]
        self.attributes = {k: v[keep] for k, v in self.attributes.items()}
        self._edges = self._edges[edge_keep]
        self.edge_attributes = {k: v[edge_keep] for k, v in self.edge_attributes.items()}
        self._rows = self._edge_rows = None

    def add_edge(self, edge: Edge | tuple[int, int]) -> None:
        """Add the edge ``(u, v)``; an existing one (either direction if undirected) gets its attributes updated."""
        u, v = (int(x) for x in edge)
        attrs = dict(edge.attrs) if isinstance(edge, Edge) else {}
        for end in (u, v):
            if not self.contains(end):
                raise ConfigError(f"Graph: cannot add the edge ({u}, {v}): there is no node {end}; add it first.")
        self._own()
        try:
            row = self._edge_row((u, v))
        except KeyError:
            m = len(self._edges)
            self.edge_attributes = {
                name: _append(self.edge_attributes.get(name), m, [attrs.get(name, MISSING)])
                for name in dict.fromkeys([*self.edge_attributes, *attrs])
            }
            self._edges = np.concatenate([self._edges, np.array([[u, v]], dtype=np.int64)])
            self._edge_rows = None
            self._clean = False
            return
        for name, value in attrs.items():
            _set_cell(self.edge_attributes, name, len(self._edges), row, value)

    def remove_edge(self, edge: Edge | tuple[int, int]) -> None:
        """Remove the edge ``(u, v)`` (either direction if undirected); KeyError if there is none."""
        u, v = (int(x) for x in edge)
        row = self._edge_row((u, v))
        self._own()
        self._clean = False
        keep = np.ones(len(self._edges), dtype=bool)
        keep[row] = False
        self._edges = self._edges[keep]
        self.edge_attributes = {k: c[keep] for k, c in self.edge_attributes.items()}
        self._edge_rows = None

    # -- networkx ------------------------------------------------------------------------------
    def to_nx_graph(self) -> Any:
        """A networkx ``DiGraph`` (``Graph`` if undirected) with copies of the attributes.

        Node attributes: ``id``, ``location`` (a float64 array), ``temporary`` and the
        attribute columns; edge attributes: the edge attribute columns.
        """
        import networkx as nx

        g = nx.DiGraph() if self.directed else nx.Graph()
        for i, node_id in enumerate(self.ids.tolist()):
            data = {
                name: copy_module.deepcopy(_cell(c[i])) for name, c in self.attributes.items() if c[i] is not MISSING
            }
            data["temporary"] = bool(data.get("temporary", False))
            g.add_node(node_id, id=node_id, location=self.locations[i].copy(), **data)
        for j, (u, v) in enumerate(self._edges.tolist()):
            data = {name: copy_module.deepcopy(_cell(c[j])) for name, c in self.edge_attributes.items()}
            g.add_edge(u, v, **{k: x for k, x in data.items() if x is not MISSING})
        return g

    @classmethod
    def from_nx_graph(cls, graph: Any, spec: GraphSpec) -> Graph:
        """A Graph from a networkx graph whose nodes have a ``location`` attribute.

        ``spec.directed`` defaults to ``graph.is_directed()``; the node key is the id (unless
        the node has an ``id`` attribute).
        """
        if spec.directed is None:
            spec = spec.copy()
            spec.directed = graph.is_directed()
        nodes = []
        for key, data in graph.nodes(data=True):
            if "location" not in data:
                raise ConfigError(f"Graph.from_nx_graph: node {key} has no 'location' attribute.")
            attrs = copy_module.deepcopy(dict(data))
            nodes.append(Node(attrs.pop("id", key), attrs.pop("location"), attrs.pop("temporary", False), attrs))
        edges = [Edge(u, v, copy_module.deepcopy(dict(data))) for u, v, data in graph.edges(data=True)]
        return cls(nodes, edges, spec)

    # -- pickling and printing -------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "ids": self.ids,
            "locations": self.locations,
            "attributes": self.attributes,
            "edges": self._edges,
            "edge_attributes": self.edge_attributes,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._set(
            state["spec"],
            state["ids"],
            state["locations"],
            state["attributes"],
            state["edges"],
            state["edge_attributes"],
        )

    def __repr__(self) -> str:
        return f"Graph({len(self)} points, {len(self._edges)} edges, roi={self.spec.roi})"


def _columns_of(
    nodes: list[Node], edges: Iterable[Any], undirected: bool, dims: int
) -> tuple[list[int], np.ndarray, dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]:
    """The columns of gunpowder-style ``nodes`` and ``edges`` (later duplicates update earlier ones)."""
    merged: dict[int, dict[str, Any]] = {}
    for node in nodes:
        if not isinstance(node, Node):
            raise ConfigError(f"Graph: nodes must all be Node objects, got {type(node).__name__}.")
        merged.setdefault(int(node.id), {}).update(node.attrs)
    ids = list(merged)
    locations = np.array([np.asarray(a["location"], dtype=np.float64) for a in merged.values()]).reshape(-1, dims)
    names = dict.fromkeys(k for a in merged.values() for k in a if k not in ("id", "location"))
    attributes = {}
    for name in names:
        values = [a.get(name, MISSING) for a in merged.values()]
        if name == "temporary":
            if not any(values):
                continue
            values = [bool(v) if v is not MISSING else False for v in values]
        attributes[name] = _column(values)
    pairs: dict[tuple[int, int], dict[str, Any]] = {}
    for edge in edges:
        u, v = (int(x) for x in edge)
        key = (v, u) if undirected and (v, u) in pairs else (u, v)
        pairs.setdefault(key, {}).update(edge.attrs if isinstance(edge, Edge) else {})
    enames = dict.fromkeys(k for a in pairs.values() for k in a)
    edge_attributes = {name: _column([a.get(name, MISSING) for a in pairs.values()]) for name in enames}
    return ids, locations, attributes, np.array(list(pairs), dtype=np.int64).reshape(-1, 2), edge_attributes


def _exit_points(inner: np.ndarray, outer: np.ndarray, roi: Roi) -> np.ndarray:
    """Where the segments from ``inner`` (inside ``roi``) to ``outer`` leave ``roi``, just inside its upper border."""
    begin = np.array([-np.inf if a is None else a[0] for a in roi.bounds()], dtype=np.float64)
    end = np.array([np.inf if a is None else a[1] for a in roi.bounds()], dtype=np.float64)
    offset = outer - inner
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(offset > 0, (end - inner) / offset, np.where(offset < 0, (begin - inner) / offset, np.inf))
    s = np.clip(t.min(axis=1, initial=np.inf), 0.0, 1.0)
    points = inner + s[:, None] * offset
    return np.clip(points, begin, np.nextafter(end, -np.inf))


def inside(locations: np.ndarray, roi: Roi) -> np.ndarray:
    """Boolean mask of the rows of ``locations`` with ``begin <= p < end`` on every bounded axis."""
    keep = np.ones(len(locations), dtype=bool)
    for d, axis in enumerate(roi.bounds()):
        if axis is not None:
            keep &= (locations[:, d] >= axis[0]) & (locations[:, d] < axis[1])
    return keep


__all__ = ["MISSING", "Edge", "EdgeArray", "Graph", "Node", "inside"]
