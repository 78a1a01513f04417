"""Snapshot: write batches to HDF5 files, placed in world coordinates, atomically."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.errors import ConfigError, SetupError
from flowgraph.keys import ArrayKey, Key
from flowgraph.provider import BatchFilter, Negotiation
from flowgraph.request import BatchRequest
from flowgraph.validate import any_key, number

from .store_writer import Hdf5Writer, check_writable


def write_batch(
    path: str,
    batch: Batch,
    dataset_names: Mapping[Key, str],
    compression: str | None = "gzip",
    attrs: Mapping[str, Any] | None = None,
) -> None:
    """Write the keys of ``dataset_names`` found in ``batch`` to the HDF5 file ``path``, atomically.

    Arrays become datasets with ``resolution`` (voxel size) and ``offset`` (world begin of the
    ROI) attributes, so ``Hdf5Source`` reads them back at the same world coordinates. A graph
    named ``name`` becomes the datasets ``name-ids``, ``name-locations`` (world units) and
    ``name-edges``, as in gunpowder, and ``name-attributes/<attribute>`` per numeric attribute.
    The file is written under a temporary name in the same directory and renamed into place, so
    a reader never sees a partial file. A shortcut for
    ``Hdf5Writer(compression).write(path, batch, dataset_names, attrs)`` (see ``store_writer``).
    """
    Hdf5Writer(compression).write(path, batch, dataset_names, attrs)


class Snapshot(BatchFilter):
    """Write every ``every``-th batch to an HDF5 file, to look at what the network sees.

    Args:
        dataset_names: key -> dataset name (for graphs, the prefix of ``name-ids`` ...), e.g.
            ``{RAW: "volumes/raw", LABELS: "volumes/labels/neuron_ids"}``.
        output_dir: directory of the files (created if missing).
        output_filename: file name pattern; ``{iteration}`` (and its alias ``{id}``) is the
            batch counter of this build, starting at 0; format specs work
            (``"{iteration:06d}.h5"``).
        every: write batch 0, ``every``, ``2 * every``, ...; 0 never writes.
        additional_request: keys (and ROIs) to fetch and write only for written batches; they
            are not passed downstream.
        compression: h5py compression of the datasets (``"gzip"``, ``"lzf"`` or None).
        dataset_dtypes: ArrayKey -> dtype to store that array as (e.g. ``{RAW: np.float32}``); the
            array passed downstream keeps its own dtype.

    Requires: the keys of ``additional_request`` (the other keys are written if requested).

    Updates: nothing; batches pass unchanged.

    Request: unchanged, except that written batches also ask upstream for ``additional_request``
    (ROIs of keys already requested are unioned).

    Randomness: none. The counter is per node and build (guarded by a lock); put Snapshot
    downstream of PreCache, or each worker process counts on its own.

    Raises:
        ConfigError: bad arguments.
        SetupError: a key of ``additional_request`` is not provided upstream, or ``output_dir`` cannot
            be created or written to (checked at setup, before the first batch).

    Example:
        >>> import numpy as np, os, tempfile, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> source = fg.ArraySource(raw, fg.Array(np.arange(16, dtype=np.uint8).reshape(4, 4),
        ...                         fg.ArraySpec(roi=fg.Roi((0, 0), (8, 8)), voxel_size=(2, 2))))
        >>> out = tempfile.mkdtemp()
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((2, 2), (4, 4)))
        >>> with fg.build(source + fg.Snapshot({raw: "raw"}, output_dir=out)) as p:
        ...     _ = p.request_batch(request)
        >>> sorted(os.listdir(out))
        ['0.h5']
        >>> with fg.build(fg.Hdf5Source(os.path.join(out, "0.h5"), {raw: "raw"})) as p:
        ...     p.spec[raw].roi
        Roi([2:6, 2:6])
    """

    def __init__(
        self,
        dataset_names: Mapping[Key, str],
        output_dir: str | os.PathLike[str] = "snapshots",
        output_filename: str = "{iteration}.h5",
        every: int = 1,
        additional_request: BatchRequest | None = None,
        compression: str | None = "gzip",
        dataset_dtypes: Mapping[ArrayKey, Any] | None = None,
    ) -> None:
        if not isinstance(dataset_names, Mapping) or not dataset_names:
            raise ConfigError(
                f"Snapshot: dataset_names must be a non-empty dict of key -> dataset name, got {dataset_names!r}."
            )
        for key, name in dataset_names.items():
            any_key("Snapshot", "dataset_names", key)
            if not isinstance(name, str) or not name:
                raise ConfigError(f"Snapshot: dataset_names[{key}] must be a dataset name string, got {name!r}.")
        self.dataset_names = dict(dataset_names)
        if not isinstance(output_dir, (str, os.PathLike)):
            raise ConfigError(f"Snapshot: output_dir must be a path, got {output_dir!r}.")
        self.output_dir = os.fspath(output_dir)
        if not isinstance(output_filename, str):
            raise ConfigError(f"Snapshot: output_filename must be a string pattern, got {output_filename!r}.")
        try:
            output_filename.format(iteration=0, id=0)
        except (KeyError, IndexError, ValueError) as e:
            raise ConfigError(
                f"Snapshot: output_filename {output_filename!r} is not a valid pattern ({e}); "
                "use {iteration} (or {id}) as the only field, e.g. '{iteration:06d}.h5'."
            ) from e
        self.output_filename = output_filename
        self.every = number("Snapshot", "every", every, 0, integer=True)
        if additional_request is not None and not isinstance(additional_request, BatchRequest):
            raise ConfigError(
                f"Snapshot: additional_request must be a BatchRequest, got {type(additional_request).__name__}."
            )
        self.additional_request = additional_request
        if compression not in (None, "gzip", "lzf", "szip"):
            raise ConfigError(f"Snapshot: compression must be 'gzip', 'lzf' or None, got {compression!r}.")
        self.compression = compression
        self.dataset_dtypes = _dtypes(dataset_dtypes)

    @property
    def name(self) -> str:
        return "Snapshot(" + ", ".join(str(k) for k in self.dataset_names) + ")"

    def setup(self) -> None:
        self._lock = threading.Lock()  # guards the count of batches seen in this build
        self._count = 0
        if self.every > 0:
            check_writable(self.name, self.output_dir)  # fail now, not at the first write
        for key in self.additional_request or ():
            if key not in self.upstream_spec:
                raise SetupError(
                    f"{self.name}: additional_request asks for {key}, which is not provided upstream "
                    f"(available: {', '.join(map(str, self.upstream_spec)) or 'nothing'}); add a source for it."
                )

    def _next(self) -> int:
        with self._lock:
            iteration = self._count
            self._count += 1
        return iteration

    def _with_additional(self, request: BatchRequest) -> BatchRequest:
        upstream = request.copy()
        for key, spec in (self.additional_request or {}).items():
            if key in upstream and upstream[key].roi is not None and spec.roi is not None:
                upstream[key] = upstream[key].with_roi(upstream[key].roi.union(spec.roi))  # type: ignore[union-attr]
            elif key not in upstream:
                upstream[key] = spec.copy()
        return upstream

    def _writes(self, iteration: int) -> bool:
        return self.every > 0 and iteration % self.every == 0

    def _negotiation(self, request: BatchRequest, iteration: int) -> Negotiation:
        write = self._writes(iteration) and self.additional_request
        return Negotiation([[self._with_additional(request) if write else request]])

    def negotiate(self, request: BatchRequest) -> Negotiation:
        """The request, plus ``additional_request`` if the next batch is written."""
        with self._lock:
            iteration = self._count  # a peek: only provide() advances the count
        return self._negotiation(request, iteration)

    def provide(self, request: BatchRequest) -> Batch:
        iteration = self._next()
        write = self._writes(iteration)
        batch = self.upstream.request_batch(self._negotiation(request, iteration).upstream[0][0])
        if write:
            t0 = time.perf_counter()
            filename = self.output_filename.format(iteration=iteration, id=iteration)
            attrs: dict[str, Any] = {"iteration": iteration}
            if request.random_seed is not None:
                attrs["random_seed"] = np.int64(request.random_seed)
            written = batch
            if self.dataset_dtypes:
                written = Batch({k: batch[k] for k in batch})
                for key, dtype in self.dataset_dtypes.items():
                    value = written.get(key)
                    if isinstance(value, Array) and value.data.dtype != dtype:
                        written[key] = Array(value.data.astype(dtype), value.spec.replace(dtype=dtype))
            write_batch(os.path.join(self.output_dir, filename), written, self.dataset_names, self.compression, attrs)
            batch.profiling.append((self.name, "process", time.perf_counter() - t0))
        return batch

    def __getstate__(self) -> dict[str, Any]:
        # the configuration: the lock and the count belong to this build (setup() makes them)
        return {k: v for k, v in self.__dict__.items() if k not in ("_lock", "_count")}


def _dtypes(value: Any) -> dict[ArrayKey, np.dtype]:
    """``dataset_dtypes`` checked: ArrayKey -> numpy dtype."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"Snapshot: dataset_dtypes must be a dict of ArrayKey -> dtype, got {value!r}.")
    dtypes = {}
    for key, dtype in value.items():
        if not isinstance(key, ArrayKey):
            raise ConfigError(f"Snapshot: dataset_dtypes keys must be ArrayKeys, got {key!r}.")
        try:
            dtypes[key] = np.dtype(dtype)
        except TypeError as e:
            raise ConfigError(f"Snapshot: dataset_dtypes[{key}] must be a numpy dtype, got {dtype!r}.") from e
    return dtypes


__all__ = ["Snapshot", "write_batch"]
