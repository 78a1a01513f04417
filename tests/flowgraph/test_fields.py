"""DisplacementField: the maths checked against hand-computed cases and against itself."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from flowgraph.errors import ConfigError
from flowgraph.fields import CONVENTION, DisplacementField


def coords_image(shape: tuple[int, ...]) -> np.ndarray:
    """(D, *shape) image whose channel d holds the voxel's coordinate along axis d."""
    return np.indices(shape, dtype=np.float64)


def interior(field: DisplacementField, margin: float = 0.0) -> np.ndarray:
    """Voxels whose read position lies inside the grid (by ``margin``)."""
    c = field.coordinates()
    upper = np.asarray(field.shape).reshape((-1,) + (1,) * field.ndim) - 1
    return np.all((c >= margin) & (c <= upper - margin), axis=0)


def smooth_field(shape: tuple[int, ...] = (96, 96), seed: int = 0) -> DisplacementField:
    return DisplacementField.generate(shape, "elastic", rng=np.random.default_rng(seed), alpha=100, sigma=10)


# -- construction and validation --


def test_constructor_validates_shape_values_and_voxel_size() -> None:
    with pytest.raises(ConfigError, match=r"shape \(D, \*shape\).*got \(3, 64, 64\)"):
        DisplacementField(np.zeros((3, 64, 64)))
    with pytest.raises(ConfigError, match="NaN or infinite"):
        DisplacementField(np.full((1, 4), np.nan))
    with pytest.raises(ConfigError, match="voxel_size must be 2 positive numbers"):
        DisplacementField(np.zeros((2, 4, 4)), voxel_size=(1, 0))
    f = DisplacementField(np.zeros((2, 4, 5), dtype=np.int32), voxel_size=(4, 8))
    assert f.shape == (4, 5) and f.deltas.dtype == np.float64 and f.voxel_size == (4.0, 8.0)
    assert DisplacementField(np.zeros((1, 3), np.float32)).deltas.dtype == np.float32


def test_generate_rejects_unknown_approach_and_parameters() -> None:
    with pytest.raises(ConfigError, match=r"unknown approach 'swirl'.*'affine'"):
        DisplacementField.generate((8, 8), "swirl")
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) \['scale'\].*scale_x"):
        DisplacementField.generate((8, 8), "affine_simple", scale=2)
    with pytest.raises(ConfigError, match=r"missing parameter\(s\) \['matrix'\]"):
        DisplacementField.generate((8, 8), "affine")
    with pytest.raises(ConfigError, match=r"matrix must have shape \(2, 3\)"):
        DisplacementField.generate((8, 8), "affine", matrix=np.eye(2))
    with pytest.raises(ConfigError, match="2-D only"):
        DisplacementField.generate((4, 4, 4), "projective", matrix=np.eye(3))
    with pytest.raises(ConfigError, match=r"numpy\.random\.Generator"):
        DisplacementField.generate((8, 8), "elastic", rng=np.random.RandomState(0))  # type: ignore[arg-type]


# -- generate + warp against hand-computed maps --


def test_affine_warp_of_a_coordinate_image_is_exactly_the_map() -> None:
    shape = (20, 30)
    matrix = np.array([[0.9, 0.2, 1.5], [-0.1, 1.1, -2.0]])
    f = DisplacementField.generate(shape, "affine", matrix=matrix)
    p = coords_image(shape)
    expected = np.tensordot(matrix[:, :2], p, axes=(1, 0)) + matrix[:, 2, None, None]
    np.testing.assert_allclose(f.deltas, expected - p, atol=1e-12)
    warped = f.warp(p)
    inside = interior(f)
    np.testing.assert_allclose(warped[:, inside], expected[:, inside], atol=1e-9)
    assert np.all(warped[:, ~inside] == 0)  # constant border


def test_affine_simple_matches_atlalign_parameters() -> None:
    # translation: output voxel reads translation_x columns to the right, translation_y rows down
    f = DisplacementField.generate((10, 12), "affine_simple", translation_x=3.0, translation_y=-2.0)
    assert np.allclose(f.deltas[0], -2.0) and np.allclose(f.deltas[1], 3.0)
    # rotation by 90 degrees about the centre ((h - 1) / 2, (w - 1) / 2) = (4.5, 5.5) in (y, x)
    g = DisplacementField.generate((10, 12), "affine_simple", rotation=np.pi / 2)
    y, x = 4.5, 6.5  # one column right of the centre: (dx, dy) = (1, 0) -> M (1, 0) = (cos, sin) = (0, 1)
    read = np.array([y, x]) + g.sample([[y, x]])[0]
    np.testing.assert_allclose(read, [5.5, 5.5], atol=1e-12)
    # scale_x = 2 reads twice as far from the centre along x
    s = DisplacementField.generate((10, 12), "affine_simple", scale_x=2.0)
    np.testing.assert_allclose(s.deltas[1, 0, :], np.arange(12) - 5.5, atol=1e-12)
    np.testing.assert_allclose(s.deltas[0], 0.0, atol=1e-12)


