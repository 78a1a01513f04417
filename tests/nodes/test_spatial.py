"""The spatial kit: displacement exact on coordinate data, labels exact, points on labels, the gate."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import flowgraph as fg
from flowgraph.nodes.spatial import SmoothTransform, SpatialAugment, voxel_centres

COORDS = fg.ArrayKey("COORDS")
LABELS = fg.ArrayKey("LABELS")
POINTS = fg.GraphKey("POINTS")
DISP = fg.ArrayKey("DISP")


def coordinate_source(shape: tuple[int, ...], vs: tuple[int, ...]) -> fg.ArraySource:
    """COORDS: (D, *shape) float64, channel d = world coordinate d of the voxel centre."""
    roi = fg.Roi((0,) * len(shape), tuple(s * v for s, v in zip(shape, vs, strict=True)))
    centres = voxel_centres(roi, fg.Coordinate(vs))
    data = np.stack([np.broadcast_to(c, shape) for c in centres]).astype(np.float64)
    return fg.ArraySource(COORDS, fg.Array(data, fg.ArraySpec(roi=roi, voxel_size=vs, interpolatable=True)))


def request_of(roi: fg.Roi, seed: int, *keys: Any) -> fg.BatchRequest:
    request = fg.BatchRequest(random_seed=seed)
    for key in keys:
        request[key] = fg.ArraySpec(roi=roi)
    return request


def check_displacement(node: SpatialAugment, shape: tuple[int, ...], vs: tuple[int, ...], roi: fg.Roi, atol: float):
    """The output's coordinate channels equal p + displacement[p] at every voxel centre p; returns the displacements."""
    found = []
    with fg.build(coordinate_source(shape, vs) + node) as p:
        assert p.spec[DISP].voxel_size == fg.Coordinate(vs) and p.spec[DISP].dtype == np.float32
        for seed in range(4):
            batch = p.request_batch(request_of(roi, seed, COORDS, DISP))
            disp = batch[DISP]
            assert disp.data.dtype == np.float32 and disp.data.shape == (roi.dims, *(roi.shape // vs).ints())
            assert disp.roi == roi
            centres = np.stack([np.broadcast_to(c, disp.data.shape[1:]) for c in voxel_centres(roi, fg.Coordinate(vs))])
            np.testing.assert_allclose(batch[COORDS].data, centres + disp.data, rtol=0, atol=atol)
            found.append(disp.data)
    return found


def test_elastic_displacement_is_exact_on_coordinate_data() -> None:
    node = fg.ElasticAugment(
        [2, 6, 6], [0, 1.5, 1.5], [0, math.pi], prob_slip=0.2, prob_shift=0.2, max_misalign=2, displacement=DISP
    )
    found = check_displacement(node, (20, 60, 60), (4, 2, 2), fg.Roi((16, 40, 40), (40, 40, 40)), 1e-3)
    assert all(np.abs(d).max() > 2 for d in found)  # it did move things


def test_elastic_displacement_in_two_dimensions() -> None:
    node = fg.ElasticAugment([5, 5], [1, 1], [0, 1.0], scale_interval=(0.8, 1.2), spatial_dims=2, displacement=DISP)
    found = check_displacement(node, (60, 60), (3, 3), fg.Roi((45, 45), (90, 90)), 1e-3)
    assert all(np.abs(d).max() > 1 for d in found)


def test_simple_displacement_is_exact_and_transposes() -> None:
    node = fg.SimpleAugment(transpose_only=(1, 2), mirror_probs=0.7, displacement=DISP)
    found = check_displacement(node, (6, 8, 8), (2, 1, 1), fg.Roi((2, 2, 2), (8, 4, 4)), 0.0)
    assert any(np.abs(d).max() > 0 for d in found)


def test_displacement_is_zero_when_the_gate_is_closed() -> None:
    nodes = (
        fg.ElasticAugment([2, 6, 6], [0, 1, 1], [0, 1], p=0, displacement=DISP),
        fg.SimpleAugment(p=0, transpose_only=(1, 2), displacement=DISP),
    )
    for node in nodes:
        with fg.build(coordinate_source((6, 20, 20), (2, 1, 1)) + node) as p:
            batch = p.request_batch(request_of(fg.Roi((2, 5, 5), (8, 10, 10)), 0, COORDS, DISP))
        assert batch[DISP].data.shape == (3, 4, 10, 10) and not batch[DISP].data.any()


class Zoom(SpatialAugment):
    """A test node on the kit: in-plane zoom by a factor in [low, high] about the request's centre."""

    def __init__(self, low: float, high: float, p: float = 1.0, displacement: fg.ArrayKey | None = None) -> None:
        super().__init__("Zoom", p, displacement)
        self.low, self.high = low, high

    def setup(self) -> None:
        self.announce(self.spatial_specs())

    def draw_params(self, rng: np.random.Generator, request: fg.BatchRequest) -> SmoothTransform:
        roi = request.total_roi()
        factor = rng.uniform(self.low, self.high)
        matrix = np.eye(roi.dims)
        matrix[-2:, -2:] /= factor
        return SmoothTransform.affine(np.asarray(roi.begin) + np.asarray(roi.shape) / 2, matrix)


def labelled_sources() -> fg.Pipeline:
    """LABELS: uint64 ids above 2**53 in 4 x 4 blocks; POINTS at the centre of every block."""
    ids = (np.arange(10 * 10, dtype=np.uint64).reshape(10, 10) + np.uint64(2**60)).repeat(4, 0).repeat(4, 1)
    spec = fg.ArraySpec(roi=fg.Roi((0, 0), (40, 40)), voxel_size=(1, 1), interpolatable=False)
    centres = np.stack(np.meshgrid(np.arange(10) * 4 + 2.0, np.arange(10) * 4 + 2.0, indexing="ij"), -1).reshape(-1, 2)
    graph = fg.Graph(np.arange(100), centres, fg.GraphSpec(roi=fg.Roi((0, 0), (40, 40))))
    return (fg.ArraySource(LABELS, fg.Array(ids, spec)), fg.GraphSource(POINTS, graph)) + fg.MergeProvider()


def test_a_new_node_keeps_labels_exact_and_points_on_their_labels() -> None:
    roi = fg.Roi((10, 10), (20, 20))
    with fg.build(labelled_sources() + Zoom(0.6, 1.6)) as p:
        for seed in range(6):
            request = fg.BatchRequest(random_seed=seed)
            request[LABELS] = fg.ArraySpec(roi=roi)
            request[POINTS] = fg.GraphSpec(roi=roi)
            batch = p.request_batch(request)
            labels, points = batch[LABELS].data, batch[POINTS]
            assert labels.dtype == np.uint64 and labels.min() >= 2**60
            assert set(np.unique(labels)) <= set(np.arange(100, dtype=np.uint64) + np.uint64(2**60))
            assert len(points) > 0
            for node_id, (y, x) in zip(points.ids, points.locations, strict=True):
                assert labels[int(y) - 10, int(x) - 10] == np.uint64(2**60) + np.uint64(node_id)


class Spy(fg.BatchFilter):
    def __init__(self) -> None:
        self.seen: list[fg.Roi] = []

    def provide(self, request: fg.BatchRequest) -> fg.Batch:
        self.seen.append(request[COORDS].roi)
        return self.upstream.request_batch(request)


def test_the_gate_is_drawn_in_prepare_and_upstream_sees_the_grown_request_only_when_open() -> None:
    spy = Spy()
    node = Zoom(0.5, 0.6, p=0.5)
    roi = fg.Roi((2, 20, 20), (4, 20, 20))
    with fg.build(coordinate_source((6, 60, 60), (2, 1, 1)) + spy + node) as p:
        outputs = [p.request_batch(request_of(roi, seed, COORDS))[COORDS].data for seed in range(30)]
        opened = [bool(node.rng(request_of(roi, seed, COORDS)).random() < 0.5) for seed in range(30)]
    assert 3 < sum(opened) < 27
    source = coordinate_source((6, 60, 60), (2, 1, 1)).array.data[:, 1:3, 20:40, 20:40]
    for seen, out, is_open in zip(spy.seen, outputs, opened, strict=True):
        assert (seen != roi) == is_open and seen.contains(roi)  # zooming out reads a larger box
        assert np.array_equal(out, source) != is_open


def test_identity_at_zero_strength_is_exact_and_reads_only_the_request() -> None:
    spy = Spy()
    roi = fg.Roi((2, 20, 20), (4, 20, 20))
    with fg.build(coordinate_source((6, 60, 60), (2, 1, 1)) + spy + Zoom(1.0, 1.0, displacement=DISP)) as p:
        batch = p.request_batch(request_of(roi, 0, COORDS, DISP))
    assert spy.seen == [roi] and not batch[DISP].data.any()
    np.testing.assert_array_equal(
        batch[COORDS].data, coordinate_source((6, 60, 60), (2, 1, 1)).array.data[:, 1:3, 20:40, 20:40]
    )


def test_bad_displacement_key_names_the_parameter() -> None:
    with pytest.raises(fg.ConfigError, match="displacement"):
        fg.ElasticAugment([2, 6, 6], [0, 1, 1], [0, 1], displacement="DISP")
    with pytest.raises(fg.ConfigError, match="displacement"):
        fg.SimpleAugment(displacement=POINTS)


def test_the_field_written_while_resampling_equals_the_field_computed_alone() -> None:
    # with COORDS on the field's grid the field is written by the resampling pass; alone it is computed on its own
    node = fg.ElasticAugment([2, 6, 6], [0, 1.5, 1.5], [0, math.pi], prob_slip=0.2, max_misalign=2, displacement=DISP)
    roi = fg.Roi((16, 40, 40), (40, 40, 40))
    with fg.build(coordinate_source((20, 60, 60), (4, 2, 2)) + node) as p:
        for seed in range(3):
            fused = p.request_batch(request_of(roi, seed, COORDS, DISP))[DISP].data
            alone = p.request_batch(request_of(roi, seed, DISP))[DISP].data
            np.testing.assert_allclose(fused, alone, rtol=0, atol=1e-4)
