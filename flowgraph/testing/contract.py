"""The node contract (DESIGN §7) as functions: run it on any node, inside or outside this repository.

A :class:`NodeCase` says how to build the node, what to put upstream and what to request;
:func:`check_node_contract` runs every check on it and raises AssertionError naming the node and
what broke. The checks:

- :func:`check_delivers_request`: keys, ROIs, voxel sizes, spatial shapes and announced dtypes as
  requested (graphs hold only points inside their ROI); also each key alone
  (:func:`check_single_keys`).
- :func:`check_same_seed`: the same seed gives a bit-identical batch, also after a rebuild.
- :func:`check_request_not_mutated`: neither the caller's request nor the object the node
  receives is changed.
- :func:`check_p_zero`: a node with ``p`` at ``p=0`` reproduces the upstream batch exactly.
- :func:`check_bad_arguments`: each bad argument raises ConfigError naming the parameter.
- :func:`check_picture_matches_run`: the requests drawn on the pipeline picture's edges equal the
  requests every node really receives for the same seed, key by key, ROI by ROI.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.errors import ConfigError
from flowgraph.graph import Graph
from flowgraph.keys import ArrayKey
from flowgraph.pipeline import Pipeline, build, normalize_request
from flowgraph.provider import BatchFilter, describing
from flowgraph.request import BatchRequest
from flowgraph.specs import ArraySpec

from .data import default_request, sources


@dataclass
class NodeCase:
    """How to exercise one node.

    Attributes:
        make: ``make(**overrides)`` returns a fresh instance of the node (overrides go to its
            constructor, e.g. ``p=0``), or the complete pipeline for sources and joins.
        upstream: returns a fresh upstream pipeline the node is appended to; ``None`` for
            sources and joins, whose ``make()`` returns the complete pipeline.
        request: returns the request to make, given a seed.
        has_p: the node takes a probability ``p`` (then ``p=0`` must be the identity).
        bad_args: ``(overrides, parameter name)`` pairs; ``make(**overrides)`` must raise a
            ConfigError naming the parameter.
        single_keys: each key of the request can also be requested alone (and then comes back
            alone); set False only for a node that needs several keys requested together.
    """

    make: Callable[..., Any]
    upstream: Callable[[], Any] | None = sources
    request: Callable[[int], BatchRequest] = default_request
    has_p: bool = False
    bad_args: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    single_keys: bool = True


def pipeline_of(case: NodeCase, **overrides: Any) -> Pipeline:
    """The case's pipeline: ``upstream() + make(**overrides)`` (or ``make()`` alone)."""
    node = case.make(**overrides)
    if case.upstream is None:
        return Pipeline.coerce(node)
    return case.upstream() + node


def assert_same_batch(a: Batch, b: Batch) -> None:
    """Bit-equal arrays (with equal specs) and graphs with equal ids, locations, edges and attributes."""
    assert set(a) == set(b), f"different keys: {sorted(map(str, a))} vs {sorted(map(str, b))}"
    for key in a:
        x, y = a[key], b[key]
        assert type(x) is type(y), key
        assert x.spec == y.spec, f"{key}: spec {x.spec} != {y.spec}"
        if isinstance(x, Array):
            assert isinstance(y, Array)
            assert x.data.dtype == y.data.dtype and x.data.shape == y.data.shape, key
            assert x.data.tobytes() == y.data.tobytes(), f"{key} differs"
        else:
            assert isinstance(x, Graph) and isinstance(y, Graph)
            np.testing.assert_array_equal(x.ids, y.ids)
            np.testing.assert_array_equal(x.locations, y.locations)
            np.testing.assert_array_equal(x.edges, y.edges)
            assert set(x.attributes) == set(y.attributes), key
            for name in x.attributes:
                np.testing.assert_array_equal(x.attributes[name], y.attributes[name])


