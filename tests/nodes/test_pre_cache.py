"""PreCache: worker processes, reproducibility, prefetching, errors and clean shutdown."""

from __future__ import annotations

import _thread
import concurrent.futures
import mmap
import multiprocessing as mp
import os
import pickle
import sys
import threading
import time
import types
from collections.abc import Hashable
from pathlib import Path

import numpy as np
import pytest
from contract_cases import RAW, coordinate_volume

import flowgraph as fg
from flowgraph.parallel import shared_memory
from flowgraph.parallel.executor import Executor, InProcessExecutor
from flowgraph.parallel.worker_pool import WorkerError

SEED = fg.ArrayKey("SEED")
VOXEL_SIZE = (2, 1, 1)


def volume_source(shape: tuple[int, int, int] = (10, 30, 30)) -> fg.ArraySource:
    data = coordinate_volume(shape)
    roi = fg.Roi((0, 0, 0), tuple(s * v for s, v in zip(shape, VOXEL_SIZE, strict=True)))
    return fg.ArraySource(RAW, fg.Array(data, fg.ArraySpec(roi=roi, voxel_size=VOXEL_SIZE)))


class SeedStamp(fg.BatchFilter):
    """Provides SEED, a non-spatial array holding the seed of the request (test helper)."""

    def setup(self) -> None:
        self.provides(SEED, fg.ArraySpec(nonspatial=True, dtype=np.int64))

    def process(self, batch: fg.Batch, request: fg.BatchRequest) -> fg.Batch:
        return fg.Batch({SEED: fg.Array(np.array([request.random_seed], np.int64), fg.ArraySpec(nonspatial=True))})


class Fail(fg.BatchFilter):
    """Raises ``error`` (or ends its process, or sleeps) for requests with seed ``seed``."""

    def __init__(self, seed: int | None, action: str = "raise") -> None:
        self.seed = seed
        self.action = action

    def setup(self) -> None:
        self.updates(RAW)

    def process(self, batch: fg.Batch, request: fg.BatchRequest) -> None:
        if self.seed is not None and request.random_seed != self.seed:
            return
        if self.action == "raise":
            raise SampleError(f"cannot sample seed {request.random_seed}")
        if self.action == "unpicklable":
            raise UnpicklableError(request.random_seed, "extra")
        if self.action == "exit":
            os._exit(3)
        time.sleep(0.5)


class SampleError(ValueError):
    """An exception type of the test module (the worker raises it, the caller must see it)."""


class UnpicklableError(Exception):
    def __init__(self, seed: int, extra: str) -> None:  # two required arguments: unpickling fails
        super().__init__(f"seed {seed}")


def request(seed: int | None, shape: tuple[int, int, int] = (4, 6, 6), stamp: bool = True) -> fg.BatchRequest:
    r = fg.BatchRequest(random_seed=seed)
    r.add(RAW, tuple(s * v for s, v in zip(shape, VOXEL_SIZE, strict=True)))
    if stamp:
        r[SEED] = fg.ArraySpec(nonspatial=True)
    return r


def upstream() -> fg.Pipeline:
    return volume_source() + fg.RandomLocation() + SeedStamp()


def reference(seeds: list[int], shape: tuple[int, int, int] = (4, 6, 6)) -> dict[int, np.ndarray]:
    with fg.build(upstream()) as p:
        return {s: p.request_batch(request(s, shape))[RAW].data.copy() for s in seeds}


