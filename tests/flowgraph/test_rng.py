"""Randomness: reproducible per request seed and node position, independent of downstream nodes, never global."""

from __future__ import annotations

import random

import numpy as np
from engine_helpers import Recorder, array_source, coordinate_volume

import flowgraph as fg
from flowgraph.rng import derive_seed, generator

RAW, LABELS = fg.ArrayKey("RAW"), fg.ArrayKey("LABELS")


class Noise(fg.BatchFilter):
    """Updates RAW: adds uniform noise from this node's generator (test-only)."""

    def setup(self) -> None:
        self.updates(RAW, fg.ArraySpec(dtype=np.float64))

    def process(self, batch: fg.Batch, request: fg.BatchRequest) -> fg.Batch:
        array = batch[RAW]
        noise = self.rng(request).uniform(0, 1, array.data.shape)  # type: ignore[union-attr]
        spec = array.spec.copy()  # type: ignore[union-attr]
        spec.dtype = np.dtype(np.float64)
        return fg.Batch({RAW: fg.Array(array.data + noise, spec)})  # type: ignore[union-attr]


def source() -> fg.ArraySource:
    return array_source(RAW, (20, 20), (2, 2))


def request(seed: int | None) -> fg.BatchRequest:
    r = fg.BatchRequest(random_seed=seed)
    r.add(RAW, (8, 8))
    return r


def run(pipeline: fg.Pipeline, seeds: list[int | None]) -> list[np.ndarray]:
    with fg.build(pipeline) as p:
        return [p.request_batch(request(seed))[RAW].data for seed in seeds]  # type: ignore[union-attr]


def test_derive_seed_and_generator_are_deterministic_functions_of_seed_and_path() -> None:
    assert derive_seed(1, 2, 3) == derive_seed(1, 2, 3)
    seeds = {derive_seed(1), derive_seed(2), derive_seed(1, 1), derive_seed(1, 2), derive_seed(1, 2, 3)}
    assert len(seeds) == 5 and all(0 <= s < 2**63 for s in seeds)
    a, b = generator(5, 1).integers(0, 2**32, 8), generator(5, 1).integers(0, 2**32, 8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, generator(5, 2).integers(0, 2**32, 8))


def test_node_positions_and_attempts_give_distinct_streams() -> None:
    # what the engine relies on: (seed, position) and (seed, position, attempt >= 1) never coincide
    paths = [(seed, pos) for seed in (0, 1, 2**40) for pos in range(1, 6)]
    paths += [(seed, pos, attempt) for seed in (0, 7) for pos in (1, 2) for attempt in (1, 2, 3)]
    draws = {tuple(generator(*path).integers(0, 2**32, 4).tolist()) for path in paths}
    assert len(draws) == len(paths)
    assert len({derive_seed(*path) for path in paths}) == len(paths)


def test_same_seed_gives_a_bit_identical_batch() -> None:
    first = run(source() + fg.RandomLocation() + Noise(), [11, 12])
    again = run(source() + fg.RandomLocation() + Noise(), [11, 12])
    for a, b in zip(first, again):
        assert a.dtype == b.dtype == np.float64
        assert a.tobytes() == b.tobytes()


def test_different_seeds_give_different_batches() -> None:
    batches = run(source() + fg.RandomLocation() + Noise(), [1, 2, 3])
    assert len({b.tobytes() for b in batches}) == 3


def test_a_nodes_draws_do_not_change_when_nodes_are_appended_downstream() -> None:
    seeds: list[int | None] = list(range(8))
    short = run(source() + fg.RandomLocation() + Noise(), seeds)
    longer = run(source() + fg.RandomLocation() + Noise() + Recorder(RAW) + fg.BatchFilter() + Noise(), seeds)
    windows = run(source() + fg.RandomLocation(), seeds)
    windows_longer = run(source() + fg.RandomLocation() + Recorder(RAW) + Noise(), seeds)
    for s, w, w2, lg in zip(short, windows, windows_longer, longer):
        # RandomLocation's choice is visible in the coordinate-encoding data: the same window ...
        np.testing.assert_array_equal(np.floor(w2), w)
        # ... and the first Noise draws the same numbers; the appended Noise adds its own on top
        extra = lg - s
        assert ((extra >= 0) & (extra < 1)).all() and not np.allclose(extra, 0)
        np.testing.assert_array_equal(np.floor(s), w)
    assert len({w.tobytes() for w in windows}) > 1  # the windows really are random


