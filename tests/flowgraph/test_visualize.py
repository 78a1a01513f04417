"""Pipeline graphs: structure, the dry-run negotiation along edges, DOT/Mermaid/SVG/PNG outputs."""

from __future__ import annotations

import os
import re
import stat
import xml.etree.ElementTree as ET

import networkx as nx
import numpy as np
import pytest
from PIL import Image

import flowgraph as fg
from flowgraph.provider import Negotiation
from flowgraph.visualize import describe as visualize
from flowgraph.visualize import drawing
from flowgraph.visualize.describe import GROWTH_COLOR, to_dot, to_mermaid, to_networkx, to_text
from flowgraph.visualize.drawing import render, to_png, to_svg

RAW = fg.ArrayKey("RAW")
LABELS = fg.ArrayKey("LABELS")
MASK = fg.ArrayKey("MASK")
VS = (4, 2, 2)
SHAPE = (10, 40, 40)  # voxels


class Grow(fg.BatchFilter):
    """Needs ``margin`` voxels of context around every requested array (like a transform)."""

    def __init__(self, margin: tuple[int, int, int]) -> None:
        self.margin = margin

    def setup(self) -> None:
        for key in self.spec.array_specs():
            self.updates(key)

    def prepare(self, request: fg.BatchRequest) -> fg.BatchRequest:
        deps = fg.BatchRequest(random_seed=request.random_seed)
        for key, spec in request.array_specs().items():
            grown = spec.copy()
            grown.roi = spec.roi.grow(
                tuple(m * v for m, v in zip(self.margin, VS)), tuple(m * v for m, v in zip(self.margin, VS))
            )
            deps[key] = grown
        return deps

    def process(self, batch: fg.Batch, request: fg.BatchRequest) -> fg.Batch:
        return fg.Batch({k: batch[k].crop(request[k].roi) for k in request if k in batch})


class Counting(fg.ArraySource):
    """An ArraySource that counts how often it was asked for data."""

    calls = 0

    def provide(self, request: fg.BatchRequest) -> fg.Batch:
        Counting.calls += 1
        return super().provide(request)


def array(dtype: type = np.float32, value: int = 0) -> fg.Array:
    roi = fg.Roi((0, 0, 0), tuple(s * v for s, v in zip(SHAPE, VS)))
    return fg.Array(np.full(SHAPE, value, dtype), fg.ArraySpec(roi=roi, voxel_size=VS))


def known_pipeline(source_cls: type = fg.ArraySource) -> tuple[fg.Pipeline, list[fg.BatchProvider]]:
    nodes = [
        source_cls(RAW, array(np.uint8)),
        source_cls(MASK, array(np.uint8, 1)),
        fg.MergeProvider(),
        fg.Normalize(RAW),
        Grow((1, 3, 2)),
        fg.Reject(mask=MASK, min_masked=0.5),
    ]
    pipeline = (nodes[0], nodes[1]) + nodes[2] + nodes[3] + nodes[4] + nodes[5]
    return pipeline, nodes


def request() -> fg.BatchRequest:
    req = fg.BatchRequest(random_seed=5)
    req[RAW] = fg.ArraySpec(roi=fg.Roi((8, 20, 20), (16, 20, 20)))  # 4 x 10 x 10 voxels
    return req


def node_by_cls(g: nx.DiGraph, cls: str) -> str:
    (nid,) = [n for n, d in g.nodes(data=True) if d["cls"] == cls]
    return nid


def test_structure_of_a_known_pipeline() -> None:
    pipeline, _ = known_pipeline()
    g = to_networkx(pipeline)
    assert g.number_of_nodes() == 6 and g.number_of_edges() == 5
    order = [g.nodes[n]["cls"] for n in nx.topological_sort(g)]
    assert order[:2] == ["ArraySource", "ArraySource"]
    assert order[2:] == ["MergeProvider", "Normalize", "Grow", "Reject"]
    assert g.graph["output"] == node_by_cls(g, "Reject")
    merge = node_by_cls(g, "MergeProvider")
    assert g.nodes[merge]["kind"] == "join"
    assert {g.nodes[u]["kind"] for u in g.predecessors(merge)} == {"source"}
    normalize = g.nodes[node_by_cls(g, "Normalize")]
    assert normalize["updates"] == {"RAW": "float32 10x40x40 vx @ 4x2x2"}
    assert normalize["changes"] == {"RAW": "float32"}
    assert normalize["label"] == "Normalize(RAW)"
    reject = g.nodes[node_by_cls(g, "Reject")]
    # only what differs from the signature defaults (min_masked=None resolves to 0.5 when no min_count is given)
    assert reject["params"] == {"mask": "MASK", "min_masked": "0.5"}
    sources = [g.nodes[u] for u in g.predecessors(merge)]
    assert sorted(s["provides"]["RAW"] if "RAW" in s["provides"] else s["provides"]["MASK"] for s in sources) == [
        "uint8 10x40x40 vx @ 4x2x2",
        "uint8 10x40x40 vx @ 4x2x2",
    ]
    assert all(e["request"] is None for _, _, e in g.edges(data=True))
    assert not any(d["nested"] for _, d in g.nodes(data=True))


