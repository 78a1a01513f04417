"""flowgraph.ext: gunpowder's vocabulary of optional modules, NoSuchModule placeholders, ZarrFile (zarr 2.18 and 3)."""

from __future__ import annotations

import contextlib
import copy
import json
import pickle
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import zarr

import flowgraph as fg
import flowgraph.ext as ext
from flowgraph.ext import NoSuchModule, ZarrFile

ZARR_2 = zarr.__version__.startswith("2.")  # the tests run with zarr 2.18 (gunpowder's) and zarr 3


def create_array(group: zarr.Group, name: str, data: np.ndarray, **kwargs: object) -> zarr.Array:
    """A new array holding ``data``: zarr 3's ``create_array``, zarr 2's ``create_dataset`` (zarr 3 deprecates it)."""
    create = group.create_dataset if ZARR_2 else group.create_array
    array = create(name, shape=data.shape, dtype=data.dtype, **kwargs)
    array[...] = data
    return array


def test_installed_modules_are_the_modules() -> None:
    assert ext.h5py is h5py and ext.zarr is zarr
    assert not isinstance(ext.dask, NoSuchModule)  # installed with the test extras (funlib.persistence)


def test_a_missing_module_is_a_placeholder_raising_its_import_error() -> None:
    from flowgraph.ext import dvision  # funkelab's private data access library: not installed here

    missing = dvision
    assert isinstance(missing, NoSuchModule)
    assert repr(missing) == "<NoSuchModule 'dvision'>"
    for _ in range(2):  # every access raises a fresh error, chained to the original one
        with pytest.raises(ModuleNotFoundError, match="No module named 'dvision'") as info:
            missing.constant  # noqa: B018
        assert isinstance(info.value.__cause__, ModuleNotFoundError) and info.value.name == "dvision"
    assert not hasattr(missing, "__wrapped__")  # probes for dunders get AttributeError, not ImportError
    assert isinstance(copy.deepcopy(missing), NoSuchModule)
    assert isinstance(pickle.loads(pickle.dumps(missing)), NoSuchModule)


def test_no_such_module_takes_the_error_being_handled() -> None:
    try:
        import flowgraph_no_such_package  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        placeholder = NoSuchModule("flowgraph_no_such_package")
    with pytest.raises(ModuleNotFoundError, match="flowgraph_no_such_package"):
        placeholder.anything  # noqa: B018
    with pytest.raises(ImportError, match="built without it"):
        NoSuchModule("x", ImportError("built without it")).anything  # noqa: B018


def test_unknown_names_and_lazy_imports() -> None:
    with pytest.raises(AttributeError, match=r"module 'flowgraph\.ext' has no attribute 'numpy'"):
        ext.numpy  # noqa: B018
    assert {"NoSuchModule", "ZarrFile", "h5py", "zarr", "torch", "dask"} <= set(ext.__all__) == set(dir(ext))
    code = "import sys, flowgraph.ext; print('torch' in sys.modules, 'dask' in sys.modules, 'zarr' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]  # nothing imported until asked for


def test_zarr_file_writes_as_gunpowder_code_does_and_zarr_source_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "sample.zarr"
    data = np.arange(30, dtype=np.float32).reshape(5, 6)
    with ZarrFile(path, mode="w") as f:
        assert isinstance(f, zarr.Group)
        create_array(f, "raw", data, chunks=(2, 3)).attrs["resolution"] = (10, 10)
    with ZarrFile(str(path), mode="r") as f:
        np.testing.assert_array_equal(f["raw"][:], data)
    raw = fg.ArrayKey("RAW")
    request = fg.BatchRequest(random_seed=0)
    request[raw] = fg.ArraySpec(roi=fg.Roi((10, 20), (20, 30)))
    with fg.build(fg.ZarrSource(path, {raw: "raw"})) as p:
        np.testing.assert_array_equal(p.request_batch(request)[raw].data, data[1:3, 2:5])


def test_zarr_file_takes_gunpowder_s_create_dataset(tmp_path: Path) -> None:
    # zarr 3 deprecates create_dataset (it warns); zarr 2 has nothing else
    warns = contextlib.nullcontext() if ZARR_2 else pytest.warns(DeprecationWarning, match="create_array")
    with ZarrFile(tmp_path / "old.zarr", mode="w") as f, warns:
        ds = f.create_dataset("raw", shape=(2, 2), dtype="uint8", chunks=(2, 2))
    assert ds.shape == (2, 2)


@pytest.mark.skipif(ZARR_2, reason="zarr 2 reads N5")
def test_zarr_file_refuses_n5_with_zarr_3(tmp_path: Path) -> None:
    with pytest.raises(fg.ConfigError, match=r"ZarrFile: store '.*volume\.n5' is an N5 container: N5 needs zarr 2"):
        ZarrFile(tmp_path / "volume.n5", mode="w")


@pytest.mark.skipif(not ZARR_2, reason="zarr 3 has no N5 store")
def test_zarr_file_writes_n5_with_zarr_2_as_gunpowder_s_did(tmp_path: Path) -> None:
    path = tmp_path / "volume.n5"
    data = np.arange(12, dtype=np.uint8).reshape(3, 4)
    with pytest.warns(FutureWarning, match="N5Store is deprecated"):  # zarr 2.18 says so for zarr 3
        with ZarrFile(path, mode="w") as f:
            create_array(f, "raw", data, chunks=(2, 2)).attrs["resolution"] = (1, 5)  # N5: x first
        raw = fg.ArrayKey("RAW")
        request = fg.BatchRequest(random_seed=0)
        request[raw] = fg.ArraySpec(roi=fg.Roi((5, 1), (10, 2)))
        with fg.build(fg.ZarrSource(path, {raw: "raw"})) as p:
            assert p.spec[raw].voxel_size == (5, 1)
            np.testing.assert_array_equal(p.request_batch(request)[raw].data, data[1:3, 1:3])
    attributes = json.loads((path / "raw" / "attributes.json").read_text())
    assert attributes["dimensions"] == [4, 3] and attributes["resolution"] == [1, 5]  # an N5 dataset
