"""Negotiation: requests flow upstream (dependencies merged), batches flow downstream (cropped, checked)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from engine_helpers import Context, Recorder, array_source, coordinate_volume, expected_crop
from hypothesis import given, settings
from hypothesis import strategies as st

import flowgraph as fg
from flowgraph.errors import BatchContractError, RequestError, SetupError
from flowgraph.provider import merge_request

RAW, LABELS, MASK = fg.ArrayKey("RAW"), fg.ArrayKey("LABELS"), fg.ArrayKey("MASK")
VS = (4, 2, 2)
SHAPE = (10, 20, 20)  # voxels: RAW lies at [0:40, 0:40, 0:40]
DATA_ROI = fg.Roi((0, 0, 0), (40, 40, 40))


def sources() -> fg.Pipeline:
    """RAW: coordinates; LABELS: coordinates + 1_000_000 (both on the same grid)."""
    labels = fg.Array(coordinate_volume(SHAPE) + 1_000_000, fg.ArraySpec(roi=DATA_ROI, voxel_size=VS))
    return (array_source(RAW, SHAPE, VS), fg.ArraySource(LABELS, labels)) + fg.MergeProvider()


def request_of(seed: int = 0, **rois: fg.Roi) -> fg.BatchRequest:
    request = fg.BatchRequest(random_seed=seed)
    for name, roi in rois.items():
        request[fg.ArrayKey(name)] = fg.ArraySpec(roi=roi)
    return request


def data(batch: fg.Batch, key: fg.ArrayKey) -> np.ndarray:
    return batch[key].data  # type: ignore[union-attr]


# -- test-only filters -----------------------------------------------------------------------------
class PadFrom(fg.BatchFilter):
    """Updates ``key``: asks upstream for the requested ROI shrunk by ``margin``, zero-pads it back."""

    def __init__(self, key: fg.ArrayKey, margin: tuple[int, ...]) -> None:
        self.key = key
        self.margin = margin

    def setup(self) -> None:
        self.updates(self.key)

    def prepare(self, request: fg.BatchRequest) -> fg.BatchRequest:
        deps = fg.BatchRequest(random_seed=request.random_seed)
        deps[self.key] = fg.ArraySpec(roi=request[self.key].roi.grow(-fg.Coordinate(self.margin), 0))
        return deps

    def process(self, batch: fg.Batch, request: fg.BatchRequest) -> fg.Batch:
        array = batch[self.key]
        vs = array.voxel_size  # type: ignore[union-attr]
        pad = [(m // v, 0) for m, v in zip(self.margin, vs)]
        spec = array.spec.copy()  # type: ignore[union-attr]
        spec.roi = request[self.key].roi
        return fg.Batch({self.key: fg.Array(np.pad(array.data, pad), spec)})  # type: ignore[union-attr]


class ThresholdMask(fg.BatchFilter):
    """Provides MASK (uint8) from RAW at the same ROI: a node that creates a new key."""

    def setup(self) -> None:
        spec = self.upstream_spec[RAW].copy()
        spec.dtype = np.dtype(np.uint8)
        self.provides(MASK, spec)

    def prepare(self, request: fg.BatchRequest) -> fg.BatchRequest:
        deps = fg.BatchRequest(random_seed=request.random_seed)
        deps[RAW] = fg.ArraySpec(roi=request[MASK].roi)
        return deps

    def process(self, batch: fg.Batch, request: fg.BatchRequest) -> fg.Batch:
        raw = batch[RAW]
        spec = raw.spec.update(fg.ArraySpec(dtype=np.uint8))  # type: ignore[union-attr]
        return fg.Batch({MASK: fg.Array((raw.data % 2).astype(np.uint8), spec)})  # type: ignore[union-attr]


class Doubling(fg.BatchFilter):
    """Updates RAW in place (process returns None)."""

    def setup(self) -> None:
        self.updates(RAW)

    def process(self, batch: fg.Batch, request: fg.BatchRequest) -> None:
        batch[RAW].data *= 2  # type: ignore[union-attr]


class Broken(fg.BatchFilter):
    """Updates RAW (optionally announcing ``dtype``) and returns whatever ``make(array, request)`` gives.

    Under flowgraph's exact rule (as the library's nodes), so that what it returns is checked as is.
    """

    exact_dependencies = True

    def __init__(self, make: Any, dtype: Any = None) -> None:
        self.make = make
        self.dtype = dtype

    def setup(self) -> None:
        self.updates(RAW, fg.ArraySpec(dtype=self.dtype) if self.dtype is not None else None)

    def process(self, batch: fg.Batch, request: fg.BatchRequest) -> Any:
        return self.make(batch[RAW], request)


class BrokenSource(fg.BatchProvider):
    def __init__(self, key: fg.ArrayKey, deliver: Any) -> None:
        self.key = key
        self.deliver = deliver

    def setup(self) -> None:
        self.provides(self.key, fg.ArraySpec(roi=DATA_ROI, voxel_size=VS, dtype=np.int64))

    def provide(self, request: fg.BatchRequest) -> fg.Batch:
        return self.deliver(request)


# -- merging of dependencies ------------------------------------------------------------------------
def test_context_is_fetched_upstream_and_the_result_cropped_back() -> None:
    upstream = Recorder(RAW)
    context = Context(RAW, (4, 2, 4), (8, 4, 2), transform=lambda d: d * 3)
    roi = fg.Roi((8, 8, 8), (12, 10, 10))
    with fg.build(sources() + upstream + context) as p:
        batch = p.request_batch(request_of(RAW=roi))
    assert upstream.requests[0][RAW].roi == roi.grow((4, 2, 4), (8, 4, 2)) == fg.Roi((4, 6, 4), (24, 16, 16))
    assert batch[RAW].spec.roi == roi
    np.testing.assert_array_equal(data(batch, RAW), 3 * expected_crop(roi, DATA_ROI, VS))
    # process saw exactly the dependency: the grown ROI and its data
    seen_roi, seen = context.log[0]["batch"][RAW]
    assert seen_roi == fg.Roi((4, 6, 4), (24, 16, 16))
    np.testing.assert_array_equal(seen, expected_crop(seen_roi, DATA_ROI, VS))


def test_dependencies_on_other_keys_are_unioned_with_the_callers_request() -> None:
    upstream = Recorder(LABELS)
    extra = {LABELS: fg.ArraySpec(roi=fg.Roi((0, 0, 0), (8, 8, 8)))}
    context = Context(RAW, extra=extra)
    request = request_of(RAW=fg.Roi((8, 8, 8), (8, 8, 8)), LABELS=fg.Roi((20, 20, 20), (8, 8, 8)))
    with fg.build(sources() + upstream + context) as p:
        batch = p.request_batch(request)
    # upstream: the union of the caller's LABELS and the dependency
    assert upstream.requests[0][LABELS].roi == fg.Roi((0, 0, 0), (28, 28, 28))
    # process: exactly the dependencies (RAW at the requested ROI, LABELS at the dependency's ROI)
    seen = context.log[0]["batch"]
    assert set(seen) == {RAW, LABELS}
    assert seen[LABELS][0] == fg.Roi((0, 0, 0), (8, 8, 8))
    np.testing.assert_array_equal(seen[LABELS][1], expected_crop(seen[LABELS][0], DATA_ROI, VS) + 1_000_000)
    # caller: LABELS cropped back to what it asked
    assert batch[LABELS].spec.roi == fg.Roi((20, 20, 20), (8, 8, 8))
    np.testing.assert_array_equal(data(batch, LABELS), expected_crop(request[LABELS].roi, DATA_ROI, VS) + 1_000_000)


def test_keys_the_node_does_not_depend_on_pass_by_process() -> None:
    context = Context(RAW)
    request = request_of(RAW=fg.Roi((0, 0, 0), (8, 8, 8)), LABELS=fg.Roi((4, 4, 4), (8, 8, 8)))
    with fg.build(sources() + context) as p:
        batch = p.request_batch(request)
    assert set(context.log[0]["batch"]) == {RAW}
    assert set(batch) == {RAW, LABELS}
    np.testing.assert_array_equal(data(batch, LABELS), expected_crop(request[LABELS].roi, DATA_ROI, VS) + 1_000_000)


class ExactPadFrom(PadFrom):
    exact_dependencies = True


def test_a_user_filter_asking_for_less_gets_the_union_as_in_gunpowder() -> None:
    upstream = Recorder(RAW)
    roi = fg.Roi((8, 8, 8), (12, 10, 10))
    pad = PadFrom(RAW, (4, 2, 2))
    with fg.build(sources() + upstream + pad) as p:
        batch = p.request_batch(request_of(RAW=roi))
    # gunpowder's rule: upstream gets the union of the request and the dependency
    assert upstream.requests[0][RAW].roi == roi
    out = data(batch, RAW)
    assert batch[RAW].spec.roi == roi and out.shape == (3, 5, 5)
    assert (out[0] == 0).all() and (out[:, 0] == 0).all() and (out[:, :, 0] == 0).all()
    np.testing.assert_array_equal(out[1:, 1:, 1:], expected_crop(fg.Roi((12, 10, 10), (8, 8, 8)), DATA_ROI, VS))


def test_an_exact_dependency_replaces_the_callers_spec_for_an_updated_key() -> None:
    upstream = Recorder(RAW)
    roi = fg.Roi((8, 8, 8), (12, 10, 10))
    with fg.build(sources() + upstream + ExactPadFrom(RAW, (4, 2, 2))) as p:
        batch = p.request_batch(request_of(RAW=roi))
    # not the union with the caller's ROI: only the smaller dependency goes upstream
    assert upstream.requests[0][RAW].roi == fg.Roi((12, 10, 10), (8, 8, 8))
    out = data(batch, RAW)
    assert batch[RAW].spec.roi == roi and out.shape == (3, 5, 5)
    assert (out[0] == 0).all() and (out[:, 0] == 0).all() and (out[:, :, 0] == 0).all()
    np.testing.assert_array_equal(out[1:, 1:, 1:], expected_crop(fg.Roi((12, 10, 10), (8, 8, 8)), DATA_ROI, VS))


def test_off_grid_dependencies_are_snapped_outwards_onto_the_voxel_grid() -> None:
    upstream = Recorder(RAW)
    context = Context(RAW, (3, 1, 0), (1, 0, 3))
    roi = fg.Roi((8, 8, 8), (8, 8, 8))
    with fg.build(sources() + upstream + context) as p:
        batch = p.request_batch(request_of(RAW=roi))
    assert upstream.requests[0][RAW].roi == fg.Roi((4, 6, 8), (16, 10, 12))
    assert context.log[0]["batch"][RAW][0] == fg.Roi((4, 6, 8), (16, 10, 12))
    assert context.log[0]["deps"][RAW].roi == fg.Roi((5, 7, 8), (12, 9, 11))  # what prepare returned
    np.testing.assert_array_equal(data(batch, RAW), expected_crop(roi, DATA_ROI, VS))


def test_a_filter_providing_a_new_key() -> None:
    upstream = Recorder(RAW)
    roi = fg.Roi((4, 4, 4), (8, 6, 6))
    with fg.build(sources() + upstream + ThresholdMask()) as p:
        assert p.spec[MASK].dtype == np.uint8 and p.spec[MASK].roi == DATA_ROI
        batch = p.request_batch(request_of(MASK=roi))
    assert set(batch) == {MASK}
    assert set(upstream.requests[0]) == {RAW}  # MASK is not asked upstream
    np.testing.assert_array_equal(data(batch, MASK), expected_crop(roi, DATA_ROI, VS) % 2)


def test_a_filter_is_skipped_when_no_requested_key_concerns_it_with_autoskip() -> None:
    context = Context(RAW, extra={LABELS: fg.ArraySpec(roi=fg.Roi((0, 0, 0), (4, 4, 4)))})
    context.enable_autoskip()
    request = request_of(LABELS=fg.Roi((4, 4, 4), (4, 4, 4)))
    with fg.build(sources() + context) as p:
        batch = p.request_batch(request)
    assert context.log == []
    assert batch[LABELS].spec.roi == fg.Roi((4, 4, 4), (4, 4, 4))


def test_the_default_filter_passes_everything_through() -> None:
    roi = fg.Roi((4, 4, 4), (8, 6, 6))
    with fg.build(sources() + fg.BatchFilter()) as p:
        batch = p.request_batch(request_of(RAW=roi, LABELS=roi))
    np.testing.assert_array_equal(data(batch, RAW), expected_crop(roi, DATA_ROI, VS))


def test_in_place_processing_does_not_reach_the_source() -> None:
    pipeline = array_source(RAW, SHAPE, VS) + Doubling()
    source = pipeline.nodes()[0]
    roi = fg.Roi((4, 4, 4), (8, 6, 6))
    with fg.build(pipeline) as p:
        first = data(p.request_batch(request_of(RAW=roi)), RAW)
        second = data(p.request_batch(request_of(RAW=roi)), RAW)
    np.testing.assert_array_equal(first, 2 * expected_crop(roi, DATA_ROI, VS))
    np.testing.assert_array_equal(second, first)
    np.testing.assert_array_equal(source.array.data, coordinate_volume(SHAPE))  # type: ignore[attr-defined]


def test_the_incoming_request_is_never_mutated() -> None:
    inner = Context(RAW, (4, 2, 2), (4, 2, 2))
    outer = Context(RAW, (8, 4, 4), (0, 0, 0), extra={LABELS: fg.ArraySpec(roi=fg.Roi((0, 0, 0), (4, 2, 2)))})
    pipeline = sources() + fg.RandomLocation() + inner + outer
    request = fg.BatchRequest(random_seed=3)
    request.add(RAW, (8, 8, 8))
    request.add(LABELS, (4, 4, 4))
    snapshot = request.copy()
    specs = {k: request[k] for k in request}
    with fg.build(pipeline) as p:
        p.request_batch(request)
    assert request == snapshot and request.random_seed == 3 and request.is_centred(RAW)
    assert all(request[k] is specs[k] for k in request)
    for node in (inner, outer):
        entry = node.log[0]
        assert entry["request"] == entry["request_at_process"]


def test_merge_request_directly() -> None:
    context = Context(RAW)
    context._updated = frozenset({RAW})
    request = request_of(RAW=fg.Roi((0,), (4,)), LABELS=fg.Roi((0,), (4,)))
    deps = request_of(RAW=fg.Roi((8,), (4,)), LABELS=fg.Roi((8,), (4,)), MASK=fg.Roi((1,), (1,)))
    assert merge_request(context, request, deps)[RAW].roi == fg.Roi((0,), (12,))  # gunpowder: unioned
    context.exact_dependencies = True
    up = merge_request(context, request, deps)
    assert up[RAW].roi == fg.Roi((8,), (4,))  # replaced
    assert up[LABELS].roi == fg.Roi((0,), (12,))  # unioned
    assert up[MASK].roi == fg.Roi((1,), (1,))  # added
    assert request[LABELS].roi == fg.Roi((0,), (4,)) and deps[LABELS].roi == fg.Roi((8,), (4,))


# -- contract violations -------------------------------------------------------------------------------
ROI = fg.Roi((8, 8, 8), (8, 8, 8))
COARSE = fg.Roi((6, 6, 8), (18, 18, 8))  # covers ROI, on a (6, 6, 2) grid, but ROI is not on that grid


@pytest.mark.parametrize(
    ("make", "dtype", "message"),
    [
        (
            lambda a, r: fg.Batch({RAW: a.moved(a.roi.shift((4, 0, 0)))}),
            None,
            r"Broken: returned RAW at \[12:20, 8:16, 8:16\], which does not cover the requested \[8:16, 8:16, 8:16\]",
        ),
        (
            lambda a, r: fg.Batch({RAW: fg.Array.trusted(a.data[:, :-1], a.spec)}),
            None,
            r"Broken: returned RAW with data shape \(2, 3, 4\), but its ROI",
        ),
        (lambda a, r: None, np.float32, "Broken: returned RAW as int64, but announced float32"),
        (
            lambda a, r: fg.Batch({RAW: fg.Array(a.data[:, ::2], fg.ArraySpec(roi=a.roi, voxel_size=(4, 4, 2)))}),
            None,
            r"Broken: returned RAW at voxel size \(4, 4, 2\), but \(4, 2, 2\) was requested",
        ),
        (
            lambda a, r: fg.Batch(
                {RAW: fg.Array(np.zeros((3, 3, 4), np.int64), fg.ArraySpec(roi=COARSE, voxel_size=(6, 6, 2)))}
            ),
            None,
            r"Broken: returned RAW at voxel size \(6, 6, 2\)",
        ),
        (
            lambda a, r: fg.Batch(
                {RAW: fg.Array.trusted(np.zeros((3, 4, 4), np.int64), a.spec, fg.Roi((7, 8, 8), (12, 8, 8)))}
            ),
            None,
            r"Broken: returned RAW at \[7:19, 8:16, 8:16\], which is not on its voxel grid \(4, 2, 2\)",
        ),
        (lambda a, r: "nonsense", None, r"Broken: process\(\) must return a Batch or None, got str"),
    ],
)
def test_contract_violations_of_a_filter_name_the_node(make: Any, dtype: Any, message: str) -> None:
    with fg.build(sources() + Broken(make, dtype)) as p, pytest.raises(BatchContractError, match=message):
        p.request_batch(request_of(RAW=ROI))


@pytest.mark.parametrize(
    ("deliver", "message"),
    [
        (lambda r: fg.Batch(), r"BrokenSource\(LABELS\): returned no LABELS, which was requested"),
        (
            lambda r: fg.Batch({LABELS: fg.Array(np.zeros((2, 4, 4), np.int32), fg.ArraySpec(roi=ROI, voxel_size=VS))}),
            r"BrokenSource\(LABELS\): returned LABELS as int32, but announced int64",
        ),
    ],
)
def test_contract_violations_of_a_source_name_the_node(deliver: Any, message: str) -> None:
    with fg.build(BrokenSource(LABELS, deliver)) as p, pytest.raises(BatchContractError, match=message):
        p.request_batch(request_of(LABELS=ROI))


class ForgetfulMask(ThresholdMask):
    def process(self, batch: fg.Batch, request: fg.BatchRequest) -> fg.Batch:
        return fg.Batch()


def test_a_provided_key_missing_from_process_output() -> None:
    with (
        fg.build(sources() + ForgetfulMask()) as p,
        pytest.raises(BatchContractError, match=r"ForgetfulMask: process\(\) returned no MASK, which it announced"),
    ):
        p.request_batch(request_of(MASK=ROI))


class BadPrepare(fg.BatchFilter):
    def __init__(self, result: Any) -> None:
        self.result = result

    def setup(self) -> None:
        self.provides(MASK, fg.ArraySpec(roi=DATA_ROI, voxel_size=VS, dtype=np.uint8))

    def prepare(self, request: fg.BatchRequest) -> Any:
        return self.result


def test_prepare_must_return_a_request() -> None:
    with (
        fg.build(sources() + BadPrepare([RAW])) as p,
        pytest.raises(BatchContractError, match=r"BadPrepare: prepare\(\) must return a BatchRequest, got list"),
    ):
        p.request_batch(request_of(MASK=ROI))


def test_prepare_must_not_depend_on_what_the_node_provides() -> None:
    with (
        fg.build(sources() + BadPrepare(request_of(MASK=ROI))) as p,
        pytest.raises(
            BatchContractError, match=r"BadPrepare: prepare\(\) depends on MASK, which this node provides itself"
        ),
    ):
        p.request_batch(request_of(MASK=ROI))


# -- request errors -------------------------------------------------------------------------------------
def test_requesting_a_key_the_pipeline_does_not_provide() -> None:
    with (
        fg.build(array_source(RAW, SHAPE, VS) + Recorder(RAW)) as p,
        pytest.raises(
            RequestError, match=r"Recorder\(RAW\): LABELS is not provided by this pipeline \(it provides RAW\)"
        ),
    ):
        p.request_batch(request_of(LABELS=ROI))


def test_a_filter_depending_on_a_missing_key_names_both_nodes() -> None:
    context = Context(RAW, extra={LABELS: fg.ArraySpec(roi=ROI)})
    with (
        fg.build(array_source(RAW, SHAPE, VS) + context) as p,
        pytest.raises(
            RequestError, match=r"ArraySource\(RAW\): LABELS is requested but not provided here \(available: RAW\)"
        ) as info,
    ):
        p.request_batch(request_of(RAW=ROI))
    assert any("Context(RAW)" in note for note in info.value.__notes__)


def test_requesting_outside_the_data() -> None:
    with (
        fg.build(array_source(RAW, SHAPE, VS)) as p,
        pytest.raises(
            RequestError, match=r"ArraySource\(RAW\): RAW is requested at \[36:44, 0:8, 0:8\], outside the provided ROI"
        ),
    ):
        p.request_batch(request_of(RAW=fg.Roi((36, 0, 0), (8, 8, 8))))


def test_context_reaching_outside_the_data_names_the_source_and_the_filter() -> None:
    with (
        fg.build(array_source(RAW, SHAPE, VS) + Context(RAW, (8, 0, 0), 0)) as p,
        pytest.raises(
            RequestError, match=r"ArraySource\(RAW\): RAW is requested at \[-4:8, 0:8, 0:8\], outside the provided ROI"
        ) as info,
    ):
        p.request_batch(request_of(RAW=fg.Roi((4, 0, 0), (4, 8, 8))))
    assert [n for n in info.value.__notes__ if "Context(RAW)" in n]


def test_requesting_at_another_voxel_size() -> None:
    request = fg.BatchRequest(random_seed=0)
    request[RAW] = fg.ArraySpec(roi=ROI, voxel_size=(8, 2, 2))
    with (
        fg.build(array_source(RAW, SHAPE, VS)) as p,
        pytest.raises(
            RequestError, match=r"RAW is requested at voxel size \(8, 2, 2\), but the pipeline provides \(4, 2, 2\)"
        ),
    ):
        p.request_batch(request)


def test_requesting_with_the_wrong_dimensionality() -> None:
    with fg.build(array_source(RAW, SHAPE, VS)) as p, pytest.raises(RequestError, match="requested with a 2-D ROI"):
        p.request_batch(request_of(RAW=fg.Roi((0, 0), (4, 4))))


def test_request_batch_needs_a_batch_request() -> None:
    with (
        fg.build(array_source(RAW, SHAPE, VS)) as p,
        pytest.raises(RequestError, match="expected a BatchRequest, got dict"),
    ):
        p.request_batch({RAW: fg.ArraySpec()})  # type: ignore[arg-type]


def test_rng_needs_a_seed() -> None:
    with pytest.raises(RequestError, match="Recorder\\(RAW\\): the request has no random_seed"):
        Recorder(RAW).rng(fg.BatchRequest())


# -- setup-time announcements ---------------------------------------------------------------------------
class Announcer(fg.BatchFilter):
    def __init__(self, action: str) -> None:
        self.action = action

    def setup(self) -> None:
        if self.action == "update missing":
            self.updates(MASK)
        elif self.action == "provide existing":
            self.provides(RAW, fg.ArraySpec())
        elif self.action == "wrong spec":
            self.provides(MASK, fg.GraphSpec())


@pytest.mark.parametrize(
    ("action", "error", "message"),
    [
        ("update missing", SetupError, "Announcer: cannot update MASK, it is not provided upstream"),
        ("provide existing", SetupError, "Announcer: RAW is already provided upstream"),
        ("wrong spec", fg.ConfigError, "Announcer: MASK is an ArrayKey and needs an ArraySpec"),
    ],
)
def test_bad_announcements(action: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message), fg.build(array_source(RAW, SHAPE, VS) + Announcer(action)):
        pass


def test_updates_with_a_spec_changes_only_the_given_fields() -> None:
    pipeline = array_source(RAW, SHAPE, VS) + Broken(lambda a, r: None, np.float32)
    with fg.build(pipeline) as p:
        assert p.spec[RAW] == fg.ArraySpec(roi=DATA_ROI, voxel_size=VS, interpolatable=False, dtype=np.float32)
        assert pipeline.nodes()[0].spec[RAW].dtype == np.int64  # the upstream spec is not touched


def test_profiling_lists_every_node_upstream_first() -> None:
    with fg.build(array_source(RAW, SHAPE, VS) + Context(RAW) + Recorder(RAW)) as p:
        batch = p.request_batch(request_of(RAW=ROI))
    assert [(n, phase) for n, phase, _ in batch.profiling] == [
        ("ArraySource(RAW)", "process"),
        ("Context(RAW)", "prepare"),
        ("Context(RAW)", "process"),
        ("Recorder(RAW)", "prepare"),
        ("Recorder(RAW)", "process"),
    ]
    assert all(seconds >= 0 for _, _, seconds in batch.profiling)


# -- the negotiation law (hypothesis) -----------------------------------------------------------------------
BIG_VS = (4, 2)
BIG_SHAPE = (60, 60)  # voxels: [0:240, 0:120]
BIG_ROI = fg.Roi((0, 0), (240, 120))


@st.composite
def negotiations(draw: st.DrawFn) -> tuple[fg.Roi, tuple[int, int], tuple[int, int]]:
    begin = [draw(st.integers(12, 36)) * BIG_VS[0], draw(st.integers(12, 24)) * BIG_VS[1]]
    shape = [draw(st.integers(1, 12)) * BIG_VS[0], draw(st.integers(1, 12)) * BIG_VS[1]]
    neg = (draw(st.integers(0, 40)), draw(st.integers(0, 20)))
    pos = (draw(st.integers(0, 40)), draw(st.integers(0, 20)))
    return fg.Roi(begin, shape), neg, pos


@settings(max_examples=40, deadline=None)
@given(negotiations())
def test_the_upstream_request_contains_what_the_node_needs_and_lies_on_the_grid(
    case: tuple[fg.Roi, tuple[int, int], tuple[int, int]],
) -> None:
    roi, neg, pos = case
    needed = roi.grow(neg, pos)
    upstream, context = Recorder(RAW), Context(RAW, neg, pos)
    pipeline = array_source(RAW, BIG_SHAPE, BIG_VS) + upstream + context
    with fg.build(pipeline) as p:
        batch = p.request_batch(request_of(RAW=roi))
    sent = upstream.requests[0][RAW].roi
    assert sent.contains(needed)
    assert sent.snap_to_grid(BIG_VS) == sent
    assert sent == needed.snap_to_grid(BIG_VS, "grow")  # no more than the grid demands
    seen_roi, seen = context.log[0]["batch"][RAW]
    assert seen_roi == sent
    np.testing.assert_array_equal(seen, expected_crop(sent, BIG_ROI, BIG_VS))
    assert batch[RAW].spec.roi == roi
    np.testing.assert_array_equal(data(batch, RAW), expected_crop(roi, BIG_ROI, BIG_VS))


class GrowsInPlace(fg.BatchFilter):
    """The gunpowder habit: grow the caller's request in place and return nothing."""

    def __init__(self, key: fg.ArrayKey) -> None:
        self.key = key

    def setup(self) -> None:
        self.updates(self.key)

    def prepare(self, request: fg.BatchRequest) -> None:
        request[self.key].roi = request[self.key].roi.grow((1, 1), (1, 1))


