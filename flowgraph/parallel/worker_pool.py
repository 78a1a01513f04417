"""WorkerPool: copies of a pipeline running in worker processes, fed tasks by a dispatcher thread.

The process :class:`~flowgraph.parallel.executor.Executor` behind PreCache (made by
:func:`process_executor`). Each worker process receives the pipeline once (pickled, or inherited
with ``fork``), sets up its own copy, answers requests one at a time and tears its copy down when
told to stop, when the parent goes away, or on SIGTERM. Batches come back through shared memory
(:mod:`flowgraph.parallel.shared_memory`); requests, specs and errors travel pickled. What
travels with a task and back is defined in one place: :func:`task_message` and :func:`answer`.

In the parent, a dispatcher thread owns the connections to the workers: it hands the next task
to every idle worker (tasks somebody waits for first, then prefetches in the order they were
scheduled), receives results, maps them and wakes the waiting callers. All bookkeeping is
guarded by one lock, ``pool.lock`` (with the condition variable ``pool.cond`` on it), which every
public method takes itself.

Shutdown (:meth:`WorkerPool.close`) is bounded: the dispatcher is joined with a timeout (it takes
the lock with a timeout too, so a lock left held by an interrupted caller cannot block it), idle
workers get a stop message and tear their pipeline down, busy ones get SIGTERM and exit at once
(:func:`flowgraph.parallel.shared_memory.when_consistent` lets a segment being created finish its
registration first), stragglers are killed; every process object, pipe and shared-memory segment
is released by ``close`` itself, with no reference cycle left for the garbage collector.
A worker that dies is replaced; the pool gives up only after more than ``2 * workers + 2``
consecutive deaths (a delivered batch resets the count).

Start methods: ``forkserver`` (the default where available) forks workers from a clean
single-threaded server process, which is safe whatever threads the caller runs; the pipeline is
pickled for it with the standard pickler (it arrives unbuilt: nodes create their locks and
caches in ``setup``, Hdf5Source reopens its file). ``fork`` needs no pickling (a pipeline that
does not pickle, e.g. with a lock made in a node's ``__init__``, still runs) and shares in-memory
sources copy-on-write, but is unsafe when the parent has other threads holding locks. ``spawn``
works everywhere and starts slowest.
"""

from __future__ import annotations

import collections
import contextlib
import io
import itertools
import multiprocessing as mp
import os
import pickle
import secrets
import signal
import sys
import threading
import time
import traceback
import types
from collections.abc import Hashable
from multiprocessing import connection
from typing import Any

from flowgraph import observe
from flowgraph.batch import Batch
from flowgraph.errors import PipelineError, SetupError, WorkerError
from flowgraph.parallel import shared_memory
from flowgraph.parallel.executor import Executor, InProcessExecutor, check_interrupt
from flowgraph.pipeline import Pipeline
from flowgraph.request import BatchRequest
from flowgraph.resample import available_cpus

#: seconds an idle stopping worker gets to tear down its pipeline before it is killed
STOP_TIMEOUT = 5.0
#: seconds a busy worker gets after SIGTERM (it exits at once) before it is killed
BUSY_STOP_TIMEOUT = 1.0
#: seconds ``close`` waits for the dispatcher thread (a daemon thread) to return
DISPATCHER_JOIN_SECONDS = 2.0
#: how often an idle worker checks that its parent is still alive
_POLL_SECONDS = 1.0
#: the environment variable that caps the threads a node uses (see flowgraph.resample)
THREADS_VARIABLE = "FLOWGRAPH_THREADS"


def default_workers() -> int:
    """The number of CPUs this process may run on."""
    return available_cpus()


def default_start_method() -> str:
    """The safe start method of this platform: forkserver where it exists, else spawn."""
    return "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"


def main_reimportable() -> bool | None:
    """Can a fresh process import this program's main module? None: there is none to import.

    forkserver and spawn workers import the main module (as ``__mp_main__``) before anything
    else: by module name after ``python -m``, else from ``__main__.__file__``, which must then be
    a Python file. Interactive sessions and notebooks have neither.
    """
    main = sys.modules.get("__main__")
    if getattr(getattr(main, "__spec__", None), "name", None):
        return True
    path = getattr(main, "__file__", None)
    if path is None:
        return None
    return str(path).endswith((".py", ".pyw")) and os.path.exists(path)


