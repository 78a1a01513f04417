"""Observing a batch: per-batch records that travel with the batch, and replaying drawn parameters.

Every batch carries ``records``, one list of :class:`Record` per batch, upstream first. Every
node adds its timings (phase ``"prepare"`` and ``"process"``); inside ``with observing(...)``
nodes add more:

- ``"params"``: every random node adds a ``"params"`` record with the parameters it drew for
  this batch (RandomLocation its shift, RandomProvider its choice, the augmentations their p gate
  and parameters). ``batch.drawn_parameters()`` collects them by node position.
- ``"steps"``: every node adds a ``"step"`` record with a copy of the batch it delivered (what
  ``flowgraph preview --steps`` draws).

Records are plain values that travel with the batch, also back from PreCache's worker
processes, so what happened upstream of a PreCache can be observed like the rest.

Inside ``with replaying(params)`` a random node whose position is in ``params`` uses the
recorded parameters instead of drawing: the same pipeline then delivers the same batch as the
one they were recorded from, whatever the request's seed.

What is observed or replayed lives in context variables of the calling thread (requests stay
plain BatchRequests): user nodes that build their own requests need not forward anything.

Example:
    >>> import numpy as np, flowgraph as fg
    >>> raw = fg.ArrayKey("RAW")
    >>> source = fg.ArraySource(raw, fg.Array(np.arange(100.0).reshape(10, 10),
    ...                         fg.ArraySpec(roi=fg.Roi((0, 0), (10, 10)), voxel_size=(1, 1))))
    >>> request = fg.BatchRequest()
    >>> request.add(raw, (2, 2))
    >>> with fg.build(source + fg.RandomLocation()) as p:
    ...     with fg.observing("params"):
    ...         first = p.request_batch(request.with_seed(1))
    ...     with fg.replaying(first):
    ...         again = p.request_batch(request.with_seed(2))
    >>> bool((first[raw].data == again[raw].data).all())
    True
"""

from __future__ import annotations

import contextlib
import copy
import itertools
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

from flowgraph.errors import ConfigError

if TYPE_CHECKING:
    from flowgraph.batch import Batch
    from flowgraph.provider import BatchProvider

T = TypeVar("T")

#: what ``observing`` accepts
OBSERVABLE = ("params", "steps")
#: the phases of timing records
TIMING_PHASES = frozenset({"prepare", "process"})


class Record(NamedTuple):
    """One observation of one node for one batch.

    Attributes:
        node: the node's name, e.g. ``IntensityAugment(RAW)``.
        position: the node's position in the pipeline (see ``BatchProvider.rng``), or None when
            a node added a record without it (a ``(node, phase, seconds)`` tuple).
        phase: ``"prepare"`` or ``"process"`` (timings), ``"params"`` (the parameters the node
            drew, in ``value``) or ``"step"`` (a copy of the batch it delivered, in ``value``).
        seconds: the time spent (timings), else 0.
        value: what was observed (params and steps), else None.
    """

    node: str
    position: int | None
    phase: str
    seconds: float = 0.0
    value: Any = None

    @property
    def is_timing(self) -> bool:
        return self.phase in TIMING_PHASES


def as_record(item: Record | tuple[str, str, float]) -> Record:
    """``item`` as a Record: Records as they are, ``(node, phase, seconds)`` tuples as timings."""
    if isinstance(item, Record):
        return item
    node, phase, seconds = item
    return Record(node, None, phase, seconds)


# -- what is observed --------------------------------------------------------------------------------------

_OBSERVING: ContextVar[frozenset[str]] = ContextVar("flowgraph_observing", default=frozenset())
_REPLAY: ContextVar[Replay | None] = ContextVar("flowgraph_replay", default=None)
# the draws made during the node call under way (a list while "params" is observed, else None)
_DRAWS: ContextVar[list[tuple[BatchProvider, Any]] | None] = ContextVar("flowgraph_draws", default=None)


@contextlib.contextmanager
def observing(*what: str) -> Iterator[None]:
    """Record more than timings for the batches requested in this block (in this thread).

    Args:
        *what: ``"params"`` (the parameters random nodes draw) and/or ``"steps"`` (a copy of
            the batch each node delivered). Blocks nest: the inner one adds to the outer.

    Raises:
        ConfigError: an unknown name.
    """
    unknown = [w for w in what if w not in OBSERVABLE]
    if unknown:
        raise ConfigError(f"observing: can observe {', '.join(map(repr, OBSERVABLE))}, got {unknown[0]!r}.")
    token = _OBSERVING.set(_OBSERVING.get() | frozenset(what))
    try:
        yield
    finally:
        _OBSERVING.reset(token)


def observed() -> frozenset[str]:
    """What is observed in this context (empty: timings only)."""
    return _OBSERVING.get()


class Replay(Mapping[int, Any]):
    """Parameters to replay, by node position (a read-only mapping with an identity for caches)."""

    _ids = itertools.count()

    def __init__(self, params: Mapping[int, Any]) -> None:
        self._params = dict(params)
        self.id = next(Replay._ids)  # cached batches made while replaying are matched by it

    def __getitem__(self, position: int) -> Any:
        return self._params[position]

    def __iter__(self) -> Iterator[int]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        return f"Replay({self._params!r})"


