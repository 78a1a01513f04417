"""Section helpers: axes with channels, section views, counts, means, per-section draws."""

from __future__ import annotations

import numpy as np

import flowgraph as fg
from flowgraph.nodes.sections import (
    data_axis,
    draw_uniform,
    per_section,
    section,
    section_count,
    section_index,
    section_means,
)


def test_data_axis_counts_leading_channels() -> None:
    assert data_axis(3, 3, 0) == 0
    assert data_axis(5, 3, 0) == 2
    assert data_axis(4, 2, 1) == 3


def test_section_index_and_views_write_through() -> None:
    data = np.zeros((2, 3, 4, 5))  # channels, z, y, x
    axis = data_axis(data.ndim, 3, 1)  # y
    view = section(data, axis, 2)
    assert view.shape == (2, 3, 1, 5) and np.shares_memory(view, data)
    view[...] = 1
    assert data[:, :, 2].all() and data.sum() == 2 * 3 * 5
    data[section_index(data.ndim, axis, np.array([0, 3]))] = 7
    assert (data[:, :, [0, 3]] == 7).all()


def test_section_count_uses_the_request_or_the_offered_voxel_size() -> None:
    roi = fg.Roi((0, 0, 0), (40, 8, 6))
    assert section_count(fg.ArraySpec(roi=roi, voxel_size=(4, 2, 2)), 0) == 10
    assert section_count(fg.ArraySpec(roi=roi), 2, fg.Coordinate((4, 2, 2))) == 3
    assert section_count(fg.ArraySpec(voxel_size=(4, 2, 2)), 0) is None
    assert section_count(fg.ArraySpec(roi=roi), 0) is None


def test_section_means_fast_and_exact_agree_with_float64() -> None:
    data = np.random.default_rng(0).random((6, 30, 30)).astype(np.float32)
    expected = data.astype(np.float64).mean(axis=(1, 2))
    for fast in (True, False):
        got = section_means(data, 0, fast=fast)
        assert got.shape == (6, 1, 1) and got.dtype == np.float64
        np.testing.assert_allclose(got.ravel(), expected, rtol=1e-6)
        np.testing.assert_allclose(section_means(data, None, fast=fast), data.astype(np.float64).mean(), rtol=1e-6)
    # the exact path is numpy's float64 mean, bit for bit (DefectAugment's low contrast relies on it)
    assert (
        section_means(data, 0, fast=False).tobytes()
        == data.mean(axis=(1, 2), dtype=np.float64, keepdims=True).tobytes()
    )
    np.testing.assert_allclose(section_means(data, 2).ravel(), data.astype(np.float64).mean(axis=(0, 1)), rtol=1e-6)


def test_per_section_values_broadcast_along_the_axis() -> None:
    values = per_section([1, 2, 3], 4, 2, 3)
    assert values.shape == (1, 1, 3, 1) and values.dtype == np.float64
    assert per_section(2.5, 3, 0, 1).shape == (1, 1, 1)


def test_draw_uniform_is_one_draw_or_one_per_section() -> None:
    one = draw_uniform(np.random.default_rng(1), 2.0, 3.0, None)
    assert np.shape(one) == () and 2.0 <= one < 3.0
    many = draw_uniform(np.random.default_rng(1), 2.0, 3.0, 4)
    assert many.shape == (4,)
    assert many.tobytes() == np.random.default_rng(1).uniform(2.0, 3.0, 4).tobytes()
