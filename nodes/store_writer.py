"""StoreWriter: write a batch into a new store (HDF5 now; zarr next), atomically, at world coordinates."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

import h5py
import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.errors import ConfigError, SetupError
from flowgraph.graph import Graph
from flowgraph.keys import Key

H5_COMPRESSIONS = (None, "gzip", "lzf", "szip")


def check_writable(owner: str, directory: str) -> None:
    """Create ``directory`` if needed and make sure a file can be written there, else SetupError.

    A real probe (a hidden file created and removed), not a permission lookup: root ignores mode
    bits, but not a read-only file system.
    """
    try:
        os.makedirs(directory, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".flowgraph-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise SetupError(
            f"{owner}: cannot write to the directory {directory!r} ({e.strerror or e}); choose a writable "
            "output_dir or fix its permissions."
        ) from None


def temporary_path(path: str) -> str:
    """A unique hidden name beside ``path`` (same file system, so renaming it onto ``path`` is atomic)."""
    directory, base = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{base}.{os.getpid()}.{threading.get_ident()}.tmp")


def remove(path: str) -> None:
    """Delete the file or directory ``path`` if it exists."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


def replace(tmp: str, path: str) -> None:
    """Move ``tmp`` onto ``path``; a directory store replaces an existing directory whole.

    ``os.replace`` is atomic for files; a non-empty directory cannot be renamed over, so an old
    directory is first renamed aside (``path`` is then briefly missing, never partial).
    """
    if os.path.isdir(path) and not os.path.islink(path):
        old = temporary_path(path) + ".old"
        os.replace(path, old)
        os.replace(tmp, path)
        remove(old)
    else:
        os.replace(tmp, path)


class StoreWriter:
    """Base of writers that put the arrays and graphs of a batch into a new store, atomically.

    Arrays become datasets with ``resolution`` (voxel size) and ``offset`` (world begin of the
    ROI) attributes (nonspatial arrays get none), so the matching :class:`StoreSource` reads them
    back at the same world coordinates. A graph named ``name`` becomes the datasets ``name-ids``,
    ``name-locations`` (world units, with ``roi_offset`` and ``roi_shape`` attributes) and
    ``name-edges`` (M, 2), as gunpowder's Snapshot writes them, and ``name-attributes/<attribute>``
    for each numeric or boolean point attribute (others are not written). The store is written under a
    temporary hidden name in the same directory and renamed into place, so a reader never sees a
    partial store; after an error nothing is left behind.

    A subclass sets ``store_kind`` and implements four hooks:

    - ``create(path)``: create an empty store at ``path`` and return a handle.
    - ``close(handle)``: finish writing (default: nothing).
    - ``write_dataset(handle, name, data, attrs, compress)``: write the array ``data`` as the
      dataset ``name`` (``/`` separates groups, created as needed) with the attributes ``attrs``;
      ``compress`` is False for the small datasets of graphs.
    - ``write_attributes(handle, name, attrs)``: set attributes of the group ``name`` (the
      store's root when ``name`` is empty).

    Example:
        >>> import numpy as np, os, tempfile, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> batch = fg.Batch({raw: fg.Array(np.zeros((2, 3), np.uint8), fg.ArraySpec(roi=fg.Roi((8, 4), (8, 6)),
        ...                                                                     voxel_size=(4, 2)))})
        >>> path = os.path.join(tempfile.mkdtemp(), "batch.h5")
        >>> Hdf5Writer().write(path, batch, {raw: "volumes/raw"}, attrs={"iteration": 3})
        >>> with fg.build(fg.Hdf5Source(path, {raw: "volumes/raw"})) as p:
        ...     p.spec[raw].roi
        Roi([8:16, 4:10])
    """

    store_kind: ClassVar[str] = "store"
    resolution_attribute: ClassVar[str] = "resolution"
    offset_attribute: ClassVar[str] = "offset"

    # -- hooks for subclasses ----------------------------------------------------------------------
    def create(self, path: str) -> Any:
        """Create an empty store at ``path`` and return a handle to write into it."""
        raise NotImplementedError(f"{type(self).__name__} must implement create(path)")

    def close(self, handle: Any) -> None:
        """Finish writing ``handle``; the default does nothing."""

    def write_dataset(self, handle: Any, name: str, data: np.ndarray, attrs: Mapping[str, Any], compress: bool) -> None:
        """Write ``data`` as the dataset ``name`` with the attributes ``attrs``."""
        raise NotImplementedError(f"{type(self).__name__} must implement write_dataset(...)")

    def write_attributes(self, handle: Any, name: str, attrs: Mapping[str, Any]) -> None:
        """Set ``attrs`` on the group ``name`` (the root if ``name`` is empty)."""
        raise NotImplementedError(f"{type(self).__name__} must implement write_attributes(...)")

    # -- the generic part ----------------------------------------------------------------------------
    def write(
        self,
        path: str | os.PathLike[str],
        batch: Batch,
        names: Mapping[Key, str],
        attrs: Mapping[str, Any] | None = None,
    ) -> None:
        """Write the keys of ``names`` found in ``batch`` to a new store at ``path``, atomically.

        Args:
            path: where the store goes; an existing one is replaced whole.
            batch: what to write.
            names: key -> dataset name (for graphs the prefix of ``name-ids`` ...); keys missing from
                ``batch`` are skipped.
            attrs: attributes of the store's root.

        Raises:
            TypeError: a value of ``batch`` is neither an Array nor a Graph. Errors of the format
                (e.g. an unstorable dtype) propagate; the temporary store is removed.
        """
        path = os.fspath(path)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        tmp = temporary_path(path)
        try:
            handle = self.create(tmp)
            try:
                self._fill(handle, batch, names, attrs or {})
            finally:
                self.close(handle)
            replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                remove(tmp)
            raise

    def _fill(self, handle: Any, batch: Batch, names: Mapping[Key, str], attrs: Mapping[str, Any]) -> None:
        if attrs:
            self.write_attributes(handle, "", attrs)
        for key, name in names.items():
            if key not in batch:
                continue
            value = batch[key]
            if isinstance(value, Array):
                placement: dict[str, Any] = {}
                if not value.spec.nonspatial:
                    placement[self.resolution_attribute] = np.asarray(tuple(value.voxel_size), dtype=np.int64)
                    placement[self.offset_attribute] = np.asarray(tuple(value.roi.offset), dtype=np.int64)
                self.write_dataset(handle, name, np.ascontiguousarray(value.data), placement, True)
            elif isinstance(value, Graph):
                # gunpowder's layout: name-ids, name-locations, name-edges (plus numeric attributes)
                roi = {
                    "roi_offset": np.asarray(tuple(value.roi.offset), dtype=np.int64),
                    "roi_shape": np.asarray(tuple(value.roi.shape), dtype=np.int64),
                }
                self.write_dataset(handle, f"{name}-ids", value.ids, {}, False)
                self.write_dataset(handle, f"{name}-locations", value.locations, roi, False)
                self.write_dataset(handle, f"{name}-edges", np.asarray(value.edges), {}, False)
                for attribute, column in value.attributes.items():
                    if column.dtype.kind in "biuf":
                        self.write_dataset(handle, f"{name}-attributes/{attribute}", column, {}, False)
            else:
                raise TypeError(f"{type(self).__name__}: cannot write {key}, a {type(value).__name__}.")


