"""StoreSource: the base of sources that read arrays lazily from a file format (HDF5, zarr, tile stacks)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.coordinate import Coordinate
from flowgraph.errors import ConfigError, FlowgraphError, SetupError
from flowgraph.keys import ArrayKey
from flowgraph.provider import BatchProvider
from flowgraph.request import BatchRequest
from flowgraph.roi import Roi
from flowgraph.specs import ArraySpec, default_interpolatable
from flowgraph.validate import array_key


def _attribute(attrs: Mapping[str, Any], name: str, where: str) -> Coordinate | None:
    """The integer vector stored under ``name`` in ``attrs``, or None if there is none."""
    if name not in attrs:
        return None
    value = np.asarray(attrs[name])
    if value.ndim != 1 or value.size == 0 or value.dtype.kind not in "iuf" or not np.all(value == np.round(value)):
        raise SetupError(
            f"{where}: the {name!r} attribute must be a list of integers, got {attrs[name]!r}; fix the file."
        )
    return Coordinate(value.astype(np.int64).tolist())


def store_roi(
    shape: tuple[int, ...],
    attrs: Mapping[str, Any],
    given: ArraySpec,
    channels_first: bool,
    where: str,
    names: tuple[str, str] = ("resolution", "offset"),
) -> tuple[Roi, Coordinate]:
    """The ROI and voxel size of a stored array from its resolution and offset attributes.

    Args:
        shape: the stored array's shape, channel axes included.
        attrs: its attributes.
        given: the user's ArraySpec; it fills in what the attributes lack, and where both say
            something they must agree.
        channels_first: the non-spatial axes lead (True) or trail (False).
        where: the start of error messages (node, key and dataset).
        names: the attribute names of the voxel size and of the offset (world units).

    Raises:
        SetupError: the attributes are malformed, contradict ``given``, or do not fit ``shape``.

    Example:
        >>> store_roi((5, 10, 10), {"resolution": [40, 4, 4], "offset": [80, 0, -8]}, ArraySpec(), True, "here")
        (Roi([80:280, 0:40, -8:32]), Coordinate(40, 4, 4))
    """
    stored_vs = _attribute(attrs, names[0], where)
    stored_offset = _attribute(attrs, names[1], where)
    if stored_vs is not None and any(v <= 0 for v in stored_vs.ints()):
        raise SetupError(f"{where}: the {names[0]!r} attribute {stored_vs} must be positive; fix the file.")
    if stored_vs is not None and given.voxel_size is not None and stored_vs != given.voxel_size:
        raise SetupError(
            f"{where}: array_specs gives voxel_size {given.voxel_size}, but the file's {names[0]!r} attribute says "
            f"{stored_vs}; drop voxel_size from array_specs or fix the file."
        )
    voxel_size = stored_vs if stored_vs is not None else given.voxel_size
    if voxel_size is None:
        dims = given.roi.dims if given.roi is not None else len(stored_offset or shape)
        voxel_size = Coordinate((1,) * dims)
    dims = len(voxel_size)
    if len(shape) < dims:
        raise SetupError(
            f"{where}: the dataset has {len(shape)} axes but voxel size {voxel_size} has {dims}; "
            f"fix the {names[0]!r} attribute or array_specs."
        )
    offset = stored_offset if stored_offset is not None else Coordinate((0,) * dims)
    if len(offset) != dims:
        raise SetupError(
            f"{where}: the {names[1]!r} attribute {offset} and voxel size {voxel_size} have different lengths; "
            "fix the file."
        )
    if offset % voxel_size != Coordinate((0,) * dims):
        raise SetupError(f"{where}: offset {offset} is not a multiple of the voxel size {voxel_size}; fix the file.")
    spatial = shape[len(shape) - dims :] if channels_first else shape[:dims]
    return Roi(offset, Coordinate(spatial) * voxel_size), voxel_size


def store_spec(
    shape: tuple[int, ...],
    dtype: np.dtype,
    attrs: Mapping[str, Any],
    given: ArraySpec,
    channels_first: bool,
    where: str,
    names: tuple[str, str] = ("resolution", "offset"),
) -> tuple[ArraySpec, Coordinate]:
    """The spec a store source offers for one array (the store's word merged with ``given``) and its origin.

    The origin is the world position of the stored array's first voxel; ``given.roi`` may
    restrict the offer to a part of the data. Arguments as for :func:`store_roi`.

    Raises:
        SetupError: ``given`` contradicts the store (voxel size, dtype, a ROI outside the data).

    Example:
        >>> spec, origin = store_spec((4, 4), np.dtype("uint64"), {"offset": [2, 0]}, ArraySpec(), True, "here")
        >>> spec.roi, spec.interpolatable, origin
        (Roi([2:6, 0:4]), False, Coordinate(2, 0))
    """
    roi, voxel_size = store_roi(shape, attrs, given, channels_first, where, names)
    origin = roi.offset
    if given.roi is not None and given.roi != roi:
        if not roi.contains(given.roi):
            raise SetupError(
                f"{where}: array_specs gives roi {given.roi}, outside the data's ROI {roi}; "
                "use a roi inside the data or drop it."
            )
        roi = given.roi
    dtype = np.dtype(dtype)
    if given.dtype is not None and given.dtype != dtype:
        raise SetupError(
            f"{where}: array_specs gives dtype {given.dtype}, but the dataset is {dtype}; "
            "drop dtype from array_specs (add Normalize to convert)."
        )
    interpolatable = given.interpolatable if given.interpolatable is not None else default_interpolatable(dtype)
    return ArraySpec(roi=roi, voxel_size=voxel_size, interpolatable=interpolatable, dtype=dtype), origin


class StoreSource(BatchProvider):
    """Base of sources that read arrays lazily from the datasets of a store (a file or a directory).

    The base does everything but talk to the format: it validates the configuration, merges
    ``array_specs`` with the stored resolution and offset attributes (and reports contradictions),
    handles channel axes, reads exactly the requested ROI, keeps one open handle per process
    (reopened after a fork, dropped when pickled) and closes it in ``teardown``. A subclass sets
    ``store_kind`` (the format's name in messages) and implements five hooks:

    - ``open_store()``: open ``self.filename`` for reading and return a handle; raise
      FileNotFoundError if it does not exist, OSError or ValueError if it cannot be read.
    - ``close_store(handle)``: release the handle (default: nothing).
    - ``dataset(handle, name)``: the array called ``name``, or None if there is none; anything with
      ``shape``, ``dtype`` and numpy slicing by a tuple of slices, reading only what is sliced.
    - ``attributes(handle, name)``: the attributes of that array, a Mapping.
    - ``list_datasets(handle)``: the names of every array, for error messages.

    The attribute names are the class attributes ``resolution_attribute`` and ``offset_attribute``
    (gunpowder's ``resolution`` and ``offset`` by default); a format that stores them otherwise
    (other names, reversed axes) translates them in ``attributes``.

    Args:
        filename: where the store is (a path, or whatever ``open_store`` understands).
        datasets: ArrayKey -> dataset name inside the store.
        array_specs: ArrayKey -> ArraySpec to override or complete what the store says
            (typically ``interpolatable=False`` for labels and masks).
        channels_first: leading non-spatial axes are channels (True), or trailing (False).

    Requires: nothing (a source).

    Provides: every key of ``datasets``; see the subclass.

    Request: reads exactly the requested ROI of each dataset.

    Randomness: none.

    Raises:
        ConfigError: bad ``filename``, ``datasets``, ``array_specs`` or ``channels_first``.
        SetupError: the store or a dataset is missing, or ``array_specs`` contradicts the store.

    Example:
        A source of in-memory numpy arrays with attribute dicts (a real format opens a file):

        >>> import numpy as np, flowgraph as fg
        >>> class DictSource(StoreSource):
        ...     store_kind = "dict"
        ...     def open_store(self):
        ...         return STORES[self.filename]
        ...     def dataset(self, handle, name):
        ...         return handle.get(name, (None, {}))[0]
        ...     def attributes(self, handle, name):
        ...         return handle[name][1]
        ...     def list_datasets(self, handle):
        ...         return list(handle)
        >>> STORES = {"mem": {"raw": (np.arange(12).reshape(3, 4), {"resolution": (2, 1)})}}
        >>> raw = fg.ArrayKey("RAW")
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((2, 1), (4, 2)))
        >>> with fg.build(DictSource("mem", {raw: "raw"})) as p:
        ...     p.request_batch(request)[raw].data
        array([[ 5,  6],
               [ 9, 10]])
    """

    store_kind: ClassVar[str] = "store"
    resolution_attribute: ClassVar[str] = "resolution"
    offset_attribute: ClassVar[str] = "offset"

    # runtime state: class-level defaults, set per instance on first use and dropped when pickled
    _handle: Any = None
    _pid: int = -1

    def __init__(
        self,
        filename: str | os.PathLike[str],
        datasets: Mapping[ArrayKey, str],
        array_specs: Mapping[ArrayKey, ArraySpec] | None = None,
        channels_first: bool = True,
    ) -> None:
        node = type(self).__name__
        if not isinstance(filename, (str, os.PathLike)):
            raise ConfigError(f"{node}: filename must be a path, got {filename!r}.")
        self.filename = os.fspath(filename)
        if not isinstance(datasets, Mapping) or not datasets:
            raise ConfigError(
                f"{node}: datasets must be a non-empty dict of ArrayKey -> dataset path, got {datasets!r}."
            )
        for key, path in datasets.items():
            array_key(node, "datasets", key)
            if not isinstance(path, str):
                raise ConfigError(f"{node}: datasets[{key}] must be a dataset path string, got {path!r}.")
        self.datasets = dict(datasets)
        if array_specs is not None and not isinstance(array_specs, Mapping):
            raise ConfigError(f"{node}: array_specs must be a dict of ArrayKey -> ArraySpec, got {array_specs!r}.")
        for key, spec in (array_specs or {}).items():
            if key not in self.datasets:
                raise ConfigError(f"{node}: array_specs names {key}, which is not in datasets; add it to datasets.")
            if not isinstance(spec, ArraySpec):
                raise ConfigError(f"{node}: array_specs[{key}] must be an ArraySpec, got {type(spec).__name__}.")
        self.array_specs = dict(array_specs or {})
        if not isinstance(channels_first, bool):
            raise ConfigError(f"{node}: channels_first must be a bool, got {channels_first!r}.")
        self.channels_first = channels_first

    # -- hooks for subclasses ----------------------------------------------------------------------
    def open_store(self) -> Any:
        """Open ``self.filename`` for reading and return the handle (FileNotFoundError if missing)."""
        raise NotImplementedError(f"{type(self).__name__} must implement open_store()")

    def close_store(self, handle: Any) -> None:
        """Release ``handle``; the default does nothing."""

    def dataset(self, handle: Any, name: str) -> Any:
        """The array called ``name`` in the store, or None if there is no such array."""
        raise NotImplementedError(f"{type(self).__name__} must implement dataset(handle, name)")

    def attributes(self, handle: Any, name: str) -> Mapping[str, Any]:
        """The attributes of the array called ``name``."""
        raise NotImplementedError(f"{type(self).__name__} must implement attributes(handle, name)")

    def list_datasets(self, handle: Any) -> list[str]:
        """The names of every array in the store (shown when a dataset is missing)."""
        return []

    # -- the generic part ----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return f"{type(self).__name__}({os.path.basename(os.path.normpath(self.filename))})"

    def handle(self) -> Any:
        """This process's open handle: opened on first use, and again in a forked child."""
        if self._handle is None or self._pid != os.getpid():
            try:
                handle = self.open_store()
            except FlowgraphError:
                raise
            except FileNotFoundError as e:
                raise SetupError(f"{self.name}: file {self.filename!r} does not exist; check the path.") from e
            except (OSError, ValueError) as e:
                raise SetupError(
                    f"{self.name}: cannot open {self.filename!r} as {self.store_kind} ({e}); "
                    f"check that the path holds {self.store_kind} data."
                ) from e
            self._handle, self._pid = handle, os.getpid()  # a forked child's inherited handle is dropped unclosed
        return self._handle

    def require_dataset(self, handle: Any, key: ArrayKey, path: str) -> Any:
        """The dataset ``path`` of ``handle``, or a SetupError listing what the store holds."""
        ds = self.dataset(handle, path)
        if ds is None:
            found = sorted(self.list_datasets(handle))
            raise SetupError(
                f"{self.name}: dataset {path!r} for {key} is not in {self.filename!r} "
                f"(it holds {', '.join(found[:8]) or 'no datasets'}); fix the path in datasets."
            )
        return ds

    def setup(self) -> None:
        handle = self.handle()
        self._origins: dict[ArrayKey, Coordinate] = {}
        names = (self.resolution_attribute, self.offset_attribute)
        for key, path in self.datasets.items():
            ds = self.require_dataset(handle, key, path)
            given = self.array_specs.get(key, ArraySpec())
            where = f"{self.name}: {key} ({path})"
            attrs = self.attributes(handle, path)
            spec, self._origins[key] = store_spec(
                tuple(ds.shape), ds.dtype, attrs, given, self.channels_first, where, names
            )
            self.provides(key, spec)

    def provide(self, request: BatchRequest) -> Batch:
        handle = self.handle()
        batch = Batch()
        for key, rspec in request.array_specs().items():  # request_batch checked: only keys of self.datasets
            spec = self.spec[key]
            assert spec.voxel_size is not None  # setup() gives every array a voxel size
            roi = rspec.roi if rspec.roi is not None else spec.roi
            assert roi is not None
            begin = ((roi.begin - self._origins[key]) // spec.voxel_size).ints()
            shape = (roi.shape // spec.voxel_size).ints()
            spatial = tuple(slice(b, b + s) for b, s in zip(begin, shape))
            ds = self.dataset(handle, self.datasets[key])
            ndim = len(ds.shape)
            channels = (slice(None),) * (ndim - roi.dims)
            if self.channels_first:
                data = np.asarray(ds[channels + spatial])
            else:  # move the trailing channel axes to the front
                data = np.moveaxis(
                    np.asarray(ds[spatial + channels]), list(range(roi.dims, ndim)), list(range(ndim - roi.dims))
                )
            if not (data.flags.owndata and data.flags.c_contiguous and data.flags.writeable):
                data = np.array(data, order="C")  # the batch owns its data: never a view into a store kept in memory
            batch[key] = Array(data, spec.with_roi(roi))
        return batch

    def teardown(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None and self._pid == os.getpid():
            self.close_store(handle)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_handle", None)  # open handles do not travel between processes; reopened on first use
        state.pop("_pid", None)
        return state


__all__ = ["StoreSource", "store_roi", "store_spec"]
