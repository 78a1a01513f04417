"""flowgraph precompute: layout, seeds, resumption equal to a clean run (hook, SIGKILL, SIGINT), refusals."""

from __future__ import annotations

import filecmp
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import h5py
import numpy as np
import pytest

import flowgraph as fg
from flowgraph.cli import commands as cli
from flowgraph.cli.precompute import FORMAT, dataset_names, precompute
from flowgraph.visualize.describe import to_text

# A pipeline file: two arrays at random places, mirrored/transposed at random. BlockAt sleeps for a
# minute in the sample whose seed is $BLOCK_SEED (after touching $BLOCK_MARKER), so that a test
# can interrupt a run at a known sample.
PIPELINE = """
import os, time
import numpy as np
import flowgraph as fg

IMG, LABELS = fg.ArrayKey("IMG"), fg.ArrayKey("LABELS")


class BlockAt(fg.BatchFilter):
    def __init__(self, key):
        self.key = key

    def setup(self):
        self.updates(self.key)

    def process(self, batch, request):
        marker = os.environ.get("BLOCK_MARKER")
        if marker and request.random_seed == int(os.environ["BLOCK_SEED"]):
            open(marker, "w").close()
            time.sleep(60)


spec = fg.ArraySpec(roi=fg.Roi((0, 0), (128, 128)), voxel_size=(2, 2))
image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
labels = (np.arange(64 * 64).reshape(64, 64) // 37).astype(np.uint64) + 2**40
pipeline = (
    (fg.ArraySource(IMG, fg.Array(image, spec)),
     fg.ArraySource(LABELS, fg.Array(labels, spec.replace(interpolatable=False))))
    + fg.MergeProvider()
    + fg.RandomLocation()
    + fg.SimpleAugment()
    + BlockAt(IMG)
)
request = fg.BatchRequest()
request[IMG] = fg.ArraySpec(roi=fg.Roi((-16, -12), (32, 24)))
request[LABELS] = fg.ArraySpec(roi=fg.Roi((-8, -8), (16, 16)))
"""

N = 6


