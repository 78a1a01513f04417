"""MissingSection: the output is the input with whole sections deleted, the request thicker by as many."""

from __future__ import annotations

import numpy as np
import pytest
from test_mis_alignment import LABELS, POINTS, RAW, VS, cells, coordinates, expected, pipeline, request

import flowgraph as fg
from flowgraph.nodes.missing_section import SectionDeletion

ROI = fg.Roi((12, 30, 30), (16, 60, 60))  # sections 3..6 of 10


class Spy(fg.BatchFilter):
    """Records the RAW ROI it is asked for."""

    def __init__(self) -> None:
        self.seen: list[fg.Roi] = []

    def prepare(self, request: fg.BatchRequest) -> None:
        self.seen.append(request[RAW].roi)


def test_section_deletion_maps_rows_and_points() -> None:
    t = SectionDeletion(begin=10, source_begin=5, size=5, kept=(0, 2, 3, 5))  # input sections 1 and 4 deleted
    roi = fg.Roi((10, 0), (20, 4))
    np.testing.assert_array_equal(t.source_z(roi, fg.Coordinate((5, 1))), [5, 15, 20, 30])
    read, _ = t.plan(roi, fg.Coordinate((5, 1)))
    assert read == fg.Roi((5, 0), (30, 4))
    moved = t.move_points(np.array([[7.0, 1.0], [12.0, 1.0], [16.0, 2.0], [31.0, 3.0]]))
    np.testing.assert_array_equal(moved[[0, 2, 3]], [[12.0, 1.0], [16.0, 2.0], [26.0, 3.0]])
    assert np.isnan(moved[1]).all()  # in the deleted section 1


def test_the_output_is_the_input_without_num_sections_inner_sections() -> None:
    spy = Spy()
    with fg.build(pipeline(spy + fg.MissingSection(num_sections=2, p=1.0))) as p:
        for seed in range(20):
            out = p.request_batch(request(seed, ROI, RAW))[RAW].data
            z = out[:, 0, 0] // 10000
            np.testing.assert_array_equal(out - z[:, None, None] * 10000, expected(ROI) % 10000)  # planes intact
            assert z[0] == 2 and z[-1] == 7 and np.all(np.diff(z) >= 1)  # 1 section before, 1 after
            assert np.sum(np.diff(z) - 1) == 2  # exactly two gaps
            assert spy.seen[-1] == fg.Roi((8, 30, 30), (24, 60, 60))  # two sections more


def test_smaller_arrays_lose_the_same_world_sections_and_points_follow() -> None:
    labels_roi = fg.Roi((16, 40, 40), (8, 40, 40))  # sections 4 and 5 only
    with fg.build(pipeline(fg.MissingSection(num_sections=3, p=1.0))) as p:
        for seed in range(20):
            r = request(seed, ROI, RAW, POINTS)
            r[LABELS] = fg.ArraySpec(roi=labels_roi)
            batch = p.request_batch(r)
            raw_z = batch[RAW].data[:, 0, 0] // 10000
            labels_z = (batch[LABELS].data[:, 0, 0] - np.uint64(2**60)) // np.uint64(10000)
            np.testing.assert_array_equal(labels_z, raw_z[1:3])  # the same world sections
            assert set(np.unique(batch[LABELS].data)) <= set(np.unique(cells()))
            points = batch[POINTS]
            out_section = ((points.locations[:, 0] - 12) // 4).astype(int)
            cell_z = ((points.attributes["cell"] - np.uint64(2**60)) // np.uint64(10000)).astype(int)
            np.testing.assert_array_equal(raw_z[out_section], cell_z)  # each point in the section it came from
            assert set(cell_z) == set(raw_z)  # points of deleted sections are gone, the others kept


def test_voxel_sizes_that_differ_lose_whole_sections_of_their_common_multiple() -> None:
    roi = fg.Roi((0, 0, 0), (40, 40, 40))
    fine = fg.ArraySource(RAW, fg.Array(coordinates((10, 20, 20)), fg.ArraySpec(roi=roi, voxel_size=(4, 2, 2))))
    coarse_data = np.repeat(np.arange(5, dtype=np.uint64), 100).reshape(5, 10, 10)
    coarse = fg.ArraySource(
        LABELS, fg.Array(coarse_data, fg.ArraySpec(roi=roi, voxel_size=(8, 4, 4), interpolatable=False))
    )
    with fg.build((fine, coarse) + fg.MergeProvider() + fg.MissingSection(1, p=1.0)) as p:
        for seed in range(10):
            r = request(seed, fg.Roi((8, 0, 0), (24, 40, 40)), RAW, LABELS)
            batch = p.request_batch(r)
            raw_z = batch[RAW].data[:, 0, 0] // 10000
            np.testing.assert_array_equal(raw_z // 2, np.repeat(batch[LABELS].data[:, 0, 0], 2))  # aligned pairs


def test_p_zero_identity_p_one_change_same_seed_and_thin_or_flat_requests() -> None:
    with fg.build(pipeline(fg.MissingSection(p=0.0))) as p:
        np.testing.assert_array_equal(p.request_batch(request(1, ROI, RAW))[RAW].data, expected(ROI))
    with fg.build(pipeline(fg.MissingSection(p=1.0))) as p:
        outs = [p.request_batch(request(s, ROI, RAW))[RAW].data for s in range(10)]
        np.testing.assert_array_equal(p.request_batch(request(3, ROI, RAW))[RAW].data, outs[3])
        one = fg.Roi((12, 30, 30), (4, 60, 60))
        np.testing.assert_array_equal(p.request_batch(request(0, one, RAW))[RAW].data, expected(one))
    assert all(not np.array_equal(o, expected(ROI)) for o in outs)
    with fg.build(pipeline(fg.MissingSection(p=1.0), shape=(60, 60), vs=(2, 2))) as p:
        flat = p.request_batch(request(0, fg.Roi((30, 30), (60, 60)), RAW))[RAW].data
    np.testing.assert_array_equal(flat, coordinates((60, 60))[15:45, 15:45])
    assert VS == (4, 2, 2)


def test_bad_arguments_name_the_parameter() -> None:
    with pytest.raises(fg.ConfigError, match="num_sections"):
        fg.MissingSection(num_sections=0)