class Hdf5Writer(StoreWriter):
    """Write batches to HDF5 files (see :class:`StoreWriter`); ``Hdf5Source`` reads them back.

    Args:
        compression: h5py compression of array datasets (``"gzip"``, ``"lzf"``, ``"szip"`` or None);
            datasets of fewer than two elements and graphs are stored uncompressed.

    Raises:
        ConfigError: an unknown ``compression``.

    Example:
        >>> import h5py, numpy as np, os, tempfile, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> spec = fg.ArraySpec(roi=fg.Roi((0, 4), (4, 4)), voxel_size=(1, 1))
        >>> batch = fg.Batch({raw: fg.Array(np.ones((4, 4)), spec)})
        >>> path = os.path.join(tempfile.mkdtemp(), "b.h5")
        >>> Hdf5Writer("lzf").write(path, batch, {raw: "raw"})
        >>> with h5py.File(path, "r") as f:
        ...     f["raw"].compression, f["raw"].attrs["offset"].tolist()
        ('lzf', [0, 4])
    """

    store_kind = "HDF5"

    def __init__(self, compression: str | None = "gzip") -> None:
        if compression not in H5_COMPRESSIONS:
            raise ConfigError(f"Hdf5Writer: compression must be 'gzip', 'lzf', 'szip' or None, got {compression!r}.")
        self.compression = compression

    def create(self, path: str) -> h5py.File:
        return h5py.File(path, "w")

    def close(self, handle: h5py.File) -> None:
        handle.close()

    def write_dataset(
        self, handle: h5py.File, name: str, data: np.ndarray, attrs: Mapping[str, Any], compress: bool
    ) -> None:
        kwargs: dict[str, Any] = {}
        if compress and self.compression is not None and data.ndim > 0 and data.size > 1:
            kwargs["compression"] = self.compression
        dataset = handle.create_dataset(name, data=data, **kwargs)
        for key, value in attrs.items():
            dataset.attrs[key] = value

    def write_attributes(self, handle: h5py.File, name: str, attrs: Mapping[str, Any]) -> None:
        target = handle[name] if name else handle
        for key, value in attrs.items():
            target.attrs[key] = value


__all__ = ["Hdf5Writer", "StoreWriter"]
