"""The layers of the tree: the flat engine core imports neither the node library nor the periphery,
and ``import flowgraph`` does not load the periphery until it is used."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "flowgraph"
#: flat modules that are tools for users built on the library, not part of the engine; ``ext`` is
#: the periphery's gunpowder vocabulary of optional third-party modules (``flowgraph.ext``)
TOOLS = {"recipes", "synthetic", "ext"}
#: what the core must never import (the node library, the periphery subpackages and flowgraph.ext)
FORBIDDEN = (
    "flowgraph.nodes",
    "flowgraph.visualize",
    "flowgraph.parallel",
    "flowgraph.cli",
    "flowgraph.testing",
    "flowgraph.ext",
)
CORE = sorted(p for p in ROOT.glob("*.py") if p.stem not in TOOLS and p.stem != "__init__")


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (function-level imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_core_is_what_we_think_it_is() -> None:
    stems = {p.stem for p in CORE}
    assert {"provider", "pipeline", "roi", "request", "batch"} <= stems
    assert not stems & {"visualize", "drawing", "preview", "worker_pool", "shared_memory", "cli"}


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.stem)
def test_core_module_imports_no_node_and_no_periphery(path: Path) -> None:
    bad = sorted(m for m in imported_modules(path) if m.startswith(FORBIDDEN))
    assert not bad, f"flowgraph/{path.name} imports {bad}; the core must not depend on nodes or the periphery"


def test_imported_modules_sees_function_level_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from flowgraph.visualize.drawing import render\n    import flowgraph.nodes\n")
    assert {"flowgraph.visualize.drawing", "flowgraph.nodes"} <= imported_modules(source)


def test_import_flowgraph_leaves_the_periphery_unloaded() -> None:
    code = (
        "import sys, flowgraph as fg\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('flowgraph.visualize', 'flowgraph.parallel',"
        " 'flowgraph.cli', 'flowgraph.testing', 'flowgraph.ext')) or m in ('networkx', 'PIL', 'zarr'))\n"
        "print(','.join(loaded))\n"
        "fg.to_networkx\n"
        "print('flowgraph.visualize.describe' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "", f"import flowgraph loaded {out[0]}"
    assert out[1] == "True"  # ... and the names are there when used
