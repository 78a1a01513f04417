"""Seeing pipelines and batches: descriptions of the graph, pictures, previews.

:mod:`flowgraph.visualize.describe` turns a pipeline into a networkx graph with the negotiated
request on every edge, and into text, DOT and Mermaid; :mod:`flowgraph.visualize.drawing` draws
it (SVG, PNG); :mod:`flowgraph.visualize.preview` shows batches (``flowgraph.preview`` is the
function; here ``preview`` names the module). Each is imported when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "to_networkx": "describe",
    "to_text": "describe",
    "to_dot": "describe",
    "to_mermaid": "describe",
    "render": "drawing",
    "to_png": "drawing",
    "to_svg": "drawing",
    "preview_pipeline": "preview",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'flowgraph.visualize' has no attribute {name!r}")
    return getattr(importlib.import_module(f"flowgraph.visualize.{module}"), name)


__all__ = sorted(_WHERE)
