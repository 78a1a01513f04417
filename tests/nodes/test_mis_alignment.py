"""MisAlignment: slips, translations and rotations of sections, checked on coordinate-encoding data."""

from __future__ import annotations

import math

import numpy as np
import pytest

import flowgraph as fg
from flowgraph.nodes.mis_alignment import max_angle
from flowgraph.nodes.spatial import voxel_centres

RAW, LABELS, POINTS, DISP = fg.ArrayKey("RAW"), fg.ArrayKey("LABELS"), fg.GraphKey("POINTS"), fg.ArrayKey("DISP")
VS = (4, 2, 2)
SHAPE = (10, 60, 60)
ROI = fg.Roi((8, 30, 30), (24, 60, 60))  # 6 sections of 30 x 30 voxels, 15 voxels from every border


def coordinates(shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    """float64 ``z * 10000 + y * 100 + x`` (voxel indices): exact under integer shifts."""
    grids = np.meshgrid(*[np.arange(s, dtype=np.float64) for s in shape], indexing="ij")
    return sum(g * 100 ** (len(shape) - 1 - d) for d, g in enumerate(grids))


def cells(shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    """uint64 ids above 2**53, constant on 5 x 5 in-plane blocks per section."""
    grids = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    index = grids[0] * 10000 + grids[-2] // 5 * 100 + grids[-1] // 5
    return (index.astype(np.uint64) + np.uint64(2**60)).astype(np.uint64)


def block_centres(shape: tuple[int, ...] = SHAPE, vs: tuple[int, ...] = VS) -> tuple[np.ndarray, np.ndarray]:
    """Points at the centre of every 5 x 5 block of every section, and the ids of their cells."""
    z, y, x = np.meshgrid(np.arange(shape[0]), np.arange(2, shape[1], 5), np.arange(2, shape[2], 5), indexing="ij")
    locations = np.stack([(z + 0.5) * vs[0], (y + 0.5) * vs[1], (x + 0.5) * vs[2]], -1).reshape(-1, 3)
    ids = cells(shape)[z, y, x].ravel()
    return locations, ids


def pipeline(node: fg.BatchFilter, shape: tuple[int, ...] = SHAPE, vs: tuple[int, ...] = VS) -> fg.Pipeline:
    roi = fg.Roi((0,) * len(shape), tuple(s * v for s, v in zip(shape, vs, strict=True)))
    locations, ids = block_centres(shape, vs) if len(shape) == 3 else (np.zeros((0, 2)), np.zeros(0, np.uint64))
    graph = fg.Graph(np.arange(len(ids)), locations, fg.GraphSpec(roi=roi), attributes={"cell": ids})
    return (
        (
            fg.ArraySource(RAW, fg.Array(coordinates(shape), fg.ArraySpec(roi=roi, voxel_size=vs))),
            fg.ArraySource(LABELS, fg.Array(cells(shape), fg.ArraySpec(roi=roi, voxel_size=vs, interpolatable=False))),
            fg.GraphSource(POINTS, graph),
        )
        + fg.MergeProvider()
        + node
    )


def request(seed: int, roi: fg.Roi = ROI, *keys: fg.ArrayKey | fg.GraphKey) -> fg.BatchRequest:
    r = fg.BatchRequest(random_seed=seed)
    for key in keys or (RAW, LABELS, POINTS):
        r[key] = fg.GraphSpec(roi=roi) if isinstance(key, fg.GraphKey) else fg.ArraySpec(roi=roi)
    return r


def expected(roi: fg.Roi = ROI) -> np.ndarray:
    begin = [b // v for b, v in zip(roi.begin, VS, strict=True)]
    return coordinates()[tuple(slice(b, b + s // v) for b, s, v in zip(begin, roi.shape, VS, strict=True))]


def test_max_angle_moves_the_corners_by_the_displacement() -> None:
    angle = max_angle(16, 256, 256)
    corner = np.array([128.0, 128.0])
    turned = [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]] @ corner
    assert np.linalg.norm(turned - corner) == pytest.approx(16)
    assert max_angle(1000, 4, 4) == pytest.approx(math.pi)  # capped: at most half a turn
    assert max_angle(0, 256, 256) == 0.0


def test_slips_and_translations_move_whole_sections_by_whole_voxels() -> None:
    kinds = set()
    with fg.build(pipeline(fg.MisAlignment(displacement=4, p=1.0))) as p:
        for seed in range(40):
            out = p.request_batch(request(seed))[RAW].data
            diff = out - expected()
            per_section = [np.unique(d) for d in diff]
            assert all(len(u) == 1 for u in per_section), "every section is shifted as a whole"
            shifts = np.array([u[0] for u in per_section])
            moved = np.flatnonzero(shifts)
            assert len(moved) >= 1 and shifts[0] == 0 and 1 <= moved[0] <= len(shifts) - 2
            dx = round((shifts[moved[0]] + 50) % 100 - 50)  # the value moved by dy * 100 + dx
            dy = round((shifts[moved[0]] - dx) / 100)
            assert max(abs(dy), abs(dx)) <= 4 and (dy, dx) != (0, 0)
            if len(moved) == 1 and moved[0] < len(shifts) - 1:
                kinds.add("slip")
            else:
                assert list(moved) == list(range(moved[0], len(shifts))) and len(set(shifts[moved])) == 1
                kinds.add("translation")
    assert kinds == {"slip", "translation"}


def test_labels_stay_exact_and_points_on_their_labels() -> None:
    for ratio in (0.0, 1.0):
        with fg.build(pipeline(fg.MisAlignment(displacement=6, rotate_ratio=ratio, p=1.0))) as p:
            for seed in range(6):
                batch = p.request_batch(request(seed))
                labels, points = batch[LABELS].data, batch[POINTS]
                assert labels.dtype == np.uint64 and set(np.unique(labels)) <= set(np.unique(cells()))
                index = ((points.locations - np.asarray(ROI.begin)) // np.asarray(VS)).astype(int)
                assert len(points) > 50
                # a point may sit on a block border after a rotation; it stays within one voxel of its cell
                hits = [
                    cell in labels[z, max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2]
                    for (z, y, x), cell in zip(index, points.attributes["cell"], strict=True)
                ]
                assert all(hits)
                if ratio == 0.0:  # whole-voxel shifts: every point exactly on its cell
                    assert all(labels[z, y, x] == c for (z, y, x), c in zip(index, points.attributes["cell"]))


def test_rotations_turn_the_moved_sections_within_the_angle() -> None:
    roi = fg.Roi((8, 30, 30), (24, 60, 60))
    node = fg.MisAlignment(displacement=5, rotate_ratio=1.0, p=1.0, displacement_key=DISP)
    with fg.build(pipeline(node)) as p:
        for seed in range(10):
            batch = p.request_batch(request(seed, roi, RAW, DISP))
            disp = batch[DISP].data
            moved = [z for z in range(disp.shape[1]) if np.abs(disp[:, z]).max() > 0]
            assert moved and moved[0] >= 1 and not disp[0].any()  # sections stay sections
            centres = np.stack([np.broadcast_to(c, disp.shape[1:]) for c in voxel_centres(roi, fg.Coordinate(VS))])
            source = centres + disp  # world position each output voxel was read from
            z = moved[0]
            rel = centres[1:, z] - 60.0
            src = source[1:, z] - 60.0
            angle = math.atan2(
                rel[0, 0, -1] * src[1, 0, -1] - rel[1, 0, -1] * src[0, 0, -1], np.dot(rel[:, 0, -1], src[:, 0, -1])
            )
            assert 0 < abs(angle) <= max_angle(5 * 2, 60, 60) + 1e-9
            np.testing.assert_allclose(np.linalg.norm(src, axis=0), np.linalg.norm(rel, axis=0), atol=1e-3)  # rigid
            # the image agrees with the map: coordinates read at the sources (linear data, linear interpolation)
            values = batch[RAW].data[z]
            y, x = source[1, z] / 2 - 0.5, source[2, z] / 2 - 0.5
            np.testing.assert_allclose(values, (source[0, z] / 4 - 0.5) * 10000 + y * 100 + x, atol=1e-6)


def test_p_zero_is_the_identity_and_the_same_seed_the_same_batch() -> None:
    with fg.build(pipeline(fg.MisAlignment(p=0.0))) as p:
        batch = p.request_batch(request(3))
    np.testing.assert_array_equal(batch[RAW].data, expected())
    with fg.build(pipeline(fg.MisAlignment(3, rotate_ratio=0.5, p=1.0))) as p:
        a, b, c = (p.request_batch(request(s))[RAW].data for s in (5, 5, 6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, expected())


def test_two_dimensional_data_and_single_sections_pass_unchanged() -> None:
    with fg.build(pipeline(fg.MisAlignment(p=1.0), shape=(60, 60), vs=(2, 2))) as p:
        out = p.request_batch(request(0, fg.Roi((30, 30), (60, 60)), RAW, LABELS))
    np.testing.assert_array_equal(out[RAW].data, coordinates((60, 60))[15:45, 15:45])
    one = fg.Roi((8, 30, 30), (4, 60, 60))
    with fg.build(pipeline(fg.MisAlignment(p=1.0))) as p:
        np.testing.assert_array_equal(p.request_batch(request(0, one))[RAW].data, expected(one))


def test_the_seed_documents_configuration_runs_on_a_connectomics_sample() -> None:
    data = np.random.default_rng(0).random((12, 320, 320), dtype=np.float32)
    roi = fg.Roi((0, 0, 0), (12, 320, 320))
    source = fg.ArraySource(RAW, fg.Array(data, fg.ArraySpec(roi=roi, voxel_size=(1, 1, 1))))
    with fg.build(source + fg.RandomLocation() + fg.MisAlignment(displacement=16, rotate_ratio=0.5, p=0.5)) as p:
        shapes = {p.request_batch(request(s, fg.Roi((0, 0, 0), (8, 256, 256)), RAW))[RAW].data.shape for s in range(6)}
    assert shapes == {(8, 256, 256)}


def test_bad_arguments_name_the_parameter() -> None:
    with pytest.raises(fg.ConfigError, match="displacement"):
        fg.MisAlignment(displacement=-2)
    with pytest.raises(fg.ConfigError, match="rotate_ratio"):
        fg.MisAlignment(rotate_ratio=2)
