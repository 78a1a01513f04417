"""Squeeze and Unsqueeze (gunpowder's: leading axes only, spec unchanged), and 2-D training from 3-D stacks."""

from __future__ import annotations

import numpy as np
import pytest
from test_mis_alignment import LABELS, POINTS, RAW, cells, coordinates, pipeline, request

import flowgraph as fg
from flowgraph.nodes.squeeze import squeeze
from flowgraph.nodes.unsqueeze import unsqueeze

ONE = fg.Roi((12, 30, 30), (4, 60, 60))  # one section


def test_the_pure_functions_are_views() -> None:
    data = np.arange(12.0).reshape(1, 3, 4)
    assert squeeze(data, 0).shape == (3, 4) and np.shares_memory(squeeze(data, 0), data)
    assert unsqueeze(data, 1).shape == (1, 1, 3, 4) and np.shares_memory(unsqueeze(data, 1), data)


def test_unsqueeze_then_squeeze_round_trips_with_the_spec_unchanged() -> None:
    with fg.build(pipeline(fg.Unsqueeze([RAW, LABELS]))) as p:
        up = p.request_batch(request(0, ONE, RAW, LABELS))
        plain = p.request_batch(request(0, ONE, POINTS))
    assert up[RAW].data.shape == (1, 1, 30, 30) and up[LABELS].data.dtype == np.uint64
    assert up[RAW].spec.roi == ONE and up[RAW].spec.voxel_size == fg.Coordinate((4, 2, 2)) and len(plain[POINTS])
    with fg.build(pipeline(fg.Unsqueeze([RAW]) + fg.Unsqueeze([RAW], axis=1) + fg.Squeeze([RAW], axis=1))) as p:
        twice = p.request_batch(request(0, ONE, RAW))[RAW]
    np.testing.assert_array_equal(twice.data[0], coordinates()[3:4, 15:45, 15:45])
    with fg.build(pipeline(fg.Unsqueeze([RAW]) + fg.Stack(2) + fg.Squeeze([RAW], axis=1))) as p:
        stacked = p.request_batch(request(0, ONE, RAW))[RAW].data  # (batch, section, y, x) for a 2-D network
    assert stacked.shape == (2, 1, 30, 30)


def test_spatial_axes_are_refused_as_in_gunpowder() -> None:
    with fg.build(pipeline(fg.Squeeze([RAW], axis=0))) as p, pytest.raises(fg.PipelineRequestError, match="axis=0"):
        p.request_batch(request(0, ONE, RAW))  # axis 0 is the (one-section) z axis: spatial
    with fg.build(pipeline(fg.Unsqueeze([RAW], axis=1))) as p, pytest.raises(fg.RequestError, match="spatial axes"):
        p.request_batch(request(0, ONE, RAW))
    with pytest.raises(fg.ConfigError, match="arrays"):
        fg.Squeeze(RAW)  # type: ignore[arg-type]
    with pytest.raises(fg.ConfigError, match="axis"):
        fg.Unsqueeze([RAW], axis=-1)


@pytest.mark.parametrize(
    "node",
    [
        fg.ElasticAugment([10, 10], [1, 1], [0, 1.0], spatial_dims=2),
        fg.SimpleAugment(spatial_dims=2),
        fg.MisAlignment(4, rotate_ratio=0.5, p=1.0),
        fg.Rescale(p=1.0),
        fg.MissingSection(p=1.0),
    ],
    ids=lambda n: type(n).__name__,
)
def test_one_section_requests_and_two_dimensional_images_pass_the_geometric_nodes(node: fg.BatchFilter) -> None:
    with fg.build(pipeline(node)) as p:
        for seed in range(4):
            batch = p.request_batch(request(seed, ONE))
            assert batch[RAW].data.shape == (1, 30, 30) and batch[LABELS].data.shape == (1, 30, 30)
            assert set(np.unique(batch[LABELS].data)) <= set(np.unique(cells()))
            # the section stays the requested one (in-plane transforms only)
            assert np.all(np.round(batch[RAW].data) // 10000 == 3)
    flat = fg.Roi((30, 30), (60, 60))
    with fg.build(pipeline(node, shape=(60, 60), vs=(2, 2))) as p:
        batch = p.request_batch(request(1, flat, RAW, LABELS))
    assert batch[RAW].data.shape == (30, 30) and set(np.unique(batch[LABELS].data)) <= set(np.unique(cells((60, 60))))


def test_simple_augment_with_spatial_dims_two_leaves_the_section_axis_alone() -> None:
    roi = fg.Roi((8, 30, 30), (24, 60, 60))
    with fg.build(pipeline(fg.SimpleAugment(spatial_dims=2, mirror_probs=1.0))) as p:
        out = p.request_batch(request(0, roi, RAW))[RAW].data
    np.testing.assert_array_equal(out[:, 0, 0] // 10000, np.arange(2, 8))  # z neither mirrored nor moved
    assert out[0, 0, 0] % 10000 == 4444  # y and x mirrored: the last voxel (44, 44) comes first
    with pytest.raises(fg.SetupError, match="spatial_dims"):
        fg.build(pipeline(fg.SimpleAugment(spatial_dims=3), shape=(60, 60), vs=(2, 2))).__enter__()
