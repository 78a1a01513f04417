"""flowgraph.testing: the public contract checks catch what they claim to catch."""

from __future__ import annotations

import numpy as np
import pytest

import flowgraph as fg
from flowgraph import testing
from flowgraph.testing import LABELS, RAW, NodeCase


class Liar(fg.BatchFilter):
    """Negotiates one thing and sends another: the picture would lie about it."""

    def __init__(self, key: fg.ArrayKey) -> None:
        self.key = key

    def setup(self) -> None:
        self.updates(self.key)

    def provide(self, request: fg.BatchRequest) -> fg.Batch:
        sent = request.copy()
        grown = sent[self.key].copy()
        assert grown.roi is not None
        grown.roi = grown.roi.grow((4, 2, 2), (4, 2, 2))
        sent[self.key] = grown
        batch = self.upstream.request_batch(sent)
        return batch.crop(request)


class WorldContext(fg.BatchFilter):
    """Asks for context in world units that is not a multiple of the voxel size (like gunpowder nodes)."""

    def __init__(self, key: fg.ArrayKey) -> None:
        self.key = key

    def setup(self) -> None:
        self.updates(self.key)

    def prepare(self, request: fg.BatchRequest) -> fg.BatchRequest:
        deps = fg.BatchRequest()
        roi = request[self.key].roi
        assert roi is not None
        deps[self.key] = fg.ArraySpec(roi=roi.grow((3, 3, 3), (3, 3, 3)))
        return deps


def test_the_picture_check_catches_a_node_that_sends_what_it_did_not_negotiate() -> None:
    case = NodeCase(make=lambda **kw: Liar(RAW, **kw))
    with pytest.raises(AssertionError, match=r"the picture draws .* the run sent"):
        testing.check_picture_matches_run(case)


def test_off_grid_context_is_drawn_snapped_as_sent() -> None:
    case = NodeCase(make=lambda **kw: WorldContext(RAW, **kw))
    testing.check_picture_matches_run(case)
    with fg.build(testing.sources() + WorldContext(RAW)) as p:
        g = fg.to_networkx(p, testing.default_request())
    (edge,) = [e for u, v, e in g.edges(data=True) if g.nodes[v]["cls"] == "WorldContext"]
    # RAW [8:32, 20:60, 20:60] grown by 3 world units is snapped outwards onto the (4, 2, 2) grid
    assert edge["rois"]["RAW"] == fg.Roi((4, 16, 16), (32, 48, 48))


def test_per_branch_seeds_under_merge_provider_are_drawn_as_sent() -> None:
    other = fg.ArrayKey("OTHER")

    def make(**kw: object) -> fg.Pipeline:
        elastic = testing.sources() + fg.RandomLocation() + fg.ElasticAugment((4, 10, 10), (0, 1, 1), (0, 0.3))
        labels = fg.ArraySource(other, testing.source_data()[LABELS])
        return (elastic, labels) + fg.MergeProvider(**kw)

    def request(seed: int) -> fg.BatchRequest:
        r = fg.BatchRequest(random_seed=seed)
        r[RAW] = fg.ArraySpec(roi=fg.Roi((16, 30, 30), (16, 20, 20)))
        r[other] = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (8, 8, 8)))
        return r

    testing.check_picture_matches_run(NodeCase(make=make, upstream=None, request=request), seeds=range(6))


def test_check_node_contract_fails_for_a_node_that_mutates_its_output_dtype() -> None:
    class Wrong(fg.BatchFilter):
        def __init__(self, array: fg.ArrayKey) -> None:
            self.array = array

        def setup(self) -> None:
            self.updates(self.array)

        def process(self, batch: fg.Batch, request: fg.BatchRequest) -> fg.Batch:
            a = batch[self.array]
            return fg.Batch({self.array: fg.Array(a.data.astype(np.float64), a.spec)})

    with pytest.raises((AssertionError, fg.BatchContractError), match="float64"):
        testing.check_node_contract(NodeCase(make=lambda **kw: Wrong(RAW, **kw)))
