"""The executor seam: what PreCache needs from whatever computes its batches.

PreCache decides *which* batches are wanted (demanded now, or predicted and prefetched) and
names each by a key of its choosing; an :class:`Executor` computes them. The process worker
pool (:class:`flowgraph.parallel.worker_pool.WorkerPool`) is one executor,
:class:`InProcessExecutor` (used with ``num_workers=0``) another; a dask.distributed or thread
backend is a new subclass, handed to ``PreCache(executor=...)``.

An executor is made by a factory called as::

    factory(pipeline, num_workers, cache_size=..., start_method=..., owner=...)

(an Executor subclass whose constructor takes these arguments is its own factory). ``pipeline``
is the upstream pipeline, already built in the calling process: an executor that computes here
uses it as it is (it never sets it up or tears it down); one that computes elsewhere sends a
copy (``pickle.dumps(pipeline)`` gives an unbuilt one) and sets that up on its side.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from flowgraph.batch import Batch
    from flowgraph.pipeline import Pipeline
    from flowgraph.request import BatchRequest


class Executor(ABC):
    """Computes the batches of one pipeline, some on demand and some ahead of it.

    A *key* names one batch (PreCache uses ``(request template, seed)``); the executor keeps at
    most one prefetched batch per key. Every handle returned by :meth:`demand` is passed exactly
    once to :meth:`collect` or :meth:`release`. All methods may be called from any thread.

    Lifecycle: ``start()``, then any calls, then ``close()`` (also after a failed start).
    """

    #: how worker processes were started (``PreCache.worker_start_method``); None: no processes
    start_method: str | None = None

    def start(self) -> None:  # noqa: B027 - optional: an executor may be ready when constructed
        """Start computing (start workers). Called once, before any other method."""

    @abstractmethod
    def demand(self, key: Hashable, request: BatchRequest) -> Any:
        """A handle of the batch for ``request`` (named ``key``) for :meth:`collect`.

        A prefetch of ``key`` nobody has demanded yet is used; otherwise ``request`` is computed
        ahead of every prefetch. Demanding a key twice gives two handles (and two computations).
        """

    @abstractmethod
    def prefetch(self, key: Hashable, request: BatchRequest) -> None:
        """Compute ``request`` (named ``key``) when there is time, unless ``key`` is known already.

        An executor that cannot compute ahead ignores it (then :meth:`known` stays False).
        """

    @abstractmethod
    def known(self, key: Hashable) -> bool:
        """Whether a batch for ``key`` is prefetched (queued, under way or done) and not yet collected."""

    @abstractmethod
    def drop_except(self, keep: set[Hashable]) -> None:
        """Forget the prefetches whose keys are not in ``keep`` (demanded ones are kept until collected)."""

    @abstractmethod
    def collect(self, handle: Any) -> Batch:
        """Wait for the batch of a demanded ``handle`` and return it, or raise the error computing it raised."""

    @abstractmethod
    def release(self, handle: Any) -> None:
        """Give up a demanded ``handle`` without collecting it; its batch stays as a prefetch of its key."""

    @abstractmethod
    def close(self) -> None:
        """Stop computing and free everything (batches already collected stay valid). Idempotent."""

    def pids(self) -> list[int]:
        """Process ids of the workers (empty when the executor runs no processes)."""
        return []

    def diagnostics(self) -> dict[str, Any]:
        """Free-form facts for debugging (e.g. queued and running tasks)."""
        return {}


# -- a Ctrl-C deferred by the program ------------------------------------------------------------------

_interrupt_check: Callable[[], None] | None = None


def set_interrupt_check(check: Callable[[], None] | None) -> Callable[[], None] | None:
    """Install ``check`` (raises KeyboardInterrupt when a deferred Ctrl-C is pending); return the previous one.

    A program that defers SIGINT to safe points instead of letting Python raise KeyboardInterrupt
    wherever the main thread happens to be (in a finalizer, a weakref callback, half-way through
    releasing a lock), such as ``flowgraph run``, installs its check here; executors call
    :func:`check_interrupt` while they wait for a batch, so that the interrupt still arrives
    within a fraction of a second.
    """
    global _interrupt_check
    previous, _interrupt_check = _interrupt_check, check
    return previous


def check_interrupt() -> None:
    """A safe point: raise the pending deferred Ctrl-C, if any (see :func:`set_interrupt_check`)."""
    check = _interrupt_check
    if check is not None:
        check()


class ExecutorFactory(Protocol):
    """Makes the executor of a PreCache (see the module docstring)."""

    def __call__(
        self, pipeline: Pipeline, num_workers: int, *, cache_size: int, start_method: str | None, owner: str
    ) -> Executor: ...


class _Call:
    """A demanded request of an :class:`InProcessExecutor` (a handle compared by identity)."""

    __slots__ = ("request",)

    def __init__(self, request: BatchRequest) -> None:
        self.request = request


class InProcessExecutor(Executor):
    """Computes each demanded batch when it is collected, in the collecting thread; never prefetches.

    Uses the upstream pipeline as built in this process (PreCache with ``num_workers=0``, inside
    a worker process, or in a pipeline built only to be drawn).
    """

    def __init__(self, pipeline: Pipeline, num_workers: int = 0, **options: Any) -> None:
        self._node = pipeline.node

    def demand(self, key: Hashable, request: BatchRequest) -> _Call:
        return _Call(request)

    def prefetch(self, key: Hashable, request: BatchRequest) -> None:
        pass

    def known(self, key: Hashable) -> bool:
        return False

    def drop_except(self, keep: set[Hashable]) -> None:
        pass

    def collect(self, handle: _Call) -> Batch:
        return self._node.request_batch(handle.request)

    def release(self, handle: _Call) -> None:
        pass

    def close(self) -> None:
        pass


__all__ = ["Executor", "ExecutorFactory", "InProcessExecutor", "check_interrupt", "set_interrupt_check"]
