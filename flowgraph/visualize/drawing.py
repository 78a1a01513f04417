"""Drawing pipelines: a pure-Python layout, SVG and PNG pictures, and ``render`` to a file.

The graph comes from :func:`flowgraph.visualize.to_networkx` (a pipeline passed here is described
there first). Rendering uses the Graphviz ``dot`` program when it is on PATH and a pure-Python
layout otherwise (SVG written directly, PNG drawn with Pillow), so a fresh machine with nothing
but PyPI packages draws the same picture.
"""

from __future__ import annotations

import html
import itertools
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flowgraph.errors import ConfigError
from flowgraph.request import BatchRequest
from flowgraph.visualize.describe import (
    EDGE_COLOR,
    GROWTH_COLOR,
    NESTED_COLOR,
    as_graph,
    edge_lines,
    growth_lines,
    node_lines,
    request_lines,
    to_dot,
    to_mermaid,
    to_text,
)

if TYPE_CHECKING:
    import networkx as nx


# ------------------------------------------------------------------------------------------------
# the pure-Python layout


@dataclass
class _Box:
    nid: str
    title: str
    lines: list[str]
    warn: list[str]
    x: float = 0.0  # centre
    y: float = 0.0  # top
    w: float = 0.0
    h: float = 0.0
    grows: bool = False
    nested: bool = False
    kind: str = "filter"
    children: list[str] = field(default_factory=list)
    span: float = 0.0


@dataclass
class _Edge:
    u: str
    v: str
    lines: list[str]
    grown: bool
    nested: bool
    points: list[tuple[float, float]] = field(default_factory=list)
    label_box: tuple[float, float, float, float] = (0, 0, 0, 0)  # x, y, w, h


@dataclass
class Layout:
    """Boxes and edges placed on a canvas (pixels); consumed by the SVG and PNG writers."""

    width: float
    height: float
    boxes: dict[str, _Box]
    edges: list[_Edge]
    legend: list[str]
    font: float
    small: float
    line: float


Measure = Callable[[str, float, bool], float]


def _mono_measure(text: str, size: float, bold: bool) -> float:
    return len(text) * size * (0.62 if bold else 0.602)


