"""PrecomputedSource: serve the samples of a precomputed HDF5 set (``flowgraph precompute``) as batches."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.coordinate import Coordinate
from flowgraph.errors import SetupError
from flowgraph.keys import ArrayKey
from flowgraph.request import BatchRequest
from flowgraph.specs import ArraySpec

from .hdf5_source import Hdf5Source
from .store_source import store_spec


class _Samples:
    """A stacked dataset seen as one sample: the shape and dtype of ``ds[i]``."""

    def __init__(self, ds: h5py.Dataset) -> None:
        self.ds = ds
        self.shape = tuple(ds.shape[1:])
        self.dtype = ds.dtype
        self.count = int(ds.shape[0]) if ds.ndim else 0


class PrecomputedSource(Hdf5Source):
    """Serve one whole sample of a precomputed set per request, chosen by the request's seed.

    The file holds every array as a dataset of shape ``(N, *array shape)``, sample ``i`` at
    index ``i`` (the layout ``flowgraph precompute`` writes, and atlalign's). Each request gets
    one sample: ``i = self.rng(request).integers(N)``, the same ``i`` for every key, so the
    arrays of a batch always belong together and a seed always gives the same sample. Training
    then reads the precomputed set through the same pipeline API as the live pipeline (add
    intensity augmentation, Stack, PreCache downstream as usual).

    Geometry: a dataset's ``resolution`` and ``offset`` attributes (``flowgraph precompute``
    writes those of the request it served) give the voxel size and the world offset of every
    sample, so the batch comes back at the ROI the pipeline delivered it; without them a sample
    lies at offset 0 with voxel size 1 along each of its axes, unless ``array_specs`` says
    otherwise (give ``voxel_size`` with fewer axes than the data to make the leading axes
    channels, e.g. ``(1, 1)`` for a ``(2, H, W)`` field). A dataset with the attribute
    ``nonspatial`` set is served as a nonspatial array (e.g. an affine matrix). Requests may ask
    for a part of a sample's ROI; exactly that part is read.

    Args:
        filename: path of the HDF5 file.
        datasets: ArrayKey -> dataset name, as for Hdf5Source.
        array_specs: ArrayKey -> ArraySpec to override or complete what the file says
            (``interpolatable``, ``voxel_size`` of files without attributes).

    Requires: nothing (a source).

    Provides: every key of ``datasets`` at the stored sample geometry.

    Request: reads exactly the requested ROI of the chosen sample.

    Randomness: the sample index, from ``self.rng(request)``.

    Raises:
        ConfigError: bad ``datasets`` or ``array_specs``.
        SetupError: the file or a dataset is missing, the datasets hold different numbers of
            samples, or the file is an unfinished ``flowgraph precompute`` output (its ``done``
            flags are not all set: run the command again to finish it).

    Example:
        >>> import h5py, numpy as np, tempfile, os, flowgraph as fg
        >>> path = os.path.join(tempfile.mkdtemp(), "set.h5")
        >>> with h5py.File(path, "w") as f:
        ...     _ = f.create_dataset("img", data=np.arange(3 * 4 * 4, dtype=np.float32).reshape(3, 4, 4))
        >>> img = fg.ArrayKey("IMG")
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[img] = fg.ArraySpec(roi=fg.Roi((0, 0), (4, 4)))
        >>> with fg.build(fg.PrecomputedSource(path, {img: "img"})) as p:
        ...     p.spec[img].roi, p.request_batch(request)[img].data[0, 0] % 16 == 0
        (Roi([0:4, 0:4]), np.True_)
    """

    store_kind = "HDF5"

    def __init__(
        self,
        filename: str | os.PathLike[str],
        datasets: Mapping[ArrayKey, str],
        array_specs: Mapping[ArrayKey, ArraySpec] | None = None,
    ) -> None:
        super().__init__(filename, datasets, array_specs, channels_first=True)

    def dataset(self, handle: h5py.File, name: str) -> Any:
        found = handle.get(name)
        return _Samples(found) if isinstance(found, h5py.Dataset) else None

    def setup(self) -> None:
        handle = self.handle()
        self._check_complete(handle)
        self._origins: dict[ArrayKey, Coordinate] = {}
        counts: dict[str, int] = {}
        for key, path in self.datasets.items():
            ds = self.require_dataset(handle, key, path)
            if ds.count == 0 or (len(ds.shape) == 0 and not handle[path].attrs.get("nonspatial", False)):
                raise SetupError(
                    f"{self.name}: dataset {path!r} has shape {handle[path].shape}; a precomputed set stacks its "
                    "samples along a first axis (N, *sample shape)."
                )
            counts[path] = ds.count
            attrs = self.attributes(handle, path)
            given = self.array_specs.get(key, ArraySpec())
            if given.interpolatable is None and "interpolatable" in attrs:
                given = given.replace(interpolatable=bool(attrs["interpolatable"]))
            if bool(attrs.get("nonspatial", False)):
                if given.dtype is not None and given.dtype != ds.dtype:
                    raise SetupError(
                        f"{self.name}: array_specs gives {key} dtype {given.dtype}, but {path!r} is {ds.dtype}; "
                        "drop dtype from array_specs."
                    )
                interpolatable = bool(given.interpolatable) if given.interpolatable is not None else False
                spec = ArraySpec(nonspatial=True, dtype=ds.dtype, interpolatable=interpolatable)
            else:
                spec, self._origins[key] = store_spec(
                    ds.shape, ds.dtype, attrs, given, True, f"{self.name}: {key} ({path})"
                )
            self.provides(key, spec)
        if len(set(counts.values())) > 1:
            raise SetupError(
                f"{self.name}: the datasets hold different numbers of samples ({counts}); "
                "use datasets written together."
            )
        self._count = next(iter(counts.values()))

    def _check_complete(self, handle: h5py.File) -> None:
        done = handle.get("done")
        if isinstance(done, h5py.Dataset):
            flags = np.asarray(done[()], dtype=bool)
            if not flags.all():
                raise SetupError(
                    f"{self.name}: {self.filename!r} is unfinished: {int(flags.sum())} of {flags.size} samples are "
                    "done; run the same flowgraph precompute command again to finish it."
                )

    def sample_index(self, request: BatchRequest) -> int:
        """The sample served for ``request``: ``self.rng(request).integers(N)``."""
        return int(self.rng(request).integers(self._count))

    def provide(self, request: BatchRequest) -> Batch:
        handle = self.handle()
        i = self.sample_index(request)
        batch = Batch()
        for key, rspec in request.array_specs().items():
            spec = self.spec[key]
            ds = handle[self.datasets[key]]
            if spec.nonspatial:
                data = np.asarray(ds[i])
                batch[key] = Array(np.array(data, order="C"), spec.copy())
                continue
            assert spec.voxel_size is not None
            roi = rspec.roi if rspec.roi is not None else spec.roi
            assert roi is not None
            begin = ((roi.begin - self._origins[key]) // spec.voxel_size).ints()
            shape = (roi.shape // spec.voxel_size).ints()
            spatial = tuple(slice(b, b + s) for b, s in zip(begin, shape))
            channels = (slice(None),) * (ds.ndim - 1 - roi.dims)
            data = np.array(ds[(i, *channels, *spatial)], order="C")
            batch[key] = Array(data, spec.with_roi(roi))
        return batch


__all__ = ["PrecomputedSource"]