def test_edges_carry_the_negotiated_request() -> None:
    pipeline, _ = known_pipeline()
    g = to_networkx(pipeline, request())
    grow, normalize, reject, merge = (node_by_cls(g, c) for c in ("Grow", "Normalize", "Reject", "MergeProvider"))
    requested = fg.Roi((8, 20, 20), (16, 20, 20))
    grown = fg.Roi((4, 14, 16), (24, 32, 28))  # margin (1, 3, 2) voxels of (4, 2, 2)
    # Reject -> Grow: the caller's RAW plus the mask over the same window (added by Reject)
    edge = g.edges[grow, reject]
    assert edge["request"][RAW].roi == requested
    assert edge["request"][MASK].roi == requested
    assert edge["added"] == ["MASK"] and edge["grown"] == {}
    # Grow -> Normalize: both keys grown by the margin
    edge = g.edges[normalize, grow]
    assert edge["rois"] == {"RAW": grown, "MASK": grown}
    assert edge["shapes"] == {"RAW": (6, 16, 14), "MASK": (6, 16, 14)}
    assert edge["grown"] == {"RAW": (2, 6, 4), "MASK": (2, 6, 4)}
    assert g.nodes[grow]["grows"] == {"RAW": (2, 6, 4), "MASK": (2, 6, 4)}
    assert g.nodes[reject]["adds"] == ["MASK"]
    assert g.nodes[normalize]["grows"] == {}
    # MergeProvider splits by key: each source sees only its own key
    for u in g.predecessors(merge):
        e = g.edges[u, merge]
        key = next(iter(g.nodes[u]["provides"]))
        assert list(e["rois"]) == [key] and e["rois"][key] == grown
    assert g.graph["request"][RAW].roi == requested
    assert "RAW 6x16x14  (+2, +6, +4)" in edge_labels(g)


def edge_labels(g: nx.DiGraph) -> str:
    return "\n".join("\n".join(visualize.edge_lines(e)) for _, _, e in g.edges(data=True))


def test_dry_run_reads_no_data_and_leaves_the_pipeline_unbuilt() -> None:
    Counting.calls = 0
    pipeline, _ = known_pipeline(Counting)
    g = to_networkx(pipeline, request())
    assert Counting.calls == 0
    assert g.edges[node_by_cls(g, "Normalize"), node_by_cls(g, "Grow")]["request"] is not None
    assert not pipeline._built
    with fg.build(pipeline) as p:  # still buildable, and usable
        assert p.request_batch(request())[RAW].data.shape == (4, 10, 10)
    assert Counting.calls > 0


def test_a_built_pipeline_is_described_without_rebuilding() -> None:
    pipeline, _ = known_pipeline()
    with fg.build(pipeline) as p:
        g = to_networkx(p, request())
        assert p._built
    assert g.number_of_nodes() == 6


def test_random_location_and_random_provider_rules() -> None:
    a, b = fg.ArraySource(RAW, array()), fg.ArraySource(RAW, array())
    pipeline = (a, b) + fg.RandomProvider() + fg.RandomLocation()
    req = fg.BatchRequest(random_seed=1)
    req.add(RAW, (8, 8, 8))
    g = to_networkx(pipeline, req)
    provider = node_by_cls(g, "RandomProvider")
    sent = [g.edges[u, provider]["requests"] for u in sorted(g.predecessors(provider))]
    # only the branch the seed chooses is asked, as in the real run
    assert sorted(len(r) for r in sent) == [0, 1]
    assert next(r[0] for r in sent if r)[RAW].roi.shape == (8, 8, 8)
    # RandomLocation moved the request into the data: the shifted ROI lies inside it
    roi = g.edges[provider, node_by_cls(g, "RandomLocation")]["rois"]["RAW"]
    assert fg.Roi((0, 0, 0), (40, 80, 80)).contains(roi) and roi.shape == (8, 8, 8)