def test_prepare_that_grows_the_request_in_place_works_as_in_gunpowder() -> None:
    raw = fg.ArrayKey("RAW")
    data = np.arange(400, dtype=np.float32).reshape(20, 20)
    source = fg.ArraySource(raw, fg.Array(data, fg.ArraySpec(roi=fg.Roi((0, 0), (20, 20)), voxel_size=(1, 1))))
    spy = Recorder(raw)
    request = fg.BatchRequest(random_seed=0)
    request[raw] = fg.ArraySpec(roi=fg.Roi((8, 8), (4, 4)))
    with fg.build(source + spy + GrowsInPlace(raw)) as p:
        batch = p.request_batch(request)
    assert spy.requests[0][raw].roi == fg.Roi((7, 7), (6, 6))  # the grown request went upstream
    assert request[raw].roi == fg.Roi((8, 8), (4, 4))  # the caller's request is untouched
    np.testing.assert_array_equal(batch[raw].data, data[8:12, 8:12])


class ExactGrowsInPlace(GrowsInPlace):
    exact_dependencies = True


def test_a_library_style_node_that_modifies_the_request_in_place_is_refused() -> None:
    raw = fg.ArrayKey("RAW")
    data = np.zeros((20, 20), np.float32)
    source = fg.ArraySource(raw, fg.Array(data, fg.ArraySpec(roi=fg.Roi((0, 0), (20, 20)), voxel_size=(1, 1))))
    request = fg.BatchRequest(random_seed=0)
    request[raw] = fg.ArraySpec(roi=fg.Roi((8, 8), (4, 4)))
    with (
        fg.build(source + ExactGrowsInPlace(raw)) as p,
        pytest.raises(fg.BatchContractError, match=r"ExactGrowsInPlace\(RAW\): prepare\(\) modified the request"),
    ):
        p.request_batch(request)
