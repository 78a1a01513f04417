"""GraphSource: serve an in-memory fg.Graph, or a graph provider as gunpowder's GraphSource does."""

from __future__ import annotations

from typing import Any

import numpy as np

from flowgraph.batch import Batch
from flowgraph.errors import ConfigError
from flowgraph.graph import Graph
from flowgraph.keys import GraphKey
from flowgraph.provider import BatchProvider
from flowgraph.request import BatchRequest
from flowgraph.specs import GraphSpec
from flowgraph.validate import graph_key


class GraphSource(BatchProvider):
    """Provide ``key`` from an in-memory :class:`~flowgraph.Graph` (e.g. synapse locations).

    Also takes gunpowder's form ``GraphSource(graph_provider, graph_key, graph_spec=None)``: a
    provider (such as daisy's ``SharedGraphProvider``) that answers ``provider[roi]`` with a
    networkx graph whose nodes carry their location in ``provider.position_attribute``, and has
    ``directed``; ``graph_spec`` defaults to an unbounded ROI (the ROI's dimensions taken from the
    first request).

    Args:
        key: the GraphKey to provide.
        graph: an ``fg.Graph``; its ``spec.roi`` is the region the points are offered in.

    Requires: nothing (a source).

    Provides: ``key`` with ``graph.spec``.

    Request: delivers the points inside the requested ROI (and the edges between them) as a copy,
    so downstream nodes may move them.

    Randomness: none.

    Raises:
        ConfigError: ``key`` is not a GraphKey or ``graph`` not a Graph.

    Example:
        >>> import flowgraph as fg
        >>> synapses = fg.GraphKey("SYNAPSES")
        >>> graph = fg.Graph([1, 2], [[10.0, 10.0], [90.0, 50.0]], fg.GraphSpec(roi=fg.Roi((0, 0), (100, 100))))
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[synapses] = fg.GraphSpec(roi=fg.Roi((0, 0), (50, 50)))
        >>> with fg.build(fg.GraphSource(synapses, graph)) as p:
        ...     p.request_batch(request)[synapses].ids.tolist()
        [1]
    """

    def __init__(self, key: Any, graph: Any, graph_spec: GraphSpec | None = None) -> None:
        self.provider: Any = None
        if not isinstance(key, GraphKey) and isinstance(graph, GraphKey):  # gunpowder's order
            key, self.provider, graph = graph, key, None
            if not callable(getattr(self.provider, "__getitem__", None)):
                raise ConfigError(
                    f"GraphSource({key}): graph_provider must answer provider[roi] with a networkx graph, "
                    f"got {type(self.provider).__name__}."
                )
            if graph_spec is not None and not isinstance(graph_spec, GraphSpec):
                raise ConfigError(f"GraphSource({key}): graph_spec must be a GraphSpec, got {graph_spec!r}.")
            self.key, self.graph, self.graph_spec = key, None, graph_spec
            return
        self.key = graph_key("GraphSource", "key", key)
        self.graph_spec = None
        if not isinstance(graph, Graph):
            raise ConfigError(
                f"GraphSource({key}): graph must be an fg.Graph, got {type(graph).__name__}; "
                "build one with fg.Graph(ids, locations, fg.GraphSpec(roi=...))."
            )
        self.graph = graph

    def setup(self) -> None:
        if self.provider is not None:
            directed = getattr(self.provider, "directed", None)
            spec = self.graph_spec.copy() if self.graph_spec is not None else GraphSpec(directed=directed)
            if spec.directed is None:
                spec.directed = directed
            self.provides(self.key, spec)
            return
        assert self.graph is not None
        self.provides(self.key, self.graph.spec.copy())

    def provide(self, request: BatchRequest) -> Batch:
        roi = request[self.key].roi
        if self.provider is not None:
            return Batch({self.key: self._from_provider(request[self.key])})
        assert self.graph is not None
        graph = self.graph if roi is None else self.graph.crop(roi)
        return Batch({self.key: graph.subset(np.ones(len(graph), dtype=bool))})  # a copy: the batch owns it

    def _from_provider(self, spec: GraphSpec) -> Graph:
        """The provider's networkx graph of ``spec.roi``, its positions renamed to ``location``."""
        nx_graph = self.provider[spec.roi]
        position = getattr(self.provider, "position_attribute", "location")
        unplaced = [n for n, data in nx_graph.nodes(data=True) if data.get(position) is None]
        if position != "location" or unplaced:
            nx_graph = nx_graph.copy()
            nx_graph.remove_nodes_from(unplaced)  # ends of edges leaving the ROI, read without a position
            for _, data in nx_graph.nodes(data=True):
                data["location"] = data.pop(position)
        out = spec.copy()
        if out.directed is None:
            out.directed = self.spec[self.key].directed
        return (
            Graph.from_nx_graph(nx_graph, out).crop(spec.roi)
            if spec.roi is not None
            else Graph.from_nx_graph(nx_graph, out)
        )
