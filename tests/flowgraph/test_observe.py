"""One observation channel: records on the batch (timings, drawn parameters, steps), replay, and
records travelling back from PreCache's worker processes."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest
from engine_helpers import array_source

import flowgraph as fg
from flowgraph import observe
from flowgraph.observe import Record, observing, replaying
from flowgraph.parallel import shared_memory
from flowgraph.profiling import ProfileStats

RAW = fg.ArrayKey("RAW")


def request(seed: int | None = None) -> fg.BatchRequest:
    req = fg.BatchRequest(random_seed=seed)
    req.add(RAW, (8, 8, 8))
    return req


def chain() -> fg.Pipeline:
    return array_source(RAW, shape=(10, 20, 20)) + fg.Normalize(RAW) + fg.RandomLocation()


# -- records on the batch -------------------------------------------------------------------------------


def test_every_node_adds_timing_records_with_its_position() -> None:
    with fg.build(chain()) as p:
        batch = p.request_batch(request(1))
    assert [(r.node, r.position, r.phase) for r in batch.records] == [
        ("ArraySource(RAW)", 1, "process"),
        ("Normalize(RAW)", 2, "prepare"),
        ("Normalize(RAW)", 2, "process"),
        ("RandomLocation", 3, "prepare"),
        ("RandomLocation", 3, "process"),
    ]
    assert all(r.seconds >= 0 and r.value is None for r in batch.records)
    assert batch.drawn_parameters() == {} and batch.steps() == []  # nothing observed: timings only


def test_profiling_is_a_live_view_of_the_timing_records() -> None:
    batch = fg.Batch()
    batch.profiling.append(("A", "process", 1.0))
    batch.records.append(Record("B", 2, "params", 0.0, {"p": 1}))
    batch.profiling += [("B", "prepare", 0.25)]
    assert batch.records[0] == Record("A", None, "process", 1.0)
    assert batch.profiling == [("A", "process", 1.0), ("B", "prepare", 0.25)]
    assert len(batch.profiling) == 2 and batch.profiling[-1] == ("B", "prepare", 0.25)
    assert [name for name, _, _ in batch.profiling] == ["A", "B"]
    batch.profiling.insert(0, ("Z", "process", 0.5))
    del batch.profiling[1]
    assert [r.node for r in batch.records] == ["Z", "B", "B"]  # the params record stays
    other = fg.Batch()
    other.profiling.extend(batch.profiling)  # another batch's view: every record comes along
    assert other.records == batch.records
    other.profiling = [("C", "process", 1.0)]  # a plain list replaces the records
    assert other.records == [Record("C", None, "process", 1.0)]
    shared = fg.Batch()
    shared.profiling = batch.profiling  # another batch's view: shares the list
    assert shared.records is batch.records


def test_profile_tables_read_only_the_timing_records() -> None:
    batch = fg.Batch()
    batch.records += [
        Record("A", 1, "process", 1.0),
        Record("A", 1, "params", 0.0, (1, 2)),
        Record("A", 1, "step", 0.0, fg.Batch()),
        Record("B", 2, "prepare", 0.5),
    ]
    assert batch.profile_table() == [
        {"node": "A", "prepare": 0.0, "process": 1.0},
        {"node": "B", "prepare": 0.5, "process": 0.0},
    ]
    stats = ProfileStats()
    stats.add(batch.records)
    assert [(r.node, r.process_ms) for r in stats.rows()] == [("A", 1000.0), ("B", 0.0)]


def test_observing_checks_its_names_and_nests() -> None:
    with pytest.raises(fg.ConfigError, match="can observe 'params', 'steps', got 'param'"), observing("param"):
        pass
    assert observe.observed() == frozenset()
    with observing("params"):
        with observing("steps"):
            assert observe.observed() == {"params", "steps"}
        assert observe.observed() == {"params"}
    assert observe.observed() == frozenset() and observe.marker() is None


def test_observing_belongs_to_the_thread() -> None:
    seen = []
    with observing("params"):
        thread = threading.Thread(target=lambda: seen.append(observe.observed()))
        thread.start()
        thread.join()
    assert seen == [frozenset()]


# -- drawn parameters and replay -----------------------------------------------------------------------------


def test_params_record_what_random_nodes_drew() -> None:
    with fg.build(chain()) as p:
        with observing("params"):
            batch = p.request_batch(request(1))
        plain = p.request_batch(request(1))
    params = batch.drawn_parameters()
    assert list(params) == [3] and isinstance(params[3], fg.Coordinate)
    assert [r.phase for r in batch.records if r.position == 3] == ["prepare", "process", "params"]
    np.testing.assert_array_equal(batch[RAW].data, plain[RAW].data)  # observing changes nothing


def test_replaying_the_drawn_shift_gives_the_same_batch_for_another_seed() -> None:
    with fg.build(chain()) as p:
        with observing("params"):
            first = p.request_batch(request(1))
        with replaying(first):
            again = p.request_batch(request(2))
        with replaying(first.records):
            from_records = p.request_batch(request(3))
        with replaying({3: first.drawn_parameters()[3]}):
            from_mapping = p.request_batch(request(4))
        other = p.request_batch(request(2))
    for batch in (again, from_records, from_mapping):
        np.testing.assert_array_equal(batch[RAW].data, first[RAW].data)
    assert not np.array_equal(other[RAW].data, first[RAW].data)  # seed 2 alone draws elsewhere


def test_replaying_checks_its_argument() -> None:
    with pytest.raises(fg.ConfigError, match="keyed by node position"), replaying({"RandomLocation": (0, 0, 0)}):
        pass
    with pytest.raises(fg.ConfigError, match="expected a Batch, records or a mapping"), replaying(3):  # type: ignore[arg-type]
        pass


def test_two_draws_at_one_position_cannot_be_replayed_as_a_whole() -> None:
    batch = fg.Batch()
    batch.records += [Record("RandomLocation", 3, "params", 0.0, 1), Record("RandomLocation", 3, "params", 0.0, 2)]
    with pytest.raises(ValueError, match="both drew at position 3"):
        batch.drawn_parameters()


# -- steps -----------------------------------------------------------------------------------------------------


def test_steps_are_copies_of_what_each_node_delivered() -> None:
    with fg.build(chain()) as p, observing("steps"):
        batch = p.request_batch(request(1))
    steps = batch.steps()
    assert [(r.node, r.position) for r in steps] == [
        ("ArraySource(RAW)", 1),
        ("Normalize(RAW)", 2),
        ("RandomLocation", 3),
    ]
    assert all(r.value.records == [] for r in steps)
    last = steps[-1].value[RAW]
    np.testing.assert_array_equal(last.data, batch[RAW].data)
    assert last.data is not batch[RAW].data and last.spec.roi == batch[RAW].spec.roi
    assert steps[0].value[RAW].data.dtype == np.int64 and steps[1].value[RAW].data.dtype == np.float32


def test_records_travel_through_shared_memory() -> None:
    spec = fg.ArraySpec(roi=fg.Roi((0,), (40000,)), voxel_size=(1,))
    batch = fg.Batch({RAW: fg.Array(np.arange(40000.0), spec)})
    step = fg.Batch({RAW: fg.Array(np.ones(4), fg.ArraySpec(roi=fg.Roi((0,), (4,)), voxel_size=(1,)))})
    batch.records += [
        Record("S", 1, "process", 0.5),
        Record("R", 2, "params", 0.0, (1, 2)),
        Record("R", 2, "step", 0.0, step),
    ]
    packed = shared_memory.pack_batch(batch, f"fgtest{np.random.default_rng().integers(1 << 30)}_")
    back = shared_memory.unpack_batch(pickle.loads(pickle.dumps(packed)))
    assert back.records[:2] == batch.records[:2]
    np.testing.assert_array_equal(back.records[2].value[RAW].data, np.ones(4))


# -- across worker processes -------------------------------------------------------------------------------------


def test_records_travel_back_from_precache_workers() -> None:
    direct = chain()
    with fg.build(direct) as p, observing("params"):
        expected = p.request_batch(request(5))
    cached = chain() + fg.PreCache(num_workers=2, cache_size=2)
    with fg.build(cached) as p:
        plain = p.request_batch(request(5))  # prefetches seeds 6, 7 without observing
        with observing("params", "steps"):
            observed = p.request_batch(request(6))  # must not be answered by the plain prefetch
        with replaying(expected):
            replayed = p.request_batch(request(7))
        again = p.request_batch(request(8))
    assert [(n, ph) for n, ph, _ in plain.profiling] == [
        ("ArraySource(RAW)", "process"),
        ("Normalize(RAW)", "prepare"),
        ("Normalize(RAW)", "process"),
        ("RandomLocation", "prepare"),
        ("RandomLocation", "process"),
        ("PreCache", "process"),
    ]
    assert plain.drawn_parameters() == {} and plain.steps() == []
    assert list(observed.drawn_parameters()) == [3]
    assert [r.node for r in observed.steps()] == ["ArraySource(RAW)", "Normalize(RAW)", "RandomLocation", "PreCache"]
    np.testing.assert_array_equal(replayed[RAW].data, expected[RAW].data)
    with fg.build(chain()) as p:
        np.testing.assert_array_equal(again[RAW].data, p.request_batch(request(8))[RAW].data)


# -- replaying a whole augmentation pipeline --------------------------------------------------------------------

LABELS = fg.ArrayKey("LABELS")


def augmented(precache: bool = False) -> fg.Pipeline:
    """source + RandomLocation + ElasticAugment + SimpleAugment + IntensityAugment, on EM-like data."""
    rng = np.random.default_rng(0)
    spec = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (16 * 40, 64 * 4, 64 * 4)), voxel_size=(40, 4, 4))
    raw = fg.ArraySource(RAW, fg.Array(rng.random((16, 64, 64), dtype=np.float32), spec))
    labels = fg.ArraySource(
        LABELS, fg.Array(rng.integers(0, 50, (16, 64, 64)).astype(np.uint64), spec.replace(interpolatable=False))
    )
    pipeline = (
        (raw, labels)
        + fg.MergeProvider()
        + fg.RandomLocation()
        + fg.ElasticAugment([2, 8, 8], [0, 2, 2], [0, np.pi / 2], prob_slip=0.2, prob_shift=0.2, max_misalign=2)
        + fg.SimpleAugment(transpose_only=[1, 2])
        + fg.IntensityAugment(RAW, 0.8, 1.2, -0.1, 0.1, z_section_wise=True)
    )
    return pipeline + fg.PreCache(num_workers=2, cache_size=1) if precache else pipeline


def augmented_request(seed: int) -> fg.BatchRequest:
    req = fg.BatchRequest(random_seed=seed)
    req.add(RAW, (6 * 40, 24 * 4, 24 * 4))
    req.add(LABELS, (4 * 40, 12 * 4, 12 * 4))
    return req


def assert_same(a: fg.Batch, b: fg.Batch) -> None:
    for key in (RAW, LABELS):
        assert a[key].spec.roi == b[key].spec.roi
        np.testing.assert_array_equal(a[key].data, b[key].data)


def test_replaying_recorded_params_on_another_seed_gives_the_same_batch() -> None:
    with fg.build(augmented()) as p:
        with observing("params"):
            recorded = p.request_batch(augmented_request(11))
        with replaying(recorded):
            replayed = p.request_batch(augmented_request(23))
        plain = p.request_batch(augmented_request(23))
    params = recorded.drawn_parameters()
    assert [r.node for r in recorded.records if r.phase == "params"] == [
        "RandomLocation",
        "ElasticAugment",
        "SimpleAugment",
        "IntensityAugment(RAW)",
    ]
    assert len(params) == 4 and all(v is not None for v in params.values())  # every gate open (p=1)
    assert_same(replayed, recorded)
    assert not np.array_equal(plain[RAW].data, recorded[RAW].data)  # seed 23 alone gives another batch


def test_params_recorded_in_precache_workers_replay_anywhere() -> None:
    with fg.build(augmented()) as p, observing("params"):
        direct = p.request_batch(augmented_request(11))
    with fg.build(augmented(precache=True)) as p:
        with observing("params"):
            cached = p.request_batch(augmented_request(11))
        with replaying(direct):
            replayed_in_workers = p.request_batch(augmented_request(5))
    assert_same(cached, direct)
    assert [(r.node, r.phase) for r in cached.records][-2:] == [
        ("IntensityAugment(RAW)", "params"),
        ("PreCache", "process"),
    ]
    assert {r.node for r in cached.records if r.is_timing} >= {"ArraySource(RAW)", "ElasticAugment", "PreCache"}
    assert pickle.dumps(cached.drawn_parameters()) == pickle.dumps(direct.drawn_parameters())
    assert_same(replayed_in_workers, direct)
    with fg.build(augmented()) as p, replaying(cached):  # recorded in a worker, replayed here
        assert_same(p.request_batch(augmented_request(7)), direct)


def test_random_provider_records_and_replays_its_choice() -> None:
    spec = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (40, 40, 40)), voxel_size=(4, 2, 2))
    branches = tuple(fg.ArraySource(RAW, fg.Array(np.full((10, 20, 20), i), spec)) for i in range(4))
    pipeline = branches + fg.RandomProvider() + fg.RandomLocation()
    with fg.build(pipeline) as p:
        with observing("params"):
            recorded = [p.request_batch(request(seed)) for seed in range(8)]
        choices = [b.drawn_parameters()[5] for b in recorded]
        assert len(set(choices)) > 1  # the seeds choose different branches
        for seed, batch in enumerate(recorded):
            with replaying(batch):
                again = p.request_batch(request(100 + seed))
            np.testing.assert_array_equal(again[RAW].data, batch[RAW].data)
            assert again[RAW].spec.roi == batch[RAW].spec.roi
