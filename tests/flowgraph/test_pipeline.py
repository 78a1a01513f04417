"""Pipeline: composition with +, joins, build order, teardown on every path, nested pipelines."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from engine_helpers import Recorder, array_source, expected_crop

import flowgraph as fg
from flowgraph.errors import PipelineError, SetupError

RAW, LABELS = fg.ArrayKey("RAW"), fg.ArrayKey("LABELS")
VS = (1, 1)
ROI = fg.Roi((0, 0), (8, 8))


def src(key: fg.ArrayKey = RAW) -> fg.ArraySource:
    return array_source(key, (8, 8), VS)


WINDOW = fg.Roi((2, 2), (4, 4))


def request_of(*keys: fg.ArrayKey, roi: fg.Roi = WINDOW, seed: int | None = 0) -> fg.BatchRequest:
    request = fg.BatchRequest(random_seed=seed)
    for key in keys:
        request[key] = fg.ArraySpec(roi=roi)
    return request


# -- composition ---------------------------------------------------------------------------------------------
def test_chaining_builds_a_linear_pipeline() -> None:
    s, a, b = src(), Recorder(RAW), Recorder(RAW)
    pipeline = s + a + b
    assert isinstance(pipeline, fg.Pipeline)
    assert pipeline.nodes() == [s, a, b] and pipeline.size() == 3
    assert pipeline.node is b and pipeline.inputs[0].node is a
    assert repr(pipeline) == "Recorder(RAW)\n  Recorder(RAW)\n    ArraySource(RAW)"


def test_addition_is_associative() -> None:
    s, a, b = src(), Recorder(RAW), Recorder(RAW)
    right = s + (a + b)  # a pipeline that starts with a filter is plugged in at its open end
    assert right.nodes() == [s, a, b]
    with fg.build(right) as p:
        batch = p.request_batch(request_of(RAW))
    assert len(a.requests) == len(b.requests) == 1
    np.testing.assert_array_equal(batch[RAW].data, expected_crop(fg.Roi((2, 2), (4, 4)), ROI, VS))  # type: ignore[union-attr]


def test_pipelines_are_values() -> None:
    s = src()
    base = s + Recorder(RAW)
    longer = base + Recorder(RAW)
    assert base.size() == 2 and longer.size() == 3
    assert base.nodes() == longer.nodes()[:2]


def test_a_tuple_joins_into_merge_provider() -> None:
    a, b = src(RAW), src(LABELS)
    merge = fg.MergeProvider()
    pipeline = (a, b + Recorder(LABELS)) + merge
    assert pipeline.node is merge and len(pipeline.inputs) == 2
    assert pipeline.nodes()[0] is a and pipeline.nodes()[1] is b
    with fg.build(pipeline) as p:
        assert set(p.spec) == {RAW, LABELS}
        batch = p.request_batch(request_of(RAW, LABELS))
    expected = expected_crop(fg.Roi((2, 2), (4, 4)), ROI, VS)
    np.testing.assert_array_equal(batch[RAW].data, expected)  # type: ignore[union-attr]
    np.testing.assert_array_equal(batch[LABELS].data, expected)  # type: ignore[union-attr]


def test_a_tuple_joins_into_a_pipeline_starting_with_merge_provider() -> None:
    a, b, rec = src(RAW), src(LABELS), Recorder(RAW)
    pipeline = (a, b) + (fg.MergeProvider() + rec)
    assert pipeline.node is rec and pipeline.inputs[0].node.__class__ is fg.MergeProvider
    with fg.build(pipeline) as p:
        p.request_batch(request_of(RAW, LABELS))
    assert set(rec.requests[0]) == {RAW, LABELS}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: src() + src(LABELS), r"ArraySource\(LABELS\): is a source and cannot take an upstream pipeline"),
        (lambda: src() + Recorder(RAW) + src(LABELS), "is a source and cannot take an upstream pipeline"),
        (lambda: Recorder(RAW) + src(), r"ArraySource\(RAW\): is a source"),
        (lambda: (src(), src(LABELS)) + Recorder(RAW), r"Recorder\(RAW\): takes one upstream pipeline, got 2"),
        (lambda: src() + 3, "cannot use int with '\\+' in a pipeline"),
        (lambda: 3 + src(), "cannot use int with '\\+' in a pipeline"),
        (lambda: src() + "x", "cannot use str with '\\+' in a pipeline"),
        (lambda: fg.Pipeline(src()) + None, "cannot use NoneType with '\\+'"),
        (lambda: src() + (src(LABELS),), "cannot use tuple with '\\+'"),
        (lambda: (src(), 3) + fg.MergeProvider(), "cannot use int with '\\+'"),
        (lambda: [src(), src(LABELS)] + fg.MergeProvider(), "cannot use list with '\\+'"),
        (lambda: fg.Pipeline(3), r"Pipeline: expected a node \(BatchProvider\), got int"),  # type: ignore[arg-type]
        (lambda: fg.Pipeline(src(), (fg.Pipeline(src(LABELS)),)), "is a source and takes no upstream"),
    ],
    ids=[
        "source-after-source",
        "source-after-filter",
        "filter-before-source",
        "two-into-a-filter",
        "int-right",
        "int-left",
        "str",
        "none",
        "tuple-right",
        "int-in-tuple",
        "list",
        "not-a-node",
        "inputs-of-a-source",
    ],
)
def test_bad_composition(make: Any, message: str) -> None:
    with pytest.raises(PipelineError, match=message):
        make()


def test_a_node_used_twice_is_refused_at_build() -> None:
    r = Recorder(RAW)
    pipeline = src() + r + r
    with pytest.raises(PipelineError, match=r"Recorder\(RAW\): appears twice in the pipeline"), fg.build(pipeline):
        pass


def test_a_node_used_twice_in_two_branches_is_refused() -> None:
    s = src()
    with pytest.raises(PipelineError, match="appears twice"), fg.build((s, s) + fg.MergeProvider()):
        pass


def test_a_filter_without_source_is_refused_at_build() -> None:
    with (
        pytest.raises(PipelineError, match=r"Recorder\(RAW\): is a filter without a source"),
        fg.build(Recorder(RAW) + Recorder(RAW)),
    ):
        pass


def test_build_needs_a_node_or_pipeline() -> None:
    with pytest.raises(PipelineError, match="cannot use str with 'build'"), fg.build("pipeline"):
        pass


def test_requesting_outside_build() -> None:
    pipeline = src() + Recorder(RAW)
    with pytest.raises(PipelineError, match="not built; request batches inside"):
        pipeline.request_batch(request_of(RAW))
    with fg.build(pipeline) as p:
        p.request_batch(request_of(RAW))
    with pytest.raises(PipelineError, match="not built"):
        pipeline.request_batch(request_of(RAW))


def test_building_twice_at_once_is_refused_and_rebuilding_works() -> None:
    pipeline = src() + Recorder(RAW)
    with fg.build(pipeline), pytest.raises(PipelineError, match="already built"), fg.build(pipeline):
        pass
    for _ in range(2):
        with fg.build(pipeline) as p:
            assert p.request_batch(request_of(RAW))[RAW].spec.roi == fg.Roi((2, 2), (4, 4))


# -- lifecycle --------------------------------------------------------------------------------------------
class LogSource(fg.BatchProvider):
    def __init__(self, name: str, log: list[str], fail: str = "", extra: Any = None) -> None:
        self.label, self.log, self.fail, self.extra = name, log, fail, extra
        self.key = fg.ArrayKey(name)

    def setup(self) -> None:
        self.log.append(f"setup {self.label}")
        if self.fail == "setup":
            raise SetupError(f"{self.label} cannot start")
        self.provides(self.key, fg.ArraySpec(roi=ROI, voxel_size=VS, dtype=np.float32))

    def provide(self, request: fg.BatchRequest) -> fg.Batch:
        self.log.append(f"provide {self.label}")
        if self.fail == "provide":
            raise KeyError(self.label)
        spec = request[self.key].copy()
        return fg.Batch({self.key: fg.Array(np.zeros(spec.roi.shape, np.float32), spec)})

    def teardown(self) -> None:
        self.log.append(f"teardown {self.label}")
        if self.fail == "teardown":
            raise OSError(f"{self.label} cannot close")


class LogFilter(fg.BatchFilter):
    def __init__(self, name: str, log: list[str], fail: str = "", nested: fg.Pipeline | None = None) -> None:
        self.label, self.log, self.fail = name, log, fail
        self.nested = nested

    def setup(self) -> None:
        self.log.append(f"setup {self.label}")
        if self.nested is not None and not self.nested._built:
            raise RuntimeError("the nested pipeline is not built before its host")
        if self.fail == "setup":
            raise SetupError(f"{self.label} cannot start")

    def teardown(self) -> None:
        self.log.append(f"teardown {self.label}")
        if self.nested is not None and not self.nested._built:
            raise RuntimeError("the nested pipeline is torn down before its host")
        if self.fail == "teardown":
            raise OSError(f"{self.label} cannot close")


def test_build_sets_up_upstream_first_and_tears_down_in_reverse() -> None:
    log: list[str] = []
    a, b = LogSource("A", log), LogSource("B", log)
    pipeline = (a + LogFilter("a1", log), b) + fg.MergeProvider() + LogFilter("f", log) + LogFilter("g", log)
    with fg.build(pipeline):
        assert log == ["setup A", "setup a1", "setup B", "setup f", "setup g"]
    assert log[5:] == ["teardown g", "teardown f", "teardown B", "teardown a1", "teardown A"]


def test_a_failing_setup_tears_down_what_was_set_up() -> None:
    log: list[str] = []
    pipeline = LogSource("A", log) + LogFilter("f", log) + LogFilter("g", log, fail="setup") + LogFilter("h", log)
    with pytest.raises(SetupError, match="g cannot start") as info, fg.build(pipeline):
        pass
    assert log == ["setup A", "setup f", "setup g", "teardown g", "teardown f", "teardown A"]
    assert info.value.__notes__ == ["while setting up LogFilter"]
    assert not pipeline._built


def test_a_failing_request_still_tears_down() -> None:
    log: list[str] = []
    pipeline = LogSource("A", log, fail="provide") + LogFilter("f", log)
    with pytest.raises(KeyError, match="A") as info, fg.build(pipeline) as p:
        p.request_batch(request_of(fg.ArrayKey("A")))
    assert log == ["setup A", "setup f", "provide A", "teardown f", "teardown A"]
    assert info.value.__notes__ == ["while LogSource(A) provided A [2:6, 2:6]"]


def test_an_exception_in_the_with_block_still_tears_down() -> None:
    log: list[str] = []
    with pytest.raises(ZeroDivisionError, match="division"), fg.build(LogSource("A", log)):
        1 / 0  # noqa: B018
    assert log == ["setup A", "teardown A"]


def test_a_failing_teardown_does_not_stop_the_others_and_is_reported() -> None:
    log: list[str] = []
    pipeline = LogSource("A", log) + LogFilter("f", log, fail="teardown") + LogFilter("g", log)
    with pytest.raises(OSError, match="f cannot close") as info, fg.build(pipeline):
        pass
    assert log[-3:] == ["teardown g", "teardown f", "teardown A"]
    assert info.value.__notes__ == ["while tearing down LogFilter"]


def test_a_failing_teardown_after_a_failing_setup_keeps_the_setup_error() -> None:
    log: list[str] = []
    pipeline = LogSource("A", log, fail="teardown") + LogFilter("f", log, fail="setup")
    with pytest.raises(SetupError, match="f cannot start") as info, fg.build(pipeline):
        pass
    assert log == ["setup A", "setup f", "teardown f", "teardown A"]
    assert any("A cannot close" in note for note in info.value.__notes__)


def test_a_failing_teardown_after_a_failing_request_keeps_the_request_error() -> None:
    log: list[str] = []
    with pytest.raises(ZeroDivisionError, match="division") as info, fg.build(LogSource("A", log, fail="teardown")):
        1 / 0  # noqa: B018
    assert log == ["setup A", "teardown A"]
    assert any("A cannot close" in note for note in info.value.__notes__)


def test_a_nested_pipeline_is_built_before_and_torn_down_after_its_host() -> None:
    log: list[str] = []
    nested = LogSource("N", log) + LogFilter("n1", log)
    host = LogFilter("host", log, nested=nested)
    pipeline = LogSource("A", log) + host + LogFilter("after", log)
    assert nested in host.nested_pipelines()
    with fg.build(pipeline):
        assert nested._built
        assert log == ["setup A", "setup N", "setup n1", "setup host", "setup after"]
    assert not nested._built
    assert log[5:] == ["teardown after", "teardown host", "teardown n1", "teardown N", "teardown A"]


def test_a_nested_pipeline_is_torn_down_when_its_host_fails_to_set_up() -> None:
    log: list[str] = []
    nested = fg.Pipeline(LogSource("N", log))
    pipeline = LogSource("A", log) + LogFilter("host", log, fail="setup", nested=nested)
    with pytest.raises(SetupError, match="host cannot start"), fg.build(pipeline):
        pass
    assert log == ["setup A", "setup N", "setup host", "teardown host", "teardown N", "teardown A"]
    assert not nested._built


def test_a_nested_pipeline_can_be_requested_from_inside_the_host() -> None:
    class Borrow(fg.BatchFilter):
        def __init__(self, nested: fg.Pipeline) -> None:
            self.nested = nested

        def setup(self) -> None:
            self.updates(RAW)

        def process(self, batch: fg.Batch, request: fg.BatchRequest) -> fg.Batch:
            other = self.nested.request_batch(request_of(LABELS, roi=batch[RAW].spec.roi, seed=request.random_seed))
            return fg.Batch({RAW: fg.Array(batch[RAW].data + 1000 * other[LABELS].data, batch[RAW].spec)})  # type: ignore[union-attr]

    with fg.build(src() + Borrow(fg.Pipeline(src(LABELS)))) as p:
        batch = p.request_batch(request_of(RAW))
    expected = expected_crop(fg.Roi((2, 2), (4, 4)), ROI, VS)
    np.testing.assert_array_equal(batch[RAW].data, 1001 * expected)  # type: ignore[union-attr]


def test_spec_of_a_built_pipeline() -> None:
    with fg.build(src() + Recorder(RAW)) as p:
        assert p.spec[RAW] == fg.ArraySpec(roi=ROI, voxel_size=VS, interpolatable=False, dtype=np.int64)