def layout(g: nx.DiGraph, measure: Measure = _mono_measure, font: float = 13.0) -> Layout:
    """Place the nodes of ``g`` as a tree: output at the bottom, sources on top, nested pipelines beside their host."""
    small = font - 2
    line = font * 1.35
    sline = small * 1.35
    pad = 8.0
    gap_x = 24.0
    boxes: dict[str, _Box] = {}
    for nid, d in g.nodes(data=True):
        lines = node_lines(d)
        warn = growth_lines(d)
        b = _Box(nid, d["label"], lines, warn, grows=bool(d["grows"] or d["adds"]), nested=d["nested"], kind=d["kind"])
        b.w = 2 * pad + max([measure(d["label"], font, True)] + [measure(t, small, False) for t in lines + warn])
        b.h = 2 * pad + line + sline * len(lines + warn)
        boxes[nid] = b
    req_lines = request_lines(g)
    root = g.graph["output"]
    if req_lines:
        rb = _Box("request", "request", req_lines, [], kind="request")
        rb.w = 2 * pad + max([measure("request", font, True)] + [measure(t, small, False) for t in req_lines])
        rb.h = 2 * pad + line + sline * len(req_lines)
        boxes["request"] = rb
        root = "request"
    edges: dict[tuple[str, str], _Edge] = {}
    for u, v, e in g.edges(data=True):
        edges[(u, v)] = _Edge(u, v, edge_lines(e), bool(e["grown"] or e["added"]), e["kind"] == "nested")
    if req_lines:
        edges[(g.graph["output"], "request")] = _Edge(g.graph["output"], "request", [], False, False)
    for u, v in edges:
        boxes[v].children.append(u)
    for b in boxes.values():
        # data inputs first (in walk order), nested pipelines to the right
        b.children.sort(key=lambda c: (edges[(c, b.nid)].nested, g.nodes[c]["order"] if c in g.nodes else 0))

    def label_size(e: _Edge) -> tuple[float, float]:
        if not e.lines:
            return 0.0, 0.0
        return 2 * 5 + max(measure(t, small, False) for t in e.lines), 2 * 3 + sline * len(e.lines)

    # subtree widths
    def span(nid: str) -> float:
        b = boxes[nid]
        own = b.w
        kids = [span(c) for c in b.children]
        for c in b.children:
            lw, _ = label_size(edges[(c, nid)])
            boxes[c].span = max(boxes[c].span, lw)
        total = sum(kids) + gap_x * max(0, len(kids) - 1)
        b.span = max(own, total, b.span)
        return b.span

    # depth of each box (distance from the root), and the edge-label height needed above each row
    depth: dict[str, int] = {}

    def assign_depth(nid: str, dep: int) -> None:
        depth[nid] = dep
        for c in boxes[nid].children:
            assign_depth(c, dep + 1)

    assign_depth(root, 0)
    span(root)
    # a second pass: spans may have grown because of labels
    span(root)
    max_depth = max(depth.values())
    row_h = [0.0] * (max_depth + 1)
    gap_h = [0.0] * (max_depth + 1)  # gap between row d and the row above it
    for nid, dep in depth.items():
        row_h[dep] = max(row_h[dep], boxes[nid].h)
    for (_u, v), e in edges.items():
        _, lh = label_size(e)
        gap_h[depth[v]] = max(gap_h[depth[v]], lh)
    margin = 16.0
    legend = [
        "arrows: data flow (sources at the top); labels: the request sent upstream along each edge, in voxels",
    ]
    if any(e.grown for e in edges.values()):
        legend.append("orange: a node grows the request it sends upstream (context for a transform)")
    if any(b.nested for b in boxes.values()):
        legend.append("dashed: a nested pipeline (a parameter of its host node)")
    # y positions: the deepest row at the top
    tops = [0.0] * (max_depth + 1)
    y = margin
    for dep in range(max_depth, -1, -1):
        tops[dep] = y
        y += row_h[dep]
        if dep > 0:
            y += gap_h[dep - 1] + 28.0
    height = y + margin + len(legend) * sline + 8

    def place(nid: str, left: float) -> None:
        b = boxes[nid]
        b.x = left + b.span / 2
        b.y = tops[depth[nid]] + (row_h[depth[nid]] - b.h) / 2 if depth[nid] > 0 else tops[0]
        total = sum(boxes[c].span for c in b.children) + gap_x * max(0, len(b.children) - 1)
        x = left + (b.span - total) / 2
        for c in b.children:
            place(c, x)
            x += boxes[c].span + gap_x

    place(root, margin)
    width = margin * 2 + boxes[root].span
    width = max(width, margin * 2 + max(measure(t, small, False) for t in legend))
    for e in edges.values():
        bu, bv = boxes[e.u], boxes[e.v]
        x0, y0 = bu.x, bu.y + bu.h
        x1, y1 = bv.x, bv.y
        lw, lh = label_size(e)
        gap_top = y0
        bend = tops[depth[e.v]] - 14.0  # just above the target row
        if abs(x0 - x1) < 0.5:
            e.points = [(x0, y0), (x1, y1)]
        else:
            e.points = [(x0, y0), (x0, bend), (x1, bend), (x1, y1)]
        e.label_box = (x0 - lw / 2, gap_top + 8.0, lw, lh)
    return Layout(width, height, boxes, list(edges.values()), legend, font, small, line)


# ------------------------------------------------------------------------------------------------
# SVG


def _svg_text(
    x: float, y: float, text: str, size: float, color: str = "#212529", bold: bool = False, anchor: str = "start"
) -> str:
    weight = ' font-weight="bold"' if bold else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:.1f}" fill="{color}"{weight} '
        f'text-anchor="{anchor}">{html.escape(text)}</text>'
    )