# -- pickling a pipeline for workers ----------------------------------------------------------------


class _PipelinePickler(pickle.Pickler):
    """The standard pickler, noting whether the pickle refers to the main module."""

    def __init__(self, file: Any, protocol: int) -> None:
        super().__init__(file, protocol)
        self.uses_main = False

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, (type, types.FunctionType)) and getattr(obj, "__module__", None) == "__main__":
            self.uses_main = True  # pickled by reference to the main module
        return NotImplemented


def dumps_pipeline(pipeline: Pipeline) -> tuple[bytes, bool]:
    """Pickle ``pipeline`` for a worker (a built pipeline pickles as its unbuilt copy).

    Returns the bytes and whether they refer to classes or functions of the main module.
    """
    buffer = io.BytesIO()
    pickler = _PipelinePickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dump(pipeline)
    return buffer.getvalue(), pickler.uses_main


def plan_start(pipeline: Pipeline, start_method: str | None, owner: str) -> tuple[str, bytes | Pipeline]:
    """The start method to use and what to hand each worker (pickled bytes, or the pipeline for fork).

    ``None`` chooses: forkserver (spawn where there is none) when the pipeline pickles and the
    workers can import everything it refers to; otherwise fork, where it exists (the pipeline
    then needs no pickling: classes defined in a notebook or an interactive session work).
    """
    if start_method == "fork":
        return "fork", pipeline
    can_fork = start_method is None and "fork" in mp.get_all_start_methods()
    try:
        blob, uses_main = dumps_pipeline(pipeline)
    except Exception as e:
        if can_fork:
            return "fork", pipeline
        method = start_method or default_start_method()
        raise SetupError(
            f"{owner}: the upstream pipeline cannot be pickled for {method} worker processes "
            f"({type(e).__name__}: {e}); make that node picklable or use start_method='fork'."
        ) from e
    importable = main_reimportable()
    if can_fork and (importable is False or (uses_main and not importable)):
        return "fork", pipeline
    return start_method or default_start_method(), blob


def subtree(node: Any) -> Pipeline:
    """The pipeline feeding into (and ending with) the built ``node``, rebuilt from its upstream links."""
    return Pipeline(node, tuple(subtree(u) for u in node._upstream))


def _unbuild(pipeline: Pipeline) -> None:
    """Mark nested pipelines inherited through ``fork`` as not built, so the worker sets them up afresh."""
    for sub in pipeline.walk():
        for nested in sub.node.nested_pipelines():
            nested._built = False
            nested._done = []
            _unbuild(nested)


# -- errors across processes -------------------------------------------------------------------------------

ErrorPayload = tuple[bytes | None, str, str, list[str], str]


def error_payload(error: BaseException) -> ErrorPayload:
    """``error`` in a form that survives the trip to the parent, with its traceback text."""
    text = "".join(traceback.format_exception(error))
    data: bytes | None
    try:
        data = pickle.dumps(error)
        pickle.loads(data)
    except Exception:
        data = None
    kind = f"{type(error).__module__}.{type(error).__qualname__}"
    return data, kind, str(error), list(getattr(error, "__notes__", [])), text


def rebuild_error(payload: ErrorPayload, where: str) -> BaseException:
    """The exception of ``payload`` (its original type when possible) with the worker's traceback as a note."""
    data, kind, message, notes, text = payload
    error: BaseException | None = None
    if data is not None:
        try:
            error = pickle.loads(data)
        except Exception:
            error = None
    if error is None:
        error = WorkerError(f"{kind}: {message}")
        for note in notes:
            error.add_note(note)
    error.add_note(f"raised in {where}; the worker's traceback:\n{text.rstrip()}")
    return error


# -- the transport: what travels with a task, and back ------------------------------------------------------


