"""OneOf and SomeOf: one (or n) child filters per request, each negotiating its own upstream request."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import flowgraph as fg
from flowgraph.nodes.one_of import CHILD_STRIDE
from flowgraph.provider import passed_by, passing_by
from flowgraph.testing import RAW, assert_same_batch, check_picture_matches_run, default_request, sources
from flowgraph.testing.contract import NodeCase

X = fg.ArrayKey("X")


class Spy(fg.BatchFilter):
    """Records every request it receives from downstream."""

    def __init__(self) -> None:
        self.seen: list[fg.BatchRequest] = []

    def provide(self, request: fg.BatchRequest) -> fg.Batch:
        self.seen.append(request.copy())
        return self.upstream.request_batch(request)


class Tag(fg.BatchFilter):
    """Appends its name to ``log`` whenever it processes, and adds ``shift`` to X."""

    autoskip = True

    def __init__(self, tag: str, log: list[str], shift: float = 0.0, scale: float = 1.0) -> None:
        self.tag, self.log, self.shift, self.scale = tag, log, shift, scale

    def setup(self) -> None:
        self.updates(X)

    def process(self, batch: fg.Batch, request: fg.BatchRequest) -> None:
        self.log.append(self.tag)
        batch[X].data[:] = batch[X].data * self.scale + self.shift


def x_source(value: float = 0.5) -> fg.ArraySource:
    spec = fg.ArraySpec(roi=fg.Roi((0, 0), (4, 4)), voxel_size=(1, 1))
    return fg.ArraySource(X, fg.Array(np.full((4, 4), value, np.float32), spec))


def x_request(seed: int) -> fg.BatchRequest:
    request = fg.BatchRequest(random_seed=seed)
    request[X] = fg.ArraySpec(roi=fg.Roi((0, 0), (4, 4)))
    return request


def elastic() -> fg.ElasticAugment:
    return fg.ElasticAugment([2, 10, 10], [0, 1, 1], [0, 0.8])


def intensity() -> fg.IntensityAugment:
    return fg.IntensityAugment(RAW, 0.8, 1.2, -0.1, 0.1)


def raw_request(seed: int) -> fg.BatchRequest:
    request = fg.BatchRequest(random_seed=seed)
    request[RAW] = default_request(seed)[RAW]
    return request


# -- the upstream request is the chosen child's ------------------------------------------------------
@pytest.mark.parametrize(("weights", "grows"), [([1, 0], True), ([0, 1], False)])
def test_upstream_sees_only_the_chosen_childs_request(weights: list[int], grows: bool) -> None:
    spy = Spy()
    with fg.build(sources() + fg.RandomLocation() + spy + fg.OneOf([elastic(), intensity()], weights=weights)) as p:
        for seed in range(3):
            p.request_batch(raw_request(seed))
    asked = raw_request(0)[RAW].roi
    for seen in spy.seen:
        roi = seen[RAW].roi
        assert roi.contains(asked)
        assert (roi.shape != asked.shape) == grows  # ElasticAugment grows the request, IntensityAugment does not
        assert roi.shape[1] > asked.shape[1] if grows else roi == asked


def test_the_request_follows_the_recorded_choice() -> None:
    spy = Spy()
    node = fg.OneOf([elastic(), intensity()])
    with fg.build(sources() + fg.RandomLocation() + spy + node) as p:
        picked = []
        for seed in range(12):
            with fg.observing("params"):
                batch = p.request_batch(raw_request(seed))
            (index,) = batch.drawn_parameters()[node._position]
            picked.append(index)
            grown = spy.seen[-1][RAW].roi.shape != raw_request(seed)[RAW].roi.shape
            assert grown == (index == 0)
    assert set(picked) == {0, 1}


def test_the_picture_draws_the_chosen_childs_growth() -> None:
    node = fg.OneOf([elastic(), intensity()], weights=[1, 0])
    graph = fg.to_networkx(sources() + fg.RandomLocation() + node, raw_request(0))
    into = next(d for u, v, d in graph.edges(data=True) if graph.nodes[v]["node"] is node)
    assert "RAW" in into["grown"]
    assert graph.nodes[next(n for n in graph if graph.nodes[n]["node"] is node)]["label"] == (
        "OneOf(ElasticAugment, IntensityAugment(RAW))"
    )


@pytest.mark.parametrize("cls", ["OneOf", "SomeOf"])
def test_picture_matches_the_run_for_many_seeds(cls: str) -> None:
    def make(**kw: Any) -> Any:
        children = [elastic(), intensity(), fg.SimpleAugment(transpose_only=(1, 2))]
        return fg.OneOf(children, **kw) if cls == "OneOf" else fg.SomeOf(children, n=2, **kw)

    case = NodeCase(make=make, upstream=lambda: sources() + fg.RandomLocation(), has_p=True)
    check_picture_matches_run(case, seeds=range(10))


# -- the choice ---------------------------------------------------------------------------------------
def test_weights_set_the_choice_frequencies() -> None:
    log: list[str] = []
    node = fg.OneOf([Tag("a", log), Tag("b", log), Tag("c", log)], weights=[1, 3, 0])
    with fg.build(x_source() + node) as p:
        for seed in range(800):
            p.request_batch(x_request(seed))
    counts = {t: log.count(t) / 800 for t in "abc"}
    # expected 0.25, 0.75, 0 (binomial standard deviation 0.015)
    assert abs(counts["a"] - 0.25) < 0.06 and abs(counts["b"] - 0.75) < 0.06 and counts["c"] == 0
    assert len(log) == 800  # exactly one child per request


def test_uniform_by_default_and_one_child_per_request() -> None:
    log: list[str] = []
    with fg.build(x_source() + fg.OneOf([Tag("a", log), Tag("b", log)])) as p:
        for seed in range(400):
            before = len(log)
            p.request_batch(x_request(seed))
            assert len(log) == before + 1
    assert abs(log.count("a") / 400 - 0.5) < 0.1


def test_some_of_applies_exactly_n_children_in_the_given_order() -> None:
    log: list[str] = []
    children = [Tag("a", log, scale=2.0), Tag("b", log, shift=0.1), Tag("c", log, scale=3.0)]
    pairs = set()
    with fg.build(x_source() + fg.SomeOf(children, n=2)) as p:
        for seed in range(60):
            del log[:]
            value = float(p.request_batch(x_request(seed))[X].data[0, 0])
            assert len(log) == 2 and log[0] < log[1]  # two distinct children, applied in the given order
            pairs.add("".join(log))
            expected = {"ab": 0.5 * 2 + 0.1, "ac": 0.5 * 6, "bc": (0.5 + 0.1) * 3}["".join(log)]
            assert value == pytest.approx(expected)  # the batch went through both, the first one first
    assert pairs == {"ab", "ac", "bc"}


def test_some_of_with_replacement_applies_each_drawn_child_once() -> None:
    log: list[str] = []
    counts = set()
    with fg.build(x_source() + fg.SomeOf([Tag("a", log), Tag("b", log)], n=3, replace=True)) as p:
        for seed in range(40):
            del log[:]
            p.request_batch(x_request(seed))
            assert log == sorted(set(log))
            counts.add(len(log))
    assert counts == {1, 2}


def test_same_seed_same_batch_and_seeds_differ() -> None:
    def pipeline() -> fg.Pipeline:
        children = [elastic(), intensity(), fg.SimpleAugment(transpose_only=(1, 2))]
        return sources() + fg.RandomLocation() + fg.SomeOf(children, n=2)

    with fg.build(pipeline()) as p:
        first = p.request_batch(default_request(5))
        other = p.request_batch(default_request(6))
    with fg.build(pipeline()) as p:
        again = p.request_batch(default_request(5))
    assert_same_batch(first, again)
    assert not np.array_equal(first[RAW].data, other[RAW].data)


@pytest.mark.parametrize("cls", ["OneOf", "SomeOf"])
def test_p_zero_is_the_identity_and_p_one_always_acts(cls: str) -> None:
    log: list[str] = []

    def node(p: float) -> Any:
        children = [Tag("a", log, shift=0.25), Tag("b", log, shift=0.5)]
        return fg.OneOf(children, p=p) if cls == "OneOf" else fg.SomeOf(children, n=1, p=p)

    with fg.build(x_source() + node(0.0)) as p:
        for seed in range(20):
            assert np.all(p.request_batch(x_request(seed))[X].data == 0.5)
    assert log == []
    with fg.build(x_source() + node(1.0)) as p:
        for seed in range(20):
            assert np.all(p.request_batch(x_request(seed))[X].data != 0.5)
    assert len(log) == 20


def test_replaying_repeats_the_choice_and_the_childs_parameters() -> None:
    children = [elastic(), intensity(), fg.SimpleAugment(transpose_only=(1, 2))]
    node = fg.SomeOf(children, n=2)
    with fg.build(sources() + fg.RandomLocation() + node) as p:
        with fg.observing("params"):
            first = p.request_batch(default_request(1))
        params = first.drawn_parameters()
        chosen = params[node._position]
        assert len(chosen) == 2
        for i, child in enumerate(children):
            assert child._position == node._position * CHILD_STRIDE + 1 + i
            assert (child._position in params) == (i in chosen)  # unchosen children draw nothing
        with fg.replaying(first):
            again = p.request_batch(default_request(2))
        assert_same_batch(first, again)
        # an edited choice is replayed too
        other = next(c for c in [(0, 1), (0, 2), (1, 2)] if c != chosen)
        with fg.observing("params"), fg.replaying({node._position: other}):
            edited = p.request_batch(default_request(1))
        assert edited.drawn_parameters()[node._position] == other


def test_children_draw_from_their_own_positions() -> None:
    """A child's parameters do not depend on which siblings exist: same position, same draws."""
    alone = fg.OneOf([intensity()], p=1.0)
    crowded = fg.OneOf([intensity(), fg.SimpleAugment(transpose_only=(1, 2))], weights=[1, 0])
    with fg.build(sources() + alone) as p:
        a = p.request_batch(raw_request(3))
    with fg.build(sources() + crowded) as p:
        b = p.request_batch(raw_request(3))
    assert_same_batch(a, b)