def to_svg(obj: Any, request: BatchRequest | None = None) -> str:
    """An SVG picture of the pipeline, laid out in pure Python (no Graphviz needed)."""
    g = as_graph(obj, request)
    lay = layout(g)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{lay.width:.0f}" height="{lay.height:.0f}" '
        f'viewBox="0 0 {lay.width:.0f} {lay.height:.0f}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace">',
        "<defs>",
        *(
            f'<marker id="arrow{n}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
            f'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="{c}"/></marker>'
            for n, c in (("", EDGE_COLOR), ("G", GROWTH_COLOR), ("N", NESTED_COLOR))
        ),
        "</defs>",
        f'<rect width="{lay.width:.0f}" height="{lay.height:.0f}" fill="white"/>',
    ]
    for e in lay.edges:
        color = GROWTH_COLOR if e.grown else NESTED_COLOR if e.nested else EDGE_COLOR
        marker = "G" if e.grown else "N" if e.nested else ""
        dash = ' stroke-dasharray="6,4"' if e.nested else ""
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in e.points)
        out.append(
            f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="{3 if e.grown else 1.5}"'
            f'{dash} marker-end="url(#arrow{marker})"/>'
        )
    for e in lay.edges:
        if not e.lines:
            continue
        x, y, w, h = e.label_box
        color = GROWTH_COLOR if e.grown else "#343a40"
        out.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="3" fill="white" '
            f'stroke="{color if e.grown else "#dee2e6"}"/>'
        )
        for i, t in enumerate(e.lines):
            out.append(_svg_text(x + 5, y + 3 + lay.small * 1.35 * (i + 0.8), t, lay.small, color))
    for b in lay.boxes.values():
        x, y = b.x - b.w / 2, b.y
        fill = "#fff9db" if b.kind == "request" else "#e7f5ff" if b.kind == "source" else "#f8f9fa"
        stroke = GROWTH_COLOR if b.grows else NESTED_COLOR if b.nested else "#495057"
        dash = ' stroke-dasharray="6,4"' if b.nested else ""
        out.append(f"<g><title>{html.escape(b.title)}</title>")
        out.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{b.w:.1f}" height="{b.h:.1f}" rx="6" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{2.5 if b.grows else 1.2}"{dash}/>'
        )
        out.append(_svg_text(x + 8, y + 8 + lay.font, b.title, lay.font, bold=True))
        ty = y + 8 + lay.line
        for t in b.lines:
            ty += lay.small * 1.35
            out.append(_svg_text(x + 8, ty - 3, t, lay.small, "#495057"))
        for t in b.warn:
            ty += lay.small * 1.35
            out.append(_svg_text(x + 8, ty - 3, t, lay.small, GROWTH_COLOR, bold=True))
        out.append("</g>")
    ly = lay.height - 8 - len(lay.legend) * lay.small * 1.35
    for t in lay.legend:
        ly += lay.small * 1.35
        out.append(_svg_text(16, ly, t, lay.small, "#868e96"))
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------------
# PNG (Pillow)


def _font(size: float) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - Pillow without FreeType
        return ImageFont.load_default()


def to_png(obj: Any, path: str | os.PathLike[str], request: BatchRequest | None = None, scale: float = 1.5) -> str:
    """Draw the pipeline to a PNG file with Pillow (no Graphviz needed); returns the path."""
    from PIL import Image, ImageDraw

    g = as_graph(obj, request)
    font_size = 13.0 * scale
    regular = _font(font_size)
    small_font = _font(font_size - 2 * scale)
    cache: dict[tuple[str, float], float] = {}

    def measure(text: str, size: float, bold: bool) -> float:
        f = regular if size >= font_size else small_font
        key = (text, size)
        if key not in cache:
            cache[key] = float(f.getlength(text)) * (1.06 if bold else 1.0)
        return cache[key]

    lay = layout(g, measure, font_size)
    img = Image.new("RGB", (int(lay.width) + 1, int(lay.height) + 1), "white")
    draw = ImageDraw.Draw(img)
    lw = max(1, round(1.5 * scale))
    for e in lay.edges:
        color = GROWTH_COLOR if e.grown else NESTED_COLOR if e.nested else EDGE_COLOR
        width = max(2, round(3 * scale)) if e.grown else lw
        pts = e.points
        for (x0, y0), (x1, y1) in itertools.pairwise(pts):
            if e.nested:
                _dashed(draw, (x0, y0), (x1, y1), color, width, 6 * scale)
            else:
                draw.line([(x0, y0), (x1, y1)], fill=color, width=width)
        (xa, _), (xb, yb) = pts[-2], pts[-1]
        size = 6 * scale
        if abs(xb - xa) < 0.5:
            draw.polygon([(xb, yb), (xb - size, yb - 1.6 * size), (xb + size, yb - 1.6 * size)], fill=color)
    for e in lay.edges:
        if not e.lines:
            continue
        x, y, w, h = e.label_box
        color = GROWTH_COLOR if e.grown else "#343a40"
        draw.rounded_rectangle(
            [x, y, x + w, y + h],
            radius=3 * scale,
            fill="white",
            outline=GROWTH_COLOR if e.grown else "#dee2e6",
            width=lw,
        )
        for i, t in enumerate(e.lines):
            draw.text((x + 5, y + 3 + lay.small * 1.35 * i), t, fill=color, font=small_font)
    for b in lay.boxes.values():
        x, y = b.x - b.w / 2, b.y
        fill = "#fff9db" if b.kind == "request" else "#e7f5ff" if b.kind == "source" else "#f8f9fa"
        stroke = GROWTH_COLOR if b.grows else NESTED_COLOR if b.nested else "#495057"
        draw.rounded_rectangle(
            [x, y, x + b.w, y + b.h],
            radius=6 * scale,
            fill=fill,
            outline=stroke,
            width=max(2, round(2.5 * scale)) if b.grows else lw,
        )
        if b.nested:
            _dashed_rect(draw, x, y, b.w, b.h, fill)
        draw.text((x + 8, y + 8), b.title, fill="#212529", font=regular)
        draw.text((x + 8.6, y + 8), b.title, fill="#212529", font=regular)  # poor man's bold
        ty = y + 8 + lay.line
        for t in b.lines:
            draw.text((x + 8, ty), t, fill="#495057", font=small_font)
            ty += lay.small * 1.35
        for t in b.warn:
            draw.text((x + 8, ty), t, fill=GROWTH_COLOR, font=small_font)
            draw.text((x + 8.5, ty), t, fill=GROWTH_COLOR, font=small_font)
            ty += lay.small * 1.35
    ly = lay.height - 8 - len(lay.legend) * lay.small * 1.35
    for t in lay.legend:
        draw.text((16, ly), t, fill="#868e96", font=small_font)
        ly += lay.small * 1.35
    path = os.fspath(path)
    img.save(path)
    return path