def test_random_location_picks_the_same_roi_with_or_without_a_downstream_filter() -> None:
    def rois(pipeline: fg.Pipeline) -> list[fg.Roi]:
        rec = pipeline.nodes()[1]
        assert isinstance(rec, Recorder)
        with fg.build(pipeline) as p:
            for seed in range(6):
                p.request_batch(request(seed))
        return [r[RAW].roi for r in rec.requests]

    alone = rois(source() + Recorder(RAW) + fg.RandomLocation())
    followed = rois(source() + Recorder(RAW) + fg.RandomLocation() + Noise() + Recorder(RAW))
    assert alone == followed and len(set(alone)) > 1


def test_identical_branches_of_a_merge_draw_differently() -> None:
    a = source() + Noise()
    b = array_source(LABELS, (20, 20), (2, 2), dtype=np.float64) + Renamed()
    r = fg.BatchRequest(random_seed=4)
    r[RAW] = fg.ArraySpec(roi=fg.Roi((0, 0), (8, 8)))
    r[LABELS] = fg.ArraySpec(roi=fg.Roi((0, 0), (8, 8)))
    with fg.build((a, b) + fg.MergeProvider()) as p:
        batch = p.request_batch(r)
    noise_a = batch[RAW].data - coordinate_volume((4, 4))  # type: ignore[union-attr]
    noise_b = batch[LABELS].data - coordinate_volume((4, 4))  # type: ignore[union-attr]
    assert not np.allclose(noise_a, noise_b)


class Renamed(fg.BatchFilter):
    """Noise on LABELS (the same position in its branch as Noise on RAW in the other)."""

    def setup(self) -> None:
        self.updates(LABELS)

    def process(self, batch: fg.Batch, request: fg.BatchRequest) -> None:
        batch[LABELS].data += self.rng(request).uniform(0, 1, batch[LABELS].data.shape)  # type: ignore[union-attr]


def test_no_global_random_state_is_touched() -> None:
    np.random.seed(1234)
    random.seed(1234)
    np_state = np.random.get_state()
    py_state = random.getstate()
    run(source() + fg.RandomLocation() + Noise(), [5, None, None])
    after = np.random.get_state()
    assert py_state == random.getstate()
    assert np_state[0] == after[0] and np_state[2:] == after[2:]
    np.testing.assert_array_equal(np_state[1], after[1])


def test_unseeded_requests_get_distinct_seeds_and_the_callers_request_keeps_none() -> None:
    rec = Recorder(RAW)
    caller = fg.BatchRequest()
    caller[RAW] = fg.ArraySpec(roi=fg.Roi((0, 0), (8, 8)))
    with fg.build(source() + rec) as p:
        batches = [p.request_batch(caller) for _ in range(5)]
    seeds = [r.random_seed for r in rec.requests]
    assert len(set(seeds)) == 5 and all(isinstance(s, int) and 0 <= s < 2**63 for s in seeds)
    assert caller.random_seed is None
    assert len(batches) == 5


def test_unseeded_requests_in_separate_builds_differ() -> None:
    a = run(source() + fg.RandomLocation() + Noise(), [None])
    b = run(source() + fg.RandomLocation() + Noise(), [None])
    assert a[0].tobytes() != b[0].tobytes()


def test_a_seeded_request_is_passed_unchanged_to_every_node() -> None:
    first, second = Recorder(RAW), Recorder(RAW)
    with fg.build(source() + first + fg.RandomLocation() + second) as p:
        p.request_batch(request(77))
    assert first.requests[0].random_seed == second.requests[0].random_seed == 77


def test_paths_are_unambiguous() -> None:
    """Trailing zeros and large values must not make two different paths share a stream."""
    assert derive_seed(3, 1) != derive_seed(3, 1, 0)
    assert derive_seed(3) != derive_seed(3, 0)
    assert derive_seed(5 + 2**32, 1) != derive_seed(5, 1, 1)
    assert generator(3, 1).random() != generator(3, 1, 0).random()
