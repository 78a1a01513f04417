"""atlalign's "putting things together" as a flowgraph pipeline, on a synthetic 2-D section.

Given a moving image and the field ``mov2reg`` that registers it (here a small rotation), every
sample draws a random ``mov2art`` by edge stretching (perturbation points on scikit-image's
Canny edges), warps the moving image into the artificial one, and derives ``art2reg`` by
inverting ``mov2art`` and composing with ``mov2reg`` (``RandomWarp(..., inverse=...,
compose_with=...)``); fields that fold are redrawn. The samples are precomputed to one HDF5
file in atlalign's layout (``img``, ``deltas_xy``, ``mov2art``), the Jacobian of each drawn field is
checked, and the file is read back with PrecomputedSource. ``--pictures DIR`` writes the grid
pictures of docs/registration.md.

    python examples/atlalign_dataset.py [--samples 4] [--size 128] [--out DIR] [--pictures DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import h5py
import numpy as np
from skimage.feature import canny

import flowgraph as fg
from flowgraph.cli.precompute import precompute
from flowgraph.fields import DisplacementField
from flowgraph.synthetic import write_em_volume

MOV, MOV2REG = fg.ArrayKey("MOV"), fg.ArrayKey("MOV2REG")
IMG, ART2REG, MOV2ART = fg.ArrayKey("img"), fg.ArrayKey("deltas_xy"), fg.ArrayKey("mov2art")


def em_section(size: int, seed: int = 0) -> np.ndarray:
    """One synthetic EM section (float32 in [0, 1])."""
    with tempfile.TemporaryDirectory() as d:
        path = write_em_volume(os.path.join(d, "em.h5"), shape=(1, size, size), seed=seed)
        with h5py.File(path, "r") as f:
            return (f["volumes/raw"][0] / 255.0).astype(np.float32)


def pipeline_and_request(image: np.ndarray) -> tuple[fg.Pipeline, fg.BatchRequest]:
    shape = image.shape
    spec = fg.ArraySpec(roi=fg.Roi((0, 0), shape), voxel_size=(1, 1))
    mov2reg = DisplacementField.generate(shape, "affine_simple", rotation=0.08, translation_x=3.0)
    sources = (
        fg.ArraySource(MOV, fg.Array(image, spec)),
        fg.ArraySource(MOV2REG, fg.Array(mov2reg.deltas.astype(np.float32), spec)),  # voxel size 1: world = voxels
    )
    warp = fg.RandomWarp(
        MOV,
        IMG,
        MOV2ART,
        inverse=ART2REG,
        compose_with=MOV2REG,
        approach="edge_stretching",
        edge_mask=canny(image, sigma=2.0),
        n_perturbation_points=5,
        radius_max=6.0,
        max_folded=0.0,
    )
    pipeline = sources + fg.MergeProvider() + fg.Pad(MOV, None) + warp
    request = fg.BatchRequest()
    for key in (IMG, ART2REG, MOV2ART):
        request[key] = fg.ArraySpec(roi=spec.roi)
    return pipeline, request


def grid(shape: tuple[int, ...], step: int = 12) -> np.ndarray:
    out = np.zeros(shape, np.float32)
    out[::step, :] = 1.0
    out[:, ::step] = 1.0
    return out


def pictures(path: str, image: np.ndarray, stored: str) -> None:
    """Moving / artificial; both registered; the grid warped by mov2reg and by art2reg."""
    from PIL import Image

    shape = image.shape
    mov2reg = DisplacementField.generate(shape, "affine_simple", rotation=0.08, translation_x=3.0)
    with h5py.File(stored, "r") as f:
        art, art2reg = f["img"][0], DisplacementField(f["deltas_xy"][0])
    rows = [
        [image, art],
        [mov2reg.warp(image), art2reg.warp(art)],
        [mov2reg.warp(grid(shape)), art2reg.warp(grid(shape))],
    ]
    gap = 4
    h, w = shape
    canvas = np.ones((3 * h + 2 * gap, 2 * w + gap), np.float32)
    for r, row in enumerate(rows):
        for c, panel in enumerate(row):
            canvas[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = np.clip(panel, 0, 1)
    Image.fromarray((canvas * 255).astype(np.uint8)).save(path, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=4, help="samples to precompute (default 4)")
    parser.add_argument("--size", type=int, default=128, help="section size in pixels (default 128)")
    parser.add_argument("--out", default=None, help="keep the .h5 file in this directory (default: a temporary one)")
    parser.add_argument("--pictures", default=None, help="write registration_atlalign.png to this directory")
    args = parser.parse_args()

    t0 = time.perf_counter()
    image = em_section(args.size)
    pipeline, request = pipeline_and_request(image)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or tmp
        os.makedirs(out, exist_ok=True)
        path = os.path.join(out, "atlalign_dataset.h5")
        result = precompute(pipeline, request, path, args.samples, seed=0)
        print(f"precomputed {result.n} samples in {result.seconds:.2f} s: {result.datasets}")
        with h5py.File(path, "r") as f:
            for i in range(args.samples):
                mov2art = DisplacementField(f["mov2art"][i])
                jac = mov2art.jacobian()
                art2reg = DisplacementField(f["deltas_xy"][i])
                print(
                    f"sample {i} (seed {int(f.attrs['seeds'][i])}): mov2art max |delta| "
                    f"{np.abs(mov2art.deltas).max():.1f} px, Jacobian in [{jac.min():.2f}, {jac.max():.2f}], "
                    f"folds {int(mov2art.folds().sum())}; art2reg max |delta| {np.abs(art2reg.deltas).max():.1f} px"
                )
        source = fg.PrecomputedSource(path, {IMG: "img", ART2REG: "deltas_xy"})
        read = fg.BatchRequest(random_seed=7)
        read[IMG] = request[IMG]
        with fg.build(source) as p:
            batch = p.request_batch(read)
        print(f"PrecomputedSource served sample {source.sample_index(read)}: img {batch[IMG].data.shape}")
        if args.pictures:
            os.makedirs(args.pictures, exist_ok=True)
            pictures(os.path.join(args.pictures, "registration_atlalign.png"), image, path)
    print(f"done in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
