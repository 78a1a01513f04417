"""The flowgraph command line, end to end in subprocesses (small sizes)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
from PIL import Image

from flowgraph.cli import commands as cli
from flowgraph.synthetic import write_em_volume

PIPELINE = """
import flowgraph as fg

RAW, LABELS, MASK = fg.ArrayKey("RAW"), fg.ArrayKey("LABELS"), fg.ArrayKey("MASK")
source = fg.Hdf5Source(
    {path!r},
    {{RAW: "volumes/raw", LABELS: "volumes/labels/neuron_ids", MASK: "volumes/labels/mask"}},
    array_specs={{LABELS: fg.ArraySpec(interpolatable=False), MASK: fg.ArraySpec(interpolatable=False)}},
)
pipeline = source + fg.Normalize(RAW) + fg.RandomLocation() + fg.Reject(mask=MASK, min_masked=0.3)
request = fg.BatchRequest()
request.add(RAW, (160, 96, 96))
request.add(LABELS, (80, 48, 48))
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = str(tmp_path_factory.mktemp("cli"))
    volume = write_em_volume(os.path.join(d, "em.h5"), shape=(12, 96, 96), seed=1)
    with open(os.path.join(d, "pipeline.py"), "w", encoding="utf-8") as f:
        f.write(PIPELINE.format(path=volume))
    return d


