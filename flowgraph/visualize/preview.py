"""Batch previews: PNG montages of sections through the arrays of batches.

``preview(batch, "preview.png")`` draws, for every array, a section (the central one by
default): images in grey, labels in distinct colours, masks as tinted overlays on the images,
points as dots. Several batches become rows of one montage, drawn at one common scale and
each centred on its own ROI, so a context region shows as a larger picture around the same
centre. ``preview_pipeline`` runs a pipeline and can show the same sample after every node
(``steps=True``), to see what each augmentation did.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.errors import ConfigError
from flowgraph.graph import Graph
from flowgraph.keys import Key
from flowgraph.observe import observing
from flowgraph.pipeline import Pipeline, build
from flowgraph.provider import BatchProvider
from flowgraph.request import BatchRequest, fresh_seed
from flowgraph.rng import seed_stream
from flowgraph.roi import Roi

BACKGROUND = (38, 42, 50)
OVERLAY_COLORS = [(0, 200, 255), (255, 60, 200), (255, 200, 0), (120, 255, 80)]
POINT_COLOR = (255, 230, 0)


@dataclass
class _Panel:
    key: Key
    kind: str  # image | labels
    title: str
    under: Key | None = None  # labels drawn over this image (a blended panel)


def array_kind(array: Array) -> str:
    """``image``, ``labels`` or ``mask``: how an array is drawn."""
    data = array.data
    if array.spec.interpolatable or data.dtype.kind == "f":
        return "image"
    if data.dtype == np.bool_:
        return "mask"
    if data.dtype.kind in "ui" and data.size and data.dtype.itemsize <= 2:
        lo, hi = data.min(), data.max()
        if lo >= 0 and hi <= 1:
            return "mask"
    return "labels"


def label_colors(ids: np.ndarray) -> np.ndarray:
    """Distinct, stable RGB colours (uint8, shape ids.shape + (3,)) for integer ids; 0 is black."""
    h = ids.astype(np.uint64, copy=False) * np.uint64(0x9E3779B97F4A7C15)
    h ^= h >> np.uint64(29)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(32)
    rgb = np.stack([(h >> np.uint64(s)) & np.uint64(255) for s in (0, 8, 16)], axis=-1).astype(np.uint8)
    rgb = (rgb // 2 + 100).astype(np.uint8)  # bright, never black
    rgb[ids == 0] = 0
    return rgb


def _to_grey(section: np.ndarray) -> np.ndarray:
    """uint8 grey values of an image section: uint8 as is, floats in [0, 1] as is, else min-max."""
    if section.dtype == np.uint8:
        return section
    data = section.astype(np.float64, copy=False)
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return np.zeros(section.shape, np.uint8)
    lo, hi = float(finite.min()), float(finite.max())
    if section.dtype.kind == "f" and lo >= 0.0 and hi <= 1.0:
        lo, hi = 0.0, 1.0
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    return np.clip((np.nan_to_num(data, nan=lo) - lo) * scale, 0, 255).astype(np.uint8)


def _spatial_dims(array: Array) -> int:
    return 0 if array.spec.nonspatial or array.spec.roi is None else array.spec.roi.dims


def _plane_axes(dims: int, axis: int) -> tuple[int, int]:
    """The two spatial axes shown: the last two that are not ``axis``."""
    rest = [d for d in range(dims) if d != axis]
    return rest[-2], rest[-1]


def _section(array: Array, axis: int, position: int | None, center: Any) -> tuple[np.ndarray, str]:
    """The 2-D (or (3, h, w) RGB) section of ``array`` through world ``position`` along ``axis``."""
    dims = _spatial_dims(array)
    data = array.data
    lead = data.ndim - dims
    roi, vs = array.roi, array.voxel_size
    index: list[Any] = []
    note = ""
    if lead:
        channels = int(np.prod(data.shape[:lead]))
        data = data.reshape((channels, *data.shape[lead:]))
        if channels == 3:
            index.append(slice(None))
            note = " [3 channels as RGB]"
        else:
            index.append(0)
            note = f" [channel 0 of {channels}]"
    if dims == 2:
        return data[tuple(index)] if index else data, note
    plane = _plane_axes(dims, axis % dims)
    for d in range(dims):
        if d in plane:
            index.append(slice(None))
            continue
        world = position if (d == axis % dims and position is not None) else center[d]
        i = int((world - roi.begin[d]) // vs[d])  # type: ignore[operator]
        i = min(max(i, 0), data.shape[(1 if lead else 0) + d] - 1)
        index.append(i)
        if d == axis % dims:
            note = f" [{'zyx'[d] if dims == 3 else 'axis ' + str(d)}={i}]" + note
    return data[tuple(index)], note


def _resample(
    section: np.ndarray,
    roi: Roi,
    vs: Any,
    plane: tuple[int, int],
    frame: tuple[float, float, float, float],
    scale: float,
    shape: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-neighbour samples of ``section`` on the panel's pixel grid, and where it has data."""
    (fy, fx, _, _), (h, w) = frame, shape
    ay, ax = plane
    wy = fy + (np.arange(h) + 0.5) / scale
    wx = fx + (np.arange(w) + 0.5) / scale
    iy = np.floor((wy - roi.begin[ay]) / vs[ay]).astype(np.int64)  # type: ignore[operator]
    ix = np.floor((wx - roi.begin[ax]) / vs[ax]).astype(np.int64)  # type: ignore[operator]
    ny, nx = section.shape[-2:]
    vy = (iy >= 0) & (iy < ny)
    vx = (ix >= 0) & (ix < nx)
    sampled = section[..., np.clip(iy, 0, ny - 1)[:, None], np.clip(ix, 0, nx - 1)[None, :]]
    return sampled, vy[:, None] & vx[None, :]


