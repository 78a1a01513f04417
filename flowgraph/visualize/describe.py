"""Describing pipelines: the dry run, a networkx graph, and text, DOT and Mermaid exports.

``to_networkx(pipeline, request)`` describes the node graph (nested pipelines such as an
artifact source included) and, given a request, the requests negotiated along every edge. The
negotiation is a *dry run*: every node's ``negotiate`` (the same method its real run calls to
decide what to send) is called from the output towards the sources, but no ``process`` runs
and no source is asked for image data (a node may read what it needs to decide its request,
such as RandomLocation's mask or points). ``to_text``, ``to_dot`` and ``to_mermaid``
turn that graph into a text tree, Graphviz source and a Mermaid flowchart; pictures (SVG, PNG)
and writing to files live in :mod:`flowgraph.visualize.drawing`.
"""

from __future__ import annotations

import html
import inspect
from typing import TYPE_CHECKING, Any

from flowgraph.coordinate import Coordinate
from flowgraph.errors import ConfigError
from flowgraph.keys import ArrayKey, GraphKey, Key
from flowgraph.pipeline import Pipeline, build, normalize_request
from flowgraph.provider import BatchFilter, BatchProvider, describing
from flowgraph.request import BatchRequest
from flowgraph.roi import Roi
from flowgraph.specs import ArraySpec, GraphSpec, ProviderSpec, Spec

if TYPE_CHECKING:
    import networkx as nx

GROWTH_COLOR = "#d9480f"
NESTED_COLOR = "#5c7cfa"
EDGE_COLOR = "#495057"

# ------------------------------------------------------------------------------------------------
# the dry run: every node's own ``negotiate`` (the method its real run calls), from the output
# towards the sources; no ``process`` runs


# ------------------------------------------------------------------------------------------------
# descriptions of specs, requests and parameters


def _fmt_shape(shape: Any) -> str:
    return "x".join("inf" if s is None else str(s) for s in shape)


def _voxel_size(key: Key, spec: Spec, fallback: ProviderSpec | None) -> Coordinate | None:
    if isinstance(spec, ArraySpec):
        if spec.voxel_size is not None:
            return spec.voxel_size
        if fallback is not None and key in fallback:
            return fallback[key].voxel_size  # type: ignore[union-attr]
    return None


