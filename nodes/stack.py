"""Stack: a batch dimension filled by independent requests."""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.errors import BatchContractError, RequestError
from flowgraph.graph import Graph
from flowgraph.observe import Record
from flowgraph.provider import BatchFilter, Negotiation
from flowgraph.request import BatchRequest
from flowgraph.rng import derive_seed, seed_stream
from flowgraph.validate import number

#: the attributes a stacked graph gets: the repetition of each point and its id there
STACK_INDEX = "stack_index"
ORIGINAL_ID = "original_id"


def repetition_seeds(seed: int, num_repetitions: int) -> list[int]:
    """The seeds of the repetitions of a request with ``seed``: ``derive_seed(seed, i)``."""
    return [derive_seed(seed, i) for i in range(num_repetitions)]


def upcoming_seeds(seed: int, num_repetitions: int) -> Iterable[int]:
    """The repetition seeds of the requests with seeds ``seed + 1, seed + 2, ...`` in order."""
    for following in seed_stream(seed):
        yield from repetition_seeds(following, num_repetitions)


def stack_arrays(arrays: list[Array]) -> Array:
    """One Array with a new leading axis, ``arrays[i]`` at index ``i`` (same spec as the first)."""
    first = arrays[0]
    for i, a in enumerate(arrays[1:], 1):
        if a.data.shape != first.data.shape or a.spec.roi != first.spec.roi:
            raise BatchContractError(
                f"Stack: repetition {i} has shape {a.data.shape} at {a.spec.roi}, repetition 0 {first.data.shape} at "
                f"{first.spec.roi}; the upstream pipeline must deliver the same shape for every seed."
            )
    return Array.trusted(np.stack([a.data for a in arrays]), first.spec)


def stack_graphs(graphs: list[Graph]) -> Graph:
    """The points of all ``graphs`` in one Graph (same spec as the first).

    Points are renumbered ``0 .. N-1`` (ids of different repetitions may coincide); each point
    gets the attributes ``stack_index`` (its repetition) and ``original_id`` (its id there), and
    edges follow their points.
    """
    names = set().union(*(g.attributes for g in graphs))
    clash = names & {STACK_INDEX, ORIGINAL_ID}
    if clash:
        raise BatchContractError(f"Stack: graphs already have the attribute {sorted(clash)[0]!r}, which Stack adds.")
    counts = [len(g) for g in graphs]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    edges = []
    for g, start in zip(graphs, starts):
        if len(g.edges):
            order = np.argsort(g.ids, kind="stable")
            position = order[np.searchsorted(g.ids, g.edges, sorter=order)]
            edges.append(position + start)
    attributes: dict[str, np.ndarray] = {}
    for name in sorted(names):
        parts = []
        for i, g in enumerate(graphs):
            if name in g.attributes:
                parts.append(g.attributes[name])
            elif len(g):
                raise BatchContractError(
                    f"Stack: repetition {i} of a graph lacks the point attribute {name!r} that another repetition has."
                )
        attributes[name] = np.concatenate(parts)
    attributes[STACK_INDEX] = np.repeat(np.arange(len(graphs), dtype=np.int64), counts)
    attributes[ORIGINAL_ID] = np.concatenate([g.ids for g in graphs])
    spec = graphs[0].spec.copy()
    dims = spec.roi.dims if spec.roi is not None else 0
    return Graph(
        np.arange(sum(counts), dtype=np.int64),
        np.concatenate([g.locations for g in graphs]).reshape(-1, dims),
        spec,
        attributes,
        np.concatenate(edges) if edges else None,
    )


def stack_batches(batches: list[Batch]) -> Batch:
    """Arrays stacked along a new leading axis, graphs concatenated (see ``stack_graphs``)."""
    out = Batch()
    for key in batches[0]:
        values = [b[key] for b in batches]
        if isinstance(values[0], Array):
            out[key] = stack_arrays(values)  # type: ignore[arg-type]
        else:
            out[key] = stack_graphs(values)  # type: ignore[arg-type]
    return out


class Stack(BatchFilter):
    """Request ``num_repetitions`` independent batches and stack them along a new leading axis.

    Args:
        num_repetitions: the size of the batch dimension.

    Requires: whatever is requested.

    Updates: every requested array gets a leading axis of length ``num_repetitions`` (spec,
    ROI and voxel size unchanged: leading axes are non-spatial). A requested graph holds the
    points of all repetitions, renumbered ``0 .. N-1``, with the point attributes
    ``stack_index`` (the repetition) and ``original_id`` (the id in that repetition).

    Request: repetition ``i`` is the caller's request with seed
    ``flowgraph.rng.derive_seed(seed, i)``, so the repetitions are independent and the stack is
    reproducible. With a PreCache directly upstream, all repetitions are handed to its workers
    at once and computed in parallel, and the repetitions of the next seeds are prefetched.

    Randomness: none of its own; the derived seeds decide the repetitions.

    Raises:
        ConfigError: ``num_repetitions`` is not a positive integer.
        BatchContractError: the repetitions differ in shape, or their graphs in attributes.

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> source = fg.ArraySource(raw, fg.Array(np.arange(100.0).reshape(10, 10),
        ...                         fg.ArraySpec(roi=fg.Roi((0, 0), (10, 10)), voxel_size=(1, 1))))
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request.add(raw, (4, 4))
        >>> with fg.build(source + fg.RandomLocation() + fg.Stack(3)) as p:
        ...     p.request_batch(request)[raw].data.shape
        (3, 4, 4)
    """

    def __init__(self, num_repetitions: int) -> None:
        self.num_repetitions = number("Stack", "num_repetitions", num_repetitions, 1, integer=True)

    def setup(self) -> None:
        for key in list(self.spec):
            self.updates(key)

    def negotiate(self, request: BatchRequest) -> Negotiation:
        """One request per repetition, each with its derived seed."""
        if request.random_seed is None:
            raise RequestError(
                f"{self.name}: the request has no random_seed; request batches through a built pipeline."
            )
        seeds = repetition_seeds(request.random_seed, self.num_repetitions)
        return Negotiation([[request.with_seed(s) for s in seeds]])

    def provide(self, request: BatchRequest) -> Batch:
        if request.random_seed is None:
            raise RequestError(
                f"{self.name}: the request has no random_seed; request batches through a built pipeline."
            )
        requests = self.negotiate(request).upstream[0]
        # all repetitions at once: a PreCache upstream computes them in parallel and prefetches the next
        batches = self.upstream.request_batches(requests, upcoming_seeds(request.random_seed, self.num_repetitions))
        t0 = time.perf_counter()
        out = stack_batches(batches)
        out.records = [record for b in batches for record in b.records]  # timings, params, steps of each
        out.records.append(Record(self.name, self._position, "process", time.perf_counter() - t0))
        return out
