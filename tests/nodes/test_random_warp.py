"""RandomWarp: the output is the input read at p + field (exact on linear data), inverse, folds, matrix, compose."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import flowgraph as fg
from flowgraph.fields import DisplacementField
from flowgraph.nodes.random_warp import draw_warp
from flowgraph.rng import generator
from flowgraph.testing import RAW, sources

COORDS, IMG, LABELS = fg.ArrayKey("COORDS"), fg.ArrayKey("IMG"), fg.ArrayKey("LABELS")
OUT, OUT_LABELS, FIELD, INVERSE, MATRIX, MOV2REG = (
    fg.ArrayKey(n) for n in ("OUT", "OUT_LABELS", "FIELD", "INVERSE", "MATRIX", "MOV2REG")
)
VS = (4, 2)  # anisotropic: fields must come out in world units
SHAPE = (64, 96)
DATA_ROI = fg.Roi((0, 0), (SHAPE[0] * VS[0], SHAPE[1] * VS[1]))
OUT_ROI = fg.Roi((64, 48), (32 * VS[0], 40 * VS[1]))  # voxels [16:48, 24:64]


def coordinate_source() -> fg.Pipeline:
    """COORDS: two channels holding the world position (y, x) of every voxel; IMG: noise; LABELS: uint64 ids."""
    grid = np.indices(SHAPE, dtype=np.float64) * np.asarray(VS, dtype=np.float64).reshape(2, 1, 1)
    spec = fg.ArraySpec(roi=DATA_ROI, voxel_size=VS)
    image = np.random.default_rng(3).random(SHAPE).astype(np.float32)
    labels = (np.arange(np.prod(SHAPE), dtype=np.uint64).reshape(SHAPE) // 5) + 2**60
    return (
        fg.ArraySource(COORDS, fg.Array(grid, spec)),
        fg.ArraySource(IMG, fg.Array(image, spec)),
        fg.ArraySource(LABELS, fg.Array(labels, spec.replace(interpolatable=False))),
    ) + fg.MergeProvider()


def request(*keys: fg.ArrayKey, seed: int = 0, roi: fg.Roi = OUT_ROI) -> fg.BatchRequest:
    r = fg.BatchRequest(random_seed=seed)
    for key in keys:
        r[key] = fg.ArraySpec(nonspatial=True) if key == MATRIX else fg.ArraySpec(roi=roi)
    return r


def world_grid(roi: fg.Roi = OUT_ROI) -> np.ndarray:
    shape = tuple(s // v for s, v in zip(roi.shape, VS, strict=True))
    return np.indices(shape, dtype=np.float64) * np.asarray(VS, dtype=np.float64).reshape(2, 1, 1) + np.asarray(
        roi.begin
    ).reshape(2, 1, 1)


def voxels(field: np.ndarray) -> DisplacementField:
    return DisplacementField(field.astype(np.float64) / np.asarray(VS, dtype=np.float64).reshape(2, 1, 1))


def test_the_output_is_the_input_read_at_p_plus_field() -> None:
    warp = fg.RandomWarp(COORDS, OUT, FIELD, approach="elastic", alpha=200.0, sigma=6.0, max_folded=1.0)
    with fg.build(coordinate_source() + warp) as p:
        batch = p.request_batch(request(OUT, FIELD))
    field = batch[FIELD].data
    assert field.dtype == np.float32 and field.shape == (2, 32, 40) and batch[FIELD].spec.roi == OUT_ROI
    assert np.abs(field).max() > 2 * max(VS)  # a real warp, several voxels
    # linear interpolation of linear data is exact: the output holds the world position it read
    np.testing.assert_allclose(batch[OUT].data, world_grid() + field, atol=1e-4)


def test_the_output_equals_displacement_field_warp() -> None:
    warp = fg.RandomWarp(IMG, OUT, FIELD, approach="elastic", alpha=100.0, sigma=8.0)
    labels = fg.RandomWarp(LABELS, OUT_LABELS, fg.ArrayKey("FIELD2"), approach="elastic", alpha=100.0, sigma=8.0)
    with fg.build(coordinate_source() + warp) as p:
        batch = p.request_batch(request(OUT, FIELD, IMG))
    field = voxels(batch[FIELD].data)
    expected = field.warp(batch[IMG].data)
    reads = field.coordinates()
    inside = np.all((reads >= 0) & (reads <= np.asarray(field.shape).reshape(2, 1, 1) - 1), axis=0)
    assert inside.mean() > 0.5
    np.testing.assert_allclose(batch[OUT].data[inside], expected[inside], atol=1e-5)
    with fg.build(coordinate_source() + labels) as p:
        batch = p.request_batch(
            request(OUT_LABELS, fg.ArrayKey("FIELD2"), LABELS, seed=1)
        )  # nearest, copied: exact on uint64
    field = voxels(batch[fg.ArrayKey("FIELD2")].data)
    out, expected = batch[OUT_LABELS].data, field.warp_labels(batch[LABELS].data)
    reads = np.floor(field.coordinates() + 0.5)
    inside = np.all((reads >= 0) & (reads <= np.asarray(field.shape).reshape(2, 1, 1) - 1), axis=0)
    assert out.dtype == np.uint64 and np.array_equal(out[inside], expected[inside])
    assert set(np.unique(out)) <= set(np.unique(coordinate_source_labels()))


def coordinate_source_labels() -> np.ndarray:
    return (np.arange(np.prod(SHAPE), dtype=np.uint64).reshape(SHAPE) // 5) + 2**60


def test_the_inverse_composes_to_the_identity() -> None:
    # DisplacementField.inverse's regime: no strong compression (here the Jacobian stays above ~0.7)
    warp = fg.RandomWarp(COORDS, OUT, FIELD, inverse=INVERSE, approach="elastic", alpha=100.0, sigma=10.0)
    with fg.build(coordinate_source() + warp) as p:
        batch = p.request_batch(request(OUT, FIELD, INVERSE, seed=4))
    f, g = voxels(batch[FIELD].data), voxels(batch[INVERSE].data)
    assert np.abs(f.deltas).max() > 2
    np.testing.assert_allclose(g.deltas, f.inverse().deltas, atol=1e-3)  # DisplacementField.inverse of the field
    for a, b in ((f, g), (g, f)):  # the identity within 0.1 voxel where both are defined
        reads = a.coordinates()
        inside = np.all((reads >= 0) & (reads <= np.asarray(a.shape).reshape(2, 1, 1) - 1), axis=0)
        residual = np.sqrt((a.compose(b).deltas ** 2).sum(0))[inside]
        assert inside.mean() > 0.5 and residual.max() < 0.1
    # reading the warped output at p + inverse[p] gives the input back (where the warp kept it)
    back = voxels(batch[INVERSE].data).warp(batch[OUT].data)
    reads = g.coordinates()
    inside = np.all((reads >= 1) & (reads <= np.asarray(g.shape).reshape(2, 1, 1) - 2), axis=0)
    np.testing.assert_allclose(back[:, inside], world_grid()[:, inside], atol=0.1 * max(VS))


def test_folded_fields_are_redrawn() -> None:
    shape = (48, 48)
    params = {"alpha": 200.0, "sigma": 8.0}  # about half of these fields fold
    seed = next(s for s in range(20) if draw_warp(shape, "elastic", params, generator(s, 9), s, (9,), 1.0, 1).folded)
    kept = draw_warp(shape, "elastic", params, generator(seed, 9), seed, (9,), 0.0, 100)
    assert kept.attempts > 1 and kept.folded == 0.0  # the first field folds, a later seed is kept
    assert not DisplacementField(kept.deltas).folds().any()
    again = draw_warp(shape, "elastic", params, generator(seed, 9), seed, (9,), 0.0, 100)
    assert again.attempts == kept.attempts and np.array_equal(again.deltas, kept.deltas)
    tolerant = draw_warp(shape, "elastic", params, generator(seed, 9), seed, (9,), 0.5, 100)
    assert tolerant.attempts == 1 and 0 < tolerant.folded <= 0.5
    warp = fg.RandomWarp(IMG, OUT, FIELD, approach="elastic", max_folded=0.0, alpha=200.0, sigma=8.0)
    with fg.build(coordinate_source() + warp) as p:
        for s in range(4):
            field = voxels(p.request_batch(request(FIELD, seed=s))[FIELD].data)
            assert not field.folds().any()
    hopeless = fg.RandomWarp(IMG, OUT, FIELD, approach="elastic", max_attempts=3, alpha=5000.0, sigma=1.0)
    with (
        fg.build(coordinate_source() + hopeless) as p,
        pytest.raises(fg.UnsatisfiableRequestError, match="3 fields drawn with approach 'elastic' all had"),
    ):
        p.request_batch(request(OUT, FIELD))


def test_the_matrix_is_the_affine_used() -> None:
    warp = fg.RandomWarp(
        COORDS,
        OUT,
        FIELD,
        matrix=MATRIX,
        approach="affine_simple",
        rotation=(-0.3, 0.3),
        scale_x=(0.9, 1.1),
        scale_y=(0.9, 1.1),
        shear=(-0.1, 0.1),
        translation_x=(-3.0, 3.0),
        translation_y=(-3.0, 3.0),
    )
    matrices = []
    with fg.build(coordinate_source() + warp) as p:
        for seed in range(3):
            batch = p.request_batch(request(OUT, FIELD, MATRIX, seed=seed))
            m = batch[MATRIX].data
            assert m.shape == (2, 3) and m.dtype == np.float32 and batch[MATRIX].spec.nonspatial
            grid = np.indices((32, 40), dtype=np.float64)
            read = np.tensordot(m[:, :2].astype(np.float64), grid, axes=(1, 0)) + m[:, 2].reshape(2, 1, 1)
            np.testing.assert_allclose(voxels(batch[FIELD].data).deltas, read - grid, atol=1e-3)
            world = read * np.asarray(VS).reshape(2, 1, 1) + np.asarray(OUT_ROI.begin).reshape(2, 1, 1)
            np.testing.assert_allclose(batch[OUT].data, world, atol=1e-3)
            matrices.append(m)
    assert not np.allclose(matrices[0], matrices[1])
    fixed = [[1.0, 0.1, 2.0], [-0.1, 1.0, -1.5]]
    affine_node = fg.RandomWarp(COORDS, OUT, FIELD, matrix=MATRIX, approach="affine", transform=fixed)
    with fg.build(coordinate_source() + affine_node) as p:
        batch = p.request_batch(request(FIELD, MATRIX))
    np.testing.assert_allclose(batch[MATRIX].data, np.asarray(fixed, dtype=np.float32), atol=1e-6)


def test_compose_with_matches_sequential_warps() -> None:
    """atlalign's art2reg = art2mov ∘ mov2reg: reading the target at p + inverse[p] gives the registered source."""
    m_vox = DisplacementField.generate(OUT_ROI.shape // fg.Coordinate(VS), "affine", matrix=[[1, 0, 1.5], [0, 1, -2.0]])
    mov2reg = (m_vox.deltas * np.asarray(VS, dtype=np.float64).reshape(2, 1, 1)).astype(np.float32)
    spec = fg.ArraySpec(roi=OUT_ROI, voxel_size=VS)
    upstream = (coordinate_source(), fg.ArraySource(MOV2REG, fg.Array(mov2reg, spec))) + fg.MergeProvider()
    plain = fg.RandomWarp(COORDS, OUT, FIELD, inverse=INVERSE, approach="elastic", alpha=100.0, sigma=8.0)
    composed = fg.RandomWarp(
        COORDS, OUT, FIELD, inverse=INVERSE, compose_with=MOV2REG, approach="elastic", alpha=100.0, sigma=8.0
    )
    with fg.build(upstream + plain) as p:
        inverse = voxels(p.request_batch(request(INVERSE, seed=2))[INVERSE].data)
    with fg.build(upstream + composed) as p:
        batch = p.request_batch(request(OUT, INVERSE, seed=2))
    art2reg = voxels(batch[INVERSE].data)
    np.testing.assert_allclose(art2reg.deltas, voxels(mov2reg).compose(inverse).deltas, atol=1e-4)
    # sequentially: art2mov, then mov2reg; linear data away from the border
    coords = world_grid()
    sequential = voxels(mov2reg).warp(inverse.warp(coords))
    once = art2reg.warp(coords)
    reads = art2reg.coordinates()
    inside = np.all((reads >= 2) & (reads <= np.asarray(art2reg.shape).reshape(2, 1, 1) - 3), axis=0)
    np.testing.assert_allclose(once[:, inside], sequential[:, inside], atol=0.05)
    # and reading the target at p + art2reg[p] gives the source registered by mov2reg
    registered = voxels(mov2reg).warp(coords)
    np.testing.assert_allclose(art2reg.warp(batch[OUT].data)[:, inside], registered[:, inside], atol=0.1 * max(VS))


def test_p_zero_is_the_identity_and_in_place_warps() -> None:
    warp = fg.RandomWarp(IMG, OUT, FIELD, matrix=MATRIX, approach="affine_simple", rotation=(0.1, 0.2), p=0.0)
    with fg.build(coordinate_source() + warp) as p:
        batch = p.request_batch(request(OUT, FIELD, MATRIX, IMG))
    assert np.array_equal(batch[OUT].data, batch[IMG].data)
    assert not batch[FIELD].data.any() and np.array_equal(batch[MATRIX].data, np.eye(2, 3, dtype=np.float32))
    in_place = fg.RandomWarp(COORDS, COORDS, FIELD, approach="elastic", alpha=100.0, sigma=8.0)
    with fg.build(coordinate_source() + in_place) as p:
        batch = p.request_batch(request(COORDS, FIELD))
    np.testing.assert_allclose(batch[COORDS].data, world_grid() + batch[FIELD].data, atol=1e-4)


def test_request_errors() -> None:
    warp = fg.RandomWarp(IMG, OUT, FIELD, matrix=MATRIX, approach="affine_simple")
    with fg.build(coordinate_source() + warp) as p:
        bad = request(OUT)
        bad[FIELD] = fg.ArraySpec(roi=fg.Roi((64, 48), (16, 16)))
        with pytest.raises(fg.RequestError, match="must be requested at one ROI"):
            p.request_batch(bad)
        with pytest.raises(fg.RequestError, match="requested without OUT or FIELD"):
            p.request_batch(request(MATRIX))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"approach": "swirl"}, "approach must be one of"),
        ({"approach": "elastic", "rotation": 0.1}, r"unknown parameter\(s\) \['rotation'\]"),
        ({"approach": "elastic", "matrix": MATRIX}, "matrix needs an affine approach"),
        ({"compose_with": MOV2REG}, "compose_with needs inverse"),
        ({"max_folded": 2.0}, "max_folded"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"alpha": (3.0, 1.0)}, "alpha must have low <= high"),
        ({"field": OUT}, "must be different keys"),
        ({"p": 1.5}, "p must"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"source": IMG, "target": OUT, "field": FIELD, **kwargs}
    with pytest.raises(fg.ConfigError, match=match):
        fg.RandomWarp(**args)


def test_setup_errors() -> None:
    with (
        pytest.raises(fg.SetupError, match="needs MOV2REG"),
        fg.build(coordinate_source() + fg.RandomWarp(IMG, OUT, FIELD, inverse=INVERSE, compose_with=MOV2REG)),
    ):
        pass
    with (
        pytest.raises(fg.SetupError, match="needs RAW"),
        fg.build(coordinate_source() + fg.RandomWarp(RAW, OUT, FIELD)),
    ):
        pass
    assert sources() is not None
