"""Optional third-party modules under gunpowder's names (``from flowgraph.ext import zarr, ZarrFile``).

gunpowder code imports optional dependencies from ``gunpowder.ext``: each name is the module when
it is installed and a :class:`NoSuchModule` placeholder otherwise, so that a missing package fails
where it is used, not where it is imported. This module offers the same vocabulary. Each module
is imported on first access (``from flowgraph.ext import torch`` imports torch, ``import
flowgraph.ext`` alone imports nothing), and the engine never imports this module.

Besides ``h5py`` and ``zarr`` (dependencies of flowgraph, always present), ``torch`` and
``dask``, it offers the other names of gunpowder's ``ext`` (``daisy``, ``tensorflow``,
``tensorboardX``, ``malis``, ``augment``, ``jax``, ``jnp``, ``haiku``, ``optax``, ``pyklb``,
``dvision``), each the module or a placeholder.

zarr: flowgraph works with zarr 2.18 (gunpowder 1.4's) and zarr 3. N5: gunpowder's ``ZarrFile``
and ``ZarrSource`` read N5 containers through zarr 2's N5 stores; so do flowgraph's with zarr 2.
zarr 3 has none, so with zarr 3 flowgraph refuses ``.n5`` paths with a ConfigError (N5 needs
zarr 2; or convert the container to zarr).
"""

from __future__ import annotations

import importlib
import os
import sys
from types import TracebackType
from typing import Any, Literal

from flowgraph.nodes.zarr_source import check_n5, n5_store

# name in this module -> module to import
_OPTIONAL = {
    "augment": "augment",
    "daisy": "daisy",
    "dask": "dask",
    "dvision": "dvision",
    "h5py": "h5py",
    "haiku": "haiku",
    "jax": "jax",
    "jnp": "jax.numpy",
    "malis": "malis",
    "optax": "optax",
    "pyklb": "pyklb",
    "tensorboardX": "tensorboardX",
    "tensorflow": "tensorflow",
    "torch": "torch",
    "zarr": "zarr",
}


class NoSuchModule:
    """Stands for an optional module that could not be imported.

    ``isinstance(x, NoSuchModule)`` tells whether the module is missing; any attribute access
    raises the ImportError that importing it gave.

    Args:
        name: the module's name.
        error: the ImportError; by default the one being handled (call it in an ``except`` block).

    Example:
        >>> try:
        ...     import not_a_module_anyone_has
        ... except ImportError:
        ...     not_a_module_anyone_has = NoSuchModule("not_a_module_anyone_has")
        >>> not_a_module_anyone_has.zeros(3)
        Traceback (most recent call last):
        ...
        ModuleNotFoundError: No module named 'not_a_module_anyone_has'
    """

    def __init__(self, name: str, error: ImportError | None = None) -> None:
        if error is None:
            handled = sys.exc_info()[1]
            error = handled if isinstance(handled, ImportError) else ImportError(f"No module named {name!r}")
        self.__name = name
        self.__error = error

    def __getattr__(self, item: str) -> Any:
        if item.startswith("__") or item.startswith("_NoSuchModule__"):
            raise AttributeError(item)  # copy, pickle and hasattr probe dunders; they get the usual answer
        error = self.__error
        try:  # a fresh exception each time: re-raising one instance would grow its traceback
            fresh = type(error)(*error.args, name=error.name, path=error.path)
        except TypeError:  # an ImportError subclass with another signature
            fresh = ImportError(*error.args, name=error.name, path=error.path)
        raise fresh from error

    def __repr__(self) -> str:
        return f"<NoSuchModule {self.__name!r}>"


class ZarrFile:
    """A zarr group at a path or store, opened in a ``with`` block like ``h5py.File``.

    ``with ZarrFile(path, mode="w") as f:`` gives a ``zarr.Group`` (zarr 2.18 or 3); nothing needs
    closing afterwards (zarr writes through). zarr 3 deprecates ``Group.create_dataset``
    (gunpowder's spelling, which still works and warns) in favour of ``Group.create_array``, which
    zarr 2 does not have; ``Group.zeros(name=..., shape=..., dtype=...)`` works with both.

    Args:
        store: a path (``str`` or path-like) or a zarr store. With zarr 2, the path of an N5
            container (``.n5``) is opened through ``zarr.N5Store``, as gunpowder did.
        mode: ``"r"`` read only, ``"r+"`` read and write (must exist), ``"a"`` read and write
            (created if missing), ``"w"`` created, replacing what was there, ``"w-"`` created,
            failing if it exists.
        **kwargs: passed on to ``zarr.open_group`` (``zarr_format=2`` for example, with zarr 3).

    Raises:
        ConfigError: ``store`` is an ``.n5`` path and zarr is zarr 3 (which has no N5 support).

    Example:
        >>> import numpy as np, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "sample.zarr")
        >>> with ZarrFile(path, mode="w") as f:
        ...     raw = f.zeros(name="raw", shape=(2, 3), dtype="uint8")
        ...     raw[:] = np.arange(6).reshape(2, 3)
        ...     raw.attrs["resolution"] = (4, 4)
        >>> with ZarrFile(path, mode="r") as f:
        ...     f["raw"][1, :], f["raw"].attrs["resolution"]
        (array([3, 4, 5], dtype=uint8), [4, 4])
    """

    def __init__(self, store: Any, mode: Literal["r", "r+", "a", "w", "w-"] = "a", **kwargs: Any) -> None:
        self.n5 = check_n5(store, "ZarrFile", "store")
        self.store = os.fspath(store) if isinstance(store, os.PathLike) else store
        self.mode = mode
        self.kwargs = kwargs

    def __enter__(self) -> Any:
        import zarr

        store = n5_store(self.store) if self.n5 else self.store
        return zarr.open_group(store, mode=self.mode, **self.kwargs)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


def __getattr__(name: str) -> Any:
    module = _OPTIONAL.get(name)
    if module is None:
        raise AttributeError(f"module 'flowgraph.ext' has no attribute {name!r}")
    try:
        value: Any = importlib.import_module(module)
    except ImportError as e:
        value = NoSuchModule(module, e)
    globals()[name] = value  # imported once
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = ["NoSuchModule", "ZarrFile", *_OPTIONAL]
