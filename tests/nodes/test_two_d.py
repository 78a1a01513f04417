"""2-D images ((y, x) arrays) through the whole augmentation catalogue (issue 11, part 5)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import flowgraph as fg

RAW, LABELS = fg.ArrayKey("RAW"), fg.ArrayKey("LABELS")
ROI = fg.Roi((0, 0), (256, 256))

NODES: dict[str, Callable[[], Any]] = {
    "CutBlur": lambda: fg.CutBlur(RAW, p=1),
    "CutNoise": lambda: fg.CutNoise(RAW, p=1),
    "MissingParts": lambda: fg.MissingParts(RAW, iterations=3, p=1),
    "MotionBlur": lambda: fg.MotionBlur(RAW, p=1),
    "GreyAugment": lambda: fg.GreyAugment(RAW, p=1),
    "XYMasking": lambda: fg.XYMasking(RAW, num_masks_x=1, mask_x_length=4, p=1),
    "IntensityAugment": lambda: fg.IntensityAugment(RAW, 0.9, 1.1, -0.1, 0.1),
    "DefectAugment": lambda: fg.DefectAugment(RAW, prob_missing=0.5, axis=0),
    "Rescale": lambda: fg.Rescale(p=1),
    "MisAlignment": lambda: fg.MisAlignment(displacement=2, p=1),
    "MissingSection": lambda: fg.MissingSection(p=1),
    "ElasticAugment": lambda: fg.ElasticAugment((10, 10), (1, 1), (0, 1), spatial_dims=2),
    "SimpleAugment": lambda: fg.SimpleAugment(),
}


def sources() -> fg.Pipeline:
    rng = np.random.default_rng(0)
    raw = fg.Array(rng.random((64, 64), dtype=np.float32), fg.ArraySpec(roi=ROI, voxel_size=(4, 4)))
    ids = (np.arange(64)[:, None] // 8 * 8 + np.arange(64)[None, :] // 8 + 1).astype(np.uint64) << np.uint64(40)
    labels = fg.Array(ids, fg.ArraySpec(roi=ROI, voxel_size=(4, 4), interpolatable=False))
    return (fg.ArraySource(RAW, raw), fg.ArraySource(LABELS, labels)) + fg.MergeProvider()


@pytest.mark.parametrize("name", sorted(NODES))
def test_a_2d_image_and_its_labels_go_through(name: str) -> None:
    request = fg.BatchRequest(random_seed=1)
    request[RAW] = fg.ArraySpec(roi=fg.Roi((64, 64), (128, 128)))
    request[LABELS] = fg.ArraySpec(roi=fg.Roi((64, 64), (128, 128)))
    with fg.build(sources() + fg.RandomLocation() + NODES[name]()) as p:
        batch = p.request_batch(request)
        again = p.request_batch(request)
    assert batch[RAW].data.shape == (32, 32) and batch[RAW].spec.roi == request[RAW].roi
    assert batch[RAW].data.dtype == np.float32 and np.isfinite(batch[RAW].data).all()
    labels = batch[LABELS].data
    assert labels.dtype == np.uint64 and labels.shape == (32, 32)
    all_ids = set(np.unique(sources().nodes()[1].array.data).tolist())  # type: ignore[attr-defined]
    assert set(np.unique(labels).tolist()) <= all_ids | {0}  # no id invented (0: outside the data)
    np.testing.assert_array_equal(batch[RAW].data, again[RAW].data)  # same seed, same batch


def test_every_augmentation_of_the_catalogue_is_covered() -> None:
    augmentations = {
        name
        for name in fg.nodes.__all__
        if "p" in inspect.signature(getattr(fg.nodes, name)).parameters
        and name not in ("OneOf", "SomeOf", "RandomWarp")  # compositions and the field generator: own tests
    }
    assert augmentations <= set(NODES), sorted(augmentations - set(NODES))
