"""Pad: the offered ROI grows; requests past the border get the fill value at exact positions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from contract_cases import coordinate_volume

import flowgraph as fg
from flowgraph.nodes.pad import pad_array

RAW = fg.ArrayKey("RAW")
POINTS = fg.GraphKey("POINTS")

# a 4 x 5 coordinate image at world offset (8, 6), voxel size (2, 3): world [8:16, 6:21]
DATA = coordinate_volume((4, 5))
VOXEL = (2, 3)
DATA_ROI = fg.Roi((8, 6), (8, 15))


def source(data: np.ndarray = DATA) -> fg.ArraySource:
    return fg.ArraySource(RAW, fg.Array(data, fg.ArraySpec(roi=DATA_ROI, voxel_size=VOXEL)))


def get(pipeline: Any, roi: fg.Roi, key: Any = RAW) -> Any:
    request = fg.BatchRequest(random_seed=0)
    request[key] = fg.ArraySpec(roi=roi) if isinstance(key, fg.ArrayKey) else fg.GraphSpec(roi=roi)
    with fg.build(pipeline) as p:
        return p.request_batch(request)[key]


def test_offered_roi_grows_by_size() -> None:
    with fg.build(source() + fg.Pad(RAW, (4, 6))) as p:
        assert p.spec[RAW].roi == fg.Roi((4, 0), (16, 27))
        assert p.spec[RAW].voxel_size == VOXEL


def test_whole_padded_roi_is_exact() -> None:
    out = get(source() + fg.Pad(RAW, (4, 6), value=-7), fg.Roi((4, 0), (16, 27)))
    expected = np.full((8, 9), -7, np.int64)
    expected[2:6, 2:7] = DATA
    np.testing.assert_array_equal(out.data, expected)
    assert out.data.dtype == np.int64
    assert out.spec.roi == fg.Roi((4, 0), (16, 27))


def test_request_past_one_corner() -> None:
    # world [6:12, 15:27]: voxel rows -1..2 of the data (row -1 is padding), columns 3..6 (5, 6 padding)
    out = get(source() + fg.Pad(RAW, (4, 6), value=9), fg.Roi((6, 15), (6, 12)))
    expected = np.array(
        [
            [9, 9, 9, 9],
            [3, 4, 9, 9],
            [103, 104, 9, 9],
        ]
    )
    np.testing.assert_array_equal(out.data, expected)


def test_default_value_is_zero_and_inside_requests_are_untouched() -> None:
    out = get(source() + fg.Pad(RAW, (4, 6)), fg.Roi((6, 6), (4, 6)))
    np.testing.assert_array_equal(out.data, [[0, 0], [0, 1]])
    inside = get(source() + fg.Pad(RAW, (4, 6)), fg.Roi((10, 9), (4, 6)))
    np.testing.assert_array_equal(inside.data, DATA[1:3, 1:3])


def test_request_entirely_in_the_padding() -> None:
    out = get(source() + fg.Pad(RAW, (4, 6), value=5), fg.Roi((4, 0), (4, 6)))
    np.testing.assert_array_equal(out.data, np.full((2, 2), 5))
    assert out.data.dtype == np.int64


def test_unbounded_padding() -> None:
    with fg.build(source() + fg.Pad(RAW, None, value=1)) as p:
        assert not p.spec[RAW].roi.is_bounded()
    far = get(source() + fg.Pad(RAW, None, value=1), fg.Roi((-1000, 3000), (4, 6)))
    np.testing.assert_array_equal(far.data, np.ones((2, 2)))
    assert far.spec.roi == fg.Roi((-1000, 3000), (4, 6))
    straddle = get(source() + fg.Pad(RAW, None, value=1), fg.Roi((14, 18), (4, 6)))
    np.testing.assert_array_equal(straddle.data, [[304, 1], [1, 1]])


def test_unbounded_on_one_axis_only() -> None:
    with fg.build(source() + fg.Pad(RAW, (None, 3))) as p:
        roi = p.spec[RAW].roi
    assert roi.begin == (None, 3) and roi.end == (None, 24)
    out = get(source() + fg.Pad(RAW, (None, 3), value=-1), fg.Roi((0, 3), (10, 6)))
    np.testing.assert_array_equal(out.data, [[-1, -1], [-1, -1], [-1, -1], [-1, -1], [-1, 0]])


def test_channels_are_padded_on_spatial_axes_only() -> None:
    data = np.stack([DATA, DATA + 1000])
    out = get(source(data) + fg.Pad(RAW, (2, 0), value=-1), fg.Roi((6, 6), (4, 6)))
    np.testing.assert_array_equal(out.data, [[[-1, -1], [0, 1]], [[-1, -1], [1000, 1001]]])


def test_graph_padding() -> None:
    roi = fg.Roi((0, 0), (10, 10))
    graph = fg.Graph([1, 2, 3], [[0.5, 0.5], [5.0, 9.5], [9.9, 2.0]], fg.GraphSpec(roi=roi), edges=[[1, 2]])

    class Points(fg.BatchProvider):
        def setup(self) -> None:
            self.provides(POINTS, graph.spec.copy())

        def provide(self, request: fg.BatchRequest) -> fg.Batch:
            return fg.Batch({POINTS: graph.crop(request[POINTS].roi)})

    with fg.build(Points() + fg.Pad(POINTS, (5, 5))) as p:
        assert p.spec[POINTS].roi == fg.Roi((-5, -5), (20, 20))
    out = get(Points() + fg.Pad(POINTS, (5, 5)), fg.Roi((-5, 4), (15, 10)), POINTS)
    assert out.spec.roi == fg.Roi((-5, 4), (15, 10))
    np.testing.assert_array_equal(out.ids, [1, 2])  # 1 lies outside, dangling from the edge 1-2 (gunpowder's crop)
    np.testing.assert_array_equal(out.locations, [[0.5, 0.5], [5.0, 9.5]])
    empty = get(Points() + fg.Pad(POINTS, (5, 5)), fg.Roi((-5, -5), (4, 4)), POINTS)
    assert len(empty) == 0 and empty.spec.roi == fg.Roi((-5, -5), (4, 4))


def test_pad_array_function() -> None:
    data = np.array([[1, 2], [3, 4]])
    out = pad_array(data[None], (1, 0), (0, 2), 8)
    np.testing.assert_array_equal(out, [[[8, 8, 8, 8], [1, 2, 8, 8], [3, 4, 8, 8]]])


def test_size_off_the_voxel_grid_is_a_setup_error() -> None:
    with (
        pytest.raises(fg.SetupError, match=r"Pad\(RAW\): size \(3, 6\) is not a multiple of the voxel size"),
        fg.build(source() + fg.Pad(RAW, (3, 6))),
    ):
        pass  # pragma: no cover


def test_size_with_the_wrong_number_of_axes_is_a_setup_error() -> None:
    with (
        pytest.raises(fg.SetupError, match=r"Pad\(RAW\): size \(2, 3, 3\) has 3 axes, RAW has 2"),
        fg.build(source() + fg.Pad(RAW, (2, 3, 3))),
    ):
        pass  # pragma: no cover


def test_missing_key_is_a_setup_error() -> None:
    pipeline = source() + fg.Pad(POINTS, (2, 3))
    with pytest.raises(fg.SetupError, match=r"Pad\(POINTS\): needs POINTS"), fg.build(pipeline):
        pass  # pragma: no cover


def test_request_without_a_roi_is_a_request_error() -> None:
    request = fg.BatchRequest(random_seed=0)
    request[RAW] = fg.ArraySpec()
    with (
        fg.build(source() + fg.Pad(RAW, None)) as p,
        pytest.raises(fg.RequestError, match=r"Pad\(RAW\): RAW is requested without a ROI.*request a ROI"),
    ):
        p.request_batch(request)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"key": "RAW", "size": (1, 1)}, "key must be an ArrayKey or GraphKey"),
        ({"key": RAW, "size": (1, -1)}, r"size must be >= 0"),
        ({"key": RAW, "size": 2.5}, "size must be a sequence of integers or None"),
        ({"key": RAW, "size": (1, 1), "value": "zero"}, "value must be a finite number"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(fg.ConfigError, match=match):
        fg.Pad(**kwargs)


@pytest.mark.parametrize(("dtype", "value"), [(np.uint8, 300), (np.uint8, -1), (np.int8, 128), (np.uint16, 0.5)])
def test_a_value_the_dtype_cannot_hold_is_refused_at_setup(dtype: Any, value: float) -> None:
    data = np.zeros((4, 5), dtype)
    pipeline = source(data) + fg.Pad(RAW, (2, 3), value=value)
    with pytest.raises(fg.SetupError, match=rf"value {value:g} does not fit RAW's dtype"), fg.build(pipeline):
        pass


@pytest.mark.parametrize(("dtype", "value"), [(np.uint8, 255), (np.int8, -128), (np.uint16, 7.0), (np.float32, -1.5)])
def test_a_value_the_dtype_holds_is_filled_exactly(dtype: Any, value: float) -> None:
    out = get(source(np.ones((4, 5), dtype)) + fg.Pad(RAW, (2, 3), value=value), fg.Roi((6, 3), (10, 18))).data
    # world [6:16, 3:21]: one padded voxel before the data on each axis, then the data
    assert out.dtype == dtype and out[0, 0] == dtype(value) and out[1, 1] == 1 and out[0, 3] == dtype(value)


def test_reflect_mode_mirrors_the_data_without_repeating_the_edge() -> None:
    # DATA is the 4 x 5 coordinate image at world [8:16, 6:21], voxel size (2, 3)
    roi = fg.Roi((2, 0), (18, 21))  # 3 voxels before and 2 after along y, 2 before and 0 after along x
    out = get(source() + fg.Pad(RAW, (6, 6), mode="reflect"), roi).data
    rows = [3, 2, 1, 0, 1, 2, 3, 2, 1]  # numpy's reflect: ... 2 1 | 0 1 2 3 | 2 1 ...
    cols = [2, 1, 0, 1, 2, 3, 4]
    np.testing.assert_array_equal(out, DATA[np.ix_(rows, cols)])
    np.testing.assert_array_equal(out, np.pad(DATA, ((3, 2), (2, 0)), mode="reflect"))


def test_reflect_mode_reads_only_the_data_the_mirror_needs() -> None:
    seen = []

    class Spy(fg.BatchFilter):
        def provide(self, request: fg.BatchRequest) -> fg.Batch:
            seen.append(request[RAW].roi)
            return self.upstream.request_batch(request)

    out = get(source() + Spy() + fg.Pad(RAW, (6, 6), mode="reflect"), fg.Roi((4, 6), (4, 6))).data
    assert seen == [fg.Roi((10, 6), (4, 6))]  # rows -2, -1 mirror rows 2, 1
    np.testing.assert_array_equal(out, DATA[np.ix_([2, 1], [0, 1])])


def test_reflect_wider_than_the_data_keeps_mirroring() -> None:
    out = get(source() + fg.Pad(RAW, None, mode="reflect"), fg.Roi((8 - 2 * 7, 6), (2 * 15, 3))).data
    np.testing.assert_array_equal(out[:, 0], np.pad(DATA[:, 0], (7, 4), mode="reflect"))


def test_gunpowder_positional_order_and_a_bad_mode() -> None:
    assert fg.Pad(RAW, (2, 3), "reflect").mode == "reflect"
    with pytest.raises(fg.ConfigError, match=r"mode must be 'constant' or 'reflect', got 0.5"):
        fg.Pad(RAW, (2, 3), 0.5)  # type: ignore[arg-type]
