"""BatchRequest: centred ROIs on the voxel grid, copies, seeds."""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import array_source, expected_crop

import flowgraph as fg
from flowgraph.errors import ConfigError, RequestError
from flowgraph.request import BatchRequest, fresh_seed

RAW, POINTS = fg.ArrayKey("RAW"), fg.GraphKey("POINTS")


def test_add_with_voxel_size_centres_on_the_grid() -> None:
    request = BatchRequest()
    request.add(RAW, (80, 40), voxel_size=(40, 4))
    assert request[RAW].roi == fg.Roi((-40, -20), (80, 40))
    assert request[RAW].voxel_size == (40, 4)
    # odd number of voxels: -shape // 2 is floored onto the grid, so the centre is off by < 1 voxel
    request.add(RAW, (120, 12), voxel_size=(40, 4))
    assert request[RAW].roi == fg.Roi((-80, -8), (120, 12))
    assert not request.is_centred(RAW)


def test_add_without_voxel_size_centres_on_the_origin_and_is_marked() -> None:
    request = BatchRequest()
    request.add(RAW, (120, 12))
    assert request[RAW].roi == fg.Roi((-60, -6), (120, 12)) and request[RAW].voxel_size is None
    assert request.is_centred(RAW)
    request[RAW] = fg.ArraySpec(roi=fg.Roi((0, 0), (4, 4)))  # an explicit spec is taken as given
    assert not request.is_centred(RAW)


def test_add_graph() -> None:
    request = BatchRequest()
    request.add(POINTS, (10, 11), directed=True)
    assert request[POINTS] == fg.GraphSpec(roi=fg.Roi((-5, -5), (10, 11)), directed=True)


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
    ("shape", "voxel_size", "expected_offset"),
    [
        ((40, 8, 8), (40, 2, 2), (-40, -4, -4)),  # one z voxel: -20 is floored to -40
        ((120, 12, 12), (40, 4, 4), (-80, -8, -8)),  # odd voxel counts: -60 -> -80, -6 -> -8
        ((40, 4, 12), (20, 2, 4), (-20, -2, -8)),  # on the grid already on z and y; x: -6 -> -8
    ],
)
def test_pipeline_snaps_a_centred_request_onto_the_arrays_grid(
    shape: tuple[int, ...], voxel_size: tuple[int, ...], expected_offset: tuple[int, ...]
) -> None:
    source = array_source(RAW, (10, 20, 20), voxel_size, offset=(-5 * voxel_size[0], -20, -20))
    with_vs, without_vs = BatchRequest(random_seed=1), BatchRequest(random_seed=1)
    with_vs.add(RAW, shape, voxel_size=voxel_size)
    without_vs.add(RAW, shape)
    with fg.build(source) as p:
        a = p.request_batch(with_vs)[RAW]
        b = p.request_batch(without_vs)[RAW]
    assert a.roi == b.roi == fg.Roi(expected_offset, shape)  # type: ignore[union-attr]
    assert a.voxel_size == b.voxel_size == voxel_size  # type: ignore[union-attr]
    expected = expected_crop(a.roi, source.array.roi, voxel_size)  # type: ignore[union-attr]
    np.testing.assert_array_equal(a.data, expected)  # type: ignore[union-attr]
    np.testing.assert_array_equal(b.data, expected)  # type: ignore[union-attr]
    # the caller's request still holds the unsnapped, centred ROI
    assert without_vs[RAW].roi == fg.Roi(-(fg.Coordinate(shape) // 2), shape)
    assert without_vs[RAW].voxel_size is None and without_vs.is_centred(RAW)


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
    assert request[RAW].roi == fg.Roi((-4, -4), (8, 8)) and request[RAW].voxel_size is None
    assert POINTS in request and request.random_seed == 7 and request.is_centred(RAW)


def test_with_seed() -> None:
    request = BatchRequest(random_seed=7)
    request.add(RAW, (8, 8))
    other = request.with_seed(123)
    assert other.random_seed == 123 and request.random_seed == 7
    assert other == request  # equality compares specs only
    assert other.is_centred(RAW)
    other[RAW].roi = fg.Roi((0, 0), (1, 1))
    assert request[RAW].roi == fg.Roi((-4, -4), (8, 8))
    assert "random_seed=123" in repr(other)


@pytest.mark.parametrize("seed", [-1, 2**63, 1.5, True, "1"])
def test_bad_seeds(seed: object) -> None:
    with pytest.raises(ConfigError, match=r"random_seed must be an int in \[0, 2\*\*63\)"):
        BatchRequest(random_seed=seed)  # type: ignore[arg-type]


def test_fresh_seeds_are_in_range_and_distinct() -> None:
    seeds = {fresh_seed() for _ in range(20)}
    assert len(seeds) == 20 and all(0 <= s < 2**63 for s in seeds)
    BatchRequest(random_seed=max(seeds))  # accepted
