"""CutBlur and CutNoise: only the cuboid changes, its size is the length ratio, the values are right."""

from __future__ import annotations

import numpy as np
from intensity_helpers import check_common, em, run

import flowgraph as fg
from flowgraph.nodes.cut_blur import cut_blur, random_box
from flowgraph.nodes.cut_noise import cut_noise

RAW = fg.ArrayKey("RAW")


def changed_box(before: np.ndarray, after: np.ndarray) -> tuple[tuple[int, int], ...]:
    where = np.argwhere(before != after)
    return tuple((int(a), int(b) + 1) for a, b in zip(where.min(0), where.max(0)))


def test_random_box_has_the_length_ratio_and_stays_inside() -> None:
    rng = np.random.default_rng(0)
    for _ in range(100):
        box = random_box(rng, (10, 40, 7), 0.25)
        assert [s.stop - s.start for s in box] == [2, 10, 1]
        assert all(s.start >= 0 and s.stop <= n for s, n in zip(box, (10, 40, 7)))
    assert {random_box(rng, (4,), 0.5)[0].start for _ in range(100)} == {0, 1, 2}  # every place


def test_cut_blur_is_blocky_inside_and_untouched_outside() -> None:
    data = em((4, 32, 32))
    box = (slice(1, 3), slice(8, 24), slice(0, 16))
    out = cut_blur(data.copy(), box, (1.0, 4.0, 4.0))
    outside = np.ones(data.shape, bool)
    outside[box] = False
    np.testing.assert_array_equal(out[outside], data[outside])
    region = out[box]
    for z in range(2):  # 4 x 4 blocks of one value: downsampled by 4 in-plane, not along z
        blocks = region[z].reshape(4, 4, 4, 4)
        assert np.all(blocks == blocks[:, :1, :, :1])
    assert not np.array_equal(region[0], region[1])
    assert abs(region.mean() - data[box].mean()) < 0.02  # a blur keeps the mean


def test_cut_blur_is_scikit_images_resize_down_and_up() -> None:
    """The matrix form equals scikit-image's two resizes (clipped to the box's range) on any shape."""
    from skimage.transform import resize

    rng = np.random.default_rng(3)
    cases = [
        ((6, 40, 33), (1.0, 4.0, 4.0)),
        ((6, 40, 33), (1.0, 7.3, 2.5)),
        ((9, 21, 17), (3.0, 5.5, 5.5)),
        ((2, 5, 30, 31), (1.0, 1.5, 6.0)),  # a channel axis first
        ((50,), (8.0,)),
        ((3, 12, 12), (1.0, 1.0, 1.0)),
    ]
    for shape, factors in cases:
        data = rng.random(shape).astype(np.float32) * 3 - 1
        box = tuple(slice(1, n - 1) if n > 4 else slice(None) for n in shape[-len(factors) :])
        region = data[(Ellipsis, *box)]
        lead = region.ndim - len(factors)
        small = region.shape[:lead] + tuple(max(1, int(n / f)) for n, f in zip(region.shape[lead:], factors))
        low = resize(region, small, order=1, mode="reflect", anti_aliasing=True, preserve_range=True)
        expected = data.copy()
        expected[(Ellipsis, *box)] = resize(low, region.shape, order=0, mode="reflect", preserve_range=True)
        out = cut_blur(data.copy(), box, factors)
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6, err_msg=f"{shape} {factors}")
        assert out.min() >= data.min() and out.max() <= data.max()


def test_cut_blur_node_changes_a_box_of_the_ratio() -> None:
    data = em((8, 32, 32))
    for seed in range(5):
        out = run(fg.CutBlur(RAW, length_ratio=0.5, p=1.0), data, seed)
        box = changed_box(data, out)
        assert all(b - a <= n for (a, b), n in zip(box, (4, 16, 16)))
    check_common(lambda p: fg.CutBlur(RAW, p=p))


def test_cut_blur_downsample_z() -> None:
    data = em((8, 16, 16))
    out = run(fg.CutBlur(RAW, length_ratio=1.0, down_ratio_min=4, down_ratio_max=4, downsample_z=True, p=1.0), data)
    assert np.array_equal(out[0], out[1])  # 8 sections shrunk to 2 and blown up: pairs of 4 equal
    flat = run(fg.CutBlur(RAW, length_ratio=1.0, down_ratio_min=4, down_ratio_max=4, p=1.0), data)
    assert not np.array_equal(flat[0], flat[1])


def test_cut_noise_adds_bounded_noise_in_the_box_and_clips() -> None:
    data = np.full((1, 4), 0.95)
    np.testing.assert_allclose(
        cut_noise(data, (slice(None), slice(0, 2)), np.array([[0.1, -0.1]])), [[1.0, 0.85, 0.95, 0.95]]
    )
    flat = np.full((8, 32, 32), 0.5, np.float32)
    for seed in range(5):
        out = run(fg.CutNoise(RAW, length_ratio=0.5, scale=0.2, p=1.0), flat, seed)
        assert np.count_nonzero(out != 0.5) > 0.9 * 4 * 16 * 16
        assert np.abs(out - 0.5).max() <= 0.2 + 1e-6
        assert all(b - a <= n for (a, b), n in zip(changed_box(flat, out), (4, 16, 16)))
    gauss = run(fg.CutNoise(RAW, length_ratio=1.0, mode="gaussian", scale=0.05, p=1.0), flat)
    assert 0.04 < float(np.std(gauss)) < 0.06
    check_common(lambda p: fg.CutNoise(RAW, p=p))


def test_one_section_requests_and_channels() -> None:
    assert not np.array_equal(run(fg.CutNoise(RAW, p=1.0), em((1, 16, 16))), em((1, 16, 16)))
    data = em((2, 3, 16, 16))
    out = run(fg.CutBlur(RAW, length_ratio=0.5, p=1.0), data, dims=3)
    assert out.shape == data.shape and not np.array_equal(out, data)