def test_projective_matches_a_hand_computed_homography() -> None:
    shape = (16, 16)
    h = np.array([[1.0, 0.1, 0.5], [0.0, 1.2, -1.0], [0.01, 0.002, 1.0]])
    f = DisplacementField.generate(shape, "projective", matrix=h)
    y, x = 5.0, 7.0
    u, v, w = h @ [y, x, 1.0]
    np.testing.assert_allclose(f.deltas[:, 5, 7], [u / w - y, v / w - x], atol=1e-12)
    inside = interior(f)
    warped = f.warp(coords_image(shape))
    # linear interpolation of linear data is exact
    np.testing.assert_allclose(warped[:, inside], f.coordinates()[:, inside], atol=1e-9)


@pytest.mark.parametrize("interpolation", ["griddata", "rbf"])
def test_control_points_hit_their_values_and_anchor_the_corners(interpolation: str) -> None:
    points = np.array([[10.0, 12.0], [20.0, 5.0], [25.0, 30.0]])
    values = np.array([[3.0, -2.0], [0.0, 4.0], [-1.5, -1.5]])
    f = DisplacementField.generate(
        (32, 40), "control_points", points=points, values=values, interpolation=interpolation
    )
    for (y, x), value in zip(points.astype(int), values):
        np.testing.assert_allclose(f.deltas[:, y, x], value, atol=1e-6)
    for y, x in [(0, 0), (0, 39), (31, 0), (31, 39)]:
        np.testing.assert_allclose(f.deltas[:, y, x], 0.0, atol=1e-6)
    with pytest.raises(ConfigError, match="outside the grid"):
        DisplacementField.generate((32, 40), "control_points", points=[[40, 0]], values=[[1, 1]])


def test_control_points_griddata_is_zero_outside_the_hull_without_anchors() -> None:
    points = np.array([[5.0, 5.0], [5.0, 15.0], [15.0, 10.0]])
    f = DisplacementField.generate(
        (20, 20), "control_points", points=points, values=np.ones((3, 2)), anchor_corners=False
    )
    assert np.all(f.deltas[:, 0, 0] == 0) and np.allclose(f.deltas[:, 8, 10], 1.0)


def test_edge_stretching_moves_mask_points_and_is_reproducible() -> None:
    shape = (48, 64)
    mask = np.zeros(shape, bool)
    mask[20, 10:50] = True
    a = DisplacementField.generate(
        shape, "edge_stretching", rng=np.random.default_rng(3), edge_mask=mask, n_perturbation_points=4, radius_max=5
    )
    b = DisplacementField.generate(
        shape, "edge_stretching", rng=np.random.default_rng(3), edge_mask=mask, n_perturbation_points=4, radius_max=5
    )
    np.testing.assert_array_equal(a.deltas, b.deltas)
    norm = np.sqrt((a.deltas**2).sum(0))
    # piecewise-linear interpolation peaks at its nodes: the largest displacement sits on the mask
    assert mask[np.unravel_index(np.argmax(norm), shape)]
    assert 0 < norm.max() <= 5 + 1e-9
    assert np.count_nonzero(norm[mask] > 1e-9) >= 1
    empty = DisplacementField.generate(shape, "edge_stretching", rng=np.random.default_rng(3), edge_mask=~mask & False)
    assert not empty.deltas.any()


def test_elastic_is_seeded_smooth_and_scaled() -> None:
    a = DisplacementField.generate((64, 64), "elastic", rng=np.random.default_rng(1), alpha=100, sigma=6)
    b = DisplacementField.generate((64, 64), "elastic", rng=np.random.default_rng(1), alpha=100, sigma=6)
    np.testing.assert_array_equal(a.deltas, b.deltas)
    double = DisplacementField.generate((64, 64), "elastic", rng=np.random.default_rng(1), alpha=200, sigma=6)
    np.testing.assert_allclose(double.deltas, 2 * a.deltas, rtol=1e-6)
    # smoothness: neighbouring displacements differ much less than the displacements themselves
    assert np.abs(np.diff(a.deltas, axis=1)).mean() < 0.3 * np.abs(a.deltas).mean()


# -- warp details --


