"""BatchRequest: ROIs centred on each other as in gunpowder, on the voxel grid; copies, seeds."""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import array_source, expected_crop

import flowgraph as fg
from flowgraph.errors import ConfigError, RequestError
from flowgraph.request import BatchRequest, fresh_seed

RAW, LABELS, BIG, POINTS = fg.ArrayKey("RAW"), fg.ArrayKey("LABELS"), fg.ArrayKey("BIG"), fg.GraphKey("POINTS")


def test_add_with_voxel_size_starts_at_the_origin_and_centres_on_the_grid() -> None:
    request = BatchRequest()
    request.add(RAW, (80, 40), voxel_size=(40, 4))
    assert request[RAW].roi == fg.Roi((0, 0), (80, 40))  # the largest ROI starts at the origin
    assert request[RAW].voxel_size == (40, 4)
    # centred in RAW: gunpowder's offset is (40 - 20, 20 - 4) = (20, 16); 20 is floored onto the grid
    request.add(LABELS, (40, 8), voxel_size=(40, 4))
    assert request[LABELS].roi == fg.Roi((0, 16), (40, 8))
    assert request[RAW].roi == fg.Roi((0, 0), (80, 40))
    assert not request.is_centred(RAW) and not request.is_centred(LABELS)


def test_add_without_voxel_size_starts_at_the_origin_and_is_marked() -> None:
    request = BatchRequest()
    request.add(RAW, (120, 12))
    assert request[RAW].roi == fg.Roi((0, 0), (120, 12)) and request[RAW].voxel_size is None
    assert request.is_centred(RAW)
    request[RAW] = fg.ArraySpec(roi=fg.Roi((0, 0), (4, 4)))  # an explicit spec is taken as given
    assert not request.is_centred(RAW)


def test_add_graph() -> None:
    request = BatchRequest()
    request.add(POINTS, (10, 11), directed=True)
    assert request[POINTS] == fg.GraphSpec(roi=fg.Roi((0, 0), (10, 11)), directed=True)


def test_a_larger_add_recentres_the_earlier_rois_in_it() -> None:
    # gunpowder's rule: every ROI is centred on the centre of their union, which starts at the origin
    request = BatchRequest()
    request.add(LABELS, (4, 4))
    request.add(POINTS, (2, 6))
    # POINTS starts at the origin too: the union is [0:4, 0:6], its centre (2, 3)
    assert request[LABELS].roi == fg.Roi((0, 1), (4, 4)) and request[POINTS].roi == fg.Roi((1, 0), (2, 6))
    request.add(RAW, (10, 10))  # the union is now RAW, centre (5, 5)
    assert request[RAW].roi == fg.Roi((0, 0), (10, 10))
    assert request[LABELS].roi == fg.Roi((3, 3), (4, 4))
    assert request[POINTS].roi == fg.Roi((4, 2), (2, 6))
    assert request.is_centred(LABELS) and request.is_centred(RAW)


def test_add_recentres_explicit_rois_too_as_gunpowder_does() -> None:
    request = BatchRequest()
    request[RAW] = fg.ArraySpec(roi=fg.Roi((100, 100), (10, 10)), voxel_size=(2, 2))
    request[LABELS] = fg.ArraySpec(nonspatial=True)
    request.add(POINTS, (4, 4))
    # the union is [0:110, 0:110], centre (55, 55): RAW's offset 50 is on its grid, POINTS at 53
    assert request[RAW].roi == fg.Roi((50, 50), (10, 10)) and request[POINTS].roi == fg.Roi((53, 53), (4, 4))
    assert request[LABELS].roi is None  # nonspatial: left alone
    shared = fg.ArraySpec(roi=fg.Roi((0, 0), (10, 10)), voxel_size=(4, 4))
    request = BatchRequest()
    request[RAW] = shared
    request.add(LABELS, (40, 40))  # RAW is centred at 20 - 5 = 15, floored onto its grid: 12
    assert request[RAW].roi == fg.Roi((12, 12), (10, 10))
    assert shared.roi == fg.Roi((0, 0), (10, 10))  # a moved spec is a new spec, not the caller's
    assert not request.is_centred(RAW) and request.is_centred(LABELS)


def test_rois_of_another_dimensionality_are_centred_separately() -> None:
    request = BatchRequest()
    request.add(RAW, (20, 20, 20))
    request.add(LABELS, (10, 10))
    request.add(POINTS, (4, 4))
    assert request[RAW].roi == fg.Roi((0, 0, 0), (20, 20, 20))
    assert request[LABELS].roi == fg.Roi((0, 0), (10, 10)) and request[POINTS].roi == fg.Roi((3, 3), (4, 4))


