"""Errors keep their type through the pipeline and carry one note naming the node where they happened."""

from __future__ import annotations

from typing import Any

import pytest
from engine_helpers import Context, Recorder, array_source

import flowgraph as fg
from flowgraph import errors

RAW = fg.ArrayKey("RAW")
ROI = fg.Roi((0, 0), (4, 4))


def request() -> fg.BatchRequest:
    r = fg.BatchRequest(random_seed=0)
    r[RAW] = fg.ArraySpec(roi=ROI)
    return r


class Explode(fg.BatchFilter):
    """Updates RAW and raises ``error`` in ``phase`` (prepare or process)."""

    def __init__(self, phase: str, error: BaseException) -> None:
        self.phase = phase
        self.error = error

    def setup(self) -> None:
        self.updates(RAW)
        if self.phase == "setup":
            raise self.error

    def prepare(self, request: fg.BatchRequest) -> Any:
        if self.phase == "prepare":
            raise self.error
        return super().prepare(request)

    def process(self, batch: fg.Batch, request: fg.BatchRequest) -> None:
        if self.phase == "process":
            raise self.error


def flowgraph_notes(error: BaseException) -> list[str]:
    return [n for n in getattr(error, "__notes__", []) if n.startswith("while ")]


def test_hierarchy() -> None:
    assert issubclass(errors.ConfigError, errors.FlowgraphError)
    assert issubclass(errors.ConfigError, ValueError) and issubclass(errors.ConfigError, TypeError)
    for cls in (errors.PipelineError, errors.SetupError, errors.RequestError, errors.BatchContractError):
        assert issubclass(cls, errors.FlowgraphError) and not issubclass(cls, ValueError)
    assert issubclass(errors.UnsatisfiableRequestError, errors.RequestError)
    assert issubclass(errors.WorkerError, errors.FlowgraphError) and issubclass(errors.WorkerError, RuntimeError)
    assert fg.WorkerError is errors.WorkerError
    assert set(errors.__all__) <= set(dir(fg))


def test_gunpowder_names_are_bases_of_the_typed_errors() -> None:
    # gunpowder wraps setup failures in PipelineSetupError and request failures in BatchRequestError
    # (per node) and PipelineRequestError (per pipeline); flowgraph's typed errors derive from them
    assert issubclass(errors.SetupError, errors.PipelineSetupError)
    served = (errors.RequestError, errors.UnsatisfiableRequestError, errors.BatchContractError)
    for cls in (*served, errors.NonFiniteError, errors.WorkerError):
        assert issubclass(cls, errors.PipelineRequestError) and issubclass(cls, errors.BatchRequestError)
        assert not issubclass(cls, errors.PipelineSetupError)
    for cls in (errors.ConfigError, errors.PipelineError):
        assert not issubclass(cls, (errors.PipelineRequestError, errors.BatchRequestError, errors.PipelineSetupError))
    for name in ("PipelineSetupError", "PipelineRequestError", "BatchRequestError", "PipelineTeardownError"):
        assert issubclass(getattr(fg, name), errors.FlowgraphError)


def test_a_gunpowder_except_clause_catches_an_engine_error_but_not_a_users_exception() -> None:
    pipeline = array_source(RAW, (4, 4), (1, 1)) + Context(RAW, 1, 0) + Recorder(RAW)
    with fg.build(pipeline) as p, pytest.raises(fg.PipelineRequestError, match="outside the provided ROI"):
        p.request_batch(request())
    original = ValueError("a bug in a user's node")
    pipeline = array_source(RAW, (4, 4), (1, 1)) + Explode("process", original) + Recorder(RAW)
    with fg.build(pipeline) as p, pytest.raises(ValueError, match="a bug") as info:
        try:
            p.request_batch(request())
        except fg.PipelineRequestError:  # pragma: no cover (must not catch it)
            pytest.fail("flowgraph does not wrap other exceptions")
    assert info.value is original


@pytest.mark.parametrize(
    ("phase", "verb"),
    [("prepare", "prepared"), ("process", "processed")],
)
def test_an_error_deep_in_the_pipeline_keeps_its_type_identity_and_gets_one_note(phase: str, verb: str) -> None:
    original = ValueError("bad value deep down")
    pipeline = array_source(RAW, (4, 4), (1, 1)) + Explode(phase, original) + Context(RAW) + Recorder(RAW)
    with fg.build(pipeline) as p, pytest.raises(ValueError, match="bad value deep down") as info:
        p.request_batch(request())
    assert info.value is original
    assert type(info.value) is ValueError
    assert flowgraph_notes(info.value) == [f"while Explode {verb} RAW [0:4, 0:4]"]


def test_the_note_is_added_once_per_exception_even_when_raised_again() -> None:
    pipeline = array_source(RAW, (4, 4), (1, 1)) + Explode("process", KeyError("k")) + Recorder(RAW)
    with fg.build(pipeline) as p:
        for _ in range(2):
            with pytest.raises(KeyError, match="k") as info:
                p.request_batch(request())
            assert len(flowgraph_notes(info.value)) == 1


def test_an_error_in_setup_keeps_its_type_and_names_the_node() -> None:
    pipeline = array_source(RAW, (4, 4), (1, 1)) + Explode("setup", TypeError("wrong type")) + Recorder(RAW)
    with pytest.raises(TypeError, match="wrong type") as info, fg.build(pipeline):
        pass
    assert flowgraph_notes(info.value) == ["while setting up Explode"]


def test_an_error_in_a_source_names_the_source() -> None:
    class Failing(fg.BatchProvider):
        def setup(self) -> None:
            self.provides(RAW, fg.ArraySpec(roi=ROI, voxel_size=(1, 1)))

        def provide(self, request: fg.BatchRequest) -> fg.Batch:
            raise OSError("disk gone")

    with fg.build(Failing() + Recorder(RAW) + Recorder(RAW)) as p, pytest.raises(OSError, match="disk gone") as info:
        p.request_batch(request())
    assert flowgraph_notes(info.value) == ["while Failing provided RAW [0:4, 0:4]"]


def test_flowgraph_errors_raised_by_the_engine_get_no_extra_note_from_downstream() -> None:
    pipeline = array_source(RAW, (4, 4), (1, 1)) + Context(RAW, 1, 0) + Recorder(RAW)
    with fg.build(pipeline) as p, pytest.raises(errors.RequestError, match="outside the provided ROI") as info:
        p.request_batch(request())
    assert flowgraph_notes(info.value) == ["while Context(RAW) provided RAW [0:4, 0:4]"]


def test_config_errors_are_what_gunpowder_users_catch() -> None:
    """gunpowder checks arguments with ``assert``: its users' ``pytest.raises(AssertionError)`` still catches them."""
    for expected in (AssertionError, ValueError, TypeError, fg.FlowgraphError):
        with pytest.raises(expected, match="slab or z_section_wise"):
            fg.IntensityAugment(RAW, 0.9, 1.1, -0.1, 0.1, z_section_wise=True, slab=(1, -1, -1))
    assert issubclass(fg.ConfigError, AssertionError) and not issubclass(fg.SetupError, AssertionError)
