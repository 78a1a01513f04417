"""How to exercise each node of ``flowgraph.nodes.__all__`` in the contract suite.

Every node registers one :class:`Case`. ``test_contract.py`` runs the same checks over all of
them (and fails for a node without a case):

- the pipeline builds on small in-memory data and delivers the request: keys, ROIs, shapes and
  dtypes as requested (the base class checks, the suite re-checks);
- same seed -> identical batch; the caller's request is not mutated;
- for nodes with a probability ``p``: ``p=0`` gives exactly the batch of the pipeline without the
  node;
- each bad argument raises ConfigError whose message names the parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import flowgraph as fg

RAW = fg.ArrayKey("RAW")
LABELS = fg.ArrayKey("LABELS")
MASK = fg.ArrayKey("MASK")
POINTS = fg.GraphKey("POINTS")

VOXEL_SIZE = (4, 2, 2)
SHAPE = (12, 40, 40)  # voxels


def coordinate_volume(shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    """``value = z * 10000 + y * 100 + x``: every voxel names its own position."""
    grids = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    weights = [10 ** (2 * (len(shape) - 1 - d)) for d in range(len(shape))]
    return sum(g * w for g, w in zip(grids, weights)).astype(np.int64)


def sources(offset: tuple[int, ...] = (0, 0, 0)) -> fg.Pipeline:
    """RAW (float32 in [0, 1]), LABELS (uint64 ids), MASK (uint8) and POINTS on one grid."""
    coords = coordinate_volume()
    roi = fg.Roi(offset, tuple(s * v for s, v in zip(SHAPE, VOXEL_SIZE)))
    raw = (coords % 997).astype(np.float32) / 997.0
    labels = (coords // 1000 + 1).astype(np.uint64)
    mask = np.ones(SHAPE, np.uint8)
    mask[:, :5] = 0
    rng = np.random.default_rng(0)
    locations = np.asarray(roi.begin) + rng.uniform(0, 1, (20, 3)) * np.asarray(roi.shape)
    graph = fg.Graph(np.arange(20), locations, fg.GraphSpec(roi=roi))

    def array(data: np.ndarray, interpolatable: bool) -> fg.Array:
        return fg.Array(data, fg.ArraySpec(roi=roi, voxel_size=VOXEL_SIZE, interpolatable=interpolatable))

    return (
        fg.ArraySource(RAW, array(raw, True)),
        fg.ArraySource(LABELS, array(labels, False)),
        fg.ArraySource(MASK, array(mask, False)),
        GraphSource(POINTS, graph),
    ) + fg.MergeProvider()


class GraphSource(fg.BatchProvider):
    """A test-only source of a fixed in-memory graph."""

    def __init__(self, key: fg.GraphKey, graph: fg.Graph) -> None:
        self.key = key
        self.graph = graph

    def setup(self) -> None:
        self.provides(self.key, self.graph.spec.copy())

    def provide(self, request: fg.BatchRequest) -> fg.Batch:
        return fg.Batch({self.key: self.graph.crop(request[self.key].roi)})


def default_request(seed: int = 0) -> fg.BatchRequest:
    request = fg.BatchRequest(random_seed=seed)
    request[RAW] = fg.ArraySpec(roi=fg.Roi((8, 20, 20), (24, 40, 40)))
    request[LABELS] = fg.ArraySpec(roi=fg.Roi((12, 30, 30), (16, 20, 20)))
    request[MASK] = fg.ArraySpec(roi=fg.Roi((12, 30, 30), (16, 20, 20)))
    request[POINTS] = fg.GraphSpec(roi=fg.Roi((8, 20, 20), (24, 40, 40)))
    return request


@dataclass
class Case:
    """How to test one node.

    Attributes:
        make: ``make(**overrides)`` returns a fresh instance of the node (overrides go to its
            constructor, e.g. ``p=0``).
        upstream: returns a fresh upstream pipeline the node is appended to; ``None`` for
            sources and joins, whose ``make()`` returns the complete pipeline.
        request: returns the request to make (given a seed).
        has_p: the node takes a probability ``p`` (then ``p=0`` must be the identity).
        bad_args: ``(overrides, parameter name)`` pairs; ``make(**overrides)`` must raise a
            ConfigError naming the parameter.
    """

    make: Callable[..., fg.BatchProvider]
    upstream: Callable[[], Any] | None = sources
    request: Callable[[int], fg.BatchRequest] = default_request
    has_p: bool = False
    bad_args: list[tuple[dict[str, Any], str]] = field(default_factory=list)


CASES: dict[str, Case] = {}


def register(name: str, case: Case) -> None:
    CASES[name] = case
