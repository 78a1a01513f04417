"""Stack: a batch dimension of independent repetitions, in parallel behind a PreCache."""

from __future__ import annotations

import numpy as np
import pytest
from contract_cases import POINTS, RAW, coordinate_volume
from contract_cases import sources as contract_sources

import flowgraph as fg
from flowgraph.nodes.stack import repetition_seeds, stack_arrays, stack_graphs, upcoming_seeds
from flowgraph.rng import derive_seed

VOXEL_SIZE = (2, 1, 1)


def upstream() -> fg.Pipeline:
    data = coordinate_volume((10, 30, 30))
    roi = fg.Roi((0, 0, 0), (20, 30, 30))
    return fg.ArraySource(RAW, fg.Array(data, fg.ArraySpec(roi=roi, voxel_size=VOXEL_SIZE))) + fg.RandomLocation()


def request(seed: int) -> fg.BatchRequest:
    r = fg.BatchRequest(random_seed=seed)
    r.add(RAW, (8, 6, 6))
    return r


def test_repetition_i_is_the_request_with_a_derived_seed() -> None:
    with fg.build(upstream() + fg.Stack(3)) as p:
        stacked = p.request_batch(request(9))
    with fg.build(upstream()) as p:
        singles = [p.request_batch(request(derive_seed(9, i)))[RAW].data for i in range(3)]
    assert stacked[RAW].data.shape == (3, 4, 6, 6)
    assert stacked[RAW].spec.roi == request(9)[RAW].roi
    for i in range(3):
        np.testing.assert_array_equal(stacked[RAW].data[i], singles[i])
    assert len({a.tobytes() for a in singles}) == 3  # independent places


def test_seeds() -> None:
    assert repetition_seeds(5, 2) == [derive_seed(5, 0), derive_seed(5, 1)]
    coming = upcoming_seeds(5, 2)
    assert [next(coming) for _ in range(4)] == [*repetition_seeds(6, 2), *repetition_seeds(7, 2)]
    assert next(upcoming_seeds(2**63 - 1, 1)) == derive_seed(0, 0)


def test_behind_a_precache_the_repetitions_run_in_parallel_and_the_next_are_prefetched() -> None:
    with fg.build(upstream() + fg.Stack(3)) as p:
        expected = [p.request_batch(request(s))[RAW].data for s in (20, 21)]
    cache = fg.PreCache(cache_size=6, num_workers=2)
    with fg.build(upstream() + cache + fg.Stack(3)) as p:
        got = [p.request_batch(request(s)) for s in (20, 21)]
        stats = cache.stats()
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(g[RAW].data, e)
    assert stats == {"hits": 3, "misses": 3}  # the second stack's repetitions were prefetched
    names = [name for name, _, _ in got[0].profiling]
    assert names.count("PreCache") == 3 and names[-1] == "Stack"


def test_graphs_are_concatenated_with_their_repetition() -> None:
    r = fg.BatchRequest(random_seed=4)
    r[POINTS] = fg.GraphSpec(roi=fg.Roi((0, 0, 0), (48, 80, 80)))
    with fg.build(contract_sources() + fg.Stack(2)) as p:
        graph = p.request_batch(r)[POINTS]
    assert isinstance(graph, fg.Graph)
    assert len(graph) == 40  # the same 20 points twice (no randomness upstream)
    np.testing.assert_array_equal(graph.ids, np.arange(40))
    np.testing.assert_array_equal(graph.attributes["stack_index"], [0] * 20 + [1] * 20)
    np.testing.assert_array_equal(graph.attributes["original_id"][:20], graph.attributes["original_id"][20:])
    np.testing.assert_array_equal(graph.locations[:20], graph.locations[20:])


def test_stack_graphs_renumbers_points_and_edges() -> None:
    spec = fg.GraphSpec(roi=fg.Roi((0, 0), (10, 10)))
    a = fg.Graph([7, 3], [[1.0, 1.0], [2.0, 2.0]], spec, {"size": np.array([1.5, 2.5])}, edges=[[7, 3]])
    b = fg.Graph(
        [3, 9, 4],
        [[5.0, 5.0], [6.0, 6.0], [7.0, 7.0]],
        spec,
        {"size": np.array([3.5, 4.5, 5.5])},
        edges=[[9, 3], [4, 9]],
    )
    g = stack_graphs([a, b])
    np.testing.assert_array_equal(g.ids, [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(g.attributes["original_id"], [7, 3, 3, 9, 4])
    np.testing.assert_array_equal(g.attributes["stack_index"], [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(g.attributes["size"], [1.5, 2.5, 3.5, 4.5, 5.5])
    np.testing.assert_array_equal(g.edges, [[0, 1], [3, 2], [4, 3]])
    np.testing.assert_array_equal(g.locations[:, 0], [1, 2, 5, 6, 7])


def test_stack_graphs_refuses_inconsistent_attributes() -> None:
    spec = fg.GraphSpec(roi=fg.Roi((0,), (10,)))
    a = fg.Graph([1], [[1.0]], spec, {"size": np.array([1.0])})
    b = fg.Graph([1], [[2.0]], spec)
    with pytest.raises(fg.BatchContractError, match="repetition 1 of a graph lacks the point attribute 'size'"):
        stack_graphs([a, b])
    c = fg.Graph([1], [[2.0]], spec, {"stack_index": np.array([0])})
    with pytest.raises(fg.BatchContractError, match="already have the attribute 'stack_index'"):
        stack_graphs([c, c])


def test_stack_arrays_refuses_repetitions_of_different_shapes() -> None:
    spec = fg.ArraySpec(roi=fg.Roi((0,), (4,)), voxel_size=(1,))
    other = fg.ArraySpec(roi=fg.Roi((0,), (2,)), voxel_size=(1,))
    with pytest.raises(fg.BatchContractError, match="repetition 1 has shape"):
        stack_arrays([fg.Array(np.zeros(4), spec), fg.Array(np.zeros(2), other)])
