"""DefectAugment: missing, low-contrast, artifact and folded sections, and its artifact pipeline."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import flowgraph as fg
from flowgraph.nodes.defect_augment import (
    ARTIFACT,
    DEFORM,
    LOW_CONTRAST,
    MISSING,
    blend,
    fold,
    low_contrast,
    section_kinds,
    translate,
)

RAW = fg.ArrayKey("RAW")
LABELS = fg.ArrayKey("LABELS")
ART = fg.ArrayKey("ART")
ALPHA = fg.ArrayKey("ALPHA")

VS = (4, 2, 2)
SHAPE = (8, 30, 30)  # voxels
ROI = fg.Roi((0, 0, 0), tuple(s * v for s, v in zip(SHAPE, VS, strict=True)))
REQUEST_ROI = fg.Roi((4, 12, 12), (24, 36, 36))  # 6 sections of 18 x 18, 6 voxels from every in-plane border


def coords(shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    grids = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    return sum(g * 100 ** (len(shape) - 1 - d) for d, g in enumerate(grids)).astype(np.int64)


RAW_DATA = ((coords() % 997) / 997 * 0.8 + 0.1).astype(np.float32)  # in [0.1, 0.9]: zeros only from defects
LABEL_DATA = coords().astype(np.uint64) + 1


class RecordingSource(fg.ArraySource):
    """An ArraySource that records the ROIs and seeds it is asked for, and its setups/teardowns."""

    def __init__(self, key: fg.ArrayKey, array: fg.Array) -> None:
        super().__init__(key, array)
        self.requests: list[tuple[fg.Roi, int | None]] = []
        self.setups = 0
        self.teardowns = 0

    def setup(self) -> None:
        self.setups += 1
        super().setup()

    def teardown(self) -> None:
        self.teardowns += 1

    def provide(self, request: fg.BatchRequest) -> fg.Batch:
        self.requests.append((request[self.key].roi, request.random_seed))
        return super().provide(request)


def array(data: np.ndarray, roi: fg.Roi = ROI, interpolatable: bool | None = None) -> fg.Array:
    return fg.Array(data, fg.ArraySpec(roi=roi, voxel_size=VS, interpolatable=interpolatable))


def raw_source(data: np.ndarray = RAW_DATA) -> RecordingSource:
    return RecordingSource(RAW, array(data))


def with_labels(raw: fg.BatchProvider) -> fg.Pipeline:
    return (raw, fg.ArraySource(LABELS, array(LABEL_DATA))) + fg.MergeProvider()


def request(seed: int = 0, roi: fg.Roi = REQUEST_ROI, labels: bool = False) -> fg.BatchRequest:
    r = fg.BatchRequest(random_seed=seed)
    r[RAW] = fg.ArraySpec(roi=roi)
    if labels:
        r[LABELS] = fg.ArraySpec(roi=roi)
    return r


def expected_raw(roi: fg.Roi = REQUEST_ROI, data: np.ndarray = RAW_DATA) -> np.ndarray:
    return data[tuple(slice(b // v, e // v) for b, e, v in zip(roi.begin, roi.end, VS, strict=True))]


def run(pipeline: Any, req: fg.BatchRequest) -> fg.Batch:
    with fg.build(pipeline) as p:
        return p.request_batch(req)


def defects(**kwargs: Any) -> fg.DefectAugment:
    args: dict[str, Any] = {"prob_missing": 0.0, "prob_low_contrast": 0.0}
    return fg.DefectAugment(RAW, **{**args, **kwargs})


def artifact_source(art: np.ndarray, alpha: np.ndarray, random: bool = False) -> fg.Pipeline:
    pipeline = (RecordingSource(ART, array(art)), RecordingSource(ALPHA, array(alpha))) + fg.MergeProvider()
    return pipeline + fg.RandomLocation() if random else pipeline


ART_DATA = np.random.default_rng(0).uniform(0.2, 0.6, SHAPE).astype(np.float32)
ALPHA_DATA = np.random.default_rng(1).uniform(0.0, 1.0, SHAPE).astype(np.float32)


# -- pure functions -----------------------------------------------------------------------------------


def test_section_kinds_stack_the_probabilities() -> None:
    r = np.array([0.0, 0.099, 0.1, 0.35, 0.59, 0.6, 0.99])
    assert section_kinds(r, (0.1, 0.25, 0.25, 0.0)).tolist() == [0, 0, 1, 2, 2, 4, 4]
    assert section_kinds(r, (0.0, 0.0, 0.0, 0.0)).tolist() == [4] * 7
    assert section_kinds(r, (0.0, 0.0, 0.0, 1.0)).tolist() == [3] * 7


def test_low_contrast_and_blend_formulas() -> None:
    s = RAW_DATA[:3]
    got = low_contrast(s, 0, 0.1)
    for z in range(3):
        m = np.float32(s[z].astype(np.float64).mean())
        assert got[z].tobytes() == ((s[z] - m) * np.float32(0.1) + m).tobytes()
    b = blend(s, ART_DATA[:3], ALPHA_DATA[:3])
    assert b.dtype == np.float32
    assert b.tobytes() == (s * (np.float32(1) - ALPHA_DATA[:3]) + ART_DATA[:3] * ALPHA_DATA[:3]).tobytes()


def test_fold_pushes_content_towards_the_line_and_blanks_it() -> None:
    grown = np.arange(16 * 26, dtype=np.float32).reshape(16, 26)  # section 10 x 20 with margin 3
    out = fold(grown, 3, np.array([4.0, 10.0]), np.array([0.0, 1.0]), 2.0)
    assert out.shape == (10, 20)
    section = grown[3:13, 3:23]
    # line x = 10: right of it content comes from 2 voxels further right, left of it from 2 further left
    np.testing.assert_array_equal(out[:, 11:], grown[3:13, 3 + 11 + 2 : 3 + 20 + 2])
    np.testing.assert_array_equal(out[:, :10], grown[3:13, 3 - 2 : 3 + 10 - 2])
    np.testing.assert_array_equal(out[:, 10], 0)
    assert not np.array_equal(out, section)
    # no strength: only the line changes
    flat = fold(grown, 3, np.array([4.0, 10.0]), np.array([0.0, 1.0]), 0.0)
    np.testing.assert_array_equal(np.delete(flat, 10, axis=1), np.delete(section, 10, axis=1))


def test_fold_of_an_oblique_line_is_a_line_of_zeros() -> None:
    grown = np.ones((40, 40), np.float32)
    normal = np.array([0.6, 0.8])
    out = fold(grown, 5, np.array([15.0, 12.0]), normal, 5.0)
    zeros = np.argwhere(out == 0).astype(float)
    distance = (zeros - [15.0, 12.0]) @ normal
    assert len(zeros) >= 30 and np.all(np.abs(distance) < 1.0)
    assert np.all(out[out != 0] == 1)


@pytest.mark.parametrize("seed", range(4))
def test_fold_equals_map_coordinates_on_the_flow_field(seed: int) -> None:
    from scipy.ndimage import map_coordinates

    rng = np.random.default_rng(seed)
    margin, strength = 4, 3.7
    grown = rng.uniform(0, 1, (30 + 2 * margin, 26 + 2 * margin)).astype(np.float32)
    point = rng.uniform(0, 25, 2)
    normal = rng.standard_normal(2)
    normal /= np.linalg.norm(normal)
    got = fold(grown, margin, point, normal, strength)
    yy, xx = np.meshgrid(np.arange(30.0), np.arange(26.0), indexing="ij")
    d = (yy - point[0]) * normal[0] + (xx - point[1]) * normal[1]
    side = np.where(d > 0, 1.0, -1.0)
    coordinates = np.stack([yy + margin + strength * side * normal[0], xx + margin + strength * side * normal[1]])
    reference = map_coordinates(grown, coordinates, order=1, mode="nearest")
    reference[np.abs(d) < 1.0] = 0
    np.testing.assert_allclose(got, reference, rtol=0, atol=2e-6)
    nearest = fold(grown, margin, point, normal, strength, order=0)
    reference0 = map_coordinates(grown, coordinates, order=0, mode="nearest")
    reference0[np.abs(d) < 1.0] = 0
    assert np.mean(nearest == reference0) > 0.99  # ties at .5 may round either way
    assert set(np.unique(nearest)) <= set(np.unique(grown)) | {0}


def test_translate_reads_inside_the_grown_section() -> None:
    grown = np.arange(36, dtype=np.float64).reshape(6, 6)
    np.testing.assert_array_equal(translate(grown, np.array([2.0, 0.0]), (4, 6)), grown[2:])
    np.testing.assert_array_equal(translate(grown, np.array([2.0, 2.0]), (4, 4)), grown[2:, 2:])
    np.testing.assert_allclose(
        translate(grown, np.array([0.25, 1.5]), (5, 4)),
        0.75 * (0.5 * grown[:5, 1:5] + 0.5 * grown[:5, 2:6]) + 0.25 * (0.5 * grown[1:, 1:5] + 0.5 * grown[1:, 2:6]),
    )


# -- the node --------------------------------------------------------------------------------------------


def test_identity_at_p_zero_and_with_all_probabilities_zero() -> None:
    expected = expected_raw()
    for node in (
        fg.DefectAugment(RAW, prob_missing=0.5, prob_low_contrast=0.5, p=0),
        defects(),
        defects(prob_deform=0.0, deformation_strength=50),
    ):
        source = raw_source()
        batch = run(with_labels(source) + node, request(3, labels=True))
        assert batch[RAW].data.tobytes() == expected.tobytes()
        assert [roi for roi, _ in source.requests] == [REQUEST_ROI]


def test_missing_sections_are_zero_and_labels_untouched() -> None:
    batch = run(with_labels(raw_source()) + defects(prob_missing=1.0), request(labels=True))
    assert batch[RAW].spec.roi == REQUEST_ROI
    assert batch[RAW].data.shape == (6, 18, 18) and batch[RAW].data.dtype == np.float32
    assert not batch[RAW].data.any()
    np.testing.assert_array_equal(batch[LABELS].data, expected_raw(data=LABEL_DATA))


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_low_contrast_formula_per_section(axis: int) -> None:
    out = run(raw_source() + defects(prob_low_contrast=1.0, contrast_scale=0.25, axis=axis), request())[RAW].data
    original = expected_raw()
    for i in range(original.shape[axis]):
        s = np.take(original, i, axis=axis)
        m = np.float32(s.astype(np.float64).mean())
        assert np.take(out, i, axis=axis).tobytes() == ((s - m) * np.float32(0.25) + m).tobytes()


def test_artifact_blending_matches_the_formula() -> None:
    node = defects(
        prob_artifact=1.0, artifact_source=artifact_source(ART_DATA, ALPHA_DATA), artifacts=ART, artifacts_mask=ALPHA
    )
    out = run(raw_source() + node, request())[RAW].data
    raw, art, alpha = expected_raw(), expected_raw(data=ART_DATA), expected_raw(data=ALPHA_DATA)
    assert out.tobytes() == (raw * (np.float32(1) - alpha) + art * alpha).tobytes()


def test_artifact_requests_one_section_each_with_derived_seeds() -> None:
    art_pipeline = artifact_source(ART_DATA, ALPHA_DATA, random=True)
    recorder = art_pipeline.inputs[0].inputs[0].node
    assert isinstance(recorder, RecordingSource)
    node = defects(prob_artifact=1.0, artifact_source=art_pipeline, artifacts=ART, artifacts_mask=ALPHA)
    with fg.build(raw_source() + node) as p:
        first = p.request_batch(request(9))[RAW].data
        assert len(recorder.requests) == 6
        assert all(roi.shape == (4, 36, 36) for roi, _ in recorder.requests)
        assert len({seed for _, seed in recorder.requests}) == 6
        again = p.request_batch(request(9))[RAW].data
        other = p.request_batch(request(10))[RAW].data
    assert first.tobytes() == again.tobytes() and first.tobytes() != other.tobytes()
    # the artifacts were drawn at different places for different sections
    raw = expected_raw()
    blended = [first[z] - raw[z] for z in range(6)]
    assert len({b.tobytes() for b in blended}) == 6


def test_artifact_pipeline_is_built_and_torn_down_with_the_host() -> None:
    art_pipeline = artifact_source(ART_DATA, ALPHA_DATA, random=True)
    recorders = [p.node for p in art_pipeline.walk() if isinstance(p.node, RecordingSource)]
    assert len(recorders) == 2
    node = defects(prob_artifact=0.5, artifact_source=art_pipeline, artifacts=ART, artifacts_mask=ALPHA)
    host = raw_source()
    with fg.build(host + node) as p:
        assert [r.setups for r in recorders] == [1, 1] and [r.teardowns for r in recorders] == [0, 0]
        p.request_batch(request())
    assert [r.teardowns for r in recorders] == [1, 1] and host.teardowns == 1
    # a failing host setup tears the artifact pipeline down again
    art_pipeline = artifact_source(ART_DATA, ALPHA_DATA)
    recorders = [p.node for p in art_pipeline.walk() if isinstance(p.node, RecordingSource)]
    node = defects(prob_artifact=0.5, artifact_source=art_pipeline, artifacts=ART, artifacts_mask=ALPHA, axis=5)
    with pytest.raises(fg.SetupError, match="axis=5 is out of range"):
        run(raw_source() + node, request())
    assert [r.teardowns for r in recorders] == [1, 1]


def test_fold_requests_a_margin_and_crops_back() -> None:
    source = raw_source()
    node = defects(prob_deform=1.0, deformation_strength=3)
    with fg.build(source + node) as p:
        req = request(4)
        out = p.request_batch(req)
        _, plan = node.prepare(req)
    assert out[RAW].spec.roi == REQUEST_ROI and out[RAW].data.shape == (6, 18, 18)
    grown = REQUEST_ROI.grow((0, 6, 6), (0, 6, 6))
    assert source.requests == [(grown, 4)]
    data = out[RAW].data
    upstream = expected_raw(grown)
    assert plan.margin == 3 and plan.kinds.tolist() == [DEFORM] * 6
    for z in range(6):
        zeros = np.argwhere(data[z] == 0).astype(float)
        assert len(zeros) >= 1
        # the zeros lie on the fold's line
        distance = (zeros - plan.fold_points[z]) @ plan.fold_normals[z]
        assert np.all(np.abs(distance) < 1.0)
        expected = fold(upstream[z], 3, plan.fold_points[z], plan.fold_normals[z], 3.0)
        assert data[z].tobytes() == expected.tobytes()
    assert sum(int((data[z] == 0).sum()) for z in range(6)) >= 30
    assert not np.array_equal(data, expected_raw())


def test_every_kind_occurs_and_matches_its_section() -> None:
    big = fg.Roi((0, 12, 12), (32, 36, 36))
    art = artifact_source(ART_DATA, ALPHA_DATA)
    node = fg.DefectAugment(
        RAW,
        prob_missing=0.2,
        prob_low_contrast=0.2,
        prob_artifact=0.2,
        prob_deform=0.2,
        contrast_scale=0.5,
        artifact_source=art,
        artifacts=ART,
        artifacts_mask=ALPHA,
        deformation_strength=2,
    )
    kinds_seen: set[int] = set()
    with fg.build(raw_source() + node) as p:
        for seed in range(6):
            req = request(seed, big)
            out = p.request_batch(req)[RAW].data
            _, plan = node.prepare(req)
            raw = expected_raw(big)
            for z, kind in enumerate(plan.kinds):
                kinds_seen.add(int(kind))
                if kind == MISSING:
                    assert not out[z].any()
                elif kind == LOW_CONTRAST:
                    assert out[z].std() == pytest.approx(raw[z].std() * 0.5, rel=1e-4)
                elif kind == ARTIFACT:
                    a, w = expected_raw(big, ART_DATA)[z], expected_raw(big, ALPHA_DATA)[z]
                    assert out[z].tobytes() == (raw[z] * (np.float32(1) - w) + a * w).tobytes()
                elif kind == DEFORM:
                    assert (out[z] == 0).any() and not np.array_equal(out[z], raw[z])
                else:
                    assert out[z].tobytes() == raw[z].tobytes()
    assert kinds_seen == {0, 1, 2, 3, 4}


def test_same_seed_same_batch() -> None:
    def pipeline() -> fg.Pipeline:
        return raw_source() + fg.DefectAugment(
            RAW, prob_missing=0.25, prob_low_contrast=0.25, prob_deform=0.25, deformation_strength=2
        )

    a = run(pipeline(), request(21))[RAW].data
    b = run(pipeline(), request(21))[RAW].data
    assert a.tobytes() == b.tobytes()


def test_channels_are_kept_and_defected_together() -> None:
    data = np.stack([RAW_DATA, RAW_DATA * 0.5])
    node = defects(prob_deform=1.0, deformation_strength=2)
    out = run(RecordingSource(RAW, array(data)) + node, request(2))[RAW].data
    assert out.shape == (2, 6, 18, 18)
    np.testing.assert_allclose(out[1], out[0] * 0.5, rtol=1e-6)
    out = run(RecordingSource(RAW, array(data)) + defects(prob_missing=1.0), request(2))[RAW].data
    assert not out.any()


def test_setup_errors_say_what_to_do() -> None:
    with pytest.raises(
        fg.SetupError,
        match=r"DefectAugment\(RAW\): needs a float array; expected float32 or float64 "
        r"for RAW, got uint64\. Add Normalize\(RAW\) upstream\.",
    ):
        run(RecordingSource(RAW, array(LABEL_DATA)) + defects(), request())
    with pytest.raises(fg.SetupError, match="axis=3 is out of range"):
        run(raw_source() + defects(axis=3), request())
    missing_key = fg.ArraySource(ART, array(ART_DATA))
    with pytest.raises(fg.SetupError, match="does not provide artifacts_mask=ALPHA"):
        run(
            raw_source() + defects(prob_artifact=0.1, artifact_source=missing_key, artifacts=ART, artifacts_mask=ALPHA),
            request(),
        )
    coarse = (
        fg.ArraySource(
            ART, fg.Array(ART_DATA, fg.ArraySpec(roi=fg.Roi((0, 0, 0), (64, 30, 30)), voxel_size=(8, 1, 1)))
        ),
        fg.ArraySource(ALPHA, array(ALPHA_DATA)),
    ) + fg.MergeProvider()
    with pytest.raises(fg.SetupError, match="voxel size"):
        run(
            raw_source() + defects(prob_artifact=0.1, artifact_source=coarse, artifacts=ART, artifacts_mask=ALPHA),
            request(),
        )
    integer_mask = (
        fg.ArraySource(ART, array(ART_DATA)),
        fg.ArraySource(ALPHA, array((ALPHA_DATA * 255).astype(np.uint8))),
    ) + fg.MergeProvider()
    with pytest.raises(fg.SetupError, match=r"Add Normalize\(ALPHA\) to the artifact source"):
        run(
            raw_source()
            + defects(prob_artifact=0.1, artifact_source=integer_mask, artifacts=ART, artifacts_mask=ALPHA),
            request(),
        )


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"intensities": "RAW"}, "intensities"),
        ({"prob_missing": -0.1}, "prob_missing"),
        ({"prob_low_contrast": 1.1}, "prob_low_contrast"),
        ({"prob_missing": 0.5, "prob_low_contrast": 0.3, "prob_deform": 0.3}, "prob_missing"),
        ({"prob_artifact": 0.1}, "artifact_source"),
        ({"prob_artifact": 0.1, "artifact_source": fg.ArraySource(ART, array(ART_DATA))}, "artifacts"),
        ({"artifact_source": "somewhere"}, "artifact_source"),
        ({"contrast_scale": "low"}, "contrast_scale"),
        ({"deformation_strength": -1}, "deformation_strength"),
        ({"axis": -1}, "axis"),
        ({"p": 2}, "p"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], parameter: str) -> None:
    args: dict[str, Any] = {"intensities": RAW}
    with pytest.raises(fg.ConfigError, match=parameter):
        fg.DefectAugment(**{**args, **kwargs})
