"""OneOf and SomeOf: apply one (or ``n``) of several filters per request, drawn from the seed.

How it works: the children form a fixed chain, in the order given (the first child's upstream
is the host's upstream, child ``i``'s upstream is child ``i - 1``), set up by the host as the
pipeline sets up its own nodes. Per request the host draws which children act, asks the top of
the chain for the batch and passes the others by (:func:`flowgraph.provider.passing_by`: a
passed-by filter hands the request to its upstream untouched). Every chosen child therefore
negotiates its own upstream request from what reaches it, exactly as it does in a pipeline, and
the host's ``negotiate`` walks the same chosen children to tell the pipeline picture what
reaches the host's upstream.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from flowgraph import observe
from flowgraph.batch import Batch
from flowgraph.errors import ConfigError, SetupError
from flowgraph.observe import Record
from flowgraph.provider import BatchFilter, BatchProvider, Negotiation, add_context, passing_by
from flowgraph.request import BatchRequest
from flowgraph.specs import ProviderSpec
from flowgraph.validate import number, probability

#: child ``i`` of the host at position ``P`` takes position ``P * CHILD_STRIDE + 1 + i``
CHILD_STRIDE = 1024


def _children(name: str, nodes: Any, owner: BatchFilter) -> list[BatchFilter]:
    if isinstance(nodes, BatchProvider) or not isinstance(nodes, Sequence) or isinstance(nodes, str):
        raise ConfigError(f"{name}: nodes must be a list of filters, got {nodes!r}.")
    children = list(nodes)
    if not children:
        raise ConfigError(f"{name}: nodes must hold at least one filter, got none.")
    if len(children) >= CHILD_STRIDE:
        raise ConfigError(f"{name}: nodes holds {len(children)} filters; at most {CHILD_STRIDE - 1} are supported.")
    seen: set[int] = set()
    for child in children:
        if not isinstance(child, BatchFilter):
            what = "a source or join" if isinstance(child, BatchProvider) else type(child).__name__
            raise ConfigError(
                f"{name}: nodes must hold filters (nodes with one upstream, such as augmentations), got {what} "
                f"{child!r}; put sources and pipelines before {name}."
            )
        if id(child) in seen:
            raise ConfigError(f"{name}: nodes holds {child.name} twice; create a second instance.")
        seen.add(id(child))
        host = child.__dict__.get("_one_of_host")
        if host is not None and host is not owner:
            raise ConfigError(
                f"{name}: {child.name} in nodes is already a child of another OneOf/SomeOf; create a new instance."
            )
        if child.nested_pipelines():
            raise ConfigError(
                f"{name}: {child.name} in nodes has a nested pipeline; put it before or after {name} instead."
            )
    for child in children:
        child.__dict__["_one_of_host"] = owner
    return children


class OneOf(BatchFilter):
    """Apply one of several filters per request, drawn from the request's seed (albumentations' OneOf).

    Args:
        nodes: the filters to choose from (augmentations and other nodes with one upstream),
            not used anywhere else. Each is set up on this node's upstream, so each checks its
            inputs and negotiates its own upstream request as it would in a pipeline.
        weights: one non-negative weight per node (normalized); uniform if None.
        p: probability that a node is applied at all (``p=0`` is the identity).

    Requires: what every node requires. A node must not provide new keys nor change a spec
    (dtype, voxel size, interpolatable) of what it updates: when it is not chosen, the batch
    would not be what this node announces.

    Updates: every key one of the nodes updates.

    Request: the request the chosen node sends upstream (ElasticAugment's grown ROI, or the
    request itself for IntensityAugment); the pipeline picture draws the chosen node's request.

    Randomness: the gate (``rng.random() < p``), then the choice, drawn from this node's
    generator (recorded and replayed by ``fg.observing("params")``/``fg.replaying``). The
    chosen node still applies its own ``p`` (set its ``p=1`` to always apply it once chosen, as
    albumentations does). Node ``i`` draws from position ``P * 1024 + 1 + i`` (``P``: this
    node's position in the pipeline), so its parameters do not depend on which other nodes
    exist or are chosen.

    Raises:
        ConfigError: ``nodes`` empty, holding something else than filters, a node twice, a
            node of another OneOf/SomeOf or one with a nested pipeline; bad ``weights`` or ``p``.
        SetupError: a node provides a key or changes a spec.

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> spec = fg.ArraySpec(roi=fg.Roi((0, 0), (4, 4)), voxel_size=(1, 1))
        >>> source = fg.ArraySource(raw, fg.Array(np.full((4, 4), 0.5, np.float32), spec))
        >>> brighter = fg.IntensityAugment(raw, 1.0, 1.0, 0.25, 0.25)
        >>> darker = fg.IntensityAugment(raw, 1.0, 1.0, -0.25, -0.25)
        >>> request = fg.BatchRequest()
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((0, 0), (4, 4)))
        >>> with fg.build(source + fg.OneOf([brighter, darker], weights=[3, 1])) as p:
        ...     values = [float(p.request_batch(request.with_seed(s))[raw].data[0, 0]) for s in range(8)]
        >>> sorted(set(values))
        [0.25, 0.75]
    """

    autoskip = True  # flowgraph's rules for library nodes (see BatchFilter)

    def __init__(self, nodes: Sequence[BatchFilter], weights: Sequence[float] | None = None, p: float = 1.0) -> None:
        name = type(self).__name__
        self._children = _children(name, nodes, self)
        if weights is not None:
            if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence):
                raise ConfigError(f"{name}: weights must be a sequence of numbers, got {weights!r}.")
            if len(weights) != len(self._children):
                raise ConfigError(
                    f"{name}: weights holds {len(weights)} numbers for {len(self._children)} nodes; give one each."
                )
            values = [number(name, "weights", w, 0.0) for w in weights]
            if sum(values) <= 0:
                raise ConfigError(f"{name}: weights must not all be zero.")
            self.weights: list[float] | None = values
        else:
            self.weights = None
        self.p = probability(name, "p", p)
        self._n, self._replace = 1, False

    @property
    def nodes(self) -> list[BatchFilter]:
        """The child filters, in the order given (the order they are applied in)."""
        return list(self._children)

    @property
    def name(self) -> str:
        """``OneOf(ElasticAugment, IntensityAugment(RAW))``: the class and its children's names."""
        cached: str | None = self.__dict__.get("_name_cache")
        if cached is None:
            cached = f"{type(self).__name__}({', '.join(c.name for c in self._children)})"
            if self._spec is not None:
                self.__dict__["_name_cache"] = cached
        return cached

    # -- lifecycle ---------------------------------------------------------------------------------
    def setup(self) -> None:
        weights = np.asarray(self.weights or [1.0] * len(self._children), dtype=np.float64)
        self._p_children = weights / weights.sum()
        upstream = self.upstream
        done: list[BatchFilter] = []
        try:
            for i, child in enumerate(self._children):
                # what Pipeline.setup gives a node (see flowgraph.pipeline._prepare_node)
                child._upstream = (upstream,)
                child._position = self._position * CHILD_STRIDE + 1 + i
                child._spec = upstream.spec.copy()
                child._updated = frozenset()
                child._provided = frozenset()
                child.__dict__.pop("_name_cache", None)
                done.append(child)
                try:
                    child.setup()
                except Exception as e:
                    add_context(e, f"while setting up {child.name} in {self.name}")
                    raise
                self._check_spec(child, upstream.spec)
                upstream = child
        except BaseException:
            self._teardown_children(done)
            raise
        self._top = self._children[-1]
        for child in self._children:
            for key in child._updated:
                if key not in self._updated:
                    self.updates(key, self._top.spec[key])

    def _check_spec(self, child: BatchFilter, before: ProviderSpec) -> None:
        """A child may narrow ROIs, nothing else: an unchosen child must not change what comes out."""
        if child._provided:
            key = next(iter(child._provided))
            raise SetupError(
                f"{self.name}: {child.name} provides {key}, which would be missing whenever another node is "
                f"chosen; put {child.name} before {type(self).__name__}."
            )
        for key in child._updated:
            old, new = before[key], child.spec[key]
            if new.with_roi(None) != old.with_roi(None):
                raise SetupError(
                    f"{self.name}: {child.name} changes the spec of {key} ({old} -> {new}), which would differ "
                    f"whenever another node is chosen; put {child.name} before or after {type(self).__name__}."
                )

    def teardown(self) -> None:
        self._teardown_children(self._children)

    @staticmethod
    def _teardown_children(children: list[BatchFilter]) -> None:
        errors: list[BaseException] = []
        for child in reversed(children):
            try:
                child.teardown()
            except Exception as e:  # keep tearing down the rest
                add_context(e, f"while tearing down {child.name}")
                errors.append(e)
        if errors:
            raise errors[0]

    # -- per request ------------------------------------------------------------------------------
    def choose(self, request: BatchRequest) -> tuple[int, ...]:
        """The indices of the nodes applied to ``request``, in application order (empty: none).

        Drawn from this node's generator: the gate, then the choice (recorded and replayed
        through :func:`flowgraph.observe.draw`).
        """

        def make() -> tuple[int, ...]:
            rng = self.rng(request)
            if not rng.random() < self.p:
                return ()
            picked = rng.choice(len(self._children), size=self._n, replace=self._replace, p=self._p_children)
            return tuple(sorted({int(i) for i in picked}))

        return observe.draw(self, make)

    def _passed_by(self, chosen: tuple[int, ...]) -> list[BatchFilter]:
        return [c for i, c in enumerate(self._children) if i not in chosen]

    def negotiate(self, request: BatchRequest) -> Negotiation:
        """What reaches the upstream: the request, negotiated by each chosen node from the top down."""
        if not self.concerns(request):
            return Negotiation([[request]])
        chosen = self.choose(request)
        sent = request
        for i in reversed(chosen):
            sent = self._children[i].negotiate(sent).upstream[0][0]
        return Negotiation([[sent]], state=chosen)

    def provide(self, request: BatchRequest) -> Batch:
        if not self.concerns(request):
            return self.upstream.request_batch(request)
        t0 = time.perf_counter()
        chosen = self.choose(request)  # not negotiate(): a chosen node negotiates (and draws) once, itself
        t1 = time.perf_counter()
        if not chosen:
            batch = self.upstream.request_batch(request)
        else:
            with passing_by(self._passed_by(chosen)):
                batch = self._top.request_batch(request)
        batch.records.append(Record(self.name, self._position, "prepare", t1 - t0))
        return batch


