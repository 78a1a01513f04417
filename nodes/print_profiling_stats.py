"""PrintProfilingStats: print where the time goes, every N batches."""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO

from flowgraph.batch import Batch
from flowgraph.errors import ConfigError
from flowgraph.profiling import ProfileStats
from flowgraph.provider import BatchFilter
from flowgraph.request import BatchRequest
from flowgraph.validate import number


class PrintProfilingStats(BatchFilter):
    """Every ``every`` batches, print a table of the mean time per batch each node spent.

    Args:
        every: print after this many batches (the statistics then start afresh).
        stream: where to print; default ``sys.stdout`` (looked up when printing).

    Requires: whatever is requested.

    Provides: nothing; batches pass through unchanged.

    Request: unchanged.

    Randomness: none.

    The table lists every node the batches went through, upstream first, with its mean
    ``prepare`` and ``process`` milliseconds per batch and its share of the summed time (see
    ``flowgraph.profiling``). Behind a PreCache the upstream nodes ran in worker processes, so
    their times add up to CPU time, not wall time; PreCache's own row is the time the caller
    waited. Behind a Stack a batch counts every repetition.

    Raises:
        ConfigError: ``every`` is not a positive integer or ``stream`` cannot be written to.

    Example:
        >>> import io, numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> source = fg.ArraySource(raw, fg.Array(np.zeros((4, 4), np.uint8),
        ...                         fg.ArraySpec(roi=fg.Roi((0, 0), (4, 4)), voxel_size=(1, 1))))
        >>> out = io.StringIO()
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request.add(raw, (2, 2))
        >>> pipeline = source + fg.Normalize(raw) + fg.RandomLocation() + fg.PrintProfilingStats(every=2, stream=out)
        >>> with fg.build(pipeline) as p:
        ...     for _ in range(2):
        ...         _ = p.request_batch(request)
        >>> print(out.getvalue().splitlines()[0])
        PrintProfilingStats: mean over 2 batches
        >>> [line.split()[0] for line in out.getvalue().splitlines()[2:]]
        ['ArraySource(RAW)', 'Normalize(RAW)', 'RandomLocation', 'total']
    """

    def __init__(self, every: int = 1, stream: TextIO | None = None) -> None:
        self.every = number("PrintProfilingStats", "every", every, 1, integer=True)
        if stream is not None and not callable(getattr(stream, "write", None)):
            raise ConfigError(f"PrintProfilingStats: stream must have a write() method, got {type(stream).__name__}.")
        self.stream = stream

    def setup(self) -> None:
        self._stats = ProfileStats()
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # the configuration: the lock and the statistics so far belong to this build
        return {k: v for k, v in self.__dict__.items() if k not in ("_stats", "_lock")}

    def provide(self, request: BatchRequest) -> Batch:
        batch = self.upstream.request_batch(request)
        text = None
        with self._lock:
            self._stats.add(batch.profiling)
            if self._stats.batches >= self.every:
                text = self._stats.table(self.name)
                self._stats.reset()
        if text is not None:
            stream = self.stream if self.stream is not None else sys.stdout
            print(text, file=stream, flush=True)
        return batch