@pytest.mark.parametrize(
    ("shape", "voxel_size", "message"),
    [
        ((0, 4), None, "shape must be positive integers"),
        ((None, 4), None, "shape must be positive integers"),
        ((8, 6), (4, 4), r"shape \(8, 6\) is not a multiple of voxel_size \(4, 4\)"),
        ((8, 8), (4,), "voxel_size must be 2 positive integers"),
        ((8, 8), (4, 0), "voxel_size must be 2 positive integers"),
    ],
)
def test_add_errors(shape: tuple[int, ...], voxel_size: tuple[int, ...] | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BatchRequest().add(RAW, shape, voxel_size=voxel_size)


def test_add_needs_a_key() -> None:
    with pytest.raises(ConfigError, match="key must be an ArrayKey or GraphKey"):
        BatchRequest().add("RAW", (4,))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("context", "shape", "voxel_size", "expected_offset"),
    [
        # gunpowder's offset is context // 2 - shape // 2; flowgraph floors it onto RAW's grid
        ((80, 8, 8), (40, 8, 8), (40, 2, 2), (0, 0, 0)),  # one z voxel in two: 20 -> 0
        ((240, 24, 24), (120, 12, 12), (40, 4, 4), (40, 4, 4)),  # odd voxel counts: 60 -> 40, 6 -> 4
        ((40, 8, 16), (40, 4, 12), (20, 2, 4), (0, 2, 0)),  # on the grid on z and y; x: 2 -> 0
    ],
)
def test_pipeline_snaps_a_centred_request_onto_the_arrays_grid(
    context: tuple[int, ...], shape: tuple[int, ...], voxel_size: tuple[int, ...], expected_offset: tuple[int, ...]
) -> None:
    raw = array_source(RAW, (10, 20, 20), voxel_size)
    source = (raw, array_source(BIG, context, (1, 1, 1))) + fg.MergeProvider()
    with_vs, without_vs = BatchRequest(random_seed=1), BatchRequest(random_seed=1)
    for request in (with_vs, without_vs):
        request.add(BIG, context, voxel_size=(1, 1, 1))
    with_vs.add(RAW, shape, voxel_size=voxel_size)
    without_vs.add(RAW, shape)
    with fg.build(source) as p:
        a = p.request_batch(with_vs)[RAW]
        b = p.request_batch(without_vs)[RAW]
    assert a.roi == b.roi == fg.Roi(expected_offset, shape)  # type: ignore[union-attr]
    assert a.voxel_size == b.voxel_size == voxel_size  # type: ignore[union-attr]
    expected = expected_crop(a.roi, raw.array.roi, voxel_size)  # type: ignore[union-attr]
    np.testing.assert_array_equal(a.data, expected)  # type: ignore[union-attr]
    np.testing.assert_array_equal(b.data, expected)  # type: ignore[union-attr]
    # the caller's request still holds gunpowder's centred ROI, unsnapped
    gunpowder_offset = fg.Coordinate(context) // 2 - fg.Coordinate(shape) // 2
    assert without_vs[RAW].roi == fg.Roi(gunpowder_offset, shape)
    assert without_vs[RAW].voxel_size is None and without_vs.is_centred(RAW)
    assert with_vs[BIG].roi == without_vs[BIG].roi == fg.Roi((0, 0, 0), context)


def test_pipeline_rejects_a_centred_request_whose_shape_is_off_the_grid() -> None:
    request = BatchRequest(random_seed=0)
    request.add(RAW, (40, 6, 8))  # 6 is not a multiple of 4
    with (
        fg.build(array_source(RAW, (4, 8, 8), (40, 4, 4), offset=(-80, -16, -16))) as p,
        pytest.raises(RequestError, match=r"not on its voxel grid \(40, 4, 4\)"),
    ):
        p.request_batch(request)


def test_pipeline_does_not_move_an_explicit_off_grid_roi() -> None:
    request = BatchRequest(random_seed=0)
    request[RAW] = fg.ArraySpec(roi=fg.Roi((0, 2, 0), (40, 8, 8)))
    with (
        fg.build(array_source(RAW, (4, 8, 8), (40, 4, 4))) as p,
        pytest.raises(RequestError, match="make offset and shape multiples of the voxel size"),
    ):
        p.request_batch(request)


def test_copy_is_independent() -> None:
    request = BatchRequest(random_seed=7)
    request.add(RAW, (8, 8))
    request.add(POINTS, (8, 8))
    copy = request.copy()
    assert copy == request and copy.random_seed == 7 and copy.is_centred(RAW)
    copy[RAW].roi = fg.Roi((0, 0), (2, 2))
    copy[RAW].voxel_size = fg.Coordinate(2, 2)
    del copy[POINTS]
    copy.random_seed = 8
    copy._centred.clear()
    assert request[RAW].roi == fg.Roi((0, 0), (8, 8)) and request[RAW].voxel_size is None
    assert POINTS in request and request.random_seed == 7 and request.is_centred(RAW)


def test_with_seed() -> None:
    request = BatchRequest(random_seed=7)
    request.add(RAW, (8, 8))
    other = request.with_seed(123)
    assert other.random_seed == 123 and request.random_seed == 7
    assert other == request  # equality compares specs only
    assert other.is_centred(RAW)
    other[RAW].roi = fg.Roi((2, 2), (1, 1))
    assert request[RAW].roi == fg.Roi((0, 0), (8, 8))
    assert "random_seed=123" in repr(other)


@pytest.mark.parametrize("seed", [-1, 2**63, 1.5, True, "1"])
def test_bad_seeds(seed: object) -> None:
    with pytest.raises(ConfigError, match=r"random_seed must be an int in \[0, 2\*\*63\)"):
        BatchRequest(random_seed=seed)  # type: ignore[arg-type]


def test_fresh_seeds_are_in_range_and_distinct() -> None:
    seeds = {fresh_seed() for _ in range(20)}
    assert len(seeds) == 20 and all(0 <= s < 2**63 for s in seeds)
    BatchRequest(random_seed=max(seeds))  # accepted