def flowgraph(*args: str, cwd: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowgraph.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def write(directory: str, name: str, text: str) -> str:
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(textwrap.dedent(text))
    return path


def test_console_script_is_installed() -> None:
    script = shutil.which("flowgraph") or os.path.join(os.path.dirname(sys.executable), "flowgraph")
    assert os.path.exists(script)
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and "demo" in result.stdout and "preview" in result.stdout


@pytest.mark.parametrize("command", ["demo", "run", "show", "preview"])
def test_help_everywhere(command: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exit_info:  # argparse prints help to sys.stdout and exits 0
        cli.build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    assert cli.main([command, "--bogus-option"], out, err) == cli.EXIT_USAGE


def test_no_command_prints_help() -> None:
    out = io.StringIO()
    assert cli.main([], out, io.StringIO()) == cli.EXIT_USAGE
    assert "COMMAND" in out.getvalue()


def test_run_with_snapshots(workdir: str) -> None:
    snaps = os.path.join(workdir, "snaps")
    result = flowgraph(
        "run",
        "pipeline.py",
        "--batches",
        "3",
        "--seed",
        "4",
        "--snapshot-every",
        "2",
        "--snapshot-dir",
        snaps,
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr
    assert "3 batches in" in result.stdout and "batches/s" in result.stdout
    assert "3/3 batches" in result.stderr  # the progress bar
    assert sorted(os.listdir(snaps)) == ["0.h5", "2.h5"]
    with h5py.File(os.path.join(snaps, "0.h5"), "r") as f:
        assert f["volumes/raw"].shape == (4, 24, 24) and f["volumes/labels"].dtype == np.uint64
        assert f.attrs["random_seed"] == 4


def test_run_with_workers(workdir: str) -> None:
    result = flowgraph("run", "pipeline.py", "--batches", "2", "--workers", "1", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "PreCache" in result.stdout


def in_process(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(args), out, err)
    return code, out.getvalue(), err.getvalue()


def test_show_writes_every_format(workdir: str) -> None:
    result = flowgraph("show", "pipeline.py", "--request", "-o", "g.svg", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "Reject(MASK)  [adds MASK to the request]" in result.stdout
    assert "^ RAW 4x24x24; LABELS 2x12x12; MASK 4x24x24  (added)" in result.stdout
    for name in ("g.png", "g.dot", "g.mmd"):
        code, _, err = in_process(
            "show", os.path.join(workdir, "pipeline.py"), "--request", "-o", os.path.join(workdir, name)
        )
        assert code == 0, err
    for name in ("g.svg", "g.png", "g.dot", "g.mmd"):
        assert os.path.getsize(os.path.join(workdir, name)) > 300
    with Image.open(os.path.join(workdir, "g.png")) as img:
        assert img.width > 200 and len(img.convert("RGB").getcolors(2**20)) > 10


def test_preview(workdir: str) -> None:
    result = flowgraph("preview", "pipeline.py", "-n", "2", "-o", "p.png", "--seed", "1", "--size", "64", cwd=workdir)
    assert result.returncode == 0, result.stderr
    with Image.open(os.path.join(workdir, "p.png")) as img:
        assert img.height > 2 * 64
    result = flowgraph("preview", "pipeline.py", "--steps", "-o", "s.png", "--size", "48", cwd=workdir)
    assert result.returncode == 0, result.stderr


def test_flowgraph_errors_are_messages_not_tracebacks(workdir: str) -> None:
    write(
        workdir,
        "bad.py",
        """
        import flowgraph as fg
        pipeline = fg.Normalize("RAW")
        """,
    )
    result = flowgraph("run", "bad.py", cwd=workdir)
    assert result.returncode == 1
    assert "flowgraph: error: Normalize: array must be an ArrayKey" in result.stderr
    assert "Traceback" not in result.stderr
    debug = flowgraph("--debug", "run", "bad.py", cwd=workdir)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_errors_while_building_show_the_notes(workdir: str) -> None:
    write(
        workdir,
        "missing.py",
        f"""
        import flowgraph as fg
        RAW = fg.ArrayKey("RAW")
        pipeline = fg.Hdf5Source({os.path.join(workdir, "em.h5")!r}, {{RAW: "volumes/nope"}})
        request = fg.BatchRequest()
        request.add(RAW, (40, 8, 8))
        """,
    )
    result = flowgraph("show", "missing.py", "-o", "m.svg", cwd=workdir)
    assert result.returncode == 1
    assert "dataset 'volumes/nope' for RAW is not in" in result.stderr
    assert "while setting up Hdf5Source(em.h5)" in result.stderr
    assert "Traceback" not in result.stderr


def test_broken_python_files(workdir: str) -> None:
    write(workdir, "syntax.py", "pipeline = (\n")
    result = flowgraph("show", "syntax.py", cwd=workdir)
    assert result.returncode == 1 and "syntax.py, line" in result.stderr and "syntax error" in result.stderr
    write(workdir, "name.py", "x = 1\ny = undefined_name\n")
    code, _, err = in_process("run", os.path.join(workdir, "name.py"))
    assert code == 1 and "name.py, line 2: NameError" in err and "Traceback" not in err
    write(workdir, "norequest.py", "import flowgraph as fg\npipeline = fg.Pipeline(fg.MergeProvider())\n")
    code, _, err = in_process("preview", os.path.join(workdir, "norequest.py"))
    assert code == 1 and "defines no `request`" in err
    write(workdir, "nothing.py", "x = 1\n")
    code, _, err = in_process("show", os.path.join(workdir, "nothing.py"))
    assert code == 1 and "defines no `pipeline`" in err


def test_usage_errors_exit_2(workdir: str) -> None:
    result = flowgraph("run", "does_not_exist.py", cwd=workdir)
    assert result.returncode == 2 and "no such file" in result.stderr
    code, _, err = in_process("run", os.path.join(workdir, "pipeline.py"), "--batches", "0")
    assert code == 2
    code, _, err = in_process("show", os.path.join(workdir, "pipeline.py"), "-o", os.path.join(workdir, "g.jpg"))
    assert code == 1 and "as the file suffix" in err


def test_demo_small(tmp_path: str) -> None:
    out = os.path.join(tmp_path, "demo")
    result = flowgraph(
        "demo",
        "--out",
        out,
        "--batches",
        "2",
        "--workers",
        "0",
        "--volume",
        "24",
        "160",
        "160",
        "--artifact-sections",
        "2",
        "--raw-shape",
        "8",
        "40",
        "40",
        "--labels-shape",
        "4",
        "20",
        "20",
        "--preview-size",
        "48",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for name in ("pipeline.png", "pipeline.svg", "preview.png", "preview_steps.png", "throughput.txt"):
        assert os.path.getsize(os.path.join(out, name)) > 100, name
    assert sorted(os.listdir(os.path.join(out, "snapshots"))) == ["batch_0000.h5", "batch_0001.h5"]
    assert "2 batches in" in result.stdout and "DefectAugment(RAW)" in result.stdout
    assert "2/2 batches" in result.stderr
    with h5py.File(os.path.join(out, "snapshots", "batch_0000.h5"), "r") as f:
        assert f["volumes/raw"].shape == (8, 40, 40)
        assert f["volumes/labels/neuron_ids"].shape == (4, 20, 20)


def test_run_profiles_every_node_from_the_records_also_in_workers(workdir: str) -> None:
    code, out, err = in_process("run", os.path.join(workdir, "pipeline.py"), "--batches", "2", "--workers", "2")
    assert code == 0, err
    table = out[out.index("time per node: mean over 2 batches") :].splitlines()
    assert [line.split()[0] for line in table[2:]] == [
        "Hdf5Source(em.h5)",
        "Normalize(RAW)",
        "RandomLocation",
        "Reject(MASK)",
        "PreCache",
        "total",
        "(upstream",
    ]


def test_preview_steps_shows_the_nodes_behind_a_precache(workdir: str) -> None:
    """The rows are the nodes of the main chain that changed something, with or without workers."""
    with open(os.path.join(workdir, "pipeline.py"), encoding="utf-8") as f:
        text = f.read()
    write(workdir, "cached.py", text + "pipeline = pipeline + fg.PreCache(num_workers=2, cache_size=1)\n")
    heights = []
    for name in ("pipeline.py", "cached.py"):
        png = os.path.join(workdir, f"steps_{name}.png")
        args = ("preview", os.path.join(workdir, name), "--steps", "-n", "1", "--seed", "3", "--size", "48", "-o", png)
        code, _, err = in_process(*args)
        assert code == 0, err
        with Image.open(png) as img:
            heights.append(img.height)
    # two rows (the source, Normalize: RandomLocation only moves, Reject and PreCache pass through)
    assert heights[0] == heights[1] > 34 + 2 * (48 + 30)
