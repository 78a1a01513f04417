"""The contract every node of ``flowgraph.nodes.__all__`` keeps (DESIGN §7).

The checks are the public ones of :mod:`flowgraph.testing` (what a node written outside this
repository runs too); the cases (how to build, request and misconfigure each node) live in
``contract_cases.py``, and a node of ``__all__`` without a case fails here. For every node: it
delivers exactly the request (keys, ROIs, voxel sizes, spatial shapes, announced dtypes; graphs
only hold points inside their ROI), also one key at a time; the same seed gives a bit-identical
batch, also after rebuilding the pipeline; the request is not mutated; ``has_p`` matches the
constructor and ``p=0`` reproduces the upstream batch exactly; every bad argument raises
ConfigError naming the parameter; the pipeline picture draws on every edge exactly the requests
the real run sends.
"""

from __future__ import annotations

import re

import pytest
from contract_cases import CASES, Case

import flowgraph as fg
from flowgraph import testing

NAMES = list(fg.nodes.__all__)


def case_of(name: str) -> Case:
    assert name in CASES, f"{name} has no contract case; register one at the end of tests/nodes/contract_cases.py"
    return CASES[name]


def bad_arg_ids() -> list[tuple[str, int]]:
    return [(name, i) for name in NAMES if name in CASES for i in range(len(CASES[name].bad_args))]


@pytest.mark.parametrize("name", NAMES)
def test_node_has_a_case(name: str) -> None:
    case_of(name)


@pytest.mark.parametrize("name", NAMES)
def test_delivers_exactly_the_request(name: str) -> None:
    testing.check_delivers_request(case_of(name))


@pytest.mark.parametrize("name", NAMES)
def test_delivers_each_key_alone(name: str) -> None:
    testing.check_single_keys(case_of(name))


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_batch(name: str) -> None:
    testing.check_same_seed(case_of(name))


@pytest.mark.parametrize("name", NAMES)
def test_request_is_not_mutated(name: str) -> None:
    testing.check_request_not_mutated(case_of(name))


@pytest.mark.parametrize("name", NAMES)
def test_p_zero_is_the_identity(name: str) -> None:
    testing.check_p_zero(case_of(name))


@pytest.mark.parametrize("name", NAMES)
def test_the_picture_draws_the_requests_the_run_sends(name: str) -> None:
    testing.check_picture_matches_run(case_of(name), seeds=range(4))


@pytest.mark.parametrize(("name", "index"), bad_arg_ids())
def test_bad_argument_raises_config_error_naming_it(name: str, index: int) -> None:
    overrides, parameter = CASES[name].bad_args[index]
    with pytest.raises(fg.ConfigError, match=re.escape(parameter)):
        CASES[name].make(**overrides)


def test_check_node_contract_runs_every_check_on_a_node_from_outside() -> None:
    testing.check_node_contract(case_of("Normalize"))
    assert len(testing.CHECKS) == 7
