"""MergeProvider: join pipelines that provide different keys into one."""

from __future__ import annotations

from flowgraph.batch import Batch
from flowgraph.errors import SetupError
from flowgraph.keys import Key
from flowgraph.provider import BatchProvider, Negotiation
from flowgraph.request import BatchRequest
from flowgraph.rng import derive_seed


class MergeProvider(BatchProvider):
    """Provide the union of the keys of several upstream pipelines: ``(a, b) + MergeProvider()``.

    Requires: two or more upstream pipelines with disjoint keys.

    Provides: every key of every upstream, with its upstream spec.

    Request: each upstream receives the part of the request naming its keys, with a seed derived
    from the request's seed and the upstream's index, so identical branches draw differently.

    Randomness: none of its own.

    Raises:
        SetupError: fewer than two upstreams, or a key provided by more than one.

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> a, b = fg.ArrayKey("A"), fg.ArrayKey("B")
        >>> spec = fg.ArraySpec(roi=fg.Roi((0,), (3,)), voxel_size=(1,))
        >>> pipeline = (fg.ArraySource(a, fg.Array(np.zeros(3), spec)),
        ...             fg.ArraySource(b, fg.Array(np.ones(3), spec))) + fg.MergeProvider()
        >>> with fg.build(pipeline) as p:
        ...     sorted(map(str, p.spec))
        ['A', 'B']
    """

    max_inputs = None

    def setup(self) -> None:
        if len(self._upstream) < 2:
            raise SetupError(f"{self.name}: needs at least two upstream pipelines; use (a, b) + MergeProvider().")
        self._owner: dict[Key, int] = {}
        for index, upstream in enumerate(self._upstream):
            for key, spec in upstream.spec.items():
                if key in self._owner:
                    other = self._upstream[self._owner[key]].name
                    raise SetupError(
                        f"{self.name}: {key} is provided by both {other} and {upstream.name}; "
                        "rename one of the keys or use RandomProvider to pick one per batch."
                    )
                self._owner[key] = index
                self.provides(key, spec.copy())

    def negotiate(self, request: BatchRequest) -> Negotiation:
        """Each branch gets the requested keys it provides, with its own derived seed."""
        parts: list[list[BatchRequest]] = [[] for _ in self._upstream]
        seed = request.random_seed if request.random_seed is not None else 0
        for key, spec in request.items():
            index = self._owner[key]
            if not parts[index]:
                parts[index].append(BatchRequest(random_seed=derive_seed(seed, self._position, index)))
            parts[index][0][key] = spec
        return Negotiation(parts)

    def provide(self, request: BatchRequest) -> Batch:
        batch = Batch()
        for index, part in enumerate(self.negotiate(request).upstream):
            for sent in part:
                upstream_batch = self._upstream[index].request_batch(sent)
                batch.profiling.extend(upstream_batch.profiling)
                for key, value in upstream_batch.items():
                    batch[key] = value
        return batch
