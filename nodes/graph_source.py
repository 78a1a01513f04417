"""GraphSource: serve an in-memory fg.Graph (points with attributes and edges)."""

from __future__ import annotations

import numpy as np

from flowgraph.batch import Batch
from flowgraph.errors import ConfigError
from flowgraph.graph import Graph
from flowgraph.keys import GraphKey
from flowgraph.provider import BatchProvider
from flowgraph.request import BatchRequest
from flowgraph.validate import graph_key


class GraphSource(BatchProvider):
    """Provide ``key`` from an in-memory :class:`~flowgraph.Graph` (e.g. synapse locations).

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

    def __init__(self, key: GraphKey, graph: Graph) -> None:
        self.key = graph_key("GraphSource", "key", key)
        if not isinstance(graph, Graph):
            raise ConfigError(
                f"GraphSource({key}): graph must be an fg.Graph, got {type(graph).__name__}; "
                "build one with fg.Graph(ids, locations, fg.GraphSpec(roi=...))."
            )
        self.graph = graph

    def setup(self) -> None:
        self.provides(self.key, self.graph.spec.copy())

    def provide(self, request: BatchRequest) -> Batch:
        roi = request[self.key].roi
        graph = self.graph if roi is None else self.graph.crop(roi)
        return Batch({self.key: graph.subset(np.ones(len(graph), dtype=bool))})  # a copy: the batch owns it
