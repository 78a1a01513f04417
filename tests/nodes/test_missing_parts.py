"""MissingParts and MotionBlur: the band is the dilated line, sections are chosen as promised."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from intensity_helpers import check_common, em, run
from scipy import ndimage
from skimage.draw import line

import flowgraph as fg
from flowgraph.nodes.missing_parts import line_band
from flowgraph.nodes.motion_blur import motion_blur

RAW = fg.ArrayKey("RAW")


@pytest.mark.parametrize("shape", [(20, 20), (12, 30), (30, 9)])
def test_band_equals_binary_dilation_of_the_line(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    for _ in range(30):
        across_rows = bool(rng.random() < 0.5)
        a, b = rng.integers(0, shape[1] if across_rows else shape[0], 2)
        n = int(rng.integers(0, 8))
        mask = np.zeros(shape, bool)
        if across_rows:
            mask[line(0, a, shape[0] - 1, b)] = True
        else:
            mask[line(a, 0, b, shape[1] - 1)] = True
        expected = ndimage.binary_dilation(mask, iterations=n) if n else mask
        np.testing.assert_array_equal(line_band(shape, across_rows, int(a), int(b), n), expected)


def test_hit_sections_get_their_mean_on_a_band_and_never_two_in_a_row() -> None:
    data = em((12, 32, 32))
    for seed in range(10):
        out = run(fg.MissingParts(RAW, iterations=3, p=0.7), data, seed)
        hit = [not np.array_equal(out[s], data[s]) for s in range(12)]
        assert not any(a and b for a, b in itertools.pairwise(hit))
        for s in np.flatnonzero(hit):
            changed = out[s] != data[s]
            assert np.allclose(out[s][changed], data[s].mean(), atol=1e-6)
            assert changed.sum() >= 4 * 32  # a band at least n+1 wide (at a border) across the section
    full = run(fg.MissingParts(RAW, iterations=3, p=1.0), data)
    assert [not np.array_equal(full[s], data[s]) for s in range(4)] == [True, False, True, False]
    check_common(lambda p: fg.MissingParts(RAW, iterations=4, p=p))


def test_missing_parts_per_channel_mean_and_2d() -> None:
    data = np.stack([np.full((4, 16, 16), 0.2, np.float32), np.full((4, 16, 16), 0.8, np.float32)])
    data[:, :, :, :8] += 0.1
    out = run(fg.MissingParts(RAW, iterations=2, p=1.0), data, dims=3)
    np.testing.assert_allclose(np.unique(out[0, 0][out[0, 0] != data[0, 0]]), [0.25], atol=1e-6)
    np.testing.assert_allclose(np.unique(out[1, 0][out[1, 0] != data[1, 0]]), [0.85], atol=1e-6)
    assert not np.array_equal(run(fg.MissingParts(RAW, p=1.0), em((16, 16))), em((16, 16)))


def test_motion_blur_is_a_line_mean_on_chosen_sections_only() -> None:
    section = em((1, 9, 9))
    np.testing.assert_allclose(
        motion_blur(section, 3, -1)[0, 4, 1:-1],
        (section[0, 4, :-2] + section[0, 4, 1:-1] + section[0, 4, 2:]) / 3,
        rtol=1e-6,
    )
    data = em((10, 24, 24))
    directions = set()
    for seed in range(10):
        out = run(fg.MotionBlur(RAW, sections=3, kernel_size=5, p=1.0), data, seed)
        hit = [s for s in range(10) if not np.array_equal(out[s], data[s])]
        assert len(hit) == 3
        for s in hit:
            horizontal = np.allclose(out[s], ndimage.uniform_filter1d(data[s], 5, axis=-1, mode="mirror"))
            vertical = np.allclose(out[s], ndimage.uniform_filter1d(data[s], 5, axis=-2, mode="mirror"))
            assert horizontal != vertical
            directions.add(horizontal)
    assert directions == {True, False}
    assert (
        len(
            [
                s
                for s in range(2)
                if not np.array_equal(run(fg.MotionBlur(RAW, p=1.0), em((2, 8, 8)))[s], em((2, 8, 8))[s])
            ]
        )
        == 2
    )
    check_common(lambda p: fg.MotionBlur(RAW, p=p))
    with pytest.raises(fg.SetupError, match="2 spatial axes"):
        run(fg.MotionBlur(RAW, p=1.0), em((16,)))
