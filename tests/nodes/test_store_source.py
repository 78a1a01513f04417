"""StoreSource: the seam for file formats, proven with a second format (numpy arrays in a dict).

``DictSource`` is what a zarr or tile-stack source will be: the base does the geometry, the
checks, the exact reads and the handle; the subclass only opens, looks up and lists.
"""

from __future__ import annotations

import os
import pickle
import types
from typing import Any

import numpy as np
import pytest
from contract_cases import coordinate_volume

import flowgraph as fg
from flowgraph.nodes.store_source import StoreSource, store_roi

RAW = fg.ArrayKey("RAW")
LABELS = fg.ArrayKey("LABELS")
SHAPE = (6, 10, 12)
SCALE = (40, 4, 4)
TRANSLATION = (80, 8, -12)

STORES: dict[str, Any] = {}  # filename -> {dataset name: (array, attributes)}
READS: list[tuple[str, Any]] = []  # (dataset name, index) of every read
OPENED: list[types.SimpleNamespace] = []  # every handle opened


class Stored:
    """A stored array: numpy data that records every read."""

    def __init__(self, name: str, data: np.ndarray) -> None:
        self.name, self.data, self.shape, self.dtype = name, data, data.shape, data.dtype

    def __getitem__(self, index: Any) -> np.ndarray:
        READS.append((self.name, index))
        return self.data[index]


class DictSource(StoreSource):
    """A source of numpy arrays with attribute dicts, with OME-Zarr-like attribute names."""

    store_kind = "dict"
    resolution_attribute, offset_attribute = "scale", "translation"

    def open_store(self) -> types.SimpleNamespace:
        if self.filename not in STORES:
            raise FileNotFoundError(self.filename)
        if not isinstance(STORES[self.filename], dict):
            raise ValueError("not a dict of arrays")
        OPENED.append(types.SimpleNamespace(arrays=STORES[self.filename], closed=False))
        return OPENED[-1]

    def close_store(self, handle: types.SimpleNamespace) -> None:
        handle.closed = True

    def dataset(self, handle: types.SimpleNamespace, name: str) -> Stored | None:
        return Stored(name, handle.arrays[name][0]) if name in handle.arrays else None

    def attributes(self, handle: types.SimpleNamespace, name: str) -> dict[str, Any]:
        return handle.arrays[name][1]

    def list_datasets(self, handle: types.SimpleNamespace) -> list[str]:
        return list(handle.arrays)


@pytest.fixture(autouse=True)
def sample() -> Any:
    coords = coordinate_volume(SHAPE)
    attrs = {"scale": SCALE, "translation": TRANSLATION}
    STORES["sample"] = {"raw": (coords.astype(np.float32), attrs), "labels": (coords.astype(np.uint64), attrs)}
    yield
    STORES.clear()
    READS.clear()
    OPENED.clear()


def request(roi: fg.Roi, *keys: fg.ArrayKey) -> fg.BatchRequest:
    r = fg.BatchRequest(random_seed=0)
    for key in keys or (RAW,):
        r[key] = fg.ArraySpec(roi=roi)
    return r


def build_error(source: StoreSource, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match), fg.build(source):
        pass  # pragma: no cover


def test_geometry_from_the_attributes_and_exact_reads() -> None:
    with fg.build(DictSource("sample", {RAW: "raw", LABELS: "labels"})) as p:
        assert p.spec[RAW].voxel_size == SCALE
        assert p.spec[RAW].roi == fg.Roi(TRANSLATION, (240, 40, 48))
        assert p.spec[RAW].interpolatable is True and p.spec[LABELS].interpolatable is False
        assert p.spec[LABELS].dtype == np.uint64
        READS.clear()  # only reads for a request count
        # world (120, 16, -4) is voxel (1, 2, 2) of the stored arrays
        batch = p.request_batch(request(fg.Roi((120, 16, -4), (80, 12, 20))))
    assert [("raw", (slice(1, 3), slice(2, 5), slice(2, 7)))] == READS  # the window only, LABELS untouched
    np.testing.assert_array_equal(batch[RAW].data, coordinate_volume(SHAPE)[1:3, 2:5, 2:7])
    assert batch[RAW].data.dtype == np.float32 and batch[RAW].spec.roi == fg.Roi((120, 16, -4), (80, 12, 20))


