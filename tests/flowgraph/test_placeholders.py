"""Placeholders (issue 9, point 3): a key whose ROI travels through the negotiation without data."""

from __future__ import annotations

import math

import numpy as np
import pytest

import flowgraph as fg
from flowgraph.testing import LABELS, MASK, POINTS, RAW, sources


class Reads(fg.BatchFilter):
    """Records the keys every request that reaches it holds, and whether they are placeholders."""

    def __init__(self) -> None:
        self.seen: list[dict[str, bool]] = []

    def provide(self, request: fg.BatchRequest) -> fg.Batch:
        self.seen.append({str(k): s.placeholder for k, s in request.items()})
        return self.upstream.request_batch(request)


class CountingSource(fg.BatchProvider):
    """Wraps a source and records the keys it is asked to read."""

    def __init__(self, inner: fg.BatchProvider) -> None:
        self.inner = inner
        self.read: list[set[str]] = []

    def setup(self) -> None:
        self.inner._upstream = ()
        self.inner._spec = fg.ProviderSpec()
        self.inner.setup()
        for key, spec in self.inner.spec.items():
            self.provides(key, spec)

    def provide(self, request: fg.BatchRequest) -> fg.Batch:
        self.read.append({str(k) for k in request})
        return self.inner.provide(request)


def test_request_add_placeholder_and_spec_flags() -> None:
    request = fg.BatchRequest()
    request.add(RAW, (16, 8, 8), placeholder=True)
    request.add(POINTS, (8, 4, 4), placeholder=True)
    assert request[RAW].placeholder and request[POINTS].placeholder
    assert fg.ArraySpec(roi=fg.Roi((0,), (1,)), placeholder=True).with_roi(None).placeholder
    with pytest.raises(fg.ConfigError, match="placeholder must be True or False"):
        fg.ArraySpec(placeholder="yes")  # type: ignore[arg-type]


def test_a_placeholder_travels_but_is_neither_read_nor_delivered() -> None:
    data = fg.testing.source_data()
    counting = CountingSource(fg.ArraySource(LABELS, data[LABELS]))
    spy = Reads()
    pipeline = (fg.ArraySource(RAW, data[RAW]), counting) + fg.MergeProvider() + spy + fg.RandomLocation()
    request = fg.BatchRequest(random_seed=4)
    request.add(RAW, (16, 20, 20))
    request.add(LABELS, (40, 60, 60), placeholder=True)  # the larger ROI must fit in the data too
    with fg.build(pipeline) as p:
        batch = p.request_batch(request)
    assert set(batch) == {RAW}
    assert spy.seen == [{"RAW": False, "LABELS": True}]  # the placeholder reached RandomLocation's upstream
    assert counting.read == []  # ... but its source was never asked to read it


SHIFT = fg.ArrayKey("SHIFT")


def test_random_location_keeps_a_placeholder_inside_the_data() -> None:
    # LABELS as placeholder spans almost the whole data along y (80 world units): the shift is restricted by it
    request = fg.BatchRequest()
    request[RAW] = fg.ArraySpec(roi=fg.Roi((0, 30, 30), (8, 4, 4)))
    request[LABELS] = fg.ArraySpec(roi=fg.Roi((0, 0, 30), (8, 76, 4)), placeholder=True)
    request[SHIFT] = fg.ArraySpec(nonspatial=True)
    shifts = set()
    with fg.build(sources() + fg.RandomLocation(random_shift_key=SHIFT)) as p:
        for seed in range(30):
            batch = p.request_batch(request.with_seed(seed))
            assert set(batch) == {RAW, SHIFT}
            shifts.add(int(batch[SHIFT].data[1]))
    # LABELS' 76 world units in 80 leave only y shifts 0, 2, 4 (on the voxel grid of 2)
    assert shifts <= {0, 2, 4} and len(shifts) > 1


def test_a_placeholder_gives_elastic_augment_its_voxel_size_and_the_same_draws() -> None:
    # gunpowder's placeholder test: points alone cannot tell ElasticAugment the voxel size
    pipeline = sources() + fg.RandomLocation() + fg.ElasticAugment((4, 10, 10), (0, 1, 1), (0, 2 * math.pi))
    with fg.build(pipeline) as p:
        for seed in range(3):
            with_placeholder = fg.BatchRequest(random_seed=seed)
            with_placeholder.add(POINTS, (24, 40, 40))
            with_placeholder.add(MASK, (24, 40, 40), placeholder=True)
            with_data = fg.BatchRequest(random_seed=seed)
            with_data.add(POINTS, (24, 40, 40))
            with_data.add(MASK, (24, 40, 40))
            a = p.request_batch(with_placeholder)
            b = p.request_batch(with_data)
            assert set(a) == {POINTS} and set(b) == {POINTS, MASK}
            np.testing.assert_array_equal(a[POINTS].locations, b[POINTS].locations)


def test_reject_checks_a_placeholder_mask_and_drops_it() -> None:
    request = fg.BatchRequest(random_seed=0)
    request[RAW] = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (16, 20, 20)))
    request[MASK] = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (16, 20, 20)), placeholder=True)
    request[SHIFT] = fg.ArraySpec(nonspatial=True)
    pipeline = sources() + fg.RandomLocation(random_shift_key=SHIFT) + fg.Reject(mask=MASK, min_masked=1.0)
    with fg.build(pipeline) as p:
        for seed in range(10):
            batch = p.request_batch(request.with_seed(seed))
            assert set(batch) == {RAW, SHIFT}
            # the mask is 0 for the first 5 voxels (10 world units) along y: only windows from y = 10 pass
            assert batch[SHIFT].data[1] >= 10
