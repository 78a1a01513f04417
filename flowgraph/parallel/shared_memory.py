"""Moving batches between processes: array data through POSIX shared memory, the rest pickled.

The sending process copies the array data of a batch once into a shared-memory segment; what
remains (keys, specs, graphs, the batch's records, where each array lies in the segment) is a small
picklable :class:`PackedBatch`. The receiving process maps the segment and wraps the arrays
around the mapping without copying them.

Two ways to use it:

- One-shot: :func:`pack_batch` creates a segment per batch, :func:`unpack_batch` maps it and
  unlinks its name at once; the memory returns to the system when the last array is collected.
- Reused segments (what PreCache's workers do): a :class:`SegmentWriter` in the worker keeps
  its segments mapped and writes each batch into a free one; a :class:`SegmentReader` in the
  receiver keeps them mapped too and reports a segment free (``on_free(name)``) when the last
  array of the batch it holds is garbage collected. A fresh segment costs a page fault per 4 KiB
  page on both sides (about 30 ms for the 25 MB of a CREMI batch on a virtual machine); a
  reused one costs only the copy.

Small batches (under :data:`INLINE_BYTES` of array data) travel pickled, which is faster.

Segment names start with a prefix chosen by the caller, so that :func:`sweep` can remove what a
killed process left behind. Every segment is registered with multiprocessing's resource tracker
by its creator and unregistered by whoever unlinks it; the tracker removes leftovers when the
program ends. A segment's existence and its registration change together: a signal handler that
ends the process (a worker's SIGTERM) waits for :func:`when_consistent`, so that no name is
left registered without a segment or unregistered twice (the tracker would print a
``KeyError`` traceback for each).
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import mmap
import os
import weakref
from collections.abc import Callable, Iterator
from multiprocessing import resource_tracker
from typing import Any

import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.graph import Graph
from flowgraph.keys import ArrayKey, Key
from flowgraph.observe import Record

try:  # the POSIX implementation behind multiprocessing.shared_memory
    import _posixshmem
except ImportError:  # pragma: no cover - Windows
    _posixshmem = None

#: array data below this many bytes travels pickled instead of through a segment
INLINE_BYTES = 1 << 16

_ALIGN = 64
_GRANULE = 1 << 20  # reused segments are allocated in whole MiB, so that similar batches fit
_SHM_DIR = "/dev/shm"


@dataclasses.dataclass
class PackedBatch:
    """A batch whose array data waits in a shared-memory segment (picklable, small).

    Attributes:
        segment: name of the segment holding the array data, or None if everything is inline.
        size: size of the segment in bytes.
        arrays: ``(key, spec, offset, shape, dtype)`` of every array stored in the segment.
        inline: keys -> Arrays and Graphs that travel pickled.
        records: the batch's records (timings, and drawn parameters and steps when observed;
            the arrays of steps travel pickled).
        reused: the segment belongs to a SegmentWriter and is handed back when free (else the
            receiver unlinks it).
        retired: segments the writer has unlinked since its last batch (receivers unmap them).
    """

    segment: str | None
    size: int
    arrays: list[tuple[ArrayKey, Any, int, tuple[int, ...], str]]
    inline: dict[Key, Array | Graph]
    records: list[Record]
    reused: bool = False
    retired: list[str] = dataclasses.field(default_factory=list)


def available() -> bool:
    """Whether POSIX shared memory can be used on this platform."""
    return _posixshmem is not None


def _layout(batch: Batch) -> tuple[dict[ArrayKey, Array], list[tuple[ArrayKey, int]], int]:
    arrays = batch.arrays()
    offsets = []
    size = 0
    for key, array in arrays.items():
        offsets.append((key, size))
        size += -(-array.data.nbytes // _ALIGN) * _ALIGN
    return arrays, offsets, size


def _inline(batch: Batch) -> PackedBatch:
    return PackedBatch(None, 0, [], dict(batch.items()), list(batch.records))


# -- a segment and its registration change together ---------------------------------------------------

_changing = 0  # > 0 while this process creates or unlinks a segment and (un)registers it
_deferred: list[Callable[[], None]] = []


@contextlib.contextmanager
def _consistently() -> Iterator[None]:
    """Create or remove a segment and its registration as one step for :func:`when_consistent`."""
    global _changing
    _changing += 1
    try:
        yield
    finally:
        _changing -= 1
        if not _changing:
            while _deferred:
                _deferred.pop(0)()


def when_consistent(action: Callable[[], None]) -> None:
    """Run ``action`` now, or as soon as the segment being created or unlinked is (un)registered.

    For signal handlers that end the process (``action`` typically calls ``os._exit``): ending
    between ``shm_open`` and the registration would leave the tracker's record and the segment
    out of step, and the parent's :func:`sweep` would unregister a name the tracker never knew.
    """
    if _changing:
        _deferred.append(action)
    else:
        action()


def _create(name: str, size: int) -> mmap.mmap:
    """A new segment ``name`` of ``size`` bytes, mapped; registered with the resource tracker."""
    path = "/" + name
    with _consistently():
        fd = _posixshmem.shm_open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=0o600)
        try:
            resource_tracker.register(path, "shared_memory")
        except BaseException:  # not registered: remove the name without unregistering it
            with contextlib.suppress(OSError):
                _posixshmem.shm_unlink(path)
            os.close(fd)
            raise
    try:
        os.ftruncate(fd, size)
        return mmap.mmap(fd, size)
    except BaseException:
        unlink(name)
        raise
    finally:
        os.close(fd)


def _attach(name: str, size: int) -> mmap.mmap:
    fd = _posixshmem.shm_open("/" + name, os.O_RDWR, mode=0o600)
    try:
        return mmap.mmap(fd, size)
    finally:
        os.close(fd)


def _write(
    mm: mmap.mmap, arrays: dict[ArrayKey, Array], offsets: list[tuple[ArrayKey, int]]
) -> list[tuple[ArrayKey, Any, int, tuple[int, ...], str]]:
    entries = []
    for key, offset in offsets:
        data = arrays[key].data
        view = np.ndarray(data.shape, data.dtype, buffer=mm, offset=offset)
        np.copyto(view, data, casting="no")
        del view
        entries.append((key, arrays[key].spec, offset, data.shape, data.dtype.str))
    return entries


def _wrap(buffer: Any, packed: PackedBatch) -> Batch:
    batch = Batch()
    batch.records = list(packed.records)
    for key, spec, offset, shape, dtype in packed.arrays:
        if isinstance(buffer, np.ndarray):  # views of a holder array: their base is the holder
            kind = np.dtype(dtype)
            data = buffer[offset : offset + kind.itemsize * int(np.prod(shape))].view(kind).reshape(shape)
        else:
            data = np.ndarray(shape, np.dtype(dtype), buffer=buffer, offset=offset)
        batch[key] = Array.trusted(data, spec)
    for other, value in packed.inline.items():
        batch[other] = value
    return batch


# -- one-shot segments ---------------------------------------------------------------------------------------


def pack_batch(batch: Batch, name: str, inline_bytes: int = INLINE_BYTES) -> PackedBatch:
    """Copy the array data of ``batch`` into a new segment called ``name`` (if large enough).

    The segment is registered with the resource tracker and closed (not unlinked) in this
    process before returning; the receiver owns it from then on. Raises FileExistsError if a
    segment called ``name`` exists.
    """
    arrays, offsets, size = _layout(batch)
    if size < inline_bytes or not available():
        return _inline(batch)
    mm = _create(name, size)
    try:
        entries = _write(mm, arrays, offsets)
    except BaseException:
        unlink(name)
        raise
    finally:
        with contextlib.suppress(BufferError):  # a view kept alive by a traceback
            mm.close()
    return PackedBatch(name, size, entries, {k: v for k, v in batch.items() if k not in arrays}, list(batch.records))


def unpack_batch(packed: PackedBatch) -> Batch:
    """The batch of a one-shot ``packed``; its segment is mapped and unlinked (the arrays are views on it)."""
    if packed.segment is None:
        return _wrap(None, packed)
    try:
        mm = _attach(packed.segment, packed.size)
    finally:
        unlink(packed.segment)
    return _wrap(mm, packed)


def discard(packed: PackedBatch) -> None:
    """Remove the one-shot segment of ``packed`` without reading it (reused ones stay)."""
    if packed.segment is not None and not packed.reused:
        unlink(packed.segment)


# -- reused segments --------------------------------------------------------------------------------------------


class SegmentWriter:
    """Writes batches into segments it keeps mapped, reusing the ones the receiver has freed.

    Args:
        prefix: names are ``prefix + number``; unique to this writer.
        keep_free: at most this many free segments are kept (beyond, the smallest are unlinked).
        inline_bytes: smaller batches travel pickled.
    """

    def __init__(self, prefix: str, keep_free: int = 4, inline_bytes: int = INLINE_BYTES) -> None:
        self.prefix = prefix
        self.keep_free = keep_free
        self.inline_bytes = inline_bytes
        self._segments: dict[str, mmap.mmap] = {}
        self._free: set[str] = set()
        self._retired: list[str] = []
        self._count = 0

    def pack(self, batch: Batch) -> PackedBatch:
        """``batch`` in a free segment that fits (or a new one); the segment is in use until ``release``."""
        arrays, offsets, size = _layout(batch)
        if size < self.inline_bytes or not available():
            return _inline(batch)
        fitting = [n for n in self._free if len(self._segments[n]) >= size]
        if fitting:
            name = min(fitting, key=lambda n: len(self._segments[n]))
            self._free.discard(name)
        else:
            name = f"{self.prefix}{self._count}"
            self._count += 1
            self._segments[name] = _create(name, -(-size // _GRANULE) * _GRANULE)
            self._trim()
        mm = self._segments[name]
        try:
            entries = _write(mm, arrays, offsets)
        except BaseException:
            self._free.add(name)
            raise
        retired, self._retired = self._retired, []
        others = {k: v for k, v in batch.items() if k not in arrays}
        return PackedBatch(name, len(mm), entries, others, list(batch.records), True, retired)

    def release(self, name: str) -> None:
        """The receiver no longer uses segment ``name``: it may take the next batch."""
        if name in self._segments:
            self._free.add(name)
            self._trim()

    def _trim(self) -> None:
        while len(self._free) > self.keep_free:
            name = min(self._free, key=lambda n: len(self._segments[n]))
            self._free.discard(name)
            self._segments.pop(name).close()
            unlink(name)
            self._retired.append(name)

    def segments(self) -> list[str]:
        return sorted(self._segments)

    def close(self) -> None:
        """Unmap and unlink every segment (a receiver's mappings stay valid)."""
        for name, mm in self._segments.items():
            with contextlib.suppress(BufferError):
                mm.close()
            unlink(name)
        self._segments.clear()
        self._free.clear()


class SegmentReader:
    """Maps the segments of a SegmentWriter once and reports each free when its batch is collected.

    Args:
        on_free: called with a segment's name when the last array of the batch that used it is
            garbage collected (from whichever thread drops it; keep it short and lock-free).
    """

    def __init__(self, on_free: Callable[[str], None]) -> None:
        self.on_free: Callable[[str], None] | None = on_free
        self._maps: dict[str, mmap.mmap] = {}

    def unpack(self, packed: PackedBatch) -> Batch:
        """The batch of ``packed`` as views on the mapped segment."""
        for name in packed.retired:
            self._maps.pop(name, None)
        if packed.segment is None:
            return _wrap(None, packed)
        if not packed.reused:
            return unpack_batch(packed)
        mm = self._maps.get(packed.segment)
        if mm is None or len(mm) != packed.size:
            mm = self._maps[packed.segment] = _attach(packed.segment, packed.size)
        # one holder array per batch: every array of the batch, and every view of those, has it as
        # base (numpy collapses chains of views only down to the first array whose base is not an
        # array), so it lives exactly as long as anything that can see the batch's data
        holder = np.frombuffer(mm, dtype=np.uint8)
        batch = _wrap(holder, packed)
        finalizer = weakref.finalize(holder, self._freed, packed.segment)
        finalizer.atexit = False
        return batch

    def _freed(self, name: str) -> None:
        on_free = self.on_free
        if on_free is not None:  # None once closed: nobody takes segments back any more
            on_free(name)

    def mapped(self) -> list[str]:
        """Names of the segments mapped for reuse."""
        return sorted(self._maps)

    def forget(self, prefix: str) -> None:
        """Drop the mappings of segments named ``prefix...`` (their writer is gone)."""
        for name in [n for n in self._maps if n.startswith(prefix)]:
            del self._maps[name]

    def close(self) -> None:
        """Drop every mapping held for reuse (batches still in use keep theirs) and the callback.

        Dropping ``on_free`` (often a bound method of the reader's owner) breaks the reference
        cycle owner -> reader -> owner, so the owner is freed without the cyclic collector.
        """
        self._maps.clear()
        self.on_free = None


# -- names -----------------------------------------------------------------------------------------------------


def unlink(name: str) -> bool:
    """Remove the segment ``name`` and unregister it; False if it did not exist."""
    path = "/" + name
    with _consistently():
        try:
            _posixshmem.shm_unlink(path)
        except FileNotFoundError:
            return False
        resource_tracker.unregister(path, "shared_memory")
    return True


def leftovers(prefix: str) -> list[str]:
    """Names of existing segments starting with ``prefix`` (Linux: listed from /dev/shm)."""
    if not os.path.isdir(_SHM_DIR):  # pragma: no cover - no /dev/shm to list
        return []
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(_SHM_DIR, glob.escape(prefix) + "*")))


def sweep(prefix: str) -> list[str]:
    """Unlink every segment whose name starts with ``prefix``; return their names."""
    return [name for name in leftovers(prefix) if unlink(name)]


def ensure_tracker() -> None:
    """Start the resource tracker now, so that worker processes share it with this process."""
    resource_tracker.ensure_running()


__all__ = [
    "INLINE_BYTES",
    "PackedBatch",
    "SegmentReader",
    "SegmentWriter",
    "available",
    "discard",
    "ensure_tracker",
    "leftovers",
    "pack_batch",
    "sweep",
    "unlink",
    "unpack_batch",
    "when_consistent",
]
