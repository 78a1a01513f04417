"""ncc: known values on 1-D to 3-D images."""

from __future__ import annotations

import numpy as np
import pytest

from flowgraph.errors import ConfigError
from flowgraph.metrics import ncc


@pytest.mark.parametrize("shape", [(2000,), (64, 64), (16, 20, 24)])
def test_identical_and_affinely_related_images_score_one(shape: tuple[int, ...]) -> None:
    a = np.random.default_rng(0).random(shape)
    assert ncc(a, a) == pytest.approx(1.0, abs=1e-4)
    assert ncc(a, -2.5 * a + 100) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(("shape", "window"), [((20000,), 81), ((128, 128), 9), ((24, 24, 24), 9)])
def test_independent_noise_scores_nearly_zero(shape: tuple[int, ...], window: int) -> None:
    rng = np.random.default_rng(1)
    score = ncc(rng.random(shape), rng.random(shape), window=window)
    assert score < 0.05
    # the noise floor of a squared correlation over n samples is 1 / (n - 1); reflected borders
    # repeat samples, which raises it a little on small images
    n = window ** len(shape)
    assert 0.7 / (n - 1) < score < 2 / (n - 1)


def test_partial_correlation_is_between() -> None:
    rng = np.random.default_rng(2)
    a, noise = rng.standard_normal((64, 64)), rng.standard_normal((64, 64))
    assert 0.3 < ncc(a, a + noise) < 0.7  # r = 1/sqrt(2): r**2 = 0.5


def test_flat_windows_score_zero_and_windows_per_axis() -> None:
    flat = np.ones((16, 16))
    assert ncc(flat, flat) == 0.0
    a = np.random.default_rng(3).random((16, 32))
    assert ncc(a, a, window=(3, 5)) == pytest.approx(1.0, abs=1e-4)


def test_ncc_validates_its_inputs() -> None:
    with pytest.raises(ConfigError, match=r"shapes differ \(\(4, 4\) vs \(4, 5\)\)"):
        ncc(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ConfigError, match="window must be a positive integer or 2 of them"):
        ncc(np.zeros((4, 4)), np.zeros((4, 4)), window=(3,))
    with pytest.raises(ConfigError, match="real numeric array"):
        ncc(np.array(["a"]), np.array(["b"]))
