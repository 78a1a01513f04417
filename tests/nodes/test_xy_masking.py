"""XYMasking: albumentations' stripes, on every section, in masks at the same world places."""

from __future__ import annotations

import numpy as np
import pytest
from intensity_helpers import check_common, em, run

import flowgraph as fg
from flowgraph.nodes.xy_masking import fill_stripes

RAW, LABELS = fg.ArrayKey("RAW"), fg.ArrayKey("LABELS")


def stripes_of(out: np.ndarray, axis: int) -> list[int]:
    """Lengths of the runs of all-zero index planes along ``axis`` of a (y, x) section."""
    zero = np.all(out == 0, axis=1 - axis) if out.ndim == 2 else None
    runs, n = [], 0
    for z in list(zero) + [False]:  # type: ignore[arg-type]
        if z:
            n += 1
        elif n:
            runs.append(n)
            n = 0
    return runs


def test_fill_stripes_per_channel() -> None:
    out = fill_stripes(np.ones((2, 2, 3, 4)), 3, [(2, 0, 1), (1, 2, 3)], (0.0, 5.0))
    assert np.all(out[0, :, :, 0] == 0) and np.all(out[1, :, :, 0] == 5) and np.all(out[1, :, 2] == 5)
    with pytest.raises(fg.ConfigError, match="one per channel"):
        fill_stripes(np.ones((3, 4)), 2, [], (1.0, 2.0))


# every example of the seed document (albumentations' XYMasking on a spectrogram), same parameters
SEED_EXAMPLES = [
    ({"num_masks_x": 1, "mask_x_length": 20, "fill_value": 0}, {"x": [20]}),
    ({"num_masks_x": 1, "mask_x_length": (0, 20), "fill_value": 0}, {"x": "<=20"}),
    ({"num_masks_y": 1, "mask_y_length": (0, 20), "fill_value": 0}, {"y": "<=20"}),
    ({"num_masks_x": (2, 4), "num_masks_y": 5, "mask_y_length": 8, "mask_x_length": (10, 20), "fill_value": 0}, {}),
]


@pytest.mark.parametrize(("params", "expect"), SEED_EXAMPLES)
def test_the_seed_documents_examples(params: dict, expect: dict) -> None:
    data = em((128, 256), 1) + 0.05
    for seed in range(5):
        out = run(fg.XYMasking(fg.ArrayKey("RAW"), **params, p=1), data, seed)
        zero_x, zero_y = np.all(out == 0, axis=0), np.all(out == 0, axis=1)
        assert np.all((out == 0) == (zero_x[None, :] | zero_y[:, None]))  # only whole stripes
        if expect.get("x") == [20]:
            assert zero_x.sum() == 20 and not zero_y.any()
        if expect.get("x") == "<=20":
            assert zero_x.sum() <= 20 and not zero_y.any()
        if expect.get("y") == "<=20":
            assert zero_y.sum() <= 20 and not zero_x.any()
        if not expect:
            assert 10 <= zero_x.sum() <= 80 and 8 <= zero_y.sum() <= 40


def test_seed_example_5_fill_value_per_channel() -> None:
    data = em((4, 128, 256), 2) + 0.5  # 4 channels, as the spectrogram's
    params = {
        "num_masks_x": (2, 4),
        "num_masks_y": 5,
        "mask_y_length": 8,
        "mask_x_length": (20, 30),
        "fill_value": (0, 1, 2, 3),
    }
    out = run(fg.XYMasking(RAW, **params, p=1), data, dims=2)
    for c in range(4):
        stripes = np.all(out[c] == c, axis=0)
        assert 40 <= stripes.sum() <= 120
        assert np.array_equal(stripes, np.all(out[0] == 0, axis=0))


def test_same_stripes_on_every_section_and_axes() -> None:
    data = em((5, 20, 30))
    out = run(fg.XYMasking(RAW, num_masks_x=2, mask_x_length=3, num_masks_y=1, mask_y_length=2, p=1), data)
    assert all(np.array_equal(out[0] == 0, out[s] == 0) for s in range(5))
    swapped = run(fg.XYMasking(RAW, num_masks_x=1, mask_x_length=4, axes=(-2, -1), p=1), data)
    assert np.all(swapped[0] == 0, axis=1).sum() == 4  # x is axes[0]: now the rows
    sections = run(fg.XYMasking(RAW, num_masks_x=1, mask_x_length=2, axes=(0, -1), p=1), data)
    assert sum(bool(np.all(s == 0)) for s in sections) == 2


def test_masks_get_the_stripes_at_the_same_world_place() -> None:
    raw = fg.Array(em((4, 40, 40)), fg.ArraySpec(roi=fg.Roi((0, 0, 0), (4, 40, 40)), voxel_size=(1, 1, 1)))
    labels = fg.Array(
        np.full((4, 20, 20), 7, np.uint64),
        fg.ArraySpec(roi=fg.Roi((0, 0, 0), (4, 40, 40)), voxel_size=(1, 2, 2), interpolatable=False),
    )
    pipeline = (fg.ArraySource(RAW, raw), fg.ArraySource(LABELS, labels)) + fg.MergeProvider()
    pipeline += fg.XYMasking(
        RAW, num_masks_x=1, mask_x_length=8, fill_value=0.0, mask_fill_value=0, masks=[LABELS], p=1
    )
    request = fg.BatchRequest(random_seed=0)
    request[RAW] = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (4, 40, 40)))
    request[LABELS] = fg.ArraySpec(roi=fg.Roi((0, 8, 8), (4, 24, 24)))
    with fg.build(pipeline) as p:
        batch = p.request_batch(request)
    cols = np.flatnonzero(np.all(batch[RAW].data[0] == 0, axis=0))
    label_cols = np.flatnonzero(np.all(batch[LABELS].data[0] == 0, axis=0))
    assert len(cols) == 8
    # every label voxel that overlaps the stripe in world x, none other
    assert label_cols.tolist() == sorted({(int(c) - 8) // 2 for c in cols if 8 <= c < 32})
    assert set(np.unique(batch[LABELS].data)) <= {0, 7}


def test_errors() -> None:
    with pytest.raises(fg.RequestError, match="do not fit"):
        run(fg.XYMasking(RAW, num_masks_x=1, mask_x_length=50, p=1), em((2, 8, 8)))
    check_common(lambda p: fg.XYMasking(RAW, num_masks_x=1, mask_x_length=3, p=p))
