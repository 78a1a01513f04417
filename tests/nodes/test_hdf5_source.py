"""Hdf5Source: geometry from the file's attributes, exact lazy reads, clear setup errors."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from contract_cases import coordinate_volume

import flowgraph as fg

RAW = fg.ArrayKey("RAW")
LABELS = fg.ArrayKey("LABELS")

RESOLUTION = (40, 4, 4)
OFFSET = (80, 8, -12)
SHAPE = (6, 10, 12)


def write(path: Path, datasets: dict[str, np.ndarray], attrs: dict[str, Any] | None = None) -> Path:
    with h5py.File(path, "w") as f:
        for name, data in datasets.items():
            ds = f.create_dataset(name, data=data)
            for k, v in (attrs if attrs is not None else {"resolution": RESOLUTION, "offset": OFFSET}).items():
                ds.attrs[k] = v
    return path


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    coords = coordinate_volume(SHAPE)
    datasets = {"volumes/raw": coords.astype(np.float32), "volumes/labels": coords.astype(np.uint64)}
    return write(tmp_path / "sample.h5", datasets)


def request(roi: fg.Roi, *keys: fg.ArrayKey) -> fg.BatchRequest:
    r = fg.BatchRequest(random_seed=0)
    for key in keys or (RAW,):
        r[key] = fg.ArraySpec(roi=roi)
    return r


def test_voxel_size_offset_and_exact_data(sample: Path) -> None:
    source = fg.Hdf5Source(sample, {RAW: "volumes/raw", LABELS: "volumes/labels"})
    with fg.build(source) as p:
        spec = p.spec[RAW]
        assert spec.voxel_size == RESOLUTION
        assert spec.roi == fg.Roi(OFFSET, (240, 40, 48))
        assert spec.dtype == np.float32 and spec.interpolatable is True
        assert p.spec[LABELS].dtype == np.uint64 and p.spec[LABELS].interpolatable is False
        # world (120, 16, -4) is voxel (1, 2, 2) of the datasets
        batch = p.request_batch(request(fg.Roi((120, 16, -4), (80, 12, 20)), RAW, LABELS))
    coords = coordinate_volume(SHAPE)
    np.testing.assert_array_equal(batch[RAW].data, coords[1:3, 2:5, 2:7].astype(np.float32))
    np.testing.assert_array_equal(batch[LABELS].data, coords[1:3, 2:5, 2:7].astype(np.uint64))
    assert batch[RAW].data.dtype == np.float32 and batch[LABELS].data.dtype == np.uint64
    assert batch[RAW].spec.roi == fg.Roi((120, 16, -4), (80, 12, 20))


def test_missing_attributes_default_to_unit_voxels_at_the_origin(tmp_path: Path) -> None:
    path = write(tmp_path / "plain.h5", {"raw": coordinate_volume((3, 4))}, attrs={})
    with fg.build(fg.Hdf5Source(path, {RAW: "raw"})) as p:
        assert p.spec[RAW].voxel_size == (1, 1)
        assert p.spec[RAW].roi == fg.Roi((0, 0), (3, 4))
        batch = p.request_batch(request(fg.Roi((1, 1), (2, 2))))
    np.testing.assert_array_equal(batch[RAW].data, [[101, 102], [201, 202]])


def test_array_specs_complete_what_the_file_lacks(tmp_path: Path) -> None:
    path = write(tmp_path / "plain.h5", {"raw": coordinate_volume((3, 4)).astype(np.uint8)}, attrs={"offset": (8, 0)})
    specs = {RAW: fg.ArraySpec(voxel_size=(8, 2), interpolatable=False)}
    with fg.build(fg.Hdf5Source(path, {RAW: "raw"}, array_specs=specs)) as p:
        assert p.spec[RAW].voxel_size == (8, 2)
        assert p.spec[RAW].roi == fg.Roi((8, 0), (24, 8))
        assert p.spec[RAW].interpolatable is False
        batch = p.request_batch(request(fg.Roi((16, 2), (8, 4))))
    np.testing.assert_array_equal(batch[RAW].data, [[101, 102]])


def test_array_specs_roi_restricts_the_offer(sample: Path) -> None:
    roi = fg.Roi((120, 16, -4), (80, 12, 20))
    source = fg.Hdf5Source(sample, {RAW: "volumes/raw"}, array_specs={RAW: fg.ArraySpec(roi=roi)})
    with fg.build(source) as p:
        assert p.spec[RAW].roi == roi
        batch = p.request_batch(request(roi))
    np.testing.assert_array_equal(batch[RAW].data, coordinate_volume(SHAPE)[1:3, 2:5, 2:7])


@pytest.mark.parametrize("channels_first", [True, False])
def test_channel_axis(tmp_path: Path, channels_first: bool) -> None:
    coords = coordinate_volume((4, 5, 6))
    stacked = np.stack([coords, coords + 1_000_000], axis=0 if channels_first else -1)
    path = write(tmp_path / "channels.h5", {"raw": stacked}, attrs={"resolution": (40, 4, 4)})
    with fg.build(fg.Hdf5Source(path, {RAW: "raw"}, channels_first=channels_first)) as p:
        assert p.spec[RAW].roi == fg.Roi((0, 0, 0), (160, 20, 24))
        batch = p.request_batch(request(fg.Roi((40, 4, 8), (80, 8, 12))))
    data = batch[RAW].data
    assert data.shape == (2, 2, 2, 3)  # channels always lead in a batch
    np.testing.assert_array_equal(data[0], coords[1:3, 1:3, 2:5])
    np.testing.assert_array_equal(data[1], coords[1:3, 1:3, 2:5] + 1_000_000)
    assert data.flags.c_contiguous


def test_reads_only_the_requested_region(sample: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[Any] = []
    original = h5py.Dataset.__getitem__

    def spy(self: h5py.Dataset, index: Any, *args: Any, **kwargs: Any) -> Any:
        reads.append((self.name, index))
        return original(self, index, *args, **kwargs)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    with fg.build(fg.Hdf5Source(sample, {RAW: "volumes/raw", LABELS: "volumes/labels"})) as p:
        reads.clear()  # setup may look at attributes; only reads for the request count
        p.request_batch(request(fg.Roi((120, 16, -4), (80, 12, 20))))
    assert reads == [("/volumes/raw", (slice(1, 3), slice(2, 5), slice(2, 7)))]


def test_file_is_closed_after_the_build(sample: Path) -> None:
    source = fg.Hdf5Source(sample, {RAW: "volumes/raw"})
    with fg.build(source) as p:
        p.request_batch(request(fg.Roi((120, 16, -4), (40, 4, 4))))
        handle = source._file
        assert handle is not None and handle.id.valid
    assert not handle.id.valid
    assert source._file is None
    # the file can be rewritten now (no handle keeps it open)
    with h5py.File(sample, "a") as f:
        f["volumes/raw"][0, 0, 0] = -1.0


def test_file_is_closed_when_setup_fails(sample: Path) -> None:
    source = fg.Hdf5Source(sample, {RAW: "volumes/raw", LABELS: "nope"})
    with pytest.raises(fg.SetupError, match="'nope'"), fg.build(source):
        pass  # pragma: no cover
    assert source._file is None


def test_source_is_picklable_while_built(sample: Path) -> None:
    source = fg.Hdf5Source(sample, {RAW: "volumes/raw"})
    roi = fg.Roi((120, 16, -4), (80, 12, 20))
    with fg.build(source) as p:
        expected = p.request_batch(request(roi))[RAW].data
        clone = pickle.loads(pickle.dumps(source))
    assert clone._file is None
    assert clone.filename == source.filename and clone.datasets == source.datasets
    with fg.build(clone) as p:
        np.testing.assert_array_equal(p.request_batch(request(roi))[RAW].data, expected)


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.h5"
    with (
        pytest.raises(fg.SetupError, match=r"Hdf5Source\(missing\.h5\): file .*missing\.h5' does not exist"),
        fg.build(fg.Hdf5Source(missing, {RAW: "raw"})),
    ):
        pass  # pragma: no cover


def test_not_an_hdf5_file(tmp_path: Path) -> None:
    path = tmp_path / "text.h5"
    path.write_text("not hdf5")
    with pytest.raises(fg.SetupError, match=r"cannot open .* as HDF5"), fg.build(fg.Hdf5Source(path, {RAW: "raw"})):
        pass  # pragma: no cover


def test_missing_dataset_lists_what_the_file_holds(sample: Path) -> None:
    with (
        pytest.raises(
            fg.SetupError, match=r"dataset 'volumes/rav' for RAW is not in .* \(it holds volumes/labels, volumes/raw\)"
        ),
        fg.build(fg.Hdf5Source(sample, {RAW: "volumes/rav"})),
    ):
        pass  # pragma: no cover


def test_a_group_is_not_a_dataset(sample: Path) -> None:
    with (
        pytest.raises(fg.SetupError, match="dataset 'volumes' for RAW is not in"),
        fg.build(fg.Hdf5Source(sample, {RAW: "volumes"})),
    ):
        pass  # pragma: no cover


def test_array_specs_contradicting_the_voxel_size(sample: Path) -> None:
    specs = {RAW: fg.ArraySpec(voxel_size=(4, 4, 4))}
    with (
        pytest.raises(
            fg.SetupError, match=r"voxel_size \(4, 4, 4\), but the file's 'resolution' attribute says \(40, 4, 4\)"
        ),
        fg.build(fg.Hdf5Source(sample, {RAW: "volumes/raw"}, array_specs=specs)),
    ):
        pass  # pragma: no cover


def test_array_specs_contradicting_the_dtype(sample: Path) -> None:
    specs = {RAW: fg.ArraySpec(dtype=np.uint8)}
    with (
        pytest.raises(fg.SetupError, match="gives dtype uint8, but the dataset is float32"),
        fg.build(fg.Hdf5Source(sample, {RAW: "volumes/raw"}, array_specs=specs)),
    ):
        pass  # pragma: no cover


def test_array_specs_roi_outside_the_data(sample: Path) -> None:
    specs = {RAW: fg.ArraySpec(roi=fg.Roi((0, 0, 0), (40, 4, 4)))}
    with (
        pytest.raises(fg.SetupError, match="outside the data's ROI"),
        fg.build(fg.Hdf5Source(sample, {RAW: "volumes/raw"}, array_specs=specs)),
    ):
        pass  # pragma: no cover


def test_offset_off_the_voxel_grid(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.h5", {"raw": np.zeros((2, 2))}, attrs={"resolution": (4, 4), "offset": (2, 0)})
    with (
        pytest.raises(fg.SetupError, match=r"offset \(2, 0\) is not a multiple of the voxel size"),
        fg.build(fg.Hdf5Source(path, {RAW: "raw"})),
    ):
        pass  # pragma: no cover


def test_configuration_is_checked_without_io(tmp_path: Path) -> None:
    missing = tmp_path / "never-written.h5"
    fg.Hdf5Source(missing, {RAW: "raw"})  # no I/O in __init__
    assert not missing.exists()
    with pytest.raises(fg.ConfigError, match="array_specs names LABELS, which is not in datasets"):
        fg.Hdf5Source(missing, {RAW: "raw"}, array_specs={LABELS: fg.ArraySpec()})
    with pytest.raises(fg.ConfigError, match=r"datasets\[RAW\] must be a dataset path string"):
        fg.Hdf5Source(missing, {RAW: 3})  # type: ignore[dict-item]


def test_pickles_unbuilt_and_built_with_the_standard_pickler(sample: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = fg.Hdf5Source(sample, {RAW: "volumes/raw"})
    assert "_handle" not in vars(source) and "_pid" not in vars(source)  # no runtime state before it is used
    unbuilt = pickle.loads(pickle.dumps(source))
    roi = fg.Roi((120, 16, -4), (80, 12, 20))
    expected = coordinate_volume(SHAPE)[1:3, 2:5, 2:7]
    with fg.build(source) as p:
        np.testing.assert_array_equal(p.request_batch(request(roi))[RAW].data, expected)
        built = pickle.loads(pickle.dumps(source))
        parent_handle = source._file
        monkeypatch.setattr(os, "getpid", lambda: -7)  # as in a forked child: a new handle, the parent's stays open
        np.testing.assert_array_equal(p.request_batch(request(roi))[RAW].data, expected)
        assert source._file is not parent_handle and parent_handle is not None and parent_handle.id.valid
        monkeypatch.undo()
        parent_handle.close()
    # the built copy keeps its spec and reads without a new setup, opening the file on first use
    assert built._file is None
    np.testing.assert_array_equal(built.request_batch(request(roi))[RAW].data, expected)
    assert built._file is not None
    built.teardown()
    assert built._file is None
    with fg.build(unbuilt) as p:
        np.testing.assert_array_equal(p.request_batch(request(roi))[RAW].data, expected)
