"""Shared helpers of the intensity and artifact node tests (issue 11)."""

from __future__ import annotations

import numpy as np
import pytest

import flowgraph as fg

RAW = fg.ArrayKey("RAW")


def run(node: fg.BatchProvider, data: np.ndarray, seed: int = 0, dims: int | None = None) -> np.ndarray:
    """``node`` applied to ``data`` (float, voxel size 1) requested whole with ``seed``."""
    dims = data.ndim if dims is None else dims
    spatial = data.shape[data.ndim - dims :]
    roi = fg.Roi((0,) * dims, spatial)
    source = fg.ArraySource(RAW, fg.Array(data.copy(), fg.ArraySpec(roi=roi, voxel_size=(1,) * dims)))
    request = fg.BatchRequest(random_seed=seed)
    request[RAW] = fg.ArraySpec(roi=roi)
    with fg.build(source + node) as p:
        return p.request_batch(request)[RAW].data


def em(shape: tuple[int, ...] = (6, 32, 32), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.1, 0.9, shape).astype(np.float32)


def check_common(make) -> None:  # type: ignore[no-untyped-def]
    """p=0 identity, p=1 a change for every seed, same seed same output, uint8 and NaN refused."""
    data = em()
    np.testing.assert_array_equal(run(make(p=0.0), data), data)
    for seed in range(5):
        out = run(make(p=1.0), data, seed)
        assert out.dtype == data.dtype and out.shape == data.shape
        assert not np.array_equal(out, data), seed
        np.testing.assert_array_equal(out, run(make(p=1.0), data, seed))
    assert not np.array_equal(run(make(p=1.0), data, 0), run(make(p=1.0), data, 1))
    with pytest.raises(fg.SetupError, match="Normalize"):
        run(make(p=1.0), (data * 255).astype(np.uint8))
    for value in (np.nan, np.inf, -np.inf):  # one voxel is enough, gate open or closed
        bad = data.copy()
        bad[3, 17, 5] = value
        for p in (0.0, 1.0):
            with pytest.raises(fg.NonFiniteError, match="non-finite"):
                run(make(p=p), bad)