class Host(fg.BatchFilter):
    """A filter with a pipeline parameter (like DefectAugment's artifact source)."""

    def __init__(self, key: fg.ArrayKey, side: fg.Pipeline) -> None:
        self.key = key
        self.side = side

    def negotiate(self, request: fg.BatchRequest) -> Negotiation:
        negotiation = super().negotiate(request)
        nested = fg.BatchRequest(random_seed=request.random_seed)
        nested[LABELS] = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (4, 10, 10)), voxel_size=VS)
        negotiation.nested = [[nested]]
        return negotiation


def test_nested_pipelines_are_included_and_marked() -> None:
    side_source = fg.ArraySource(LABELS, array(np.uint64))
    side = side_source + Grow((0, 1, 1))
    pipeline = fg.ArraySource(RAW, array()) + Host(RAW, side)
    g = to_networkx(pipeline, request())
    host = node_by_cls(g, "Host")
    nested = [n for n, d in g.nodes(data=True) if d["nested"]]
    assert sorted(g.nodes[n]["cls"] for n in nested) == ["ArraySource", "Grow"]
    assert all(g.nodes[n]["nested_in"] == host and g.nodes[n]["nested_param"] == "side" for n in nested)
    edge = g.edges[node_by_cls(g, "Grow"), host]
    assert edge["kind"] == "nested" and edge["param"] == "side"
    assert edge["rois"] == {"LABELS": fg.Roi((0, 0, 0), (4, 10, 10))}
    inner = g.edges[next(n for n in nested if g.nodes[n]["cls"] == "ArraySource"), node_by_cls(g, "Grow")]
    assert inner["rois"]["LABELS"] == fg.Roi((0, -2, -2), (4, 14, 14))


def test_defect_augment_artifact_source_gets_one_section() -> None:
    art, alpha = fg.ArrayKey("ART"), fg.ArrayKey("ALPHA")
    artifacts = (fg.ArraySource(art, array()), fg.ArraySource(alpha, array())) + fg.MergeProvider()
    pipeline = fg.ArraySource(RAW, array()) + fg.DefectAugment(
        RAW,
        prob_missing=0,
        prob_low_contrast=0,
        prob_artifact=0.5,
        artifact_source=artifacts,
        artifacts=art,
        artifacts_mask=alpha,
    )
    g = to_networkx(pipeline, request())
    host = node_by_cls(g, "DefectAugment")
    (nested_edge,) = [e for u, v, e in g.in_edges(host, data=True) if e["kind"] == "nested"]
    # one request per artifact section the seed draws, each one section (4 world units) thick
    assert nested_edge["requests"]
    for sent in nested_edge["requests"]:
        section = sent[art].roi
        assert section == sent[alpha].roi and section.shape == (4, 20, 20) and (section.offset[0] - 8) % 4 == 0
        assert request()[RAW].roi.contains(section)


def test_precache_is_described_without_starting_workers() -> None:
    cache = fg.PreCache(num_workers=2)
    pipeline = fg.ArraySource(RAW, array()) + cache
    g = to_networkx(pipeline, request())
    assert cache.num_workers == 2 and cache.worker_pids() == []
    assert g.nodes[node_by_cls(g, "PreCache")]["params"]["num_workers"] == "2"
    assert g.edges[node_by_cls(g, "ArraySource"), node_by_cls(g, "PreCache")]["shapes"] == {"RAW": (4, 10, 10)}


def test_request_must_be_a_batch_request() -> None:
    with pytest.raises(fg.ConfigError, match="request must be a BatchRequest"):
        to_networkx(fg.ArraySource(RAW, array()), {RAW: None})  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------
# DOT


def read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def parse_dot(text: str) -> tuple[dict[str, dict[str, str]], list[tuple[str, str, dict[str, str]]]]:
    """A small DOT reader: node and edge statements with their attributes (quoted strings honoured)."""
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|->|[{}\[\];=,]|[A-Za-z_][A-Za-z0-9_.]*|-?\d+(?:\.\d+)?', text)
    assert "".join(re.sub(r'"(?:[^"\\]|\\.)*"', "", text).split()).count('"') == 0, "unterminated string"
    assert tokens[0] == "digraph" and tokens[2] == "{" and tokens[-1] == "}"
    nodes: dict[str, dict[str, str]] = {}
    edges: list[tuple[str, str, dict[str, str]]] = []
    depth = 0
    i = 3
    while i < len(tokens) - 1:
        t = tokens[i]
        if t == "{":
            depth += 1
        elif t == "}":
            depth -= 1
            assert depth >= 0
        elif t in ("graph", "node", "edge", "subgraph", ";", "label", "style", "color"):
            # defaults, cluster headers and cluster attributes: skip to the end of the statement
            while tokens[i] not in (";", "{"):
                i += 1
            if tokens[i] == "{":
                depth += 1
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", t):
            if tokens[i + 1] == "->":
                target = tokens[i + 2]
                attrs, i = read_attrs(tokens, i + 3)
                edges.append((t, target, attrs))
                continue
            if tokens[i + 1] == "=":  # graph attribute
                i += 3
                continue
            attrs, i = read_attrs(tokens, i + 1)
            nodes[t] = attrs
            continue
        i += 1
    assert depth == 0
    return nodes, edges


