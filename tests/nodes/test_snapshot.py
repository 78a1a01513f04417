"""Snapshot: batches written to HDF5 land back at the same world coordinates; writes are atomic."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from typing import Any

import h5py
import numpy as np
import pytest
from contract_cases import coordinate_volume

import flowgraph as fg
from flowgraph.nodes.snapshot import write_batch
from flowgraph.nodes.store_writer import Hdf5Writer, StoreWriter

RAW = fg.ArrayKey("RAW")
LABELS = fg.ArrayKey("LABELS")
EXTRA = fg.ArrayKey("EXTRA")
POINTS = fg.GraphKey("POINTS")
VS = (4, 2, 2)
OFFSET = (40, -20, 60)  # world units, on the grid
SHAPE = (6, 20, 20)


def sources() -> fg.Pipeline:
    coords = coordinate_volume(SHAPE)
    roi = fg.Roi(OFFSET, tuple(s * v for s, v in zip(SHAPE, VS)))
    labels = (coords + 2**40).astype(np.uint64)  # ids beyond 2**32
    return (
        fg.ArraySource(RAW, fg.Array(coords.astype(np.int64), fg.ArraySpec(roi=roi, voxel_size=VS))),
        fg.ArraySource(LABELS, fg.Array(labels, fg.ArraySpec(roi=roi, voxel_size=VS, interpolatable=False))),
        fg.ArraySource(EXTRA, fg.Array(-coords.astype(np.int64), fg.ArraySpec(roi=roi, voxel_size=VS))),
    ) + fg.MergeProvider()


def request(seed: int = 0) -> fg.BatchRequest:
    req = fg.BatchRequest(random_seed=seed)
    req[RAW] = fg.ArraySpec(roi=fg.Roi((48, -16, 64), (12, 20, 16)))
    req[LABELS] = fg.ArraySpec(roi=fg.Roi((52, -12, 68), (4, 8, 8)))
    return req


def test_round_trip_through_hdf5_source_keeps_world_coordinates(tmp_path: str) -> None:
    snapshot = fg.Snapshot({RAW: "volumes/raw", LABELS: "volumes/labels"}, output_dir=str(tmp_path))
    with fg.build(sources() + snapshot) as p:
        delivered = p.request_batch(request())
    path = os.path.join(tmp_path, "0.h5")
    assert sorted(os.listdir(tmp_path)) == ["0.h5"]
    with h5py.File(path, "r") as f:
        assert f["volumes/raw"].attrs["resolution"].tolist() == list(VS)
        assert f["volumes/raw"].attrs["offset"].tolist() == [48, -16, 64]
        assert f["volumes/raw"].compression == "gzip"
        assert f.attrs["iteration"] == 0 and f.attrs["random_seed"] == 0
    source = fg.Hdf5Source(path, {RAW: "volumes/raw", LABELS: "volumes/labels"})
    with fg.build(source) as p:
        assert p.spec[RAW].roi == fg.Roi((48, -16, 64), (12, 20, 16))
        assert p.spec[LABELS].roi == fg.Roi((52, -12, 68), (4, 8, 8))
        assert p.spec[LABELS].dtype == np.uint64
        back = p.request_batch(request())
    for key in (RAW, LABELS):
        assert back[key].spec.roi == delivered[key].spec.roi
        np.testing.assert_array_equal(back[key].data, delivered[key].data)
    # exact coordinates: RAW's first voxel is world (48, -16, 64) = voxel (2, 2, 2) of the source
    assert back[RAW].data[0, 0, 0] == 2 * 10000 + 2 * 100 + 2
    assert back[LABELS].data[0, 0, 0] == 2**40 + 3 * 10000 + 4 * 100 + 4
    assert delivered[RAW].data.shape == (3, 10, 8)


def test_dataset_dtypes_convert_what_is_written_not_what_is_passed_on(tmp_path: str) -> None:
    # gunpowder's Snapshot(dataset_dtypes=...): RAW (int64) stored as float32, LABELS as they are
    snapshot = fg.Snapshot(
        {RAW: "raw", LABELS: "labels"}, output_dir=str(tmp_path), dataset_dtypes={RAW: np.float32, EXTRA: np.int8}
    )
    with fg.build(sources() + snapshot) as p:
        delivered = p.request_batch(request())
    assert delivered[RAW].data.dtype == np.int64 and p.spec[RAW].dtype == np.int64
    with h5py.File(os.path.join(tmp_path, "0.h5"), "r") as f:
        assert f["raw"].dtype == np.float32 and f["labels"].dtype == np.uint64
        np.testing.assert_array_equal(f["raw"][...], delivered[RAW].data.astype(np.float32))
        assert f["raw"].attrs["offset"].tolist() == [48, -16, 64]
        assert "EXTRA" not in f and len(f) == 2  # a dtype for a key that is not written adds nothing


def test_every_and_counter_per_build(tmp_path: str) -> None:
    snapshot = fg.Snapshot({RAW: "raw"}, output_dir=str(tmp_path), output_filename="b{iteration:03d}.h5", every=2)
    pipeline = sources() + snapshot
    with fg.build(pipeline) as p:
        for seed in range(5):
            p.request_batch(request(seed))
    assert sorted(os.listdir(tmp_path)) == ["b000.h5", "b002.h5", "b004.h5"]
    with h5py.File(os.path.join(tmp_path, "b002.h5"), "r") as f:
        assert f.attrs["iteration"] == 2 and f.attrs["random_seed"] == 2
    with fg.build(pipeline) as p:  # a new build counts from 0 again and overwrites
        p.request_batch(request(7))
    with h5py.File(os.path.join(tmp_path, "b000.h5"), "r") as f:
        assert f.attrs["random_seed"] == 7


def test_every_zero_never_writes(tmp_path: str) -> None:
    with fg.build(sources() + fg.Snapshot({RAW: "raw"}, output_dir=str(tmp_path), every=0)) as p:
        p.request_batch(request())
    assert os.listdir(tmp_path) == []


def test_additional_request_is_written_but_not_passed_on(tmp_path: str) -> None:
    extra = fg.BatchRequest()
    extra[EXTRA] = fg.ArraySpec(roi=fg.Roi((40, -20, 60), (8, 8, 8)))
    extra[RAW] = fg.ArraySpec(roi=fg.Roi((40, -20, 60), (8, 8, 8)))  # unioned with the requested RAW
    snapshot = fg.Snapshot({RAW: "raw", EXTRA: "extra"}, output_dir=str(tmp_path), additional_request=extra)
    with fg.build(sources() + snapshot) as p:
        batch = p.request_batch(request())
        g = fg.to_networkx(p, request())
    assert set(batch) == {RAW, LABELS}
    assert batch[RAW].spec.roi == request()[RAW].roi
    with h5py.File(os.path.join(tmp_path, "0.h5"), "r") as f:
        assert f["extra"].attrs["offset"].tolist() == [40, -20, 60]
        np.testing.assert_array_equal(f["extra"][...], -coordinate_volume(SHAPE)[:2, :4, :4])
        assert f["raw"].attrs["offset"].tolist() == [40, -20, 60]
        assert f["raw"].shape == (5, 12, 10)  # union of [40:60, -20:4, 60:80] and the request
    # the dry run shows the additional request on Snapshot's upstream edge
    (edge,) = [e for _, v, e in g.edges(data=True) if g.nodes[v]["cls"] == "Snapshot"]
    assert "EXTRA" in edge["rois"]


def test_graphs_are_written(tmp_path: str) -> None:
    roi = fg.Roi((0, 0), (10, 10))
    graph = fg.Graph(
        [3, 7], [[1.5, 2.0], [6.0, 8.5]], fg.GraphSpec(roi=roi), attributes={"w": np.array([0.5, 2.0])}, edges=[[3, 7]]
    )
    batch = fg.Batch({POINTS: graph})
    path = os.path.join(tmp_path, "g.h5")
    write_batch(path, batch, {POINTS: "points"})
    with h5py.File(path, "r") as f:  # gunpowder's names: points-ids, points-locations, points-edges
        assert f["points-ids"].dtype == np.int64 and f["points-ids"][...].tolist() == [3, 7]
        np.testing.assert_array_equal(f["points-locations"][...], [[1.5, 2.0], [6.0, 8.5]])
        assert f["points-edges"].dtype == np.int64 and f["points-edges"][...].tolist() == [[3, 7]]
        assert f["points-attributes/w"][...].tolist() == [0.5, 2.0]
        assert f["points-locations"].attrs["roi_shape"].tolist() == [10, 10]
        assert f["points-locations"].attrs["roi_offset"].tolist() == [0, 0]


def test_graphs_from_nodes_are_written_without_their_object_attributes(tmp_path: str) -> None:
    spec = fg.GraphSpec(roi=fg.Roi((0, 0), (10, 10)))
    nodes = [fg.Node(1, np.array([1.0, 1.0]), attrs={"name": "a"}), fg.Node(2, np.array([2.0, 2.0]))]
    path = os.path.join(tmp_path, "g.h5")
    write_batch(path, fg.Batch({POINTS: fg.Graph(nodes, [fg.Edge(1, 2)], spec)}), {POINTS: "points"})
    with h5py.File(path, "r") as f:
        assert sorted(f) == ["points-edges", "points-ids", "points-locations"]
        assert f["points-edges"].shape == (1, 2) and f["points-ids"][...].tolist() == [1, 2]


def test_a_failed_write_leaves_no_file(tmp_path: str) -> None:
    roi = fg.Roi((0, 0), (10, 10))
    graph = fg.Graph([1, 2], [[1.0, 1.0], [2.0, 2.0]], fg.GraphSpec(roi=roi))
    raw = fg.Array(np.zeros((2, 2), np.float32), fg.ArraySpec(roi=roi, voxel_size=(5, 5)))
    path = os.path.join(tmp_path, "x.h5")
    with pytest.raises(ValueError, match="already exists"):  # the graph's points-ids clashes with the array
        write_batch(
            path,
            fg.Batch({fg.ArrayKey("RAW"): raw, POINTS: graph}),
            {fg.ArrayKey("RAW"): "points-ids", POINTS: "points"},
        )
    assert os.listdir(tmp_path) == []


def test_an_existing_file_is_replaced_whole(tmp_path: str) -> None:
    path = os.path.join(tmp_path, "0.h5")
    with h5py.File(path, "w") as f:
        f["stale"] = np.zeros(3)
    with fg.build(sources() + fg.Snapshot({RAW: "raw"}, output_dir=str(tmp_path))) as p:
        p.request_batch(request())
    with h5py.File(path, "r") as f:
        assert list(f) == ["raw"]
    assert os.listdir(tmp_path) == ["0.h5"]


def test_missing_additional_key_is_a_setup_error(tmp_path: str) -> None:
    extra = fg.BatchRequest()
    extra[fg.ArrayKey("NOPE")] = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (4, 2, 2)))
    pipeline = sources() + fg.Snapshot({RAW: "raw"}, output_dir=str(tmp_path), additional_request=extra)
    with pytest.raises(fg.SetupError, match=r"Snapshot\(RAW\): additional_request asks for NOPE"), fg.build(pipeline):
        pass


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dataset_names": []}, "dataset_names must be a non-empty dict"),
        ({"dataset_names": {RAW: ""}}, r"dataset_names\[RAW\] must be a dataset name"),
        ({"output_filename": "{n}.h5"}, "output_filename '{n}.h5' is not a valid pattern"),
        ({"every": 1.5}, "every must be an integer"),
        ({"compression": "zstd"}, "compression must be"),
        ({"additional_request": "RAW"}, "additional_request must be a BatchRequest"),
        ({"dataset_dtypes": [RAW]}, "dataset_dtypes must be a dict"),
        ({"dataset_dtypes": {POINTS: np.float32}}, "dataset_dtypes keys must be ArrayKeys"),
        ({"dataset_dtypes": {RAW: "no such dtype"}}, r"dataset_dtypes\[RAW\] must be a numpy dtype"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    args = {"dataset_names": {RAW: "raw"}, **kwargs}
    with pytest.raises(fg.ConfigError, match=match):
        fg.Snapshot(**args)


class NpyDirWriter(StoreWriter):
    """A second format: a directory of .npy files with .json attributes (what a zarr writer will be)."""

    store_kind = "npy directory"

    def create(self, path: str) -> str:
        os.mkdir(path)
        return path

    def write_dataset(self, handle: str, name: str, data: np.ndarray, attrs: Any, compress: bool) -> None:
        os.makedirs(os.path.dirname(os.path.join(handle, name)), exist_ok=True)
        np.save(os.path.join(handle, name + ".npy"), data)
        self.write_attributes(handle, name, attrs)

    def write_attributes(self, handle: str, name: str, attrs: Any) -> None:
        with open(os.path.join(handle, (name or "root") + ".json"), "w") as f:
            json.dump({k: np.asarray(v).tolist() for k, v in attrs.items()}, f)


def test_a_directory_store_is_written_beside_and_replaces_the_old_one_whole(tmp_path: str) -> None:
    with fg.build(sources()) as p:
        batch = p.request_batch(request())
    path = os.path.join(tmp_path, "0.npyd")
    os.makedirs(os.path.join(path, "stale"))
    NpyDirWriter().write(path, batch, {RAW: "volumes/raw", LABELS: "labels"}, attrs={"iteration": 4})
    assert os.listdir(tmp_path) == ["0.npyd"]
    assert sorted(os.listdir(path)) == ["labels.json", "labels.npy", "root.json", "volumes"]
    np.testing.assert_array_equal(np.load(os.path.join(path, "volumes", "raw.npy")), batch[RAW].data)
    with open(os.path.join(path, "volumes", "raw.json")) as f:
        assert json.load(f) == {"resolution": list(VS), "offset": [48, -16, 64]}


def test_no_partial_store_is_ever_visible(tmp_path: str) -> None:
    path = os.path.join(tmp_path, "0.h5")
    with h5py.File(path, "w") as f:
        f["old"] = np.zeros(3)
    seen: list[list[str]] = []

    class Watching(Hdf5Writer):
        def write_dataset(self, handle: Any, name: str, data: np.ndarray, attrs: Any, compress: bool) -> None:
            seen.append(sorted(os.listdir(tmp_path)))
            with h5py.File(path, "r") as f:  # the old file is still whole at its name
                assert list(f) == ["old"]
            if name == "labels":
                raise RuntimeError("disk full")
            super().write_dataset(handle, name, data, attrs, compress)

    batch = fg.Batch(
        {RAW: fg.Array(np.zeros((2, 2, 2)), fg.ArraySpec(roi=fg.Roi((0, 0, 0), (8, 4, 4)), voxel_size=VS))}
    )
    batch[LABELS] = batch[RAW]
    with pytest.raises(RuntimeError, match="disk full"):
        Watching().write(path, batch, {RAW: "raw", LABELS: "labels"})
    tmp = f".0.h5.{os.getpid()}.{threading.get_ident()}.tmp"
    assert seen == [[tmp, "0.h5"], [tmp, "0.h5"]]
    assert os.listdir(tmp_path) == ["0.h5"]  # the temporary file is gone, the old file untouched
    with h5py.File(path, "r") as f:
        assert list(f) == ["old"]


def test_hdf5_writer_checks_its_compression() -> None:
    with pytest.raises(fg.ConfigError, match="Hdf5Writer: compression must be 'gzip', 'lzf', 'szip' or None"):
        Hdf5Writer("zstd")


def test_an_output_dir_that_cannot_be_created_is_a_setup_error(tmp_path: str) -> None:
    blocker = os.path.join(tmp_path, "a-file")
    with open(blocker, "w") as f:
        f.write("not a directory")
    snapshot = fg.Snapshot({RAW: "raw"}, output_dir=os.path.join(blocker, "snapshots"))
    expected = r"Snapshot\(RAW\): cannot write to the directory .*a-file/snapshots"
    with pytest.raises(fg.SetupError, match=expected), fg.build(sources() + snapshot):
        pass


@pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0, reason="needs root and unshare -m")
def test_a_read_only_output_dir_is_a_setup_error_naming_it(tmp_path: str) -> None:
    # a read-only bind mount in a private mount namespace: read-only even for root
    folder = os.path.join(tmp_path, "ro")
    os.makedirs(folder)
    code = (
        "import flowgraph as fg, numpy as np\n"
        "raw = fg.ArrayKey('RAW')\n"
        "a = fg.Array(np.zeros((4, 4), np.float32), fg.ArraySpec(roi=fg.Roi((0, 0), (4, 4)), voxel_size=(1, 1)))\n"
        f"s = fg.Snapshot({{raw: 'raw'}}, output_dir={folder!r})\n"
        "try:\n"
        "    with fg.build(fg.ArraySource(raw, a) + s):\n"
        "        print('built')\n"
        "except fg.SetupError as e:\n"
        "    print(str(e).splitlines()[0])\n"
    )
    script = os.path.join(tmp_path, "probe.py")
    with open(script, "w") as f:
        f.write(code)
    command = f"mount --bind -o ro {folder} {folder} && {sys.executable} {script}"
    result = subprocess.run(["unshare", "-m", "sh", "-c", command], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "cannot write to the directory" in result.stdout and folder in result.stdout
    assert "Read-only file system" in result.stdout
