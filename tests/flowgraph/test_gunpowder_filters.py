"""User filters written for gunpowder run as they do there (issue 9, points 1, 5 and 9).

Each filter below is written the way gunpowder's tutorial and its own nodes write them: a
dependency without a voxel size, ``deps[key] = roi``, no ``updates()`` call, ``process`` that
reassigns ``batch[key].data``, ``skip_node``, a dependency smaller than the request.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import flowgraph as fg
from flowgraph.testing import LABELS, MASK, POINTS, RAW, VOXEL_SIZE, coordinate_volume, source_data, sources


def request(seed: int = 0, **rois: fg.Roi) -> fg.BatchRequest:
    r = fg.BatchRequest(random_seed=seed)
    for name, roi in rois.items():
        r[fg.ArrayKey(name)] = fg.ArraySpec(roi=roi)
    return r


class Counting(fg.BatchFilter):
    """Counts the requests that reach it (to show that nothing was read)."""

    def __init__(self) -> None:
        self.count = 0

    def provide(self, request: fg.BatchRequest) -> fg.Batch:
        self.count += 1
        return self.upstream.request_batch(request)


class UpSampleLike(fg.BatchFilter):
    """Like gunpowder's UpSample: ``deps[key] = ArraySpec(roi=...)`` without a voxel size, for a
    second key it provides from the first."""

    def __init__(self, source: fg.ArrayKey, target: fg.ArrayKey) -> None:
        self.source, self.target = source, target

    def setup(self) -> None:
        self.provides(self.target, self.spec[self.source].copy())

    def prepare(self, request: fg.BatchRequest) -> fg.BatchRequest:
        deps = fg.BatchRequest()
        deps[self.source] = fg.ArraySpec(roi=request[self.target].roi)
        return deps

    def process(self, batch: fg.Batch, request: fg.BatchRequest) -> fg.Batch:
        array = batch[self.source]
        return fg.Batch({self.target: fg.Array(array.data * 2, array.spec.copy())})


class RoiOnly(UpSampleLike):
    """The tutorial's ``deps[key] = roi``."""

    def prepare(self, request: fg.BatchRequest) -> fg.BatchRequest:
        deps = fg.BatchRequest()
        deps[self.source] = request[self.target].roi
        return deps


@pytest.mark.parametrize("node", [UpSampleLike, RoiOnly])
def test_a_dependency_without_voxel_size_works_behind_random_location_and_elastic_augment(node: Any) -> None:
    target = fg.ArrayKey("TARGET")
    elastic = fg.ElasticAugment((4, 10, 10), (0, 1, 1), (0, 0.2))
    pipeline = sources() + fg.RandomLocation() + elastic + fg.SimpleAugment(transpose_only=(1, 2)) + node(RAW, target)
    with fg.build(pipeline) as p:
        for seed in range(5):
            r = fg.BatchRequest(random_seed=seed)
            r[target] = fg.ArraySpec(roi=fg.Roi((8, 20, 20), (16, 20, 20)))
            batch = p.request_batch(r)
            assert batch[target].spec.roi == fg.Roi((8, 20, 20), (16, 20, 20))
            assert batch[target].data.shape == (4, 10, 10)


class AsksFor(fg.BatchFilter):
    """Asks upstream for ``key`` with the given spec fields."""

    def __init__(self, key: Any, **fields: Any) -> None:
        self.key, self.fields = key, fields

    def prepare(self, request: fg.BatchRequest) -> fg.BatchRequest:
        deps = fg.BatchRequest()
        roi = fg.Roi((8, 20, 20), (8, 8, 8))
        spec = fg.GraphSpec(roi=roi, **self.fields) if self.key == POINTS else fg.ArraySpec(roi=roi, **self.fields)
        deps[self.key] = spec
        return deps


@pytest.mark.parametrize(
    ("key", "fields", "message"),
    [
        (RAW, {"voxel_size": (8, 4, 4)}, r"asks for RAW with voxel size \(8, 4, 4\), but upstream offers \(4, 2, 2\)"),
        (RAW, {"dtype": np.uint8}, r"asks for RAW with dtype uint8, but upstream offers float32"),
        (POINTS, {"directed": True}, r"asks for POINTS with directed True, but upstream offers False"),
    ],
)
def test_a_dependency_asking_for_what_upstream_does_not_offer_is_refused_before_reading(
    key: Any, fields: dict[str, Any], message: str
) -> None:
    counter = Counting()
    graph = source_data()[POINTS]
    undirected = fg.GraphSource(POINTS, fg.Graph(graph.ids, graph.locations, fg.GraphSpec(graph.spec.roi, False)))
    data = source_data()
    arrays = [fg.ArraySource(k, data[k]) for k in (RAW, LABELS, MASK)]
    pipeline = (*arrays, undirected) + fg.MergeProvider() + counter + AsksFor(key, **fields)
    with fg.build(pipeline) as p, pytest.raises(fg.RequestError, match=message):
        p.request_batch(request(RAW=fg.Roi((8, 20, 20), (8, 8, 8))))
    assert counter.count == 0


