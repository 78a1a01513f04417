"""BatchProvider and BatchFilter: the two kinds of node and the negotiation between them.

A request travels upstream: every filter's ``prepare`` names its dependencies, and the
upstream request is the caller's request with those dependencies merged in. The batch travels
downstream: ``process`` sees exactly its dependencies, returns what it changed, and the base
class crops the result to what the caller asked and checks it against the node's promises.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from flowgraph import observe
from flowgraph.array import Array, voxel_shape
from flowgraph.batch import Batch, Data
from flowgraph.errors import BatchContractError, RequestError, SetupError
from flowgraph.keys import ArrayKey, GraphKey, Key
from flowgraph.observe import Record
from flowgraph.request import BatchRequest
from flowgraph.rng import generator
from flowgraph.roi import Roi
from flowgraph.specs import ArraySpec, GraphSpec, ProviderSpec, Spec, check_key_spec

if TYPE_CHECKING:
    from flowgraph.pipeline import Pipeline


_NO_STATE: Any = object()
_DESCRIBING: ContextVar[bool] = ContextVar("flowgraph_describing", default=False)
# ids of the filters passed by in this context (OneOf/SomeOf's children not chosen for a request)
_PASSED_BY: ContextVar[frozenset[int]] = ContextVar("flowgraph_passed_by", default=frozenset())


@contextlib.contextmanager
def describing() -> Iterator[None]:
    """Mark pipelines built in this block as built to be described (drawn), not to serve batches.

    Nodes check :func:`is_describing` in ``setup`` to skip what only serving needs (PreCache
    starts no worker processes); their negotiation must be the same either way.
    """
    token = _DESCRIBING.set(True)
    try:
        yield
    finally:
        _DESCRIBING.reset(token)


def is_describing() -> bool:
    """True while a pipeline is being built only to be described (see :func:`describing`)."""
    return _DESCRIBING.get()


@contextlib.contextmanager
def passing_by(nodes: Iterable[BatchProvider]) -> Iterator[None]:
    """Pass the filters ``nodes`` by in this block (in this thread): each hands every request it
    receives to its upstream untouched, without negotiating, processing or recording anything.

    OneOf and SomeOf chain their children and pass by those not chosen for a request.
    """
    token = _PASSED_BY.set(_PASSED_BY.get() | frozenset(id(n) for n in nodes))
    try:
        yield
    finally:
        _PASSED_BY.reset(token)


def passed_by() -> frozenset[int]:
    """The ids of the filters passed by in this context (see :func:`passing_by`)."""
    return _PASSED_BY.get()


@dataclass
class Negotiation:
    """What a node sends for one request it received: computed by ``negotiate``, used by the real
    run and by the dry run that draws the pipeline picture, so the two can never disagree.

    Attributes:
        upstream: one list per upstream pipeline (in ``+`` order): the requests sent to it, in the
            order they are sent (empty: nothing is asked of that pipeline; several: Stack's
            repetitions). Nodes that retry (Reject) list the first attempt.
        nested: one list per nested pipeline (in the order of ``nested_pipelines()``).
        deps: for filters, the dependencies ``process`` receives (None for a pass-through).
        state: for filters, the per-request state ``prepare`` returned with the dependencies.
    """

    upstream: list[list[BatchRequest]]
    nested: list[list[BatchRequest]] = field(default_factory=list)
    deps: BatchRequest | None = None
    state: Any = _NO_STATE


class BatchProvider:
    """A node that delivers batches. Sources subclass it directly and implement ``provide``.

    Subclass API: ``setup`` (announce outputs with ``provides``), ``provide(request)``,
    ``teardown``. Call ``self.rng(request)`` for this node's random generator. A node that
    sends requests upstream or to nested pipelines computes them in ``negotiate(request)`` and
    its ``provide`` sends exactly those (see :class:`Negotiation`).
    """

    # set by the pipeline when it is built
    _upstream: tuple[BatchProvider, ...] = ()
    _position: int = 0
    _spec: ProviderSpec | None = None

    # -- subclass API ------------------------------------------------------------------------
    def setup(self) -> None:
        """Check the upstream spec and announce outputs. Called once per build, sources first."""

    def provide(self, request: BatchRequest) -> Batch:
        raise NotImplementedError(f"{type(self).__name__} must implement provide(request)")

    def teardown(self) -> None:
        """Release files, workers and memory. Called once per build, even after errors."""

    def nested_pipelines(self) -> list[Pipeline]:
        """Pipelines passed to this node as parameters; built and torn down with it."""
        from flowgraph.pipeline import Pipeline

        return [v for v in vars(self).values() if isinstance(v, Pipeline)]

    def _nested_count(self) -> int:
        """How many nested pipelines this node has (counted once: they are configuration)."""
        count: int | None = self.__dict__.get("_nested_count_cache")
        if count is None:
            count = self.__dict__["_nested_count_cache"] = len(self.nested_pipelines())
        return count

    def negotiate(self, request: BatchRequest) -> Negotiation:
        """The requests this node sends upstream and to its nested pipelines for ``request``.

        The one place a node's negotiation is computed: ``provide`` sends what it returns, and
        the pipeline picture (``fg.to_networkx``) draws it. It may draw random numbers from the
        request's seed but changes no state. A source sends nothing.
        """
        return Negotiation([[] for _ in self._upstream], [[] for _ in self.nested_pipelines()])

    def request_batches(
        self, requests: Sequence[BatchRequest], upcoming_seeds: Iterable[int] | None = None
    ) -> list[Batch]:
        """Deliver several requests; nodes that can compute them in parallel (PreCache) override it.

        Args:
            requests: the requests, all known before the first is delivered.
            upcoming_seeds: the seeds the caller will ask for next (a hint for prefetching).

        Returns:
            the batches, in the order of ``requests``.
        """
        return [self.request_batch(r) for r in requests]

    # -- helpers for subclasses -------------------------------------------------------------------
    @property
    def spec(self) -> ProviderSpec:
        """What this node offers (valid after setup)."""
        if self._spec is None:
            self._spec = ProviderSpec()
        return self._spec

    def provides(self, key: Key, spec: Spec) -> None:
        """Announce a new output; raise if the key already exists."""
        check_key_spec(self.name, key, spec)
        if key in self.spec:
            raise SetupError(
                f"{self.name}: {key} is already provided upstream; use a different key or remove the other provider."
            )
        self.spec[key] = spec

    def rng(self, request: BatchRequest, *path: int) -> np.random.Generator:
        """This node's generator for ``request`` (derived from its seed and the node's place)."""
        if request.random_seed is None:
            raise RequestError(
                f"{self.name}: the request has no random_seed; request batches through a built pipeline."
            )
        return generator(request.random_seed, self._position, *path)

    @property
    def name(self) -> str:
        """The class name and the keys it was configured with, e.g. ``IntensityAugment(RAW)``."""
        cached: str | None = self.__dict__.get("_name_cache")
        if cached is None:
            keys = [str(v) for v in vars(self).values() if isinstance(v, (ArrayKey, GraphKey))]
            cached = f"{type(self).__name__}({', '.join(keys)})" if keys else type(self).__name__
            if self._spec is not None:  # configured and built: cache it (used for every profiling entry)
                self.__dict__["_name_cache"] = cached
        return cached

    # -- composition -------------------------------------------------------------------------------
    def __add__(self, other: Any) -> Pipeline:
        from flowgraph.pipeline import Pipeline

        return Pipeline(self) + other

    def __radd__(self, other: Any) -> Pipeline:
        from flowgraph.pipeline import Pipeline

        return other + Pipeline(self) if not isinstance(other, tuple) else Pipeline(self).__radd__(other)

    def __repr__(self) -> str:
        return self.name

    # -- framework ---------------------------------------------------------------------------------
    def request_batch(self, request: BatchRequest) -> Batch:
        """Check ``request`` against this node's spec, provide, crop and check the batch.

        Inside ``fg.observing(...)`` the batch also gets this node's drawn parameters and steps
        (see :mod:`flowgraph.observe`). A filter passed by (:func:`passing_by`) hands ``request``
        to its upstream untouched.
        """
        passed = _PASSED_BY.get()
        if passed and id(self) in passed:
            return self._upstream[0].request_batch(request)
        if observe.observed():
            return observe.deliver(self, request, self._deliver)
        return self._deliver(request)

    def _deliver(self, request: BatchRequest) -> Batch:
        spec = self.spec
        for key, rspec in request.items():
            offered = spec.get(key)
            if offered is None:
                raise RequestError(
                    f"{self.name}: {key} is requested but not provided here (available: "
                    f"{', '.join(map(str, spec)) or 'nothing'}); add a source for {key} upstream or drop it from the "
                    "request."
                )
            if rspec.roi is not None and offered.roi is not None and not offered.roi.contains(rspec.roi):
                raise RequestError(
                    f"{self.name}: {key} is requested at {rspec.roi}, outside the provided ROI {offered.roi}; "
                    "add Pad upstream, RandomLocation, or request a region inside the data."
                )
        t0 = time.perf_counter()
        source = not self._upstream and not isinstance(self, BatchFilter)
        read = without_placeholders(request) if source else request  # a source reads no placeholder
        try:
            batch = Batch() if source and not read else self.provide(read)  # a source asked for nothing reads nothing
        except Exception as e:
            add_context(e, f"while {self.name} provided {describe(request)}")
            raise
        if source:  # time it here
            batch.records.append(Record(self.name, self._position, "process", time.perf_counter() - t0))
        return finish(self, batch, request)


class BatchFilter(BatchProvider):
    """A node with one upstream provider that transforms what passes through.

    Subclass API (see docs/writing-nodes.md):

    - ``setup()``: inspect ``self.upstream_spec``; announce with ``updates(key, spec)`` and
      ``provides(key, spec)``. The default passes everything through unchanged.
    - ``prepare(request)``: return the dependencies, a BatchRequest (or a bare Roi per key), or
      None for "the whole request" (the default, as in gunpowder). The upstream request is the
      caller's request with the dependencies merged in: ROIs united, the caller's spec kept. What
      a dependency leaves out (voxel size) is filled in from the upstream spec; one asking for a
      voxel size, dtype or ``directed`` that upstream does not offer is refused with a
      RequestError; array ROIs off their voxel grid are grown onto it. Return ``(deps, state)``
      to hand per-request state to ``process(batch, request, state)``.
    - ``process(batch, request)``: ``batch`` holds exactly the dependencies. Return a Batch, or
      modify ``batch`` in place and return None; what it returns is merged into the upstream
      batch (an array smaller than requested is pasted into the upstream one) and the caller
      gets its full ROIs. A node whose ``prepare`` returns ``(deps, state)`` declares
      ``process(batch, request, state)``.

    Two class attributes select flowgraph's faster rules, which the library's own nodes use:

    - ``autoskip = True``: the node is passed by when no requested key is one it updates or
      provides (``enable_autoskip()`` sets it on an instance, as in gunpowder; the default
      runs every filter, so a ``Print`` node that announces nothing still runs).
    - ``exact_dependencies = True``: for the keys it updates, the node produces the caller's
      ROI entirely from its dependencies (a warp, a random shift, a pad), so upstream is asked
      for exactly the dependencies instead of their union with the request, and only the keys
      it announced are taken from ``process``.
    """

    #: pass by requests that contain no key this node updates or provides (gunpowder's autoskip)
    autoskip: bool = False
    #: for updated keys, upstream receives exactly the dependencies (see the class docstring)
    exact_dependencies: bool = False

    _updated: frozenset[Key] = frozenset()
    _provided: frozenset[Key] = frozenset()

    @property
    def upstream(self) -> BatchProvider:
        if not self._upstream:
            raise SetupError(f"{self.name}: has no upstream provider; chain a source before it with +.")
        return self._upstream[0]

    @property
    def upstream_spec(self) -> ProviderSpec:
        return self.upstream.spec

    def updates(self, key: Key, spec: Spec | None = None) -> None:
        """Announce that this node modifies ``key`` (optionally changing parts of its spec)."""
        if key not in self.spec:
            raise SetupError(
                f"{self.name}: cannot update {key}, it is not provided upstream (available: "
                f"{', '.join(map(str, self.spec)) or 'nothing'}); add a source for {key}."
            )
        if spec is not None:
            check_key_spec(self.name, key, spec)
            self.spec[key] = self.spec[key].update(spec)  # type: ignore[arg-type]
        self._updated = self._updated | {key}

    def provides(self, key: Key, spec: Spec) -> None:
        super().provides(key, spec)
        self._provided = self._provided | {key}

    def get_upstream_provider(self) -> BatchProvider:
        """The upstream node (gunpowder's name for :attr:`upstream`)."""
        return self.upstream

    def enable_autoskip(self, skip: bool = True) -> None:
        """Pass requests by that contain no key this node updates or provides (as in gunpowder)."""
        self.autoskip = skip

    def skip_node(self, request: BatchRequest) -> bool:
        """Return True to pass ``request`` by this node untouched (gunpowder's hook; default False).

        Draw any randomness from ``self.rng(request)``: it is called by the real run and by the
        pipeline picture, which then agree (gunpowder code that calls ``random.random()`` here
        runs, but is not reproducible from the request's seed).
        """
        return False

    def prepare(self, request: BatchRequest) -> Any:
        """The dependencies; the default, None, depends on the whole request (as in gunpowder)."""
        return None

    def updated_dependencies(self, request: BatchRequest) -> BatchRequest:
        """The requested keys this node updates, at their requested specs: the usual dependencies
        of a node that changes arrays in place."""
        deps = BatchRequest(random_seed=request.random_seed)
        for key in self._updated:
            if key in request:
                deps[key] = request[key]
        return deps

    def process(self, batch: Batch, request: BatchRequest, *state: Any) -> Batch | None:
        return None

    def concerns(self, request: BatchRequest) -> bool:
        """Whether this filter takes part in ``request`` (else it passes it through untouched):
        whether it names a key, not only as a placeholder, that the node updates or provides."""
        return any((k in self._updated or k in self._provided) and not s.placeholder for k, s in request.items())

    def negotiate(self, request: BatchRequest) -> Negotiation:
        """``prepare``'s dependencies, snapped to the voxel grid and merged into the caller's request.

        Override it (calling ``super().negotiate``) to add requests to nested pipelines.
        """
        nested: list[list[BatchRequest]] = [[] for _ in range(self._nested_count())]
        if (self.autoskip and not self.concerns(request)) or self.skip_node(request):
            return Negotiation([[request]], nested)
        # gunpowder-style filters may grow the request they are given in place: they get a copy (and
        # what they make of it is their dependency); the library's nodes get the request itself
        own_prepare = type(self).prepare is not BatchFilter.prepare
        given = request.copy() if own_prepare and not self.exact_dependencies else request
        before = [(key, spec.roi) for key, spec in request.items()]  # Rois are immutable: cheap snapshot
        try:
            prepared = self.prepare(given)
        except Exception as e:
            add_context(e, f"while {self.name} prepared {describe(request)}")
            raise
        deps, state = prepared if isinstance(prepared, tuple) else (prepared, _NO_STATE)
        if [(key, spec.roi) for key, spec in request.items()] != before:
            raise BatchContractError(
                f"{self.name}: prepare() modified the request it was given; return the dependencies as a new "
                "BatchRequest instead (the caller's request must stay as it is)."
            )
        if deps is None:  # the whole request (as prepare() left it), as in gunpowder
            provided = self._provided
            if provided and any(k in provided for k in given):
                deps = BatchRequest({k: s for k, s in given.items() if k not in provided}, request.random_seed)
            else:
                deps = given  # never modified downstream of here
        if not isinstance(deps, BatchRequest):
            raise BatchContractError(f"{self.name}: prepare() must return a BatchRequest, got {type(deps).__name__}.")
        deps = complete_dependencies(self, deps)
        return Negotiation([[merge_request(self, request, deps)]], nested, deps, state)

    def provide(self, request: BatchRequest) -> Batch:
        t0 = time.perf_counter()
        negotiation = self.negotiate(request)
        deps, state = negotiation.deps, negotiation.state
        if deps is None:  # nothing here concerns the caller
            return self.upstream.request_batch(negotiation.upstream[0][0])
        t1 = time.perf_counter()
        upstream_batch = self.upstream.request_batch(negotiation.upstream[0][0])
        t2 = time.perf_counter()
        inputs = upstream_batch.crop(deps)
        try:
            result = self.process(inputs, request) if state is _NO_STATE else self.process(inputs, request, state)
        except Exception as e:
            add_context(e, f"while {self.name} processed {describe(deps)}")
            raise
        if result is not None and not isinstance(result, Batch):
            raise BatchContractError(
                f"{self.name}: process() must return a Batch or None, got {type(result).__name__}."
            )
        outputs = inputs if result is None else result
        batch = Batch()
        batch.share_records(upstream_batch)
        exact = self.exact_dependencies
        for key, rspec in request.items():
            if rspec.placeholder:
                continue  # its ROI travelled upstream; no data is delivered
            if key in outputs and (key in self._updated or key in self._provided):
                value = outputs[key] if exact else paste(upstream_batch.get(key), outputs[key], request[key])
            elif key in outputs and not exact:  # gunpowder merges whatever process returns
                value = paste(upstream_batch.get(key), outputs[key], request[key])
            elif key in upstream_batch:
                value = upstream_batch[key]
            else:
                raise BatchContractError(
                    f"{self.name}: process() returned no {key}, which it announced; return it from process()."
                )
            batch[key] = value
        t3 = time.perf_counter()
        batch.records.append(Record(self.name, self._position, "prepare", t1 - t0))
        batch.records.append(Record(self.name, self._position, "process", t3 - t2))
        return batch


def complete_dependencies(node: BatchFilter, deps: BatchRequest) -> BatchRequest:
    """``deps`` completed from the upstream spec and grown onto the voxel grid (a new request
    only if something changes).

    A dependency may leave out its voxel size (gunpowder's own nodes and tutorial do): it is
    filled in from what upstream offers. One that asks for a voxel size, dtype or ``directed``
    upstream does not offer is refused before any data is read. A node may compute its context
    in world units; upstream always receives whole voxels that contain what the node asked for,
    and ``process`` sees exactly these dependencies.
    """
    changed = None
    upstream = node.upstream_spec
    for key, spec in deps.items():
        offered = upstream.get(key)
        if offered is None:
            continue  # refused by the upstream node, naming what it provides
        new = spec
        if isinstance(spec, ArraySpec) and isinstance(offered, ArraySpec):
            _refuse_mismatch(node, key, "dtype", spec.dtype, offered.dtype)
            if not (spec.nonspatial or offered.nonspatial) and offered.voxel_size is not None:
                if spec.voxel_size is None:
                    new = spec.replace(voxel_size=offered.voxel_size)
                else:
                    _refuse_mismatch(node, key, "voxel size", spec.voxel_size, offered.voxel_size)
                vs = new.voxel_size  # type: ignore[union-attr]
                if new.roi is not None and vs is not None and len(vs) == new.roi.dims and not new.roi.on_grid(vs):
                    new = new.with_roi(new.roi.snap_to_grid(vs, "grow"))
        elif isinstance(spec, GraphSpec) and isinstance(offered, GraphSpec):
            _refuse_mismatch(node, key, "directed", spec.directed, offered.directed)
        if new is not spec:
            if changed is None:
                changed = BatchRequest(dict(deps.items()), random_seed=deps.random_seed)
            changed[key] = new
    return deps if changed is None else changed


def _refuse_mismatch(node: BatchFilter, key: Key, what: str, asked: Any, offered: Any) -> None:
    if asked is not None and offered is not None and asked != offered:
        raise RequestError(
            f"{node.name}: prepare() asks for {key} with {what} {asked}, but upstream offers {offered}; "
            f"ask for {offered} (or leave the {what} out), or convert it upstream."
        )


def paste(under: Data | None, over: Data, rspec: Spec) -> Data:
    """``over`` as the caller gets it under gunpowder's merge rule: as it is if it covers the
    requested ROI, else written into a copy of ``under`` (the upstream array) at its ROI."""
    roi = rspec.roi
    if roi is None or over.spec.roi is None or over.spec.roi.contains(roi) or not isinstance(over, Array):
        return over
    if not isinstance(under, Array) or under.spec.roi is None or not under.spec.roi.contains(roi):
        return over  # nothing to paste into: the contract check says what is missing
    out = under.crop(roi)
    data = np.array(out.data, copy=True)
    common = over.spec.roi.intersect(roi)
    if not common.empty():
        data[_slices(out, common)] = over.crop(common).data
    return Array(data, out.spec)


def _slices(array: Array, roi: Roi) -> tuple[slice, ...]:
    vs = array.spec.voxel_size
    assert vs is not None and array.spec.roi is not None
    begin = (roi.begin - array.spec.roi.begin) // vs
    shape = roi.shape // vs
    lead = (slice(None),) * (array.data.ndim - len(vs))
    return lead + tuple(slice(b, b + s) for b, s in zip(begin.ints(), shape.ints()))


def merge_request(node: BatchFilter, request: BatchRequest, deps: BatchRequest) -> BatchRequest:
    """The request ``node`` sends upstream: the caller's request with ``deps`` merged in."""
    upstream = BatchRequest(random_seed=request.random_seed)
    for key, spec in request.items():
        if key in node._provided:
            continue
        dep = deps.get(key)
        if dep is None:
            upstream[key] = spec
        elif (node.exact_dependencies and key in node._updated) or dep.roi is None or spec.roi is None:
            upstream[key] = dep
        elif dep.roi == spec.roi:
            upstream[key] = spec
        else:  # gunpowder: the union of both ROIs, with the caller's spec
            upstream[key] = spec.with_roi(spec.roi.union(dep.roi))
    for key, dep in deps.items():
        if key not in upstream:
            if key in node._provided:
                raise BatchContractError(f"{node.name}: prepare() depends on {key}, which this node provides itself.")
            upstream[key] = dep
    return upstream


def finish(node: BatchProvider, batch: Batch, request: BatchRequest) -> Batch:
    """Crop ``batch`` to ``request`` and check it against ``node``'s promises.

    A filter's pass-through keys hold what its upstream delivered and checked already; only the
    keys the node updates or provides are checked again.
    """
    out = Batch()
    out.share_records(batch)
    passed = isinstance(node, BatchFilter)
    for key, rspec in request.items():
        if rspec.placeholder:
            continue  # a placeholder's ROI travels, its data is never delivered
        if key not in batch:
            raise BatchContractError(
                f"{node.name}: returned no {key}, which was requested; the node must deliver every requested key."
            )
        value = batch[key]
        if passed and key not in node._updated and key not in node._provided:  # type: ignore[attr-defined]
            out[key] = value if rspec.roi is None or value.spec.roi == rspec.roi else value.crop(rspec.roi)
            continue
        if rspec.roi is not None:
            if value.spec.roi is None or not value.spec.roi.contains(rspec.roi):
                raise BatchContractError(
                    f"{node.name}: returned {key} at {value.spec.roi}, which does not cover the requested {rspec.roi}."
                )
            if isinstance(value.spec, ArraySpec) and isinstance(rspec, ArraySpec):
                _check_voxel_size(node, key, value.spec, rspec)
            try:
                value = value.crop(rspec.roi)
            except BatchContractError as e:
                raise BatchContractError(
                    f"{node.name}: returned {key} that cannot be cropped to the request; {e}"
                ) from None
        if isinstance(value, Array) and isinstance(rspec, ArraySpec):
            _check_array(node, key, value, rspec)
        out[key] = value
    return out


def _check_array(node: BatchProvider, key: Key, array: Array, rspec: ArraySpec) -> None:
    spec = array.spec
    offered = node.spec.get(key)
    if isinstance(offered, ArraySpec) and offered.dtype is not None and array.data.dtype != offered.dtype:
        raise BatchContractError(
            f"{node.name}: returned {key} as {array.data.dtype}, but announced {offered.dtype}; "
            "convert the data or announce the right dtype in setup()."
        )
    if spec.nonspatial:
        return
    _check_voxel_size(node, key, spec, rspec)
    expected = voxel_shape(array.roi, array.voxel_size)
    if array.data.shape[array.data.ndim - len(expected) :] != expected:
        raise BatchContractError(
            f"{node.name}: returned {key} with data shape {array.data.shape}, but its ROI {spec.roi} at voxel size "
            f"{spec.voxel_size} needs spatial shape {expected}."
        )


def _check_voxel_size(node: BatchProvider, key: Key, spec: ArraySpec, rspec: ArraySpec) -> None:
    if spec.nonspatial:
        return
    if rspec.voxel_size is not None and spec.voxel_size != rspec.voxel_size:
        raise BatchContractError(
            f"{node.name}: returned {key} at voxel size {spec.voxel_size}, but {rspec.voxel_size} was requested."
        )
    if spec.roi is not None and spec.voxel_size is not None and not spec.roi.on_grid(spec.voxel_size):
        raise BatchContractError(
            f"{node.name}: returned {key} at {spec.roi}, which is not on its voxel grid {spec.voxel_size}; "
            "place arrays at multiples of the voxel size."
        )


def without_placeholders(request: BatchRequest) -> BatchRequest:
    """``request`` without its placeholder keys (itself when it has none): what a source reads."""
    if not any(spec.placeholder for spec in request.values()):
        return request
    return BatchRequest({k: s for k, s in request.items() if not s.placeholder}, request.random_seed)


def add_context(error: BaseException, text: str) -> None:
    """Note where ``error`` happened, once: the innermost node that saw it says so."""
    if not getattr(error, "_flowgraph_context", False):
        error.add_note(text)
        with contextlib.suppress(AttributeError):  # exceptions with __slots__ take no new attributes
            error._flowgraph_context = True  # type: ignore[attr-defined]


def describe(request: BatchRequest) -> str:
    """A one-line summary of a request: ``RAW [0:40, 0:400], LABELS [...]``."""
    return ", ".join(f"{k} {s.roi}" for k, s in request.items()) or "nothing"


__all__ = [
    "BatchFilter",
    "BatchProvider",
    "Negotiation",
    "describing",
    "is_describing",
    "passed_by",
    "passing_by",
    "finish",
    "complete_dependencies",
    "merge_request",
    "paste",
]
