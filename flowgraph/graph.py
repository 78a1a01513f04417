"""Graph: points with attributes and edges, stored as columns of numpy arrays.

Points carry world coordinates (float64); every geometric node transforms ``locations`` as a
whole, never point by point.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from flowgraph.errors import ConfigError
from flowgraph.roi import Roi
from flowgraph.specs import GraphSpec


class Graph:
    """Points (``ids``, ``locations``, per-point ``attributes``) and ``edges`` between ids.

    Args:
        ids: (N,) integer ids, unique.
        locations: (N, D) world coordinates.
        spec: GraphSpec with the ROI the points lie in.
        attributes: name -> array with N rows.
        edges: (M, 2) pairs of ids.

    Example:
        >>> g = Graph([1, 2], [[0.0, 0.0], [5.0, 5.0]], GraphSpec(roi=Roi((0, 0), (8, 8))), edges=[[1, 2]])
        >>> small = g.crop(Roi((0, 0), (4, 4)))
        >>> len(small), small.edges.shape
        (1, (0, 2))
    """

    __slots__ = ("attributes", "edges", "ids", "locations", "spec")

    def __init__(
        self,
        ids: np.ndarray | list[int],
        locations: np.ndarray | list[list[float]],
        spec: GraphSpec,
        attributes: Mapping[str, np.ndarray] | None = None,
        edges: np.ndarray | list[list[int]] | None = None,
    ) -> None:
        if not isinstance(spec, GraphSpec) or spec.roi is None:
            raise ConfigError("Graph: spec must be a GraphSpec with a roi.")
        ids_a = np.asarray(ids, dtype=np.int64).reshape(-1)
        dims = spec.roi.dims
        loc = np.asarray(locations, dtype=np.float64)
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
        e = np.asarray(edges if edges is not None else np.zeros((0, 2)), dtype=np.int64)
        if e.size == 0:
            e = np.zeros((0, 2), dtype=np.int64)
        if e.ndim != 2 or e.shape[1] != 2:
            raise ConfigError(f"Graph: edges must be pairs of ids, an (M, 2) array, got shape {e.shape}.")
        if not np.isin(e, ids_a).all():
            raise ConfigError("Graph: every edge must join two point ids of the graph.")
        self.ids, self.locations, self.attributes, self.edges = ids_a, loc, attrs, e
        self.spec = spec.copy()
        outside = int((~inside(loc, spec.roi)).sum())
        if outside:
            raise ConfigError(
                f"Graph: {outside} of {len(ids_a)} points lie outside the roi {spec.roi}; "
                "grow the roi or crop the points with Graph.crop."
            )

    @property
    def roi(self) -> Roi:
        assert self.spec.roi is not None
        return self.spec.roi

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, keep: np.ndarray, spec: GraphSpec | None = None, locations: np.ndarray | None = None) -> Graph:
        """A new graph with the points where ``keep`` is True (optionally moved / re-specced)."""
        new = object.__new__(Graph)
        new.spec = (spec or self.spec).copy()
        new.ids = self.ids[keep]
        new.locations = (self.locations if locations is None else locations)[keep]
        new.attributes = {k: v[keep] for k, v in self.attributes.items()}
        new.edges = self.edges[np.isin(self.edges, new.ids).all(axis=1)]
        return new

    def crop(self, roi: Roi) -> Graph:
        """The points inside ``roi`` and the edges between them, with ``spec.roi = roi``."""
        if roi == self.spec.roi:
            return self
        return self.subset(inside(self.locations, roi), self.spec.with_roi(roi))

    def __repr__(self) -> str:
        return f"Graph({len(self)} points, {len(self.edges)} edges, roi={self.spec.roi})"


def inside(locations: np.ndarray, roi: Roi) -> np.ndarray:
    """Boolean mask of the rows of ``locations`` with ``begin <= p < end`` on every bounded axis."""
    keep = np.ones(len(locations), dtype=bool)
    for d, axis in enumerate(roi.bounds()):
        if axis is not None:
            keep &= (locations[:, d] >= axis[0]) & (locations[:, d] < axis[1])
    return keep


__all__ = ["Graph", "inside"]