def test_warp_keeps_dtypes_and_leading_axes() -> None:
    f = DisplacementField(np.full((2, 6, 6), 0.5))
    image = np.arange(36, dtype=np.uint8).reshape(6, 6)
    out = f.warp(np.stack([image, image]), border="edge")
    assert out.dtype == np.uint8 and out.shape == (2, 6, 6)
    assert out[0, 0, 0] == np.rint((0 + 1 + 6 + 7) / 4)
    assert f.warp(image.astype(np.float32)).dtype == np.float32
    assert f.warp(image > 10).dtype == bool
    with pytest.raises(ConfigError, match=r"last 2 axes of image must be the field's shape \(6, 6\)"):
        f.warp(np.zeros((5, 6)))
    with pytest.raises(ConfigError, match="unknown border 'wrap'"):
        f.warp(image, border="wrap")


def test_warp_borders() -> None:
    f = DisplacementField(np.array([[-1.0, -1.0, 0.0, 2.0]]))
    image = np.array([1.0, 2.0, 3.0, 4.0])
    assert f.warp(image, cval=-1).tolist() == [-1.0, 1.0, 3.0, -1.0]
    assert f.warp(image, border="edge").tolist() == [1.0, 1.0, 3.0, 4.0]
    assert f.warp(image, border="reflect").tolist() == [1.0, 1.0, 3.0, 3.0]  # ...2 1 | 1 2 3 4 | 4 3...


def test_warp_labels_is_exact_on_large_ids_and_invents_nothing() -> None:
    rng = np.random.default_rng(0)
    ids = (np.uint64(2**60) + rng.integers(0, 7, size=(40, 40)).astype(np.uint64) * np.uint64(2**58 + 12345)).astype(
        np.uint64
    )
    f = smooth_field((40, 40))
    out = f.warp_labels(ids)
    assert out.dtype == np.uint64
    assert set(np.unique(out)) <= set(np.unique(ids)) | {0}
    nearest = np.floor(f.coordinates() + 0.5).astype(int)
    inside = np.all((nearest >= 0) & (nearest < 40), axis=0)
    np.testing.assert_array_equal(out[inside], ids[nearest[0][inside], nearest[1][inside]])
    assert np.all(out[~inside] == 0)


def test_warp_points_lands_on_the_peak_of_a_warped_point_image() -> None:
    f = smooth_field((64, 64), seed=2)
    for point in ([30.0, 30.0], [20.0, 41.0], [45.0, 17.0]):
        image = np.zeros((64, 64))
        image[int(point[0]), int(point[1])] = 1.0
        warped = f.warp(image)
        centre = (np.indices((64, 64)) * warped).reshape(2, -1).sum(1) / warped.sum()
        landed = f.warp_points(np.array([point]))[0]
        np.testing.assert_allclose(landed, centre, atol=0.25)
        # and the field maps it back exactly
        np.testing.assert_allclose(landed + f.sample([landed])[0], point, atol=1e-3)


# -- compose and inverse --


def test_compose_equals_sequential_warps_on_coordinate_images() -> None:
    a = DisplacementField.generate((40, 40), "affine", matrix=[[1.05, 0.02, -1.0], [-0.03, 0.95, 1.5]])
    b = smooth_field((40, 40), seed=5)
    c = a.compose(b)
    image = coords_image((40, 40))
    sequential = a.warp(b.warp(image))
    direct = c.warp(image)
    # where a reads only voxels of b.warp(image) that b read from inside the grid, both are
    # defined; b's deltas are linear-interpolated in c, so they agree closely
    keep = a.warp((~interior(b)).astype(float), cval=1.0) == 0
    assert keep.mean() > 0.7
    np.testing.assert_allclose(direct[:, keep], sequential[:, keep], atol=0.05)
    # for two affine maps the composition is exact
    d = a.compose(a)
    m = np.array([[1.05, 0.02], [-0.03, 0.95]])
    t = np.array([-1.0, 1.5])
    p = np.array([20.0, 20.0])
    np.testing.assert_allclose(p + d.deltas[:, 20, 20], m @ (m @ p + t) + t, atol=1e-9)
    with pytest.raises(ConfigError, match="shapes differ"):
        a.compose(DisplacementField(np.zeros((2, 4, 4))))


def test_inverse_round_trip_is_within_a_tenth_of_a_voxel() -> None:
    f = smooth_field((96, 96), seed=7)
    assert f.jacobian().min() > 0.3 and np.abs(f.deltas).max() > 2  # a real, fold-free deformation
    g = f.inverse()
    assert g.residual is not None and g.residual < 0.1
    for outer, inner in ((f, g), (g, f)):
        error = np.sqrt((outer.compose(inner).deltas ** 2).sum(0))
        keep = interior(outer, margin=2) & interior(inner, margin=2)
        assert keep.mean() > 0.5
        assert error[keep].max() < 0.1
    # warping with f then with g gives back the image away from the border
    image = coords_image((96, 96))
    back = f.warp(g.warp(image))
    keep = interior(f.compose(g), margin=3) & interior(f, margin=3)
    np.testing.assert_allclose(back[:, keep], image[:, keep], atol=0.15)


