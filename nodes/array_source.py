"""ArraySource: serve an fg.Array, or read a funlib.persistence Array lazily."""

from __future__ import annotations

from typing import Any

import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.coordinate import Coordinate
from flowgraph.errors import ConfigError
from flowgraph.keys import ArrayKey
from flowgraph.provider import BatchProvider
from flowgraph.request import BatchRequest
from flowgraph.roi import Roi, as_roi
from flowgraph.specs import ArraySpec, default_interpolatable
from flowgraph.validate import array_key

#: what ``array`` must have when it is not an fg.Array
ARRAY_ATTRIBUTES = ("roi", "voxel_size", "dtype", "data")


def array_layout(array: Any, where: str = "array") -> tuple[Roi, Coordinate, np.dtype, tuple[int, ...]]:
    """The ROI, voxel size, dtype and spatial axes of ``array.data`` of an array such as funlib.persistence's.

    The spatial axes are those whose ``array.types`` entry is ``"space"`` or ``"time"`` when the
    array says (funlib.persistence's axis types), else the trailing ones; the others are channels.
    Only metadata is read, never the data.

    Raises:
        ConfigError: the geometry does not fit together (axes, shape, voxel grid).

    Example:
        >>> class Funlike:  # funlib.persistence's Array has these attributes (and funlib.geometry types)
        ...     roi = Roi((8, 0), (16, 6))
        ...     voxel_size, dtype, types = (4, 2), np.dtype("uint8"), ["channel", "space", "space"]
        ...     data = np.zeros((2, 4, 3), np.uint8)
        >>> array_layout(Funlike())
        (Roi([8:24, 0:6]), Coordinate(4, 2), dtype('uint8'), (1, 2))
    """
    roi = as_roi(array.roi, where)
    voxel_size = Coordinate(tuple(array.voxel_size))
    dtype = np.dtype(array.dtype)
    shape = tuple(array.data.shape)
    types = getattr(array, "types", None)
    if isinstance(types, (list, tuple)) and len(types) == len(shape):
        spatial = tuple(i for i, t in enumerate(types) if t in ("space", "time"))
    else:
        spatial = tuple(range(len(shape) - len(voxel_size), len(shape)))
    if len(shape) < len(voxel_size) or not len(spatial) == len(voxel_size) == roi.dims:
        raise ConfigError(
            f"{where}: roi {roi}, voxel_size {voxel_size} and data of shape {shape} do not have the same "
            "number of spatial axes; check the array's metadata."
        )
    expected = Coordinate(shape[i] for i in spatial) * voxel_size
    if not roi.is_bounded() or roi.shape != expected:
        raise ConfigError(
            f"{where}: roi {roi} does not match data of shape {shape} at voxel size {voxel_size} (expected a "
            f"ROI shape of {expected}); check the array's metadata."
        )
    if not roi.on_grid(voxel_size):
        raise ConfigError(f"{where}: roi {roi} is not on the grid of voxel size {voxel_size}; check its offset.")
    return roi, voxel_size, dtype, spatial


