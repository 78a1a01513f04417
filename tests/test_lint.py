"""The project stays clean: ``ruff check``, ``ruff format --check`` and mypy report nothing.

ruff runs on the whole repository (settings in pyproject.toml). mypy runs on a staging tree,
because ``flowgraph.nodes`` lives in the top-level folder ``nodes/`` (setuptools' package-dir),
a mapping mypy cannot see in the source tree: the staging tree holds ``flowgraph/`` with links
to every ``flowgraph/*.py`` and subpackage, and ``flowgraph/nodes`` linking to ``nodes/``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(module: str) -> list[str]:
    """The command running ``module`` with this interpreter; fails if it is not installed."""
    if importlib.util.find_spec(module) is None:
        pytest.fail(
            f"{module} is not installed in this environment; install the test extras: pip install -e '.[test]'",
            pytrace=False,
        )
    return [sys.executable, "-m", module]


def _check(args: list[str], cwd: Path) -> None:
    """Run ``args`` in ``cwd``; fail with the tool's report unless it exits 0."""
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(
            f"`{' '.join(args[2:])}` (in {cwd}) exited {result.returncode}:\n{result.stdout}{result.stderr}",
            pytrace=False,
        )


def test_ruff_check_reports_nothing() -> None:
    _check([*_tool("ruff"), "check", "--no-cache", "."], ROOT)


def test_ruff_format_changes_nothing() -> None:
    _check([*_tool("ruff"), "format", "--check", "--no-cache", "."], ROOT)


def staging_tree(where: Path) -> Path:
    """``where/flowgraph``: links to the engine's modules and subpackages, and ``nodes`` linking to ``nodes/``."""
    package = where / "flowgraph"
    package.mkdir()
    for module in sorted((ROOT / "flowgraph").glob("*.py")):
        os.symlink(module, package / module.name)
    for sub in sorted((ROOT / "flowgraph").iterdir()):
        if sub.is_dir() and (sub / "__init__.py").exists():
            os.symlink(sub, package / sub.name, target_is_directory=True)
    os.symlink(ROOT / "nodes", package / "nodes", target_is_directory=True)
    return package


def test_mypy_reports_nothing(tmp_path: Path) -> None:
    mypy = _tool("mypy")
    staging_tree(tmp_path)
    config = ROOT / "pyproject.toml"
    _check([*mypy, "--config-file", str(config), "--cache-dir", str(tmp_path / ".mypy_cache"), "flowgraph"], tmp_path)