def test_what_a_dependency_leaves_out_is_filled_in_and_what_the_caller_gave_is_kept() -> None:
    seen: list[fg.BatchRequest] = []

    class Spy(Counting):
        def provide(self, request: fg.BatchRequest) -> fg.Batch:
            seen.append(request.copy())
            return super().provide(request)

    with fg.build(sources() + Spy() + AsksFor(RAW)) as p:
        r = fg.BatchRequest(random_seed=0)
        r[RAW] = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (8, 4, 4)), interpolatable=True)
        p.request_batch(r)
    sent = seen[0][RAW]
    assert sent.voxel_size == VOXEL_SIZE
    assert sent.roi == fg.Roi((0, 0, 0), (16, 28, 28))  # the union of the request and the dependency
    assert sent.interpolatable is True  # the caller's spec is kept


class Print(fg.BatchFilter):
    """gunpowder's tutorial Print: no updates(), no prepare(); process sees the whole batch."""

    def __init__(self) -> None:
        self.seen: list[set[Any]] = []

    def process(self, batch: fg.Batch, request: fg.BatchRequest) -> None:
        self.seen.append(set(batch))


def test_a_filter_that_announces_nothing_runs_and_sees_the_whole_batch() -> None:
    printer = Print()
    with fg.build(sources() + printer) as p:
        p.request_batch(request(RAW=fg.Roi((8, 20, 20), (8, 8, 8)), MASK=fg.Roi((8, 20, 20), (8, 8, 8))))
    assert printer.seen == [{RAW, MASK}]


class Smooth(fg.BatchFilter):
    """gunpowder's tutorial style: reassigns ``batch[key].data`` and returns None."""

    def __init__(self, array: fg.ArrayKey, announce: bool) -> None:
        self.array, self.announce = array, announce

    def setup(self) -> None:
        if self.announce:
            self.updates(self.array, self.spec[self.array])

    def prepare(self, request: fg.BatchRequest) -> fg.BatchRequest:
        deps = fg.BatchRequest()
        deps[self.array] = request[self.array].copy()
        return deps

    def process(self, batch: fg.Batch, request: fg.BatchRequest) -> None:
        batch[self.array].data = batch[self.array].data + 1000


@pytest.mark.parametrize("announce", [True, False])
def test_process_reassigning_data_reaches_the_caller(announce: bool) -> None:
    roi = fg.Roi((8, 20, 20), (8, 8, 8))
    with fg.build(sources() + Smooth(LABELS, announce)) as p:
        out = p.request_batch(request(LABELS=roi))[LABELS].data
    expected = source_data()[LABELS].crop(roi).data + 1000
    np.testing.assert_array_equal(out, expected)


class Shrinking(fg.BatchFilter):
    """Updates RAW from a dependency smaller than the request and returns only that part."""

    def setup(self) -> None:
        self.updates(RAW)

    def prepare(self, request: fg.BatchRequest) -> fg.BatchRequest:
        deps = fg.BatchRequest()
        deps[RAW] = request[RAW].roi.grow((-4, -2, -2), (-4, -2, -2))
        return deps

    def process(self, batch: fg.Batch, request: fg.BatchRequest) -> fg.Batch:
        array = batch[RAW]
        return fg.Batch({RAW: fg.Array(np.full_like(array.data, -1), array.spec)})


def test_a_smaller_result_is_pasted_into_the_union_as_in_gunpowder() -> None:
    roi = fg.Roi((8, 20, 20), (16, 12, 12))
    with fg.build(sources() + Shrinking()) as p:
        out = p.request_batch(request(RAW=roi))[RAW].data
    original = source_data()[RAW].crop(roi).data
    assert out.shape == (4, 6, 6)
    assert (out[1:-1, 1:-1, 1:-1] == -1).all()  # what process returned, at its ROI
    border = np.ones(out.shape, bool)
    border[1:-1, 1:-1, 1:-1] = False
    np.testing.assert_array_equal(out[border], original[border])  # the rest is the upstream data


class Sometimes(fg.BatchFilter):
    """gunpowder's skip_node, drawing from the request's generator."""

    def setup(self) -> None:
        self.updates(RAW)

    def skip_node(self, request: fg.BatchRequest) -> bool:
        return bool(self.rng(request).random() < 0.5)

    def process(self, batch: fg.Batch, request: fg.BatchRequest) -> None:
        batch[RAW].data = batch[RAW].data + 10


def test_skip_node_passes_requests_by_and_the_picture_agrees() -> None:
    roi = fg.Roi((8, 20, 20), (8, 8, 8))
    original = source_data()[RAW].crop(roi).data
    changed = []
    with fg.build(sources() + Sometimes()) as p:
        for seed in range(20):
            changed.append(not np.array_equal(p.request_batch(request(seed, RAW=roi))[RAW].data, original))
    assert 3 < sum(changed) < 17  # some skipped, some not
    from flowgraph.testing import NodeCase, check_picture_matches_run

    check_picture_matches_run(NodeCase(make=lambda **kw: Sometimes(**kw)), seeds=range(6))


def test_enable_autoskip_passes_by_requests_without_the_nodes_keys() -> None:
    smooth = Smooth(LABELS, announce=True)
    smooth.enable_autoskip()
    roi = fg.Roi((8, 20, 20), (8, 8, 8))
    with fg.build(sources() + smooth) as p:
        out = p.request_batch(request(RAW=roi))[RAW].data  # LABELS not requested: skipped
    np.testing.assert_array_equal(out, source_data()[RAW].crop(roi).data)


def test_get_upstream_provider() -> None:
    printer = Print()
    with fg.build(sources() + printer):
        assert printer.get_upstream_provider() is printer.upstream
    assert coordinate_volume((1, 2)).tolist() == [[0, 1]]
