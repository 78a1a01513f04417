"""A smoke run of the benchmark harness (tiny volume, few batches); the real run is not a test."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "benchmark.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flowgraph_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_harness_times_variants_and_reports_the_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench = load()
    out = tmp_path / "results.json"
    args = [
        "--quick",
        "--in-process",
        "--only",
        "io,overhead_0,overhead_20,cremi",
        "--batches",
        "2",
        "--data-dir",
        str(tmp_path / "data"),
        "--json",
        str(out),
    ]
    assert bench.main(args) == 0
    text = capsys.readouterr().out
    rows = {
        line.split()[0]: line.split()
        for line in text.splitlines()
        if line.split()[:1] in (["io"], ["overhead_0"], ["overhead_20"], ["cremi"])
    }
    assert set(rows) == {"io", "overhead_0", "overhead_20", "cremi"}
    assert rows["cremi"][1] == "2" and float(rows["cremi"][2]) > 0  # batches, batches/s
    assert "[cremi] per-node split: mean over 2 batches" in text
    assert "ElasticAugment" in text and "framework overhead:" in text
    results = json.loads(out.read_text())["results"]
    assert results["io"]["batches"] == 2 and results["overhead_20"]["batches"] == 50
    names = [row["node"] for row in results["cremi"]["profile"]]
    assert names[0].startswith("Hdf5Source") and names[-1].startswith("DefectAugment")


def test_unknown_variants_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        load().main(["--only", "nonsense", "--data-dir", str(tmp_path)])


GUNPOWDER_TESTS = SCRIPT.parent / "gunpowder_tests.py"


def load_gunpowder_tests() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flowgraph_gunpowder_tests", GUNPOWDER_TESTS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_gunpowder_test_harness_rewrites_imports_to_names_flowgraph_has() -> None:
    harness = load_gunpowder_tests()
    snippet = "\n".join(
        [
            "import numpy as np",
            "import gunpowder as gp",
            "from gunpowder import (",
            "    ArrayKey,",
            "    Roi as R,",
            ")",
            "from gunpowder.nodes import ArraySource",
            "from gunpowder.ext import h5py",
            "from funlib.geometry import Coordinate",
            "from .helper_sources import GraphSource",
            "",
            "",
            "def f():",
            "    from gunpowder.pipeline import PipelineRequestError",
            "    return PipelineRequestError",
            "",
        ]
    )
    out = harness.rewrite_imports(snippet)
    assert out.splitlines() == [
        "import numpy as np",
        "import flowgraph as gp",
        "from flowgraph import ArrayKey, Roi as R",
        "from flowgraph.nodes import ArraySource",
        "import h5py",
        "from funlib.geometry import Coordinate",  # a user changes only the gunpowder imports
        "from .helper_sources import GraphSource",
        "",
        "",
        "def f():",
        "    from flowgraph import PipelineRequestError",
        "    return PipelineRequestError",
    ]
    # the rewritten imports resolve (the relative import aside) and nothing gunpowder is left
    namespace: dict[str, object] = {}
    exec(out.replace("from .helper_sources import GraphSource\n", ""), namespace)
    assert "gunpowder" not in out and namespace["R"].__module__ == "flowgraph.roi"  # type: ignore[attr-defined]


def test_every_name_the_gunpowder_test_harness_maps_exists_where_it_points() -> None:
    harness = load_gunpowder_tests()
    for name, module in harness.MODULE_OF.items():
        if name == module:  # a third-party module gunpowder.ext re-exports (h5py, zarr): not flowgraph's to hold
            continue
        assert hasattr(importlib.import_module(module), name), f"{module} has no {name}"
    assert harness.module_of("Roi") == "flowgraph" and harness.module_of("ArraySource") == "flowgraph.nodes"
    assert "helper_sources" in harness.CASES and len(set(harness.CASES)) == len(harness.CASES)


def test_the_gunpowder_test_harness_has_a_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        load_gunpowder_tests().main(["--help"])
    assert exit_info.value.code == 0 and "--source" in capsys.readouterr().out


CONNECTOMICS = SCRIPT.parent / "bench_connectomics.py"


def load_connectomics() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flowgraph_bench_connectomics", CONNECTOMICS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_connectomics_rows_name_flowgraphs_variants_with_their_parameters() -> None:
    rows, bench = load_connectomics(), load()
    nodes = importlib.import_module("flowgraph.nodes")
    for case in rows.CASES:
        assert case.variant in bench.BY_NAME, f"{case.name}: benchmark.py has no variant {case.variant}"
        assert hasattr(nodes, case.node), f"{case.name}: flowgraph.nodes has no {case.node}"
        assert case.cls in rows.MODULE_OF and case.labels in ("untouched", "uint64", "float32")
        built = bench.NODE_FACTORIES[case.variant.removeprefix("node_")]()
        assert type(built) is getattr(nodes, case.node)
        # pytorch_connectomics is given flowgraph's values for every parameter it shares, at p=1
        assert rows.flowgraph_parameters(built, list(case.kwargs)) == {**case.kwargs, "p": 1.0}, case.name
    # every issue-11 augmentation variant of benchmark.py has a row or a reason why not
    variants = {f"node_{name}" for name in {**bench._intensity_nodes(), **bench._geometry_nodes()}}
    covered = {c.variant for c in rows.CASES}
    assert covered | set(rows.WITHOUT_EQUIVALENT) == variants and not covered & set(rows.WITHOUT_EQUIVALENT)


def test_the_connectomics_loader_skips_the_package_inits(tmp_path: Path) -> None:
    # a fake checkout: the package __init__s fail (as pytorch_connectomics' import torch would without it)
    aug = tmp_path / "connectomics" / "data" / "augmentation"
    aug.mkdir(parents=True)
    for init in (tmp_path / "connectomics", aug.parent, aug):
        (init / "__init__.py").write_text("raise ImportError('torch')\n")
    (aug / "augmentor.py").write_text("class DataAugment:\n    pass\n")
    rows = load_connectomics()
    for cls, module in rows.MODULE_OF.items():
        (aug / f"{module}.py").write_text(
            f"from .augmentor import DataAugment\n\n\nclass {cls}(DataAugment):\n    pass\n"
        )
    before = set(sys.modules)
    try:
        loaded = rows.load_augmentations(tmp_path)
        assert sorted(loaded) == sorted(rows.MODULE_OF)
        assert all(c.__module__ == f"{rows.PACKAGE}.{rows.MODULE_OF[n]}" for n, c in loaded.items())
    finally:
        for name in set(sys.modules) - before:
            del sys.modules[name]


def test_the_connectomics_benchmark_checks_its_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = load_connectomics()
    with pytest.raises(SystemExit) as exit_info:
        rows.main(["--help"])
    assert exit_info.value.code == 0 and "--source" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:  # not a checkout of the numpy-era augmentations
        rows.main(["--source", str(tmp_path), "--python", sys.executable])
    assert exit_info.value.code == 2 and "b55daf6" in capsys.readouterr().err
    (tmp_path / "connectomics" / "data" / "augmentation").mkdir(parents=True)
    (tmp_path / "connectomics" / "data" / "augmentation" / "cutblur.py").write_text("")
    with pytest.raises(SystemExit) as exit_info:
        rows.main(["--source", str(tmp_path), "--python", sys.executable, "--only", "CutBlur,nonsense"])
    assert exit_info.value.code == 2 and "unknown rows: nonsense" in capsys.readouterr().err
