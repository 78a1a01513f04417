"""ArraySource: serves exact crops of an in-memory array, as copies."""

from __future__ import annotations

import numpy as np
import pytest
from contract_cases import coordinate_volume

import flowgraph as fg

RAW = fg.ArrayKey("RAW")


def source(data: np.ndarray, offset: tuple[int, ...], voxel_size: tuple[int, ...], **spec: object) -> fg.ArraySource:
    dims = len(voxel_size)
    shape = tuple(s * v for s, v in zip(data.shape[data.ndim - dims :], voxel_size, strict=True))
    return fg.ArraySource(RAW, fg.Array(data, fg.ArraySpec(roi=fg.Roi(offset, shape), voxel_size=voxel_size, **spec)))


def request(roi: fg.Roi, seed: int = 0) -> fg.BatchRequest:
    r = fg.BatchRequest(random_seed=seed)
    r[RAW] = fg.ArraySpec(roi=roi)
    return r


def test_crop_is_exact_on_coordinate_data() -> None:
    coords = coordinate_volume((6, 10, 12))
    with fg.build(source(coords, (40, -8, 12), (4, 2, 2))) as p:
        assert p.spec[RAW].roi == fg.Roi((40, -8, 12), (24, 20, 24))
        batch = p.request_batch(request(fg.Roi((48, -4, 16), (12, 6, 10))))
    # world (48, -4, 16) is voxel (2, 2, 2) of the data
    np.testing.assert_array_equal(batch[RAW].data, coords[2:5, 2:5, 2:7])
    assert batch[RAW].spec.roi == fg.Roi((48, -4, 16), (12, 6, 10))
    assert batch[RAW].spec.voxel_size == (4, 2, 2)
    assert batch[RAW].data.dtype == np.int64


def test_leading_channel_axes_are_kept() -> None:
    coords = coordinate_volume((5, 6))
    data = np.stack([coords, coords + 1_000_000])
    with fg.build(source(data, (0, 0), (1, 1))) as p:
        batch = p.request_batch(request(fg.Roi((1, 2), (3, 2))))
    np.testing.assert_array_equal(batch[RAW].data, data[:, 1:4, 2:4])


@pytest.mark.parametrize("roi", [fg.Roi((1, 2), (3, 2)), fg.Roi((0, 0), (5, 6))], ids=["part", "whole"])
def test_returned_data_is_a_copy(roi: fg.Roi) -> None:
    coords = coordinate_volume((5, 6))
    original = coords.copy()
    with fg.build(source(coords, (0, 0), (1, 1))) as p:
        first = p.request_batch(request(roi))
        first[RAW].data[...] = -1
        second = p.request_batch(request(roi))
    np.testing.assert_array_equal(coords, original)
    np.testing.assert_array_equal(second[RAW].data, original[roi.to_slices()])
    assert not np.shares_memory(second[RAW].data, coords)


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [(np.float32, True), (np.uint8, True), (np.uint16, True), (np.uint64, False), (np.int32, False), (np.bool_, False)],
)
def test_interpolatable_defaults_by_dtype(dtype: type, expected: bool) -> None:
    with fg.build(source(np.zeros((2, 2), dtype), (0, 0), (1, 1))) as p:
        assert p.spec[RAW].interpolatable is expected
        assert p.spec[RAW].dtype == np.dtype(dtype)
        batch = p.request_batch(request(fg.Roi((0, 0), (1, 1))))
    assert batch[RAW].spec.interpolatable is expected


def test_explicit_interpolatable_wins() -> None:
    with fg.build(source(np.zeros((2, 2), np.uint8), (0, 0), (1, 1), interpolatable=False)) as p:
        assert p.spec[RAW].interpolatable is False
        batch = p.request_batch(request(fg.Roi((0, 0), (2, 2))))
    assert batch[RAW].spec.interpolatable is False


def test_request_outside_the_data_is_refused() -> None:
    with (
        fg.build(source(np.zeros((4, 4)), (0, 0), (2, 2))) as p,
        pytest.raises(fg.RequestError, match=r"outside the provided ROI \[0:8, 0:8\]"),
    ):
        p.request_batch(request(fg.Roi((4, 4), (6, 2))))


def test_bad_arguments() -> None:
    with pytest.raises(fg.ConfigError, match="key must be an ArrayKey"):
        fg.ArraySource("RAW", fg.Array(np.zeros(2), fg.ArraySpec(roi=fg.Roi((0,), (2,)), voxel_size=(1,))))  # type: ignore[arg-type]
    with pytest.raises(fg.ConfigError, match=r"array must be an fg\.Array, got ndarray"):
        fg.ArraySource(RAW, np.zeros(2))  # type: ignore[arg-type]