def task_message(task: Task) -> tuple[Any, ...]:
    """What the parent sends a worker for ``task``: ``("task", id, request, observation)``.

    ``observation`` (:func:`flowgraph.observe.current` where the task was made) says what the
    worker observes and replays while it computes the batch; the records come back with it.
    """
    return ("task", task.id, task.request, task.observation)


def answer(pipeline: Pipeline, writer: shared_memory.SegmentWriter, message: tuple[Any, ...]) -> tuple[Any, ...]:
    """The worker's reply to a task message: ``("done", id, PackedBatch)`` or ``("error", id, payload)``.

    The batch's arrays go into one of ``writer``'s shared-memory segments; the parent unpacks
    the reply in ``WorkerPool._receive``.
    """
    _, task_id, request, observation = message
    try:
        with observe.applied(observation):
            batch = pipeline.node.request_batch(request)
        packed = writer.pack(batch)
    except Exception as e:
        return ("error", task_id, error_payload(e))
    return ("done", task_id, packed)


# -- the worker process -------------------------------------------------------------------------------------


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    """Exit at once (the parent removes this worker's segments), never between a segment and its registration.

    Raising SystemExit instead would be lost when the signal lands in a finalizer or a weakref
    callback ("Exception ignored"), and the worker would go on computing its batch.
    """
    shared_memory.when_consistent(lambda: os._exit(128 + signum))