def test_missing_attributes_default_and_array_specs_complete_them() -> None:
    STORES["plain"] = {"raw": (coordinate_volume((3, 4)), {"translation": (8, 0)})}
    with fg.build(DictSource("plain", {RAW: "raw"}, array_specs={RAW: fg.ArraySpec(voxel_size=(8, 2))})) as p:
        assert p.spec[RAW].roi == fg.Roi((8, 0), (24, 8))
        batch = p.request_batch(request(fg.Roi((16, 2), (8, 4))))
    np.testing.assert_array_equal(batch[RAW].data, [[101, 102]])
    with fg.build(DictSource("plain", {RAW: "raw"})) as p:  # no scale: unit voxels
        assert p.spec[RAW].voxel_size == (1, 1) and p.spec[RAW].roi == fg.Roi((8, 0), (3, 4))


def test_array_specs_roi_restricts_the_offer_but_reads_stay_in_place() -> None:
    roi = fg.Roi((120, 16, -4), (80, 12, 20))
    with fg.build(DictSource("sample", {RAW: "raw"}, array_specs={RAW: fg.ArraySpec(roi=roi)})) as p:
        assert p.spec[RAW].roi == roi
        batch = p.request_batch(request(fg.Roi((160, 20, 0), (40, 4, 4))))
    assert batch[RAW].data.tolist() == [[[2 * 10000 + 3 * 100 + 3]]]


@pytest.mark.parametrize("channels_first", [True, False])
def test_channels(channels_first: bool) -> None:
    coords = coordinate_volume((4, 5, 6))
    stacked = np.stack([coords, coords + 1_000_000], axis=0 if channels_first else -1)
    STORES["channels"] = {"raw": (stacked, {"scale": (40, 4, 4)})}
    with fg.build(DictSource("channels", {RAW: "raw"}, channels_first=channels_first)) as p:
        assert p.spec[RAW].roi == fg.Roi((0, 0, 0), (160, 20, 24))
        READS.clear()
        data = p.request_batch(request(fg.Roi((40, 4, 8), (80, 8, 12))))[RAW].data
    spatial = (slice(1, 3), slice(1, 3), slice(2, 5))
    assert [("raw", (slice(None), *spatial) if channels_first else (*spatial, slice(None)))] == READS
    assert data.shape == (2, 2, 2, 3) and data.flags.c_contiguous  # channels lead in a batch
    np.testing.assert_array_equal(data[0], coords[spatial])
    np.testing.assert_array_equal(data[1], coords[spatial] + 1_000_000)


@pytest.mark.parametrize(
    ("specs", "match"),
    [
        (
            fg.ArraySpec(voxel_size=(4, 4, 4)),
            r"voxel_size \(4, 4, 4\), but the file's 'scale' attribute says \(40, 4, 4\)",
        ),
        (fg.ArraySpec(dtype=np.uint8), "gives dtype uint8, but the dataset is float32"),
        (fg.ArraySpec(roi=fg.Roi((0, 0, 0), (40, 4, 4))), r"roi \[0:40, 0:4, 0:4\], outside the data's ROI"),
    ],
)
def test_array_specs_contradicting_the_store(specs: fg.ArraySpec, match: str) -> None:
    build_error(
        DictSource("sample", {RAW: "raw"}, array_specs={RAW: specs}),
        fg.SetupError,
        r"DictSource\(sample\): RAW \(raw\): .*" + match,
    )


@pytest.mark.parametrize(
    ("attrs", "shape", "match"),
    [
        (
            {"scale": (4, 4), "translation": (2, 0)},
            (2, 2),
            r"offset \(2, 0\) is not a multiple of the voxel size \(4, 4\)",
        ),
        ({"scale": (4, 0)}, (2, 2), r"the 'scale' attribute \(4, 0\) must be positive"),
        ({"scale": (4, 2.5)}, (2, 2), "the 'scale' attribute must be a list of integers"),
        ({"translation": "here"}, (2, 2), "the 'translation' attribute must be a list of integers"),
        ({"scale": (4, 4, 4)}, (2, 2), r"the dataset has 2 axes but voxel size \(4, 4, 4\) has 3"),
        ({"scale": (4, 4), "translation": (0, 0, 0)}, (2, 2), "'translation' attribute .* have different lengths"),
    ],
)
def test_bad_attributes(attrs: dict[str, Any], shape: tuple[int, ...], match: str) -> None:
    STORES["bad"] = {"raw": (np.zeros(shape), attrs)}
    build_error(DictSource("bad", {RAW: "raw"}), fg.SetupError, match)


