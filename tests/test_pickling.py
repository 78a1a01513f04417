"""Pipelines pickle with the standard pickler, built or not (DESIGN §4: runtime state is made in
``setup``), and a pickled pipeline gives the same batches in a fresh process."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import flowgraph as fg

sys.path.insert(0, str(Path(__file__).parent / "nodes"))  # the contract cases say how to make every node
from contract_cases import CASES, LABELS, MASK, POINTS, RAW, VOXEL_SIZE, Case, source_data

NAMES = list(fg.nodes.__all__)


def pipeline_of(case: Case) -> fg.Pipeline:
    node = case.make()
    return fg.Pipeline.coerce(node) if case.upstream is None else case.upstream() + node


def assert_same_batch(a: fg.Batch, b: fg.Batch) -> None:
    assert set(a) == set(b)
    for key in a:
        x, y = a[key], b[key]
        assert type(x) is type(y) and x.spec == y.spec, key
        if isinstance(x, fg.Array):
            assert x.data.dtype == y.data.dtype, key
            np.testing.assert_array_equal(x.data, y.data, err_msg=str(key))
        else:
            for name in ("ids", "locations", "edges"):
                np.testing.assert_array_equal(getattr(x, name), getattr(y, name), err_msg=f"{key} {name}")
            assert set(x.attributes) == set(y.attributes)
            for name, values in x.attributes.items():
                np.testing.assert_array_equal(values, y.attributes[name], err_msg=f"{key} {name}")


@pytest.mark.parametrize("name", NAMES)
def test_every_node_pickles_before_and_after_build_and_the_copy_gives_the_same_batch(name: str) -> None:
    assert name in CASES, f"{name} has no contract case in tests/nodes/contract_cases.py"
    case = CASES[name]
    pipeline = pipeline_of(case)
    unbuilt = pickle.loads(pickle.dumps(pipeline))
    assert type(unbuilt.node) is type(pipeline.node)
    with fg.build(pipeline) as p:
        p.request_batch(case.request(1))  # caches filled, counters moved
        data = pickle.dumps(p)
        expected = p.request_batch(case.request(2))
    for copy in (pickle.loads(data), unbuilt):
        assert not copy._built
        with fg.build(copy) as p:
            assert_same_batch(p.request_batch(case.request(2)), expected)


def test_a_built_precache_pickles_as_an_unstarted_copy_that_starts_its_own_workers() -> None:
    cache = fg.PreCache(cache_size=1, num_workers=1)
    with fg.build(CASES["PreCache"].upstream() + cache) as p:  # type: ignore[misc]
        pids = cache.worker_pids()
        copy = pickle.loads(pickle.dumps(p))
    node = copy.node
    assert isinstance(node, fg.PreCache) and pids
    assert node.worker_pids() == [] and node.stats() == {"hits": 0, "misses": 0}
    with fg.build(copy):
        assert node.worker_pids() and not set(node.worker_pids()) & set(pids)


def test_a_built_random_location_leaves_its_mask_caches_behind() -> None:
    case = CASES["RandomLocation"]
    pipeline = pipeline_of(case)
    with fg.build(pipeline) as p:
        p.request_batch(case.request(0))
        assert pipeline.node._sat_data is not None  # type: ignore[attr-defined]
        state = vars(pickle.loads(pickle.dumps(pipeline.node)))
    assert not {"_lock", "_sat_data", "_mask_data", "_tables"} & set(state)


# -- a training pipeline, round trip through a fresh process ------------------------------------------------

ARTIFACTS, ALPHA = fg.ArrayKey("ARTIFACTS"), fg.ArrayKey("ALPHA")

FRESH_PROCESS = """
import pickle, sys
import flowgraph as fg
with open(sys.argv[1], "rb") as f:
    pipeline, request = pickle.load(f)
with fg.build(pipeline) as p:
    batch = p.request_batch(request)
with open(sys.argv[2], "wb") as f:
    pickle.dump(batch, f)
