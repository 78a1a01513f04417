"""Profiling tables from Batch.profiling records."""

from __future__ import annotations

import numpy as np
import pytest

import flowgraph as fg
from flowgraph.profiling import ProfileRow, ProfileStats, format_table, profile_table

RECORDS = [
    ("Source", "process", 0.004),
    ("Normalize(RAW)", "prepare", 0.001),
    ("Normalize(RAW)", "process", 0.002),
    ("Reject", "process", 0.001),
    ("Source", "process", 0.002),  # a second attempt of Reject
    ("Reject", "process", 0.001),
]


def test_profile_table_sums_per_node_in_order_of_appearance() -> None:
    assert profile_table(RECORDS) == [
        {"node": "Source", "prepare": 0.0, "process": pytest.approx(0.006)},
        {"node": "Normalize(RAW)", "prepare": 0.001, "process": 0.002},
        {"node": "Reject", "prepare": 0.0, "process": 0.002},
    ]
    batch = fg.Batch()
    batch.profiling = list(RECORDS)
    assert batch.profile_table() == profile_table(RECORDS)


def test_profile_stats_gives_means_per_batch_and_shares() -> None:
    stats = ProfileStats()
    stats.add(RECORDS)
    stats.add([("Source", "process", 0.010), ("Normalize(RAW)", "process", 0.002)])
    assert stats.batches == 2
    rows = {r.node: r for r in stats.rows()}
    assert list(rows) == ["Source", "Normalize(RAW)", "Reject"]
    assert rows["Source"].process_ms == pytest.approx(8.0)
    assert rows["Normalize(RAW)"].prepare_ms == pytest.approx(0.5)
    assert rows["Normalize(RAW)"].process_ms == pytest.approx(2.0)
    assert rows["Reject"].total_ms == pytest.approx(1.0)
    assert rows["Source"].share == pytest.approx(16 / 23)
    assert sum(r.share for r in rows.values()) == pytest.approx(1.0)
    stats.reset()
    assert stats.batches == 0 and stats.rows() == []


def test_format_table_is_aligned() -> None:
    rows = [ProfileRow("A", 0.0, 1.0, 0.25), ProfileRow("LongerName", 0.5, 2.5, 0.75)]
    assert format_table(rows, 4, "Stats").splitlines() == [
        "Stats: mean over 4 batches",
        "node        prepare ms  process ms   share",
        "A                0.000       1.000   25.0%",
        "LongerName       0.500       2.500   75.0%",
        "total            0.500       3.500  100.0%",
    ]
    assert ProfileStats().table().splitlines()[-1].split() == ["total", "0.000", "0.000", "0.0%"]


def test_every_batch_carries_prepare_and_process_times_of_every_node() -> None:
    raw = fg.ArrayKey("RAW")
    data = fg.Array(np.zeros((8, 8), np.uint8), fg.ArraySpec(roi=fg.Roi((0, 0), (8, 8)), voxel_size=(1, 1)))
    request = fg.BatchRequest(random_seed=1)
    request.add(raw, (4, 4))
    with fg.build(fg.ArraySource(raw, data) + fg.Normalize(raw) + fg.RandomLocation()) as p:
        batch = p.request_batch(request)
    phases = [(n, ph) for n, ph, _ in batch.profiling]
    assert phases == [
        ("ArraySource(RAW)", "process"),
        ("Normalize(RAW)", "prepare"),
        ("Normalize(RAW)", "process"),
        ("RandomLocation", "prepare"),
        ("RandomLocation", "process"),
    ]
    assert all(s >= 0 for _, _, s in batch.profiling)


def test_profiling_stats_speaks_gunpowder() -> None:
    raw = fg.ArrayKey("RAW")
    data = fg.Array(np.zeros((4, 4), np.uint8), fg.ArraySpec(roi=fg.Roi((0, 0), (4, 4)), voxel_size=(1, 1)))
    request = fg.BatchRequest(random_seed=0)
    request[raw] = fg.ArraySpec(roi=fg.Roi((0, 0), (4, 4)))
    with fg.build(fg.ArraySource(raw, data) + fg.Normalize(raw) + fg.Stack(3)) as p:
        batch = p.request_batch(request)
    stats = batch.profiling_stats
    summaries = stats.get_timing_summaries()
    assert ("Normalize", "process") in summaries and ("ArraySource", "process") in summaries
    normalize = stats.get_timing_summary("Normalize", "process")
    assert normalize.counts() == 3  # once per repetition of the stack
    times = [s for n, ph, s in batch.profiling if n == "Normalize(RAW)" and ph == "process"]
    assert normalize.min() == min(times) and normalize.max() == max(times)
    assert np.isclose(normalize.mean(), np.mean(times)) and np.isclose(normalize.median(), np.median(times))
    assert np.isclose(stats.span_time(), sum(s for _, _, s in batch.profiling))
    with pytest.raises(RuntimeError, match="No timing summary for node Pad"):
        stats.get_timing_summary("Pad", "process")
    merged = fg.Batch().profiling_stats
    merged.merge_with(stats)
    assert merged.get_timing_summary("Normalize", "process").counts() == 3