def test_store_and_dataset_errors() -> None:
    build_error(
        DictSource("nowhere", {RAW: "raw"}), fg.SetupError, r"DictSource\(nowhere\): file 'nowhere' does not exist"
    )
    STORES["junk"] = "junk"
    build_error(DictSource("junk", {RAW: "raw"}), fg.SetupError, r"cannot open 'junk' as dict \(not a dict of arrays\)")
    build_error(
        DictSource("sample", {RAW: "rav"}),
        fg.SetupError,
        r"dataset 'rav' for RAW is not in 'sample' \(it holds labels, raw\); fix the path in datasets",
    )
    assert OPENED[-1].closed  # closed although setup failed
    with (
        pytest.raises(NotImplementedError, match="StoreSource must implement open_store"),
        fg.build(StoreSource("x", {RAW: "raw"})),
    ):
        pass  # pragma: no cover


def test_configuration_errors_name_the_subclass_and_do_no_io() -> None:
    DictSource("nowhere", {RAW: "raw"})
    assert OPENED == []
    with pytest.raises(fg.ConfigError, match="DictSource: filename must be a path"):
        DictSource(3, {RAW: "raw"})  # type: ignore[arg-type]
    with pytest.raises(fg.ConfigError, match="DictSource: datasets must be a non-empty dict"):
        DictSource("sample", {})
    with pytest.raises(fg.ConfigError, match=r"DictSource: datasets\[RAW\] must be a dataset path string"):
        DictSource("sample", {RAW: 3})  # type: ignore[dict-item]
    with pytest.raises(fg.ConfigError, match="DictSource: array_specs names LABELS, which is not in datasets"):
        DictSource("sample", {RAW: "raw"}, array_specs={LABELS: fg.ArraySpec()})
    with pytest.raises(fg.ConfigError, match=r"DictSource: array_specs\[RAW\] must be an ArraySpec"):
        DictSource("sample", {RAW: "raw"}, array_specs={RAW: 3})  # type: ignore[dict-item]
    with pytest.raises(fg.ConfigError, match="DictSource: channels_first must be a bool"):
        DictSource("sample", {RAW: "raw"}, channels_first=1)  # type: ignore[arg-type]


def test_one_handle_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    source = DictSource("sample", {RAW: "raw"})
    assert "_handle" not in vars(source)  # runtime state appears on first use only
    roi = fg.Roi((120, 16, -4), (40, 4, 4))
    with fg.build(source) as p:
        p.request_batch(request(roi))
        p.request_batch(request(roi))
        assert len(OPENED) == 1
        monkeypatch.setattr(os, "getpid", lambda: -7)  # as in a forked child
        p.request_batch(request(roi))
        assert len(OPENED) == 2 and not OPENED[0].closed  # the parent's handle is left to the parent
    assert OPENED[1].closed and not OPENED[0].closed
    assert source._handle is None


def test_pickled_unbuilt_and_built_sources_read_the_same_data() -> None:
    roi = fg.Roi((120, 16, -4), (80, 12, 20))
    source = DictSource("sample", {RAW: "raw"})
    fresh = pickle.loads(pickle.dumps(source))
    with fg.build(source) as p:
        expected = p.request_batch(request(roi))[RAW].data
        clone = pickle.loads(pickle.dumps(source))  # the open handle is dropped
    assert "_handle" not in vars(clone) and clone._handle is None
    np.testing.assert_array_equal(clone.request_batch(request(roi))[RAW].data, expected)  # opens on first use
    clone.teardown()
    assert OPENED[-1].closed
    with fg.build(fresh) as p:
        np.testing.assert_array_equal(p.request_batch(request(roi))[RAW].data, expected)


def test_store_roi_with_trailing_channels() -> None:
    attrs = {"resolution": (2, 3), "offset": (-4, 6)}
    roi, voxel_size = store_roi((5, 7, 3), attrs, fg.ArraySpec(), False, "here")
    assert roi == fg.Roi((-4, 6), (10, 21)) and voxel_size == (2, 3)


def test_batches_own_their_data() -> None:
    """A store kept in memory hands out views; the batch gets a copy, so nodes cannot write into the store."""
    with fg.build(DictSource("sample", {RAW: "raw"}, channels_first=False)) as p:
        batch = p.request_batch(request(fg.Roi((80, 8, -12), (40, 4, 48))))  # one whole contiguous row
        batch[RAW].data[...] = -1
        again = p.request_batch(request(fg.Roi((80, 8, -12), (40, 4, 48))))
    np.testing.assert_array_equal(again[RAW].data, coordinate_volume(SHAPE)[:1, :1, :])
