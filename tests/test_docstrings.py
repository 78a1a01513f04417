"""Every docstring Example in the engine and the node library runs (DESIGN §4)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import flowgraph
import flowgraph.nodes


def _modules() -> list[str]:
    names = []
    for package in (flowgraph, flowgraph.nodes):
        for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, globs={**vars(module)}):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_every_node_has_an_example() -> None:
    missing = [n for n in flowgraph.nodes.__all__ if "Example:" not in (getattr(flowgraph.nodes, n).__doc__ or "")]
    assert missing == []
