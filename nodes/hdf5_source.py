"""Hdf5Source: read arrays lazily from an HDF5 file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.coordinate import Coordinate
from flowgraph.errors import ConfigError, SetupError
from flowgraph.keys import ArrayKey
from flowgraph.provider import BatchProvider
from flowgraph.request import BatchRequest
from flowgraph.roi import Roi
from flowgraph.specs import ArraySpec, default_interpolatable
from flowgraph.validate import array_key


def dataset_roi(dataset: h5py.Dataset, given: ArraySpec, channels_first: bool, where: str) -> tuple[Roi, Coordinate]:
    """The ROI and voxel size of ``dataset`` from its ``resolution``/``offset`` attributes.

    ``given`` may fill in what the file lacks; where both say something they must agree.
    """
    attrs = dataset.attrs
    file_vs = Coordinate(np.asarray(attrs["resolution"]).astype(int).tolist()) if "resolution" in attrs else None
    file_offset = Coordinate(np.asarray(attrs["offset"]).astype(int).tolist()) if "offset" in attrs else None
    if file_vs is not None and given.voxel_size is not None and file_vs != given.voxel_size:
        raise SetupError(
            f"{where}: array_specs gives voxel_size {given.voxel_size}, but the file's 'resolution' attribute says "
            f"{file_vs}; drop voxel_size from array_specs or fix the file."
        )
    voxel_size = file_vs or given.voxel_size
    if voxel_size is None:
        dims = given.roi.dims if given.roi is not None else (len(file_offset) if file_offset else dataset.ndim)
        voxel_size = Coordinate((1,) * dims)
    dims = len(voxel_size)
    if dataset.ndim < dims:
        raise SetupError(
            f"{where}: the dataset has {dataset.ndim} axes but voxel size {voxel_size} has {dims}; "
            "fix the 'resolution' attribute or array_specs."
        )
    offset = file_offset if file_offset is not None else Coordinate((0,) * dims)
    if len(offset) != dims:
        raise SetupError(f"{where}: 'offset' attribute {offset} and voxel size {voxel_size} have different lengths.")
    if offset % voxel_size != Coordinate((0,) * dims):
        raise SetupError(f"{where}: offset {offset} is not a multiple of the voxel size {voxel_size}; fix the file.")
    spatial = dataset.shape[dataset.ndim - dims :] if channels_first else dataset.shape[:dims]
    return Roi(offset, Coordinate(spatial) * voxel_size), voxel_size


def _dataset_names(f: h5py.File) -> list[str]:
    """The paths of every dataset in ``f``."""
    names: list[str] = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return names


class Hdf5Source(BatchProvider):
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
    the build, one handle per process (reopened after a fork).

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

    def __init__(
        self,
        filename: str | os.PathLike[str],
        datasets: Mapping[ArrayKey, str],
        array_specs: Mapping[ArrayKey, ArraySpec] | None = None,
        channels_first: bool = True,
    ) -> None:
        if not isinstance(filename, (str, os.PathLike)):
            raise ConfigError(f"Hdf5Source: filename must be a path, got {filename!r}.")
        self.filename = os.fspath(filename)
        if not isinstance(datasets, Mapping) or not datasets:
            raise ConfigError(
                f"Hdf5Source: datasets must be a non-empty dict of ArrayKey -> dataset path, got {datasets!r}."
            )
        for key, path in datasets.items():
            array_key("Hdf5Source", "datasets", key)
            if not isinstance(path, str):
                raise ConfigError(f"Hdf5Source: datasets[{key}] must be a dataset path string, got {path!r}.")
        self.datasets = dict(datasets)
        array_specs = dict(array_specs or {})
        for key, spec in array_specs.items():
            if key not in self.datasets:
                raise ConfigError(f"Hdf5Source: array_specs names {key}, which is not in datasets; add it to datasets.")
            if not isinstance(spec, ArraySpec):
                raise ConfigError(f"Hdf5Source: array_specs[{key}] must be an ArraySpec, got {type(spec).__name__}.")
        self.array_specs = array_specs
        if not isinstance(channels_first, bool):
            raise ConfigError(f"Hdf5Source: channels_first must be a bool, got {channels_first!r}.")
        self.channels_first = channels_first
        self._file: h5py.File | None = None
        self._pid = -1

    @property
    def name(self) -> str:
        return f"Hdf5Source({os.path.basename(self.filename)})"

    def _open(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            if not os.path.exists(self.filename):
                raise SetupError(f"{self.name}: file {self.filename!r} does not exist; check the path.")
            try:
                self._file = h5py.File(self.filename, "r")
            except OSError as e:
                raise SetupError(
                    f"{self.name}: cannot open {self.filename!r} as HDF5 ({e}); is it an HDF5 file?"
                ) from e
            self._pid = os.getpid()
        return self._file

    def setup(self) -> None:
        f = self._open()
        self._origins: dict[ArrayKey, Coordinate] = {}
        for key, path in self.datasets.items():
            if path not in f or not isinstance(f[path], h5py.Dataset):
                found = _dataset_names(f)
                raise SetupError(
                    f"{self.name}: dataset {path!r} for {key} is not in {self.filename!r} "
                    f"(it holds {', '.join(found[:8]) or 'no datasets'}); fix the path in datasets."
                )
            ds = f[path]
            given = self.array_specs.get(key, ArraySpec())
            where = f"{self.name}: {key} ({path})"
            roi, voxel_size = dataset_roi(ds, given, self.channels_first, where)
            self._origins[key] = roi.offset
            if given.roi is not None and given.roi != roi:
                if not roi.contains(given.roi):
                    raise SetupError(
                        f"{where}: array_specs gives roi {given.roi}, outside the data's ROI {roi}; "
                        "use a roi inside the data or drop it."
                    )
                roi = given.roi
            if given.dtype is not None and given.dtype != ds.dtype:
                raise SetupError(
                    f"{where}: array_specs gives dtype {given.dtype}, but the dataset is {ds.dtype}; "
                    "drop dtype from array_specs (add Normalize to convert)."
                )
            interpolatable = given.interpolatable
            if interpolatable is None:
                interpolatable = default_interpolatable(ds.dtype)
            self.provides(key, ArraySpec(roi=roi, voxel_size=voxel_size, interpolatable=interpolatable, dtype=ds.dtype))

    def provide(self, request: BatchRequest) -> Batch:
        f = self._open()
        batch = Batch()
        for key, rspec in request.array_specs().items():  # request_batch checked: only keys of self.datasets
            spec = self.spec[key]
            assert spec.voxel_size is not None  # setup() gives every array a voxel size
            roi = rspec.roi if rspec.roi is not None else spec.roi
            assert roi is not None
            begin = ((roi.begin - self._origins[key]) // spec.voxel_size).ints()
            shape = (roi.shape // spec.voxel_size).ints()
            spatial = tuple(slice(b, b + s) for b, s in zip(begin, shape))
            ds = f[self.datasets[key]]
            channels = (slice(None),) * (ds.ndim - roi.dims)
            if self.channels_first:
                data = ds[channels + spatial]
            else:
                data = np.moveaxis(
                    ds[spatial + channels], list(range(roi.dims, ds.ndim)), list(range(ds.ndim - roi.dims))
                )
                data = np.ascontiguousarray(data)
            out = spec.copy()
            out.roi = roi
            batch[key] = Array(np.asarray(data), out)
        return batch

    def teardown(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_file"] = None  # h5py handles do not travel between processes
        state["_pid"] = -1
        return state
