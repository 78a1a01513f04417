"""ArraySource: serves exact crops of an in-memory array, as copies; reads funlib.persistence arrays lazily."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from contract_cases import coordinate_volume

import flowgraph as fg

with warnings.catch_warnings():  # funlib.persistence 0.7 uses a pydantic feature pydantic 2 deprecates
    warnings.filterwarnings("ignore", "Support for class-based `config` is deprecated", DeprecationWarning)
    import funlib.geometry
    import funlib.persistence

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
    with pytest.raises(
        fg.ConfigError,
        match=r"array must be an fg\.Array or an array with roi, voxel_size, dtype and data .* got ndarray",
    ):
        fg.ArraySource(RAW, np.zeros(2))
    with pytest.raises(fg.ConfigError, match="interpolatable must be True, False or None, got 'yes'"):
        fg.ArraySource(RAW, np.zeros(2), interpolatable="yes")  # type: ignore[arg-type]


# -- funlib.persistence arrays (gunpowder 1.4's ArraySource), and any array with roi, voxel_size, dtype, data --
def prepare(path: Path, data: np.ndarray, offset: tuple[int, ...], voxel_size: tuple[int, ...], **kw: Any) -> Any:
    """A funlib.persistence Array in a new zarr at ``path`` holding ``data``."""
    array = funlib.persistence.prepare_ds(
        str(path), shape=data.shape, offset=offset, voxel_size=voxel_size, dtype=data.dtype, mode="w", **kw
    )
    array[:] = data
    return array


class Spy:
    """An array with roi, voxel_size, dtype and data, recording every read of its data."""

    def __init__(self, data: np.ndarray, roi: fg.Roi, voxel_size: tuple[int, ...], types: list[str] | None = None):
        self.roi, self.voxel_size, self.dtype = roi, voxel_size, data.dtype
        self.reads: list[Any] = []
        self.data = self
        self.shape = data.shape
        self._data = data
        if types is not None:
            self.types = types

    def __getitem__(self, index: Any) -> np.ndarray:
        self.reads.append(index)
        return self._data[index]

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise AssertionError("the whole array was loaded")


def test_funlib_array_3d_exact_region(tmp_path: Path) -> None:
    coords = coordinate_volume((10, 12, 14))
    array = prepare(tmp_path / "data.zarr", coords, offset=(100, 50, 0), voxel_size=(1, 2, 3))
    source = fg.ArraySource(RAW, array)
    with fg.build(source) as p:
        spec = p.spec[RAW]
        assert spec.roi == fg.Roi((100, 50, 0), (10, 24, 42)) and type(spec.roi) is fg.Roi
        assert spec.voxel_size == (1, 2, 3) and spec.dtype == np.int64 and spec.interpolatable is False
        # a funlib.geometry Roi in the request, as gunpowder code writes it
        roi = funlib.geometry.Roi((102, 54, 6), (3, 8, 12))
        request = fg.BatchRequest(random_seed=0)
        request[RAW] = fg.ArraySpec(roi)
        batch = p.request_batch(request)
    # world (102, 54, 6) is voxel (2, 2, 2)
    np.testing.assert_array_equal(batch[RAW].data, coords[2:5, 2:6, 2:6])
    np.testing.assert_array_equal(batch[RAW].data, array[roi])
    assert batch[RAW].spec.roi == fg.Roi((102, 54, 6), (3, 8, 12))
    assert batch[RAW].data.flags.writeable and batch[RAW].data.flags.c_contiguous


def test_funlib_array_2d_with_channels(tmp_path: Path) -> None:
    coords = coordinate_volume((6, 8))
    data = np.stack([coords, coords + 1_000_000]).astype(np.uint32)
    array = prepare(
        tmp_path / "data.zarr", data, offset=(-8, 4), voxel_size=(4, 2), types=["channel", "space", "space"]
    )
    with fg.build(fg.ArraySource(RAW, array)) as p:
        assert p.spec[RAW].roi == fg.Roi((-8, 4), (24, 16))
        assert p.spec[RAW].interpolatable is False  # uint32: labels
        batch = p.request_batch(request(fg.Roi((-4, 8), (8, 6))))
    np.testing.assert_array_equal(batch[RAW].data, data[:, 1:3, 2:5])
    assert batch[RAW].data.dtype == np.uint32


@pytest.mark.parametrize(
    ("dtype", "given", "expected"),
    [(np.float32, None, True), (np.uint64, None, False), (np.float32, False, False), (np.uint64, True, True)],
)
def test_funlib_array_interpolatable(tmp_path: Path, dtype: type, given: bool | None, expected: bool) -> None:
    array = prepare(tmp_path / "data.zarr", np.zeros((4, 4), dtype), offset=(0, 0), voxel_size=(1, 1))
    with fg.build(fg.ArraySource(RAW, array, interpolatable=given)) as p:
        assert p.spec[RAW].interpolatable is expected
        batch = p.request_batch(request(fg.Roi((1, 1), (2, 2))))
    assert batch[RAW].spec.interpolatable is expected


def test_interpolatable_argument_overrides_an_fg_array_spec() -> None:
    array = fg.Array(np.zeros((2, 2), np.uint8), fg.ArraySpec(roi=fg.Roi((0, 0), (2, 2)), voxel_size=(1, 1)))
    with fg.build(fg.ArraySource(RAW, array, interpolatable=False)) as p:
        assert p.spec[RAW].interpolatable is False
        assert p.request_batch(request(fg.Roi((0, 0), (1, 1))))[RAW].spec.interpolatable is False


def test_reads_only_the_requested_voxels_and_nothing_at_setup() -> None:
    coords = coordinate_volume((5, 6, 7))
    spy = Spy(coords, fg.Roi((10, 0, 0), (50, 12, 7)), (10, 2, 1))
    with fg.build(fg.ArraySource(RAW, spy)) as p:
        assert spy.reads == []
        batch = p.request_batch(request(fg.Roi((20, 4, 3), (20, 6, 2))))
    assert spy.reads == [(slice(1, 3), slice(2, 5), slice(3, 5))]
    np.testing.assert_array_equal(batch[RAW].data, coords[1:3, 2:5, 3:5])
    assert not np.shares_memory(batch[RAW].data, coords)


def test_channel_axes_marked_by_types_lead_in_the_batch() -> None:
    coords = coordinate_volume((4, 5))
    data = np.stack([coords, -coords], axis=1)  # (4, 2, 5): the channel axis between the spatial ones
    spy = Spy(data, fg.Roi((0, 0), (4, 5)), (1, 1), types=["space", "channel", "space"])
    with fg.build(fg.ArraySource(RAW, spy)) as p:
        batch = p.request_batch(request(fg.Roi((1, 2), (2, 3))))
    assert spy.reads == [(slice(1, 3), slice(None), slice(2, 5))]
    np.testing.assert_array_equal(batch[RAW].data, np.stack([coords[1:3, 2:5], -coords[1:3, 2:5]]))
    assert batch[RAW].data.flags.c_contiguous


@pytest.mark.parametrize(
    ("shape", "roi", "voxel_size", "message"),
    [
        ((4, 4), fg.Roi((0, 0), (4, 8)), (1, 1), r"roi \[0:4, 0:8\] does not match data of shape \(4, 4\)"),
        ((4, 4), fg.Roi((1, 0), (8, 4)), (2, 1), r"roi \[1:9, 0:4\] is not on the grid of voxel size \(2, 1\)"),
        (
            (4,),
            fg.Roi((0, 0), (4, 4)),
            (1, 1),
            r"roi .* and data of shape .* do not have the same number of spatial axes",
        ),
        (
            (4, 4),
            fg.Roi((0,), (4,)),
            (1, 1),
            r"roi .* and data of shape .* do not have the same number of spatial axes",
        ),
    ],
)
def test_metadata_that_does_not_fit_the_data(
    shape: tuple[int, ...], roi: fg.Roi, voxel_size: tuple[int, ...], message: str
) -> None:
    with pytest.raises(fg.ConfigError, match=r"ArraySource\(RAW\): array: " + message):
        fg.ArraySource(RAW, Spy(np.zeros(shape), roi, voxel_size))
