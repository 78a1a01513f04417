"""PreCache: produce batches in worker processes ahead of demand."""

from __future__ import annotations

import itertools
import multiprocessing as mp
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from flowgraph import observe
from flowgraph.batch import Batch
from flowgraph.errors import ConfigError
from flowgraph.provider import BatchFilter, is_describing
from flowgraph.request import BatchRequest
from flowgraph.resample import available_cpus
from flowgraph.rng import seed_stream
from flowgraph.validate import number

if TYPE_CHECKING:
    from flowgraph.parallel.executor import Executor

_TEMPLATES = 4  # request templates remembered (prefetches exist only for the latest)


class PreCache(BatchFilter):
    """Produce the upstream pipeline's batches in worker processes, ahead of demand.

    Every worker process sets up its own copy of the upstream pipeline. When a request with
    seed ``s`` arrives, PreCache answers it (from the cache if it was prefetched, otherwise a
    worker computes it at once, before any prefetch) and keeps the workers busy with the same
    request for seeds ``s + 1, ..., s + cache_size``: exactly the requests a built pipeline
    makes next when the caller does not set seeds. Prefetches are used only for requests with
    identical keys and specs; a request for something else drops them, and a caller whose
    seeds do not follow on gets no prefetching until they do again. ``request_batches`` (used
    by Stack) submits several requests at once. Batches come back through shared memory: the
    worker copies the arrays once into a segment it reuses once the caller has dropped the
    batch; only specs, graphs and profiling records are pickled.

    Args:
        cache_size: how many batches are prefetched (and held) at most; default
            ``2 * num_workers``. Memory use is about ``cache_size + num_workers`` batches.
        num_workers: worker processes; default the number of CPUs this process may use
            (``len(os.sched_getaffinity(0))``). 0 runs the upstream pipeline in this process,
            without prefetching (for debugging).
        start_method: how worker processes start: ``"forkserver"``, ``"spawn"``, ``"fork"``, or
            None (default) to choose: forkserver when the upstream pipeline can be pickled and
            the workers can import everything it refers to, else fork (e.g. for nodes defined in
            a notebook). forkserver and spawn pickle the upstream pipeline (it arrives unbuilt;
            HDF5 files are reopened in each worker) and import the main module in every worker, so
            a script must guard its code with ``if __name__ == "__main__":``; fork needs neither
            and shares in-memory data copy-on-write, but can deadlock if another thread holds a
            lock at the moment the process forks.
        executor: what computes the batches: a factory called as ``executor(pipeline,
            num_workers, cache_size=..., start_method=..., owner=...)`` that returns a
            :class:`flowgraph.parallel.executor.Executor` (an Executor subclass with that
            constructor will do). Default (None): worker processes
            (``flowgraph.parallel.worker_pool.process_executor``). With ``num_workers=0`` the
            upstream pipeline always runs in this process.

    Requires: whatever is requested (it passes everything through).

    Provides: nothing new; the batches are the upstream pipeline's.

    Request: unchanged. A request with seed ``s`` gives exactly the batch the pipeline without
    PreCache gives for ``s``, whatever ``num_workers`` is.

    Randomness: none of its own; the seeds decide everything upstream.

    Raises:
        ConfigError: bad ``cache_size``, ``num_workers``, ``start_method`` or ``executor``.
        SetupError: the upstream pipeline cannot be pickled for the chosen start method.
        WorkerError: a worker process died while producing a requested batch (the worker is
            replaced; after more than ``2 * num_workers + 2`` deaths in a row, with no batch
            delivered in between, every request fails). Any exception raised upstream in a
            worker is re-raised in the caller with its original type and the worker's traceback
            added as a note.

    ``build()`` exit (normal or by an exception such as KeyboardInterrupt) stops every worker
    within a bounded time: idle workers tear down their pipeline, busy ones exit at once on
    SIGTERM, and no shared-memory segment, process or file descriptor is left behind (batches
    still held keep their memory), without waiting for the garbage collector. Workers ignore SIGINT;
    Ctrl-C reaches the caller only. Each worker lets nodes use ``CPUs // num_workers`` threads
    (``FLOWGRAPH_THREADS``). ``stats()``, ``worker_pids()`` and ``worker_start_method`` tell
    what is going on. A PreCache pickles (built or not) as its configuration: the copy starts
    its own workers when it is set up.

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> source = fg.ArraySource(raw, fg.Array(np.arange(100.0).reshape(10, 10),
        ...                         fg.ArraySpec(roi=fg.Roi((0, 0), (10, 10)), voxel_size=(1, 1))))
        >>> request = fg.BatchRequest(random_seed=1)
        >>> request.add(raw, (2, 2))
        >>> with fg.build(source + fg.RandomLocation() + fg.PreCache(cache_size=2, num_workers=1)) as p:
        ...     cached = p.request_batch(request)[raw].data
        >>> with fg.build(source + fg.RandomLocation()) as p:
        ...     direct = p.request_batch(request)[raw].data
        >>> bool((cached == direct).all())
        True
    """

    # runtime state, made by setup() (these class attributes stand in before it)
    _executor: Executor | None = None
    _counts: dict[str, int] | None = None
    _RUNTIME = ("_executor", "_lock", "_local", "_templates", "_template_ids", "_predicted", "_first", "_counts")

    def __init__(
        self,
        cache_size: int | None = None,
        num_workers: int | None = None,
        start_method: str | None = None,
        executor: Callable[..., Executor] | None = None,
    ) -> None:
        self.num_workers = (
            available_cpus() if num_workers is None else number("PreCache", "num_workers", num_workers, 0, integer=True)
        )
        self.cache_size = (
            2 * max(self.num_workers, 1)
            if cache_size is None
            else number("PreCache", "cache_size", cache_size, 1, integer=True)
        )
        methods = mp.get_all_start_methods()
        if start_method is not None and start_method not in methods:
            raise ConfigError(f"PreCache: start_method must be one of {', '.join(methods)}, got {start_method!r}.")
        self.start_method = start_method
        if executor is not None and not callable(executor):
            raise ConfigError(
                "PreCache: executor must be a factory (e.g. an Executor subclass) or None, got "
                f"{type(executor).__name__}."
            )
        self.executor = executor

    # -- lifecycle -------------------------------------------------------------------------------------
    def setup(self) -> None:
        self._lock = threading.Lock()  # guards the prefetch bookkeeping below
        self._templates: list[tuple[int, BatchRequest, Hashable]] = []
        self._template_ids = itertools.count()
        self._predicted: set[Hashable] = set()
        self._first = True
        self._counts = {"hits": 0, "misses": 0}
        self._local = threading.local()  # the handles request_batches() claimed, per calling thread
        self._executor = None
        # the periphery, loaded when used
        from flowgraph.parallel.executor import InProcessExecutor
        from flowgraph.parallel.worker_pool import process_executor, subtree

        pipeline = subtree(self.upstream)
        # a pipeline built only to be drawn computes nothing ahead (its negotiation is the same)
        if self.num_workers == 0 or is_describing():
            executor: Executor = InProcessExecutor(pipeline)
        else:
            factory = self.executor or process_executor
            executor = factory(
                pipeline,
                self.num_workers,
                cache_size=self.cache_size,
                start_method=self.start_method,
                owner=self.name,
            )
        try:
            executor.start()
        except BaseException:
            executor.close()
            raise
        self._executor = executor

    def teardown(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.close()

    def __getstate__(self) -> dict[str, Any]:
        # the configuration: the copy starts its own executor in setup()
        return {k: v for k, v in self.__dict__.items() if k not in self._RUNTIME}

    def stats(self) -> dict[str, int]:
        """Requests answered from prefetches (``hits``, done or under way) and computed on demand (``misses``)."""
        return dict(self._counts or {"hits": 0, "misses": 0})

    @property
    def worker_start_method(self) -> str | None:
        """The start method the running workers were created with (None when not running)."""
        return self._executor.start_method if self._executor is not None else None

    def worker_pids(self) -> list[int]:
        """Process ids of the running workers (empty when not built or without workers)."""
        return self._executor.pids() if self._executor is not None else []

    # -- requests ----------------------------------------------------------------------------------------
    def provide(self, request: BatchRequest) -> Batch:
        t0 = time.perf_counter()
        executor = self._executor
        assert executor is not None  # set up
        claimed: dict[Hashable, list[Any]] | None = getattr(self._local, "claimed", None)
        handle = None
        if claimed:
            with self._lock:
                key = (self._template_id(request), request.random_seed)
            mine = claimed.get(key)
            handle = mine.pop(0) if mine else None
        if handle is None:
            handle = self._schedule([request], None)[0][1]
        batch = executor.collect(handle)
        batch.profiling.append((self.name, "process", time.perf_counter() - t0))
        return batch

    def request_batches(
        self, requests: Sequence[BatchRequest], upcoming_seeds: Iterable[int] | None = None
    ) -> list[Batch]:
        """Deliver several requests, computed in parallel by the workers.

        Args:
            requests: the requests (all are submitted before the first is awaited).
            upcoming_seeds: the seeds the caller will ask for next with the last request's keys
                and specs, in order; the first ``cache_size`` new ones are prefetched. Default:
                the seeds following the last request's.

        Returns:
            the batches, in the order of ``requests``.
        """
        executor = self._executor
        if executor is None or not requests:
            return [self.request_batch(r) for r in requests]
        scheduled = self._schedule(requests, upcoming_seeds)
        claimed: dict[Hashable, list[Any]] | None = getattr(self._local, "claimed", None)
        if claimed is None:
            claimed = self._local.claimed = {}
        for key, handle in scheduled:  # provide() picks them up as request_batch() checks each request
            claimed.setdefault(key, []).append(handle)
        try:
            return [self.request_batch(r) for r in requests]
        finally:
            for key, handle in scheduled:  # the ones an error left unclaimed stay cached as prefetches
                mine = claimed.get(key, [])
                for i, h in enumerate(mine):
                    if h is handle:
                        del mine[i]
                        executor.release(handle)
                        break
                if not mine:
                    claimed.pop(key, None)

    def _template_id(self, request: BatchRequest) -> int:
        mark = observe.marker()  # what is observed or replayed: part of what a cached batch answers
        for tid, template, made in self._templates:
            if made == mark and template == request:
                return tid
        tid = next(self._template_ids)
        self._templates.append((tid, request.copy(), mark))
        del self._templates[:-_TEMPLATES]
        return tid

    def _schedule(
        self, requests: Sequence[BatchRequest], upcoming_seeds: Iterable[int] | None
    ) -> list[tuple[Hashable, Any]]:
        """Demand ``requests`` (their keys and handles) and move the prefetch window (see the class docstring)."""
        executor, counts = self._executor, self._counts
        assert executor is not None and counts is not None
        with self._lock:
            keys = [(self._template_id(r), r.random_seed) for r in requests]
            # prefetch only while the caller is predictable: first call, or a request we predicted
            predictable = self._first or any(k in self._predicted for k in keys)
            self._first = False
            for key in keys:
                counts["hits" if executor.known(key) else "misses"] += 1
            scheduled: list[tuple[Hashable, Any]] = [(k, executor.demand(k, r)) for k, r in zip(keys, requests)]
            tid = keys[-1][0]
            seeds = seed_stream(requests[-1].random_seed or 0) if upcoming_seeds is None else upcoming_seeds
            seen = set(keys)
            predicted: list[tuple[int, int]] = []
            for seed in itertools.islice(seeds, 4 * self.cache_size + len(keys)):
                upcoming = (tid, seed)
                if upcoming not in seen:
                    seen.add(upcoming)
                    predicted.append(upcoming)
                    if len(predicted) == self.cache_size:
                        break
            self._predicted = set(predicted)
            executor.drop_except((set(keys) | self._predicted) if predictable else set(keys))
            if predictable:
                template = next(t for i, t, _ in self._templates if i == tid)
                for tid_seed in predicted:
                    if not executor.known(tid_seed):
                        executor.prefetch(tid_seed, template.with_seed(tid_seed[1]))
        return scheduled