def test_nested_one_of_inside_some_of() -> None:
    log: list[str] = []
    inner = fg.OneOf([Tag("a", log, shift=0.1), Tag("b", log, shift=0.2)])
    outer = fg.SomeOf([inner, Tag("c", log, scale=2.0)], n=2)
    with fg.build(x_source() + outer) as p:
        for seed in range(10):
            del log[:]
            p.request_batch(x_request(seed))
            assert log in (["a", "c"], ["b", "c"])
    assert inner._position == outer._position * CHILD_STRIDE + 1


# -- setup and configuration ----------------------------------------------------------------------------
class Provides(fg.BatchFilter):
    def setup(self) -> None:
        self.provides(fg.ArrayKey("EXTRA"), fg.ArraySpec(nonspatial=True))


class Retypes(fg.BatchFilter):
    def setup(self) -> None:
        self.updates(X, fg.ArraySpec(dtype=np.dtype(np.float64)))


@pytest.mark.parametrize(
    ("child", "match"), [(Provides, r"provides EXTRA, which would be missing"), (Retypes, r"changes the spec of X")]
)
def test_children_that_change_what_comes_out_are_refused(child: type, match: str) -> None:
    with pytest.raises(fg.errors.SetupError, match=match), fg.build(x_source() + fg.OneOf([Tag("a", []), child()])):
        pass


