"""Pictures of OneOf and SomeOf for docs/nodes.md, from the synthetic EM volume.

Run from the repository root: ``python docs/images/make_composition_pictures.py``. Writes
``docs/images/OneOf.png`` and ``docs/images/SomeOf.png``: on the left the middle section of the
request without the node, then the same section with it for three seeds, chosen so that each
shows a different choice of children (the seeds and choices are printed).
"""

from __future__ import annotations

import math
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


def children() -> list[fg.BatchFilter]:
    return [
        fg.ElasticAugment([2, 16, 16], [0, 3, 3], [0, math.pi / 2]),
        fg.CutBlur(RAW, length_ratio=0.6, down_ratio_min=6.0, down_ratio_max=8.0, p=1.0),
        fg.GreyAugment(RAW, contrast_factor=0.8, brightness_factor=0.6, mode="3D", p=1.0),
    ]


NODES = {
    "OneOf": lambda: fg.OneOf(children()),
    "SomeOf": lambda: fg.SomeOf(children(), n=2),
}


def make(path: str, name: str, source_file: str) -> list[tuple[int, tuple[int, ...]]]:
    source = fg.Hdf5Source(source_file, datasets={RAW: "volumes/raw"}) + fg.Normalize(RAW)
    request = fg.BatchRequest()
    request[RAW] = fg.ArraySpec(roi=REQUEST)
    with fg.build(source) as p:
        sections = [p.request_batch(request.with_seed(0))[RAW].data[4]]
    node = NODES[name]()
    shown: list[tuple[int, tuple[int, ...]]] = []
    with fg.build(source + node) as p:
        for seed in range(100):
            with fg.observing("params"):
                batch = p.request_batch(request.with_seed(seed))
            chosen = batch.drawn_parameters()[node._position]
            if chosen not in [c for _, c in shown]:
                shown.append((seed, chosen))
                sections.append(batch[RAW].data[4])
            if len(shown) == 3:
                break
    pictures = [np.clip(s * 255, 0, 255).astype(np.uint8) for s in sections]
    save_row(path, pictures)
    return shown


def main(out_dir: str = HERE) -> list[str]:
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        em = write_em_volume(os.path.join(tmp, "em.h5"), shape=(16, 256, 256), voxel_size=VS, seed=1)
        for name in NODES:
            path = os.path.join(out_dir, f"{name}.png")
            shown = make(path, name, em)
            written.append(f"{path}: seeds and choices {shown}")
    return written


if __name__ == "__main__":
    print("\n".join(main(*sys.argv[1:])))
