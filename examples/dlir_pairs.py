"""DLIR-style training pairs: 2-D tiles and a randomly affine-warped copy, with the 6 affine parameters.

Every pair is one request: RandomLocation picks a tile of a synthetic EM section (the fixed
image), RandomWarp warps it by a random affine (rotation, scales, shear, translations: DLIR's six
parameters of a 2 x 3 matrix) into the moving image and provides the matrix and the inverse field.
The script prints, per pair, the matrix and DLIR's local NCC (``flowgraph.metrics.ncc``, window
9) of the fixed image with the moving image before and after warping it back with the inverse.
``--pictures DIR`` writes the picture of docs/registration.md.

    python examples/dlir_pairs.py [--pairs 4] [--tile 96] [--pictures DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import h5py
import numpy as np

import flowgraph as fg
from flowgraph.fields import DisplacementField
from flowgraph.metrics import ncc
from flowgraph.synthetic import write_em_volume

SECTION, FIXED, MOVING, INVERSE, MATRIX = (fg.ArrayKey(n) for n in ("SECTION", "FIXED", "MOVING", "INVERSE", "MATRIX"))


def em_section(size: int, seed: int = 0) -> np.ndarray:
    with tempfile.TemporaryDirectory() as d:
        path = write_em_volume(os.path.join(d, "em.h5"), shape=(1, size, size), seed=seed)
        with h5py.File(path, "r") as f:
            return (f["volumes/raw"][0] / 255.0).astype(np.float32)


def pipeline_and_request(section: np.ndarray, tile: int) -> tuple[fg.Pipeline, fg.BatchRequest]:
    spec = fg.ArraySpec(roi=fg.Roi((0, 0), section.shape), voxel_size=(1, 1))
    warp = fg.RandomWarp(
        SECTION,
        MOVING,
        fg.ArrayKey("FIELD"),
        inverse=INVERSE,
        matrix=MATRIX,
        approach="affine_simple",
        rotation=(-0.15, 0.15),
        scale_x=(0.9, 1.1),
        scale_y=(0.9, 1.1),
        shear=(-0.05, 0.05),
        translation_x=(-6.0, 6.0),
        translation_y=(-6.0, 6.0),
    )
    pipeline = fg.ArraySource(SECTION, fg.Array(section, spec)) + fg.RandomLocation() + warp
    request = fg.BatchRequest()
    roi = fg.Roi((0, 0), (tile, tile))
    request[SECTION] = fg.ArraySpec(roi=roi)  # the fixed tile
    request[MOVING] = fg.ArraySpec(roi=roi)
    request[INVERSE] = fg.ArraySpec(roi=roi)
    request[MATRIX] = fg.ArraySpec(nonspatial=True)
    return pipeline, request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=4, help="pairs to draw (default 4)")
    parser.add_argument("--tile", type=int, default=96, help="tile size in pixels (default 96)")
    parser.add_argument("--pictures", default=None, help="write registration_dlir.png to this directory")
    args = parser.parse_args()

    t0 = time.perf_counter()
    section = em_section(256)
    pipeline, request = pipeline_and_request(section, args.tile)
    rows = []
    with fg.build(pipeline) as p:
        for seed in range(args.pairs):
            batch = p.request_batch(request.with_seed(seed))
            fixed, moving = batch[SECTION].data, batch[MOVING].data
            back = DisplacementField(batch[INVERSE].data).warp(moving)  # voxel size 1: world units = voxels
            m = batch[MATRIX].data
            margin = args.tile // 8  # the warped-back tile is empty where the moving tile had no data
            inner = (slice(margin, -margin),) * 2
            print(
                f"pair {seed}: matrix [[{m[0, 0]:.3f} {m[0, 1]:.3f} {m[0, 2]:+.2f}] [{m[1, 0]:.3f} {m[1, 1]:.3f} "
                f"{m[1, 2]:+.2f}]]  NCC before {ncc(fixed, moving):.3f}, after warping back "
                f"{ncc(fixed[inner], back[inner]):.3f}"
            )
            rows.append([fixed, moving, back])
    if args.pictures:
        from PIL import Image

        os.makedirs(args.pictures, exist_ok=True)
        gap, t = 4, args.tile
        canvas = np.ones((len(rows) * (t + gap) - gap, 3 * t + 2 * gap), np.float32)
        for r, row in enumerate(rows):
            for c, panel in enumerate(row):
                canvas[r * (t + gap) : r * (t + gap) + t, c * (t + gap) : c * (t + gap) + t] = np.clip(panel, 0, 1)
        Image.fromarray((canvas * 255).astype(np.uint8)).save(
            os.path.join(args.pictures, "registration_dlir.png"), optimize=True
        )
    print(f"done in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
