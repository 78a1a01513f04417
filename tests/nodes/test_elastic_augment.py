"""ElasticAugment: exact identity, geometric consistency of images, labels and points, requests."""

from __future__ import annotations

import math

import numpy as np
import pytest

import flowgraph as fg
from flowgraph import testing
from flowgraph.nodes.elastic_augment import Transform, draw_transform, separable_map
from flowgraph.resample import map_bounds

RAW, LABELS, POINTS = fg.ArrayKey("RAW"), fg.ArrayKey("LABELS"), fg.GraphKey("POINTS")
VS = (40, 4, 4)
SHAPE = (24, 90, 90)
ROI = fg.Roi((0, 0, 0), tuple(s * v for s, v in zip(SHAPE, VS)))
BIG_ID = 2**60


def index_channels() -> np.ndarray:
    """Three channels holding each voxel's own (z, y, x) index: linear, so interpolation is exact."""
    return np.stack(np.meshgrid(*[np.arange(s, dtype=np.float64) for s in SHAPE], indexing="ij"))


def block_labels() -> np.ndarray:
    """uint64 ids of 3 x 10 x 10 voxel blocks, above 2**53 so float rounding would show."""
    z, y, x = np.meshgrid(*[np.arange(s) for s in SHAPE], indexing="ij")
    return (BIG_ID + (z // 3) * 10000 + (y // 10) * 100 + x // 10).astype(np.uint64)


class Recorder(fg.BatchFilter):
    """Records the requests that pass upstream through it."""

    def __init__(self) -> None:
        self.requests: list[fg.BatchRequest] = []

    def provide(self, request: fg.BatchRequest) -> fg.Batch:
        self.requests.append(request.copy())
        return self.upstream.request_batch(request)


def sources(points: np.ndarray | None = None) -> fg.Pipeline:
    raw = fg.ArraySource(RAW, fg.Array(index_channels(), fg.ArraySpec(roi=ROI, voxel_size=VS)))
    labels = fg.ArraySource(
        LABELS, fg.Array(block_labels(), fg.ArraySpec(roi=ROI, voxel_size=VS, interpolatable=False))
    )
    if points is None:
        return (raw, labels) + fg.MergeProvider()
    graph = fg.Graph(np.arange(len(points)), points, fg.GraphSpec(roi=ROI))
    return (raw, labels, fg.GraphSource(POINTS, graph)) + fg.MergeProvider()


def request(seed: int, points: bool = False) -> fg.BatchRequest:
    r = fg.BatchRequest(random_seed=seed)
    r.add(RAW, (10 * 40, 40 * 4, 40 * 4))
    r.add(LABELS, (6 * 40, 24 * 4, 24 * 4))
    if points:
        r.add(POINTS, (6 * 40, 24 * 4, 24 * 4))
    return r


CREMI = dict(
    control_point_spacing=[4, 10, 10],
    jitter_sigma=[0, 2, 2],
    rotation_interval=[0, math.pi / 2],
    prob_slip=0.1,
    prob_shift=0.1,
    max_misalign=3,
)


def test_zero_strength_is_exact_identity_for_arrays_and_points() -> None:
    rng = np.random.default_rng(1)
    points = np.asarray(ROI.begin) + rng.uniform(0, 1, (200, 3)) * np.asarray(ROI.shape)
    plain = sources(points) + fg.RandomLocation()
    elastic = sources(points) + fg.RandomLocation() + fg.ElasticAugment([4, 10, 10], 0, [0, 0])
    with fg.build(plain) as a, fg.build(elastic) as b:
        for seed in range(3):
            x, y = a.request_batch(request(seed, True)), b.request_batch(request(seed, True))
            assert np.array_equal(x[RAW].data, y[RAW].data)
            assert np.array_equal(x[LABELS].data, y[LABELS].data)
            assert np.array_equal(x[POINTS].ids, y[POINTS].ids)
            assert np.array_equal(x[POINTS].locations, y[POINTS].locations)


def test_probability_zero_is_identity() -> None:
    with (
        fg.build(sources() + fg.RandomLocation()) as a,
        fg.build(sources() + fg.RandomLocation() + fg.ElasticAugment(**CREMI, p=0.0)) as b,
    ):
        assert np.array_equal(a.request_batch(request(4))[RAW].data, b.request_batch(request(4))[RAW].data)


@pytest.mark.parametrize("seed", range(4))
def test_labels_are_read_where_the_image_is_read(seed: int) -> None:
    """The image channels say where each voxel was read; the label there must be the label read."""
    recorder = Recorder()
    pipeline = sources() + recorder + fg.RandomLocation() + fg.ElasticAugment(**CREMI)
    with fg.build(pipeline) as p:
        batch = p.request_batch(request(seed))
    upstream = recorder.requests[-1]
    raw_origin = np.asarray(upstream[RAW].roi.begin) // np.asarray(VS)
    out = batch[RAW].data  # (3, z, y, x): the source index each output voxel was read at
    # the request held everything the interpolation read: floor(s) and floor(s) + 1 inside
    local = out - raw_origin[:, None, None, None]
    shape = np.asarray(upstream[RAW].roi.shape) // np.asarray(VS)
    assert local.min() >= 0
    assert (np.floor(local.reshape(3, -1)).max(axis=1) + 1 <= shape - 1).all()
    # labels (nearest neighbour on the same map) match the source label at the rounded position
    labels = batch[LABELS]
    offset = (np.asarray(labels.roi.begin) - np.asarray(batch[RAW].roi.begin)) // np.asarray(VS)
    nz, ny, nx = labels.data.shape
    window = out[:, offset[0] :, offset[1] :, offset[2] :][:, :nz, :ny, :nx]
    expected = block_labels()[tuple(np.floor(window + 0.5).astype(int))]
    assert labels.data.dtype == np.uint64
    assert np.array_equal(labels.data, expected)
    assert set(np.unique(labels.data)) <= set(np.unique(block_labels()))
    # axis 0 is kept (no z jitter, in-plane rotation): every section reads one source section
    assert np.array_equal(out[0], np.broadcast_to(out[0][:, :1, :1], out[0].shape))


def test_points_stay_on_their_labels() -> None:
    # points at the centres of label blocks, far from block borders
    z, y, x = np.meshgrid(np.arange(1, 24, 3), np.arange(5, 90, 10), np.arange(5, 90, 10), indexing="ij")
    points = (np.stack([z.ravel(), y.ravel(), x.ravel()], axis=1) + 0.5) * np.asarray(VS, dtype=float)
    source_labels = block_labels()
    params = dict(CREMI, jitter_sigma=[0, 1, 1], prob_slip=0.0, prob_shift=0.0)
    with fg.build(sources(points) + fg.RandomLocation() + fg.ElasticAugment(**params)) as p:
        seen = 0
        for seed in range(6):
            batch = p.request_batch(request(seed, True))
            graph, labels = batch[POINTS], batch[LABELS]
            inside = fg.graph.inside(graph.locations, labels.roi)
            index = ((graph.locations[inside] - np.asarray(labels.roi.begin)) // np.asarray(VS)).astype(int)
            got = labels.data[tuple(index.T)]
            original = points[graph.ids[inside]]
            want = source_labels[tuple((original // np.asarray(VS)).astype(int).T)]
            assert np.array_equal(got, want)
            seen += int(inside.sum())
    assert seen > 20


def test_same_seed_same_batch_and_different_seeds_differ() -> None:
    with fg.build(sources() + fg.RandomLocation() + fg.ElasticAugment(**CREMI)) as p:
        a, b, c = (p.request_batch(request(s)) for s in (7, 7, 8))
    assert np.array_equal(a[RAW].data, b[RAW].data) and np.array_equal(a[LABELS].data, b[LABELS].data)
    assert not np.array_equal(a[RAW].data, c[RAW].data)


def test_misalignment_shifts_whole_sections_by_whole_voxels() -> None:
    params = dict(
        control_point_spacing=[4, 10, 10],
        jitter_sigma=0,
        rotation_interval=[0, 0],
        prob_slip=0.5,
        prob_shift=0.5,
        max_misalign=3,
    )
    with fg.build(sources() + fg.RandomLocation() + fg.ElasticAugment(**params)) as p:
        out = p.request_batch(request(3))[RAW].data
    dy = out[1] - np.arange(out.shape[2])[None, :, None]
    dx = out[2] - np.arange(out.shape[3])[None, None, :]
    per_section_y, per_section_x = dy[:, :1, :1], dx[:, :1, :1]
    assert np.allclose(dy, per_section_y) and np.allclose(dx, per_section_x)
    steps = np.concatenate([np.diff(per_section_y.ravel()), np.diff(per_section_x.ravel())])
    assert np.allclose(steps, np.round(steps)) and np.abs(steps).max() > 0


def test_two_dimensional_arrays() -> None:
    data = np.arange(60 * 60, dtype=np.float32).reshape(60, 60)
    source = fg.ArraySource(RAW, fg.Array(data, fg.ArraySpec(roi=fg.Roi((0, 0), (240, 240)), voxel_size=(4, 4))))
    r = fg.BatchRequest(random_seed=2)
    r.add(RAW, (80, 80))
    with fg.build(source + fg.RandomLocation() + fg.ElasticAugment([10, 10], [2, 2], [0, 1], spatial_dims=2)) as p:
        out = p.request_batch(r)[RAW]
    assert out.data.shape == (20, 20) and out.data.dtype == np.float32
    assert data.min() <= out.data.min() and out.data.max() <= data.max()


def test_separable_map_agrees_with_the_point_transform() -> None:
    rng = np.random.default_rng(0)
    roi = fg.Roi((-400, -160, -160), (800, 320, 320))
    t = draw_transform(rng, roi, fg.Coordinate(VS), 3, (4, 10, 10), (0, 2, 2), (0, 1.0), (0.9, 1.1), 0.2, 0.2, 3)
    m = separable_map(t, roi, fg.Coordinate(VS))
    k, i, j = (rng.integers(0, n, 50) for n in m.shape)
    c = m.c0[j]
    field = sum(m.weights[j, q][None] * m.field[:, k, i, c + q] for q in range(4))
    index = np.stack([k, i, j])
    via_map = (m.alpha[:, None] + m.beta @ index + m.shift[:, k] + field).T
    centres = np.asarray(roi.begin) + (index.T + 0.5) * np.asarray(VS)
    via_points = t.source_points(centres) / np.asarray(VS) - 0.5
    assert np.allclose(via_map, via_points, atol=1e-3)
    lo, hi = map_bounds(m)
    assert (via_map >= lo - 1e-6).all() and (via_map <= hi + 1e-6).all()


def test_inverse_of_the_point_transform() -> None:
    t = draw_transform(
        np.random.default_rng(3),
        fg.Roi((0, 0, 0), (800, 320, 320)),
        fg.Coordinate(VS),
        3,
        (4, 10, 10),
        (0, 2, 2),
        (0, 1.0),
        (1, 1),
        0,
        0,
        0,
    )
    assert isinstance(t, Transform)
    x = np.random.default_rng(4).uniform(0, 300, (100, 3))
    assert np.allclose(t.source_points(t.output_points(x)), x, atol=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        (dict(CREMI, control_point_spacing=[0, 10, 10]), "control_point_spacing"),
        (dict(CREMI, jitter_sigma=[0, -1, 2]), "jitter_sigma"),
        (dict(CREMI, rotation_interval=[1, 0]), "rotation_interval"),
        (dict(CREMI, scale_interval=[0, 1]), "scale_interval"),
        (dict(CREMI, prob_slip=0.7, prob_shift=0.7), "prob_slip"),
        (dict(CREMI, spatial_dims=4), "spatial_dims"),
        (dict(CREMI, p=2), "p"),
    ],
)
def test_bad_arguments(kwargs: dict, parameter: str) -> None:
    with pytest.raises(fg.ConfigError, match=parameter):
        fg.ElasticAugment(**kwargs)


def test_one_dimensional_data_is_refused_at_setup() -> None:
    spec = fg.ArraySpec(roi=fg.Roi((0,), (10,)), voxel_size=(1,))
    source = fg.ArraySource(RAW, fg.Array(np.zeros(10, np.float32), spec))
    with pytest.raises(fg.SetupError, match="spatial_dims"), fg.build(source + fg.ElasticAugment(4, 1, [0, 0])):
        pass


def test_integer_images_keep_their_dtype() -> None:
    """uint8 raw (interpolatable) before Normalize: interpolated, rounded back to uint8."""
    data = (np.arange(40 * 40) % 251).astype(np.uint8).reshape(40, 40)
    spec = fg.ArraySpec(roi=fg.Roi((0, 0), (160, 160)), voxel_size=(4, 4), interpolatable=True)
    r = fg.BatchRequest(random_seed=5)
    r.add(RAW, (60, 60))
    pipeline = fg.ArraySource(RAW, fg.Array(data, spec)) + fg.RandomLocation()
    with fg.build(pipeline + fg.ElasticAugment([10, 10], [1, 1], [0, 0.5], spatial_dims=2)) as p:
        out = p.request_batch(r)[RAW].data
    assert out.dtype == np.uint8 and out.shape == (15, 15)
    assert data.min() <= out.min() and out.max() <= data.max()


def test_gunpowder_point_flags_are_accepted_and_points_stay_exact() -> None:
    # gunpowder's fast points transform rasterises points and may lose some; flowgraph's points
    # are always moved exactly, so both flags give the same points
    import itertools

    outs = []
    for fast, recompute in itertools.product((False, True), repeat=2):
        node = fg.ElasticAugment(
            (4, 10, 10), (0, 2, 2), (0, 0.5), use_fast_points_transform=fast, recompute_missing_points=recompute
        )
        assert node.use_fast_points_transform is fast and node.recompute_missing_points is recompute
        with fg.build(testing.sources() + fg.RandomLocation() + node) as p:
            outs.append(p.request_batch(testing.default_request(3))[testing.POINTS].locations)
    for other in outs[1:]:
        np.testing.assert_array_equal(outs[0], other)
