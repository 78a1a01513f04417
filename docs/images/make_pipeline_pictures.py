"""Pictures of the sources, region, sampling, combining, axis, output and parallel nodes for docs/nodes.md.

Run from the repository root: ``python docs/images/make_pipeline_pictures.py``. Writes one PNG per
node into ``docs/images/`` (``ArraySource.png``, ``Crop.png``, ... ``ZarrSource.png``, see
``PICTURES``), each a row of panels with a caption under every panel, made from the synthetic EM
volume of ``flowgraph.synthetic.write_em_volume`` (8 sections of 256 x 256, seed 1; RandomProvider
also a second volume, seed 7 with smaller neurons). Raw is grey, neuron labels are tinted over it
by id, the mask is white; whole sections are shown at half size. Everything is seeded.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from collections.abc import Callable

import h5py
import numpy as np
import zarr
from PIL import Image, ImageDraw, ImageFont

import flowgraph as fg
from flowgraph.cli.precompute import precompute
from flowgraph.errors import UnsatisfiableRequestError
from flowgraph.synthetic import MASK, NEURON_IDS, write_em_volume
from flowgraph.synthetic import RAW as RAW_PATH

HERE = os.path.dirname(os.path.abspath(__file__))
RAW, LABELS, MASK_KEY = fg.ArrayKey("RAW"), fg.ArrayKey("LABELS"), fg.ArrayKey("MASK")
SHIFT, CHOICE, POINTS = fg.ArrayKey("SHIFT"), fg.ArrayKey("CHOICE"), fg.GraphKey("POINTS")
VS = (40, 4, 4)
SHAPE = (8, 256, 256)
Z = 4  # the section shown
SECTION = fg.Roi((40 * Z, 4 * 64, 4 * 64), (40, 4 * 128, 4 * 128))  # one section of 128 x 128
WINDOW = fg.Roi((0, 0, 0), (40 * 8, 4 * 64, 4 * 64))  # all 8 sections, 64 x 64: only y and x move
COLORS = [(230, 60, 60), (60, 200, 60), (70, 120, 255), (240, 200, 40), (220, 80, 220), (40, 210, 220)]
AXES = {3: "z, y, x", 4: "channel, z, y, x"}
GREEN, RED = (40, 220, 40), (235, 40, 40)
FONT = ImageFont.load_default()
MONO = ImageFont.load_default_imagefont()


# -- drawing ------------------------------------------------------------------------------------------


def grey(raw: np.ndarray) -> np.ndarray:
    """uint8 or [0, 1] float raw as an RGB uint8 image."""
    values = raw if raw.dtype == np.uint8 else np.clip(raw * 255, 0, 255)
    return np.repeat(np.asarray(values, np.uint8)[..., None], 3, axis=-1)


def tint(labels: np.ndarray) -> np.ndarray:
    """A colour per label id (the same id, the same colour in every picture); 0 black."""
    h = labels.astype(np.uint64) * np.uint64(2654435761) >> np.uint64(7)
    rgb = np.stack([(h >> np.uint64(s)) & np.uint64(255) for s in (0, 8, 16)], axis=-1).astype(np.float64)
    rgb = 60 + rgb * 0.75
    rgb[labels == 0] = 0
    return rgb


def overlay(raw: np.ndarray, labels: np.ndarray, alpha: float = 0.4) -> np.ndarray:
    return (grey(raw) * (1 - alpha) + tint(labels) * alpha).astype(np.uint8)


def half(image: np.ndarray) -> np.ndarray:
    return image[::2, ::2]


def double(image: np.ndarray) -> np.ndarray:
    return image.repeat(2, axis=0).repeat(2, axis=1)


def box(image: np.ndarray, roi: fg.Roi, color: tuple[int, int, int], width: int = 1) -> None:
    """Outline ``roi`` (world units; its y and x) on ``image``, a whole section at half size."""
    y0, x0 = roi.offset[1] // 8, roi.offset[2] // 8
    y1, x1 = y0 + roi.shape[1] // 8 - 1, x0 + roi.shape[2] // 8 - 1
    picture = Image.fromarray(image)
    ImageDraw.Draw(picture).rectangle((x0, y0, x1, y1), outline=color, width=width)
    image[:] = np.asarray(picture)


def frame(image: np.ndarray, color: tuple[int, int, int], width: int = 2) -> np.ndarray:
    out = image.copy()
    out[:width], out[-width:], out[:, :width], out[:, -width:] = color, color, color, color
    return out


def panel(image: np.ndarray | Image.Image, caption: str) -> Image.Image:
    """``image`` with ``caption`` (up to two lines) under it, as wide as the wider of the two."""
    image = image if isinstance(image, Image.Image) else Image.fromarray(image)
    draw = ImageDraw.Draw(image)
    width = max(image.width, int(max(draw.textlength(line, font=FONT) for line in caption.split("\n"))) + 4)
    out = Image.new("RGB", (width, image.height + 26), "white")
    out.paste(image, ((width - image.width) // 2, 0))
    ImageDraw.Draw(out).multiline_text((2, image.height + 1), caption, fill="black", font=FONT, spacing=1)
    return out


def save(path: str, panels: list[Image.Image]) -> None:
    height = max(p.height for p in panels)
    row = Image.new("RGB", (sum(p.width for p in panels) + 8 * (len(panels) - 1), height), "white")
    x = 0
    for p in panels:
        row.paste(p, (x, 0))
        x += p.width + 8
    assert height <= 160, path
    row.save(path, optimize=True)


def text_image(text: str) -> np.ndarray:
    """``text`` in PIL's bitmap font (6 pixels a character), so the columns of a table line up."""
    lines = text.rstrip("\n").split("\n")
    image = Image.new("RGB", (6 * max(map(len, lines)) + 8, 13 * len(lines) + 6), (250, 250, 245))
    ImageDraw.Draw(image).multiline_text((4, 3), "\n".join(lines), fill="black", font=MONO, spacing=2)
    return np.asarray(image)


