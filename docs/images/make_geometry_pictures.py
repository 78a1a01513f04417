"""Before/after pictures of the geometric nodes for docs/nodes.md, from the synthetic EM volume.

Run from the repository root: ``python docs/images/make_geometry_pictures.py``. Writes
``docs/images/<node>.png`` (MisAlignment, Rescale, MissingSection, ElasticAugment, SimpleAugment):
on the left the request
without the node, on the right with it (``p=1``, a fixed seed). Section-plane nodes show the
middle section (y, x); section-axis nodes show a side view (z, x) with z stretched to world scale.
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
REQUEST = fg.Roi((40 * 4, 4 * 64, 4 * 64), (40 * 12, 4 * 128, 4 * 128))  # 12 sections of 128 x 128

NODES = {
    "MisAlignment": (fg.MisAlignment(displacement=16, p=1.0), "side", 3),
    "Rescale": (fg.Rescale(low=0.7, high=0.7, p=1.0), "plane", 0),
    "MissingSection": (fg.MissingSection(num_sections=3, p=1.0), "side", 1),
    "ElasticAugment": (fg.ElasticAugment([4, 40, 40], [0, 2, 2], [0, math.pi / 8]), "plane", 2),
    "SimpleAugment": (
        fg.SimpleAugment(mirror_only=(2,), transpose_only=(1, 2), mirror_probs=1.0, transpose_probs={(0, 2, 1): 1.0}),
        "plane",
        0,
    ),
}


def view(data: np.ndarray, how: str) -> np.ndarray:
    """uint8 picture: the middle section, or the middle (z, x) cut with every section 10 rows tall."""
    if how == "plane":
        picture = data[data.shape[0] // 2]
    else:
        picture = np.repeat(data[:, data.shape[1] // 2, :], VS[0] // VS[2], axis=0)
    return np.clip(picture * 255, 0, 255).astype(np.uint8)


def make(path: str, node: fg.BatchFilter, how: str, seed: int, source_file: str) -> None:
    source = fg.Hdf5Source(source_file, datasets={RAW: "volumes/raw"}) + fg.Normalize(RAW)
    request = fg.BatchRequest(random_seed=seed)
    request[RAW] = fg.ArraySpec(roi=REQUEST)
    pictures = []
    for pipeline in (source, source + node):
        with fg.build(pipeline) as p:
            pictures.append(view(p.request_batch(request)[RAW].data, how))
    save_row(path, pictures)


def main(out_dir: str = HERE) -> list[str]:
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        em = write_em_volume(os.path.join(tmp, "em.h5"), shape=(20, 256, 256), voxel_size=VS, seed=1)
        for name, (node, how, seed) in NODES.items():
            path = os.path.join(out_dir, f"{name}.png")
            make(path, node, how, seed, em)
            written.append(path)
    return written


if __name__ == "__main__":
    print("\n".join(main(*sys.argv[1:])))
