"""Batch previews: sections, colours, placement at the ROI, rows per node (steps)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

import flowgraph as fg
from flowgraph.visualize.preview import BACKGROUND, POINT_COLOR, _section, array_kind, label_colors, record_steps

RAW = fg.ArrayKey("RAW")
LABELS = fg.ArrayKey("LABELS")
MASK = fg.ArrayKey("MASK")
POINTS = fg.GraphKey("POINTS")
VS = (4, 1, 1)


def coordinate_volume(shape: tuple[int, ...]) -> np.ndarray:
    """``value = z * 10000 + y * 100 + x``."""
    z, y, x = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    return (z * 10000 + y * 100 + x).astype(np.int64)


def arr(data: np.ndarray, offset: tuple[int, ...], interpolatable: bool | None = None) -> fg.Array:
    roi = fg.Roi(offset, tuple(s * v for s, v in zip(data.shape[-3:], VS)))
    return fg.Array(data, fg.ArraySpec(roi=roi, voxel_size=VS, interpolatable=interpolatable))


def pixels(path: str) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def test_array_kinds() -> None:
    assert array_kind(arr(np.zeros((2, 4, 4), np.float32), (0, 0, 0))) == "image"
    assert array_kind(arr(np.zeros((2, 4, 4), np.uint8), (0, 0, 0), True)) == "image"
    assert array_kind(arr(np.ones((2, 4, 4), np.uint8), (0, 0, 0), False)) == "mask"
    assert array_kind(arr(np.ones((2, 4, 4), bool), (0, 0, 0), False)) == "mask"
    assert array_kind(arr(np.full((2, 4, 4), 2**40, np.uint64), (0, 0, 0), False)) == "labels"


def test_label_colors_are_stable_distinct_and_black_for_background() -> None:
    ids = np.array([0, 1, 2, 2**40, 2**40 + 1, 1], np.uint64)
    rgb = label_colors(ids)
    assert rgb.shape == (6, 3) and rgb.dtype == np.uint8
    assert rgb[0].tolist() == [0, 0, 0]
    assert (rgb[1] == rgb[5]).all()
    assert len({tuple(c) for c in rgb[1:5]}) == 4
    assert (rgb[1:].max(axis=1) >= 100).all()


def test_section_through_a_world_position() -> None:
    data = coordinate_volume((5, 4, 6))
    a = arr(data, (40, 0, 0))
    sec, note = _section(a, 0, 52, None)  # world z 52 = voxel (52 - 40) // 4 = 3
    np.testing.assert_array_equal(sec, data[3])
    assert note == " [z=3]"
    sec, _ = _section(a, 0, 1000, None)  # outside: the nearest section
    np.testing.assert_array_equal(sec, data[4])
    sec, note = _section(a, 2, 3, None)  # cut across x: a (z, y) section at x = 3
    np.testing.assert_array_equal(sec, data[:, :, 3])
    channels = fg.Array(np.stack([data, -data]), a.spec)
    sec, note = _section(channels, 0, 44, None)
    np.testing.assert_array_equal(sec, data[1])
    assert "channel 0 of 2" in note


def test_preview_places_arrays_at_their_roi(tmp_path: str) -> None:
    raw = np.full((3, 40, 40), 200, np.uint8)
    labels = np.full((3, 20, 20), 7, np.uint64)
    mask = np.zeros((3, 40, 40), np.uint8)
    mask[:, :, 20:] = 1
    batch = fg.Batch(
        {
            RAW: arr(raw, (0, 0, 0), True),
            LABELS: arr(labels, (0, 10, 10), False),
            MASK: arr(mask, (0, 0, 0), False),
        }
    )
    path = fg.preview(batch, os.path.join(tmp_path, "p.png"), size=80)
    img = pixels(path)
    # layout: panels of 80 x 80 px (scale 2 px per world unit); columns RAW, LABELS, RAW + LABELS
    head, cell_w = 34, 80 + 12
    top = head + 22

    def at(column: int, y: float, x: float) -> list[int]:
        return img[top + int(y * 2), 6 + column * cell_w + int(x * 2)].tolist()

    assert at(0, 5, 5) == [200, 200, 200]  # RAW, outside the mask: grey as is
    tint = (0.7 * 200 + 0.3 * np.array([0, 200, 255])).astype(np.uint8).tolist()
    assert at(0, 5, 35) == tint  # inside the mask: the first overlay colour
    assert at(1, 20, 20) == label_colors(np.array([7], np.uint64))[0].tolist()  # LABELS at its ROI
    assert at(1, 5, 5) == list(BACKGROUND)  # outside the labels' ROI
    blended = (0.55 * 200 + 0.45 * label_colors(np.array([7], np.uint64))[0].astype(np.float32)).astype(np.uint8)
    assert at(2, 20, 20) == blended.tolist()
    assert at(2, 5, 5) == [200, 200, 200]


def test_points_are_dots(tmp_path: str) -> None:
    raw = np.zeros((3, 40, 40), np.float32)
    graph = fg.Graph(
        [1, 2], [[6.0, 10.0, 30.0], [100.0, 20.0, 20.0]], fg.GraphSpec(roi=fg.Roi((0, 0, 0), (200, 40, 40)))
    )
    batch = fg.Batch({RAW: arr(raw, (0, 0, 0)), POINTS: graph})
    img = pixels(fg.preview(batch, os.path.join(tmp_path, "p.png"), size=40))
    panel = img[34 + 22 : 34 + 22 + 40, 6 : 6 + 40]
    yellow = np.all(panel == POINT_COLOR, axis=-1)
    ys, xs = np.nonzero(yellow)
    assert yellow.sum() > 5
    assert abs(ys.mean() - 10) < 1.5 and abs(xs.mean() - 30) < 1.5  # only the point in the section (z = 6)


def test_rows_and_titles(tmp_path: str) -> None:
    def batch(value: float) -> fg.Batch:
        return fg.Batch({RAW: arr(np.full((2, 8, 8), value, np.float32), (0, 0, 0))})

    path = fg.preview({"first": batch(0.0), "second": batch(1.0)}, os.path.join(tmp_path, "p.png"), size=32, title="t")
    img = pixels(path)
    assert img.shape[0] > 2 * 32 and img.shape[1] > 32
    values = {tuple(v) for v in img.reshape(-1, 3).tolist()}
    assert (0, 0, 0) in values and (255, 255, 255) in values
    with pytest.raises(fg.ConfigError, match="at least one Batch"):
        fg.preview([], os.path.join(tmp_path, "q.png"))
    with pytest.raises(fg.ConfigError, match="size must be"):
        fg.preview(batch(0.0), os.path.join(tmp_path, "q.png"), size=4)


class AddOne(fg.BatchFilter):
    def __init__(self, key: fg.ArrayKey) -> None:
        self.key = key

    def setup(self) -> None:
        self.updates(self.key)

    def process(self, batch: fg.Batch, request: fg.BatchRequest) -> None:
        batch[self.key].data += 1  # in place: the recorded earlier steps must not change


def small_pipeline() -> tuple[fg.Pipeline, list[fg.BatchProvider]]:
    data = coordinate_volume((4, 10, 10)).astype(np.float32)
    nodes = [fg.ArraySource(RAW, arr(data, (0, 0, 0))), fg.Normalize(RAW, factor=0.5), fg.RandomLocation(), AddOne(RAW)]
    return nodes[0] + nodes[1] + nodes[2] + nodes[3], nodes


def test_record_steps_shows_each_change(tmp_path: str) -> None:
    pipeline, nodes = small_pipeline()
    req = fg.BatchRequest(random_seed=2)
    req.add(RAW, (8, 4, 4))
    with fg.build(pipeline) as p:
        steps = record_steps(p, req)
        direct = p.request_batch(req)
    # RandomLocation only moved the ROI: no row of its own
    assert [name for name, _ in steps] == ["source: ArraySource(RAW)", "after Normalize(RAW)", "after AddOne(RAW)"]
    source, normalized, final = (b[RAW].data for _, b in steps)
    np.testing.assert_array_equal(normalized, source * 0.5)
    np.testing.assert_array_equal(final, normalized + 1)
    np.testing.assert_array_equal(final, direct[RAW].data)
    assert all("request_batch" not in vars(n) for n in nodes)  # the recording hooks are gone


def test_preview_pipeline_writes_a_montage(tmp_path: str) -> None:
    pipeline, _ = small_pipeline()
    req = fg.BatchRequest()
    req.add(RAW, (8, 4, 4))
    path = fg.preview_pipeline(pipeline, req, os.path.join(tmp_path, "s.png"), samples=2, steps=True, seed=5, size=32)
    img = pixels(path)
    assert img.shape[0] > 6 * 32  # 2 samples x 3 steps
    path = fg.preview_pipeline(pipeline, req, os.path.join(tmp_path, "n.png"), samples=3, seed=5, size=32)
    assert pixels(path).shape[0] > 3 * 32
    with pytest.raises(fg.ConfigError, match="samples must be a positive integer"):
        fg.preview_pipeline(pipeline, req, os.path.join(tmp_path, "x.png"), samples=0)


@pytest.mark.parametrize("workers", [0, 2])
def test_record_steps_sees_every_node_behind_a_precache(workers: int) -> None:
    """Steps are records that travel with the batch: the nodes in PreCache's worker processes show too."""
    req = fg.BatchRequest(random_seed=2)
    req.add(RAW, (8, 4, 4))
    pipeline, _ = small_pipeline()
    with fg.build(pipeline) as p:
        plain = record_steps(p, req)
    pipeline, _ = small_pipeline()
    with fg.build(pipeline + fg.PreCache(num_workers=workers, cache_size=1)) as p:
        cached = record_steps(p, req)
    # one row per node of the main chain that changed something; PreCache changes nothing
    assert (
        [name for name, _ in cached]
        == [name for name, _ in plain]
        == [
            "source: ArraySource(RAW)",
            "after Normalize(RAW)",
            "after AddOne(RAW)",
        ]
    )
    for (_, a), (_, b) in zip(plain, cached):
        np.testing.assert_array_equal(a[RAW].data, b[RAW].data)