def parameters_of(records: Iterable[Record | tuple[str, str, float]]) -> dict[int, Any]:
    """The drawn parameters among ``records``, by node position.

    Raises:
        ValueError: two draws at one position (the batch joins branches, e.g. MergeProvider,
            whose nodes share positions): such a batch cannot be replayed as a whole.
    """
    params: dict[int, Any] = {}
    names: dict[int, str] = {}
    for item in records:
        record = as_record(item)
        if record.phase != "params" or record.position is None:
            continue
        if record.position in params:
            raise ValueError(
                f"drawn_parameters: {names[record.position]} and {record.node} both drew at position "
                f"{record.position} (branches joined by a MergeProvider); this batch cannot be replayed as a whole."
            )
        params[record.position] = record.value
        names[record.position] = record.node
    return params


@contextlib.contextmanager
def replaying(params: Batch | Iterable[Record] | Mapping[int, Any]) -> Iterator[Replay]:
    """Let random nodes use recorded parameters instead of drawing, in this block (in this thread).

    Args:
        params: a Batch requested inside ``observing("params")``, its records, or a mapping
            node position -> parameters (``batch.drawn_parameters()``, possibly edited).
            Random nodes whose position is absent draw as usual.

    Yields:
        the parameters replayed.
    """
    from flowgraph.batch import Batch  # batch.py imports this module

    mapping: Mapping[int, Any]
    if isinstance(params, Batch):
        mapping = params.drawn_parameters()
    elif isinstance(params, Mapping):
        mapping = dict(cast("Mapping[int, Any]", params))
    elif isinstance(params, Iterable):
        mapping = parameters_of(params)
    else:
        raise ConfigError(
            f"replaying: expected a Batch, records or a mapping position -> parameters, got {type(params).__name__}."
        )
    bad = next((k for k in mapping if not isinstance(k, int)), None)
    if bad is not None:
        raise ConfigError(f"replaying: parameters are keyed by node position (an int), got {bad!r}.")
    replay = Replay(mapping)
    token = _REPLAY.set(replay)
    try:
        yield replay
    finally:
        _REPLAY.reset(token)


def replayed() -> Replay | None:
    """The parameters replayed in this context, if any."""
    return _REPLAY.get()


# -- the API for random nodes ------------------------------------------------------------------------------


def draw(node: BatchProvider, make: Callable[[], T]) -> T:
    """The parameters ``node`` uses for the request under way: ``make()``, or the replayed ones.

    Random nodes call it once per request with a function that draws everything random the
    node needs from its generator (what is drawn outside it is not replayed). The result is
    recorded when ``"params"`` is observed; it must be picklable (it travels back from worker
    processes) and is never modified afterwards.
    """
    replay = _REPLAY.get()
    value = replay[node._position] if replay is not None and node._position in replay else make()
    pending = _DRAWS.get()
    if pending is not None:
        pending.append((node, value))
    return value


# -- the framework's side --------------------------------------------------------------------------------------


def deliver(node: BatchProvider, request: Any, provide: Callable[[Any], Batch]) -> Batch:
    """``provide(request)`` for ``node`` while something is observed, adding its records to the batch."""
    what = _OBSERVING.get()
    pending: list[tuple[BatchProvider, Any]] | None = [] if "params" in what else None
    token = _DRAWS.set(pending)
    try:
        batch = provide(request)
    finally:
        _DRAWS.reset(token)
    records = batch.records
    for drawer, value in pending or ():
        records.append(Record(drawer.name, drawer._position, "params", 0.0, value))
    if "steps" in what:
        records.append(Record(node.name, node._position, "step", 0.0, copy_batch(batch)))
    return batch


def copy_batch(batch: Batch) -> Batch:
    """A copy of ``batch``'s arrays and graphs (its data copied, no records)."""
    from flowgraph.array import Array
    from flowgraph.batch import Batch

    out = Batch()
    for key, value in batch.items():
        out[key] = Array.trusted(value.data.copy(), value.spec) if isinstance(value, Array) else copy.deepcopy(value)
    return out


@dataclass(frozen=True)
class Observation:
    """What is observed and replayed in a context, to carry to another process (picklable)."""

    what: frozenset[str]
    replay: Replay | None


def current() -> Observation | None:
    """This context's observation, or None when nothing is observed or replayed."""
    what, replay = _OBSERVING.get(), _REPLAY.get()
    if not what and replay is None:
        return None
    return Observation(what, replay)


def marker() -> Hashable | None:
    """What tells batches made in this context from others, for caches (None: timings only).

    A batch prefetched while nothing was observed must not answer a request that wants steps,
    nor one made while replaying: a cache keys its batches by it too.
    """
    what, replay = _OBSERVING.get(), _REPLAY.get()
    if not what and replay is None:
        return None
    return what, None if replay is None else replay.id


@contextlib.contextmanager
def applied(observation: Observation | None) -> Iterator[None]:
    """Observe and replay as ``observation`` says in this block (a worker computing a task)."""
    if observation is None:
        yield
        return
    t1 = _OBSERVING.set(observation.what)
    t2 = _REPLAY.set(observation.replay)
    try:
        yield
    finally:
        _REPLAY.reset(t2)
        _OBSERVING.reset(t1)


__all__ = [
    "OBSERVABLE",
    "Observation",
    "Record",
    "Replay",
    "applied",
    "as_record",
    "copy_batch",
    "current",
    "deliver",
    "draw",
    "marker",
    "observed",
    "observing",
    "parameters_of",
    "replayed",
    "replaying",
]