def _dashed(draw: Any, a: tuple[float, float], b: tuple[float, float], color: str, width: int, dash: float) -> None:
    (x0, y0), (x1, y1) = a, b
    length = max(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5, 1e-6)
    n = int(length // (2 * dash)) + 1
    for i in range(n):
        t0, t1 = (2 * i * dash) / length, min(1.0, (2 * i + 1) * dash / length)
        draw.line(
            [(x0 + (x1 - x0) * t0, y0 + (y1 - y0) * t0), (x0 + (x1 - x0) * t1, y0 + (y1 - y0) * t1)],
            fill=color,
            width=width,
        )


def _dashed_rect(draw: Any, x: float, y: float, w: float, h: float, fill: str) -> None:
    """Break the outline into dashes by painting gaps in the fill colour."""
    step = 12.0
    for i in range(int(w // step)):
        gx = x + 8 + i * step
        if gx + 5 < x + w - 8:
            draw.line([(gx, y), (gx + 5, y)], fill="white", width=3)
            draw.line([(gx, y + h), (gx + 5, y + h)], fill="white", width=3)


# ------------------------------------------------------------------------------------------------
# render


FORMATS = {".svg": "svg", ".png": "png", ".dot": "dot", ".gv": "dot", ".mmd": "mermaid", ".txt": "text"}


def graphviz_available() -> bool:
    """True if the Graphviz ``dot`` program is on PATH."""
    return shutil.which("dot") is not None


def render(obj: Any, path: str | os.PathLike[str], request: BatchRequest | None = None, engine: str = "auto") -> str:
    """Write a picture of the pipeline to ``path``; the format follows the suffix.

    Args:
        obj: a pipeline (or node) or a graph from :func:`to_networkx`.
        path: ``.svg`` or ``.png`` (a picture), ``.dot``/``.gv`` (Graphviz source), ``.mmd``
            (Mermaid), ``.txt`` (a text tree).
        request: negotiate this request and label the edges with it (pipelines only).
        engine: ``"auto"`` (Graphviz ``dot`` if on PATH, else pure Python), ``"dot"`` or
            ``"python"``.

    Returns:
        ``path`` as a string.

    Raises:
        ConfigError: an unknown suffix or engine, or ``engine="dot"`` without Graphviz.
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    fmt = FORMATS.get(suffix)
    if fmt is None:
        raise ConfigError(f"render: cannot write {path!r}; use one of {', '.join(sorted(FORMATS))} as the file suffix.")
    if engine not in ("auto", "dot", "python"):
        raise ConfigError(f"render: engine must be 'auto', 'dot' or 'python', got {engine!r}.")
    if engine == "dot" and not graphviz_available():
        raise ConfigError(
            "render: engine='dot' needs the Graphviz program dot on PATH; install graphviz or use engine='python'."
        )
    g = as_graph(obj, request)
    if fmt in ("dot", "mermaid", "text"):
        text = {"dot": to_dot, "mermaid": to_mermaid, "text": to_text}[fmt](g)
        _atomic_write_text(path, text)
        return path
    if engine != "python" and graphviz_available():
        _run_dot(to_dot(g), fmt, path)
        return path
    if fmt == "svg":
        _atomic_write_text(path, to_svg(g))
        return path
    return to_png(g, path)


def _atomic_write_text(path: str, text: str) -> None:
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _run_dot(source: str, fmt: str, path: str) -> None:
    dot = shutil.which("dot")
    assert dot is not None
    result = subprocess.run(
        [dot, f"-T{fmt}", "-o", path], input=source.encode(), capture_output=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise ConfigError(
            f"render: Graphviz dot failed ({result.stderr.decode(errors='replace').strip()[:200]}); "
            "use engine='python' to draw without Graphviz."
        )


__all__ = [
    "Layout",
    "graphviz_available",
    "layout",
    "render",
    "to_png",
    "to_svg",
]
