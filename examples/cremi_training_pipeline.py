"""The CREMI training recipe, end to end, on synthetic data.

Writes a synthetic EM-like volume (raw, neuron ids, mask) and an artifact volume, builds the
recipe of ``flowgraph.recipes.cremi_training_pipeline``::

    Hdf5Source -> Normalize -> RandomLocation(min_masked=0.5, mask)
      -> ElasticAugment([4, 40, 40], [0, 2, 2], [0, pi/2], prob_slip=0.05, prob_shift=0.05, max_misalign=25)
      -> SimpleAugment(transpose_only=[1, 2])
      -> IntensityAugment(raw, 0.9, 1.1, -0.1, 0.1, z_section_wise=True)
      -> DefectAugment(raw, prob_missing=0.03, prob_low_contrast=0.01, prob_artifact=0.03,
                       artifact_source=<Hdf5Source -> RandomLocation -> Normalize -> IntensityAugment
                                        -> ElasticAugment -> SimpleAugment>)

and requests batches from it. By default the network input is small so that the script runs in
seconds; ``--full`` uses the CREMI sizes (raw 84 x 268 x 268, labels 56 x 56 x 56 voxels at
40 x 4 x 4 nm) on a 100 x 512 x 512 volume.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

import flowgraph as fg
from flowgraph import recipes, synthetic


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="folder for the synthetic volumes (default: a temporary folder)")
    parser.add_argument("--batches", type=int, default=3, help="how many batches to request (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first batch (default 0)")
    parser.add_argument("--full", action="store_true", help="CREMI sizes instead of small ones")
    args = parser.parse_args(argv)

    if args.full:
        volume, raw_shape, labels_shape = (100, 512, 512), (84, 268, 268), (56, 56, 56)
    else:
        volume, raw_shape, labels_shape = (40, 200, 200), (20, 96, 96), (12, 40, 40)
    folder = args.out or tempfile.mkdtemp(prefix="flowgraph-cremi-")
    os.makedirs(folder, exist_ok=True)
    sample = synthetic.write_em_volume(os.path.join(folder, "sample.h5"), shape=volume, seed=1)
    artifacts = synthetic.write_artifacts(os.path.join(folder, "artifacts.h5"), shape=(10, *volume[1:]), seed=2)

    pipeline = recipes.cremi_training_pipeline(sample, artifacts)
    raw, labels = recipes.RAW, recipes.LABELS
    with fg.build(pipeline) as p:
        for i in range(args.batches):
            request = recipes.cremi_request(raw_shape=raw_shape, labels_shape=labels_shape, seed=args.seed + i)
            start = time.perf_counter()
            batch = p.request_batch(request)
            seconds = time.perf_counter() - start
            image, ids = batch[raw].data, batch[labels].data
            print(
                f"batch {i}: raw {image.shape} {image.dtype} in [{image.min():.2f}, {image.max():.2f}], "
                f"labels {ids.shape} {ids.dtype} with {len(np.unique(ids))} ids, {seconds * 1000:.0f} ms"
            )
    print(f"volumes in {folder}")


if __name__ == "__main__":
    main()
