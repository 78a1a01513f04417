"""RandomAugment: the p gate drawn first in prepare, parameters as state, identity when closed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import flowgraph as fg
from flowgraph.nodes.augment import RandomAugment

RAW = fg.ArrayKey("RAW")


class Spy(fg.BatchFilter):
    """Records the requests it passes upstream."""

    def __init__(self) -> None:
        self.seen: list[fg.Roi] = []

    def provide(self, request: fg.BatchRequest) -> fg.Batch:
        self.seen.append(request[RAW].roi)
        return self.upstream.request_batch(request)


class AddContext(RandomAugment):
    """Adds a drawn offset to RAW and asks for one voxel of context (to make the gate visible upstream)."""

    def __init__(self, p: float = 1.0, params: Any = "draw") -> None:
        super().__init__("AddContext", p)
        self.fixed = params
        self.augmented = 0

    def setup(self) -> None:
        self.updates(RAW)

    def draw_params(self, rng: np.random.Generator, request: fg.BatchRequest) -> Any:
        return float(rng.uniform(1.0, 2.0)) if self.fixed == "draw" else self.fixed

    def dependencies(self, request: fg.BatchRequest, params: Any) -> tuple[fg.BatchRequest, Any]:
        deps = fg.BatchRequest(random_seed=request.random_seed)
        spec = request[RAW]
        deps[RAW] = spec.with_roi(spec.roi.grow((1,), (1,)))
        return deps, params

    def augment(self, batch: fg.Batch, request: fg.BatchRequest, offset: float) -> fg.Batch:
        self.augmented += 1
        array = batch[RAW]
        return fg.Batch({RAW: fg.Array(array.data + np.float32(offset), array.spec)})


def source() -> fg.ArraySource:
    data = np.arange(20, dtype=np.float32)
    return fg.ArraySource(RAW, fg.Array(data, fg.ArraySpec(roi=fg.Roi((0,), (20,)), voxel_size=(1,))))


def request(seed: int) -> fg.BatchRequest:
    r = fg.BatchRequest(random_seed=seed)
    r[RAW] = fg.ArraySpec(roi=fg.Roi((5,), (10,)))
    return r


def run(node: AddContext, seeds: range) -> tuple[list[np.ndarray], list[fg.Roi]]:
    spy = Spy()
    with fg.build(source() + spy + node) as p:
        out = [p.request_batch(request(s))[RAW].data for s in seeds]
    return out, spy.seen


def test_p_zero_is_the_identity_and_never_augments() -> None:
    node = AddContext(p=0)
    out, seen = run(node, range(10))
    assert node.augmented == 0
    assert all(np.array_equal(o, np.arange(5, 15, dtype=np.float32)) for o in out)
    assert seen == [fg.Roi((5,), (10,))] * 10  # the caller's request, not grown


def test_p_one_always_augments_with_the_drawn_offset() -> None:
    node = AddContext(p=1)
    out, seen = run(node, range(10))
    assert node.augmented == 10
    for seed, o in zip(range(10), out, strict=True):
        rng = node.rng(request(seed))
        assert rng.random() < 1.0  # the gate is the first draw ...
        offset = np.float32(rng.uniform(1.0, 2.0))  # ... the parameters come after it
        np.testing.assert_array_equal(o, np.arange(5, 15, dtype=np.float32) + offset)
    assert seen == [fg.Roi((4,), (12,))] * 10


def test_the_gate_is_drawn_in_prepare_and_upstream_sees_context_only_when_open() -> None:
    node = AddContext(p=0.5)
    out, seen = run(node, range(40))
    opened = [bool(node.rng(request(s)).random() < 0.5) for s in range(40)]
    assert 5 < sum(opened) < 35
    for o, roi, is_open in zip(out, seen, opened, strict=True):
        assert roi == (fg.Roi((4,), (12,)) if is_open else fg.Roi((5,), (10,)))
        assert np.array_equal(o, np.arange(5, 15, dtype=np.float32)) != is_open
    # the state handed to process is the parameters (None for a closed gate)
    with fg.build(source() + Spy() + node):  # the same place in the pipeline: the same generator
        states = [node.negotiate(request(s)).state for s in range(40)]
    assert [s is not None for s in states] == opened
    assert all(1.0 <= s < 2.0 for s in states if s is not None)


def test_parameters_of_none_mean_identity() -> None:
    node = AddContext(params=None)
    out, seen = run(node, range(3))
    assert node.augmented == 0 and seen == [fg.Roi((5,), (10,))] * 3
    assert all(np.array_equal(o, np.arange(5, 15, dtype=np.float32)) for o in out)


def test_params_for_is_the_one_place_parameters_come_from() -> None:
    class Replay(AddContext):
        def _params_for(self, request: fg.BatchRequest, rng: np.random.Generator) -> Any:
            return 10.0  # e.g. a recorded augmentation

    out, _ = run(Replay(p=0), range(3))
    assert all(np.array_equal(o, np.arange(15, 25, dtype=np.float32)) for o in out)


def test_same_seed_same_batch() -> None:
    a, _ = run(AddContext(p=0.5), range(8))
    b, _ = run(AddContext(p=0.5), range(8))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("p", [-0.1, 1.5, "half", None])
def test_bad_p_names_the_parameter(p: Any) -> None:
    with pytest.raises(fg.ConfigError, match=r"AddContext: p "):
        AddContext(p=p)


def test_a_subclass_without_hooks_says_what_to_implement() -> None:
    class Bare(RandomAugment):
        def setup(self) -> None:
            self.updates(RAW)

    with fg.build(source() + Bare("Bare")) as p, pytest.raises(NotImplementedError, match="draw_params"):
        p.request_batch(request(0))
