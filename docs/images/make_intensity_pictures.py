"""Before/after pictures of the intensity and artifact nodes for docs/nodes.md, from the synthetic EM volume.

Run from the repository root: ``python docs/images/make_intensity_pictures.py``. Writes
``docs/images/<node>.png`` (CutBlur, CutNoise, MissingParts, MotionBlur, GreyAugment, XYMasking,
IntensityAugment, DefectAugment):
on the left a section of the request without the node, on the right the same section with it
(``p=1``, a fixed seed); the section shown is the one the node changed most.
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np
from picture_row import save_row

import flowgraph as fg
from flowgraph.synthetic import write_em_volume

HERE = os.path.dirname(os.path.abspath(__file__))
RAW = fg.ArrayKey("RAW")
VS = (40, 4, 4)
REQUEST = fg.Roi((40 * 4, 4 * 64, 4 * 64), (40 * 8, 4 * 128, 4 * 128))  # 8 sections of 128 x 128

NODES = {
    "CutBlur": fg.CutBlur(RAW, length_ratio=0.6, down_ratio_min=4.0, down_ratio_max=8.0, p=1.0),
    "CutNoise": fg.CutNoise(RAW, length_ratio=0.5, scale=0.3, p=1.0),
    "MissingParts": fg.MissingParts(RAW, iterations=8, p=1.0),
    "MotionBlur": fg.MotionBlur(RAW, sections=2, kernel_size=11, p=1.0),
    "GreyAugment": fg.GreyAugment(RAW, contrast_factor=0.6, brightness_factor=0.6, mode="3D", p=1.0),
    "XYMasking": fg.XYMasking(RAW, num_masks_x=(2, 4), num_masks_y=2, mask_x_length=(4, 10), mask_y_length=6, p=1.0),
    "IntensityAugment": fg.IntensityAugment(RAW, 0.6, 1.4, -0.2, 0.2, z_section_wise=True),
    "DefectAugment": fg.DefectAugment(RAW, prob_missing=0.0, prob_low_contrast=0.8, contrast_scale=0.2),
}


def make(path: str, node: fg.BatchFilter, source_file: str, seed: int = 0) -> None:
    source = fg.Hdf5Source(source_file, datasets={RAW: "volumes/raw"}) + fg.Normalize(RAW)
    request = fg.BatchRequest(random_seed=seed)
    request[RAW] = fg.ArraySpec(roi=REQUEST)
    volumes = []
    for pipeline in (source, source + node):
        with fg.build(pipeline) as p:
            volumes.append(p.request_batch(request)[RAW].data)
    s = int(np.argmax(np.abs(volumes[1] - volumes[0]).sum(axis=(1, 2))))
    pictures = [np.clip(v[s] * 255, 0, 255).astype(np.uint8) for v in volumes]
    save_row(path, pictures)


def main(out_dir: str = HERE) -> list[str]:
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        em = write_em_volume(os.path.join(tmp, "em.h5"), shape=(16, 256, 256), voxel_size=VS, seed=1)
        for name, node in NODES.items():
            path = os.path.join(out_dir, f"{name}.png")
            make(path, node, em)
            written.append(path)
    return written


if __name__ == "__main__":
    print("\n".join(main(*sys.argv[1:])))
