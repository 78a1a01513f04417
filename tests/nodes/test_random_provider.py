"""RandomProvider: one upstream per request, chosen with the given probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import flowgraph as fg

RAW = fg.ArrayKey("RAW")
LABELS = fg.ArrayKey("LABELS")
INDEX = fg.ArrayKey("INDEX")


def constant(value: int, offset: tuple[int, int] = (0, 0), shape: tuple[int, int] = (6, 6), key: Any = RAW) -> Any:
    spec = fg.ArraySpec(roi=fg.Roi(offset, shape), voxel_size=(1, 1))
    return fg.ArraySource(key, fg.Array(np.full(shape, value, np.int64), spec))


SMALL = fg.Roi((0, 0), (2, 2))


def request(seed: int, roi: fg.Roi = SMALL, index: bool = False) -> fg.BatchRequest:
    r = fg.BatchRequest(random_seed=seed)
    r[RAW] = fg.ArraySpec(roi=roi)
    if index:
        r[INDEX] = fg.ArraySpec(nonspatial=True)
    return r


def choices(probabilities: list[float] | None, n: int, seeds: range) -> list[int]:
    sources = tuple(constant(i) for i in range(n))
    with fg.build(sources + fg.RandomProvider(probabilities)) as p:
        return [int(p.request_batch(request(seed))[RAW].data[0, 0]) for seed in seeds]


def test_probabilities_are_respected() -> None:
    picked = np.bincount(choices([1, 3, 0, 6], 4, range(600)), minlength=4) / 600
    # expected (0.1, 0.3, 0, 0.6); binomial standard deviations <= 0.02, bounds ~4 sigma
    assert abs(picked[0] - 0.1) < 0.05
    assert abs(picked[1] - 0.3) < 0.08
    assert picked[2] == 0.0
    assert abs(picked[3] - 0.6) < 0.08


def test_uniform_by_default() -> None:
    picked = np.bincount(choices(None, 3, range(600)), minlength=3) / 600
    assert np.all(np.abs(picked - 1 / 3) < 0.08)


def test_choice_is_reproducible_per_seed() -> None:
    assert choices([1, 1], 2, range(50)) == choices([1, 1], 2, range(50))
    assert len(set(choices([1, 1], 2, range(50)))) == 2


def test_index_key_reports_the_choice() -> None:
    sources = (constant(10), constant(11), constant(12))
    with fg.build(sources + fg.RandomProvider(random_provider_key=INDEX)) as p:
        assert p.spec[INDEX].nonspatial and p.spec[INDEX].dtype == np.int64
        for seed in range(20):
            batch = p.request_batch(request(seed, index=True))
            assert batch[INDEX].data.dtype == np.int64 and batch[INDEX].data.shape == ()
            assert int(batch[RAW].data[0, 0]) == 10 + int(batch[INDEX].data)


def test_offered_roi_is_the_intersection() -> None:
    sources = (constant(0, (0, 0), (6, 6)), constant(1, (2, -2), (6, 6)), constant(2, (-4, 1), (8, 4)))
    with fg.build(sources + fg.RandomProvider()) as p:
        assert p.spec[RAW].roi == fg.Roi((2, 1), (2, 3))
        values = {int(p.request_batch(request(seed, fg.Roi((2, 1), (2, 3))))[RAW].data[0, 0]) for seed in range(30)}
        assert values == {0, 1, 2}
        with pytest.raises(fg.RequestError, match=r"outside the provided ROI \[2:4, 1:4\]"):
            p.request_batch(request(0, fg.Roi((0, 0), (2, 2))))


def test_only_shared_keys_are_offered() -> None:
    sources = (
        (constant(0), constant(5, key=LABELS)) + fg.MergeProvider(),
        constant(1),
    )
    with fg.build(sources + fg.RandomProvider()) as p:
        assert set(p.spec) == {RAW}


def test_mismatched_probabilities_are_a_setup_error() -> None:
    with (
        pytest.raises(
            fg.SetupError, match="RandomProvider: got 3 probabilities for 2 upstream pipelines; give one each"
        ),
        fg.build((constant(0), constant(1)) + fg.RandomProvider([1, 1, 1])),
    ):
        pass  # pragma: no cover


def test_no_shared_key_is_a_setup_error() -> None:
    with (
        pytest.raises(fg.SetupError, match="the upstream pipelines share no key"),
        fg.build((constant(0), constant(1, key=LABELS)) + fg.RandomProvider()),
    ):
        pass  # pragma: no cover


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"probabilities": [1, -1]}, "probabilities must lie in"),
        ({"probabilities": [0, 0]}, "probabilities must not all be zero"),
        ({"probabilities": "12"}, "probabilities must be a sequence of weights"),
        ({"random_provider_key": "INDEX"}, "random_provider_key must be an ArrayKey"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(fg.ConfigError, match=match):
        fg.RandomProvider(**kwargs)


def test_branches_at_different_voxel_sizes_are_refused_at_setup_naming_them() -> None:
    fine = constant(1)
    coarse_spec = fg.ArraySpec(roi=fg.Roi((0, 0), (6, 6)), voxel_size=(2, 2))
    coarse = fg.ArraySource(RAW, fg.Array(np.zeros((3, 3), np.int64), coarse_spec))
    names = r"RAW has different voxel sizes .*branch 0 .*\(1, 1\).*branch 1 .*\(2, 2\)"
    with pytest.raises(fg.SetupError, match=names), fg.build((fine, coarse) + fg.RandomProvider()):
        pass