def gone(pid: int) -> bool:
    """The process has exited (and was reaped, or is a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def assert_stopped(pids: list[int], prefix: str) -> None:
    assert pids
    assert mp.active_children() == []
    assert all(gone(pid) for pid in pids)
    assert shared_memory.leftovers(prefix) == []


@pytest.mark.parametrize("num_workers", [0, 1, 2])
def test_a_seed_gives_the_batch_of_the_pipeline_without_precache(num_workers: int) -> None:
    seeds = [11, 12, 13, 40, 12, 5]
    expected = reference(seeds)
    with fg.build(upstream() + fg.PreCache(cache_size=3, num_workers=num_workers)) as p:
        got = {s: p.request_batch(request(s)) for s in seeds}
    for s in seeds:
        np.testing.assert_array_equal(got[s][RAW].data, expected[s])
        assert got[s][SEED].data.tolist() == [s]
    assert not np.array_equal(got[11][RAW].data, got[12][RAW].data)  # distinct seeds, distinct places


def test_unseeded_requests_get_consecutive_seeds_and_are_served_from_the_prefetch() -> None:
    cache = fg.PreCache(cache_size=3, num_workers=2)
    with fg.build(upstream() + cache) as p:
        batches = [p.request_batch(request(None)) for _ in range(6)]
        stats = cache.stats()
    seeds = [int(b[SEED].data[0]) for b in batches]
    assert seeds == [(seeds[0] + i) % 2**63 for i in range(6)]
    assert stats == {"hits": 5, "misses": 1}
    expected = reference(seeds)
    for s, b in zip(seeds, batches, strict=True):
        np.testing.assert_array_equal(b[RAW].data, expected[s])


def test_random_seeds_and_changing_requests_are_computed_on_demand() -> None:
    cache = fg.PreCache(cache_size=2, num_workers=2)
    plan = [(7, (4, 6, 6)), (90, (4, 6, 6)), (91, (2, 8, 8)), (92, (2, 8, 8)), (93, (2, 8, 8)), (3, (4, 6, 6))]
    with fg.build(upstream() + cache) as p:
        got = [p.request_batch(request(s, shape))[RAW].data for s, shape in plan]
        stats = cache.stats()
    for (s, shape), data in zip(plan, got, strict=True):
        np.testing.assert_array_equal(data, reference([s], shape)[s])
    # 8 and 9 are prefetched after 7 (first request); 90 and 91 come unannounced (no prefetch); 92 was
    # predicted by 91 (prefetching resumes), so 93 is the one request served from the prefetch
    assert stats == {"hits": 1, "misses": 5}


def test_large_batches_come_back_through_shared_memory() -> None:
    cache = fg.PreCache(cache_size=2, num_workers=2)
    big = request(4, (8, 36, 36), stamp=False)  # 82,944 bytes of int64: above the inline limit
    with fg.build(volume_source((10, 40, 40)) + fg.RandomLocation() + cache) as p:
        batch = p.request_batch(big)
    assert batch[RAW].data.nbytes >= shared_memory.INLINE_BYTES
    root = batch[RAW].data
    while isinstance(root, np.ndarray):
        root = root.base
    # a view on the mapped segment, not a pickled copy
    assert isinstance(root.obj if isinstance(root, memoryview) else root, mmap.mmap)
    with fg.build(volume_source((10, 40, 40)) + fg.RandomLocation()) as p:
        np.testing.assert_array_equal(batch[RAW].data, p.request_batch(big)[RAW].data)
    batch[RAW].data[...] = 0  # the batch owns its data


def test_a_worker_exception_keeps_its_type_and_carries_the_worker_traceback() -> None:
    with fg.build(upstream() + Fail(3) + fg.PreCache(cache_size=2, num_workers=2)) as p:
        p.request_batch(request(1))
        with pytest.raises(SampleError, match="cannot sample seed 3") as info:
            p.request_batch(request(3))  # prefetched: the error waited in the cache
        with pytest.raises(SampleError, match="cannot sample seed 3"):
            p.request_batch(request(3))  # asked again: computed again
        assert p.request_batch(request(4))[SEED].data.tolist() == [4]
    notes = "\n".join(info.value.__notes__)
    assert "while Fail processed" in notes
    assert "PreCache worker" in notes and "Traceback" in notes and "in process" in notes


def test_an_exception_that_cannot_be_pickled_arrives_as_worker_error() -> None:
    pipeline = upstream() + Fail(None, "unpicklable") + fg.PreCache(cache_size=1, num_workers=1)
    with fg.build(pipeline) as p, pytest.raises(WorkerError, match="UnpicklableError: seed 8") as info:
        p.request_batch(request(8))
    assert "UnpicklableError" in "\n".join(info.value.__notes__)


def test_a_dead_worker_is_reported_and_replaced() -> None:
    cache = fg.PreCache(cache_size=1, num_workers=1)
    with fg.build(upstream() + Fail(5, "exit") + cache) as p:
        first = cache.worker_pids()
        with pytest.raises(WorkerError, match="died with exit code 3"):
            p.request_batch(request(5))
        assert p.request_batch(request(6))[SEED].data.tolist() == [6]
        assert cache.worker_pids() != first


def test_build_exit_stops_every_worker_and_leaves_no_segment() -> None:
    cache = fg.PreCache(cache_size=4, num_workers=2)
    with fg.build(volume_source((10, 40, 40)) + fg.RandomLocation() + cache) as p:
        p.request_batch(request(1, (8, 36, 36), stamp=False))  # prefetches of 2..5 are under way
        pids = cache.worker_pids()
        prefix = cache._executor.prefix  # type: ignore[union-attr]
    assert_stopped(pids, prefix)


def test_ctrl_c_while_waiting_stops_every_worker() -> None:
    cache = fg.PreCache(cache_size=2, num_workers=2)
    with pytest.raises(KeyboardInterrupt), fg.build(upstream() + Fail(None, "sleep") + cache) as p:
        pids = cache.worker_pids()
        prefix = cache._executor.prefix  # type: ignore[union-attr]
        threading.Timer(0.2, _thread.interrupt_main).start()
        p.request_batch(request(1))
    assert_stopped(pids, prefix)


def test_fork_workers_give_the_same_batches() -> None:
    expected = reference([21, 22])
    with fg.build(upstream() + fg.PreCache(cache_size=1, num_workers=1, start_method="fork")) as p:
        for s in (21, 22):
            np.testing.assert_array_equal(p.request_batch(request(s))[RAW].data, expected[s])


class Unpicklable(fg.BatchFilter):
    def __init__(self) -> None:
        self.transform = lambda x: x


def test_an_unpicklable_pipeline_runs_forked_or_is_a_setup_error_naming_the_fix() -> None:
    cache = fg.PreCache(num_workers=1)
    with fg.build(upstream() + Unpicklable() + cache) as p:
        assert cache.worker_start_method == "fork"
        assert p.request_batch(request(2))[SEED].data.tolist() == [2]
    pipeline = upstream() + Unpicklable() + fg.PreCache(num_workers=1, start_method="forkserver")
    with pytest.raises(fg.SetupError, match=r"cannot be pickled.*start_method='fork'"), fg.build(pipeline):
        pass
    assert mp.active_children() == []


def test_the_default_start_method_is_forkserver_unless_workers_could_not_import_the_main_module(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cache = fg.PreCache(num_workers=1)
    with fg.build(upstream() + cache):
        assert cache.worker_start_method == "forkserver"
    # a program whose main module is not Python (like the runner of the docs' code blocks)
    fake = types.ModuleType("__main__")
    fake.__file__ = str(tmp_path / "notes.md")
    (tmp_path / "notes.md").write_text("# not python\n```python\n```\n")
    monkeypatch.setitem(sys.modules, "__main__", fake)
    cache = fg.PreCache(num_workers=1)
    with fg.build(upstream() + cache) as p:
        assert cache.worker_start_method == "fork"
        assert p.request_batch(request(3))[SEED].data.tolist() == [3]
    # insisting on forkserver: the workers cannot start, which is said at once, not retried forever
    with pytest.raises(WorkerError, match=r"before setting up its pipeline.*if __name__ == '__main__'"):  # noqa: SIM117
        with fg.build(upstream() + fg.PreCache(num_workers=1, start_method="forkserver")) as p:
            p.request_batch(request(3))  # the worker dies at once, or while it is being started
    assert mp.active_children() == []


def test_default_worker_count_is_what_the_process_may_use() -> None:
    assert fg.PreCache().num_workers == len(os.sched_getaffinity(0))
    assert fg.PreCache(num_workers=3).cache_size == 6


def test_segments_are_reused_and_batches_held_by_the_caller_stay_intact() -> None:
    cache = fg.PreCache(cache_size=2, num_workers=2)
    seeds = list(range(30, 42))
    big = (8, 36, 36)
    with fg.build(volume_source((10, 40, 40)) + fg.RandomLocation()) as p:
        expected = {s: p.request_batch(request(s, big, stamp=False))[RAW].data.copy() for s in seeds}
    with fg.build(volume_source((10, 40, 40)) + fg.RandomLocation() + cache) as p:
        prefix = cache._executor.prefix  # type: ignore[union-attr]
        held = {s: p.request_batch(request(s, big, stamp=False)) for s in seeds[:6]}  # all kept
        for s in seeds[6:]:  # each dropped at once: its segment goes back to its worker
            np.testing.assert_array_equal(p.request_batch(request(s, big, stamp=False))[RAW].data, expected[s])
        segments = len(shared_memory.leftovers(prefix))
    for s, batch in held.items():
        np.testing.assert_array_equal(batch[RAW].data, expected[s])
    assert segments <= 6 + 2 * 2 + 2  # the held ones, plus a few free per worker, not one per batch
    assert shared_memory.leftovers(prefix) == []


class ThreadExecutor(Executor):
    """A minimal executor: a thread pool computing with the upstream pipeline built in this process."""

    def __init__(self, pipeline: fg.Pipeline, num_workers: int, **options: object) -> None:
        self.node, self.options = pipeline.node, options
        self.threads = concurrent.futures.ThreadPoolExecutor(num_workers)
        self.lock = threading.Lock()
        self.prefetched: dict[Hashable, concurrent.futures.Future[fg.Batch]] = {}

    def demand(self, key: Hashable, request: fg.BatchRequest) -> tuple[Hashable, concurrent.futures.Future[fg.Batch]]:
        with self.lock:
            future = self.prefetched.pop(key, None)
        return key, future or self.threads.submit(self.node.request_batch, request)

    def prefetch(self, key: Hashable, request: fg.BatchRequest) -> None:
        with self.lock:
            if key not in self.prefetched:
                self.prefetched[key] = self.threads.submit(self.node.request_batch, request)

    def known(self, key: Hashable) -> bool:
        with self.lock:
            return key in self.prefetched

    def drop_except(self, keep: set[Hashable]) -> None:
        with self.lock:
            for key in [k for k in self.prefetched if k not in keep]:
                self.prefetched.pop(key).cancel()

    def collect(self, handle: tuple[Hashable, concurrent.futures.Future[fg.Batch]]) -> fg.Batch:
        return handle[1].result()

    def release(self, handle: tuple[Hashable, concurrent.futures.Future[fg.Batch]]) -> None:
        with self.lock:
            self.prefetched.setdefault(*handle)

    def close(self) -> None:
        self.threads.shutdown(cancel_futures=True)


def test_a_custom_executor_class_plugs_in_and_gives_the_batches_of_the_pipeline_without_precache() -> None:
    seeds = [11, 12, 13, 40, 12, 5]
    expected = reference(seeds)
    cache = fg.PreCache(cache_size=3, num_workers=2, executor=ThreadExecutor)
    with fg.build(upstream() + cache) as p:
        assert isinstance(cache._executor, ThreadExecutor)
        assert cache._executor.options == {"cache_size": 3, "start_method": None, "owner": "PreCache"}
        assert cache.worker_pids() == [] and cache.worker_start_method is None
        got = {s: p.request_batch(request(s)) for s in seeds}
        unseeded = [p.request_batch(request(None)) for _ in range(4)]
        stats = cache.stats()
    for s in seeds:
        np.testing.assert_array_equal(got[s][RAW].data, expected[s])
        assert got[s][SEED].data.tolist() == [s]
    following = [int(b[SEED].data[0]) for b in unseeded]
    for s, b in zip(following, unseeded, strict=True):
        np.testing.assert_array_equal(b[RAW].data, reference([s])[s])
    assert stats["hits"] >= 3  # the unseeded requests after the first came from its prefetches


def test_a_custom_executor_serves_stack_and_pickles_as_configuration() -> None:
    with fg.build(upstream() + fg.Stack(3)) as p:
        expected = [p.request_batch(request(s))[RAW].data for s in (20, 21)]
    cache = fg.PreCache(cache_size=6, num_workers=3, executor=ThreadExecutor)
    with fg.build(upstream() + cache + fg.Stack(3)) as p:
        got = [p.request_batch(request(s))[RAW].data for s in (20, 21)]
        copy = pickle.loads(pickle.dumps(p))
        stats = cache.stats()
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(g, e)
    assert stats == {"hits": 3, "misses": 3}
    with fg.build(copy) as p:  # the copy starts its own executor
        np.testing.assert_array_equal(p.request_batch(request(20))[RAW].data, expected[0])


def test_num_workers_0_runs_in_process_through_the_same_path() -> None:
    cache = fg.PreCache(num_workers=0, executor=ThreadExecutor)  # 0 wins: nothing runs elsewhere
    with fg.build(upstream() + cache) as p:
        assert isinstance(cache._executor, InProcessExecutor)
        batch = p.request_batch(request(3))
        assert cache.stats() == {"hits": 0, "misses": 1}
    np.testing.assert_array_equal(batch[RAW].data, reference([3])[3])


def test_executor_must_be_a_factory() -> None:
    with pytest.raises(fg.ConfigError, match="PreCache: executor must be a factory"):
        fg.PreCache(executor="dask")  # type: ignore[arg-type]
