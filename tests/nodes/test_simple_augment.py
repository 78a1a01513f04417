"""SimpleAugment: exact mirrors/transposes of arrays, labels and points, about the request's centre."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flowgraph as fg
from flowgraph.nodes.simple_augment import Flip, make_flip, mirror_transpose

RAW = fg.ArrayKey("RAW")
LABELS = fg.ArrayKey("LABELS")
POINTS = fg.GraphKey("POINTS")


def coords(shape: tuple[int, ...]) -> np.ndarray:
    """``value = z * 10000 + y * 100 + x`` (for 2-D: ``y * 100 + x``)."""
    grids = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    return sum(g * 100 ** (len(shape) - 1 - d) for d, g in enumerate(grids)).astype(np.int64)


def decode(values: np.ndarray, dims: int) -> list[np.ndarray]:
    """The source voxel index per axis encoded in ``values`` (inverse of :func:`coords`)."""
    v = np.asarray(values, np.int64)
    return [(v // 100 ** (dims - 1 - d)) % 100 for d in range(dims)]


def array_source(
    key: fg.ArrayKey, data: np.ndarray, voxel_size: tuple[int, ...], interpolatable: bool | None = None
) -> fg.ArraySource:
    dims = len(voxel_size)
    roi = fg.Roi((0,) * dims, tuple(s * v for s, v in zip(data.shape[-dims:], voxel_size, strict=True)))
    spec = fg.ArraySpec(roi=roi, voxel_size=voxel_size, interpolatable=interpolatable)
    return fg.ArraySource(key, fg.Array(data, spec))


def request_of(rois: dict[Any, fg.Roi], seed: int = 0) -> fg.BatchRequest:
    request = fg.BatchRequest(random_seed=seed)
    for key, roi in rois.items():
        request[key] = fg.GraphSpec(roi=roi) if isinstance(key, fg.GraphKey) else fg.ArraySpec(roi=roi)
    return request


def run(pipeline: Any, request: fg.BatchRequest) -> fg.Batch:
    with fg.build(pipeline) as p:
        return p.request_batch(request)


# -- the pure geometry ----------------------------------------------------------------------------


def test_mirror_transpose_is_a_view_with_channels_in_front() -> None:
    data = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    out = mirror_transpose(data, (True, False, True), (0, 2, 1))
    assert np.shares_memory(out, data)
    assert out.shape == (2, 3, 5, 4)
    np.testing.assert_array_equal(out, np.flip(data, (1, 3)).transpose(0, 1, 3, 2))


def test_flip_maps_the_total_box_onto_itself_when_on_the_grid() -> None:
    total = fg.Roi((8, 20, 20), (24, 40, 40))
    flip = make_flip(total, (4, 2, 2), (True, True, False), (0, 2, 1))
    assert flip.forward_roi(total) == total
    assert flip.inverse_roi(total) == total
    # lo + hi: the mirror maps x to lo + hi - x exactly
    assert flip.mirror_sum[:2] == (40, 80)
    points = np.array([[8.0, 20.0, 20.0], [31.5, 22.25, 59.0]])
    np.testing.assert_array_equal(flip.forward_points(points), [[32.0, 20.0, 60.0], [8.5, 59.0, 57.75]])


@settings(max_examples=60, deadline=None)
@given(
    perm=st.permutations([0, 1, 2]),
    mirror=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    begin=st.tuples(*[st.integers(-20, 20)] * 3),
    shape=st.tuples(*[st.integers(1, 12)] * 3),
    inner=st.tuples(*[st.integers(0, 6)] * 3),
    grid=st.sampled_from([(1, 1, 1), (2, 2, 2), (4, 2, 2)]),
)
def test_flip_geometry_laws(
    perm: list[int],
    mirror: tuple[bool, ...],
    begin: tuple[int, ...],
    shape: tuple[int, ...],
    inner: tuple[int, ...],
    grid: tuple[int, ...],
) -> None:
    # transposed axes must share the grid spacing, as SimpleAugment's setup enforces
    if any(grid[d] != grid[q] for d, q in enumerate(perm)):
        perm = [0, 1, 2]
    g = np.asarray(grid)
    total = fg.Roi(tuple(np.asarray(begin) * g), tuple(np.asarray(shape) * g))
    flip = make_flip(total, grid, mirror, tuple(perm))
    sub = fg.Roi(total.begin + tuple(np.minimum(inner, np.asarray(shape) - 1) * g), g * (1, 1, 1))
    for roi in (total, sub):
        upstream = flip.inverse_roi(roi)
        assert flip.forward_roi(upstream) == roi
        assert upstream.snap_to_grid(grid) == upstream  # stays on every voxel grid
        # a point in an upstream voxel lands in the image of that voxel
        centre = np.asarray(upstream.begin, float) + np.asarray(upstream.shape, float) / 2
        moved = flip.forward_points(centre[None])[0]
        assert roi.contains(tuple(int(np.floor(c)) for c in moved))


# -- the node ------------------------------------------------------------------------------------------


def test_identity_at_p_zero_and_with_nothing_to_do() -> None:
    data = coords((6, 10, 10)).astype(np.float32)
    request = request_of({RAW: fg.Roi((1, 2, 3), (4, 6, 5))}, seed=3)
    expected = run(array_source(RAW, data, (1, 1, 1)), request)[RAW].data
    for node in (
        fg.SimpleAugment(p=0),
        fg.SimpleAugment(mirror_probs=0.0, transpose_only=()),
        fg.SimpleAugment(mirror_only=(), transpose_probs={(0, 1, 2): 1.0}),
        fg.SimpleAugment(mirror_probs=(0, 0, 0), transpose_probs=(0.0, 0.0, 0.0)),
    ):
        got = run(array_source(RAW, data, (1, 1, 1)) + node, request)[RAW]
        assert got.spec.roi == request[RAW].roi
        assert got.data.tobytes() == expected.tobytes()


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_mirror_of_one_axis_is_exact(axis: int) -> None:
    data = coords((8, 12, 12))
    roi = fg.Roi((2, 2, 4), (4, 8, 6))
    probs = tuple(1.0 if d == axis else 0.0 for d in range(3))
    got = run(
        array_source(RAW, data, (1, 1, 1)) + fg.SimpleAugment(mirror_probs=probs, transpose_only=()),
        request_of({RAW: roi}),
    )[RAW]
    assert got.spec.roi == roi
    np.testing.assert_array_equal(got.data, np.flip(data[2:6, 2:10, 4:10], axis))


def test_transpose_of_anisotropic_shape_reads_the_transposed_box() -> None:
    # EM-like voxels (40, 4, 4): only y and x may be swapped; the request is 20 x 12 voxels in-plane
    data = coords((6, 40, 40))
    roi = fg.Roi((40, 40, 60), (160, 80, 48))  # z 1:5, y 10:30, x 15:27 in voxels
    node = fg.SimpleAugment(transpose_only=(1, 2), mirror_probs=0.0, transpose_probs={(0, 2, 1): 1.0})
    got = run(array_source(RAW, data, (40, 4, 4)) + node, request_of({RAW: roi}))[RAW]
    assert got.spec.roi == roi and got.data.shape == (4, 20, 12)
    # centre (voxels): y 20, x 21 -> upstream y covers 20 -/+ 6, x covers 21 -/+ 10
    np.testing.assert_array_equal(got.data, data[1:5, 14:26, 11:31].transpose(0, 2, 1))


def test_transpose_and_mirror_with_channels() -> None:
    base = coords((4, 10, 10))
    data = np.stack([base, base + 1_000_000])  # 2 channels
    roi = fg.Roi((0, 8, 8), (32, 24, 24))  # voxels z 0:4, y 2:8, x 2:8
    node = fg.SimpleAugment(mirror_probs=(0.0, 1.0, 0.0), transpose_only=(1, 2), transpose_probs=(0.0, 1.0, 1.0))
    got = run(array_source(RAW, data, (8, 4, 4)) + node, request_of({RAW: roi}))[RAW]
    assert got.data.shape == (2, 4, 6, 6)
    expected = np.flip(data[:, :, 2:8, 2:8], 2).transpose(0, 1, 3, 2)
    np.testing.assert_array_equal(got.data, expected)
    np.testing.assert_array_equal(got.data[1] - got.data[0], 1_000_000)


@pytest.mark.parametrize("seed", range(12))
def test_random_output_is_a_signed_permutation_of_a_box(seed: int) -> None:
    data = coords((12, 12, 12)).astype(np.float32)
    roi = fg.Roi((2, 3, 1), (6, 6, 6))
    got = run(array_source(RAW, data, (1, 1, 1)) + fg.SimpleAugment(), request_of({RAW: roi}, seed))[RAW].data
    source = decode(got, 3)
    for d in range(3):  # along each output axis exactly one source axis moves, by +-1
        steps = [np.unique(np.diff(s, axis=d)) for s in source]
        moving = [q for q in range(3) if not np.array_equal(steps[q], [0])]
        assert len(moving) == 1 and steps[moving[0]].tolist() in ([1], [-1])
    # and the source box is centred where the request is (the centre is kept)
    assert [int(s.min() + s.max()) for s in source] == [2 * b + 5 for b in roi.begin]


def test_labels_images_and_points_stay_consistent() -> None:
    # RAW at (40, 4, 4), LABELS at (40, 8, 8): labels are unique per voxel (the voxel's coordinates)
    raw = coords((8, 40, 40)).astype(np.float32)
    labels = (coords((8, 20, 20)) + 2**60).astype(np.uint64)
    roi = fg.Roi((0, 0, 0), (320, 160, 160))
    rng = np.random.default_rng(1)
    locations = rng.uniform(0, 1, (300, 3)) * np.asarray(roi.shape)
    graph = fg.Graph(np.arange(300), locations, fg.GraphSpec(roi=roi))
    sources = (
        array_source(RAW, raw, (40, 4, 4)),
        array_source(LABELS, labels, (40, 8, 8)),
        fg.GraphSource(POINTS, graph),
    ) + fg.MergeProvider()

    def label_at(volume: np.ndarray, vs: tuple[int, ...], begin: tuple[int, ...], points: np.ndarray) -> np.ndarray:
        index = np.floor((points - np.asarray(begin)) / np.asarray(vs)).astype(int)
        return volume[tuple(index.T)]

    total = fg.Roi((80, 32, 40), (160, 88, 88))  # on every grid and square in-plane: maps onto itself
    expected_ids = set(np.flatnonzero(fg.graph.inside(locations, total)).tolist())
    outcomes = set()
    for seed in range(16):
        request = request_of({RAW: total, LABELS: fg.Roi((120, 48, 48), (80, 64, 64)), POINTS: total}, seed)
        batch = run(sources + fg.SimpleAugment(transpose_only=(1, 2)), request)
        out_labels, out_raw, points = batch[LABELS], batch[RAW], batch[POINTS]
        assert out_labels.data.dtype == np.uint64
        assert len(np.unique(out_labels.data)) == out_labels.data.size  # no id lost or duplicated
        assert np.all(out_labels.data >= 2**60)
        assert set(points.ids.tolist()) == expected_ids
        original = locations[points.ids]
        on_labels = fg.graph.inside(points.locations, out_labels.spec.roi)
        assert on_labels.sum() > 5
        now = label_at(out_labels.data, (40, 8, 8), out_labels.spec.roi.begin, points.locations[on_labels])
        before = label_at(labels, (40, 8, 8), (0, 0, 0), original[on_labels])
        np.testing.assert_array_equal(now, before)
        now_raw = label_at(out_raw.data, (40, 4, 4), out_raw.spec.roi.begin, points.locations)
        np.testing.assert_array_equal(now_raw, label_at(raw, (40, 4, 4), (0, 0, 0), original))
        outcomes.add(out_raw.data.tobytes())
    assert len(outcomes) >= 6  # different mirrors/transposes for different seeds


def test_graph_points_on_the_mirrored_faces() -> None:
    roi = fg.Roi((0, 0), (10, 10))
    graph = fg.Graph([1, 2, 3], [[5.5, 9.999], [5.5, 0.0], [2.0, 3.0]], fg.GraphSpec(roi=fg.Roi((0, 0), (20, 20))))
    node = fg.SimpleAugment(mirror_probs=(0.0, 1.0), transpose_only=())
    out = run(fg.GraphSource(POINTS, graph) + node, request_of({POINTS: roi}))[POINTS]
    # x -> 10 - x: 0.0 lands on the excluded upper face, 9.999 near 0; a point at x = 10 lands on 0
    assert out.ids.tolist() == [1, 3]
    np.testing.assert_allclose(out.locations, [[5.5, 10 - 9.999], [2.0, 7.0]])
    graph = fg.Graph([7], [[5.5, 10.0]], fg.GraphSpec(roi=fg.Roi((0, 0), (20, 20))))
    out = run(fg.GraphSource(POINTS, graph) + node, request_of({POINTS: roi}))[POINTS]
    assert out.ids.tolist() == [7] and out.locations.tolist() == [[5.5, 0.0]]


def test_graph_edges_and_attributes_follow() -> None:
    roi = fg.Roi((0, 0), (10, 10))
    graph = fg.Graph(
        [1, 2], [[1.5, 2.5], [3.5, 4.5]], fg.GraphSpec(roi=roi), attributes={"w": np.array([7, 8])}, edges=[[1, 2]]
    )
    node = fg.SimpleAugment(mirror_probs=(1.0, 0.0), transpose_probs={(1, 0): 1.0})
    out = run(fg.GraphSource(POINTS, graph) + node, request_of({POINTS: roi}))[POINTS]
    np.testing.assert_array_equal(out.locations, [[2.5, 8.5], [4.5, 6.5]])
    assert out.attributes["w"].tolist() == [7, 8] and out.edges.tolist() == [[1, 2]]


def test_transpose_probs_weights() -> None:
    node = fg.SimpleAugment(mirror_only=(), transpose_probs=(0.0, 1.0, 1.0))
    with fg.build(array_source(RAW, np.zeros((4, 4, 4), np.float32), (1, 1, 1)) + node) as p:
        drawn = {node.draw(node.rng(fg.BatchRequest(random_seed=s)))[2] for s in range(20)}
    assert drawn == {(0, 2, 1)}
    node = fg.SimpleAugment(transpose_only=(1, 2), transpose_probs={(1, 0, 2): 5.0, (0, 2, 1): 1.0, (0, 1, 2): 1.0})
    with fg.build(array_source(RAW, np.zeros((4, 4, 4), np.float32), (1, 1, 1)) + node) as p:
        drawn = {node.draw(node.rng(fg.BatchRequest(random_seed=s)))[2] for s in range(40)}
        assert p.spec[RAW] is not None
    assert drawn == {(0, 2, 1), (0, 1, 2)}  # (1, 0, 2) moves axis 0, outside transpose_only: dropped


def test_default_draws_cover_every_mirror_and_permutation() -> None:
    node = fg.SimpleAugment()
    with fg.build(array_source(RAW, np.zeros((4, 4, 4), np.float32), (1, 1, 1)) + node):
        draws = [node.draw(node.rng(fg.BatchRequest(random_seed=s))) for s in range(400)]
    assert {d[1] for d in draws} == set(itertools.product((False, True), repeat=3))
    assert {d[2] for d in draws} == set(itertools.permutations(range(3)))
    assert all(d[0] for d in draws)


def test_transposing_anisotropic_axes_is_refused_with_a_fix() -> None:
    source = array_source(RAW, np.zeros((4, 10, 10), np.float32), (40, 4, 4))
    with pytest.raises(
        fg.SetupError,
        match=r"transposing axes 0 and 1 would mix voxel sizes 40 and 4 of RAW .*"
        r"transpose_only=\(1, 2\)",
    ):
        run(source + fg.SimpleAugment(), request_of({RAW: fg.Roi((0, 0, 0), (40, 4, 4))}))
    # restricting by transpose_probs is enough too
    source = array_source(RAW, np.zeros((4, 10, 10), np.float32), (40, 4, 4))
    out = run(
        source + fg.SimpleAugment(transpose_probs={(0, 1, 2): 1, (0, 2, 1): 1}),
        request_of({RAW: fg.Roi((0, 0, 0), (40, 4, 4))}),
    )
    assert out[RAW].data.shape == (1, 1, 1)


def test_setup_and_request_errors() -> None:
    def build(node: fg.SimpleAugment) -> None:
        with fg.build(array_source(RAW, np.zeros((4, 4), np.float32), (1, 1)) + node):
            pass

    with pytest.raises(fg.SetupError, match=r"mirror_only=\(2,\) names an axis >= 2"):
        build(fg.SimpleAugment(mirror_only=[2]))
    with pytest.raises(fg.SetupError, match="mirror_probs has 3 entries for 2 spatial axes"):
        build(fg.SimpleAugment(mirror_probs=[0.5, 0.5, 0.5]))
    with pytest.raises(fg.SetupError, match="transpose_probs has 1 entries"):
        build(fg.SimpleAugment(transpose_probs=[0.5]))
    with pytest.raises(fg.SetupError, match="no permutation"):
        build(fg.SimpleAugment(transpose_only=(0,), transpose_probs=[1.0, 1.0]))
    request = fg.BatchRequest(random_seed=0)
    request[RAW] = fg.ArraySpec()
    with pytest.raises(fg.RequestError, match="requested without a ROI"):
        run(array_source(RAW, np.zeros((4, 4), np.float32), (1, 1)) + fg.SimpleAugment(), request)


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"mirror_only": 3}, "mirror_only"),
        ({"mirror_only": (0, 0)}, "mirror_only"),
        ({"transpose_only": (-1,)}, "transpose_only"),
        ({"mirror_probs": 1.5}, "mirror_probs"),
        ({"mirror_probs": ["a"]}, "mirror_probs"),
        ({"transpose_probs": {(0, 0): 1.0}}, "transpose_probs"),
        ({"transpose_probs": {(0, 1): 0.0}}, "transpose_probs"),
        ({"transpose_probs": [2.0]}, "transpose_probs"),
        ({"p": -0.1}, "p"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(fg.ConfigError, match=parameter):
        fg.SimpleAugment(**kwargs)


def test_same_seed_same_batch_and_views() -> None:
    data = coords((8, 8, 8)).astype(np.float32)
    request = request_of({RAW: fg.Roi((1, 1, 1), (5, 5, 5))}, seed=11)
    first = run(array_source(RAW, data, (1, 1, 1)) + fg.SimpleAugment(), request)[RAW].data
    again = run(array_source(RAW, data, (1, 1, 1)) + fg.SimpleAugment(), request)[RAW].data
    assert first.tobytes() == again.tobytes()


def test_flip_dataclass_identity() -> None:
    assert Flip((False, False), (0, 1), (0, 0), (0, 0)).is_identity()
    assert not Flip((True, False), (0, 1), (4, 0), (0, 0)).is_identity()


def test_transposing_twice_is_the_identity_when_the_centre_is_off_the_grid() -> None:

    total = fg.Roi((0, 0), (4, 6))  # centre (2, 3): off the (2, 2) grid along the last axis
    flip = make_flip(total, (2, 2), (False, False), (1, 0))
    assert flip.shift[0] == -flip.shift[1]
    boxes = [fg.Roi((0, 0), (4, 6)), fg.Roi((2, -4), (6, 2)), fg.Roi((-8, 10), (2, 4))]
    for box in boxes:
        once = flip.forward_roi(box)
        assert flip.forward_roi(once) == box
        assert once.on_grid((2, 2))
    points = np.array([[0.5, 5.25], [3.0, -1.0]])
    np.testing.assert_array_equal(flip.forward_points(flip.forward_points(points)), points)


def test_mismatched_voxel_multiples_transpose_the_data_exactly() -> None:
    # a 3 x 3 image at voxel size 2; the one bright voxel sits at world (4, 2)
    key = fg.ArrayKey("T")
    data = np.zeros((3, 3))
    data[2, 1] = 1
    source = fg.ArraySource(key, fg.Array(data, fg.ArraySpec(roi=fg.Roi((0, 0), (6, 6)), voxel_size=(2, 2))))
    node = fg.SimpleAugment(mirror_only=[], transpose_only=[0, 1], transpose_probs={(1, 0): 1})
    request = fg.BatchRequest(random_seed=0)
    request[key] = fg.ArraySpec(roi=fg.Roi((0, 0), (4, 6)))
    with fg.build(source + node) as p:
        out = p.request_batch(request)[key].data
    expected = np.zeros((2, 3))
    expected[1, 2] = 1  # transposed about the request's origin: world (2, 4)
    np.testing.assert_array_equal(out, expected)


def test_mirror_and_transpose_of_a_non_square_request_about_the_read_window() -> None:
    # request [400:600, 500:800] (voxel 20): transposing shifts axis 0 by -140 and axis 1 by +140
    # (half the 300 difference of the sums, rounded towards zero onto the grid); the window read
    # along upstream axis 1 is [540:740], mirrored about its own centre 640: y1 -> 1280 - y1.
    # The point (450, 550) so lands at (1280 - 550 - 140, 450 + 140) = (590, 590).
    graph_key, array_key = fg.GraphKey("G"), fg.ArrayKey("A")
    graph = fg.Graph(np.array([1]), np.array([[450.0, 550.0]]), fg.GraphSpec(roi=fg.Roi((100, 200), (800, 600))))
    data = np.zeros((40, 30))
    data[17, 17] = 1  # the voxel [440:460, 540:560] holding the point
    array = fg.Array(data, fg.ArraySpec(roi=fg.Roi((100, 200), (800, 600)), voxel_size=(20, 20)))
    node = fg.SimpleAugment(mirror_only=[0, 1], transpose_only=[0, 1], mirror_probs=[0, 1], transpose_probs={(1, 0): 1})
    request = fg.BatchRequest(random_seed=0)
    request[graph_key] = fg.GraphSpec(roi=fg.Roi((400, 500), (200, 300)))
    request[array_key] = fg.ArraySpec(roi=fg.Roi((400, 500), (200, 300)))
    pipeline = (fg.GraphSource(graph_key, graph), fg.ArraySource(array_key, array)) + fg.MergeProvider() + node
    with fg.build(pipeline) as p:
        batch = p.request_batch(request)
    np.testing.assert_array_equal(batch[graph_key].locations, [[590.0, 590.0]])
    assert np.argwhere(batch[array_key].data == 1).tolist() == [[9, 4]]  # [580:600, 580:600]: under the point