@pytest.fixture(scope="module")
def pipeline_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = os.path.join(str(tmp_path_factory.mktemp("precompute")), "pipeline.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(PIPELINE)
    return path


@pytest.fixture(scope="module")
def loaded(pipeline_file: str) -> tuple[Any, Any]:
    return cli.load_pipeline_file(pipeline_file)


@pytest.fixture(scope="module")
def clean(loaded: tuple[Any, Any], tmp_path_factory: pytest.TempPathFactory) -> str:
    """An uninterrupted run: N samples from seed 100."""
    pipeline, request = loaded
    path = os.path.join(str(tmp_path_factory.mktemp("clean")), "clean.h5")
    result = precompute(pipeline, request, path, N, seed=100)
    assert (result.computed, result.kept, result.n) == (N, 0, N)
    return path


def contents(path: str) -> dict[str, Any]:
    """Every dataset and attribute of an HDF5 file (root and datasets), for exact comparison."""
    out: dict[str, Any] = {}
    with h5py.File(path, "r") as f:
        for name, value in f.attrs.items():
            out[f"@{name}"] = value
        for name, ds in f.items():
            out[name] = ds[()]
            out[f"{name}.dtype"] = ds.dtype.str
            for attr, value in ds.attrs.items():
                out[f"{name}@{attr}"] = value
    return out


def assert_same_file(a: str, b: str) -> None:
    ca, cb = contents(a), contents(b)
    assert sorted(ca) == sorted(cb)
    for name in ca:
        x, y = np.asarray(ca[name]), np.asarray(cb[name])
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert x.tobytes() == y.tobytes(), f"{name} differs"  # bit for bit


def flowgraph(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "flowgraph.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def wait_for(path: str, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if process.poll() is not None:
            raise AssertionError(f"the run ended before blocking: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("the run never reached the blocking sample")
        time.sleep(0.02)


def set_up(node: fg.BatchProvider) -> None:
    """Build (set up) and tear down a pipeline of ``node``."""
    with fg.build(node):
        pass


# -- layout and seeds ---------------------------------------------------------------------------------


def test_layout_seeds_and_description(clean: str, loaded: tuple[Any, Any]) -> None:
    pipeline, request = loaded
    img, labels = fg.ArrayKey("IMG"), fg.ArrayKey("LABELS")
    with h5py.File(clean, "r") as f:
        assert sorted(f.keys()) == ["done", "img", "labels"]
        assert f["img"].shape == (N, 16, 12) and f["img"].dtype == np.float32
        assert f["labels"].shape == (N, 8, 8) and f["labels"].dtype == np.uint64
        assert f.attrs["seeds"].dtype == np.int64 and f.attrs["seeds"].tolist() == list(range(100, 100 + N))
        assert f.attrs["format"] == FORMAT and int(f.attrs["n"]) == N and bool(f.attrs["complete"])
        assert f["done"][()].all()
        assert f.attrs["pipeline"] == to_text(pipeline)
        assert "IMG roi=[-16:16, -12:12] voxel_size=None" in f.attrs["request"]
        assert f["img"].attrs["key"] == "IMG" and f["labels"].attrs["resolution"].tolist() == [2, 2]
        assert f["img"].attrs["offset"].tolist() == [-16, -12] and not f["labels"].attrs["interpolatable"]
        stored = {key: f[name][()] for key, name in (("img", "img"), ("labels", "labels"))}
    with fg.build(pipeline) as p:
        for i in range(N):
            batch = p.request_batch(request.with_seed(100 + i))
            assert np.array_equal(batch[img].data, stored["img"][i])
            assert np.array_equal(batch[labels].data, stored["labels"][i])
    assert not np.array_equal(stored["img"][0], stored["img"][1])  # the samples differ


def test_names_are_lower_case_and_clashes_refused() -> None:
    request = fg.BatchRequest()
    request.add(fg.ArrayKey("IMG"), (4, 4))
    request.add(fg.ArrayKey("inv_deltas_xy"), (4, 4))
    assert list(dataset_names(request).values()) == ["img", "inv_deltas_xy"]
    request.add(fg.ArrayKey("img"), (4, 4))
    with pytest.raises(fg.ConfigError, match="would both be stored as 'img'"):
        dataset_names(request)
    graphs = fg.BatchRequest()
    graphs[fg.GraphKey("POINTS")] = fg.GraphSpec(roi=fg.Roi((0, 0), (4, 4)))
    with pytest.raises(fg.ConfigError, match="writes arrays only"):
        dataset_names(graphs)
    done = fg.BatchRequest()
    done.add(fg.ArrayKey("DONE"), (4, 4))
    with pytest.raises(fg.ConfigError, match="completion flags"):
        dataset_names(done)


def test_seed_defaults_to_the_requests_then_a_fresh_one(loaded: tuple[Any, Any], tmp_path: Any) -> None:
    pipeline, request = loaded
    precompute(pipeline, request.with_seed(7), tmp_path / "a.h5", 2)
    precompute(pipeline, request, tmp_path / "b.h5", 2)
    with h5py.File(tmp_path / "a.h5", "r") as a, h5py.File(tmp_path / "b.h5", "r") as b:
        assert a.attrs["seeds"].tolist() == [7, 8]
        first = int(b.attrs["seeds"][0])
        assert b.attrs["seeds"].tolist() == [first, first + 1] and 0 <= first < 2**63


# -- resumption -----------------------------------------------------------------------------------------


class Stop(KeyboardInterrupt):
    pass


def stop_after(k: int) -> Any:
    def progress(done: int, total: int) -> None:
        if done >= k:
            raise Stop

    return progress


def test_resumption_after_an_interruption_equals_a_clean_run(
    clean: str, loaded: tuple[Any, Any], tmp_path: Any
) -> None:
    pipeline, request = loaded
    path = str(tmp_path / "resumed.h5")
    with pytest.raises(Stop):
        precompute(pipeline, request, path, N, seed=100, progress=stop_after(2))
    with h5py.File(path, "r") as f:
        assert f["done"][()].tolist() == [True, True] + [False] * (N - 2) and not f.attrs["complete"]
    with pytest.raises(Stop):  # a second interruption, one sample later
        precompute(pipeline, request, path, N, progress=stop_after(3))
    calls: list[tuple[int, int]] = []
    result = precompute(pipeline, request, path, N, progress=lambda d, t: calls.append((d, t)))
    assert (result.computed, result.kept) == (N - 3, 3)
    assert calls == [(d, N) for d in range(3, N + 1)]
    assert_same_file(path, clean)
    assert filecmp.cmp(path, clean, shallow=False)  # even the files' bytes (datasets allocated at creation)
    again = precompute(pipeline, request, path, N, seed=100)  # complete: nothing to do
    assert (again.computed, again.kept) == (0, N)
    assert_same_file(path, clean)


def test_a_half_written_sample_is_recomputed(clean: str, loaded: tuple[Any, Any], tmp_path: Any) -> None:
    """Data of an unfinished sample (written, never marked done) is overwritten on resumption."""
    pipeline, request = loaded
    path = str(tmp_path / "half.h5")
    with pytest.raises(Stop):
        precompute(pipeline, request, path, N, seed=100, progress=stop_after(2))
    with h5py.File(path, "r+") as f:  # a process killed between writing sample 2 and marking it
        f["img"][2] = -1.0
        f["labels"][2] = 5
    precompute(pipeline, request, path, N)
    assert_same_file(path, clean)


def test_workers_give_the_same_file(clean: str, loaded: tuple[Any, Any], tmp_path: Any) -> None:
    pipeline, request = loaded
    path = str(tmp_path / "workers.h5")
    with pytest.raises(Stop):
        precompute(pipeline, request, path, N, seed=100, workers=2, progress=stop_after(3))
    result = precompute(pipeline, request, path, N, seed=100, workers=2)
    assert result.computed == N - 3
    assert_same_file(path, clean)


def test_a_killed_process_leaves_a_resumable_file(clean: str, pipeline_file: str, tmp_path: Any) -> None:
    path, marker = str(tmp_path / "killed.h5"), str(tmp_path / "blocked")
    run = flowgraph(
        "precompute", pipeline_file, "-n", str(N), "-o", path, "--seed", "100",
        env={"BLOCK_MARKER": marker, "BLOCK_SEED": "104"},
    )  # fmt: skip
    wait_for(marker, run)
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=60)
    assert run.returncode == -signal.SIGKILL
    with h5py.File(path, "r") as f:
        assert f["done"][()].tolist() == [True] * 4 + [False] * (N - 4)
    with pytest.raises(fg.SetupError, match="4 of 6 samples are done"):
        set_up(fg.PrecomputedSource(path, {fg.ArrayKey("IMG"): "img"}))
    resumed = flowgraph("precompute", pipeline_file, "-n", str(N), "-o", path)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert "2 computed, 4 kept" in out and "4 of 6 samples already done" in err
    assert_same_file(path, clean)


def test_ctrl_c_exits_130_and_leaves_a_resumable_file(clean: str, pipeline_file: str, tmp_path: Any) -> None:
    path, marker = str(tmp_path / "interrupted.h5"), str(tmp_path / "blocked")
    run = flowgraph(
        "precompute", pipeline_file, "-n", str(N), "-o", path, "--seed", "100",
        env={"BLOCK_MARKER": marker, "BLOCK_SEED": "102"},
    )  # fmt: skip
    wait_for(marker, run)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert run.returncode == cli.EXIT_INTERRUPTED, err
    assert "run the same command again" in err and "Traceback" not in err
    resumed = flowgraph("precompute", pipeline_file, "-n", str(N), "-o", path, "--seed", "100")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert "4 computed, 2 kept" in out
    assert_same_file(path, clean)


# -- refusals ---------------------------------------------------------------------------------------------


@pytest.fixture
def partial(loaded: tuple[Any, Any], tmp_path: Any) -> Iterator[str]:
    pipeline, request = loaded
    path = str(tmp_path / "partial.h5")
    with pytest.raises(Stop):
        precompute(pipeline, request, path, N, seed=100, progress=stop_after(1))
    yield path


def test_a_mismatching_file_is_refused(partial: str, loaded: tuple[Any, Any], tmp_path: Any) -> None:
    pipeline, request = loaded
    before = contents(partial)
    with pytest.raises(fg.ConfigError, match="written with seeds from 100, not 5"):
        precompute(pipeline, request, partial, N, seed=5)
    with pytest.raises(fg.ConfigError, match=f"holds {N} samples, not -n 3"):
        precompute(pipeline, request, partial, 3)
    other = fg.BatchRequest()
    other[fg.ArrayKey("IMG")] = fg.ArraySpec(roi=fg.Roi((-16, -16), (32, 32)))
    other[fg.ArrayKey("LABELS")] = fg.ArraySpec(roi=fg.Roi((-8, -8), (16, 16)))
    with pytest.raises(fg.ConfigError, match="another request"):
        precompute(pipeline, other, partial, N)
    with pytest.raises(fg.ConfigError, match="another pipeline"):
        precompute(pipeline + fg.SimpleAugment(), request, partial, N)
    assert_same_file_contents = contents(partial)
    assert sorted(before) == sorted(assert_same_file_contents)
    foreign = str(tmp_path / "foreign.h5")
    with h5py.File(foreign, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(fg.ConfigError, match="not written by flowgraph precompute"):
        precompute(pipeline, request, foreign, N)
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    with pytest.raises(fg.ConfigError, match="not a readable HDF5 file"):
        precompute(pipeline, request, text, N)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n": 0}, "n must be"), ({"workers": -1}, "workers must"), ({"seed": -3}, "seed must")],
)
def test_bad_arguments(kwargs: dict[str, Any], match: str, loaded: tuple[Any, Any], tmp_path: Any) -> None:
    pipeline, request = loaded
    args = {"n": 2, **kwargs}
    with pytest.raises(fg.ConfigError, match=match):
        precompute(pipeline, request, tmp_path / "x.h5", **args)
    assert not (tmp_path / "x.h5").exists()


def test_the_subcommand_in_process(pipeline_file: str, clean: str, tmp_path: Any) -> None:
    out, err = io.StringIO(), io.StringIO()
    path = str(tmp_path / "cli.h5")
    code = cli.main(["precompute", pipeline_file, "-n", str(N), "-o", path, "--seed", "100"], out, err)
    assert code == cli.EXIT_OK, err.getvalue()
    assert f"{N} samples ({N} computed, 0 kept" in out.getvalue() and "IMG -> img" in out.getvalue()
    assert f"{N}/{N} samples" in err.getvalue()
    assert_same_file(path, clean)
    assert cli.main(["precompute", pipeline_file, "-o", path], out, err) == cli.EXIT_USAGE  # -n is required
    assert cli.main(["precompute", pipeline_file, "-n", "2", "-o", path], out, err) == cli.EXIT_ERROR
    assert "holds 6 samples, not -n 2" in err.getvalue()
