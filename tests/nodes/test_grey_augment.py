"""GreyAugment: DataProvider's formula on known draws, per section or whole, float32 fast path."""

from __future__ import annotations

import numpy as np
import pytest
from intensity_helpers import check_common, em, run

import flowgraph as fg
from flowgraph.nodes.grey_augment import _grey, grey
from flowgraph.rng import generator

RAW = fg.ArrayKey("RAW")


def reference(x: np.ndarray, r: np.ndarray, contrast: float, brightness: float) -> np.ndarray:
    x = x.astype(np.float64) * (1 + (r[0] - 0.5) * contrast)
    x += (r[1] - 0.5) * brightness
    return np.clip(x, 0, 1) ** (2.0 ** (r[2] * 2 - 1))


def test_the_formula_on_a_known_r() -> None:
    # r = (1, 0, 1): contrast 1.15, brightness -0.15, gamma 2
    out = grey(np.array([0.5, 0.1, 1.0]), np.array([1.0, 0.0, 1.0]), 0.3, 0.3)
    np.testing.assert_allclose(out, [(0.575 - 0.15) ** 2, 0.0, 1.0])


@pytest.mark.parametrize("r", [(0.1, 0.9, 0.0), (0.5, 0.5, 0.5), (0.9, 0.2, 0.99), (0.3, 0.7, 0.25)])
def test_float32_fast_path_is_within_a_few_ulps(r: tuple[float, float, float]) -> None:
    x = em((3, 40, 50))
    x[0, 0, :3] = (0.0, 1.0, 1e-20)
    out = grey(x, np.array(r), 0.3, 0.3)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, reference(x, np.array(r), 0.3, 0.3), rtol=1e-6, atol=1e-9)


def test_float32_tiny_and_subnormal_values_keep_their_relative_precision() -> None:
    x = np.array([1e-40, 1e-44, 1e-30, 2e-38, 1.1754944e-38, 0.3, 0.0, 1.0], np.float32)  # subnormal to 1
    r = np.array([0.5, 0.5, 0.25])  # contrast 1, brightness 0, gamma 2 ** -0.5: every result is normal
    out = grey(x, r, 0.3, 0.3)
    np.testing.assert_allclose(out, reference(x, r, 0.3, 0.3), rtol=3e-7, atol=0)


def test_float32_is_within_5e_7_of_the_exact_power_across_the_mantissas() -> None:
    x = np.linspace(0, 1, 1_000_003, dtype=np.float32)  # every table interval, many times over
    for r in ((0.5, 0.5, 0.0), (0.5, 0.5, 0.999), (0.5, 0.5, 0.6)):  # gamma 0.5, ~2, 1.15
        np.testing.assert_allclose(grey(x, np.array(r), 0.3, 0.3), reference(x, np.array(r), 0.3, 0.3), rtol=5e-7)


def test_float32_kernel_counts_nan_and_inf_and_stays_in_range() -> None:
    x = em((2, 8, 8))
    x[0, 1, 1], x[1, 2, 2], x[1, 3, 3] = np.nan, np.inf, -np.inf
    x[0, 4, 4] = -np.float32(np.nan)  # NaN with the sign bit set
    out, bad = _grey(x, np.array([0.9, 0.2, 0.7]), 0.3, 0.3)
    assert bad == 4
    assert np.all((out >= 0) & (out <= 1))  # NaN clipped to 0: the power's tables are never read outside


def test_per_section_draws_apply_to_their_own_section() -> None:
    x = em((3, 8, 8))
    r = np.random.default_rng(0).random((3, 3))
    out = grey(x, r, 0.3, 0.3)
    for s in range(3):
        np.testing.assert_allclose(out[s], reference(x[s], r[s], 0.3, 0.3), rtol=1e-6)


def test_node_draws_the_mode_per_batch_and_sections_differ_in_2d() -> None:
    data = np.full((4, 6, 6), 0.5, np.float32)
    seen = set()
    for seed in range(20):
        out = run(fg.GreyAugment(RAW, p=1.0), data, seed)
        seen.add(len(np.unique(out)))
    assert seen == {1, 4}  # "3D": one value for the volume, "2D": one per section
    assert len(np.unique(run(fg.GreyAugment(RAW, mode="3D", p=1.0), data))) == 1
    assert len(np.unique(run(fg.GreyAugment(RAW, mode="2D", p=1.0), data))) == 4


def test_node_equals_the_formula_with_its_own_draws() -> None:
    data = em((2, 8, 8))
    node = fg.GreyAugment(RAW, mode="3D", p=1.0)
    out = run(node, data, 3)
    rng = generator(3, 2)  # the node's generator: request seed 3, position 2 (after the source)
    assert rng.random() < 1.0  # the gate
    r = rng.random(3)
    np.testing.assert_allclose(out, reference(data, r, 0.3, 0.3), rtol=1e-6)


def test_common_contract() -> None:
    check_common(lambda p: fg.GreyAugment(RAW, p=p))


def test_channels_lead_and_2d_arrays_work() -> None:
    assert run(fg.GreyAugment(RAW, mode="2D", p=1.0), em((2, 3, 8, 8)), dims=3).shape == (2, 3, 8, 8)
    assert run(fg.GreyAugment(RAW, mode="2D", p=1.0), em((8, 8))).shape == (8, 8)
    assert run(fg.GreyAugment(RAW, p=1.0), em((8, 8)).astype(np.float64)).dtype == np.float64
