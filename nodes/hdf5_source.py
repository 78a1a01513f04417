"""Hdf5Source: read arrays lazily from an HDF5 file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import h5py

from .store_source import StoreSource


class Hdf5Source(StoreSource):
    """Provide arrays read lazily from datasets of an HDF5 file.

    Args:
        filename: path of the HDF5 file.
        datasets: ArrayKey -> dataset path inside the file.
        array_specs: ArrayKey -> ArraySpec to override or complete what the file says
            (typically ``interpolatable=False`` for labels and masks).
        channels_first: leading non-spatial axes are channels (True), or trailing (False).

    Requires: nothing (a source).

    Provides: every key of ``datasets``. The voxel size comes from the dataset attribute
    ``resolution``, the offset (world units) from ``offset``; missing attributes default to 1 and
    0. dtype from the file; ``interpolatable`` True for floats, uint8 and uint16 unless given.

    Request: reads exactly the requested ROI of each dataset. The file stays open for the life of
    the build, one handle per process (reopened after a fork; a pickled copy reopens it on first
    use). The generic logic lives in :class:`StoreSource`; this class only talks to h5py.

    Randomness: none.

    Raises:
        ConfigError: bad ``datasets`` or ``array_specs``.
        SetupError: the file or a dataset is missing, or ``array_specs`` contradicts the file.

    Example:
        >>> import h5py, numpy as np, tempfile, os, flowgraph as fg
        >>> path = os.path.join(tempfile.mkdtemp(), "sample.h5")
        >>> with h5py.File(path, "w") as f:
        ...     ds = f.create_dataset("raw", data=np.arange(100, dtype=np.uint8).reshape(10, 10))
        ...     ds.attrs["resolution"] = (4, 4)
        ...     ds.attrs["offset"] = (40, 0)
        >>> raw = fg.ArrayKey("RAW")
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((40, 0), (8, 12)))
        >>> with fg.build(fg.Hdf5Source(path, {raw: "raw"})) as p:
        ...     p.request_batch(request)[raw].data
        array([[ 0,  1,  2],
               [10, 11, 12]], dtype=uint8)
    """

    store_kind = "HDF5"

    def open_store(self) -> h5py.File:
        if not os.path.exists(self.filename):  # h5py's error for a missing file varies between versions
            raise FileNotFoundError(self.filename)
        return h5py.File(self.filename, "r")

    def close_store(self, handle: h5py.File) -> None:
        handle.close()

    def dataset(self, handle: h5py.File, name: str) -> h5py.Dataset | None:
        found = handle.get(name)
        return found if isinstance(found, h5py.Dataset) else None

    def attributes(self, handle: h5py.File, name: str) -> Mapping[str, Any]:
        return handle[name].attrs

    def list_datasets(self, handle: h5py.File) -> list[str]:
        names: list[str] = []
        handle.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        return names

    @property
    def _file(self) -> h5py.File | None:
        """The open file of this process, if any (the name predates :class:`StoreSource`)."""
        return self._handle
