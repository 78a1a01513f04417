"""RandomProvider: pick one of several upstream pipelines per request."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flowgraph import observe
from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.errors import ConfigError, SetupError
from flowgraph.keys import ArrayKey, Key
from flowgraph.provider import BatchProvider, Negotiation
from flowgraph.request import BatchRequest
from flowgraph.rng import derive_seed
from flowgraph.specs import ArraySpec
from flowgraph.validate import array_key, number


class RandomProvider(BatchProvider):
    """Deliver each request from one upstream, chosen at random: ``(a, b) + RandomProvider()``.

    Args:
        probabilities: one weight per upstream (normalized); uniform if None.
        random_provider_key: optional ArrayKey under which the chosen index is provided (a
            nonspatial int64 array).

    Requires: one or more upstream pipelines.

    Provides: the keys every upstream provides; each ROI is the intersection of the upstream
    ROIs, so any request valid here is valid for every upstream.

    Request: forwarded to the chosen upstream with a seed derived from the request's seed and the
    chosen index.

    Randomness: the choice is drawn from this node's generator.

    Raises:
        ConfigError: negative or all-zero ``probabilities``.
        SetupError: the number of probabilities does not match the upstreams, or the upstreams
            share no key.

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> spec = fg.ArraySpec(roi=fg.Roi((0,), (3,)), voxel_size=(1,))
        >>> sources = tuple(fg.ArraySource(raw, fg.Array(np.full(3, i), spec)) for i in range(2))
        >>> request = fg.BatchRequest(random_seed=3)
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((0,), (3,)))
        >>> with fg.build(sources + fg.RandomProvider(probabilities=[0, 1])) as p:
        ...     p.request_batch(request)[raw].data
        array([1, 1, 1])
    """

    max_inputs = None

    def __init__(
        self, probabilities: Sequence[float] | None = None, random_provider_key: ArrayKey | None = None
    ) -> None:
        if probabilities is not None:
            if isinstance(probabilities, (str, bytes)) or not isinstance(probabilities, Sequence):
                raise ConfigError(
                    f"RandomProvider: probabilities must be a sequence of weights, got {probabilities!r}."
                )
            weights = [number("RandomProvider", "probabilities", p, 0.0) for p in probabilities]
            if sum(weights) <= 0:
                raise ConfigError("RandomProvider: probabilities must not all be zero.")
            self.probabilities: list[float] | None = weights
        else:
            self.probabilities = None
        self.random_provider_key = array_key(
            "RandomProvider", "random_provider_key", random_provider_key, optional=True
        )

    def setup(self) -> None:
        n = len(self._upstream)
        if self.probabilities is not None and len(self.probabilities) != n:
            raise SetupError(
                f"{self.name}: got {len(self.probabilities)} probabilities for {n} upstream pipelines; give one each."
            )
        weights = np.asarray(self.probabilities or [1.0] * n, dtype=np.float64)
        self._p = weights / weights.sum()
        first = self._upstream[0].spec
        for key, spec in first.items():
            if all(key in u.spec for u in self._upstream[1:]):
                self._check_voxel_sizes(key)
                merged = spec.copy()
                for u in self._upstream[1:]:
                    other = u.spec[key].roi
                    if merged.roi is not None and other is not None:
                        merged = merged.with_roi(merged.roi.intersect(other))
                self.provides(key, merged)
        if not len(self.spec):
            raise SetupError(f"{self.name}: the upstream pipelines share no key; each must provide the requested keys.")
        if self.random_provider_key is not None:
            self.provides(self.random_provider_key, ArraySpec(nonspatial=True, dtype=np.dtype(np.int64)))

    def _check_voxel_sizes(self, key: Key) -> None:
        sizes = [getattr(u.spec[key], "voxel_size", None) for u in self._upstream]
        if len({s for s in sizes if s is not None}) > 1:
            branches = ", ".join(f"branch {i} ({u.name}): {s}" for i, (u, s) in enumerate(zip(self._upstream, sizes)))
            raise SetupError(
                f"{self.name}: {key} has different voxel sizes in its branches ({branches}); a batch must not "
                "change resolution with the branch drawn. Resample the branches to one voxel size or use separate keys."
            )

    def negotiate(self, request: BatchRequest) -> Negotiation:
        """The chosen branch gets the request (with its derived seed); the others get nothing."""
        # the draw: recorded and replayed by flowgraph.observe
        index: int = observe.draw(self, lambda: int(self.rng(request).choice(len(self._upstream), p=self._p)))
        upstream_request = BatchRequest(random_seed=derive_seed(request.random_seed or 0, self._position, index))
        for key, spec in request.items():
            if key != self.random_provider_key:
                upstream_request[key] = spec
        return Negotiation([[upstream_request] if i == index else [] for i in range(len(self._upstream))])

    def provide(self, request: BatchRequest) -> Batch:
        index, upstream_request = next((i, r[0]) for i, r in enumerate(self.negotiate(request).upstream) if r)
        batch = self._upstream[index].request_batch(upstream_request)
        if self.random_provider_key is not None and self.random_provider_key in request:
            batch[self.random_provider_key] = Array(np.array(index, dtype=np.int64), ArraySpec(nonspatial=True))
        return batch
