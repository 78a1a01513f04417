"""The picture of RasterizeGraph for docs/nodes.md, from the synthetic EM volume.

Run from the repository root: ``python docs/images/make_rasterize_pictures.py``. Writes
``docs/images/RasterizeGraph.png``: one section of the synthetic EM volume with a graph drawn on
it (a skeleton of points joined by edges and a few unconnected synapse points), then the same
section's raster for ``mode="ball"``, hollow balls (``inner_radius_fraction=0.5``), ``mode="peak"``
and larger balls without edges, each cut to the neuron under its point (``mask``), each shown in
red over the raw.
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np
from picture_row import save_row

import flowgraph as fg
from flowgraph.synthetic import NEURON_IDS, write_em_volume

HERE = os.path.dirname(os.path.abspath(__file__))
RAW, LABELS, RASTER = fg.ArrayKey("RAW"), fg.ArrayKey("LABELS"), fg.ArrayKey("RASTER")
GRAPH = fg.GraphKey("GRAPH")
VS = (40, 4, 4)
SECTION = 4
REQUEST = fg.Roi((0, 0, 0), (40 * 8, 4 * 160, 4 * 160))  # 8 sections of 160 x 160


def graph() -> fg.Graph:
    """A skeleton winding through section 4 (12 points, 11 edges) and 4 synapse points beside it."""
    t = np.linspace(0.1, 0.9, 12)
    skeleton = np.stack([np.full_like(t, 40 * SECTION + 20), 640 * t, 320 + 180 * np.sin(2 * np.pi * t)], axis=1)
    synapses = np.array([[40 * SECTION + 20, y, x] for y, x in ((120, 120), (200, 520), (480, 160), (560, 480))])
    locations = np.concatenate([skeleton, synapses]).astype(np.float64)
    edges = [[i, i + 1] for i in range(11)]
    return fg.Graph(list(range(len(locations))), locations, fg.GraphSpec(roi=REQUEST), edges=edges)


SETTINGS = {
    "ball": fg.RasterizationSettings(radius=(0, 24, 24)),
    "hollow": fg.RasterizationSettings(radius=(0, 24, 24), inner_radius_fraction=0.5),
    "peak": fg.RasterizationSettings(radius=(0, 16, 16), mode="peak"),
    "mask": fg.RasterizationSettings(radius=(0, 64, 64), mask=LABELS, edges=False),
}


def overlay(raw: np.ndarray, raster: np.ndarray | None) -> np.ndarray:
    """``raw`` as grey RGB, with ``raster`` (scaled to [0, 1]) blended in red."""
    grey = np.clip(raw * 255, 0, 255)
    rgb = np.stack([grey] * 3, axis=-1)
    if raster is not None:
        alpha = (raster / max(float(raster.max()), 1e-9))[..., None] * 0.7
        rgb = rgb * (1 - alpha) + np.array([255.0, 40.0, 40.0]) * alpha
    return rgb.astype(np.uint8)


def make(path: str, source_file: str) -> None:
    source = (
        fg.Hdf5Source(source_file, datasets={RAW: "volumes/raw", LABELS: NEURON_IDS}) + fg.Normalize(RAW),
        fg.GraphSource(GRAPH, graph()),
    ) + fg.MergeProvider()
    request = fg.BatchRequest(random_seed=0)
    request[RAW] = fg.ArraySpec(roi=REQUEST)
    request[RASTER] = fg.ArraySpec(roi=REQUEST)
    request[GRAPH] = fg.GraphSpec(roi=REQUEST)
    panels = []
    for settings in SETTINGS.values():
        node = fg.RasterizeGraph(GRAPH, RASTER, fg.ArraySpec(voxel_size=VS, dtype=np.float32), settings)
        with fg.build(source + node) as p:
            batch = p.request_batch(request)
        raw = batch[RAW].data[SECTION]
        if not panels:  # the graph itself: its points as dots on the raw
            dots = np.zeros(raw.shape, np.float32)
            voxels = (batch[GRAPH].locations[:, 1:] // np.array(VS[1:])).astype(int)
            for y, x in voxels:
                dots[max(0, y - 2) : y + 3, max(0, x - 2) : x + 3] = 1
            panels.append(overlay(raw, dots))
        panels.append(overlay(raw, batch[RASTER].data[SECTION]))
    save_row(path, panels)


def main(out_dir: str = HERE) -> list[str]:
    path = os.path.join(out_dir, "RasterizeGraph.png")
    with tempfile.TemporaryDirectory() as tmp:
        em = write_em_volume(os.path.join(tmp, "em.h5"), shape=(8, 160, 160), voxel_size=VS, seed=2)
        make(path, em)
    return [path]


if __name__ == "__main__":
    print("\n".join(main(*sys.argv[1:])))
