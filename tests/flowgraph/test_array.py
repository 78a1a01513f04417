"""Array: numpy data placed in the world; crops checked exactly on coordinate-encoding data."""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import coordinate_volume, expected_crop
from hypothesis import given, settings
from hypothesis import strategies as st

from flowgraph.array import Array, voxel_shape
from flowgraph.errors import BatchContractError, ConfigError
from flowgraph.roi import Roi
from flowgraph.specs import ArraySpec


def volume(shape: tuple[int, ...], voxel_size: tuple[int, ...], offset: tuple[int, ...], channels: int = 0) -> Array:
    data = coordinate_volume(shape)
    if channels:
        data = np.stack([data + 1_000_000 * c for c in range(channels)])
    roi = Roi(offset, tuple(s * v for s, v in zip(shape, voxel_size)))
    return Array(data, ArraySpec(roi=roi, voxel_size=voxel_size))


def test_constructor_fills_dtype_and_copies_the_spec() -> None:
    spec = ArraySpec(roi=Roi((0, 0), (4, 6)), voxel_size=(2, 3))
    a = Array(np.zeros((2, 2), np.uint16), spec)
    assert a.spec.dtype == np.uint16
    assert spec.dtype is None  # the caller's spec is not modified
    assert a.roi == Roi((0, 0), (4, 6)) and a.voxel_size == (2, 3)


def test_crop_anisotropic_exact_values() -> None:
    # 3-D, voxel size (40, 4, 4), offset not at the origin, negative coordinates included
    a = volume((5, 8, 9), (40, 4, 4), (-80, -12, 8))
    roi = Roi((-40, -4, 16), (80, 16, 12))
    out = a.crop(roi)
    assert out.roi == roi and out.voxel_size == (40, 4, 4)
    assert out.data.shape == (2, 4, 3)
    # z voxels 1..2, y voxels 2..5, x voxels 2..4
    assert out.data[0, 0, 0] == 10202 and out.data[-1, -1, -1] == 20504
    np.testing.assert_array_equal(out.data, expected_crop(roi, a.roi, (40, 4, 4)))


def test_crop_keeps_leading_channel_axes() -> None:
    a = volume((4, 6), (2, 3), (0, 0), channels=3)
    assert a.data.shape == (3, 4, 6)
    out = a.crop(Roi((2, 6), (4, 9)))
    assert out.data.shape == (3, 2, 3)
    for c in range(3):
        np.testing.assert_array_equal(out.data[c], np.array([[102, 103, 104], [202, 203, 204]]) + 1_000_000 * c)


def test_crop_is_a_view_and_the_same_roi_returns_the_array() -> None:
    a = volume((4, 4), (1, 1), (0, 0))
    out = a.crop(Roi((1, 1), (2, 2)))
    assert np.shares_memory(out.data, a.data)
    assert a.crop(a.roi) is a
    assert out.spec is not a.spec and a.roi == Roi((0, 0), (4, 4))


def test_crop_errors() -> None:
    a = volume((4, 4), (10, 10), (0, 0))
    with pytest.raises(BatchContractError, match=r"not inside the array's ROI \[0:40, 0:40\]"):
        a.crop(Roi((0, 0), (50, 10)))
    with pytest.raises(BatchContractError, match=r"not on the voxel grid \(10, 10\)"):
        a.crop(Roi((5, 0), (10, 10)))


def test_moved_and_trusted() -> None:
    a = volume((2, 3), (2, 2), (0, 0))
    moved = a.moved(Roi((100, -4), (4, 6)))
    assert moved.roi == Roi((100, -4), (4, 6)) and moved.data is a.data and a.roi == Roi((0, 0), (4, 6))
    with pytest.raises(BatchContractError, match="another shape"):
        a.moved(Roi((0, 0), (4, 4)))
    t = Array.trusted(a.data, a.spec, Roi((2, 2), (4, 6)))
    assert t.roi == Roi((2, 2), (4, 6)) and a.roi == Roi((0, 0), (4, 6))
    assert Array.trusted(a.data, a.spec).roi == a.roi


def test_nonspatial_arrays_need_no_roi_and_ignore_crops() -> None:
    a = Array(np.arange(3.0), ArraySpec(nonspatial=True))
    assert a.crop(Roi((0,), (1,))) is a


@pytest.mark.parametrize(
    ("data", "spec", "message"),
    [
        ([1, 2], ArraySpec(nonspatial=True), "data must be a numpy array"),
        (np.zeros(2), {}, "spec must be an ArraySpec"),
        (np.zeros((3, 3)), ArraySpec(roi=Roi((0, 0), (3, 3))), "needs spec.roi and spec.voxel_size"),
        (np.zeros((3, 3)), ArraySpec(voxel_size=(1, 1)), "needs spec.roi and spec.voxel_size"),
        (np.zeros((3, 3)), ArraySpec(roi=Roi((0, 0), (6, 6)), voxel_size=(2, 2, 2)), "different numbers of axes"),
        (np.zeros(3), ArraySpec(roi=Roi((0, 0), (3, 3)), voxel_size=(1, 1)), "data has 1 axes"),
        (np.zeros((3, 3)), ArraySpec(roi=Roi((1, 0), (6, 6)), voxel_size=(2, 2)), "not on the grid"),
        (np.zeros((3, 4)), ArraySpec(roi=Roi((0, 0), (6, 6)), voxel_size=(2, 2)), r"expected spatial shape \(3, 3\)"),
        (np.zeros((2, 3)), ArraySpec(roi=Roi((0, None), (6, None)), voxel_size=(2, 2)), "bounded"),
    ],
)
def test_constructor_errors(data: object, spec: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Array(data, spec)  # type: ignore[arg-type]


def test_voxel_shape() -> None:
    assert voxel_shape(Roi((-40, 0), (120, 8)), (40, 4)) == (3, 2)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 4), st.integers(-3, 3), st.integers(1, 6)), min_size=1, max_size=3),
    st.data(),
)
def test_crop_matches_the_coordinates_for_any_grid_aligned_roi(
    axes: list[tuple[int, int, int]], data: st.DataObject
) -> None:
    voxel_size = tuple(a[0] for a in axes)
    offset = tuple(a[1] * a[0] for a in axes)
    shape = tuple(a[2] for a in axes)
    a = volume(shape, voxel_size, offset)
    begin, size = [], []
    for n, v, o in zip(shape, voxel_size, offset):
        b = data.draw(st.integers(0, n - 1))
        s = data.draw(st.integers(1, n - b))
        begin.append(o + b * v)
        size.append(s * v)
    roi = Roi(begin, size)
    np.testing.assert_array_equal(a.crop(roi).data, expected_crop(roi, a.roi, voxel_size))


def test_copy_has_its_own_data_and_spec() -> None:
    spec = ArraySpec(roi=Roi((0, 4), (4, 8)), voxel_size=(2, 2), interpolatable=True)
    array = Array(np.arange(8, dtype=np.uint16).reshape(2, 4), spec)
    copy = array.copy()
    assert copy is not array and copy.data is not array.data and copy.spec is not array.spec
    np.testing.assert_array_equal(copy.data, array.data)
    assert copy.spec == array.spec and copy.data.dtype == np.uint16
    copy.data[0, 0] = 100
    copy.spec.interpolatable = False
    assert array.data[0, 0] == 0 and array.spec.interpolatable is True
