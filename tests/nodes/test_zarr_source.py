"""ZarrSource: geometry from the arrays' attributes, exact lazy reads, clear setup errors; with zarr 2.18 and 3."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
import zarr.storage
from contract_cases import coordinate_volume, create_zarr_array, zarr_2

import flowgraph as fg

RAW = fg.ArrayKey("RAW")
LABELS = fg.ArrayKey("LABELS")

RESOLUTION = (40, 4, 4)
OFFSET = (80, 8, -12)
SHAPE = (6, 10, 12)
DEFAULT_ATTRS = {"resolution": RESOLUTION, "offset": OFFSET}

ZARR_2 = zarr_2()  # the tests run with zarr 2.18 (gunpowder's) and zarr 3
#: a store of a directory
DIRECTORY_STORE: Any = zarr.storage.DirectoryStore if ZARR_2 else zarr.storage.LocalStore  # type: ignore[attr-defined]


def write(
    store: Any,
    arrays: dict[str, np.ndarray],
    attrs: dict[str, Any] | None = None,
    zarr_format: int | None = None,
    chunks: Any = None,
) -> Any:
    """A zarr group at ``store`` holding ``arrays`` (path -> data), each with ``attrs``, written by zarr itself
    (in ``zarr_format``, zarr 2's ``zarr_version``; the installed zarr's default if None)."""
    version = {} if zarr_format is None else {"zarr_version" if ZARR_2 else "zarr_format": zarr_format}
    group = zarr.open_group(store, mode="w", **version)  # type: ignore[arg-type]
    for name, data in arrays.items():
        array = create_zarr_array(group, name, data, chunks)
        array.attrs.update(DEFAULT_ATTRS if attrs is None else attrs)
    return store


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    coords = coordinate_volume(SHAPE)
    arrays = {"volumes/raw": coords.astype(np.float32), "volumes/labels": coords.astype(np.uint64)}
    return write(tmp_path / "sample.zarr", arrays, chunks=(2, 4, 4))


def request(roi: fg.Roi, *keys: fg.ArrayKey) -> fg.BatchRequest:
    r = fg.BatchRequest(random_seed=0)
    for key in keys or (RAW,):
        r[key] = fg.ArraySpec(roi=roi)
    return r


def test_voxel_size_offset_and_exact_data_3d(sample: Path) -> None:
    source = fg.ZarrSource(sample, {RAW: "volumes/raw", LABELS: "volumes/labels"})
    with fg.build(source) as p:
        spec = p.spec[RAW]
        assert spec.voxel_size == RESOLUTION
        assert spec.roi == fg.Roi(OFFSET, (240, 40, 48))
        assert spec.dtype == np.float32 and spec.interpolatable is True
        assert p.spec[LABELS].dtype == np.uint64 and p.spec[LABELS].interpolatable is False
        # world (120, 16, -4) is voxel (1, 2, 2) of the arrays
        batch = p.request_batch(request(fg.Roi((120, 16, -4), (80, 12, 20)), RAW, LABELS))
    coords = coordinate_volume(SHAPE)
    np.testing.assert_array_equal(batch[RAW].data, coords[1:3, 2:5, 2:7].astype(np.float32))
    np.testing.assert_array_equal(batch[LABELS].data, coords[1:3, 2:5, 2:7].astype(np.uint64))
    assert batch[RAW].data.dtype == np.float32 and batch[LABELS].data.dtype == np.uint64
    assert batch[RAW].spec.roi == fg.Roi((120, 16, -4), (80, 12, 20))


@pytest.mark.parametrize("zarr_format", [2, pytest.param(3, marks=pytest.mark.skipif(ZARR_2, reason="zarr 3 only"))])
def test_2d_with_attributes_in_either_zarr_format(tmp_path: Path, zarr_format: int) -> None:
    coords = coordinate_volume((8, 9)).astype(np.uint16)
    path = write(tmp_path / "plain.zarr", {"raw": coords}, {"resolution": [2, 3], "offset": [-4, 9]}, zarr_format)
    with fg.build(fg.ZarrSource(path, {RAW: "raw"})) as p:
        assert p.spec[RAW].voxel_size == (2, 3)
        assert p.spec[RAW].roi == fg.Roi((-4, 9), (16, 27))
        assert p.spec[RAW].interpolatable is True  # uint16: an image
        batch = p.request_batch(request(fg.Roi((0, 15), (6, 9))))
    np.testing.assert_array_equal(batch[RAW].data, coords[2:5, 2:5])


def test_missing_attributes_default_to_unit_voxels_at_the_origin(tmp_path: Path) -> None:
    path = write(tmp_path / "plain.zarr", {"raw": coordinate_volume((3, 4))}, attrs={})
    with fg.build(fg.ZarrSource(path, {RAW: "raw"})) as p:
        assert p.spec[RAW].voxel_size == (1, 1)
        assert p.spec[RAW].roi == fg.Roi((0, 0), (3, 4))
        batch = p.request_batch(request(fg.Roi((1, 1), (2, 2))))
    np.testing.assert_array_equal(batch[RAW].data, [[101, 102], [201, 202]])


def test_array_specs_complete_what_the_store_lacks(tmp_path: Path) -> None:
    data = coordinate_volume((3, 4)).astype(np.uint8)
    path = write(tmp_path / "plain.zarr", {"raw": data}, attrs={"offset": (8, 0)})
    specs = {RAW: fg.ArraySpec(voxel_size=(8, 2), interpolatable=False)}
    with fg.build(fg.ZarrSource(path, {RAW: "raw"}, array_specs=specs)) as p:
        assert p.spec[RAW].voxel_size == (8, 2)
        assert p.spec[RAW].roi == fg.Roi((8, 0), (24, 8))
        assert p.spec[RAW].interpolatable is False
        batch = p.request_batch(request(fg.Roi((16, 2), (8, 4))))
    np.testing.assert_array_equal(batch[RAW].data, [[101, 102]])


@pytest.mark.parametrize("channels_first", [True, False])
def test_channel_axis(tmp_path: Path, channels_first: bool) -> None:
    coords = coordinate_volume((4, 5, 6))
    stacked = np.stack([coords, coords + 1_000_000], axis=0 if channels_first else -1)
    path = write(tmp_path / "channels.zarr", {"raw": stacked}, attrs={"resolution": (40, 4, 4)})
    with fg.build(fg.ZarrSource(path, {RAW: "raw"}, channels_first=channels_first)) as p:
        assert p.spec[RAW].roi == fg.Roi((0, 0, 0), (160, 20, 24))
        batch = p.request_batch(request(fg.Roi((40, 4, 8), (80, 8, 12))))
    data = batch[RAW].data
    assert data.shape == (2, 2, 2, 3)  # channels always lead in a batch
    np.testing.assert_array_equal(data[0], coords[1:3, 1:3, 2:5])
    np.testing.assert_array_equal(data[1], coords[1:3, 1:3, 2:5] + 1_000_000)
    assert data.flags.c_contiguous and data.flags.writeable


def test_reads_only_the_requested_region(sample: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[Any] = []
    original = zarr.Array.__getitem__

    def spy(self: zarr.Array, index: Any) -> Any:
        reads.append((self.path, index))
        return original(self, index)

    monkeypatch.setattr(zarr.Array, "__getitem__", spy)
    with fg.build(fg.ZarrSource(sample, {RAW: "volumes/raw", LABELS: "volumes/labels"})) as p:
        assert reads == []  # setup reads attributes only
        p.request_batch(request(fg.Roi((120, 16, -4), (80, 12, 20))))
    assert reads == [("volumes/raw", (slice(1, 3), slice(2, 5), slice(2, 7)))]


def test_a_zarr_store_object(tmp_path: Path) -> None:
    memory = write(zarr.storage.MemoryStore(), {"raw": coordinate_volume((4, 4))}, {"resolution": (2, 2)})
    local = DIRECTORY_STORE(str(write(tmp_path / "local.zarr", {"raw": coordinate_volume((4, 4))}, {})))
    for store, roi, expected in [
        (memory, fg.Roi((2, 4), (4, 2)), [[102], [202]]),
        (local, fg.Roi((2, 2), (1, 1)), [[202]]),
    ]:
        with fg.build(fg.ZarrSource(store, {RAW: "raw"})) as p:
            np.testing.assert_array_equal(p.request_batch(request(roi))[RAW].data, expected)


def test_filename_is_the_deprecated_name_of_store(sample: Path) -> None:
    with pytest.warns(DeprecationWarning, match="filename is deprecated, use store"):
        source = fg.ZarrSource(filename=sample, datasets={RAW: "volumes/raw"})
    assert source.store == str(sample)
    with fg.build(source) as p:
        assert p.spec[RAW].voxel_size == RESOLUTION
    with pytest.raises(fg.ConfigError, match="give store or filename"):
        fg.ZarrSource(sample, {RAW: "raw"}, filename=sample)


def test_source_is_picklable_while_built(sample: Path) -> None:
    source = fg.ZarrSource(sample, {RAW: "volumes/raw"})
    roi = fg.Roi((120, 16, -4), (80, 12, 20))
    with fg.build(source) as p:
        expected = p.request_batch(request(roi))[RAW].data
        clone = pickle.loads(pickle.dumps(source))
    assert clone._handle is None and clone.store == source.store
    with fg.build(clone) as p:
        np.testing.assert_array_equal(p.request_batch(request(roi))[RAW].data, expected)


# -- errors -------------------------------------------------------------------------------------------
def expect_setup_error(source: fg.ZarrSource, match: str) -> None:
    with pytest.raises(fg.SetupError, match=match), fg.build(source):
        pass  # pragma: no cover


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.zarr"
    source = fg.ZarrSource(missing, {RAW: "raw"})  # no I/O in __init__
    expect_setup_error(
        source, r"ZarrSource\(missing\.zarr\): there is no zarr group at .*missing\.zarr'; check the path"
    )
    assert not missing.exists()


def test_a_directory_without_zarr(tmp_path: Path) -> None:
    (tmp_path / "empty.zarr").mkdir()
    expect_setup_error(fg.ZarrSource(tmp_path / "empty.zarr", {RAW: "raw"}), r"cannot open .*empty\.zarr' as zarr")


def test_the_store_is_an_array_not_a_group(sample: Path) -> None:
    expect_setup_error(
        fg.ZarrSource(sample / "volumes" / "raw", {RAW: "raw"}),
        r"raw' is a zarr array, not a group; give the group holding it as store",
    )


def test_missing_dataset_lists_what_the_group_holds(sample: Path) -> None:
    expect_setup_error(
        fg.ZarrSource(sample, {RAW: "volumes/rav"}),
        r"dataset 'volumes/rav' for RAW is not in .* \(it holds volumes/labels, volumes/raw\); fix the path",
    )


def test_a_group_is_not_a_dataset(sample: Path) -> None:
    expect_setup_error(fg.ZarrSource(sample, {RAW: "volumes"}), "dataset 'volumes' for RAW is not in")


@pytest.mark.parametrize(
    ("attrs", "match"),
    [
        ({"resolution": "4,4"}, r"RAW \(raw\): the 'resolution' attribute must be a list of integers, got '4,4'"),
        ({"resolution": [4.5, 4]}, "the 'resolution' attribute must be a list of integers"),
        ({"resolution": [0, 4]}, r"the 'resolution' attribute \(0, 4\) must be positive"),
        ({"resolution": [4, 4], "offset": [2, 0]}, r"offset \(2, 0\) is not a multiple of the voxel size \(4, 4\)"),
        ({"resolution": [4, 4], "offset": [0, 0, 0]}, "the 'offset' attribute .* and voxel size .* different lengths"),
        ({"resolution": [4, 4, 4]}, r"the dataset has 2 axes but voxel size \(4, 4, 4\) has 3"),
    ],
)
def test_bad_attributes(tmp_path: Path, attrs: dict[str, Any], match: str) -> None:
    path = write(tmp_path / "bad.zarr", {"raw": np.zeros((2, 2))}, attrs)
    expect_setup_error(fg.ZarrSource(path, {RAW: "raw"}), match)


def test_array_specs_contradicting_the_store(sample: Path) -> None:
    specs = {RAW: fg.ArraySpec(voxel_size=(4, 4, 4))}
    expect_setup_error(
        fg.ZarrSource(sample, {RAW: "volumes/raw"}, array_specs=specs),
        r"voxel_size \(4, 4, 4\), but the file's 'resolution' attribute says \(40, 4, 4\)",
    )
    specs = {RAW: fg.ArraySpec(dtype=np.uint8)}
    expect_setup_error(
        fg.ZarrSource(sample, {RAW: "volumes/raw"}, array_specs=specs), "gives dtype uint8, but the dataset is float32"
    )


@pytest.mark.skipif(ZARR_2, reason="zarr 2 reads N5")
@pytest.mark.parametrize("path", ["volume.n5", "data/volume.N5/"])
def test_n5_is_refused_with_zarr_3(path: str) -> None:
    with pytest.raises(fg.ConfigError, match=r"ZarrSource: store '.*' is an N5 container: N5 needs zarr 2"):
        fg.ZarrSource(path, {RAW: "raw"})


@pytest.mark.skipif(not ZARR_2, reason="zarr 3 has no N5 store")
@pytest.mark.parametrize("name", ["volume.n5", "volume.N5/", "store object"])
def test_n5_with_zarr_2_reverses_resolution_and_offset(tmp_path: Path, name: str) -> None:
    coords = coordinate_volume((4, 6)).astype(np.uint16)
    path = tmp_path / name.replace("store object", "volume.n5")
    with pytest.warns(FutureWarning, match="N5Store is deprecated"):  # zarr 2.18 says so for zarr 3
        n5 = zarr.N5Store(str(path))  # type: ignore[attr-defined]
        # N5 lists the axes x first: voxel size (z, y) = (3, 2), offset (12, 4)
        write(n5, {"volumes/raw": coords}, {"resolution": [2, 3], "offset": [4, 12]}, chunks=(2, 4))
        source = fg.ZarrSource(n5 if name == "store object" else str(path), {RAW: "volumes/raw"})
        with fg.build(source) as p:
            assert p.spec[RAW].voxel_size == (3, 2) and p.spec[RAW].roi == fg.Roi((12, 4), (12, 12))
            batch = p.request_batch(request(fg.Roi((15, 6), (6, 4))))
    np.testing.assert_array_equal(batch[RAW].data, coords[1:3, 1:3])


def test_configuration_is_checked(tmp_path: Path) -> None:
    with pytest.raises(fg.ConfigError, match="store must be the path of a zarr group or a zarr store, got 3"):
        fg.ZarrSource(3, {RAW: "raw"})
    with pytest.raises(fg.ConfigError, match="store must be the path of a zarr group or a zarr store, got None"):
        fg.ZarrSource(datasets={RAW: "raw"})
    with pytest.raises(fg.ConfigError, match="datasets is required"):
        fg.ZarrSource(tmp_path / "x.zarr")
    with pytest.raises(fg.ConfigError, match="array_specs names LABELS, which is not in datasets"):
        fg.ZarrSource(tmp_path / "x.zarr", {RAW: "raw"}, array_specs={LABELS: fg.ArraySpec()})
    with pytest.raises(fg.ConfigError, match=r"datasets\[RAW\] must be a dataset path string"):
        fg.ZarrSource(tmp_path / "x.zarr", {RAW: 3})  # type: ignore[dict-item]
