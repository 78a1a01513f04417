"""PrecomputedSource: the sample comes from the seed, the arrays are exactly the stored ones."""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np
import pytest

import flowgraph as fg
from flowgraph.cli.precompute import precompute
from flowgraph.rng import generator

IMG, LABELS, MATRIX = fg.ArrayKey("IMG"), fg.ArrayKey("LABELS"), fg.ArrayKey("MATRIX")


class Matrix(fg.BatchFilter):
    """Provides a nonspatial 2 x 3 array holding the request's seed."""

    def setup(self) -> None:
        self.provides(MATRIX, fg.ArraySpec(nonspatial=True, dtype=np.float64))

    def prepare(self, request: fg.BatchRequest) -> fg.BatchRequest:
        return fg.BatchRequest(random_seed=request.random_seed)

    def process(self, batch: fg.Batch, request: fg.BatchRequest) -> fg.Batch:
        data = np.full((2, 3), float(request.random_seed))
        return fg.Batch({MATRIX: fg.Array(data, fg.ArraySpec(nonspatial=True, dtype=np.float64))})


def live_pipeline() -> fg.Pipeline:
    spec = fg.ArraySpec(roi=fg.Roi((40, 0), (160, 96)), voxel_size=(4, 2))
    image = np.random.default_rng(1).random((40, 48)).astype(np.float32)
    labels = (np.arange(40 * 48, dtype=np.uint64).reshape(40, 48) // 7) + 2**50
    sources = (
        fg.ArraySource(IMG, fg.Array(image, spec)),
        fg.ArraySource(LABELS, fg.Array(labels, spec.replace(interpolatable=False))),
    )
    return sources + fg.MergeProvider() + fg.RandomLocation() + fg.SimpleAugment(transpose_only=()) + Matrix()


def live_request() -> fg.BatchRequest:
    request = fg.BatchRequest()
    request[IMG] = fg.ArraySpec(roi=fg.Roi((80, 20), (64, 40)))
    request[LABELS] = fg.ArraySpec(roi=fg.Roi((96, 20), (32, 40)))
    request[MATRIX] = fg.ArraySpec(nonspatial=True)
    return request


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("precomputed") / "set.h5")
    precompute(live_pipeline(), live_request(), path, 5, seed=20)
    return path


DATASETS = {IMG: "img", LABELS: "labels", MATRIX: "matrix"}


def set_up(node: fg.BatchProvider) -> None:
    """Build (set up) and tear down a pipeline of ``node``."""
    with fg.build(node):
        pass


def test_the_seed_picks_the_sample_and_the_arrays_are_the_stored_ones(stored: str) -> None:
    with h5py.File(stored, "r") as f:
        data = {key: f[name][()] for key, name in DATASETS.items()}
    source = fg.PrecomputedSource(stored, DATASETS)
    seen = set()
    with fg.build(source) as p:
        assert p.spec[IMG].roi == fg.Roi((80, 20), (64, 40)) and p.spec[IMG].voxel_size == (4, 2)
        assert p.spec[LABELS].interpolatable is False and p.spec[MATRIX].nonspatial
        for seed in range(12):
            request = live_request().with_seed(seed)
            batch = p.request_batch(request)
            i = int(generator(seed, source._position).integers(5))  # the node's generator for the seed
            assert source.sample_index(request) == i
            seen.add(i)
            for key in DATASETS:
                assert batch[key].data.dtype == data[key].dtype
                assert np.array_equal(batch[key].data, data[key][i])
            assert batch[IMG].spec.roi == fg.Roi((80, 20), (64, 40))
            assert batch[MATRIX].data[0, 0] == 20 + i  # the sample computed with seed 20 + i
    assert len(seen) > 2


def test_the_same_as_the_live_pipeline_for_the_samples_seed(stored: str) -> None:
    source = fg.PrecomputedSource(stored, DATASETS)
    with fg.build(source) as served, fg.build(live_pipeline()) as live:
        request = live_request().with_seed(3)
        batch = served.request_batch(request)
        sample_seed = 20 + source.sample_index(request)
        expected = live.request_batch(live_request().with_seed(sample_seed))
        for key in DATASETS:
            assert np.array_equal(batch[key].data, expected[key].data)


def test_a_part_of_the_sample_is_read_exactly(stored: str) -> None:
    source = fg.PrecomputedSource(stored, {IMG: "img"})
    with h5py.File(stored, "r") as f:
        img = f["img"][()]
    request = fg.BatchRequest(random_seed=4)
    request[IMG] = fg.ArraySpec(roi=fg.Roi((88, 24), (8, 10)))
    with fg.build(source + fg.Normalize(IMG)) as p:
        batch = p.request_batch(request)
    i = source.sample_index(request)
    assert np.array_equal(batch[IMG].data, img[i, 2:4, 2:7])


def test_an_unfinished_file_is_refused(tmp_path: Any) -> None:
    path = str(tmp_path / "partial.h5")

    def stop(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        precompute(live_pipeline(), live_request(), path, 5, seed=0, progress=stop)
    with pytest.raises(fg.SetupError, match=r"unfinished: 2 of 5 samples are done; run the same flowgraph precompute"):
        set_up(fg.PrecomputedSource(path, DATASETS))


def test_a_foreign_file_at_voxel_size_one_and_channels_by_array_specs(tmp_path: Any) -> None:
    """atlalign's layout without attributes: img (N, H, W) and deltas_xy (N, 2, H, W)."""
    path = str(tmp_path / "atlalign.h5")
    img = np.random.default_rng(0).random((3, 6, 8)).astype(np.float32)
    deltas = np.random.default_rng(1).normal(size=(3, 2, 6, 8)).astype(np.float32)
    with h5py.File(path, "w") as f:
        f["img"], f["deltas_xy"] = img, deltas
    field = fg.ArrayKey("DELTAS")
    source = fg.PrecomputedSource(path, {IMG: "img", field: "deltas_xy"}, {field: fg.ArraySpec(voxel_size=(1, 1))})
    request = fg.BatchRequest(random_seed=0)
    request[IMG] = fg.ArraySpec(roi=fg.Roi((0, 0), (6, 8)))
    request[field] = fg.ArraySpec(roi=fg.Roi((0, 0), (6, 8)))
    with fg.build(source) as p:
        assert p.spec[IMG].roi == fg.Roi((0, 0), (6, 8)) and p.spec[IMG].voxel_size == (1, 1)
        batch = p.request_batch(request)
    i = source.sample_index(request)
    assert np.array_equal(batch[IMG].data, img[i]) and np.array_equal(batch[field].data, deltas[i])


def test_setup_errors(stored: str, tmp_path: Any) -> None:
    with pytest.raises(fg.SetupError, match="dataset 'nope' for IMG is not in"):
        set_up(fg.PrecomputedSource(stored, {IMG: "nope"}))
    path = str(tmp_path / "uneven.h5")
    with h5py.File(path, "w") as f:
        f["a"], f["b"] = np.zeros((3, 4)), np.zeros((2, 4))
    with pytest.raises(fg.SetupError, match="different numbers of samples"):
        set_up(fg.PrecomputedSource(path, {IMG: "a", LABELS: "b"}))
    with pytest.raises(fg.ConfigError, match="datasets"):
        fg.PrecomputedSource(stored, {})