def check_delivers_request(case: NodeCase) -> None:
    """The batch holds exactly the requested keys, each at its ROI, voxel size, shape and dtype."""
    request = case.request(0)
    with build(pipeline_of(case)) as p:
        batch = p.request_batch(request)
        offered = p.spec
        # the request as the pipeline reads it (ROIs of request.add snapped onto the voxel grid)
        expected = normalize_request(request, offered)
    name = p.node.name
    assert set(batch) == set(request), f"{name}: delivered {sorted(map(str, batch))}, requested {request}"
    for key, rspec in expected.items():
        value = batch[key]
        assert value.spec.roi == rspec.roi, f"{name}: {key} at {value.spec.roi}, requested {rspec.roi}"
        if isinstance(value, Array):
            assert isinstance(key, ArrayKey)
            spec = offered[key]
            assert value.data.dtype == spec.dtype, f"{name}: {key} is {value.data.dtype}, announced {spec.dtype}"
            assert value.spec.dtype == spec.dtype, key
            if not value.spec.nonspatial:
                vs = value.spec.voxel_size
                assert isinstance(rspec, ArraySpec) and isinstance(spec, ArraySpec)
                assert vs == (rspec.voxel_size or spec.voxel_size), key
                assert rspec.roi is not None and vs is not None
                spatial = tuple(s // v for s, v in zip(rspec.roi.shape.ints(), vs.ints(), strict=True))
                assert value.data.shape[value.data.ndim - len(spatial) :] == spatial, f"{name}: {key} shape"
        else:
            assert isinstance(value, Graph) and rspec.roi is not None
            # every delivered point lies inside the requested ROI, or is the outer end of an edge
            # that crosses its border (gunpowder keeps those dangling ends)
            begin, end = np.asarray(rspec.roi.begin, float), np.asarray(rspec.roi.end, float)
            inside = np.asarray(((value.locations >= begin) & (value.locations < end)).all(axis=1), dtype=bool)
            ids = np.asarray(value.ids)
            edges = np.asarray(value.edges).reshape(-1, 2)
            joined = set(edges[np.isin(edges, ids[inside]).any(axis=1)].ravel().tolist())
            stray = [int(i) for i, ok in zip(ids, inside, strict=True) if not ok and int(i) not in joined]
            assert not stray, f"{name}: {key} holds points {stray} outside {rspec.roi} joined to nothing inside"


def check_single_keys(case: NodeCase) -> None:
    """Each requested key can be requested alone and comes back alone, at its ROI."""
    if not case.single_keys:
        return
    full = case.request(0)
    with build(pipeline_of(case)) as p:
        for key, spec in full.items():
            request = BatchRequest(random_seed=0)
            request[key] = spec.copy()
            batch = p.request_batch(request)
            assert list(batch) == [key], f"{p.node.name}: asked for {key} alone, got {sorted(map(str, batch))}"
            assert batch[key].spec.roi == normalize_request(request, p.spec)[key].roi


def check_same_seed(case: NodeCase) -> None:
    """The same seed gives a bit-identical batch, in one build and after rebuilding."""
    with build(pipeline_of(case)) as p:
        first = p.request_batch(case.request(3))
        other = p.request_batch(case.request(4))
        again = p.request_batch(case.request(3))
    with build(pipeline_of(case)) as p:
        rebuilt = p.request_batch(case.request(3))
    assert_same_batch(first, again)
    assert_same_batch(first, rebuilt)
    assert set(other) == set(first)


class _Unchanged(BatchFilter):
    """Hands the very request object it receives to the node under test and checks it afterwards."""

    def __init__(self) -> None:
        self.checked = 0

    def provide(self, request: BatchRequest) -> Batch:
        before = copy.deepcopy(request)
        specs = dict(request.items())
        batch = self.upstream.request_batch(request)
        assert request == before and request.random_seed == before.random_seed, f"{self.upstream.name} changed it"
        assert all(request[k] is s and s == before[k] for k, s in specs.items()), f"{self.upstream.name} changed it"
        self.checked += 1
        return batch


def check_request_not_mutated(case: NodeCase) -> None:
    """Neither the caller's request nor the request object handed to the node changes."""
    seeded = case.request(7)
    unseeded = case.request(7)
    unseeded.random_seed = None
    before = [copy.deepcopy(seeded), copy.deepcopy(unseeded)]
    specs = [dict(seeded.items()), dict(unseeded.items())]
    spy = _Unchanged()
    with build(pipeline_of(case) + spy) as p:
        p.request_batch(seeded)
        p.request_batch(unseeded)
    assert spy.checked == 2
    for request, old, old_specs in zip((seeded, unseeded), before, specs, strict=True):
        assert request == old and request.random_seed == old.random_seed
        assert request._centred == old._centred
        # the very spec objects the caller put in are still there, with their old values
        assert all(request[k] is s for k, s in old_specs.items())
        assert all(request[k] == old[k] for k in old)


def check_p_zero(case: NodeCase) -> None:
    """``has_p`` matches the constructor, and ``p=0`` reproduces the upstream batch exactly."""
    node = case.make()
    cls = type(node.node if isinstance(node, Pipeline) else node)
    takes_p = "p" in inspect.signature(cls).parameters
    assert case.has_p == takes_p, f"{cls.__name__}: the case says has_p={case.has_p}, the constructor says {takes_p}"
    if not case.has_p:
        return
    assert case.upstream is not None, f"{cls.__name__}: a node with p needs an upstream in its case"
    for seed in (0, 1, 2):
        with build(case.upstream()) as p:
            expected = p.request_batch(case.request(seed))
        with build(case.upstream() + case.make(p=0)) as p:
            got = p.request_batch(case.request(seed))
        assert_same_batch(expected, got)


def check_bad_arguments(case: NodeCase) -> None:
    """Every ``bad_args`` entry raises ConfigError whose message names the parameter."""
    for overrides, parameter in case.bad_args:
        try:
            case.make(**overrides)
        except ConfigError as e:
            assert re.search(re.escape(parameter), str(e)), (
                f"ConfigError for {overrides} does not name {parameter}: {e}"
            )
        else:
            raise AssertionError(f"make(**{overrides!r}) raised no ConfigError naming {parameter!r}")


def _as_sent(request: BatchRequest) -> tuple[Any, ...]:
    return (request.random_seed, sorted((str(k), repr(s)) for k, s in request.items()))


def check_picture_matches_run(case: NodeCase, seeds: Iterable[int] = (0, 1, 2)) -> None:
    """The requests drawn on every edge of ``fg.to_networkx`` equal those a spy records in a real run.

    The pipeline is built in-process (PreCache computes in the calling process, as it does
    while a picture is drawn) so that the spy sees every node; the negotiation is the same.
    """
    from flowgraph.visualize.describe import to_networkx

    with describing(), build(pipeline_of(case)) as p:
        received: dict[int, list[BatchRequest]] = {}
        for node in p.all_nodes():
            original = node.request_batch

            def spy(request: BatchRequest, _node: Any = node, _original: Any = original) -> Batch:
                received.setdefault(id(_node), []).append(request.copy())
                return _original(request)

            node.request_batch = spy  # type: ignore[method-assign]
        for seed in seeds:
            request = case.request(seed)
            graph = to_networkx(p, request)  # first: a node with a counter (Snapshot) draws its next batch
            received.clear()
            p.request_batch(request)
            for u, v, data in graph.edges(data=True):
                upstream = graph.nodes[u]["node"]
                drawn = [_as_sent(r) for r in data["requests"]]
                sent = [_as_sent(r) for r in received.get(id(upstream), [])]
                where = f"{graph.nodes[u]['label']} -> {graph.nodes[v]['label']} (seed {seed})"
                assert drawn == sent, f"the picture draws {drawn} on {where}, the run sent {sent}"


CHECKS: tuple[Callable[[NodeCase], None], ...] = (
    check_delivers_request,
    check_single_keys,
    check_same_seed,
    check_request_not_mutated,
    check_p_zero,
    check_bad_arguments,
    check_picture_matches_run,
)


def check_node_contract(case: NodeCase) -> None:
    """Run every check of the node contract on ``case``; AssertionError says which and why.

    Example:
        >>> import flowgraph as fg
        >>> from flowgraph.testing import RAW, NodeCase, check_node_contract
        >>> check_node_contract(NodeCase(
        ...     make=lambda **kw: fg.Normalize(**{"array": RAW, **kw}),
        ...     bad_args=[({"array": "RAW"}, "array")],
        ... ))
    """
    for check in CHECKS:
        check(case)


__all__ = [
    "CHECKS",
    "NodeCase",
    "assert_same_batch",
    "check_bad_arguments",
    "check_delivers_request",
    "check_node_contract",
    "check_p_zero",
    "check_picture_matches_run",
    "check_request_not_mutated",
    "check_same_seed",
    "check_single_keys",
    "pipeline_of",
]