def _frame(batch: Batch, axis: int) -> tuple[Roi | None, tuple[int, int] | None]:
    total = None
    plane = None
    for array in batch.arrays().values():
        dims = _spatial_dims(array)
        if dims < 2:
            continue
        plane = _plane_axes(dims, axis % dims) if dims > 2 else (0, 1)
        total = array.roi if total is None else (total.union(array.roi) if total.dims == array.roi.dims else total)
    return total, plane


def preview(
    batches: Batch | Sequence[Batch] | Mapping[str, Batch],
    path: str | os.PathLike[str] = "preview.png",
    axis: int = 0,
    position: int | None = None,
    keys: Sequence[Key] | None = None,
    size: int = 256,
    title: str | None = None,
    overlay_labels: bool = True,
) -> str:
    """Write a PNG montage of sections through ``batches``; one row per batch, one column per array.

    Args:
        batches: a Batch, a list of them, or a dict row title -> Batch.
        path: the PNG file to write.
        axis: the spatial axis the section cuts across (0: a z-section of a zyx volume).
        position: world coordinate of the section along ``axis``; default the centre of each
            batch's ROI.
        keys: the keys to show (default all arrays and graphs).
        size: the longest side of a panel, in pixels.
        title: a line of text above the montage.
        overlay_labels: add a column per label array with the labels blended over the first
            image, to check that they stay aligned.

    Images are grey (uint8 as is, floats in [0, 1] as is, other ranges stretched), label arrays
    get one colour per id, masks (0/1 or bool) tint the image panels, graph points within half
    a section of the cut are yellow dots on every panel. Each array is placed at its ROI, so
    a smaller array (labels of a network's output) shows as a smaller window.

    Returns:
        ``path`` as a string.

    Example:
        >>> import numpy as np, os, tempfile, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> spec = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (4, 8, 8)), voxel_size=(1, 1, 1))
        >>> batch = fg.Batch({raw: fg.Array(np.random.default_rng(0).random((4, 8, 8), dtype=np.float32), spec)})
        >>> path = fg.preview(batch, os.path.join(tempfile.mkdtemp(), "p.png"), size=64)
        >>> os.path.getsize(path) > 0
        True
    """
    from PIL import Image, ImageDraw

    rows: list[tuple[str, Batch]]
    if isinstance(batches, Batch):
        rows = [("", batches)]
    elif isinstance(batches, Mapping):
        rows = list(batches.items())  # type: ignore[arg-type]
    elif isinstance(batches, Sequence):
        rows = [(f"sample {i}", b) for i, b in enumerate(batches)]
    else:
        raise ConfigError(f"preview: batches must be a Batch, a list or a dict of them, got {type(batches).__name__}.")
    if not rows or not all(isinstance(b, Batch) for _, b in rows):
        raise ConfigError("preview: give at least one Batch (a list or dict of Batch objects).")
    if not isinstance(size, int) or size < 16:
        raise ConfigError(f"preview: size must be an integer >= 16 pixels, got {size!r}.")
    wanted = None if keys is None else set(keys)
    # columns: image and label arrays in order of first appearance; masks become overlays
    panels: list[_Panel] = []
    masks: list[Key] = []
    seen: set[Key] = set()
    for _, batch in rows:
        for key, value in batch.items():
            if key in seen or (wanted is not None and key not in wanted) or not isinstance(value, Array):
                continue
            if _spatial_dims(value) < 2:
                continue
            seen.add(key)
            kind = array_kind(value)
            if kind == "mask":
                masks.append(key)
            else:
                panels.append(_Panel(key, kind, str(key)))
    if not panels and masks:
        panels = [_Panel(k, "labels", str(k)) for k in masks]
        masks = []
    first_image = next((p.key for p in panels if p.kind == "image"), None)
    if first_image is not None and overlay_labels:
        # one extra column per label array: the labels over the first image, to check their alignment
        panels += [
            _Panel(p.key, "labels", f"{first_image} + {p.key}", first_image) for p in panels if p.kind == "labels"
        ]
    if not panels:
        raise ConfigError("preview: the batches hold no spatial array with 2 or more axes to show.")
    frames = [_frame(b, axis) for _, b in rows]
    extents = [max(f.shape[p[0]], f.shape[p[1]]) for f, p in frames if f is not None and p is not None]  # type: ignore[type-var]
    if not extents or not all(f is not None and f.is_bounded() for f, _ in frames):
        raise ConfigError("preview: every batch needs bounded array ROIs.")
    scale = size / max(extents)  # type: ignore[type-var,operator]
    ph = max(round(f.shape[p[0]] * scale) for f, p in frames)  # type: ignore[union-attr,index,operator]
    pw = max(round(f.shape[p[1]] * scale) for f, p in frames)  # type: ignore[union-attr,index,operator]
    font = _font(12)
    label_w = max([int(font.getlength(name)) + 16 for name, _ in rows] + [0]) if any(n for n, _ in rows) else 0
    head = 34 if title is None else 52
    cell_w, cell_h = pw + 12, ph + 30
    img = Image.new("RGB", (label_w + cell_w * len(panels) + 12, head + cell_h * len(rows) + 24), "white")
    draw = ImageDraw.Draw(img)
    if title:
        draw.text((12, 8), title, fill="black", font=_font(14))
    for r, ((name, batch), (frame, plane)) in enumerate(zip(rows, frames)):
        assert frame is not None and plane is not None
        y0 = head + r * cell_h
        if name:
            draw.text((8, y0 + 18 + ph // 2 - 7), name, fill="black", font=font)
        center = frame.center
        fy = center[plane[0]] - ph / scale / 2  # type: ignore[operator]
        fx = center[plane[1]] - pw / scale / 2  # type: ignore[operator]
        win = (fy, fx, ph / scale, pw / scale)
        overlay_layers = []
        for m, mkey in enumerate(masks):
            marr = batch.get(mkey)
            if isinstance(marr, Array) and _spatial_dims(marr) == frame.dims:
                sec, _ = _section(marr, axis, position, center)
                vals, valid = _resample(sec, marr.roi, marr.voxel_size, plane, win, scale, (ph, pw))
                overlay_layers.append(((vals != 0) & valid, OVERLAY_COLORS[m % len(OVERLAY_COLORS)]))
        points = []
        for gkey, graph in batch.graphs().items():
            if wanted is not None and gkey not in wanted:
                continue
            points.append(_points(graph, axis, position, center, plane, win, scale, batch))
        for c, panel in enumerate(panels):
            x0 = label_w + c * cell_w + 6
            array = batch.get(panel.key)
            canvas = np.empty((ph, pw, 3), np.uint8)
            canvas[:] = BACKGROUND
            caption = panel.title
            if isinstance(array, Array) and _spatial_dims(array) == frame.dims:
                sec, note = _section(array, axis, position, center)
                vals, valid = _resample(sec, array.roi, array.voxel_size, plane, win, scale, (ph, pw))
                if panel.kind == "labels":
                    rgb = label_colors(vals)
                    under = batch.get(panel.under) if panel.under is not None else None
                    if isinstance(under, Array) and _spatial_dims(under) == frame.dims:
                        usec, _ = _section(under, axis, position, center)
                        uvals, uvalid = _resample(usec, under.roi, under.voxel_size, plane, win, scale, (ph, pw))
                        grey = _to_grey(uvals if uvals.ndim == 2 else uvals[0])[..., None].astype(np.float32)
                        rgb = np.where(uvalid[..., None], 0.55 * grey + 0.45 * rgb, rgb).astype(np.uint8)
                        canvas[uvalid] = np.repeat(grey, 3, axis=-1).astype(np.uint8)[uvalid]
                    else:
                        caption += f" {len(np.unique(sec))} ids"
                elif vals.ndim == 3:
                    rgb = np.stack([_to_grey(v) for v in vals], axis=-1)
                else:
                    grey = _to_grey(vals)
                    rgb = np.repeat(grey[..., None], 3, axis=-1)
                    for mask, color in overlay_layers:
                        sel = mask & valid
                        rgb[sel] = (0.7 * rgb[sel] + 0.3 * np.asarray(color)).astype(np.uint8)
                canvas[valid] = rgb[valid]
                caption += f" {array.data.dtype}{note}"
            else:
                caption += " (absent)"
            tile = Image.fromarray(canvas)
            tdraw = ImageDraw.Draw(tile)
            for pts in points:
                for py, px in pts:
                    tdraw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=POINT_COLOR, outline=(0, 0, 0))
            img.paste(tile, (x0, y0 + 22))
            draw.text((x0, y0 + 4), _fit(caption, font, pw + 8), fill="black", font=font)
    legend = []
    if masks:
        legend.append("overlays: " + ", ".join(f"{k}" for k in masks))
    if any(b.graphs() for _, b in rows):
        legend.append("dots: graph points near the section")
    legend.append("each array drawn at its ROI, one common scale")
    draw.text((12, img.height - 18), "; ".join(legend), fill=(110, 110, 110), font=font)
    path = os.fspath(path)
    img.save(path)
    return path


def _points(
    graph: Graph,
    axis: int,
    position: int | None,
    center: Any,
    plane: tuple[int, int],
    win: tuple[float, float, float, float],
    scale: float,
    batch: Batch,
) -> list[tuple[float, float]]:
    if not len(graph) or graph.roi.dims < 2:
        return []
    loc = graph.locations
    dims = graph.roi.dims
    keep = np.ones(len(loc), bool)
    if dims > 2:
        depth = min((a.voxel_size[axis % dims] for a in batch.arrays().values() if _spatial_dims(a) == dims), default=1)  # type: ignore[type-var]
        where = position if position is not None else center[axis % dims]
        keep = np.abs(loc[:, axis % dims] - where) <= depth / 2  # type: ignore[operator]
    fy, fx, h, w = win
    ys = (loc[keep, plane[0]] - fy) * scale
    xs = (loc[keep, plane[1]] - fx) * scale
    inside = (ys >= 0) & (ys < h * scale) & (xs >= 0) & (xs < w * scale)
    return list(zip(ys[inside].tolist(), xs[inside].tolist()))


def _fit(text: str, font: Any, width: float) -> str:
    """``text`` shortened with an ellipsis to fit ``width`` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "...") > width:
        text = text[:-1]
    return text + "..."


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - Pillow without FreeType
        return ImageFont.load_default()


# ------------------------------------------------------------------------------------------------
# previews of a pipeline


def _chain(p: Pipeline) -> list[BatchProvider]:
    """The nodes from the output up to the first source or join (output last)."""
    out = []
    sub = p
    while True:
        out.append(sub.node)
        if len(sub.inputs) != 1:
            break
        sub = sub.inputs[0]
    return out[::-1]


def _same(a: Batch, b: Batch) -> bool:
    """True if ``b`` shows nothing new compared with ``a`` (dropped keys and moved ROIs do not count)."""
    if not set(b) <= set(a):
        return False
    for key in b:
        x, y = a[key], b[key]
        if isinstance(x, Array) and isinstance(y, Array):
            # a node that only moved the ROI (RandomLocation) changed nothing worth a row
            if x.data.shape != y.data.shape or x.data.dtype != y.data.dtype or not np.array_equal(x.data, y.data):
                return False
        elif x is not y:
            return False
    return True


def record_steps(p: Pipeline, request: BatchRequest) -> list[tuple[str, Batch]]:
    """Request ``request`` from the built pipeline ``p`` and return what each node of its main
    chain delivered for it, upstream first, as (title, batch) pairs; nodes that changed nothing
    are left out. The last entry is the batch the pipeline delivered.

    The batch is requested inside ``fg.observing("steps")``: every node adds a copy of what it
    delivered to the batch's records, also in PreCache's worker processes, so the nodes
    upstream of a PreCache show like the others.
    """
    chain = _chain(p)
    with observing("steps"):
        final = p.request_batch(request)
    positions = {node._position: node.name for node in chain}
    delivered: dict[int, Batch] = {}
    for record in final.steps():  # branches and nested pipelines have other positions or names
        if record.position is not None and positions.get(record.position) == record.node:
            delivered[record.position] = record.value
    steps: list[tuple[str, Batch]] = []
    for i, node in enumerate(chain):
        batch = delivered.get(node._position)
        if batch is None:
            continue
        if steps and _same(steps[-1][1], batch):
            continue
        steps.append((("source: " if i == 0 else "after ") + node.name, batch))
    if not steps:
        steps.append(("output", final))
    return steps


def preview_pipeline(
    pipeline: Any,
    request: BatchRequest,
    path: str | os.PathLike[str] = "preview.png",
    samples: int = 1,
    steps: bool = False,
    seed: int | None = None,
    **kwargs: Any,
) -> str:
    """Build ``pipeline``, request ``samples`` batches and write their preview montage.

    Args:
        pipeline: a Pipeline (or node); built here unless it is already built.
        request: the request; the seeds are ``seed, seed + 1, ...`` (``seed`` defaults to the
            request's own seed, else a fresh one).
        path: the PNG file.
        samples: number of batches (rows).
        steps: show each sample after every node of the pipeline's main chain (one row per
            node that changed something), to see what each augmentation did.
        seed: the first seed.
        **kwargs: passed to :func:`preview` (axis, position, keys, size, title).

    Returns:
        ``path`` as a string.
    """
    if not isinstance(request, BatchRequest):
        raise ConfigError(f"preview_pipeline: request must be a BatchRequest, got {type(request).__name__}.")
    if not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"preview_pipeline: samples must be a positive integer, got {samples!r}.")
    base = seed if seed is not None else request.random_seed if request.random_seed is not None else fresh_seed()
    p = Pipeline.coerce(pipeline, "preview_pipeline")

    def run(built: Pipeline) -> dict[str, Batch]:
        rows: dict[str, Batch] = {}
        for i, s in zip(range(samples), seed_stream(base, start=0)):
            req = request.with_seed(s)
            if steps:
                for name, batch in record_steps(built, req):
                    rows[f"{i}: {name}" if samples > 1 else name] = batch
            else:
                rows[f"seed {s}"] = built.request_batch(req)
        return rows

    if p._built:
        rows = run(p)
    else:
        with build(p) as built:
            rows = run(built)
    kwargs.setdefault("title", f"{samples} sample(s), first seed {base}" + (", after each node" if steps else ""))
    return preview(rows, path, **kwargs)


__all__ = ["array_kind", "label_colors", "preview", "preview_pipeline", "record_steps"]
