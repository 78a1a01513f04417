"""RasterizeGraph: points and edges drawn as balls or peaks, checked voxel by voxel against hand-computed
images; the request it sends upstream; its settings' checks."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import flowgraph as fg
from flowgraph.nodes import rasterize_graph
from flowgraph.nodes.rasterize_graph import line_voxels, rasterize_balls

POINTS = fg.GraphKey("POINTS")
RASTER = fg.ArrayKey("RASTER")
MASK = fg.ArrayKey("MASK")


def graph(
    locations: list[list[float]],
    roi: fg.Roi,
    edges: list[tuple[int, int]] | None = None,
    attributes: dict[str, Any] | None = None,
    edge_attributes: dict[str, Any] | None = None,
) -> fg.Graph:
    """Points 0, 1, ... at ``locations``."""
    return fg.Graph(
        list(range(len(locations))),
        np.array(locations, dtype=float).reshape(len(locations), roi.dims),
        fg.GraphSpec(roi=roi),
        attributes=attributes,
        edges=edges,
        edge_attributes=edge_attributes,
    )


def draw(
    g: fg.Graph,
    roi: fg.Roi,
    settings: fg.RasterizationSettings,
    voxel_size: tuple[int, ...] | None = None,
    dtype: Any = None,
    mask: fg.Array | None = None,
) -> np.ndarray:
    """The raster of ``g`` requested at ``roi``."""
    source: Any = fg.GraphSource(POINTS, g)
    if mask is not None:
        source = (source, fg.ArraySource(MASK, mask)) + fg.MergeProvider()
    spec = fg.ArraySpec(voxel_size=voxel_size, dtype=dtype)
    request = fg.BatchRequest(random_seed=0)
    request[RASTER] = fg.ArraySpec(roi=roi)
    with fg.build(source + fg.RasterizeGraph(POINTS, RASTER, spec, settings)) as p:
        batch = p.request_batch(request)
    assert set(batch) == {RASTER}  # the graph and the mask it read are not handed on
    assert batch[RASTER].spec.roi == roi
    return batch[RASTER].data


def voxels(image: np.ndarray) -> set[tuple[int, ...]]:
    return set(map(tuple, np.argwhere(image).tolist()))


# -- balls ---------------------------------------------------------------------------------------------------


def test_a_single_point_gives_exactly_the_voxels_within_the_radius_on_an_anisotropic_grid() -> None:
    # voxel size (4, 2, 2), radius 4: the point at (10, 11, 13) lies in voxel (2, 5, 6); a voxel
    # (2 + a, 5 + b, 6 + c) is inside when (4a)^2 + (2b)^2 + (2c)^2 <= 16, i.e. a^2 + (b^2 + c^2) / 4 <= 1
    roi = fg.Roi((0, 0, 0), (24, 24, 24))
    image = draw(graph([[10, 11, 13]], roi), roi, fg.RasterizationSettings(radius=4), voxel_size=(4, 2, 2))
    assert image.shape == (6, 12, 12) and image.dtype == np.uint8
    in_plane = {  # b^2 + c^2 <= 4
        (0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1),
        (2, 0), (-2, 0), (0, 2), (0, -2),
    }  # fmt: skip
    expected = {(2, 5 + b, 6 + c) for b, c in in_plane} | {(1, 5, 6), (3, 5, 6)}
    assert voxels(image) == expected
    assert set(np.unique(image).tolist()) == {0, 1}


def test_a_per_axis_radius_and_fg_bg_values_and_dtype() -> None:
    # radius (0, 1, 3) in world units at voxel size 1: a flat ellipse in the plane of the point
    roi = fg.Roi((0, 0, 0), (3, 5, 9))
    settings = fg.RasterizationSettings(radius=(0, 1, 3), fg_value=-2, bg_value=7)
    image = draw(graph([[1.5, 2.2, 4.9]], roi), roi, settings, dtype=np.int16)
    expected = np.full((3, 5, 9), 7, np.int16)
    # (b / 1)^2 + (c / 3)^2 <= 1 around voxel (1, 2, 4): b = 0 with |c| <= 3, b = +-1 with c = 0
    expected[1, 2, 1:8] = -2
    expected[1, 1, 4] = expected[1, 3, 4] = -2
    np.testing.assert_array_equal(image, expected)
    assert image.dtype == np.int16


def test_inner_radius_fraction_draws_a_hollow_ball() -> None:
    # radius 3, fraction 0.5: voxels at distance d from the point's voxel with 1.5 < d <= 3
    roi = fg.Roi((0, 0), (9, 9))
    settings = fg.RasterizationSettings(radius=3, inner_radius_fraction=0.5)
    image = draw(graph([[4.5, 4.5]], roi), roi, settings)
    expected = {
        (4 + a, 4 + b) for a in range(-3, 4) for b in range(-3, 4) if 2.25 < a * a + b * b <= 9
    }  # (0, 2) d^2 = 4 in, (1, 1) d^2 = 2 out, (2, 2) d^2 = 8 in, (1, 3) d^2 = 10 out
    assert voxels(image) == expected
    assert len(expected) == 20 and (4, 4) not in expected and (4, 6) in expected and (6, 6) in expected


def test_a_point_outside_the_roi_draws_the_part_of_its_ball_that_reaches_in() -> None:
    # the graph offers [0:30]^2, the array is requested at [10:20]^2; the point at (8, 15) is
    # outside, its ball of radius 3 reaches rows 10 (|x - 15| <= 2, since 2^2 + 2^2 <= 9) and 11 (x = 15)
    g = graph([[8.0, 15.0], [25.0, 25.0]], fg.Roi((0, 0), (30, 30)))
    image = draw(g, fg.Roi((10, 10), (10, 10)), fg.RasterizationSettings(radius=3))
    assert voxels(image) == {(0, 3), (0, 4), (0, 5), (0, 6), (0, 7), (1, 5)}


def test_the_graph_is_asked_for_around_the_request_and_handed_on_only_when_requested() -> None:
    g = graph([[8.0, 15.0], [12.0, 12.0], [25.0, 25.0]], fg.Roi((0, 0), (30, 30)))
    node = fg.RasterizeGraph(POINTS, RASTER, settings=fg.RasterizationSettings(radius=2.5))
    request = fg.BatchRequest(random_seed=0)
    request[RASTER] = fg.ArraySpec(roi=fg.Roi((10, 10), (10, 10)))
    with fg.build(fg.GraphSource(POINTS, g) + node) as p:
        upstream = node.negotiate(request).upstream[0][0]
        assert set(upstream) == {POINTS}
        assert upstream[POINTS].roi == fg.Roi((7, 7), (16, 16))  # grown by ceil(2.5) = 3 on every side
        request[POINTS] = fg.GraphSpec(roi=fg.Roi((10, 10), (5, 5)))
        upstream = node.negotiate(request).upstream[0][0]
        assert upstream[POINTS].roi == fg.Roi((7, 7), (16, 16))  # the union with the caller's ROI
        batch = p.request_batch(request)
    assert batch[POINTS].spec.roi == fg.Roi((10, 10), (5, 5))
    assert batch[POINTS].ids.tolist() == [1]  # the caller's graph, cropped to its own request
    assert batch[RASTER].data[0, 5] == 1  # the point at (8, 15) drew into the raster all the same


def test_the_context_stays_inside_the_graphs_roi() -> None:
    g = graph([[1.0, 1.0]], fg.Roi((0, 0), (10, 10)))
    node = fg.RasterizeGraph(POINTS, RASTER, settings=fg.RasterizationSettings(radius=2, mode="peak"))
    request = fg.BatchRequest(random_seed=0)
    request[RASTER] = fg.ArraySpec(roi=fg.Roi((0, 2), (4, 4)))
    with fg.build(fg.GraphSource(POINTS, g) + node):
        assert node.negotiate(request).upstream[0][0][POINTS].roi == fg.Roi((0, 0), (8, 10))  # peaks: 2 * radius


def test_an_empty_graph_gives_the_background_value() -> None:
    roi = fg.Roi((0, 0, 0), (4, 6, 6))
    image = draw(graph([], roi), roi, fg.RasterizationSettings(radius=2, bg_value=5, fg_value=9), voxel_size=(2, 2, 2))
    np.testing.assert_array_equal(image, np.full((2, 3, 3), 5, np.uint8))
    peaks = draw(graph([], roi), roi, fg.RasterizationSettings(radius=2, mode="peak"))
    assert peaks.dtype == np.float32 and not peaks.any()


def test_locations_are_floored_into_their_voxel() -> None:
    # -0.5 lies in voxel -1 (world [-2, 0)), not in voxel 0 (truncation towards zero would say 0)
    g = graph([[-0.5, 3.0]], fg.Roi((-4, 0), (8, 8)))
    image = draw(g, fg.Roi((-4, 0), (8, 8)), fg.RasterizationSettings(radius=0), voxel_size=(2, 2))
    assert voxels(image) == {(1, 1)}


# -- peaks ---------------------------------------------------------------------------------------------------


def test_peak_mode_draws_a_gaussian_with_sigma_radius_normalised_to_one() -> None:
    # sigma = 2 world units = 2 voxels along y, 1 voxel along x (voxel size (1, 2)):
    # value = exp(-(dy^2 / 2^2 + dx^2 / 1^2) / 2)
    roi = fg.Roi((0, 0), (20, 20))
    image = draw(graph([[10.5, 10.0]], roi), roi, fg.RasterizationSettings(radius=2, mode="peak"), voxel_size=(1, 2))
    assert image.dtype == np.float32 and image.shape == (20, 10)
    assert image[10, 5] == pytest.approx(1.0)
    assert image[12, 5] == pytest.approx(math.exp(-0.5), abs=1e-6)  # dy = 2: one sigma
    assert image[10, 6] == pytest.approx(math.exp(-0.5), abs=1e-6)  # dx = 1 voxel = 2 world units
    assert image[11, 7] == pytest.approx(math.exp(-(1 / 4 + 4) / 2), abs=1e-6)
    assert image.max() == pytest.approx(1.0)


def test_overlapping_peaks_are_summed_then_normalised_by_the_highest_value() -> None:
    roi = fg.Roi((0,), (20,))
    image = draw(graph([[8.0], [10.0]], roi), roi, fg.RasterizationSettings(radius=2, mode="peak"))
    # scipy truncates the Gaussian at 4 sigma = 8 voxels
    bump = [sum(math.exp(-((x - p) ** 2) / 8) for p in (8, 10) if abs(x - p) <= 8) for x in range(20)]
    np.testing.assert_allclose(image, np.array(bump) / max(bump), atol=1e-6)


# -- edges ---------------------------------------------------------------------------------------------------


def test_edges_are_drawn_as_lines_between_their_ends_voxels() -> None:
    # radius 0: the voxels themselves; the line from voxel (0, 0) to (2, 4) takes one voxel per x
    roi = fg.Roi((0, 0), (4, 6))
    g = graph([[0.5, 0.5], [2.5, 4.5], [3.5, 0.5]], roi, edges=[(0, 1)])
    image = draw(g, roi, fg.RasterizationSettings(radius=0))
    assert voxels(image) == {(0, 0), (0, 1), (1, 2), (2, 3), (2, 4), (3, 0)}
    without = draw(g, roi, fg.RasterizationSettings(radius=0, edges=False))
    assert voxels(without) == {(0, 0), (2, 4), (3, 0)}


def test_an_edge_is_thickened_into_a_tube() -> None:
    roi = fg.Roi((0, 0), (7, 9))
    g = graph([[3.0, 1.0], [3.0, 7.0]], roi, edges=[(0, 1)])
    image = draw(g, roi, fg.RasterizationSettings(radius=1))
    expected = np.zeros((7, 9), np.uint8)
    expected[3, 0:9] = 1  # the line and its ends' x-neighbours
    expected[2, 1:8] = expected[4, 1:8] = 1  # one voxel above and below every line voxel
    np.testing.assert_array_equal(image, expected)


def test_an_edge_leaving_the_graphs_roi_is_drawn_up_to_the_border() -> None:
    # the graph is asked for [0:10, 0:20] around the request; the edge's far end (15, 10) dangles outside
    g = graph([[5.0, 5.0], [15.0, 10.0]], fg.Roi((0, 0), (20, 20)), edges=[(0, 1)])
    image = draw(g, fg.Roi((0, 0), (10, 20)), fg.RasterizationSettings(radius=0, edges=True))
    line, _ = line_voxels(np.array([[5, 5]]), np.array([[15, 10]]))
    assert voxels(image) == {tuple(v) for v in line.tolist() if v[0] < 10}


def test_lines_do_not_depend_on_where_the_batch_lies() -> None:
    # rounding a line's halfway points must not depend on the region the node draws (gunpowder draws
    # in absolute voxel coordinates; so does flowgraph)
    g = graph([[0.0, 0.0], [3.0, 6.0]], fg.Roi((0, 0), (40, 40)), edges=[(0, 1)])
    settings = fg.RasterizationSettings(radius=0)
    whole = draw(g, fg.Roi((0, 0), (20, 20)), settings)
    part = draw(g, fg.Roi((1, 1), (10, 10)), settings)
    np.testing.assert_array_equal(part, whole[1:11, 1:11])


# -- color_attr ----------------------------------------------------------------------------------------------


def test_color_attr_draws_the_attribute_and_the_larger_value_wins() -> None:
    roi = fg.Roi((0, 0), (5, 12))
    g = fg.Graph(
        [0, 1, 2],
        np.array([[2.0, 2.0], [2.0, 5.0], [2.0, 10.0]]),
        fg.GraphSpec(roi=roi),
        attributes={"component": np.array([3, 1, 4])},
    )
    settings = fg.RasterizationSettings(radius=2, color_attr="component", fg_value=9, edges=False)
    image = draw(g, roi, settings)
    row = image[2].tolist()
    # balls of radius 2 along the row: 3 on x 0..4, 1 (drawn as fg_value 9) on 3..7, 4 on 8..11;
    # where 3 and 1 overlap (x 3, 4) the larger color, 3, wins
    assert row == [3, 3, 3, 3, 3, 9, 9, 9, 4, 4, 4, 4]
    assert image[0, 2] == 3 and image[0, 5] == 9 and image[1, 1] == 3


def test_points_and_edges_without_the_color_attribute_are_not_drawn() -> None:
    roi = fg.Roi((0, 0), (4, 8))
    nodes = [
        fg.Node(0, np.array([1.0, 1.0]), attrs={"component": 5}),
        fg.Node(1, np.array([1.0, 6.0])),  # no component: not drawn
        fg.Node(2, np.array([3.0, 1.0]), attrs={"component": 6}),
        fg.Node(3, np.array([3.0, 6.0]), attrs={"component": 6}),
    ]
    edges = [fg.Edge(0, 1), fg.Edge(2, 3, {"component": 7})]
    g = fg.Graph(nodes, edges, fg.GraphSpec(roi=roi))
    image = draw(g, roi, fg.RasterizationSettings(radius=0, color_attr="component"))
    expected = np.zeros((4, 8), np.uint8)
    expected[1, 1] = 5
    expected[3, 1:7] = 7  # the edge's color; its ends' 6 is smaller
    np.testing.assert_array_equal(image, expected)


# -- mask ----------------------------------------------------------------------------------------------------


def mask_array() -> fg.Array:
    """Objects on a 6 x 12 grid at voxel size 1: 5 on x < 6, 7 on x >= 6 (rows 0..3), 0 on rows 4, 5."""
    data = np.zeros((6, 12), np.uint64)
    data[:4, :6] = 5
    data[:4, 6:] = 7
    return fg.Array(data, fg.ArraySpec(roi=fg.Roi((0, 0), (6, 12)), voxel_size=(1, 1), interpolatable=False))


def test_mask_keeps_each_ball_inside_the_object_under_its_point() -> None:
    roi = fg.Roi((0, 0), (6, 12))
    g = graph([[2.0, 4.0], [5.0, 9.0]], roi)  # the first on object 5, the second on background (not drawn)
    image = draw(g, roi, fg.RasterizationSettings(radius=2, mask=MASK, edges=False), mask=mask_array())
    expected = {(2 + a, 4 + b) for a in range(-2, 3) for b in range(-2, 3) if a * a + b * b <= 4}
    expected = {(y, x) for y, x in expected if y < 4 and x < 6}  # cut at object 7 (x >= 6) and the background
    assert voxels(image) == expected


def test_mask_keeps_edges_inside_the_objects_that_hold_a_point() -> None:
    roi = fg.Roi((0, 0), (6, 12))
    g = graph([[1.0, 1.0], [1.0, 10.0], [5.0, 1.0], [5.0, 10.0]], roi, edges=[(0, 1), (2, 3)])
    image = draw(g, roi, fg.RasterizationSettings(radius=0, mask=MASK), mask=mask_array())
    # points 0 and 1 lie on objects 5 and 7: the edge 0-1 is drawn on both; the points 2, 3 on the
    # background are not drawn, and the edge 2-3 runs on the background only
    assert voxels(image) == {(1, x) for x in range(1, 11)}


def test_mask_ids_beyond_float_precision_stay_apart_with_hollow_balls() -> None:
    # 2**60 + 1 and 2**60 + 2 are the same float64: the objects must be told apart exactly
    data = np.full((5, 10), 2**60 + 1, np.uint64)
    data[:, 5:] = 2**60 + 2
    mask = fg.Array(data, fg.ArraySpec(roi=fg.Roi((0, 0), (5, 10)), voxel_size=(1, 1), interpolatable=False))
    roi = fg.Roi((0, 0), (5, 10))
    settings = fg.RasterizationSettings(radius=2, mask=MASK, inner_radius_fraction=0.4, edges=False)
    image = draw(graph([[2.0, 4.0]], roi), roi, settings, mask=mask)
    ring = {(2 + a, 4 + b) for a in range(-2, 3) for b in range(-2, 3) if 0.64 < a * a + b * b <= 4}
    assert voxels(image) == {(y, x) for y, x in ring if x < 5}


def test_mask_with_peaks_keeps_each_objects_peaks_inside_it() -> None:
    roi = fg.Roi((0, 0), (6, 12))
    g = graph([[2.0, 5.0]], roi)
    image = draw(g, roi, fg.RasterizationSettings(radius=1, mode="peak", mask=MASK), mask=mask_array())
    assert image[2, 5] == pytest.approx(1.0)
    assert image[2, 4] == pytest.approx(math.exp(-0.5), abs=1e-6)
    assert image[2, 6] == 0 and image[4, 5] == 0  # object 7 and the background


# -- the drawing functions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("inner", [None, 0.5])
@pytest.mark.parametrize("transform", [False, True])
@pytest.mark.parametrize("count", [6, 300])
def test_stamping_and_the_distance_transform_agree_with_a_brute_force_drawing(
    inner: float | None, transform: bool, count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the node chooses the distance transform where stamps would overlap heavily; force either way here
    for name in ("_EDT_RATIO", "_EDT_RATIO_NEAREST"):
        monkeypatch.setattr(rasterize_graph, name, 0 if transform else math.inf)
    rng = np.random.default_rng(3)
    shape = (9, 20, 20)
    points = rng.integers(0, 20, (count, 3)) % np.array(shape)
    radius, voxel_size = np.array([8.0, 5.0, 5.0]), np.array([4, 2, 2])
    image = rasterize_balls(shape, points, np.ones(len(points), np.int64), radius, voxel_size, inner)
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1).reshape(-1, 3)
    nearest = np.full(len(grid), np.inf)
    for p in points:
        nearest = np.minimum(nearest, (((grid - p) * voxel_size / radius) ** 2).sum(axis=1))
    expected = nearest <= 1 + 1e-9
    if inner is not None:
        expected &= nearest > inner**2 + 1e-9
    np.testing.assert_array_equal(image.reshape(-1) > 0, expected)


# -- configuration and setup ---------------------------------------------------------------------------------


def test_defaults_follow_gunpowder() -> None:
    g = graph([[1.0, 1.0]], fg.Roi((0, 0), (6, 8)))
    with fg.build(fg.GraphSource(POINTS, g) + fg.RasterizeGraph(POINTS, RASTER)) as p:
        spec = p.spec[RASTER]
    assert spec.roi == fg.Roi((0, 0), (6, 8)) and spec.voxel_size == fg.Coordinate((1, 1))
    assert spec.dtype == np.uint8 and spec.interpolatable is False
    settings = fg.RasterizationSettings(1.5)
    assert settings.radius.tolist() == [1.5] and settings.mode == "ball" and settings.edges is True
    assert (settings.fg_value, settings.bg_value, settings.mask, settings.color_attr) == (1, 0, None, None)


def test_array_spec_roi_is_used_and_snapped_inwards_onto_the_grid() -> None:
    g = graph([[5.0, 5.0]], fg.Roi((0, 0), (30, 30)))
    node = fg.RasterizeGraph(POINTS, RASTER, fg.ArraySpec(roi=fg.Roi((1, 2), (13, 10)), voxel_size=(2, 2)))
    with fg.build(fg.GraphSource(POINTS, g) + node) as p:
        assert p.spec[RASTER].roi == fg.Roi((2, 2), (12, 10))


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"radius": -1}, "radius"),
        ({"radius": "2"}, "radius"),
        ({"radius": []}, "radius"),
        ({"radius": float("inf")}, "radius"),
        ({"radius": 1, "mode": "tube"}, "mode"),
        ({"radius": 1, "mask": "MASK"}, "mask"),
        ({"radius": 1, "inner_radius_fraction": 1.0}, "inner_radius_fraction"),
        ({"radius": 1, "inner_radius_fraction": 0}, "inner_radius_fraction"),
        ({"radius": 1, "fg_value": "one"}, "fg_value"),
        ({"radius": 1, "bg_value": float("nan")}, "bg_value"),
        ({"radius": 1, "mode": "peak", "fg_value": 2}, "fg_value"),
        ({"radius": 1, "edges": "yes"}, "edges"),
        ({"radius": 1, "color_attr": 3}, "color_attr"),
    ],
)
def test_bad_settings_raise_config_errors_naming_the_parameter(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(fg.ConfigError, match=parameter):
        fg.RasterizationSettings(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"graph": RASTER}, "graph"),
        ({"array": POINTS}, "array"),
        ({"array_spec": {"voxel_size": (1, 1)}}, "array_spec"),
        ({"array_spec": fg.ArraySpec(nonspatial=True)}, "array_spec"),
        ({"settings": {"radius": 1}}, "settings"),
        ({"array_spec": fg.ArraySpec(dtype=np.uint8), "settings": fg.RasterizationSettings(1, mode="peak")}, "dtype"),
        ({"settings": fg.RasterizationSettings(1, fg_value=300)}, "fg_value"),
        (
            {"array_spec": fg.ArraySpec(dtype=np.int8), "settings": fg.RasterizationSettings(1, bg_value=-129)},
            "bg_value",
        ),
        ({"settings": fg.RasterizationSettings(1, mask=RASTER)}, "mask"),
    ],
)
def test_bad_arguments_raise_config_errors_naming_the_parameter(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(fg.ConfigError, match=parameter):
        fg.RasterizeGraph(**{"graph": POINTS, "array": RASTER, **kwargs})


@pytest.mark.parametrize(
    ("node", "match"),
    [
        (fg.RasterizeGraph(fg.GraphKey("OTHER"), RASTER), "needs OTHER"),
        (fg.RasterizeGraph(POINTS, RASTER, fg.ArraySpec(voxel_size=(1, 1, 1))), "voxel_size"),
        (fg.RasterizeGraph(POINTS, RASTER, settings=fg.RasterizationSettings((1, 2, 3))), "radius"),
        (fg.RasterizeGraph(POINTS, RASTER, settings=fg.RasterizationSettings(1, mask=MASK)), "MASK"),
        (
            fg.RasterizeGraph(POINTS, RASTER, fg.ArraySpec(voxel_size=(2, 2)), fg.RasterizationSettings(1, mask=MASK)),
            "voxel size",
        ),
    ],
)
def test_setup_errors_say_what_does_not_fit(node: fg.RasterizeGraph, match: str) -> None:
    g = graph([[1.0, 1.0]], fg.Roi((0, 0), (12, 12)))
    source: Any = fg.GraphSource(POINTS, g)
    if node.settings.mask is not None and node.array_spec.voxel_size is not None:
        source = (source, fg.ArraySource(MASK, mask_array())) + fg.MergeProvider()
    with pytest.raises(fg.SetupError, match=match), fg.build(source + node):
        pass


def test_a_non_numeric_color_attribute_is_a_request_error() -> None:
    roi = fg.Roi((0, 0), (4, 4))
    g = fg.Graph([fg.Node(0, np.array([1.0, 1.0]), attrs={"kind": "synapse"})], [], fg.GraphSpec(roi=roi))
    with pytest.raises(fg.RequestError, match="kind"):
        draw(g, roi, fg.RasterizationSettings(1, color_attr="kind"))