"""


def training_pipeline(path: Path) -> fg.Pipeline:
    """Hdf5Source + RandomLocation (with a mask) + the augmentations (DefectAugment with a nested
    artifact pipeline) + PreCache(num_workers=0) + Stack."""
    data = source_data()
    with h5py.File(path, "w") as f:
        for key, name in ((RAW, "raw"), (LABELS, "labels"), (MASK, "mask")):
            ds = f.create_dataset(f"volumes/{name}", data=data[key].data)
            ds.attrs["resolution"] = VOXEL_SIZE
            ds.attrs["offset"] = (0, 0, 0)
    source = fg.Hdf5Source(
        str(path),
        {RAW: "volumes/raw", LABELS: "volumes/labels", MASK: "volumes/mask"},
        array_specs={LABELS: fg.ArraySpec(interpolatable=False), MASK: fg.ArraySpec(interpolatable=False)},
    )
    rng = np.random.default_rng(3)
    roi = fg.Roi((0, 0, 0), (12, 60, 60))

    def array(values: np.ndarray) -> fg.Array:
        return fg.Array(values.astype(np.float32), fg.ArraySpec(roi=roi, voxel_size=VOXEL_SIZE))

    artifacts = (
        fg.ArraySource(ARTIFACTS, array(rng.uniform(0.2, 0.8, (3, 30, 30)))),
        fg.ArraySource(ALPHA, array(rng.uniform(0.0, 1.0, (3, 30, 30)))),
    ) + fg.MergeProvider()
    artifacts += fg.RandomLocation()
    return (
        source
        + fg.RandomLocation(min_masked=0.7, mask=MASK)
        + fg.ElasticAugment([2, 10, 10], [0, 1, 1], [0, 0.8], prob_slip=0.2, max_misalign=1)
        + fg.SimpleAugment(transpose_only=(1, 2))
        + fg.IntensityAugment(RAW, 0.8, 1.2, -0.1, 0.1)
        + fg.DefectAugment(
            RAW,
            prob_missing=0.2,
            prob_artifact=0.3,
            artifact_source=artifacts,
            artifacts=ARTIFACTS,
            artifacts_mask=ALPHA,
        )
        + fg.PreCache(num_workers=0)
        + fg.Stack(2)
    )


def training_request(seed: int) -> fg.BatchRequest:
    request = fg.BatchRequest(random_seed=seed)
    request[RAW] = fg.ArraySpec(roi=fg.Roi((8, 20, 20), (24, 40, 40)))
    request[LABELS] = fg.ArraySpec(roi=fg.Roi((12, 30, 30), (16, 20, 20)))
    request[MASK] = fg.ArraySpec(roi=fg.Roi((12, 30, 30), (16, 20, 20)))
    return request


def in_fresh_process(tmp_path: Path, payload: Any) -> fg.Batch:
    sent, received = tmp_path / "pipeline.pickle", tmp_path / "batch.pickle"
    sent.write_bytes(pickle.dumps(payload))
    done = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(sent), str(received)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    batch = pickle.loads(received.read_bytes())
    assert isinstance(batch, fg.Batch)
    return batch


def test_a_built_training_pipeline_gives_the_same_batch_in_a_fresh_process(tmp_path: Path) -> None:
    pipeline = training_pipeline(tmp_path / "sample.h5")
    with fg.build(pipeline) as p:
        p.request_batch(training_request(1))  # the mask's caches filled, the file open
        data = pickle.dumps((p, training_request(7)))
        expected = p.request_batch(training_request(7))
    got = in_fresh_process(tmp_path, pickle.loads(data))
    assert set(got) == {RAW, LABELS, MASK}
    for key in expected:
        assert got[key].spec == expected[key].spec
        assert got[key].data.shape[0] == 2  # Stack(2)
        np.testing.assert_array_equal(got[key].data, expected[key].data, err_msg=str(key))
    assert POINTS not in got