def read_attrs(tokens: list[str], i: int) -> tuple[dict[str, str], int]:
    attrs: dict[str, str] = {}
    if tokens[i] == "[":
        i += 1
        while tokens[i] != "]":
            name, eq, value = tokens[i], tokens[i + 1], tokens[i + 2]
            assert eq == "=", tokens[i : i + 3]
            attrs[name] = value.strip('"')
            i += 3
            if tokens[i] == ",":
                i += 1
        i += 1
    assert tokens[i] == ";", tokens[i - 2 : i + 2]
    return attrs, i + 1


def test_dot_parses_and_matches_the_graph() -> None:
    pipeline, _ = known_pipeline()
    g = to_networkx(pipeline, request())
    nodes, edges = parse_dot(to_dot(g))
    assert set(nodes) == set(g.nodes) | {"request"}
    assert {(u, v) for u, v, _ in edges} == set(g.edges) | {(g.graph["output"], "request")}
    grow = node_by_cls(g, "Grow")
    assert nodes[grow]["color"] == GROWTH_COLOR
    assert "grows RAW by (+2, +6, +4) vx" in nodes[grow]["label"]
    grown_edges = [a for u, v, a in edges if v == grow]
    assert grown_edges[0]["color"] == GROWTH_COLOR and "RAW 6x16x14" in grown_edges[0]["label"]


def test_dot_of_nested_pipelines_uses_a_cluster() -> None:
    pipeline = fg.ArraySource(RAW, array()) + Host(RAW, fg.Pipeline(fg.ArraySource(LABELS, array(np.uint64))))
    dot = to_dot(pipeline)
    nodes, edges = parse_dot(dot)
    assert "subgraph cluster_nested_0" in dot and len(nodes) == 3 and len(edges) == 2
    assert any(a.get("style") == "dashed" for _, _, a in edges)


def test_dot_escapes_quotes() -> None:
    raw = fg.ArrayKey('we"ird')
    nodes, _ = parse_dot(to_dot(fg.ArraySource(raw, array())))
    assert len(nodes) == 1


# ------------------------------------------------------------------------------------------------
# Mermaid


def test_mermaid_syntax() -> None:
    pipeline, _ = known_pipeline()
    g = to_networkx(pipeline, request())
    text = to_mermaid(g)
    lines = text.strip().splitlines()
    assert lines[0] == "flowchart TB"
    defined = {}
    links = []
    for line in lines[1:]:
        s = line.strip()
        m = re.fullmatch(r'(\w+)\["(.*)"\]', s) or re.fullmatch(r'(\w+)\[/"(.*)"/\]', s)
        if m:
            assert m.group(1) not in defined
            assert '"' not in m.group(2)
            defined[m.group(1)] = m.group(2)
            continue
        m = re.fullmatch(r'(\w+) (-->|-\.->)(?:\|"([^"]*)"\|)? (\w+)', s)
        if m:
            links.append((m.group(1), m.group(4), m.group(3)))
            continue
        m = re.fullmatch(r"linkStyle (\d+) stroke:#[0-9a-f]{6},stroke-width:3px", s)
        if m:
            assert int(m.group(1)) < len(links) + 10
            continue
        assert re.fullmatch(r"style \w+ stroke:#[0-9a-f]{6},stroke-width:3px", s), s
    assert set(defined) == set(g.nodes) | {"request"}
    assert all(u in defined and v in defined for u, v, _ in links)
    assert len(links) == g.number_of_edges() + 1
    styled = [int(i) for i in re.findall(r"linkStyle (\d+)", text)]
    assert all(i < len(links) for i in styled)
    assert {links[i][1] for i in styled} == {node_by_cls(g, "Grow"), node_by_cls(g, "Reject")}


# ------------------------------------------------------------------------------------------------
# pictures


