"""Write a small synthetic EM-like HDF5 volume and sample training batches from it.

The file has the layout of a CREMI sample:

    volumes/raw                  uint8   image (membranes dark)
    volumes/labels/neuron_ids    uint64  one id per neuron
    volumes/labels/mask          uint8   1 where labels are trustworthy

each with the attributes ``resolution`` (voxel size, nm, z y x) and ``offset`` (world units).
The pipeline is the one of the quickstart: Hdf5Source -> Normalize -> RandomLocation(min_masked)
-> Reject. Run ``python examples/hdf5_sampling.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import h5py
import numpy as np
from scipy import ndimage

import flowgraph as fg

VOXEL_SIZE = (40, 4, 4)  # nm per voxel along z, y, x (anisotropic, as in serial-section EM)
OFFSET = (400, 200, 200)  # world units (nm); a multiple of VOXEL_SIZE


def synthetic_volume(shape: tuple[int, int, int], seed: int = 0) -> dict[str, np.ndarray]:
    """Raw image, neuron ids and a mask of ``shape`` voxels (z, y, x).

    Neurons are the Voronoi cells of random seed points in the (y, x) plane, drifting slowly
    along z; the raw image is bright cytoplasm with dark membranes between cells plus noise; the
    mask leaves out a few large blobs (labels there count as unknown).
    """
    rng = np.random.default_rng(seed)
    depth, height, width = shape
    n_cells = max(4, height * width // 1500)
    points = rng.uniform(0, (height, width), size=(n_cells, 2))
    drift = rng.normal(0, 0.3, size=(n_cells, 2))
    ids = np.empty(shape, np.uint64)
    for z in range(depth):
        seeds = np.zeros((height, width), bool)
        yx = np.clip(np.round(points + z * drift), 0, (height - 1, width - 1)).astype(int)
        seeds[yx[:, 0], yx[:, 1]] = True
        _, (iy, ix) = ndimage.distance_transform_edt(~seeds, return_indices=True)
        # the id of a voxel is 1 + the index of its nearest seed point
        index = np.full((height, width), -1, np.int64)
        index[yx[:, 0], yx[:, 1]] = np.arange(n_cells)
        ids[z] = (index[iy, ix] + 1).astype(np.uint64)
    membrane = np.zeros(shape, bool)
    membrane[:, 1:, :] |= ids[:, 1:, :] != ids[:, :-1, :]
    membrane[:, :, 1:] |= ids[:, :, 1:] != ids[:, :, :-1]
    raw = 200.0 - 150.0 * ndimage.uniform_filter(membrane.astype(np.float32), size=(1, 3, 3))
    raw += rng.normal(0, 12, size=shape)
    # about a third of the volume is unlabelled: blobs of a smooth random field
    coarse = rng.random((max(2, depth // 4), 5, 5))
    field = ndimage.zoom(coarse, [s / c for s, c in zip(shape, coarse.shape)], order=1, grid_mode=True, mode="nearest")
    mask = (field > 0.35).astype(np.uint8)
    return {
        "volumes/raw": np.clip(raw, 0, 255).astype(np.uint8),
        "volumes/labels/neuron_ids": ids,
        "volumes/labels/mask": mask,
    }


def write_sample(path: str, shape: tuple[int, int, int], seed: int = 0) -> None:
    """Write the synthetic volume to ``path`` with ``resolution`` and ``offset`` attributes."""
    with h5py.File(path, "w") as f:
        for name, data in synthetic_volume(shape, seed).items():
            dataset = f.create_dataset(name, data=data, chunks=True, compression="gzip")
            dataset.attrs["resolution"] = VOXEL_SIZE
            dataset.attrs["offset"] = OFFSET


def sample(path: str, batches: int, seed: int, raw_shape: tuple[int, ...], label_shape: tuple[int, ...]) -> None:
    raw, labels, mask = fg.ArrayKey("RAW"), fg.ArrayKey("LABELS"), fg.ArrayKey("MASK")
    source = fg.Hdf5Source(
        path,
        datasets={raw: "volumes/raw", labels: "volumes/labels/neuron_ids", mask: "volumes/labels/mask"},
        array_specs={labels: fg.ArraySpec(interpolatable=False), mask: fg.ArraySpec(interpolatable=False)},
    )
    pipeline = (
        source + fg.Normalize(raw) + fg.RandomLocation(min_masked=0.5, mask=mask) + fg.Reject(mask=mask, min_masked=0.5)
    )

    # shapes in world units (voxels * voxel size); the mask is requested where the labels are,
    # so min_masked is checked inside the output window
    request = fg.BatchRequest()
    request.add(raw, [n * v for n, v in zip(raw_shape, VOXEL_SIZE)])
    request.add(labels, [n * v for n, v in zip(label_shape, VOXEL_SIZE)])
    request.add(mask, [n * v for n, v in zip(label_shape, VOXEL_SIZE)])

    start = time.perf_counter()
    fractions = []
    with fg.build(pipeline) as p:
        print(f"the pipeline offers RAW in {source.spec[raw].roi} at voxel size {source.spec[raw].voxel_size}")
        for i in range(batches):
            batch = p.request_batch(request.with_seed(seed + i))
            r, lab, m = batch[raw], batch[labels], batch[mask]
            fraction = float(np.count_nonzero(m.data)) / m.data.size
            fractions.append(fraction)
            print(
                f"batch {i} (seed {seed + i}): RAW {r.data.shape} {r.data.dtype} at {r.spec.roi} "
                f"values [{r.data.min():.2f}, {r.data.max():.2f}]; LABELS {lab.data.shape} {lab.data.dtype} "
                f"at {lab.spec.roi} with {len(np.unique(lab.data))} ids; MASK {fraction:.0%} in"
            )
    seconds = time.perf_counter() - start
    print(
        f"sampled {batches} batches in {seconds:.2f} s: RAW {raw_shape} float32, LABELS {label_shape} uint64, "
        f"masked fraction min {min(fractions):.0%} mean {np.mean(fractions):.0%}"
    )


def shape3(text: str) -> tuple[int, int, int]:
    values = tuple(int(v) for v in text.split(","))
    if len(values) != 3 or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected three positive integers z,y,x, got {text!r}")
    return values  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="directory to write sample.h5 into (default: a temporary directory)")
    parser.add_argument("--volume", type=shape3, default=(24, 160, 160), help="volume shape in voxels z,y,x")
    parser.add_argument("--raw", type=shape3, default=(12, 96, 96), help="RAW request shape in voxels z,y,x")
    parser.add_argument("--labels", type=shape3, default=(6, 40, 40), help="LABELS request shape in voxels z,y,x")
    parser.add_argument("--batches", type=int, default=5, help="number of batches to sample")
    parser.add_argument("--seed", type=int, default=7, help="seed of the first batch (the others follow)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        directory = args.out or tmp
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, "sample.h5")
        write_sample(path, args.volume)
        print(f"wrote {path}: {args.volume} voxels at {VOXEL_SIZE} nm, offset {OFFSET} nm")
        sample(path, args.batches, args.seed, args.raw, args.labels)


if __name__ == "__main__":
    main()
