"""ZarrSource: read arrays lazily from a zarr group."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from flowgraph.errors import ConfigError, SetupError
from flowgraph.keys import ArrayKey
from flowgraph.specs import ArraySpec

from .store_source import StoreSource

if TYPE_CHECKING:
    import zarr


class _Opened:
    """An open zarr group and the arrays found in it (a zarr lookup reads the array's metadata)."""

    def __init__(self, group: zarr.Group) -> None:
        self.group = group
        self.arrays: dict[str, zarr.Array | None] = {}


class ZarrSource(StoreSource):
    """Provide arrays read lazily from the arrays of a zarr group (zarr format 2 or 3).

    Args:
        store: path of the zarr group (a directory), or a zarr store (``zarr.storage.LocalStore``,
            ``MemoryStore``, ...). N5 containers are not supported (zarr 3 cannot read them).
        datasets: ArrayKey -> array path inside the group (``"volumes/raw"``).
        array_specs: ArrayKey -> ArraySpec to override or complete what the store says
            (typically ``interpolatable=False`` for labels and masks).
        channels_first: leading non-spatial axes are channels (True), or trailing (False).
        filename: the deprecated name of ``store`` (gunpowder's); warns.

    Requires: nothing (a source).

    Provides: every key of ``datasets``. The voxel size comes from the array attribute
    ``resolution``, the offset (world units) from ``offset``; missing attributes default to 1 and
    0. dtype from the store; ``interpolatable`` True for floats, uint8 and uint16 unless given.

    Request: reads exactly the requested ROI of each array (only the chunks it touches). The group
    is opened on first use, once per process; the generic logic lives in :class:`StoreSource`.

    Randomness: none.

    Raises:
        ConfigError: bad ``store``, ``datasets`` or ``array_specs``, an ``.n5`` path, or both
            ``store`` and ``filename``.
        SetupError: the group or an array is missing, or ``array_specs`` contradicts the store.

    Example:
        >>> import numpy as np, tempfile, os, zarr, flowgraph as fg
        >>> path = os.path.join(tempfile.mkdtemp(), "sample.zarr")
        >>> group = zarr.open_group(path, mode="w")
        >>> ds = group.create_array("raw", shape=(10, 10), dtype="uint8")
        >>> ds[:] = np.arange(100).reshape(10, 10)
        >>> ds.attrs.update({"resolution": (4, 4), "offset": (40, 0)})
        >>> raw = fg.ArrayKey("RAW")
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((40, 0), (8, 12)))
        >>> with fg.build(fg.ZarrSource(path, {raw: "raw"})) as p:
        ...     p.request_batch(request)[raw].data
        array([[ 0,  1,  2],
               [10, 11, 12]], dtype=uint8)
    """

    store_kind = "zarr"

    def __init__(
        self,
        store: Any = None,
        datasets: Mapping[ArrayKey, str] | None = None,
        array_specs: Mapping[ArrayKey, ArraySpec] | None = None,
        channels_first: bool = True,
        filename: str | os.PathLike[str] | None = None,
    ) -> None:
        if filename is not None:
            if store is not None:
                raise ConfigError("ZarrSource: give store or filename (its deprecated name), not both.")
            warnings.warn("ZarrSource: filename is deprecated, use store", DeprecationWarning, stacklevel=2)
            store = filename
        if isinstance(store, (str, os.PathLike)):
            refuse_n5(store, "ZarrSource", "store")
            store = os.fspath(store)
        elif not _is_zarr_store(store):
            raise ConfigError(f"ZarrSource: store must be the path of a zarr group or a zarr store, got {store!r}.")
        if datasets is None:
            raise ConfigError("ZarrSource: datasets is required, a dict of ArrayKey -> array path in the group.")
        self.store = store
        # the base's filename names the store in messages; open_store opens self.store
        super().__init__(store if isinstance(store, str) else str(store), datasets, array_specs, channels_first)

    def open_store(self) -> _Opened:
        import zarr

        if isinstance(self.store, str) and not os.path.exists(self.store):
            raise SetupError(f"{self.name}: there is no zarr group at {self.store!r}; check the path.")
        try:
            return _Opened(zarr.open_group(self.store, mode="r"))
        except zarr.errors.ContainsArrayError as e:
            raise SetupError(
                f"{self.name}: {self.filename!r} is a zarr array, not a group; give the group holding it as store "
                "and the array's path inside it in datasets."
            ) from e
        except (zarr.errors.BaseZarrError, FileNotFoundError) as e:
            raise ValueError(str(e)) from e  # an existing path without a zarr group: "cannot open as zarr"

    def dataset(self, handle: _Opened, name: str) -> zarr.Array | None:
        if name not in handle.arrays:
            import zarr

            found = handle.group.get(name)
            handle.arrays[name] = found if isinstance(found, zarr.Array) else None
        return handle.arrays[name]

    def attributes(self, handle: _Opened, name: str) -> Mapping[str, Any]:
        found = self.dataset(handle, name)
        assert found is not None  # setup() asked require_dataset first
        return found.attrs

    def list_datasets(self, handle: _Opened) -> list[str]:
        import zarr

        return [path for path, node in handle.group.members(max_depth=None) if isinstance(node, zarr.Array)]


def _is_zarr_store(store: Any) -> bool:
    """True for a zarr store (a subclass of ``zarr.abc.store.Store``, told without importing zarr) or a dict."""
    if isinstance(store, MutableMapping):  # zarr takes a dict (or an fsspec mapping) as a store
        return True
    return any(c.__name__ == "Store" and c.__module__ == "zarr.abc.store" for c in type(store).__mro__)


def refuse_n5(store: Any, owner: str, param: str) -> None:
    """Raise ConfigError if ``store`` is the path of an N5 container (zarr 3 has no N5 support)."""
    path = os.fspath(store) if isinstance(store, (str, os.PathLike)) else None
    if isinstance(path, str) and os.path.normpath(path).lower().endswith(".n5"):
        raise ConfigError(
            f"{owner}: {param} {path!r} is an N5 container, which zarr 3 cannot read (gunpowder read N5 "
            "through zarr 2); convert it to zarr first."
        )
