"""Write a small synthetic EM-like HDF5 volume and sample training batches from it.

The file (written by ``flowgraph.synthetic.write_em_volume``) has the layout of a CREMI sample:

    volumes/raw                  uint8   image (membranes dark)
    volumes/labels/neuron_ids    uint64  one id per neuron
    volumes/labels/mask          uint8   1 where labels are trustworthy (a central region)

each with the attributes ``resolution`` (voxel size, nm, z y x) and ``offset`` (world units).
The pipeline is the one of the quickstart: Hdf5Source -> Normalize -> RandomLocation(min_masked)
-> Reject. Run ``python examples/hdf5_sampling.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

import flowgraph as fg
from flowgraph.synthetic import write_em_volume

VOXEL_SIZE = (40, 4, 4)  # nm per voxel along z, y, x (anisotropic, as in serial-section EM)
OFFSET = (400, 200, 200)  # world units (nm); a multiple of VOXEL_SIZE


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
        write_em_volume(path, shape=args.volume, voxel_size=VOXEL_SIZE, offset=OFFSET, seed=0)
        print(f"wrote {path}: {args.volume} voxels at {VOXEL_SIZE} nm, offset {OFFSET} nm")
        sample(path, args.batches, args.seed, args.raw, args.labels)


if __name__ == "__main__":
    main()
