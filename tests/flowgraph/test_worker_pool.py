"""The worker pool's pure parts: pickling pipelines for workers, errors across processes."""

from __future__ import annotations

import multiprocessing as mp
import pickle
import sys
import threading
import types

import numpy as np
import pytest

import flowgraph as fg
from flowgraph.parallel.worker_pool import (
    WorkerError,
    dumps_pipeline,
    error_payload,
    main_reimportable,
    plan_start,
    rebuild_error,
    subtree,
)

RAW = fg.ArrayKey("RAW")


class Nested(fg.BatchFilter):
    """A node holding a nested pipeline (built and torn down with it), and a lock made in setup()."""

    def __init__(self, nested: fg.Pipeline) -> None:
        self.nested = nested

    def setup(self) -> None:
        self.lock = threading.Lock()

    def __getstate__(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k != "lock"}


class LockedAtInit(fg.BatchFilter):
    """A user node that breaks the rule: a lock made in __init__ (does not pickle)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()


def source() -> fg.ArraySource:
    spec = fg.ArraySpec(roi=fg.Roi((0,), (6,)), voxel_size=(1,))
    return fg.ArraySource(RAW, fg.Array(np.arange(6.0), spec))


def test_a_built_pipeline_pickles_with_the_standard_pickler_as_its_unbuilt_copy() -> None:
    nested = fg.Pipeline.coerce(source())
    pipeline = source() + fg.RandomLocation() + Nested(nested)
    with fg.build(pipeline) as p:
        assert nested._built
        data, uses_main = dumps_pipeline(p)
        assert pickle.loads(pickle.dumps(p)).node.nested is not nested  # the standard pickler alone
    assert not uses_main
    copy = pickle.loads(data)
    assert isinstance(copy.node, Nested) and not copy._built and not copy.node.nested._built
    request = fg.BatchRequest(random_seed=5)
    request.add(RAW, (2,))
    with fg.build(copy) as built:  # nested pipelines arrived unbuilt: the copy builds
        assert built.request_batch(request)[RAW].data.shape == (2,)


def test_a_pipeline_that_does_not_pickle_runs_forked_or_names_the_fix() -> None:
    pipeline = source() + LockedAtInit()
    with pytest.raises(TypeError, match="lock"):
        dumps_pipeline(pipeline)
    if "fork" in mp.get_all_start_methods():
        assert plan_start(pipeline, None, "PreCache") == ("fork", pipeline)
    with pytest.raises(fg.SetupError, match=r"cannot be pickled for spawn.*start_method='fork'"):
        plan_start(pipeline, "spawn", "PreCache")


def test_subtree_rebuilds_the_upstream_of_a_built_node_with_the_same_positions() -> None:
    a, b = source(), fg.ArraySource(fg.ArrayKey("OTHER"), source().array)
    location = fg.RandomLocation()
    with fg.build((a, b) + fg.MergeProvider() + location + fg.Normalize(RAW)):
        positions = {id(n): n._position for n in (a, b, location)}
        rebuilt = subtree(location)
    names = [type(n).__name__ for n in rebuilt.nodes()]
    assert names == ["ArraySource", "ArraySource", "MergeProvider", "RandomLocation"]
    assert rebuilt.nodes()[0] is a
    with fg.build(rebuilt):
        assert {id(n): n._position for n in (a, b, location)} == positions


def test_plan_start_prefers_forkserver_and_falls_back_to_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = source() + fg.RandomLocation()
    method, payload = plan_start(pipeline, None, "PreCache")
    assert method == "forkserver" and isinstance(payload, bytes)
    assert plan_start(pipeline, "fork", "PreCache") == ("fork", pipeline)
    assert plan_start(pipeline, "spawn", "PreCache")[0] == "spawn"
    # a class of the main module, in a program whose main module a worker cannot import
    cls = type("MainNode", (fg.BatchFilter,), {"__module__": "__main__"})
    fake = types.ModuleType("__main__")
    fake.MainNode = cls  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "__main__", fake)
    assert main_reimportable() is None
    with_main = source() + cls()
    assert dumps_pipeline(with_main)[1] is True
    assert plan_start(with_main, None, "PreCache") == ("fork", with_main)
    assert plan_start(pipeline, None, "PreCache")[0] == "forkserver"  # nothing of __main__ needed


class Stubborn(Exception):
    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"{a}/{b}")


def test_errors_keep_their_type_notes_and_gain_the_traceback() -> None:
    try:
        raise fg.RequestError("no way")
    except fg.RequestError as e:
        e.add_note("while X provided Y")
        payload = error_payload(e)
    error = rebuild_error(pickle.loads(pickle.dumps(payload)), "PreCache worker 1 (pid 7)")
    assert type(error) is fg.RequestError and str(error) == "no way"
    assert error.__notes__[0] == "while X provided Y"
    assert error.__notes__[1].startswith("raised in PreCache worker 1 (pid 7); the worker's traceback:\nTraceback")
    assert "test_errors_keep_their_type_notes_and_gain_the_traceback" in error.__notes__[1]


def test_an_error_that_cannot_be_unpickled_becomes_a_worker_error() -> None:
    error = Stubborn(1, 2)
    error.add_note("context")
    rebuilt = rebuild_error(error_payload(error), "w")
    assert isinstance(rebuilt, WorkerError)
    assert str(rebuilt) == f"{__name__}.Stubborn: 1/2"
    assert rebuilt.__notes__[0] == "context"
    with pytest.raises(WorkerError, match="Stubborn: 1/2"):
        raise rebuilt