def histogram(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """A 128 x 128 bar chart of ``values`` in 64 bins from ``lo`` to ``hi`` (marked at both ends)."""
    counts, _ = np.histogram(values, bins=64, range=(lo, hi))
    bars = np.round(counts / counts.max() * 100).astype(int)
    image = np.full((128, 128, 3), 255, np.uint8)
    for i, b in enumerate(bars):
        image[114 - b : 114, 2 * i : 2 * i + 2] = (90, 90, 160)
    image[114] = 0
    out = Image.fromarray(image)
    draw = ImageDraw.Draw(out)
    draw.text((0, 115), f"{lo:g}", fill="black", font=FONT)
    draw.text((128 - draw.textlength(f"{hi:g}", font=FONT), 115), f"{hi:g}", fill="black", font=FONT)
    return np.asarray(out)


# -- pipelines ----------------------------------------------------------------------------------------


class Volume:
    """The synthetic volume (an HDF5 file) and the whole of its middle section, read once."""

    def __init__(self, path: str) -> None:
        self.path = path
        with h5py.File(path, "r") as f:
            self.raw, self.labels, self.mask = (f[k][Z] for k in (RAW_PATH, NEURON_IDS, MASK))

    def source(self, *keys: fg.ArrayKey) -> fg.Hdf5Source:
        names = {RAW: RAW_PATH, LABELS: NEURON_IDS, MASK_KEY: MASK}
        return fg.Hdf5Source(self.path, {k: names[k] for k in keys})

    def overview(self, labels: bool = True) -> np.ndarray:
        return half(overlay(self.raw, self.labels) if labels else grey(self.raw))


def request(*keys: fg.ArrayKey, roi: fg.Roi = SECTION, seed: int = 0) -> fg.BatchRequest:
    out = fg.BatchRequest(random_seed=seed)
    for key in keys:
        out[key] = fg.ArraySpec(roi=roi)
    return out


def served(pipeline: fg.Pipeline, req: fg.BatchRequest) -> fg.Batch:
    with fg.build(pipeline) as p:
        return p.request_batch(req)


def source_panels(volume: Volume, pipeline: fg.Pipeline, what: str) -> list[Image.Image]:
    """The whole section with the requested ROI outlined, then the batch the source serves for it."""
    batch = served(pipeline, request(RAW, LABELS))
    raw, labels = batch[RAW].data[0], batch[LABELS].data[0]
    whole = volume.overview(labels=False)
    box(whole, SECTION, RED)
    return [
        panel(whole, f"{what}: section {Z}\nrequested ROI in red"),
        panel(raw, f"RAW {batch[RAW].data.dtype}\n{batch[RAW].data.shape}"),
        panel(overlay(raw, labels), f"LABELS over RAW\n{batch[LABELS].data.dtype}, ids > 2^32"),
    ]


def hdf5_source(volume: Volume, tmp: str) -> list[Image.Image]:
    return source_panels(volume, volume.source(RAW, LABELS), "HDF5 file")


def zarr_source(volume: Volume, tmp: str) -> list[Image.Image]:
    path = os.path.join(tmp, "em.zarr")
    group = zarr.open_group(path, mode="w")
    with h5py.File(volume.path, "r") as f:
        for name in (RAW_PATH, NEURON_IDS):
            array = group.create_array(name, shape=f[name].shape, dtype=f[name].dtype, chunks=(4, 64, 64))
            array[:] = f[name][:]
            array.attrs.update({k: [int(v) for v in f[name].attrs[k]] for k in ("resolution", "offset")})
    source = fg.ZarrSource(path, {RAW: RAW_PATH, LABELS: NEURON_IDS})
    return source_panels(volume, source, "zarr group")


def array_source(volume: Volume, tmp: str) -> list[Image.Image]:
    with h5py.File(volume.path, "r") as f:
        raw, labels = f[RAW_PATH][:], f[NEURON_IDS][:]
    spec = fg.ArraySpec(roi=fg.Roi((0, 0, 0), tuple(s * v for s, v in zip(SHAPE, VS))), voxel_size=VS)
    sources = (fg.ArraySource(RAW, fg.Array(raw, spec)), fg.ArraySource(LABELS, fg.Array(labels, spec)))
    return source_panels(volume, sources + fg.MergeProvider(), "in-memory fg.Array")


def graph_source(volume: Volume, tmp: str) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    yx = rng.uniform(8, 4 * 256 - 8, (40, 2))
    locations = np.concatenate([np.full((40, 1), 40 * Z + 20.0), yx], axis=1)
    whole_roi = fg.Roi((0, 0, 0), (40 * 8, 4 * 256, 4 * 256))
    graph = fg.Graph(list(range(40)), locations, fg.GraphSpec(roi=whole_roi))
    req = request(RAW)
    req[POINTS] = fg.GraphSpec(roi=SECTION)
    batch = served((volume.source(RAW), fg.GraphSource(POINTS, graph)) + fg.MergeProvider(), req)
    whole = volume.overview(labels=False)
    for y, x in (locations[:, 1:] // 8).astype(int):
        whole[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2] = (255, 220, 0)
    box(whole, SECTION, RED)
    raw = grey(batch[RAW].data[0])
    for y, x in ((batch[POINTS].locations[:, 1:] - np.array(SECTION.offset[1:])) // 4).astype(int):
        raw[max(y - 2, 0) : y + 3, max(x - 2, 0) : x + 3] = RED
    return [
        panel(whole, "the graph's 40 points\nrequested ROI in red"),
        panel(raw, f"served: {len(batch[POINTS])} points\ninside the ROI"),
    ]


def precomputed_source(volume: Volume, tmp: str) -> list[Image.Image]:
    path = os.path.join(tmp, "precomputed.h5")
    live = volume.source(RAW, LABELS) + fg.RandomLocation()
    precompute(live, request(RAW, LABELS, roi=WINDOW), path, n=4, seed=0)
    source = fg.PrecomputedSource(path, {RAW: "raw", LABELS: "labels"})
    with h5py.File(path, "r") as f:
        panels = [panel(double(overlay(f["raw"][i, Z], f["labels"][i, Z])), f"file: sample {i}") for i in range(4)]
    shown: list[int] = []
    with fg.build(source) as p:
        for seed in range(100):  # the first seeds that draw three different samples
            req = request(RAW, LABELS, roi=WINDOW, seed=seed)
            if source.sample_index(req) in shown:
                continue
            shown.append(source.sample_index(req))
            if len(shown) > 3:
                break
            batch = p.request_batch(req)
            image = double(overlay(batch[RAW].data[Z], batch[LABELS].data[Z]))
            panels.append(panel(frame(image, RED), f"seed {seed}: sample {source.sample_index(req)}"))
    return panels


def crop(volume: Volume, tmp: str) -> list[Image.Image]:
    roi = fg.Roi((0, 4 * 32, 4 * 96), (40 * 8, 4 * 128, 4 * 128))
    panels = []
    for node, outline in (
        (fg.Crop(RAW, roi=roi), roi),
        (fg.Crop(RAW, fraction_negative=(0, 0.5, 0)), None),
    ):
        with fg.build(volume.source(RAW) + node) as p:
            offered = p.spec[RAW].roi
            section = offered.intersect(fg.Roi((40 * Z, 0, 0), (40, 4 * 256, 4 * 256)))
            batch = p.request_batch(request(RAW, roi=section))
        whole = volume.overview(labels=False)
        box(whole, outline or offered, RED)
        label = "roi=" if outline else "fraction_negative=(0, 0.5, 0)"
        panels.append(panel(whole, f"Crop({label}...)\nthe kept ROI in red"))
        size = offered.shape[1] // 4, offered.shape[2] // 4
        panels.append(panel(half(grey(batch[RAW].data[0])), f"offered downstream:\n{size[0]} x {size[1]} voxels"))
    return panels


def pad(volume: Volume, tmp: str) -> list[Image.Image]:
    corner = fg.Roi((40 * Z, -4 * 32, -4 * 32), (40, 4 * 128, 4 * 128))  # a quarter lies outside the volume
    inside = corner.intersect(fg.Roi((0, 0, 0), (40 * 8, 4 * 256, 4 * 256)))
    upstream = np.full((128, 128, 3), 255, np.uint8)
    upstream[(np.add.outer(np.arange(128), np.arange(128)) // 6) % 2 == 0] = (225, 225, 235)
    upstream[32:, 32:] = grey(served(volume.source(RAW), request(RAW, roi=inside))[RAW].data[0])
    panels = [panel(upstream, "the volume's corner\n(outside: hatched)")]
    for caption, node in (
        ('mode="constant"', fg.Pad(RAW, (0, 4 * 64, 4 * 64))),
        ('mode="constant", value=200', fg.Pad(RAW, (0, 4 * 64, 4 * 64), value=200)),
        ('mode="reflect"', fg.Pad(RAW, (0, 4 * 64, 4 * 64), mode="reflect")),
    ):
        image = grey(served(volume.source(RAW) + node, request(RAW, roi=corner))[RAW].data[0])
        image[31, 31:], image[31:, 31] = RED, RED
        panels.append(panel(image, f"{caption}\nvolume's edge in red"))
    return panels


def normalize(volume: Volume, tmp: str) -> list[Image.Image]:
    before = served(volume.source(RAW), request(RAW))[RAW].data[0]
    after = served(volume.source(RAW) + fg.Normalize(RAW), request(RAW))[RAW].data[0]
    return [
        panel(grey(before), f"RAW {before.dtype}\n{before.min()} .. {before.max()}"),
        panel(histogram(before, 0, 255), "histogram, 0 .. 255"),
        panel(grey(after), f"after: {after.dtype}\n{after.min():.3f} .. {after.max():.3f}"),
        panel(histogram(after, 0, 1), "histogram, 0 .. 1"),
    ]


def random_location(volume: Volume, tmp: str) -> list[Image.Image]:
    whole, crops = volume.overview(labels=False), []
    with fg.build(volume.source(RAW, LABELS) + fg.RandomLocation(random_shift_key=SHIFT)) as p:
        for seed, color in enumerate(COLORS):
            req = request(RAW, LABELS, roi=WINDOW, seed=seed)
            req[SHIFT] = fg.ArraySpec(nonspatial=True)
            batch = p.request_batch(req)
            at = WINDOW.shift(fg.Coordinate(batch[SHIFT].data.tolist()))
            y, x = at.offset[1] // 4, at.offset[2] // 4
            assert np.array_equal(batch[RAW].data[Z], volume.raw[y : y + 64, x : x + 64])
            box(whole, at, color, width=2)
            crops.append(
                panel(frame(double(overlay(batch[RAW].data[Z], batch[LABELS].data[Z])), color), f"seed {seed}")
            )
    return [panel(whole, "6 seeds: where the\n64 x 64 request went"), *crops]


def reject(volume: Volume, tmp: str) -> list[Image.Image]:
    mask = np.repeat(half(volume.mask)[..., None] * 200, 3, axis=-1).astype(np.uint8) + 30
    located = volume.source(RAW, MASK_KEY) + fg.RandomLocation(random_shift_key=SHIFT)
    verdicts = []
    with fg.build(located) as p, fg.build(located + fg.Reject(MASK_KEY, min_masked=0.9, max_attempts=1)) as r:
        for seed in range(10):
            req = request(MASK_KEY, roi=WINDOW, seed=seed)
            req[SHIFT] = fg.ArraySpec(nonspatial=True)
            at = WINDOW.shift(fg.Coordinate(p.request_batch(req)[SHIFT].data.tolist()))
            try:
                r.request_batch(req)
                accepted = True
            except UnsatisfiableRequestError:
                accepted = False
            verdicts.append(accepted)
            box(mask, at, GREEN if accepted else RED)
    whole = volume.overview(labels=False)
    with fg.build(located + fg.Reject(MASK_KEY, min_masked=0.9)) as p:
        for seed in range(10):
            req = request(RAW, roi=WINDOW, seed=seed)
            req[SHIFT] = fg.ArraySpec(nonspatial=True)
            box(whole, WINDOW.shift(fg.Coordinate(p.request_batch(req)[SHIFT].data.tolist())), GREEN)
    kept = sum(verdicts)
    return [
        panel(mask, f"10 candidates on MASK:\n{kept} kept, {10 - kept} rejected"),
        panel(whole, "the 10 batches delivered\n(all >= 90% masked)"),
    ]


def merge_provider(volume: Volume, tmp: str) -> list[Image.Image]:
    path = os.path.join(tmp, "labels.zarr")
    group = zarr.open_group(path, mode="w")
    with h5py.File(volume.path, "r") as f:
        array = group.create_array("labels", shape=SHAPE, dtype=np.uint64, chunks=(4, 64, 64))
        array[:] = f[NEURON_IDS][:]
    array.attrs.update({"resolution": list(VS), "offset": [0, 0, 0]})
    hdf5, store = volume.source(RAW), fg.ZarrSource(path, {LABELS: "labels"})
    raw = served(hdf5, request(RAW))[RAW].data[0]
    labels = served(store, request(LABELS))[LABELS].data[0]
    batch = served((hdf5, store) + fg.MergeProvider(), request(RAW, LABELS))
    return [
        panel(grey(raw), "Hdf5Source: RAW"),
        panel(tint(labels).astype(np.uint8), "ZarrSource: LABELS"),
        panel(overlay(batch[RAW].data[0], batch[LABELS].data[0]), "merged: one batch\nwith RAW and LABELS"),
    ]


def random_provider(volume: Volume, tmp: str) -> list[Image.Image]:
    other = Volume(write_em_volume(os.path.join(tmp, "other.h5"), shape=SHAPE, voxel_size=VS, seed=7, cell_size=24))
    pipeline = (volume.source(RAW, LABELS), other.source(RAW, LABELS)) + fg.RandomProvider(random_provider_key=CHOICE)
    panels = []
    with fg.build(pipeline) as p:
        for seed in range(6):
            req = request(RAW, LABELS, seed=seed)
            req[CHOICE] = fg.ArraySpec(nonspatial=True)
            batch = p.request_batch(req)
            choice = int(batch[CHOICE].data)
            image = frame(overlay(batch[RAW].data[0], batch[LABELS].data[0]), COLORS[choice])
            panels.append(
                panel(image, f"seed {seed}: upstream {choice}\n({'volume A' if choice == 0 else 'volume B'})")
            )
    return panels


def stack(volume: Volume, tmp: str) -> list[Image.Image]:
    batch = served(volume.source(RAW, LABELS) + fg.RandomLocation() + fg.Stack(4), request(RAW, LABELS, roi=WINDOW))
    shape = batch[RAW].data.shape
    return [
        panel(double(overlay(batch[RAW].data[i, Z], batch[LABELS].data[i, Z])), f"RAW[{i}], section {Z}")
        for i in range(shape[0])
    ] + [panel(np.full((128, 8, 3), 255, np.uint8), f"one batch:\nRAW {shape}")]


def unsqueeze_squeeze(name: str) -> Callable[[Volume, str], list[Image.Image]]:
    def make(volume: Volume, tmp: str) -> list[Image.Image]:
        one = volume.source(RAW) + fg.Unsqueeze([RAW])
        before, node = (volume.source(RAW), fg.Unsqueeze([RAW])) if name == "Unsqueeze" else (one, fg.Squeeze([RAW]))
        a = served(before, request(RAW))[RAW].data
        b = served(before + node, request(RAW))[RAW].data
        return [
            panel(grey(a.reshape(a.shape[-2:])), f"before: {a.shape}\n= {AXES[len(a.shape)]}"),
            panel(grey(b.reshape(b.shape[-2:])), f"after {name}([RAW], axis=0):\n{b.shape} = {AXES[len(b.shape)]}"),
        ]

    return make


def snapshot(volume: Volume, tmp: str) -> list[Image.Image]:
    out = os.path.join(tmp, "snapshots")
    node = fg.Snapshot({RAW: "volumes/raw", LABELS: "volumes/labels"}, output_dir=out, every=2)
    with fg.build(volume.source(RAW, LABELS) + fg.RandomLocation() + node) as p:
        for seed in range(4):
            p.request_batch(request(RAW, LABELS, roi=WINDOW, seed=seed))
    panels = []
    for name in sorted(os.listdir(out)):
        with h5py.File(os.path.join(out, name), "r") as f:
            raw, labels = f["volumes/raw"][Z], f["volumes/labels"][Z]
        panels.append(panel(double(grey(raw)), f"{name}: volumes/raw\nsection {Z}"))
        panels.append(panel(double(tint(labels).astype(np.uint8)), f"{name}: volumes/labels\nsection {Z}"))
    files = ", ".join(sorted(os.listdir(out)))
    return panels + [panel(np.full((128, 8, 3), 255, np.uint8), f"4 batches, every=2:\nwrote {files}")]


def pre_cache(volume: Volume, tmp: str) -> list[Image.Image]:
    pipeline = volume.source(RAW) + fg.Normalize(RAW) + fg.RandomLocation() + fg.SimpleAugment(transpose_only=(1, 2))
    seeds = [0, 1, 2]
    with fg.build(pipeline + fg.PreCache(cache_size=4, num_workers=2)) as p:
        cached = [p.request_batch(request(RAW, roi=WINDOW, seed=s))[RAW].data[Z] for s in seeds]
    with fg.build(pipeline) as p:
        direct = [p.request_batch(request(RAW, roi=WINDOW, seed=s))[RAW].data[Z] for s in seeds]
    panels = []
    for s, a, b in zip(seeds, cached, direct, strict=True):
        panels.append(panel(frame(double(grey(a)), COLORS[2]), f"seed {s}: PreCache\n(2 workers)"))
        panels.append(panel(double(grey(b)), f"seed {s}: without\nidentical: {np.array_equal(a, b)}"))
    return panels


def print_profiling_stats(volume: Volume, tmp: str) -> list[Image.Image]:
    table = io.StringIO()
    pipeline = volume.source(RAW) + fg.Normalize(RAW) + fg.RandomLocation() + fg.SimpleAugment(transpose_only=(1, 2))
    with fg.build(pipeline + fg.PrintProfilingStats(every=8, stream=table)) as p:
        for seed in range(8):
            p.request_batch(request(RAW, roi=WINDOW, seed=seed))
    return [panel(text_image(table.getvalue()), "printed after 8 batches (every=8)")]


PICTURES: dict[str, Callable[[Volume, str], list[Image.Image]]] = {
    "ArraySource": array_source,
    "Crop": crop,
    "GraphSource": graph_source,
    "Hdf5Source": hdf5_source,
    "MergeProvider": merge_provider,
    "Normalize": normalize,
    "Pad": pad,
    "PreCache": pre_cache,
    "PrecomputedSource": precomputed_source,
    "PrintProfilingStats": print_profiling_stats,
    "RandomLocation": random_location,
    "RandomProvider": random_provider,
    "Reject": reject,
    "Snapshot": snapshot,
    "Squeeze": unsqueeze_squeeze("Squeeze"),
    "Stack": stack,
    "Unsqueeze": unsqueeze_squeeze("Unsqueeze"),
    "ZarrSource": zarr_source,
}


def main(out_dir: str = HERE) -> list[str]:
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        volume = Volume(write_em_volume(os.path.join(tmp, "em.h5"), shape=SHAPE, voxel_size=VS, seed=1))
        for name, make in PICTURES.items():
            start = time.perf_counter()
            path = os.path.join(out_dir, f"{name}.png")
            save(path, make(volume, tmp))
            written.append(f"{path} ({time.perf_counter() - start:.1f} s)")
    return written


if __name__ == "__main__":
    print("\n".join(main(*sys.argv[1:])))