def test_inverse_of_a_3d_affine_is_the_inverse_matrix() -> None:
    m = np.array([[1.1, 0.05, 0.0], [0.0, 0.9, 0.1], [0.02, 0.0, 1.0]])
    t = np.array([0.5, -0.5, 1.0])
    f = DisplacementField.generate((12, 14, 16), "affine", matrix=np.column_stack([m, t]))
    g = f.inverse()
    p = np.array([6.0, 7.0, 8.0])
    np.testing.assert_allclose(p + g.deltas[:, 6, 7, 8], np.linalg.solve(m, p - t), atol=1e-4)


def test_inverse_reports_a_large_residual_for_a_folded_field() -> None:
    folded = DisplacementField.generate((64, 64), "elastic", rng=np.random.default_rng(0), alpha=2000, sigma=4)
    assert folded.folds().any()
    inverse = folded.inverse(max_iter=5)
    assert inverse.residual is not None and inverse.residual > 0.5


# -- jacobian and folds --


def test_jacobian_of_known_affine_fields() -> None:
    scale = DisplacementField.generate((16, 16), "affine", matrix=[[2, 0, 0], [0, 2, 0]])
    np.testing.assert_allclose(scale.jacobian(), 4.0, atol=1e-12)
    rotation = DisplacementField.generate((16, 16), "affine_simple", rotation=0.7, translation_x=3)
    np.testing.assert_allclose(rotation.jacobian(), 1.0, atol=1e-12)
    shear3d = DisplacementField.generate((5, 6, 7), "affine", matrix=[[1, 0.5, 0, 0], [0, 3, 0, 0], [0, 0.2, 0.5, 0]])
    np.testing.assert_allclose(shear3d.jacobian(), 1.5, atol=1e-12)
    assert not scale.folds().any()


def test_folds_are_found_where_the_map_reverses() -> None:
    shape = (32, 32)
    deltas = np.zeros((2, *shape))
    deltas[1] = -1.8 * coords_image(shape)[1]  # x -> -0.8 x: orientation reversed everywhere
    assert DisplacementField(deltas).folds().all()
    local = np.zeros((2, *shape))
    local[1, :, 16:] = -4.0  # a step backwards: the map folds at the step
    folds = DisplacementField(local).folds()
    assert folds[:, 15:17].all() and not folds[:, :14].any() and not folds[:, 18:].any()


# -- storage --


def test_save_and_load_two_fields_in_one_file(tmp_path: Path) -> None:
    path = tmp_path / "fields.h5"
    a = smooth_field((16, 20))
    b = DisplacementField(np.ones((3, 4, 5, 6), np.float32), voxel_size=(40, 4, 4))
    a.save(path, "a")
    b.save(path, "group/b")
    a2, b2 = DisplacementField.load(path, "a"), DisplacementField.load(path, "group/b")
    np.testing.assert_array_equal(a2.deltas, a.deltas)
    np.testing.assert_array_equal(b2.deltas, b.deltas)
    assert b2.deltas.dtype == np.float32 and b2.voxel_size == (40.0, 4.0, 4.0)
    with h5py.File(path, "r") as f:
        assert f["a"].attrs["convention"] == CONVENTION and f["a"].attrs["units"] == "voxels"
    with pytest.raises(ConfigError, match=r"already holds 'a'\. Pass overwrite=True"):
        b.save(path, "a")
    DisplacementField(np.zeros((1, 3))).save(path, "a", overwrite=True)
    assert DisplacementField.load(path, "a").shape == (3,)


def test_load_refuses_data_without_the_convention(tmp_path: Path) -> None:
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("raw", data=np.zeros((2, 4, 4)))
    with pytest.raises(ConfigError, match=r"has convention=None, not 'backward"):
        DisplacementField.load(path, "raw")
    with pytest.raises(ConfigError, match=r"has no dataset 'missing'"):
        DisplacementField.load(path, "missing")


def test_one_dimensional_and_four_dimensional_fields_work() -> None:
    f = DisplacementField(np.array([[0.0, 0.5, 1.0, 1.5, 2.0]]))  # x -> 1.5 x
    np.testing.assert_allclose(f.jacobian(), 1.5)
    g = f.inverse()
    np.testing.assert_allclose(g.deltas[0, :4], np.arange(4) / 1.5 - np.arange(4), atol=1e-4)
    h = DisplacementField.generate((3, 4, 3, 4), "affine", matrix=np.column_stack([np.eye(4), [0, 0, 0, 1]]))
    assert h.warp(np.ones((3, 4, 3, 4)))[..., -1].sum() == 0
    np.testing.assert_allclose(h.inverse().deltas[3], -1.0, atol=1e-6)
