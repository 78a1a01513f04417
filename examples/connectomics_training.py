"""pytorch_connectomics' data-loading example as a flowgraph pipeline, on synthetic data.

Writes a synthetic EM-like volume (raw, neuron ids, valid mask), builds the recipe of
``flowgraph.recipes.connectomics_training_pipeline``::

    Hdf5Source(raw; labels and valid mask not interpolatable) -> Normalize(raw) -> RandomLocation
      -> Reject(mask, min_masked=0.5)                                  # the valid-mask ratio
      -> Reject(labels, min_count=1000, reject_probability=0.95)       # SIZE_THRES 1000, P 0.95
      -> Rescale(p=0.8) -> MisAlignment(displacement=16, rotate_ratio=0.5, p=0.5)
      -> CutBlur(raw, length_ratio=0.6, down_ratio_min=4, down_ratio_max=8, p=0.7)

and requests batches from it, printing for each which augmentations acted. By default the
request is small so that the script runs in seconds; ``--full`` uses the seed document's
``input_size`` (8 x 256 x 256 voxels at 40 x 4 x 4 nm) on a 24 x 512 x 512 volume.
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
    parser.add_argument("--out", help="folder for the synthetic volume (default: a temporary folder, removed)")
    parser.add_argument("--batches", type=int, default=4, help="how many batches to request (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first batch (default 0)")
    parser.add_argument("--full", action="store_true", help="the seed document's sizes instead of small ones")
    args = parser.parse_args(argv)

    volume, shape = ((24, 512, 512), (8, 256, 256)) if args.full else ((16, 256, 256), (8, 128, 128))
    with tempfile.TemporaryDirectory(prefix="flowgraph-connectomics-") as tmp:
        folder = args.out or tmp
        os.makedirs(folder, exist_ok=True)
        sample = synthetic.write_em_volume(os.path.join(folder, "sample.h5"), shape=volume, seed=1)
        pipeline = recipes.connectomics_training_pipeline(sample)
        raw, labels, mask = recipes.RAW, recipes.LABELS, recipes.MASK
        with fg.build(pipeline) as p:
            augmentations = {n._position: type(n).__name__ for n in p.nodes() if hasattr(n, "p")}
            for i in range(args.batches):
                request = recipes.connectomics_request(shape=shape, seed=args.seed + i)
                start = time.perf_counter()
                with fg.observing("params"):
                    batch = p.request_batch(request)
                seconds = time.perf_counter() - start
                drawn = batch.drawn_parameters()
                acted = [name for position, name in augmentations.items() if drawn.get(position) is not None]
                image, ids, valid = batch[raw].data, batch[labels].data, batch[mask].data
                print(
                    f"batch {i}: raw {image.shape} {image.dtype} in [{image.min():.2f}, {image.max():.2f}], "
                    f"labels {ids.dtype} with {len(np.unique(ids))} ids, valid {valid.mean():.0%}, "
                    f"{', '.join(acted) or 'no augmentation'}, {seconds * 1000:.0f} ms"
                )
        if args.out:
            print(f"volume in {folder}")


if __name__ == "__main__":
    main()
