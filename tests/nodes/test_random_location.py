"""RandomLocation: uniform positions on the common voxel grid, inside the data, with enough mask."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from contract_cases import coordinate_volume

import flowgraph as fg
from flowgraph.nodes.random_location import shift_range, window_counts

RAW = fg.ArrayKey("RAW")
LABELS = fg.ArrayKey("LABELS")
MASK = fg.ArrayKey("MASK")
POINTS = fg.GraphKey("POINTS")


def array_source(key: fg.ArrayKey, data: np.ndarray, offset: tuple[int, ...], voxel_size: tuple[int, ...]) -> Any:
    shape = tuple(s * v for s, v in zip(data.shape, voxel_size, strict=True))
    return fg.ArraySource(key, fg.Array(data, fg.ArraySpec(roi=fg.Roi(offset, shape), voxel_size=voxel_size)))


def begin_of(value: np.ndarray, data_offset: tuple[int, int], voxel_size: tuple[int, int]) -> tuple[int, int]:
    """The world position of the first voxel of a crop of 2-D coordinate data (``i * 100 + j``)."""
    i, j = divmod(int(value), 100)
    return data_offset[0] + i * voxel_size[0], data_offset[1] + j * voxel_size[1]


def requests(spec: dict[Any, fg.Roi], seeds: range) -> list[fg.BatchRequest]:
    out = []
    for seed in seeds:
        r = fg.BatchRequest(random_seed=seed)
        for key, roi in spec.items():
            r[key] = fg.ArraySpec(roi=roi) if isinstance(key, fg.ArrayKey) else fg.GraphSpec(roi=roi)
        out.append(r)
    return out


def test_positions_lie_on_the_common_grid_inside_the_data_and_move_every_key_alike() -> None:
    raw = coordinate_volume((20, 60))  # voxel (2, 1): world [0:40, 0:60]
    labels = coordinate_volume((36, 18))  # voxel (1, 3) at (4, 3): world [4:40, 3:57]
    sources = (array_source(RAW, raw, (0, 0), (2, 1)), array_source(LABELS, labels, (4, 3), (1, 3)))
    pipeline = sources + fg.MergeProvider()
    raw_roi, labels_roi = fg.Roi((0, 0), (8, 6)), fg.Roi((2, 3), (4, 6))
    shifts = set()
    with fg.build(pipeline + fg.RandomLocation()) as p:
        assert not p.spec[RAW].roi.is_bounded()
        for request in requests({RAW: raw_roi, LABELS: labels_roi}, range(150)):
            batch = p.request_batch(request)
            assert batch[RAW].spec.roi == raw_roi and batch[LABELS].spec.roi == labels_roi
            shift = begin_of(batch[RAW].data[0, 0], (0, 0), (2, 1))
            assert shift[0] % 2 == 0 and shift[1] % 3 == 0  # lcm of (2, 1) and (1, 3)
            assert fg.Roi((0, 0), (40, 60)).contains(raw_roi.shift(shift))
            assert fg.Roi((4, 3), (36, 54)).contains(labels_roi.shift(shift))
            # both arrays are the exact data at the same shifted place
            np.testing.assert_array_equal(batch[RAW].data, raw[shift[0] // 2 :][:4, shift[1] :][:, :6])
            li, lj = (2 + shift[0] - 4), (3 + shift[1] - 3) // 3
            np.testing.assert_array_equal(batch[LABELS].data, labels[li : li + 4, lj : lj + 2])
            shifts.add(shift)
    # shifts range over s0 in [2, 32] step 2, s1 in [0, 48] step 3
    assert min(s[0] for s in shifts) == 2 and max(s[0] for s in shifts) == 32
    assert min(s[1] for s in shifts) == 0 and max(s[1] for s in shifts) == 48


def test_positions_are_uniform() -> None:
    data = coordinate_volume((5, 6))
    roi = fg.Roi((0, 0), (2, 3))  # 4 x 4 = 16 possible positions
    counts: dict[tuple[int, int], int] = {}
    n = 480
    with fg.build(array_source(RAW, data, (0, 0), (1, 1)) + fg.RandomLocation()) as p:
        for request in requests({RAW: roi}, range(n)):
            position = begin_of(p.request_batch(request)[RAW].data[0, 0], (0, 0), (1, 1))
            counts[position] = counts.get(position, 0) + 1
    assert set(counts) == set(itertools.product(range(4), range(4)))
    expected = n / 16
    chi2 = sum((c - expected) ** 2 / expected for c in counts.values())
    assert chi2 < 50  # 15 degrees of freedom: P(chi2 > 50) ~ 1e-5 for a uniform choice


def brute_force_valid(mask: np.ndarray, window: tuple[int, int], step: tuple[int, int], needed: float) -> set:
    out = set()
    for i in range(0, mask.shape[0] - window[0] + 1, step[0]):
        for j in range(0, mask.shape[1] - window[1] + 1, step[1]):
            if np.count_nonzero(mask[i : i + window[0], j : j + window[1]]) >= needed:
                out.add((i, j))
    return out


def test_min_masked_positions_have_enough_mask_and_all_are_reachable() -> None:
    rng = np.random.default_rng(4)
    mask = (rng.random((8, 9)) < 0.55).astype(np.uint8)
    valid = brute_force_valid(mask, (3, 3), (1, 1), 0.6 * 9)
    assert 0 < len(valid) < 42  # the mask matters on this volume
    pipeline = (
        array_source(RAW, coordinate_volume((8, 9)), (0, 0), (1, 1)),
        array_source(MASK, mask, (0, 0), (1, 1)),
    ) + fg.MergeProvider()
    chosen = set()
    with fg.build(pipeline + fg.RandomLocation(min_masked=0.6, mask=MASK)) as p:
        for request in requests({RAW: fg.Roi((0, 0), (3, 3))}, range(300)):
            position = begin_of(p.request_batch(request)[RAW].data[0, 0], (0, 0), (1, 1))
            i, j = position
            assert np.count_nonzero(mask[i : i + 3, j : j + 3]) >= 6
            chosen.add(position)
    assert chosen == valid


def test_min_masked_uses_the_requested_mask_roi() -> None:
    rng = np.random.default_rng(1)
    mask = (rng.random((8, 9)) < 0.5).astype(np.uint8)
    # RAW 3x3 at the origin, MASK 2x2 at (1, 1): the window is the mask's 2x2
    valid = {
        (i, j) for i in range(6) for j in range(7) if np.count_nonzero(mask[i + 1 : i + 3, j + 1 : j + 3]) >= 0.7 * 4
    }
    assert 0 < len(valid) < 42
    pipeline = (
        array_source(RAW, coordinate_volume((8, 9)), (0, 0), (1, 1)),
        array_source(MASK, mask, (0, 0), (1, 1)),
    ) + fg.MergeProvider()
    chosen = set()
    with fg.build(pipeline + fg.RandomLocation(min_masked=0.7, mask=MASK)) as p:
        for request in requests({RAW: fg.Roi((0, 0), (3, 3)), MASK: fg.Roi((1, 1), (2, 2))}, range(300)):
            batch = p.request_batch(request)
            position = begin_of(batch[RAW].data[0, 0], (0, 0), (1, 1))
            assert np.count_nonzero(batch[MASK].data) >= 3
            chosen.add(position)
    assert chosen == valid


def test_min_masked_with_a_coarser_mask() -> None:
    rng = np.random.default_rng(7)
    mask = (rng.random((6, 6)) < 0.5).astype(np.uint8)  # voxel (2, 2): world [0:12, 0:12]
    # RAW voxel (1, 1), request 4x4 world = a 2x2 mask window; shifts on the (2, 2) grid
    valid = {(2 * i, 2 * j) for i, j in brute_force_valid(mask, (2, 2), (1, 1), 0.75 * 4)}
    assert 0 < len(valid) < 25
    pipeline = (
        array_source(RAW, coordinate_volume((12, 12)), (0, 0), (1, 1)),
        array_source(MASK, mask, (0, 0), (2, 2)),
    ) + fg.MergeProvider()
    chosen = set()
    with fg.build(pipeline + fg.RandomLocation(min_masked=0.75, mask=MASK)) as p:
        for request in requests({RAW: fg.Roi((0, 0), (4, 4))}, range(200)):
            chosen.add(begin_of(p.request_batch(request)[RAW].data[0, 0], (0, 0), (1, 1)))
    assert chosen == valid


@pytest.mark.parametrize(
    ("shape", "begin", "step", "window"),
    [
        ((7, 8, 9), (0, 0, 0), (1, 1, 1), (3, 2, 4)),
        ((7, 8, 9), (1, 0, 2), (2, 3, 1), (3, 2, 4)),
        ((7, 8, 9), (0, 1, 0), (3, 2, 5), (1, 1, 1)),
        ((7, 8, 9), (0, 0, 0), (1, 1, 1), (7, 8, 9)),
        ((50,), (3,), (4,), (10,)),
    ],
)
def test_window_counts_matches_brute_force(
    shape: tuple[int, ...], begin: tuple[int, ...], step: tuple[int, ...], window: tuple[int, ...]
) -> None:
    mask = (np.random.default_rng(sum(shape)).random(shape) < 0.4).astype(np.uint8) * 3
    count = tuple((s - b - w) // st + 1 for s, b, st, w in zip(shape, begin, step, window, strict=True))
    counts = window_counts(mask, begin, step, count, window)
    assert counts.shape == count and counts.dtype == np.int64
    for index in itertools.product(*(range(c) for c in count)):
        start = [b + i * st for b, i, st in zip(begin, index, step, strict=True)]
        box = tuple(slice(s, s + w) for s, w in zip(start, window, strict=True))
        assert counts[index] == np.count_nonzero(mask[box])


def test_shift_range() -> None:
    rois = {RAW: fg.Roi((0, 0), (4, 4)), LABELS: fg.Roi((2, -2), (2, 2))}
    provided = {RAW: fg.Roi((-10, 0), (20, 10)), LABELS: fg.Roi((0, None), (8, None))}
    lo, hi = shift_range(rois, provided)
    assert lo == [-2, 0] and hi == [4, 6]


def test_request_unbounded_where_the_data_is_bounded() -> None:
    rois = {RAW: fg.Roi((0, None), (4, None))}
    provided = {RAW: fg.Roi((-10, 0), (20, 10))}
    with pytest.raises(fg.RequestError, match=r"RAW is requested at \[0:4, :\], unbounded along axis 1 where its data"):
        shift_range(rois, provided)
    # where the data is unbounded too, the axis stays unconstrained
    assert shift_range(rois, {RAW: fg.Roi((-10, None), (20, None))}) == ([-10, None], [6, None])


def test_request_larger_than_the_data() -> None:
    with (
        fg.build(array_source(RAW, np.zeros((5, 6)), (10, 0), (2, 1)) + fg.RandomLocation()) as p,
        pytest.raises(
            fg.UnsatisfiableRequestError,
            match=r"RandomLocation: no position of a \(6, 2\) request fits inside RAW's ROI \[10:20, 0:6\]",
        ),
    ):
        p.request_batch(requests({RAW: fg.Roi((0, 0), (12, 2))}, range(1))[0])


def test_no_window_with_enough_mask() -> None:
    mask = np.zeros((6, 6), np.uint8)
    mask[0, 0] = 1
    pipeline = (
        array_source(RAW, np.zeros((6, 6)), (0, 0), (1, 1)),
        array_source(MASK, mask, (0, 0), (1, 1)),
    ) + fg.MergeProvider()
    with (
        fg.build(pipeline + fg.RandomLocation(min_masked=0.5, mask=MASK)) as p,
        pytest.raises(
            fg.UnsatisfiableRequestError, match=r"no position of a \(3, 3\) window has >= 50% of MASK masked in"
        ),
    ):
        p.request_batch(requests({RAW: fg.Roi((0, 0), (3, 3))}, range(1))[0])


def points_pipeline(locations: list[list[float]]) -> fg.Pipeline:
    graph = fg.Graph(np.arange(len(locations)), locations, fg.GraphSpec(roi=fg.Roi((0, 0), (40, 40))))
    return (
        array_source(RAW, coordinate_volume((40, 40)), (0, 0), (1, 1)),
        fg.GraphSource(POINTS, graph),
    ) + fg.MergeProvider()


LOCATIONS = [[3.5, 30.25], [20.0, 20.0], [37.75, 2.5]]


def test_ensure_nonempty_puts_a_point_in_every_batch() -> None:
    roi = fg.Roi((0, 0), (5, 5))
    with fg.build(points_pipeline(LOCATIONS) + fg.RandomLocation(ensure_nonempty=POINTS)) as p:
        for request in requests({RAW: roi, POINTS: roi}, range(60)):
            batch = p.request_batch(request)
            graph = batch[POINTS]
            assert len(graph) >= 1 and graph.spec.roi == roi
            shift = np.asarray(begin_of(batch[RAW].data[0, 0], (0, 0), (1, 1)), float)
            # points moved by the same shift as the array
            for i, location in zip(graph.ids, graph.locations, strict=True):
                np.testing.assert_array_equal(location + shift, LOCATIONS[i])
                assert roi.contains(tuple(int(c) for c in np.floor(location)))


def test_ensure_nonempty_with_p_nonempty_zero_is_not_enforced() -> None:
    roi = fg.Roi((0, 0), (5, 5))
    empty = 0
    with fg.build(points_pipeline(LOCATIONS) + fg.RandomLocation(ensure_nonempty=POINTS, p_nonempty=0.0)) as p:
        for request in requests({RAW: roi, POINTS: roi}, range(40)):
            empty += len(p.request_batch(request)[POINTS]) == 0
    assert empty > 20  # 3 points in a 40x40 field: most random 5x5 windows are empty


def test_ensure_nonempty_without_points_fails_clearly() -> None:
    roi = fg.Roi((0, 0), (5, 5))
    with (
        fg.build(points_pipeline([]) + fg.RandomLocation(ensure_nonempty=POINTS)) as p,
        pytest.raises(
            fg.UnsatisfiableRequestError,
            match=r"found no position with a point of POINTS inside the request \(0 points",
        ),
    ):
        p.request_batch(requests({RAW: roi, POINTS: roi}, range(1))[0])


def test_setup_errors() -> None:
    source = array_source(RAW, np.zeros((4, 4)), (0, 0), (1, 1))
    with (
        pytest.raises(fg.SetupError, match=r"RandomLocation\(MASK\): needs MASK \(the mask\)"),
        fg.build(source + fg.RandomLocation(min_masked=0.5, mask=MASK)),
    ):
        pass  # pragma: no cover
    source = array_source(RAW, np.zeros((4, 4)), (0, 0), (1, 1))
    with (
        pytest.raises(fg.SetupError, match="ensure_nonempty=POINTS is not provided upstream"),
        fg.build(source + fg.RandomLocation(ensure_nonempty=POINTS)),
    ):
        pass  # pragma: no cover


def test_min_masked_needs_a_mask() -> None:
    with pytest.raises(fg.ConfigError, match=r"min_masked > 0 needs mask=ArrayKey"):
        fg.RandomLocation(min_masked=0.1)


def test_ensure_nonempty_must_be_requested() -> None:
    roi = fg.Roi((0, 0), (5, 5))
    with (
        fg.build(points_pipeline(LOCATIONS) + fg.RandomLocation(ensure_nonempty=POINTS)) as p,
        pytest.raises(fg.RequestError, match="ensure_nonempty=POINTS is not in the request"),
    ):
        p.request_batch(requests({RAW: roi}, range(1))[0])


def test_an_axis_no_requested_key_bounds_is_an_error_not_a_silent_origin() -> None:
    source = array_source(RAW, coordinate_volume((10, 10)), (0, 0), (1, 1))
    request = requests({RAW: fg.Roi((0, 0), (4, 4))}, range(1))[0]
    with (
        fg.build(source + fg.Pad(RAW, None) + fg.RandomLocation()) as p,
        pytest.raises(fg.RequestError, match="no requested key is bounded upstream along axis 0"),
    ):
        p.request_batch(request)


# -- gunpowder's other parameters (issue 9) ----------------------------------------------------------------
def test_ensure_centered_puts_the_point_in_the_central_voxel() -> None:
    roi = fg.Roi((0, 0), (5, 6))
    node = fg.RandomLocation(ensure_nonempty=POINTS, ensure_centered=True)
    with fg.build(points_pipeline(LOCATIONS) + node) as p:
        for request in requests({RAW: roi, POINTS: roi}, range(40)):
            graph = p.request_batch(request)[POINTS]
            centred = [loc for loc in graph.locations if (np.floor(loc) == (2, 3)).all()]
            assert centred, f"no point in the central voxel (2, 3): {graph.locations.tolist()}"


def test_point_balance_radius_balances_a_dense_cluster_against_a_lone_point() -> None:
    # 9 points within 1 unit of each other and one lone point far away
    cluster = [[10.0 + 0.1 * i, 10.0] for i in range(9)]
    locations = [*cluster, [30.0, 30.0]]
    roi = fg.Roi((0, 0), (3, 3))

    def lone_fraction(radius: float) -> float:
        node = fg.RandomLocation(ensure_nonempty=POINTS, point_balance_radius=radius)
        with fg.build(points_pipeline(locations) + node) as p:
            batches = [p.request_batch(r) for r in requests({RAW: roi, POINTS: roi}, range(200))]
        return float(np.mean([9 in b[POINTS].ids.tolist() for b in batches]))

    assert lone_fraction(0) < 0.25  # uniform over points: the lone point is 1 of 10
    assert 0.35 < lone_fraction(2.0) < 0.65  # balanced: the cluster weighs as much as the lone point


def test_random_shift_key_provides_the_shift() -> None:
    shift_key = fg.ArrayKey("SHIFT")
    roi = fg.Roi((0, 0), (4, 4))
    with fg.build(
        array_source(RAW, coordinate_volume((40, 40)), (0, 0), (1, 1)) + fg.RandomLocation(random_shift_key=shift_key)
    ) as p:
        for request in requests({RAW: roi}, range(10)):
            request[shift_key] = fg.ArraySpec(nonspatial=True)
            batch = p.request_batch(request)
            shift = batch[shift_key].data
            assert shift.dtype == np.int64 and shift.shape == (2,)
            assert tuple(shift) == begin_of(batch[RAW].data[0, 0], (0, 0), (1, 1))


class OnlyEvenRows(fg.RandomLocation):
    def accepts(self, request: fg.BatchRequest) -> bool:
        return request[RAW].roi.begin[0] % 2 == 0


def test_a_subclass_accepts_refuses_positions() -> None:
    roi = fg.Roi((0, 0), (4, 4))
    with fg.build(array_source(RAW, coordinate_volume((40, 40)), (0, 0), (1, 1)) + OnlyEvenRows()) as p:
        rows = [
            begin_of(p.request_batch(r)[RAW].data[0, 0], (0, 0), (1, 1))[0] for r in requests({RAW: roi}, range(30))
        ]
    assert all(r % 2 == 0 for r in rows) and len(set(rows)) > 5


class Never(fg.RandomLocation):
    def accepts(self, request: fg.BatchRequest) -> bool:
        return False


def test_accepts_that_refuses_everything_ends_with_a_clear_error() -> None:
    roi = fg.Roi((0, 0), (4, 4))
    pipeline = array_source(RAW, coordinate_volume((10, 10)), (0, 0), (1, 1)) + Never()
    with fg.build(pipeline) as p, pytest.raises(fg.UnsatisfiableRequestError, match=r"accepts\(\) refused 20000"):
        p.request_batch(requests({RAW: roi}, range(1))[0])


def test_keys_that_fit_only_apart_are_blamed_on_their_union() -> None:
    # RAW and LABELS each fit in their 10 x 10 data, but 12 apart they never fit together
    pipeline = (
        array_source(RAW, np.zeros((10, 10)), (0, 0), (1, 1)),
        array_source(LABELS, np.zeros((10, 10)), (0, 0), (1, 1)),
    ) + fg.MergeProvider()
    request = requests({RAW: fg.Roi((0, 0), (4, 4)), LABELS: fg.Roi((12, 0), (4, 4))}, range(1))[0]
    expected = r"fits inside its data alone, but not all at one"
    node = fg.RandomLocation()
    with fg.build(pipeline + node) as p, pytest.raises(fg.UnsatisfiableRequestError, match=expected) as e:
        p.request_batch(request)
    assert "union [0:16, 0:4]" in str(e.value) and "RAW in [0:6, 0:6]" in str(e.value)
    assert "LABELS in [-12:-6, 0:6]" in str(e.value)