def test_children_are_set_up_and_torn_down_with_the_host() -> None:
    events: list[str] = []

    class Life(Tag):
        def setup(self) -> None:
            events.append(f"setup {self.tag} on {type(self.upstream).__name__}")
            super().setup()

        def teardown(self) -> None:
            events.append(f"teardown {self.tag}")

    with fg.build(x_source() + fg.SomeOf([Life("a", []), Life("b", [])], n=1)):
        pass
    assert events == ["setup a on ArraySource", "setup b on Life", "teardown b", "teardown a"]


def test_a_child_setup_error_names_the_host() -> None:
    with pytest.raises(fg.errors.SetupError, match=r"RAW") as info, fg.build(x_source() + fg.OneOf([intensity()])):
        pass
    assert any("in OneOf(IntensityAugment(RAW))" in note for note in info.value.__notes__)


def test_bad_configurations() -> None:
    child = Tag("a", [])
    fg.OneOf([child])
    with pytest.raises(fg.errors.ConfigError, match="another OneOf/SomeOf"):
        fg.SomeOf([child], n=1)
    with pytest.raises(fg.errors.ConfigError, match="twice"):
        fg.OneOf([Tag("b", []), *[Tag("c", [])] * 2])
    with pytest.raises(fg.errors.ConfigError, match="must hold filters"):
        fg.OneOf([x_source()])
    with pytest.raises(fg.errors.ConfigError, match="nested pipeline"):
        artifacts = x_source() + fg.Normalize(X)
        fg.OneOf(
            [
                fg.DefectAugment(
                    X, artifact_source=artifacts, artifacts=fg.ArrayKey("A"), artifacts_mask=fg.ArrayKey("M")
                )
            ]
        )
    with pytest.raises(fg.errors.ConfigError, match=r"n must lie in \[1, 2\]"):
        fg.SomeOf([Tag("d", []), Tag("e", [])], n=3)
    fg.SomeOf([Tag("f", []), Tag("g", [])], n=3, replace=True)


def test_passing_by_forwards_the_request_untouched() -> None:
    log: list[str] = []
    tag = Tag("a", log, shift=1.0)
    with fg.build(x_source() + tag) as p:
        with passing_by([tag]):
            assert id(tag) in passed_by()
            assert np.all(p.request_batch(x_request(0))[X].data == 0.5)
        assert passed_by() == frozenset()
        assert np.all(p.request_batch(x_request(0))[X].data == 1.5)
    assert log == ["a"]
