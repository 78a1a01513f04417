"""Rescale: in-plane zoom about the request centre, anti-aliased images, exact labels, points on labels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from test_mis_alignment import LABELS, POINTS, RAW, VS, block_centres, cells, coordinates, expected, pipeline, request

import flowgraph as fg
from flowgraph.nodes.rescale import antialias, antialias_sigma

ROI = fg.Roi((8, 40, 40), (24, 40, 40))  # 6 sections of 20 x 20 voxels about the centre (60, 60)


def test_antialias_sigma_follows_scikit_image() -> None:
    assert antialias_sigma(0.5) == 0.5 and antialias_sigma(0.8) == pytest.approx(0.125)
    assert antialias_sigma(1.0) == 0.0 and antialias_sigma(2.0) == 0.0


def test_antialias_keeps_constants_and_linear_ramps_and_damps_a_checkerboard() -> None:
    ramp = np.broadcast_to(np.arange(30, dtype=np.float32), (2, 30, 30)).copy()
    smooth = antialias(ramp, (0.7, 0.7))
    assert smooth.dtype == np.float32
    np.testing.assert_allclose(smooth[:, 5:-5, 5:-5], ramp[:, 5:-5, 5:-5], atol=1e-4)  # symmetric kernel
    board = (np.indices((30, 30)).sum(0) % 2).astype(np.float32)
    assert antialias(board, (0.5, 0.5)).std() < 0.5 * board.std()
    assert antialias(np.ones((3, 4, 4), np.uint8), (1.0, 1.0)).dtype == np.float32
    noise = np.random.default_rng(0).random((2, 3, 17, 19))
    for sigma in ((0.125, 0.5), (1.3, 0.0), (0.1, 0.1)):  # scikit-image's (scipy's) filter, borders repeated
        np.testing.assert_allclose(
            antialias(noise, sigma), ndimage.gaussian_filter(noise, (0, 0, *sigma), mode="nearest")
        )


def test_the_zoom_is_about_the_centre_and_within_the_range() -> None:
    """Channel d of the source holds voxel index d, so each output voxel names where it was read."""
    grids = np.stack(np.meshgrid(*[np.arange(s, dtype=np.float64) for s in (10, 60, 60)], indexing="ij"))
    roi = fg.Roi((0, 0, 0), (40, 120, 120))
    source = fg.ArraySource(RAW, fg.Array(grids, fg.ArraySpec(roi=roi, voxel_size=VS)))
    factors = []
    for fix in (False, True):
        with fg.build(source + fg.Rescale(low=0.6, high=1.5, fix_aspect=fix, p=1.0)) as p:
            for seed in range(8):
                z, y, x = p.request_batch(request(seed, ROI, RAW))[RAW].data
                np.testing.assert_allclose(z, grids[0, 2:8, 20:40, 20:40], atol=1e-9)  # sections stay put
                # linear data: an exact affine image of the input grid about the centre (voxel 29.5)
                sy = (y[0, -1, 0] - y[0, 0, 0]) / 19
                sx = (x[0, 0, -1] - x[0, 0, 0]) / 19
                assert 1 / 1.5 - 1e-6 <= sy <= 1 / 0.6 + 1e-6 and 1 / 1.5 - 1e-6 <= sx <= 1 / 0.6 + 1e-6
                np.testing.assert_allclose(y, 29.5 + (np.arange(20)[None, :, None] - 9.5) * sy + 0 * y, atol=1e-6)
                np.testing.assert_allclose(x, 29.5 + (np.arange(20)[None, None, :] - 9.5) * sx + 0 * x, atol=1e-6)
                if fix:
                    assert sy == pytest.approx(sx)
                factors.append((sy, sx))
    assert len({round(f[0], 6) for f in factors}) >= 8  # drawn per request


def test_labels_stay_exact_and_points_on_their_labels() -> None:
    with fg.build(pipeline(fg.Rescale(low=0.5, high=2.0, p=1.0))) as p:
        for seed in range(8):
            batch = p.request_batch(request(seed, ROI))
            labels, points = batch[LABELS].data, batch[POINTS]
            assert labels.dtype == np.uint64 and set(np.unique(labels)) <= set(np.unique(cells()))
            index = ((points.locations - np.asarray(ROI.begin)) // np.asarray(VS)).astype(int)
            assert len(points) > 0
            for (z, y, x), cell in zip(index, points.attributes["cell"], strict=True):
                assert cell in labels[z, max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2]


def test_shrinking_is_anti_aliased() -> None:
    """A one-voxel checkerboard shrunk to half: sampled without a pre-filter it aliases to a
    constant 0 or 1; the anti-aliased output stays near its mean, 0.5."""
    board = (np.indices((60, 60)).sum(0) % 2).astype(np.float32)
    roi = fg.Roi((0, 0), (120, 120))
    source = fg.ArraySource(RAW, fg.Array(board, fg.ArraySpec(roi=roi, voxel_size=(2, 2))))
    with fg.build(source + fg.Rescale(low=0.5, high=0.5, p=1.0)) as p:
        out = p.request_batch(request(0, fg.Roi((40, 40), (40, 40)), RAW))[RAW].data
    assert abs(out.mean() - 0.5) < 0.05 and out.std() < 0.15


def test_integer_images_keep_their_dtype_and_two_dimensional_data_works() -> None:
    data = (coordinates((60, 60)) % 251).astype(np.uint8)
    roi = fg.Roi((0, 0), (120, 120))
    source = fg.ArraySource(RAW, fg.Array(data, fg.ArraySpec(roi=roi, voxel_size=(2, 2))))
    with fg.build(source + fg.Rescale(low=0.7, high=0.9, p=1.0)) as p:
        out = p.request_batch(request(1, fg.Roi((40, 40), (40, 40)), RAW))[RAW].data
    assert out.dtype == np.uint8 and out.shape == (20, 20) and not np.array_equal(out, data[20:40, 20:40])
    ids = cells((60, 60))
    labels = fg.ArraySource(LABELS, fg.Array(ids, fg.ArraySpec(roi=roi, voxel_size=(2, 2), interpolatable=False)))
    with fg.build(labels + fg.Rescale(p=1.0)) as p:
        out = p.request_batch(request(2, fg.Roi((40, 40), (40, 40)), LABELS))[LABELS].data
    assert set(np.unique(out)) <= set(np.unique(ids))


def test_p_zero_is_the_identity_p_one_a_change_and_the_same_seed_the_same_batch() -> None:
    with fg.build(pipeline(fg.Rescale(p=0.0))) as p:
        np.testing.assert_array_equal(p.request_batch(request(3, ROI, RAW))[RAW].data, expected(ROI))
    with fg.build(pipeline(fg.Rescale(p=1.0))) as p:
        outs = [p.request_batch(request(s, ROI, RAW))[RAW].data for s in range(10)]
        again = p.request_batch(request(4, ROI, RAW))[RAW].data
    assert all(not np.array_equal(o, expected(ROI)) for o in outs)
    np.testing.assert_array_equal(outs[4], again)


def test_bad_arguments_name_the_parameter() -> None:
    with pytest.raises(fg.ConfigError, match="low"):
        fg.Rescale(low=-1)
    with pytest.raises(fg.ConfigError, match="high"):
        fg.Rescale(low=1.2, high=1.1)
    assert block_centres()[0].shape[1] == 3
