"""Reject: asks upstream again (with new seeds) until a batch has enough mask or a point."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import flowgraph as fg
from flowgraph.nodes.reject import masked_fraction

RAW = fg.ArrayKey("RAW")
MASK = fg.ArrayKey("MASK")
POINTS = fg.GraphKey("POINTS")

N = 20  # a 1-D volume of 20 voxels, RAW[i] = i
SPEC = fg.ArraySpec(roi=fg.Roi((0,), (N,)), voxel_size=(1,))


class CountingSource(fg.ArraySource):
    """An ArraySource that counts the requests it serves."""

    def __init__(self, key: fg.ArrayKey, array: fg.Array) -> None:
        super().__init__(key, array)
        self.calls = 0

    def provide(self, request: fg.BatchRequest) -> fg.Batch:
        self.calls += 1
        return super().provide(request)


def upstream(mask: np.ndarray, points: list[float] | None = None) -> tuple[fg.Pipeline, CountingSource]:
    counter = CountingSource(RAW, fg.Array(np.arange(N, dtype=np.int64), SPEC))
    nodes: list[Any] = [counter, fg.ArraySource(MASK, fg.Array(mask.astype(np.uint8), SPEC))]
    if points is not None:
        graph = fg.Graph(np.arange(len(points)), np.reshape(points, (-1, 1)), fg.GraphSpec(roi=SPEC.roi))
        nodes.append(fg.GraphSource(POINTS, graph))
    return tuple(nodes) + fg.MergeProvider() + fg.RandomLocation(), counter


def request(seed: int, size: int = 4, mask: bool = False, points: bool = False) -> fg.BatchRequest:
    r = fg.BatchRequest(random_seed=seed)
    r[RAW] = fg.ArraySpec(roi=fg.Roi((0,), (size,)))
    if mask:
        r[MASK] = fg.ArraySpec(roi=fg.Roi((0,), (size,)))
    if points:
        r[POINTS] = fg.GraphSpec(roi=fg.Roi((0,), (size,)))
    return r


def position(batch: fg.Batch) -> int:
    return int(batch[RAW].data[0])


def test_retries_until_enough_mask() -> None:
    mask = np.zeros(N, bool)
    mask[:6] = True  # windows of 4 starting at 0..3 hold >= 75% mask; 17 positions in all
    plain, _ = upstream(mask)
    pipeline, counter = upstream(mask)
    attempts = []
    with fg.build(plain) as alone, fg.build(pipeline + fg.Reject(mask=MASK, min_masked=0.75)) as p:
        for seed in range(40):
            counter.calls = 0
            batch = p.request_batch(request(seed))
            attempts.append(counter.calls)
            start = position(batch)
            assert mask[start : start + 4].sum() >= 3
            assert MASK not in batch  # checked, then dropped: it was not requested
            if counter.calls == 1:  # the first attempt uses the request's own seed
                first = alone.request_batch(request(seed))
                np.testing.assert_array_equal(batch[RAW].data, first[RAW].data)
    assert max(attempts) > 3 and attempts.count(1) < 30  # it really had to retry


def test_requested_mask_is_checked_in_its_roi() -> None:
    mask = np.zeros(N, bool)
    mask[10:] = True
    pipeline, _ = upstream(mask)
    with fg.build(pipeline + fg.Reject(mask=MASK, min_masked=1.0)) as p:
        for seed in range(10):
            batch = p.request_batch(request(seed, mask=True))
            assert batch[MASK].data.all() and position(batch) >= 10


def test_error_after_max_attempts_reports_the_best_fraction() -> None:
    mask = np.arange(N) % 2 == 0  # every window of 4 is exactly half masked
    pipeline, counter = upstream(mask)
    with fg.build(pipeline + fg.Reject(mask=MASK, min_masked=0.9, max_attempts=7)) as p:
        with pytest.raises(
            fg.UnsatisfiableRequestError,
            match=r"Reject\(MASK\): 7 consecutive batches had < 90% masked voxels \(best 50%\); lower min_masked",
        ):
            p.request_batch(request(0))
        assert counter.calls == 7


def test_reject_probability_below_one_sometimes_accepts() -> None:
    mask = np.zeros(N, bool)  # every batch fails the check
    pipeline, counter = upstream(mask)
    attempts = []
    with fg.build(pipeline + fg.Reject(mask=MASK, min_masked=0.5, reject_probability=0.5, max_attempts=200)) as p:
        for seed in range(40):
            counter.calls = 0
            p.request_batch(request(seed))
            attempts.append(counter.calls)
    assert 1 in attempts and max(attempts) > 1
    assert 1.3 < np.mean(attempts) < 3.0  # geometric with p = 0.5: mean 2


def test_reject_probability_zero_accepts_the_first_batch() -> None:
    pipeline, counter = upstream(np.zeros(N, bool))
    with fg.build(pipeline + fg.Reject(mask=MASK, min_masked=0.5, reject_probability=0.0)) as p:
        for seed in range(5):
            p.request_batch(request(seed))
    assert counter.calls == 5


def test_ensure_nonempty() -> None:
    pipeline, counter = upstream(np.ones(N, bool), points=[2.5, 15.25])
    counter.calls = 0
    with fg.build(pipeline + fg.Reject(ensure_nonempty=POINTS, max_attempts=200)) as p:
        for seed in range(20):
            batch = p.request_batch(request(seed, size=3, points=True))
            graph = batch[POINTS]
            assert len(graph) >= 1
            start = position(batch)
            for i, location in zip(graph.ids, graph.locations[:, 0], strict=True):
                assert location + start == [2.5, 15.25][i]
    assert counter.calls > 20


def test_ensure_nonempty_error_names_the_graph() -> None:
    pipeline, _ = upstream(np.ones(N, bool), points=[])
    with (
        fg.build(pipeline + fg.Reject(ensure_nonempty=POINTS, max_attempts=3)) as p,
        pytest.raises(
            fg.UnsatisfiableRequestError, match=r"Reject\(POINTS\): 3 consecutive batches had no point of POINTS"
        ),
    ):
        p.request_batch(request(0, points=True))


def test_ensure_nonempty_must_be_requested() -> None:
    pipeline, _ = upstream(np.ones(N, bool), points=[2.5])
    with (
        fg.build(pipeline + fg.Reject(ensure_nonempty=POINTS)) as p,
        pytest.raises(fg.RequestError, match="ensure_nonempty=POINTS must be requested"),
    ):
        p.request_batch(request(0))


def test_setup_errors() -> None:
    pipeline, _ = upstream(np.ones(N, bool))
    match = r"Reject\(POINTS\): ensure_nonempty=POINTS is not provided upstream; add a source for POINTS"
    with pytest.raises(fg.SetupError, match=match), fg.build(pipeline + fg.Reject(ensure_nonempty=POINTS)):
        pass  # pragma: no cover
    source = fg.ArraySource(RAW, fg.Array(np.zeros(N), SPEC))
    with (
        pytest.raises(fg.SetupError, match=r"Reject\(MASK\): needs MASK \(the mask\)"),
        fg.build(source + fg.Reject(mask=MASK)),
    ):
        pass  # pragma: no cover


def test_nothing_to_check_is_a_config_error() -> None:
    with pytest.raises(fg.ConfigError, match="give mask=ArrayKey and/or ensure_nonempty=GraphKey"):
        fg.Reject()


def test_masked_fraction() -> None:
    assert masked_fraction(np.array([0, 2, 0, 5])) == 0.5
    assert masked_fraction(np.zeros((0, 3))) == 0.0
    assert masked_fraction(np.ones((2, 3), bool)) == 1.0


# -- min_count (issue 11): pytorch_connectomics' SIZE_THRES ------------------------------------------
def test_min_count_alone_is_the_only_criterion() -> None:
    on = np.zeros(N, bool)
    on[8:11] = True  # 3 mask voxels: a 4-voxel window holds at most 3 (75%), often 1 or 2
    pipeline, _ = upstream(on)
    with fg.build(pipeline + fg.Reject(mask=MASK, min_count=3)) as p:
        for seed in range(10):
            assert int(np.count_nonzero(p.request_batch(request(seed, mask=True))[MASK].data)) >= 3
    pipeline, _ = upstream(on)
    with fg.build(pipeline + fg.Reject(mask=MASK, min_count=1)) as p:  # 25% of the window is enough
        counts = {int(np.count_nonzero(p.request_batch(request(seed, mask=True))[MASK].data)) for seed in range(20)}
    assert min(counts) >= 1 and 1 in counts
    assert fg.Reject(mask=MASK, min_count=5).min_masked == 0.0 and fg.Reject(mask=MASK).min_masked == 0.5


def test_min_count_with_min_masked_needs_both_and_the_error_names_the_best() -> None:
    on = np.zeros(N, bool)
    on[8:11] = True
    pipeline, _ = upstream(on)
    reject = fg.Reject(mask=MASK, min_count=3, min_masked=0.8, max_attempts=30)
    with (
        fg.build(pipeline + reject) as p,
        pytest.raises(fg.UnsatisfiableRequestError, match=r"< 3 mask voxels \(best 3\)"),
    ):
        p.request_batch(request(0))


def test_min_count_with_reject_probability_keeps_some_failing_batches() -> None:
    on = np.zeros(N, bool)
    on[0] = True
    pipeline, _ = upstream(on)
    with fg.build(pipeline + fg.Reject(mask=MASK, min_count=1000, reject_probability=0.5)) as p:
        kept = [int(np.count_nonzero(p.request_batch(request(seed, mask=True))[MASK].data)) for seed in range(10)]
    assert all(k < 1000 for k in kept)  # every batch fails SIZE_THRES and is kept with probability 0.5


@pytest.mark.parametrize(("kwargs", "param"), [({"min_count": -1}, "min_count"), ({"min_count": 2.5}, "min_count")])
def test_min_count_bad_values(kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(fg.ConfigError, match=param):
        fg.Reject(mask=MASK, **kwargs)
    with pytest.raises(fg.ConfigError, match="give mask"):
        fg.Reject(ensure_nonempty=POINTS, min_count=3)
