"""The contract every node of ``flowgraph.nodes.__all__`` keeps (DESIGN §7).

The cases (how to build, request and misconfigure each node) live in ``contract_cases.py``; a
node of ``__all__`` without a case fails here. For every node: it delivers exactly the request
(keys, ROIs, voxel sizes, spatial shapes, announced dtypes; graphs only hold points inside their
ROI), also one key at a time; the same seed gives a bit-identical batch, also after rebuilding the
pipeline; the request is not mutated (neither the caller's object nor the object handed to the
node); ``has_p`` matches the constructor and ``p=0`` reproduces the upstream batch exactly; every
bad argument raises ConfigError naming the parameter.
"""

from __future__ import annotations

import copy
import inspect
import re
from typing import Any

import numpy as np
import pytest
from contract_cases import CASES, Case

import flowgraph as fg
from flowgraph.pipeline import normalize_request

NAMES = list(fg.nodes.__all__)


def case_of(name: str) -> Case:
    assert name in CASES, f"{name} has no contract case; register one at the end of tests/nodes/contract_cases.py"
    return CASES[name]


def pipeline_of(case: Case, **overrides: Any) -> fg.Pipeline:
    node = case.make(**overrides)
    if case.upstream is None:
        return fg.Pipeline.coerce(node)
    return case.upstream() + node


def assert_same_batch(a: fg.Batch, b: fg.Batch) -> None:
    """Bit-equal arrays (with equal specs) and graphs with equal ids, locations, edges and attributes."""
    assert set(a) == set(b)
    for key in a:
        x, y = a[key], b[key]
        assert type(x) is type(y)
        assert x.spec == y.spec, key
        if isinstance(x, fg.Array):
            assert x.data.dtype == y.data.dtype and x.data.shape == y.data.shape, key
            assert x.data.tobytes() == y.data.tobytes(), f"{key} differs"
        else:
            np.testing.assert_array_equal(x.ids, y.ids)
            np.testing.assert_array_equal(x.locations, y.locations)
            np.testing.assert_array_equal(x.edges, y.edges)
            assert set(x.attributes) == set(y.attributes)
            for name in x.attributes:
                np.testing.assert_array_equal(x.attributes[name], y.attributes[name])


def bad_arg_ids() -> list[tuple[str, int]]:
    return [(name, i) for name in NAMES if name in CASES for i in range(len(CASES[name].bad_args))]


@pytest.mark.parametrize("name", NAMES)
def test_node_has_a_case(name: str) -> None:
    case_of(name)


@pytest.mark.parametrize("name", NAMES)
def test_delivers_exactly_the_request(name: str) -> None:
    case = case_of(name)
    request = case.request(0)
    with fg.build(pipeline_of(case)) as p:
        batch = p.request_batch(request)
        offered = p.spec
        # the request as the pipeline reads it (ROIs of request.add snapped onto the voxel grid)
        expected = normalize_request(request, offered)
    assert set(batch) == set(request)
    for key, rspec in expected.items():
        value = batch[key]
        assert value.spec.roi == rspec.roi, key
        if isinstance(value, fg.Array):
            assert isinstance(key, fg.ArrayKey)
            spec = offered[key]
            assert value.data.dtype == spec.dtype, key
            assert value.spec.dtype == spec.dtype, key
            if not value.spec.nonspatial:
                vs = value.spec.voxel_size
                assert vs == (rspec.voxel_size or spec.voxel_size), key
                spatial = tuple(s // v for s, v in zip(rspec.roi.shape, vs, strict=True))
                assert value.data.shape[value.data.ndim - len(spatial) :] == spatial, key
        else:
            assert isinstance(value, fg.Graph)
            # every delivered point lies inside the requested ROI
            for location in value.locations:
                assert all(b <= c < e for b, c, e in zip(rspec.roi.begin, location, rspec.roi.end, strict=True))


@pytest.mark.parametrize("name", NAMES)
def test_delivers_each_key_alone(name: str) -> None:
    case = case_of(name)
    if not case.single_keys:
        return
    full = case.request(0)
    with fg.build(pipeline_of(case)) as p:
        for key, spec in full.items():
            request = fg.BatchRequest(random_seed=0)
            request[key] = spec.copy()
            batch = p.request_batch(request)
            assert list(batch) == [key]
            assert batch[key].spec.roi == normalize_request(request, p.spec)[key].roi


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_batch(name: str) -> None:
    case = case_of(name)
    with fg.build(pipeline_of(case)) as p:
        first = p.request_batch(case.request(3))
        other = p.request_batch(case.request(4))
        again = p.request_batch(case.request(3))
    with fg.build(pipeline_of(case)) as p:
        rebuilt = p.request_batch(case.request(3))
    assert_same_batch(first, again)
    assert_same_batch(first, rebuilt)
    assert set(other) == set(first)


class Unchanged(fg.BatchFilter):
    """Hands the very request object it receives to the node under test and checks it afterwards."""

    def __init__(self) -> None:
        self.checked = 0

    def provide(self, request: fg.BatchRequest) -> fg.Batch:
        before = copy.deepcopy(request)
        specs = dict(request.items())
        batch = self.upstream.request_batch(request)
        assert request == before and request.random_seed == before.random_seed, f"{self.upstream.name} changed it"
        assert all(request[k] is s and s == before[k] for k, s in specs.items()), f"{self.upstream.name} changed it"
        self.checked += 1
        return batch


@pytest.mark.parametrize("name", NAMES)
def test_request_is_not_mutated(name: str) -> None:
    case = case_of(name)
    seeded = case.request(7)
    unseeded = case.request(7)
    unseeded.random_seed = None
    before = [copy.deepcopy(seeded), copy.deepcopy(unseeded)]
    specs = [dict(seeded.items()), dict(unseeded.items())]
    spy = Unchanged()
    with fg.build(pipeline_of(case) + spy) as p:
        p.request_batch(seeded)
        p.request_batch(unseeded)
    assert spy.checked == 2
    for request, old, old_specs in zip((seeded, unseeded), before, specs, strict=True):
        assert request == old
        assert request.random_seed == old.random_seed
        assert request._centred == old._centred
        # the very spec objects the caller put in are still there, with their old values
        assert all(request[k] is s for k, s in old_specs.items())
        assert all(request[k] == old[k] for k in old)


@pytest.mark.parametrize("name", NAMES)
def test_p_zero_is_the_identity(name: str) -> None:
    case = case_of(name)
    takes_p = "p" in inspect.signature(getattr(fg.nodes, name)).parameters
    assert case.has_p == takes_p, f"{name}: the case says has_p={case.has_p}, the constructor says {takes_p}"
    if not case.has_p:
        return
    assert case.upstream is not None, f"{name}: a node with p needs an upstream in its case"
    for seed in (0, 1, 2):
        with fg.build(case.upstream()) as p:
            expected = p.request_batch(case.request(seed))
        with fg.build(case.upstream() + case.make(p=0)) as p:
            got = p.request_batch(case.request(seed))
        assert_same_batch(expected, got)


@pytest.mark.parametrize(("name", "index"), bad_arg_ids())
def test_bad_argument_raises_config_error_naming_it(name: str, index: int) -> None:
    overrides, parameter = CASES[name].bad_args[index]
    with pytest.raises(fg.ConfigError, match=re.escape(parameter)):
        CASES[name].make(**overrides)