def read_region(
    array: Any, origin: Coordinate, voxel_size: Coordinate, spatial: tuple[int, ...], roi: Roi
) -> np.ndarray:
    """The part of ``array.data`` inside ``roi`` (world units; the data's first voxel at ``origin``),
    channels first, as a new C-contiguous numpy array; only that part is read."""
    data = array.data
    index: list[slice] = [slice(None)] * len(data.shape)
    begin = ((roi.begin - origin) // voxel_size).ints()
    for axis, b, s in zip(spatial, begin, (roi.shape // voxel_size).ints()):
        index[axis] = slice(b, b + s)
    part = np.asarray(data[tuple(index)])
    channels = [axis for axis in range(part.ndim) if axis not in spatial]
    if channels != list(range(len(channels))):  # channel axes between or after the spatial ones lead in a batch
        part = np.moveaxis(part, channels, list(range(len(channels))))
    if not (part.flags.owndata and part.flags.c_contiguous and part.flags.writeable):
        part = np.array(part, order="C")
    return part


class ArraySource(BatchProvider):
    """Provide ``key`` from an in-memory :class:`~flowgraph.Array`, or from a funlib.persistence Array read lazily.

    Args:
        key: the ArrayKey to provide.
        array: an ``fg.Array`` (numpy data and a spec with roi and voxel_size), or a
            ``funlib.persistence`` Array, or any object with ``roi`` (a Roi, or a box with
            ``offset`` and ``shape`` such as funlib.geometry's), ``voxel_size``, ``dtype`` and
            ``data`` (anything sliceable such as a dask, zarr or numpy array; channel axes lead,
            or are marked by a ``types`` list as funlib.persistence marks them).
        interpolatable: whether geometric nodes may interpolate the array; None takes the
            fg.Array's spec, else guesses from the dtype.

    Requires: nothing (a source).

    Provides: ``key`` with the array's roi, voxel size and dtype; ``interpolatable`` defaults to
    True for floats, uint8 and uint16, False for other dtypes (labels, masks).

    Request: delivers a copy of the requested part, so downstream nodes may modify it. An array
    that is not an fg.Array is read at request time, only the requested voxels
    (``np.asarray(array.data[slices])``); nothing is loaded at setup.

    Randomness: none.

    Raises:
        ConfigError: ``key`` is not an ArrayKey, ``array`` is neither kind of array or its
            metadata does not fit its data, or ``interpolatable`` is not a bool.

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> source = fg.ArraySource(raw, fg.Array(np.zeros((10, 10), np.uint8),
        ...                         fg.ArraySpec(roi=fg.Roi((0, 0), (40, 40)), voxel_size=(4, 4))))
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request.add(raw, (8, 8))
        >>> with fg.build(source + fg.RandomLocation()) as p:
        ...     p.request_batch(request)[raw].data.shape
        (2, 2)
    """

    def __init__(self, key: ArrayKey, array: Any, interpolatable: bool | None = None) -> None:
        self.key = array_key("ArraySource", "key", key)
        if interpolatable is not None and not isinstance(interpolatable, (bool, np.bool_)):
            raise ConfigError(
                f"ArraySource({key}): interpolatable must be True, False or None, got {interpolatable!r}."
            )
        self.interpolatable = None if interpolatable is None else bool(interpolatable)
        self.array = array
        if isinstance(array, Array):
            self._layout = None
        elif all(hasattr(array, a) for a in ARRAY_ATTRIBUTES):
            self._layout = array_layout(array, f"ArraySource({key}): array")
        else:
            raise ConfigError(
                f"ArraySource({key}): array must be an fg.Array or an array with roi, voxel_size, dtype and data "
                f"(a funlib.persistence Array), got {type(array).__name__}; wrap numpy data as "
                "fg.Array(data, fg.ArraySpec(roi=..., voxel_size=...))."
            )

    def setup(self) -> None:
        spec: ArraySpec
        if self._layout is None:
            spec = self.array.spec.copy()
        else:
            roi, voxel_size, dtype, _ = self._layout
            spec = ArraySpec(roi=roi, voxel_size=voxel_size, dtype=dtype)
        if self.interpolatable is not None:
            spec.interpolatable = self.interpolatable
        elif spec.interpolatable is None:
            spec.interpolatable = default_interpolatable(np.dtype(spec.dtype))
        self.provides(self.key, spec)

    def provide(self, request: BatchRequest) -> Batch:
        batch = Batch()
        spec = self.spec[self.key]
        roi = request[self.key].roi
        if self._layout is None:
            part = self.array.crop(roi) if roi is not None else self.array
            out = Array(part.data.copy(), part.spec)
            out.spec.interpolatable = spec.interpolatable
            batch[self.key] = out
        else:
            roi = roi if roi is not None else spec.roi
            assert roi is not None  # setup() gives the spec the array's ROI
            whole, voxel_size, _, spatial = self._layout
            data = read_region(self.array, whole.offset, voxel_size, spatial, roi)
            batch[self.key] = Array.trusted(data, spec, roi)
        return batch