class SomeOf(OneOf):
    """Apply ``n`` of several filters per request, in the order given (albumentations' SomeOf).

    Args:
        nodes: the filters to choose from (see :class:`OneOf`).
        n: how many nodes to draw per request.
        replace: draw with replacement; a node drawn twice is applied once (it is one node of
            the graph, with one generator: a second application would repeat its parameters),
            so between 1 and ``n`` distinct nodes act.
        p: probability that any node is applied (``p=0`` is the identity).

    Requires, Updates, Raises: as :class:`OneOf`; also ConfigError for ``n`` not in
    ``[1, len(nodes)]`` (without replacement) or below 1.

    Request: the chosen nodes negotiate in turn, the last of them (in the order given) first,
    each from what the next one sends upstream, as if they were chained in the pipeline.

    Randomness: the gate, then ``n`` distinct indices (uniformly, or with replacement), drawn
    from this node's generator and recorded/replayed like OneOf's choice; each chosen node
    draws its own parameters and ``p`` from its own position (see :class:`OneOf`).

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> spec = fg.ArraySpec(roi=fg.Roi((0, 0), (4, 4)), voxel_size=(1, 1))
        >>> source = fg.ArraySource(raw, fg.Array(np.full((4, 4), 0.5, np.float32), spec))
        >>> shifts = [fg.IntensityAugment(raw, 1.0, 1.0, s, s, clip=False) for s in (0.1, 0.2, 0.4)]
        >>> request = fg.BatchRequest()
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((0, 0), (4, 4)))
        >>> with fg.build(source + fg.SomeOf(shifts, n=2)) as p:
        ...     values = {round(float(p.request_batch(request.with_seed(s))[raw].data[0, 0]), 2) for s in range(20)}
        >>> sorted(values)  # two of the three shifts, every time
        [0.8, 1.0, 1.1]
    """

    def __init__(self, nodes: Sequence[BatchFilter], n: int, replace: bool = False, p: float = 1.0) -> None:
        super().__init__(nodes, None, p)
        if not isinstance(replace, (bool, np.bool_)):
            raise ConfigError(f"SomeOf: replace must be True or False, got {replace!r}.")
        self.replace = bool(replace)
        self.n = number("SomeOf", "n", n, 1, None if self.replace else len(self._children), integer=True)
        self._n, self._replace = self.n, self.replace


__all__ = ["CHILD_STRIDE", "OneOf", "SomeOf"]
