"""Synthetic EM-like volumes: layout, dtypes, geometry attributes, and EM-like structure."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

import flowgraph as fg
from flowgraph import synthetic
from flowgraph.synthetic import central_mask, write_artifacts, write_em_volume


@pytest.fixture(scope="module")
def volume(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("syn") / "em.h5"
    return write_em_volume(path, shape=(8, 96, 128), voxel_size=(40, 4, 4), seed=3, offset=(80, 0, 40))


def read(path: str) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        return {name: f[name][...] for name in (synthetic.RAW, synthetic.NEURON_IDS, synthetic.MASK)}


def test_layout_dtypes_and_attributes(volume: str) -> None:
    with h5py.File(volume, "r") as f:
        for name, dtype in ((synthetic.RAW, np.uint8), (synthetic.NEURON_IDS, np.uint64), (synthetic.MASK, np.uint8)):
            ds = f[name]
            assert ds.shape == (8, 96, 128) and ds.dtype == dtype
            assert ds.attrs["resolution"].tolist() == [40, 4, 4]
            assert ds.attrs["offset"].tolist() == [80, 0, 40]


def test_hdf5_source_places_it_in_the_world(volume: str) -> None:
    raw, ids = fg.ArrayKey("RAW"), fg.ArrayKey("IDS")
    with fg.build(fg.Hdf5Source(volume, {raw: synthetic.RAW, ids: synthetic.NEURON_IDS})) as p:
        assert p.spec[raw].roi == fg.Roi((80, 0, 40), (320, 384, 512))
        assert p.spec[ids].interpolatable is False and p.spec[raw].interpolatable is True


def test_neuron_ids_are_large_continuous_tubes(volume: str) -> None:
    ids = read(volume)[synthetic.NEURON_IDS]
    assert ids.min() >= 2**32
    assert 10 < len(np.unique(ids[0])) < 200
    # neurons continue from section to section: most voxels keep their id
    assert np.mean(ids[1:] == ids[:-1]) > 0.8
    # each id is one region per section, not salt and pepper
    assert np.mean(ids[:, 1:, :] == ids[:, :-1, :]) > 0.9


def test_membranes_are_dark_and_cytoplasm_bright(volume: str) -> None:
    data = read(volume)
    raw, ids = data[synthetic.RAW].astype(np.float64), data[synthetic.NEURON_IDS]
    boundary = np.zeros(ids.shape, bool)
    boundary[:, 1:, :] |= ids[:, 1:, :] != ids[:, :-1, :]
    boundary[:, :, 1:] |= ids[:, :, 1:] != ids[:, :, :-1]
    assert raw[boundary].mean() < raw[~boundary].mean() - 40
    assert 140 < raw[~boundary].mean() < 220
    assert raw.std() > 20  # noise and contrast, not a flat image


def test_mask_is_a_large_central_region(volume: str) -> None:
    mask = read(volume)[synthetic.MASK]
    assert set(np.unique(mask)) == {0, 1}
    assert mask[:, 48, 64].all() and not mask[:, 0, 0].any()
    assert 0.4 < mask.mean() < 0.6  # an ellipse over 80% of y and x covers ~50%
    np.testing.assert_array_equal(central_mask(5, 5, 1.0)[2], [1, 1, 1, 1, 1])


def test_deterministic_and_independent_of_the_chunking(volume: str, tmp_path: str) -> None:
    other = write_em_volume(
        os.path.join(tmp_path, "b.h5"), shape=(8, 96, 128), seed=3, offset=(80, 0, 40), sections_per_chunk=3, threads=1
    )
    a, b = read(volume), read(other)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    different = read(write_em_volume(os.path.join(tmp_path, "c.h5"), shape=(8, 96, 128), seed=4))
    assert not np.array_equal(different[synthetic.RAW], a[synthetic.RAW])


def test_artifacts(tmp_path: str) -> None:
    path = write_artifacts(os.path.join(tmp_path, "a.h5"), shape=(3, 64, 80), seed=1)
    with h5py.File(path, "r") as f:
        raw, alpha = f[synthetic.ARTIFACTS_RAW], f[synthetic.ARTIFACTS_MASK]
        assert raw.shape == alpha.shape == (3, 64, 80)
        assert raw.dtype == alpha.dtype == np.uint8
        assert alpha.attrs["resolution"].tolist() == [40, 4, 4]
        a = alpha[...]
    assert a.min() == 0 and a.max() == 255
    assert 0.15 < np.mean(a > 0) < 0.6  # blobs, not everywhere
    assert np.mean(np.abs(np.diff(a.astype(int), axis=2)) < 64) > 0.95  # smooth edges


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shape": (4, 4)}, "shape must be 3 positive integers"),
        ({"voxel_size": (0, 4, 4)}, "voxel_size must be 3 positive integers"),
        ({"offset": (1, 0, 0)}, "offset must be 3 multiples of voxel_size"),
        ({"cell_size": 2}, "cell_size must be >= 4"),
    ],
)
def test_bad_arguments(tmp_path: str, kwargs: dict, match: str) -> None:
    with pytest.raises(fg.ConfigError, match=match):
        write_em_volume(os.path.join(tmp_path, "x.h5"), **{"shape": (2, 16, 16), **kwargs})
