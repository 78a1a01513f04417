"""Every script in examples/ runs with no arguments (small default sizes) and has a --help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.py"))


def _run(script: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", str(script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_there_are_examples() -> None:
    assert "hdf5_sampling.py" in [p.name for p in EXAMPLES]


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(script: Path, tmp_path: Path) -> None:
    result = _run(script, tmp_path)
    assert result.returncode == 0, f"{script.name} failed:\n{result.stderr}"
    assert result.stdout.strip(), f"{script.name} printed nothing"
    assert list(tmp_path.iterdir()) == [], f"{script.name} left files in the working directory"


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_has_help(script: Path, tmp_path: Path) -> None:
    result = _run(script, tmp_path, "--help")
    assert result.returncode == 0 and "usage:" in result.stdout, f"{script.name} --help failed:\n{result.stderr}"


def test_hdf5_sampling_keeps_its_file_with_out(tmp_path: Path) -> None:
    script = next(p for p in EXAMPLES if p.name == "hdf5_sampling.py")
    options = ["--batches", "2", "--volume", "16,96,96", "--raw", "8,48,48", "--labels", "4,24,24"]
    result = _run(script, tmp_path, "--out", str(tmp_path / "data"), *options)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "sample.h5").is_file()
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("sampled 2 batches in ")
    assert "RAW (8, 48, 48) float32 at [0:320, 0:192, 0:192]" in lines[2]