def worker_main(
    index: int,
    pipeline: bytes | Pipeline,
    conn: connection.Connection,
    prefix: str,
    threads: int = 1,
    keep_free: int = 4,
) -> None:  # pragma: no cover - runs in the worker process (covered through PreCache's tests)
    """The loop of one worker: set up, then answer messages until ``None`` (or the parent is gone).

    On ``None`` or the parent's disappearance the worker tears its pipeline down and removes its
    segments; on SIGTERM it exits at once (the parent sweeps its segments).

    Messages: a task (see :func:`task_message` and :func:`answer`); ``("free", names)``: the
    parent no longer uses these segments.

    ``threads``: the threads a node may use inside this worker (``FLOWGRAPH_THREADS``, unless the
    environment sets it already), so that workers x threads do not exceed the CPUs.
    ``keep_free``: free shared-memory segments kept for reuse.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    os.environ.setdefault(THREADS_VARIABLE, str(threads))
    parent = os.getppid()
    built: Pipeline | None = None
    writer = shared_memory.SegmentWriter(segment_prefix(prefix, index, os.getpid()), keep_free)
    try:
        try:
            if isinstance(pipeline, Pipeline):
                _unbuild(pipeline)
                p = pipeline
            else:
                p = pickle.loads(pipeline)
            p.setup()
            built = p
        except Exception as e:
            conn.send(("setup_error", error_payload(e)))
            return
        conn.send(("ready", os.getpid()))
        while True:
            while not conn.poll(_POLL_SECONDS):
                if os.getppid() != parent:  # the parent (or the fork server) is gone
                    return
            message = conn.recv()
            if message is None:
                return
            if message[0] == "free":
                for name in message[1]:
                    writer.release(name)
                continue
            conn.send(answer(built, writer, message))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return
    finally:
        try:
            if built is not None:
                built.teardown()
        finally:
            writer.close()


def segment_prefix(prefix: str, index: int, pid: int) -> str:
    """The names of the shared-memory segments of worker ``index`` running as process ``pid``."""
    return f"{prefix}{index}_{pid}_"


# -- the parent side ----------------------------------------------------------------------------------------


class Task:
    """One request for the workers: queued, then running on a worker, then done (batch or error)."""

    __slots__ = ("batch", "error", "id", "key", "observation", "request", "state", "waiters", "worker")

    def __init__(self, task_id: int, key: Hashable, request: BatchRequest) -> None:
        self.id = task_id
        self.key = key
        self.request = request
        self.observation = observe.current()  # made in the caller's thread: what it observes and replays
        self.state = "queued"
        self.waiters = 0
        self.batch: Batch | None = None
        self.error: BaseException | None = None
        self.worker: _Worker | None = None


class _Worker:
    __slots__ = ("conn", "index", "pid", "process", "ready", "task")

    def __init__(self, index: int, process: Any, conn: connection.Connection) -> None:
        self.index = index
        self.process = process
        self.pid: int = process.pid  # kept: a closed process object forgets it
        self.conn = conn
        self.task: Task | None = None
        self.ready = False  # it said so after setting up its pipeline

    @property
    def label(self) -> str:
        return f"worker {self.index} (pid {self.pid})"

    def release(self) -> None:
        """Close the connection and the process object (its sentinel and pipe fds); the process has ended."""
        self.task = None
        with contextlib.suppress(OSError):
            self.conn.close()
        with contextlib.suppress(ValueError):  # still running (should not happen): the collector closes it
            self.process.close()


def process_executor(
    pipeline: Pipeline, num_workers: int, *, cache_size: int, start_method: str | None, owner: str
) -> Executor:
    """PreCache's default executor factory: a :class:`WorkerPool`, or in-process where there can be none.

    A daemonic process (a PreCache inside a worker's pipeline) may not have children: there the
    pipeline runs in-process. Each worker keeps enough free segments for its share of the cache.
    """
    if num_workers == 0 or mp.current_process().daemon:
        return InProcessExecutor(pipeline)
    keep_free = 2 + -(-cache_size // num_workers)
    return WorkerPool(pipeline, num_workers, start_method, owner, keep_free)


class WorkerPool(Executor):
    """``num_workers`` processes running copies of ``pipeline`` (see the module docstring).

    The :class:`~flowgraph.parallel.executor.Executor` protocol: ``demand`` (or ``prefetch``)
    keyed requests, then ``collect(task)`` every demanded task, or ``release`` it.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        num_workers: int,
        start_method: str | None = None,
        owner: str = "PreCache",
        keep_free: int = 4,
    ) -> None:
        self.owner = owner
        self.num_workers = num_workers
        self.keep_free = keep_free
        self.start_method, self._payload = plan_start(pipeline, start_method, owner)
        self._ctx = mp.get_context(self.start_method)
        self.prefix = f"fg{os.getpid()}_{secrets.token_hex(3)}_"
        # a C-level lock for `with` (its __exit__ cannot be interrupted half-way, unlike Condition's)
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self._tasks: dict[Hashable, Task] = {}
        self._queue: list[Task] = []
        self._ids = itertools.count()
        self._workers: list[_Worker] = []
        self._fatal: BaseException | None = None
        self._stopping = False
        self._closed = False
        self._deaths = 0  # over the pool's life (diagnostics)
        self._failures = 0  # consecutive deaths: a delivered batch resets it
        self._wake_r, self._wake_w = os.pipe()
        self._wake_open = True
        self._wake_lock = threading.RLock()  # a finalizer may wake the dispatcher while close() runs
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._thread: threading.Thread | None = None
        # segments the workers write batches into: mapped once here, handed back when collected
        self._reader = shared_memory.SegmentReader(self._segment_freed)
        self._freed: collections.deque[str] = collections.deque()
        self._owners: dict[str, _Worker] = {}

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        shared_memory.ensure_tracker()
        if self.start_method == "forkserver":
            _preload_flowgraph()
        try:
            for index in range(self.num_workers):
                self._workers.append(self._spawn(index))
        except BaseException:
            self.close()
            raise
        self._thread = threading.Thread(target=self._dispatch, name=f"{self.owner}-dispatcher", daemon=True)
        self._thread.start()

    def _spawn(self, index: int) -> _Worker:
        parent_end, child_end = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(  # type: ignore[attr-defined]
            target=worker_main,
            args=(
                index,
                self._payload,
                child_end,
                self.prefix,
                max(1, default_workers() // self.num_workers),
                self.keep_free,
            ),
            name=f"{self.owner}-worker-{index}",
            daemon=True,
        )
        try:
            process.start()
        except OSError as e:  # the new process died while receiving its task (e.g. importing __main__)
            parent_end.close()
            raise WorkerError(self._not_started(f"worker {index}", f"could not be started ({e})")) from e
        finally:
            child_end.close()
        return _Worker(index, process, parent_end)

    def _not_started(self, who: str, what: str) -> str:
        return (
            f"{self.owner}: {who} {what} before setting up its pipeline (start method {self.start_method}); "
            "its error is on standard error. forkserver and spawn workers import the main module first: guard "
            "the script's code with `if __name__ == '__main__':`, or use start_method='fork'."
        )

    def pids(self) -> list[int]:
        """Process ids of the current workers."""
        return [w.pid for w in self._workers if w.pid is not None]

    def close(self) -> None:
        """Stop every worker (idle ones tear down, busy ones get SIGTERM, stragglers are killed).

        Bounded in time: nothing here waits without a timeout. Releases every process object,
        pipe and segment itself (batches still in use keep their mappings).
        """
        with self.lock:
            if self._closed or self._stopping:
                return
            self._stopping = True
            self._wake()
        try:
            if self._thread is not None:
                self._thread.join(DISPATCHER_JOIN_SECONDS)
            self._stop_workers()
        finally:
            for w in self._workers:
                with contextlib.suppress(ValueError):
                    if w.process.is_alive():
                        w.process.kill()
                        w.process.join(1.0)
            self._drain()
            shared_memory.sweep(self.prefix)  # batches still in use keep their mappings
            self._reader.close()
            with self._wake_lock:
                self._wake_open = False
                os.close(self._wake_r)
                os.close(self._wake_w)
            with self.lock:
                self._closed = True
                for w in self._workers:
                    w.release()
                for task in self._tasks.values():
                    task.worker = None
                self._tasks.clear()
                self._queue.clear()
                self._owners.clear()
                self._freed.clear()
                self.cond.notify_all()

    def _stop_workers(self) -> None:
        for w in self._workers:
            if not w.process.is_alive():
                continue
            if w.task is not None:
                w.process.terminate()  # busy: it exits at once
            else:
                try:
                    w.conn.send(None)
                except OSError:
                    w.process.terminate()
        now = time.monotonic()
        for w in self._workers:
            deadline = now + (BUSY_STOP_TIMEOUT if w.task is not None else STOP_TIMEOUT)
            w.process.join(max(0.0, deadline - time.monotonic()))

    def _drain(self) -> None:
        """Remove the segments of results that arrived after the dispatcher stopped."""
        for w in self._workers:
            try:
                while w.conn.poll(0):
                    message = w.conn.recv()
                    if message[0] == "done":
                        shared_memory.discard(message[2])
            except Exception:
                pass
            with contextlib.suppress(OSError):
                w.conn.close()

    def diagnostics(self) -> dict[str, Any]:
        with self.lock:
            return {
                "start_method": self.start_method,
                "workers": len(self._workers),
                "busy": sum(w.task is not None for w in self._workers),
                "queued": len(self._queue),
                "known": len(self._tasks),
                "deaths": self._deaths,
                "consecutive_deaths": self._failures,
            }

    # -- scheduling ----------------------------------------------------------------------------------------
    def known(self, key: Hashable) -> bool:
        with self.lock:
            return key in self._tasks

    def demand(self, key: Hashable, request: BatchRequest) -> Task:
        """The task for ``key`` (an existing prefetch, or a new one queued first); the caller must collect it."""
        with self.lock:
            task = self._tasks.get(key)
            if task is None or task.waiters > 0:  # a second caller of the same key gets its own batch
                task = self._new(key, request)
            task.waiters += 1
            if task.state == "queued":
                self._wake()
            return task

    def prefetch(self, key: Hashable, request: BatchRequest) -> None:
        """Queue ``key`` for prefetching unless it is known already."""
        with self.lock:
            if key not in self._tasks:
                self._new(key, request)
                self._wake()

    def _new(self, key: Hashable, request: BatchRequest) -> Task:
        task = Task(next(self._ids), key, request)
        if key not in self._tasks or self._tasks[key].waiters == 0:
            self._tasks[key] = task
        self._queue.append(task)
        return task

    def drop_except(self, keep: set[Hashable]) -> None:
        """Forget prefetches not in ``keep`` that nobody waits for (running ones finish and are discarded)."""
        with self.lock:
            for key in [k for k, t in self._tasks.items() if k not in keep and t.waiters == 0]:
                task = self._tasks.pop(key)
                if task.state == "queued":
                    self._queue.remove(task)
                task.batch = None

    # -- collecting -------------------------------------------------------------------------------------
    def collect(self, task: Task) -> Batch:
        """Wait for ``task`` (demanded before) and return its batch, or raise its error.

        While waiting, a Ctrl-C deferred by the program (:func:`~flowgraph.parallel.executor.check_interrupt`)
        is raised here as KeyboardInterrupt within a tenth of a second.
        """
        with self.lock:
            try:
                while task.state != "done":
                    if self._fatal is not None:
                        raise self._fatal
                    if self._closed or self._stopping:
                        raise PipelineError(f"{self.owner}: the worker pool was shut down while a batch was awaited.")
                    check_interrupt()
                    self.cond.wait(0.1)
            finally:
                task.waiters -= 1
            if self._tasks.get(task.key) is task:
                del self._tasks[task.key]
        if task.error is not None:
            error, task.error = task.error, None
            raise error
        batch, task.batch = task.batch, None
        assert batch is not None
        return batch

    def release(self, task: Task) -> None:
        """Give up waiting for ``task`` (it stays cached as a prefetch)."""
        with self.lock:
            task.waiters -= 1

    # -- dispatcher thread ------------------------------------------------------------------------------
    def _wake(self) -> None:
        with self._wake_lock:  # never write to a closed (or reused) descriptor
            if self._wake_open:
                with contextlib.suppress(OSError):  # a full pipe wakes the dispatcher just as well
                    os.write(self._wake_w, b"x")

    def _segment_freed(self, name: str) -> None:
        """The reader's callback (any thread, maybe under ``cond``): hand ``name`` back to its worker."""
        self._freed.append(name)
        self._wake()

    def _return_segments(self) -> None:
        """Send the freed segments to the workers that own them (dispatcher thread)."""
        names: dict[_Worker, list[str]] = {}
        while self._freed:
            name = self._freed.popleft()
            owner = self._owners.get(name)
            if owner is not None:
                names.setdefault(owner, []).append(name)
        for w, batch in names.items():
            if w in self._workers and w.process.exitcode is None:
                with contextlib.suppress(OSError):
                    w.conn.send(("free", batch))

    def _next_task(self) -> Task | None:
        if not self._queue:
            return None
        task = next((t for t in self._queue if t.waiters > 0), self._queue[0])
        self._queue.remove(task)
        return task

    def _assign(self) -> None:
        for w in self._workers:
            if w.task is not None or w.process.exitcode is not None:
                continue
            task = self._next_task()
            if task is None:
                return
            try:
                w.conn.send(task_message(task))
            except OSError:  # the worker died; its sentinel will tell
                self._queue.insert(0, task)
                continue
            task.state = "running"
            task.worker = w
            w.task = task

    def _dispatch(self) -> None:
        try:
            while not self._stopping:
                # a timed acquire: close() must find this thread returning even if a caller
                # interrupted at the wrong moment left the lock held
                if not self.lock.acquire(timeout=_POLL_SECONDS):
                    continue
                try:
                    if self._stopping:
                        return
                    self._assign()
                    by_conn = {w.conn: w for w in self._workers}
                    by_sentinel = {w.process.sentinel: w for w in self._workers}
                finally:
                    self.lock.release()
                ready = connection.wait([*by_conn, *by_sentinel, self._wake_r], timeout=_POLL_SECONDS)
                for obj in ready:
                    if obj is self._wake_r:
                        self._drain_wake()
                    elif obj in by_conn:
                        self._receive(by_conn[obj])
                self._return_segments()
                for obj in ready:
                    if obj in by_sentinel and not isinstance(obj, connection.Connection):
                        self._died(by_sentinel[obj])
        except BaseException as e:  # pragma: no cover - a bug in the dispatcher must not hang callers
            error = WorkerError(f"{self.owner}: the dispatcher thread failed ({type(e).__name__}: {e}).")
            error.add_note("".join(traceback.format_exception(e)))
            with self.lock:
                self._fatal = error
                self.cond.notify_all()

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _receive(self, w: _Worker) -> bool:
        """Handle one message from ``w``; False if its connection is closed (it died or is dying)."""
        try:
            message = w.conn.recv()
        except (EOFError, OSError):
            return False  # its sentinel reports the death
        kind = message[0]
        w.ready = True
        if kind == "ready":
            return True
        if kind == "setup_error":
            fatal = rebuild_error(message[1], f"{self.owner} {w.label} while setting up its copy of the pipeline")
            with self.lock:
                self._fatal = fatal
                self.cond.notify_all()
            return True
        batch: Batch | None = None
        error: BaseException | None = None
        if kind == "done":
            self._failures = 0  # a healthy batch: deaths before it are not consecutive with later ones
            packed = message[2]
            for name in packed.retired:
                self._owners.pop(name, None)
            if packed.segment is not None:
                self._owners[packed.segment] = w
            batch = self._reader.unpack(packed)
        else:
            error = rebuild_error(message[2], f"{self.owner} {w.label}")
        with self.lock:
            task = w.task
            w.task = None
            if task is not None and task.id == message[1]:
                task.state = "done"
                task.batch = batch
                task.error = error
                task.worker = None
                if task.waiters == 0 and self._tasks.get(task.key) is not task:
                    task.batch = task.error = None  # dropped while running
            self.cond.notify_all()
        return True

    def _died(self, w: _Worker) -> None:
        while True:  # results it sent before dying still count
            try:
                if not w.conn.poll(0):
                    break
            except OSError:
                break
            if not self._receive(w):
                break
        w.process.join(0.1)
        with self.lock:
            if self._stopping or w not in self._workers or self._fatal is not None:
                return
            self._deaths += 1
            self._failures += 1
            code = w.process.exitcode
            if not w.ready:  # it never got going: restarting would fail the same way
                self._fatal = WorkerError(self._not_started(w.label, f"exited with code {code}"))
                self.cond.notify_all()
                return
            task = w.task
            w.task = None
            if task is not None:
                task.state = "done"
                task.error = WorkerError(
                    f"{self.owner}: {w.label} died with exit code {code} while producing a batch "
                    f"(seed {task.request.random_seed}); check its memory use or run without workers to debug."
                )
            if self._failures > 2 * self.num_workers + 2:
                self._fatal = WorkerError(
                    f"{self.owner}: worker processes died {self._failures} times in a row without delivering a "
                    f"batch (last exit code {code}); run the pipeline without PreCache to see the error."
                )
            else:
                self._reader.forget(segment_prefix(self.prefix, w.index, w.pid))
                for name in [n for n, owner in self._owners.items() if owner is w]:
                    del self._owners[name]
                try:
                    self._workers[self._workers.index(w)] = self._spawn(w.index)
                except WorkerError as e:
                    self._fatal = e
                else:
                    w.release()  # its pipe and process fds now, not when the collector runs
            self.cond.notify_all()


def _preload_flowgraph() -> None:
    """Let the fork server import flowgraph once, so that workers start in milliseconds."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    modules = list(getattr(server, "_preload_modules", None) or ["__main__"])
    if server is not None and "flowgraph" not in modules:
        server.set_forkserver_preload([*modules, "flowgraph"])


__all__ = [
    "BUSY_STOP_TIMEOUT",
    "DISPATCHER_JOIN_SECONDS",
    "STOP_TIMEOUT",
    "THREADS_VARIABLE",
    "Task",
    "WorkerError",
    "WorkerPool",
    "answer",
    "default_start_method",
    "default_workers",
    "dumps_pipeline",
    "error_payload",
    "process_executor",
    "rebuild_error",
    "segment_prefix",
    "subtree",
    "task_message",
    "worker_main",
]