def voxel_shape_of(key: Key, spec: Spec, fallback: ProviderSpec | None = None) -> tuple[int | None, ...] | None:
    """The shape of ``spec``'s ROI in voxels (None if unknown)."""
    if spec.roi is None or (isinstance(spec, ArraySpec) and spec.nonspatial):
        return None
    vs = _voxel_size(key, spec, fallback)
    if vs is None:
        return None
    return tuple(None if s is None else s // v for s, v in zip(spec.roi.shape, vs))  # type: ignore[operator]


def describe_spec(key: Key, spec: Spec) -> str:
    """``uint8 100x1024x1024 vx @ 40x4x4`` for arrays, ``ROI [..]`` for graphs."""
    if isinstance(spec, GraphSpec):
        return f"graph {spec.roi}" if spec.roi is not None else "graph"
    parts = []
    if spec.dtype is not None:
        parts.append(str(spec.dtype))
    if spec.nonspatial:
        parts.append("nonspatial")
    else:
        shape = voxel_shape_of(key, spec)
        if shape is not None and all(s is not None for s in shape):
            parts.append(f"{_fmt_shape(shape)} vx")
        elif spec.roi is not None and not spec.roi.is_bounded():
            parts.append("unbounded")
        if spec.voxel_size is not None:
            parts.append(f"@ {_fmt_shape(spec.voxel_size)}")
    if spec.interpolatable is False:
        parts.append("(no interp.)")
    return " ".join(parts)


def describe_request_entry(key: Key, spec: Spec, fallback: ProviderSpec | None = None) -> str:
    """``RAW 84x268x268`` (voxels) or, without a voxel size, the world shape."""
    shape = voxel_shape_of(key, spec, fallback)
    if shape is not None:
        return f"{key} {_fmt_shape(shape)}"
    if spec.roi is not None:
        return f"{key} {_fmt_shape(spec.roi.shape)} (world)"
    return str(key)


def _simple(value: Any, depth: int = 0) -> str | None:
    """A short text for configuration values worth showing; None for everything else."""
    if value is None or isinstance(value, (bool, int, float, str, ArrayKey, GraphKey)):
        if isinstance(value, float):
            return f"{value:.4g}"
        return repr(value) if isinstance(value, str) else str(value)
    if isinstance(value, Coordinate):
        return str(tuple(value))
    if isinstance(value, Roi):
        return str(value)
    if depth > 1:
        return None
    if isinstance(value, (tuple, list)):
        items = [_simple(v, depth + 1) for v in value]
        if any(i is None for i in items):
            return None
        return "(" + ", ".join(items) + ")" if isinstance(value, tuple) else "[" + ", ".join(items) + "]"  # type: ignore[arg-type]
    if isinstance(value, dict):
        pairs = [(_simple(k, depth + 1), _simple(v, depth + 1)) for k, v in value.items()]
        if any(a is None or b is None for a, b in pairs):
            return None
        return "{" + ", ".join(f"{a}: {b}" for a, b in pairs) + "}"
    return None


def _defaults(node: BatchProvider) -> dict[str, Any]:
    try:
        params = inspect.signature(type(node).__init__).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return {}
    return {n: p.default for n, p in params.items() if p.default is not inspect.Parameter.empty}


def _is_default(value: Any, default: Any) -> bool:
    if value is default:
        return True
    try:
        if isinstance(value, (tuple, list)) and isinstance(default, (tuple, list)):
            return tuple(value) == tuple(default)
        return bool(value == default)
    except Exception:
        return False


def node_params(node: BatchProvider, limit: int = 60) -> dict[str, str]:
    """The node's public configuration that differs from the defaults, as short texts."""
    defaults = _defaults(node)
    out = {}
    for name, value in vars(node).items():
        if name.startswith("_") or isinstance(value, Pipeline):
            continue
        if name in defaults and _is_default(value, defaults[name]):
            continue
        if isinstance(value, (dict, list, tuple)) and not value:
            continue
        text = _simple(value)
        if text is None:
            continue
        out[name] = text if len(text) <= limit else text[: limit - 3] + "..."
    return out


def _node_kind(sub: Pipeline) -> str:
    if isinstance(sub.node, BatchFilter):
        return "filter"
    return "source" if not sub.inputs else "join"


# ------------------------------------------------------------------------------------------------
# the graph


def _growth(up: BatchRequest, down: BatchRequest, fallback: ProviderSpec | None) -> tuple[dict[str, tuple], list[str]]:
    """Keys whose ROI is larger upstream than downstream (growth in voxels), and keys added upstream."""
    grown: dict[str, tuple] = {}
    added: list[str] = []
    for key, spec in up.items():
        if key not in down:
            added.append(str(key))
            continue
        a, b = spec.roi, down[key].roi
        if a is None or b is None or not a.is_bounded() or not b.is_bounded():
            continue
        if a.shape == b.shape:
            continue
        vs = _voxel_size(key, spec, fallback) or Coordinate((1,) * a.dims)
        diff = tuple((sa - sb) // v for sa, sb, v in zip(a.shape, b.shape, vs))  # type: ignore[operator]
        if any(d > 0 for d in diff):
            grown[str(key)] = diff
    return grown, added


def to_networkx(pipeline: Any, request: BatchRequest | None = None, seed: int = 0) -> nx.DiGraph:
    """The node graph of ``pipeline`` as a ``networkx.DiGraph``; edges point downstream.

    Args:
        pipeline: a Pipeline or a single node. It is set up (and torn down again) unless it is
            already built; sources open their files, but no image data is read (a node may read what
            it needs to decide its request, such as RandomLocation's mask).
        request: if given, each edge carries the requests negotiated along it (a dry run:
            every node's ``negotiate``, the method its real run calls; no ``process``).
        seed: the random seed of the dry run when ``request`` has none (random nodes such as
            ElasticAugment draw their parameters from it).

    Node attributes: ``label`` (the node's name), ``node`` (the node itself), ``cls``, ``kind`` (source/filter/join),
    ``params`` (public configuration that differs from the defaults), ``provides`` and
    ``updates`` (key -> spec summary), ``changes`` (key -> what the node changes in the spec),
    ``spec`` (the node's ProviderSpec), ``nested`` (True inside a nested pipeline),
    ``nested_in``/``nested_param`` (host node id and parameter name), ``order`` (walk order),
    ``grows`` (key -> growth in voxels of the request it sends upstream), ``adds`` (keys it
    adds to the request).

    Edge attributes: ``kind`` ("data" or "nested"), ``requests`` (every BatchRequest sent
    upstream along the edge, in order: several for Stack's repetitions or DefectAugment's
    artifact sections, none for a RandomProvider branch not chosen), ``request`` (the first, or
    None), ``shapes`` (key -> shape in voxels), ``rois`` (key -> ROI in world
    units), ``grown``, ``added``, ``label`` (a one-line summary).

    Graph attributes: ``request`` (the normalized request at the output), ``output`` (the id of
    the output node), ``spec`` (what the pipeline provides).

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> source = fg.ArraySource(raw, fg.Array(np.zeros((10, 10), np.float32),
        ...                         fg.ArraySpec(roi=fg.Roi((0, 0), (10, 10)), voxel_size=(1, 1))))
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((2, 2), (4, 4)))
        >>> g = fg.to_networkx(source + fg.Normalize(raw), request)
        >>> import networkx as nx
        >>> [g.nodes[n]["cls"] for n in nx.topological_sort(g)]
        ['ArraySource', 'Normalize']
        >>> g.edges["n0", "n1"]["label"]
        'RAW 4x4'
    """
    p = Pipeline.coerce(pipeline, "to_networkx")
    if request is not None and not isinstance(request, BatchRequest):
        raise ConfigError(f"to_networkx: request must be a BatchRequest, got {type(request).__name__}.")
    if p._built:
        return _graph(p, request, seed)
    with describing(), build(p) as built:  # nodes skip what only serving needs (PreCache's workers)
        return _graph(built, request, seed)


def _graph(p: Pipeline, request: BatchRequest | None, seed: int) -> nx.DiGraph:
    import networkx as nx  # imported here: worker processes importing flowgraph do not pay for it

    g = nx.DiGraph()
    ids: dict[int, str] = {}

    def add(sub: Pipeline, nested_in: str | None, param: str | None) -> None:
        for s in sub.walk():
            node = s.node
            nid = f"n{len(ids)}"
            ids[id(node)] = nid
            filt = isinstance(node, BatchFilter)
            spec = node.spec
            if filt:
                provided = {str(k): describe_spec(k, spec[k]) for k in spec if k in node._provided}  # type: ignore[attr-defined]
                updated = {str(k): describe_spec(k, spec[k]) for k in spec if k in node._updated}  # type: ignore[attr-defined]
                before = node._upstream[0].spec if node._upstream else ProviderSpec()
                changes = {str(k): spec_changes(before.get(k), spec[k]) for k in spec if k in node._updated}  # type: ignore[attr-defined]
            else:
                provided = {str(k): describe_spec(k, v) for k, v in spec.items()}
                updated = {}
                changes = {}
            g.add_node(
                nid,
                label=node.name,
                node=node,
                cls=type(node).__name__,
                kind=_node_kind(s),
                params=node_params(node),
                provides=provided,
                updates=updated,
                changes=changes,
                spec=spec.copy(),
                nested=nested_in is not None,
                nested_in=nested_in,
                nested_param=param,
                order=len(ids) - 1,
                grows={},
                adds=[],
            )
            for inp in s.inputs:
                g.add_edge(ids[id(inp.node)], nid, **_new_edge("data", ""))
            for attr, value in vars(node).items():
                if isinstance(value, Pipeline):
                    add(value, nid, attr)
                    g.add_edge(ids[id(value.node)], nid, **_new_edge("nested", attr), param=attr)

    add(p, None, None)
    g.graph["output"] = ids[id(p.node)]
    g.graph["spec"] = p.spec.copy()
    g.graph["request"] = None
    if request is None:
        return g
    req = request if request.random_seed is not None else request.with_seed(seed)
    req = normalize_request(req, p.spec)
    g.graph["request"] = req
    _negotiate(g, p, req, ids)
    return g


def _new_edge(kind: str, label: str) -> dict[str, Any]:
    """The attributes of an edge before the dry run fills in what is sent along it."""
    return {
        "kind": kind,
        "request": None,
        "requests": [],
        "shapes": {},
        "rois": {},
        "grown": {},
        "added": [],
        "label": label,
    }


def _annotate_edge(
    g: nx.DiGraph, u: str, v: str, up: BatchRequest, down: BatchRequest | None, fallback: ProviderSpec | None
) -> None:
    """Add ``up`` to the requests sent along ``u -> v``; the first one sent describes the edge."""
    data = g.edges[u, v]
    data["requests"].append(up)
    count = len(data["requests"])
    if count > 1:  # Stack's repetitions, several artifact sections, a node reached twice
        data["label"] = data["label"].split(" (x")[0] + f" (x{count})"
        return
    data["request"] = up
    data["shapes"] = {str(k): voxel_shape_of(k, s, fallback) for k, s in up.items()}
    data["rois"] = {str(k): s.roi for k, s in up.items()}
    if down is not None:
        grown, added = _growth(up, down, fallback)
    else:
        grown, added = {}, []
    data["grown"] = grown
    data["added"] = added
    entries = [describe_request_entry(k, s, fallback) for k, s in up.items()]
    if data["kind"] == "nested":
        entries.insert(0, f"{data.get('param', 'nested')}:")
    data["label"] = ", ".join(entries)
    if grown or added:
        g.nodes[v]["grows"].update(grown)
        g.nodes[v]["adds"].extend(a for a in added if a not in g.nodes[v]["adds"])


def _negotiate(g: nx.DiGraph, p: Pipeline, request: BatchRequest, ids: dict[int, str]) -> None:
    def visit(sub: Pipeline, req: BatchRequest) -> None:
        node = sub.node
        nid = ids[id(node)]
        negotiation = node.negotiate(req)
        for inp, sent in zip(sub.inputs, negotiation.upstream):
            for up in sent:
                _annotate_edge(g, ids[id(inp.node)], nid, up, req, inp.node.spec)
                visit(inp, up)
        for pipe, sent in zip(node.nested_pipelines(), negotiation.nested):
            for up in sent:
                up = normalize_request(up, pipe.spec, pipe.node.name)  # as the nested Pipeline does
                _annotate_edge(g, ids[id(pipe.node)], nid, up, None, pipe.node.spec)
                visit(pipe, up)

    visit(p, request)


# ------------------------------------------------------------------------------------------------
# text, DOT and Mermaid


def as_graph(obj: Any, request: BatchRequest | None) -> nx.DiGraph:
    """``obj`` itself if it is already a graph from :func:`to_networkx`, else its graph."""
    import networkx as nx

    if isinstance(obj, nx.DiGraph):
        return obj
    return to_networkx(obj, request)


def node_lines(data: dict[str, Any], max_params: int = 4) -> list[str]:
    """The text lines of a node box after its title: parameters, then what it provides or changes."""
    title_keys = set(data["label"].partition("(")[2].rstrip(")").split(", ")) if "(" in data["label"] else set()
    params = [
        f"{k}={v}"
        for k, v in data["params"].items()
        if v != "None" and v not in title_keys and not (data["cls"] == "Hdf5Source" and k == "filename")
    ]
    lines = params[:max_params]
    if len(params) > max_params:
        lines.append(f"... {len(params) - max_params} more")
    if data["kind"] == "join":
        items = [f"joins {', '.join(data['provides'])}"] if data["provides"] else []
    else:
        items = [f"provides {k}: {v}" for k, v in data["provides"].items()]
        groups: dict[str, list[str]] = {}
        for k in data["updates"]:
            groups.setdefault(data.get("changes", {}).get(k, ""), []).append(k)
        for change, keys in groups.items():
            items.append(f"updates {', '.join(keys)}" + (f" ({change})" if change else ""))
    lines += items[:5]
    if len(items) > 5:
        lines.append(f"... {len(items) - 5} more keys")
    return lines


def spec_changes(before: Spec | None, after: Spec) -> str:
    """What a node changed in a spec: ``float32``, ``ROI unbounded``, ... (empty if nothing)."""
    if before is None:
        return ""
    out = []
    if isinstance(after, ArraySpec) and isinstance(before, ArraySpec):
        if after.dtype != before.dtype and after.dtype is not None:
            out.append(str(after.dtype))
        if after.voxel_size != before.voxel_size and after.voxel_size is not None:
            out.append(f"voxel size {_fmt_shape(after.voxel_size)}")
        if after.interpolatable != before.interpolatable and after.interpolatable is not None:
            out.append("interpolatable" if after.interpolatable else "not interpolatable")
    if after.roi != before.roi:
        if after.roi is None or not after.roi.is_bounded():
            out.append("ROI unbounded")
        else:
            out.append(f"ROI {after.roi}")
    return ", ".join(out)


def growth_lines(data: dict[str, Any]) -> list[str]:
    out = [f"grows {k} by {_signed(v)} vx" for k, v in data["grows"].items()]
    out += [f"adds {k} to the request" for k in data["adds"]]
    return out


def _signed(diff: tuple) -> str:
    return "(" + ", ".join(f"+{d}" if d > 0 else str(d) for d in diff) + ")"


def edge_lines(data: dict[str, Any]) -> list[str]:
    """The text lines of an edge label: one per requested key, growth marked."""
    req = data["request"]
    lines = []
    if data["kind"] == "nested":
        lines.append(f"nested: {data.get('param', '')}")
    if req is None:
        return lines
    for key, spec in req.items():
        k = str(key)
        text = describe_request_entry(key, spec)
        shape = data["shapes"].get(k)
        if shape is not None:
            text = f"{k} {_fmt_shape(shape)}"
        if k in data["grown"]:
            text += f"  {_signed(data['grown'][k])}"
        if k in data["added"]:
            text += "  (added)"
        lines.append(text)
    return lines


def request_lines(g: nx.DiGraph) -> list[str]:
    req = g.graph.get("request")
    if req is None:
        return []
    return [describe_request_entry(k, s) for k, s in req.items()]


def to_text(obj: Any, request: BatchRequest | None = None) -> str:
    """An indented text tree of the pipeline, output first, with the requests along the edges."""
    g = as_graph(obj, request)
    out: list[str] = []

    def visit(nid: str, indent: str) -> None:
        d = g.nodes[nid]
        extra = "  [" + "; ".join(growth_lines(d)) + "]" if d["grows"] or d["adds"] else ""
        out.append(f"{indent}{d['label']}{extra}")
        for u in sorted(g.predecessors(nid), key=lambda n: g.nodes[n]["order"]):
            e = g.edges[u, nid]
            label = "; ".join(edge_lines(e))
            if label:
                out.append(f"{indent}  ^ {label}")
            visit(u, indent + "  ")

    req = request_lines(g)
    if req:
        out.append("request: " + ", ".join(req))
    visit(g.graph["output"], "")
    return "\n".join(out)


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_lines(lines: list[str]) -> str:
    body = "".join(line.replace("\\", "\\\\").replace('"', '\\"') + "\\l" for line in lines)
    return '"' + body + '"'


def to_dot(obj: Any, request: BatchRequest | None = None) -> str:
    """The graph in Graphviz DOT; edges where a node grows the request are orange and bold.

    ``obj`` is a graph from :func:`to_networkx` or a pipeline (then ``request`` is negotiated).
    """
    g = as_graph(obj, request)
    out = [
        "digraph flowgraph {",
        "  rankdir=TB;",
        '  graph [fontname="Helvetica", fontsize=11, nodesep=0.4, ranksep=0.5];',
        '  node [shape=box, style="rounded,filled", fillcolor="#f8f9fa", color="#495057",'
        ' fontname="Helvetica", fontsize=10];',
        '  edge [color="#495057", fontname="Helvetica", fontsize=9];',
    ]
    nested_hosts: dict[str, list[str]] = {}
    for nid, d in g.nodes(data=True):
        if d["nested"]:
            host = _nested_root_host(g, nid)
            nested_hosts.setdefault(host, []).append(nid)

    def node_stmt(nid: str, d: dict[str, Any]) -> str:
        lines = [d["label"], *node_lines(d), *growth_lines(d)]
        attrs = [f"label={_dot_lines(lines)}"]
        if d["grows"] or d["adds"]:
            attrs.append(f'color="{GROWTH_COLOR}", penwidth=2')
        if d["nested"]:
            attrs.append('style="rounded,filled,dashed"')
        return f"  {nid} [{', '.join(attrs)}];"

    for nid, d in g.nodes(data=True):
        if not d["nested"]:
            out.append(node_stmt(nid, d))
    for i, (host, members) in enumerate(sorted(nested_hosts.items())):
        out.append(f"  subgraph cluster_nested_{i} {{")
        out.append(f"    label={_dot_quote('nested in ' + g.nodes[host]['label'])};")
        out.append(f'    style=dashed; color="{NESTED_COLOR}";')
        for nid in members:
            out.append("  " + node_stmt(nid, g.nodes[nid]))
        out.append("  }")
    if g.graph.get("request") is not None:
        out.append(f'  request [shape=note, fillcolor="#fff9db", label={_dot_lines(["request", *request_lines(g)])}];')
        out.append(f"  {g.graph['output']} -> request;")
    for u, v, e in g.edges(data=True):
        attrs = []
        lines = edge_lines(e)
        if lines:
            attrs.append(f"label={_dot_lines(lines)}")
        if e["grown"] or e["added"]:
            attrs.append(f'color="{GROWTH_COLOR}", fontcolor="{GROWTH_COLOR}", penwidth=2.5')
        if e["kind"] == "nested":
            attrs.append(f'style=dashed, color="{NESTED_COLOR}"')
        out.append(f"  {u} -> {v}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    out.append("}")
    return "\n".join(out) + "\n"


def _nested_root_host(g: nx.DiGraph, nid: str) -> str:
    """The host node a nested node ultimately feeds."""
    seen = {nid}
    frontier = [nid]
    while frontier:
        cur = frontier.pop()
        host = g.nodes[cur]["nested_in"]
        if host is not None:
            return host
        for s in g.successors(cur):
            if s not in seen:
                seen.add(s)
                frontier.append(s)
    return g.graph["output"]


def _mermaid_text(lines: list[str]) -> str:
    return "<br/>".join(html.escape(line, quote=False).replace('"', "#quot;") for line in lines)


def to_mermaid(obj: Any, request: BatchRequest | None = None) -> str:
    """The graph as a Mermaid flowchart (GitHub renders it in Markdown inside a mermaid block)."""
    g = as_graph(obj, request)
    out = ["flowchart TB"]
    nested_hosts: dict[str, list[str]] = {}
    for nid, d in g.nodes(data=True):
        if d["nested"]:
            nested_hosts.setdefault(_nested_root_host(g, nid), []).append(nid)
    for nid, d in g.nodes(data=True):
        if not d["nested"]:
            out.append(f'    {nid}["{_mermaid_text([d["label"], *node_lines(d), *growth_lines(d)])}"]')
    for i, (host, members) in enumerate(sorted(nested_hosts.items())):
        out.append(f'    subgraph nested{i}["nested in {_mermaid_text([g.nodes[host]["label"]])}"]')
        for nid in members:
            d = g.nodes[nid]
            out.append(f'        {nid}["{_mermaid_text([d["label"], *node_lines(d)])}"]')
        out.append("    end")
    links: list[tuple[int, bool]] = []
    count = 0
    if g.graph.get("request") is not None:
        out.append(f'    request[/"{_mermaid_text(["request", *request_lines(g)])}"/]')
        out.append(f"    {g.graph['output']} --> request")
        count += 1
    for u, v, e in g.edges(data=True):
        lines = edge_lines(e)
        arrow = "-.->" if e["kind"] == "nested" else "-->"
        label = f'|"{_mermaid_text(lines)}"|' if lines else ""
        out.append(f"    {u} {arrow}{label} {v}")
        if e["grown"] or e["added"]:
            links.append((count, True))
        count += 1
    for nid, d in g.nodes(data=True):
        if d["grows"] or d["adds"]:
            out.append(f"    style {nid} stroke:{GROWTH_COLOR},stroke-width:3px")
    for index, _ in links:
        out.append(f"    linkStyle {index} stroke:{GROWTH_COLOR},stroke-width:3px")
    return "\n".join(out) + "\n"


__all__ = [
    "describe_spec",
    "to_dot",
    "to_mermaid",
    "to_networkx",
    "to_text",
]
