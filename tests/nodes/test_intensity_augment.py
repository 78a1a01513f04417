"""IntensityAugment: ``mean + (a - mean) * scale + shift``, whole array or per z-section."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import flowgraph as fg
from flowgraph.nodes.intensity_augment import scale_shift

RAW = fg.ArrayKey("RAW")
LABELS = fg.ArrayKey("LABELS")


def volume(shape: tuple[int, ...] = (5, 12, 12), dtype: Any = np.float32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # sections with different means and contrasts
    data = rng.uniform(0.3, 0.7, shape) * np.linspace(0.5, 1.0, shape[-3])[:, None, None]
    return data.astype(dtype)


def source(data: np.ndarray, key: fg.ArrayKey = RAW) -> fg.ArraySource:
    dims = 3
    roi = fg.Roi((0,) * dims, data.shape[-dims:])
    return fg.ArraySource(key, fg.Array(data, fg.ArraySpec(roi=roi, voxel_size=(1,) * dims)))


def request(data: np.ndarray, seed: int = 0) -> fg.BatchRequest:
    r = fg.BatchRequest(random_seed=seed)
    r[RAW] = fg.ArraySpec(roi=fg.Roi((0, 0, 0), data.shape[-3:]))
    return r


def run(data: np.ndarray, node: fg.IntensityAugment, seed: int = 0) -> tuple[np.ndarray, tuple[Any, ...]]:
    """The augmented data and the draws the node made for this request."""
    with fg.build(source(data) + node) as p:
        req = request(data, seed)
        out = p.request_batch(req)[RAW].data
        sections = data.shape[data.ndim - 3] if node.z_section_wise else None
        draws = node.draw(node.rng(req.with_seed(seed)), sections)
    return out, draws


def test_pure_function_matches_the_formula() -> None:
    data = volume()
    got = scale_shift(data.copy(), 1.3, -0.05, clip=False)
    mean = data.astype(np.float64).mean()
    expected = mean + (data.astype(np.float64) - mean) * 1.3 - 0.05
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-7)


def test_whole_array_formula_in_the_pipeline() -> None:
    data = volume()
    out, (act, scale, shift) = run(data, fg.IntensityAugment(RAW, 0.8, 1.2, -0.1, 0.1, clip=False))
    assert act and scale.shape == () and 0.8 <= scale <= 1.2 and -0.1 <= shift <= 0.1
    d = data.astype(np.float64)
    np.testing.assert_allclose(out, d.mean() + (d - d.mean()) * scale + shift, rtol=0, atol=2e-7)
    assert out.dtype == np.float32


def test_section_wise_formula_and_independent_draws() -> None:
    data = volume((6, 10, 10))
    out, (_, scale, shift) = run(data, fg.IntensityAugment(RAW, 0.5, 1.5, -0.2, 0.2, z_section_wise=True, clip=False))
    assert scale.shape == (6,) and shift.shape == (6,)
    assert len(np.unique(scale)) == 6 and len(np.unique(shift)) == 6  # one draw per section
    d = data.astype(np.float64)
    for z in range(6):
        m = d[z].mean()
        np.testing.assert_allclose(out[z], m + (d[z] - m) * scale[z] + shift[z], rtol=0, atol=2e-7)


def test_section_wise_with_channels_uses_the_first_spatial_axis() -> None:
    data = np.stack([volume((4, 6, 6), seed=1), volume((4, 6, 6), seed=2)])  # (2, z, y, x)
    node = fg.IntensityAugment(RAW, 0.5, 1.5, -0.2, 0.2, z_section_wise=True, clip=False)
    out, (_, scale, shift) = run(data, node)
    assert out.shape == data.shape and scale.shape == (4,)
    d = data.astype(np.float64)
    for z in range(4):
        m = d[:, z].mean()
        np.testing.assert_allclose(out[:, z], m + (d[:, z] - m) * scale[z] + shift[z], rtol=0, atol=2e-7)


def test_clip_limits_to_the_unit_interval() -> None:
    data = volume()
    out, _ = run(data, fg.IntensityAugment(RAW, 5.0, 5.0, 0.0, 0.0))
    assert out.min() == 0.0 and out.max() == 1.0
    unclipped, _ = run(data, fg.IntensityAugment(RAW, 5.0, 5.0, 0.0, 0.0, clip=False))
    assert unclipped.max() > 1.0 and unclipped.min() < 0.0
    np.testing.assert_array_equal(out, np.clip(unclipped, 0, 1))


def test_identity_at_p_zero_and_at_unit_scale() -> None:
    data = volume()
    for node in (
        fg.IntensityAugment(RAW, 0.5, 2.0, -1.0, 1.0, p=0),
        fg.IntensityAugment(RAW, 1.0, 1.0, 0.0, 0.0, clip=False),
        fg.IntensityAugment(RAW, 1.0, 1.0, 0.0, 0.0, z_section_wise=True),
    ):
        out, _ = run(data, node)
        assert out.tobytes() == data.tobytes()


def test_float64_stays_float64_and_float32_is_not_promoted() -> None:
    data = volume(dtype=np.float64)
    out, _ = run(data, fg.IntensityAugment(RAW, 0.9, 1.1, -0.1, 0.1))
    assert out.dtype == np.float64
    out, _ = run(volume(), fg.IntensityAugment(RAW, 0.9, 1.1, -0.1, 0.1, z_section_wise=True))
    assert out.dtype == np.float32


def test_p_draws_whether_to_act() -> None:
    data = volume()
    acted = 0
    for seed in range(40):
        out, (act, _, _) = run(data, fg.IntensityAugment(RAW, 0.5, 0.6, 0.1, 0.2, p=0.5), seed)
        acted += act
        assert (out.tobytes() != data.tobytes()) == act
    assert 8 <= acted <= 32


def test_same_seed_same_batch_other_seed_other_batch() -> None:
    data = volume()
    a, _ = run(data, fg.IntensityAugment(RAW, 0.5, 1.5, -0.2, 0.2), seed=5)
    b, _ = run(data, fg.IntensityAugment(RAW, 0.5, 1.5, -0.2, 0.2), seed=5)
    c, _ = run(data, fg.IntensityAugment(RAW, 0.5, 1.5, -0.2, 0.2), seed=6)
    assert a.tobytes() == b.tobytes() and a.tobytes() != c.tobytes()


def test_other_arrays_are_untouched() -> None:
    data = volume()
    labels = np.arange(data.size, dtype=np.uint64).reshape(data.shape)
    pipeline = (source(data), source(labels, LABELS)) + fg.MergeProvider() + fg.IntensityAugment(RAW, 2, 2, 0.5, 0.5)
    req = request(data)
    req[LABELS] = fg.ArraySpec(roi=req[RAW].roi)
    with fg.build(pipeline) as p:
        batch = p.request_batch(req)
    np.testing.assert_array_equal(batch[LABELS].data, labels)


def test_non_float_is_refused_with_the_fix() -> None:
    data = (volume() * 255).astype(np.uint8)
    message = (
        "IntensityAugment(RAW): needs a float array; expected float32 or float64 for RAW, got uint8. "
        "Add Normalize(RAW) upstream."
    )
    with pytest.raises(fg.SetupError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        run(data, fg.IntensityAugment(RAW, 0.9, 1.1, -0.1, 0.1))
    with (
        pytest.raises(fg.SetupError, match="needs RAW"),
        fg.build(source(volume(), LABELS) + fg.IntensityAugment(RAW, 0.9, 1.1, -0.1, 0.1)),
    ):
        pass


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"array": "RAW"}, "array"),
        ({"scale_min": 1.2, "scale_max": 0.8}, "scale_min"),
        ({"shift_min": 0.1, "shift_max": -0.1}, "shift_min"),
        ({"scale_max": float("inf")}, "scale_max"),
        ({"shift_max": "x"}, "shift_max"),
        ({"z_section_wise": "yes"}, "z_section_wise"),
        ({"clip": 1}, "clip"),
        ({"p": 1.5}, "p"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], parameter: str) -> None:
    args: dict[str, Any] = {"array": RAW, "scale_min": 0.9, "scale_max": 1.1, "shift_min": -0.1, "shift_max": 0.1}
    with pytest.raises(fg.ConfigError, match=parameter):
        fg.IntensityAugment(**{**args, **kwargs})


def test_draws_happen_in_prepare_and_travel_as_the_state() -> None:
    data = volume()
    node = fg.IntensityAugment(RAW, 0.5, 1.5, -0.2, 0.2, z_section_wise=True, p=0.5)
    with fg.build(source(data) + node) as p:
        for seed in range(6):
            req = request(data, seed)
            act, scale, shift = node.draw(node.rng(req), data.shape[0])
            state = node.negotiate(req).state
            if not act:
                assert state is None
                continue
            assert state[0].tobytes() == scale.tobytes() and state[1].tobytes() == shift.tobytes()
            out = p.request_batch(req)[RAW].data
            assert out.tobytes() == scale_shift(data.copy(), scale, shift, 0).tobytes()


def slab_batch(slab: tuple[int, ...], seed: int = 0) -> np.ndarray:
    raw = fg.ArrayKey("RAW")
    data = np.full((2, 4, 3, 3), 0.5, np.float32)  # two channels, four sections
    spec = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (4, 3, 3)), voxel_size=(1, 1, 1))
    request = fg.BatchRequest(random_seed=seed)
    request[raw] = fg.ArraySpec(roi=spec.roi)
    node = fg.IntensityAugment(raw, 1.0, 1.0, -0.2, 0.2, slab=slab)
    with fg.build(fg.ArraySource(raw, fg.Array(data, spec)) + node) as p:
        return p.request_batch(request)[raw].data


def test_slab_gives_every_block_its_own_shift() -> None:
    out = slab_batch((1, 1, -1, -1))  # per channel and section
    blocks = out.reshape(2, 4, 9)
    assert (blocks == blocks[..., :1]).all()  # constant inside a block
    assert len(np.unique(blocks[..., 0])) == 8  # eight blocks, eight shifts
    assert (np.abs(out - 0.5) <= 0.2 + 1e-6).all()
    shared = slab_batch((-1, 1, -1, -1))  # per section, the same for both channels
    np.testing.assert_array_equal(shared[0], shared[1])
    assert len(np.unique(shared[0].reshape(4, 9)[:, 0])) == 4
    np.testing.assert_array_equal(slab_batch((1, 1, -1, -1)), out)  # same seed, same batch


def test_slab_and_z_section_wise_together_or_a_bad_slab_are_refused() -> None:
    raw = fg.ArrayKey("RAW")
    with pytest.raises(fg.ConfigError, match="give slab or z_section_wise, not both"):
        fg.IntensityAugment(raw, 1, 1, 0, 0, z_section_wise=True, slab=(1, -1, -1))
    with pytest.raises(fg.ConfigError, match="slab must be a tuple"):
        fg.IntensityAugment(raw, 1, 1, 0, 0, slab=(0, -1))
    assert fg.IntensityAugment(raw, 1, 1, 0, 0, z_section_wise=None).z_section_wise is False
