"""A smoke run of the benchmark harness (tiny volume, few batches); the real run is not a test."""

from __future__ import annotations

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