def test_svg_is_well_formed_and_shows_growth() -> None:
    pipeline, _ = known_pipeline()
    svg = to_svg(pipeline_graph := to_networkx(pipeline, request()))
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    texts = ["".join(t.itertext()) for t in root.iter(f"{ns}text")]
    assert "Grow" in texts and "request" in texts
    assert "grows RAW by (+2, +6, +4) vx" in texts
    assert "RAW 6x16x14  (+2, +6, +4)" in texts
    boxes = [r for r in root.iter(f"{ns}rect") if r.get("rx") == "6"]
    assert len(boxes) == pipeline_graph.number_of_nodes() + 1
    assert any(r.get("stroke") == GROWTH_COLOR for r in boxes)
    assert len(list(root.iter(f"{ns}polyline"))) == pipeline_graph.number_of_edges() + 1


def test_png_is_drawn_and_not_blank(tmp_path: os.PathLike[str]) -> None:
    pipeline, _ = known_pipeline()
    path = to_png(pipeline, os.path.join(tmp_path, "p.png"), request())
    with Image.open(path) as img:
        assert img.format == "PNG" and img.width > 300 and img.height > 300
        pixels = np.asarray(img.convert("RGB")).reshape(-1, 3)
    colors, counts = np.unique(pixels, axis=0, return_counts=True)
    assert len(colors) > 20
    assert counts.max() < 0.95 * len(pixels)  # not a blank canvas
    orange = np.array([int(GROWTH_COLOR[i : i + 2], 16) for i in (1, 3, 5)])
    assert np.sum(np.all(pixels == orange, axis=1)) > 100  # the growth highlight is drawn


def test_render_dispatches_on_the_suffix(tmp_path: os.PathLike[str]) -> None:
    pipeline, _ = known_pipeline()
    g = to_networkx(pipeline, request())
    for name in ("g.svg", "g.png", "g.dot", "g.mmd", "g.txt"):
        path = render(g, os.path.join(tmp_path, name), engine="python")
        assert os.path.getsize(path) > 200
    assert read(os.path.join(tmp_path, "g.dot")) == to_dot(g)
    assert read(os.path.join(tmp_path, "g.mmd")) == to_mermaid(g)
    assert read(os.path.join(tmp_path, "g.txt")) == to_text(g)
    assert sorted(os.listdir(tmp_path)) == ["g.dot", "g.mmd", "g.png", "g.svg", "g.txt"]  # no temporaries left
    with pytest.raises(fg.ConfigError, match=r"use one of .* as the file suffix"):
        render(g, os.path.join(tmp_path, "g.jpg"))
    with pytest.raises(fg.ConfigError, match="engine must be"):
        render(g, os.path.join(tmp_path, "g.svg"), engine="neato")


def test_render_uses_graphviz_when_on_path(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = os.path.join(tmp_path, "bin")
    os.mkdir(bindir)
    fake = os.path.join(bindir, "dot")
    with open(fake, "w") as f:  # a stand-in for Graphviz: records its arguments and copies stdin to -o
        f.write('#!/bin/sh\necho "$@" > "$(dirname "$0")/args"\ncat > "$3"\n')
    os.chmod(fake, os.stat(fake).st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", bindir + os.pathsep + os.environ.get("PATH", ""))
    pipeline, _ = known_pipeline()
    g = to_networkx(pipeline, request())
    out = render(g, os.path.join(tmp_path, "g.svg"))
    assert read(out) == to_dot(g)
    assert read(os.path.join(bindir, "args")).split() == ["-Tsvg", "-o", out]
    # the pure-Python engine is still there on demand
    out = render(g, os.path.join(tmp_path, "h.svg"), engine="python")
    assert read(out).startswith("<svg")


def test_render_engine_dot_without_graphviz(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drawing.shutil, "which", lambda name: None)
    with pytest.raises(fg.ConfigError, match="needs the Graphviz program dot"):
        render(fg.ArraySource(RAW, array()), os.path.join(tmp_path, "g.svg"), engine="dot")
    # auto falls back to pure Python
    assert read(render(fg.ArraySource(RAW, array()), os.path.join(tmp_path, "g.svg"))).startswith("<svg")


def test_text_tree() -> None:
    pipeline, _ = known_pipeline()
    text = to_text(pipeline, request())
    lines = text.splitlines()
    assert lines[0] == "request: RAW 4x10x10"
    assert lines[1] == "Reject(MASK)  [adds MASK to the request]"
    assert "  ^ RAW 4x10x10; MASK 4x10x10  (added)" in lines
    assert any(line.strip().startswith("Grow  [grows RAW by (+2, +6, +4) vx") for line in lines)
