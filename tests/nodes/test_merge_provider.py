"""MergeProvider: the union of disjoint keys of several pipelines."""

from __future__ import annotations

import numpy as np
import pytest
from contract_cases import coordinate_volume

import flowgraph as fg

RAW = fg.ArrayKey("RAW")
LABELS = fg.ArrayKey("LABELS")
OTHER = fg.ArrayKey("OTHER")


def source(key: fg.ArrayKey, data: np.ndarray, offset: tuple[int, int] = (0, 0)) -> fg.ArraySource:
    roi = fg.Roi(offset, data.shape)
    return fg.ArraySource(key, fg.Array(data, fg.ArraySpec(roi=roi, voxel_size=(1, 1))))


def test_merges_specs_and_data_exactly() -> None:
    raw, labels = coordinate_volume((6, 7)), coordinate_volume((4, 4)).astype(np.uint64)
    pipeline = (source(RAW, raw), source(LABELS, labels, (2, 3))) + fg.MergeProvider()
    request = fg.BatchRequest(random_seed=0)
    request[RAW] = fg.ArraySpec(roi=fg.Roi((1, 1), (3, 3)))
    request[LABELS] = fg.ArraySpec(roi=fg.Roi((3, 4), (2, 2)))
    with fg.build(pipeline) as p:
        assert set(p.spec) == {RAW, LABELS}
        assert p.spec[RAW].roi == fg.Roi((0, 0), (6, 7)) and p.spec[LABELS].roi == fg.Roi((2, 3), (4, 4))
        assert p.spec[LABELS].dtype == np.uint64
        batch = p.request_batch(request)
        only_labels = fg.BatchRequest(random_seed=0)
        only_labels[LABELS] = request[LABELS]
        assert set(p.request_batch(only_labels)) == {LABELS}
    np.testing.assert_array_equal(batch[RAW].data, raw[1:4, 1:4])
    np.testing.assert_array_equal(batch[LABELS].data, labels[1:3, 1:3])


def test_identical_branches_draw_differently() -> None:
    """Each branch gets its own seed, so two RandomLocations pick independent places."""
    data = coordinate_volume((30, 30))
    pipeline = (
        source(RAW, data) + fg.RandomLocation(),
        source(OTHER, data) + fg.RandomLocation(),
    ) + fg.MergeProvider()
    differ = 0
    with fg.build(pipeline) as p:
        for seed in range(10):
            request = fg.BatchRequest(random_seed=seed)
            request[RAW] = fg.ArraySpec(roi=fg.Roi((0, 0), (2, 2)))
            request[OTHER] = fg.ArraySpec(roi=fg.Roi((0, 0), (2, 2)))
            batch = p.request_batch(request)
            differ += int(batch[RAW].data[0, 0] != batch[OTHER].data[0, 0])
    assert differ >= 9


def test_duplicate_keys_are_a_setup_error() -> None:
    pipeline = (source(RAW, np.zeros((2, 2))), source(LABELS, np.zeros((2, 2))), source(RAW, np.ones((2, 2))))
    with (
        pytest.raises(
            fg.SetupError, match=r"MergeProvider: RAW is provided by both ArraySource\(RAW\) and ArraySource\(RAW\)"
        ),
        fg.build(pipeline + fg.MergeProvider()),
    ):
        pass  # pragma: no cover


def test_a_single_upstream_is_a_setup_error() -> None:
    with (
        pytest.raises(fg.SetupError, match="MergeProvider: needs at least two upstream pipelines"),
        fg.build((source(RAW, np.zeros((2, 2))),) + fg.MergeProvider()),
    ):
        pass  # pragma: no cover
