"""pytorch_connectomics' EM augmentations timed on the CREMI request, one thread, beside flowgraph's nodes.

Issue 11 asks for the time of pytorch_connectomics' equivalent of each of flowgraph's EM augmentation
nodes (``node_<Name>`` in ``benchmark.py``). pytorch_connectomics is not on PyPI (``connectomics`` there
is Google's unrelated package), so this script runs its code from a checkout, in a separate venv:

1. ``--source DIR``: a checkout (e.g. a ``git worktree``) of pytorch_connectomics at a commit before
   b55daf6 ("refactor transforms/augment"), e.g. ``b55daf6~1``: the numpy augmentations of
   ``connectomics/data/augmentation/`` that its documentation describes, each called as
   ``aug(sample, random_state)`` with ``sample = {'image': ..., 'label': ...}``;
2. ``--python PATH``: the interpreter of a venv with what those modules import (numpy, scipy,
   scikit-image, OpenCV), not pytorch_connectomics itself, e.g.::

       python -m venv /tmp/ptc_venv
       /tmp/ptc_venv/bin/pip install numpy scipy scikit-image opencv-python-headless

   How the modules are loaded: ``connectomics/data/__init__.py`` imports the datasets (torch) and
   ``connectomics/data/augmentation/__init__.py`` imports the mix-up, copy-paste and test-time
   augmentors (torch, torchvision, yacs). The worker therefore never runs those ``__init__`` files:
   it registers empty packages ``connectomics``, ``connectomics.data`` and
   ``connectomics.data.augmentation`` in ``sys.modules`` whose ``__path__`` is the checkout's folder,
   and then imports only the modules it times (``...augmentation.cutblur``, ``.misalign``, ...),
   whose own imports are numpy, scipy, scikit-image and cv2;
3. the data: the CREMI request's raw, 84 x 268 x 268 float32 in [0, 1], from flowgraph's synthetic EM
   generator (``flowgraph.synthetic.write_em_volume``, seed 0; ``--data random``: a seeded uniform
   volume, without flowgraph) and its neuron ids, uint64 of the same shape (pytorch_connectomics
   augments arrays of one shape; flowgraph's ``node_`` variants request labels of 56^3). The
   augmentations that change labels (MisAlignment, Rescale, MissingSection) are timed twice: with the
   uint64 ids, and with the ids relabelled to 1..n as float32, the dtype pytorch_connectomics'
   ``VolumeDataset`` hands its augmentor (``reduce_label`` then ``astype(np.float32)``, "cv2.remap
   requires input to be float32"). The others receive the labels too and leave them alone;
4. per row, in a fresh process of ``--python`` with ``OMP_NUM_THREADS=1``, ``OPENBLAS_NUM_THREADS=1``,
   ``MKL_NUM_THREADS=1`` and ``cv2.setNumThreads(1)``: the augmentation is built with ``p=1`` and the
   parameters of flowgraph's variant (``CASES``; the test checks they equal the factory's), called
   ``--warmup`` times, then ``--repeats`` times with ``RandomState(seed + i)`` (and ``random`` and
   ``np.random`` seeded, which MotionBlur and MissingParts also draw from), each call timed alone;
   reported: median and min ms (wall clock), the median CPU time of the process (``time.process_time``:
   less sensitive to other work on the machine than the wall clock), the output shape, and whether
   the label ids survived (every id in the output of every timed call is an input id or 0);
5. the table goes to stdout and ``--out`` (default ``benchmarks/connectomics_timings.txt``) with the
   date, the checkout's commit, the packages and the load average before and after.

What is timed is the augmentation call itself on the CREMI-sized input. In pytorch_connectomics the
augmentor (``Compose``) first samples a larger array (``sample_params``: e.g. +8 voxels a side in y
and x for ``MisAlignment(16)``, 1/0.8 times y and x for ``Rescale``, +1 section a side for
``MissingSection(2)``), runs the augmentations on it and centre-crops to the model's input; here the
input is the CREMI request itself, so the outputs of MisAlignment (84 x 252 x 252) and MissingSection
(82 sections) are smaller than it, and no crop, flip or smoothing of ``Compose`` is included.

    python benchmarks/bench_connectomics.py --source /tmp/ptc --python /tmp/ptc_venv/bin/python
    python benchmarks/bench_connectomics.py --source ... --python ... --only CutBlur,Rescale --repeats 5
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "benchmarks" / "connectomics_timings.txt"
SHAPE = (84, 268, 268)  # the CREMI request's raw, z y x
PACKAGE = "connectomics.data.augmentation"
# pytorch_connectomics' class -> its module in connectomics/data/augmentation/
MODULE_OF = {
    "CutBlur": "cutblur",
    "CutNoise": "cutnoise",
    "MissingParts": "missing_parts",
    "MotionBlur": "motion_blur",
    "Grayscale": "grayscale",
    "MisAlignment": "misalign",
    "Rescale": "rescale",
    "MissingSection": "missing_section",
}
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1"}
# a pytorch_connectomics parameter whose flowgraph attribute has another name
FLOWGRAPH_ATTRIBUTE = {"displacement": "max_shift"}


@dataclass(frozen=True)
class Case:
    """One row: a pytorch_connectomics augmentation, its parameters and the flowgraph variant it matches."""

    name: str  # the row's name
    cls: str  # pytorch_connectomics' class (a key of MODULE_OF)
    kwargs: dict[str, Any]  # its parameters besides p=1: flowgraph's values for the same names
    variant: str  # benchmark.py's variant, node_<factory>
    node: str  # the flowgraph.nodes class the variant builds
    labels: str = "untouched"  # "uint64" or "float32" where the augmentation changes labels


def _both_dtypes(name: str, cls: str, kwargs: dict[str, Any], variant: str, node: str) -> list[Case]:
    return [Case(f"{name}/{dt}", cls, kwargs, variant, node, dt) for dt in ("uint64", "float32")]


CASES: list[Case] = [
    Case(
        "CutBlur",
        "CutBlur",
        {"length_ratio": 0.6, "down_ratio_min": 4.0, "down_ratio_max": 8.0, "downsample_z": False},
        "node_CutBlur",
        "CutBlur",
    ),
    Case("CutNoise", "CutNoise", {"length_ratio": 0.25, "mode": "uniform", "scale": 0.2}, "node_CutNoise", "CutNoise"),
    Case("MissingParts", "MissingParts", {"iterations": 64}, "node_MissingParts", "MissingParts"),
    Case("MotionBlur", "MotionBlur", {"sections": 2, "kernel_size": 11}, "node_MotionBlur", "MotionBlur"),
    Case(
        "Grayscale_3D",
        "Grayscale",
        {"contrast_factor": 0.3, "brightness_factor": 0.3, "mode": "3D"},
        "node_GreyAugment",
        "GreyAugment",
    ),
    Case(
        "Grayscale_2D",
        "Grayscale",
        {"contrast_factor": 0.3, "brightness_factor": 0.3, "mode": "2D"},
        "node_GreyAugment_2D",
        "GreyAugment",
    ),
    *_both_dtypes(
        "MisAlignment", "MisAlignment", {"displacement": 16, "rotate_ratio": 0.0}, "node_MisAlignment", "MisAlignment"
    ),
    *_both_dtypes(
        "MisAlignment_rotate",
        "MisAlignment",
        {"displacement": 16, "rotate_ratio": 1.0},
        "node_MisAlignment_rotate",
        "MisAlignment",
    ),
    # pytorch_connectomics' default high is 1.25 (its docstring says 1.2); flowgraph's is 1.2
    *_both_dtypes("Rescale", "Rescale", {"low": 0.8, "high": 1.2, "fix_aspect": False}, "node_Rescale", "Rescale"),
    *_both_dtypes("MissingSection", "MissingSection", {"num_sections": 2}, "node_MissingSection", "MissingSection"),
]
BY_NAME = {c.name: c for c in CASES}
# the variants of benchmark.py's _intensity_nodes and _geometry_nodes without a pytorch_connectomics counterpart
WITHOUT_EQUIVALENT = {
    "node_XYMasking": "no stripe-masking augmentation",
    "node_OneOf": "only Compose (applies each augmentation with its own p)",
    "node_SomeOf": "only Compose (applies each augmentation with its own p)",
}


def flowgraph_parameters(node: Any, names: list[str]) -> dict[str, Any]:
    """The values a constructed flowgraph node holds for pytorch_connectomics' parameter ``names`` (and p)."""
    return {n: getattr(node, FLOWGRAPH_ATTRIBUTE.get(n, n)) for n in [*names, "p"]}


# -- the worker: runs in --python, imports nothing of flowgraph -------------------------------------------------


def load_augmentations(source: Path) -> dict[str, Any]:
    """pytorch_connectomics' augmentation classes from the checkout ``source``, without its package ``__init__``s."""
    import importlib
    import types

    root = source.resolve()
    for pkg in ("connectomics", "connectomics.data", PACKAGE):
        module = types.ModuleType(pkg)
        module.__path__ = [str(root.joinpath(*pkg.split(".")))]
        sys.modules[pkg] = module
    return {cls: getattr(importlib.import_module(f"{PACKAGE}.{mod}"), cls) for cls, mod in MODULE_OF.items()}


def worker(source: Path, data: Path, case: Case, repeats: int, warmup: int, seed: int) -> dict[str, Any]:
    import random

    import cv2
    import numpy as np

    cv2.setNumThreads(1)
    aug = load_augmentations(source)[case.cls](p=1.0, additional_targets={"label": "mask"}, **case.kwargs)
    image = np.load(data / "image.npy")
    labels = np.load(data / ("labels_float32.npy" if case.labels == "float32" else "labels_uint64.npy"))
    before = (image.sum(dtype=np.float64), labels.sum(dtype=np.float64))
    ids = np.unique(labels)
    times, cpu_times, kept, out = [], [], True, {}
    for i in range(warmup + repeats):
        random.seed(seed + i)
        np.random.seed(seed + i)
        sample = {"image": image, "label": labels}  # every augmentation copies what it changes
        state = np.random.RandomState(seed + i)
        start, cpu_start = time.perf_counter(), time.process_time()
        out = aug(sample, state)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        if i >= warmup:
            times.append(elapsed)
            cpu_times.append(cpu)
            out_ids = np.unique(out["label"])
            kept = kept and bool(np.isin(out_ids[out_ids != 0], ids).all())
    if (image.sum(dtype=np.float64), labels.sum(dtype=np.float64)) != before:
        raise RuntimeError(f"{case.name} changed its input arrays in place: the repetitions are not independent")
    return {
        "median_ms": 1e3 * statistics.median(times),
        "min_ms": 1e3 * min(times),
        "cpu_median_ms": 1e3 * statistics.median(cpu_times),
        "repeats": len(times),
        "image_out": f"{'x'.join(map(str, out['image'].shape))} {out['image'].dtype}",
        "label_out": f"{'x'.join(map(str, out['label'].shape))} {out['label'].dtype}",
        "ids_kept": kept,
    }


def worker_environment() -> dict[str, str]:
    import importlib.metadata as md

    versions = {"python": platform.python_version()}
    for dist in ("numpy", "scipy", "scikit-image", "opencv-python-headless", "opencv-python"):
        with contextlib.suppress(md.PackageNotFoundError):
            versions[dist] = md.version(dist)
    return versions


# -- the driver ----------------------------------------------------------------------------------------------


def make_data(directory: Path, kind: str, seed: int) -> str:
    """image.npy (float32 in [0, 1]), labels_uint64.npy and labels_float32.npy (relabelled 1..n) in ``directory``."""
    import numpy as np

    if kind == "em":
        import h5py

        from flowgraph.synthetic import NEURON_IDS, RAW, write_em_volume

        path = write_em_volume(directory / "em.h5", shape=SHAPE, seed=seed)
        with h5py.File(path, "r") as f:
            image = (f[RAW][:] / np.float32(255)).astype(np.float32)
            labels = f[NEURON_IDS][:]
        what = f"flowgraph.synthetic.write_em_volume(shape={SHAPE}, seed={seed}), raw / 255"
    else:
        rng = np.random.default_rng(seed)
        image = rng.random(SHAPE, dtype=np.float32)
        cells = rng.integers(2**32, 2**40, (SHAPE[0], SHAPE[1] // 32 + 1, SHAPE[2] // 32 + 1), dtype=np.uint64)
        labels = np.repeat(np.repeat(cells, 32, axis=1), 32, axis=2)[:, : SHAPE[1], : SHAPE[2]].copy()
        what = f"numpy default_rng({seed}): uniform raw, 32 x 32 blocks of random uint64 ids"
    unique, inverse = np.unique(labels, return_inverse=True)
    np.save(directory / "image.npy", image)
    np.save(directory / "labels_uint64.npy", labels)
    np.save(directory / "labels_float32.npy", (inverse.reshape(SHAPE) + 1).astype(np.float32))
    return f"{what}; {len(unique)} label ids"


def _run_worker(args: argparse.Namespace, data: Path, case: Case) -> dict[str, Any]:
    cmd = [args.python, str(Path(__file__).resolve()), "--worker", case.name, "--source", str(args.source)]
    cmd += ["--data-dir", str(data), "--repeats", str(args.repeats), "--warmup", str(args.warmup)]
    cmd += ["--seed", str(args.seed)]
    env = {**os.environ, **ONE_THREAD}
    env.pop("PYTHONPATH", None)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = r.stdout.strip().splitlines()
    if r.returncode != 0 or not lines:
        err = [line for line in r.stderr.strip().splitlines() if line.strip()]
        return {"error": err[-1] if err else f"exit code {r.returncode}"}
    return json.loads(lines[-1])


def _commit(source: Path) -> str:
    r = subprocess.run(
        ["git", "-C", str(source), "log", "-1", "--format=%H %ad %s", "--date=short"], capture_output=True
    )
    return r.stdout.decode().strip() or "(not a git checkout)"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace, data_what: str, loads: tuple[str, str]) -> str:
    env = json.loads(
        subprocess.run(
            [args.python, str(Path(__file__).resolve()), "--worker-environment"], capture_output=True, text=True
        ).stdout
        or "{}"
    )
    lines = [
        "pytorch_connectomics' augmentations on the CREMI request (raw 84 x 268 x 268 float32, labels the same shape)",
        f"date: {datetime.datetime.now():%Y-%m-%d %H:%M}",
        f"pytorch_connectomics: {_commit(args.source)} ({args.source})",
        f"python: {args.python}: " + ", ".join(f"{k} {v}" for k, v in env.items()),
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs; load average (1, 5, 15 min) before {loads[0]}, "
        f"after {loads[1]}",
        f"data: {data_what}",
        f"run: one process per row, {', '.join(f'{k}=1' for k in ONE_THREAD)}, cv2.setNumThreads(1); "
        f"p=1, {args.warmup} warm-up calls, then {args.repeats} timed calls of aug(sample, RandomState(seed + i))",
        "CPU ms: median of time.process_time() per call (one thread: the wall clock less the time spent waiting)",
        "timed: the augmentation call on the CREMI-sized input (pytorch_connectomics' Compose would first sample a",
        "larger array and centre-crop after; neither is included)",
        "",
    ]
    header = ("row", "median ms", "min ms", "CPU ms", "flowgraph variant (node)", "labels", "output image / labels")
    header += ("ids kept",)
    rows = []
    for name, r in results.items():
        c = BY_NAME[name]
        fg = f"{c.variant} ({c.node})"
        if "error" in r:
            rows.append((name, "-", "-", "-", fg, c.labels, "error: " + r["error"][:90], "-"))
            continue
        shapes = f"{r['image_out']} / {r['label_out']}"
        kept = "-" if c.labels == "untouched" else ("yes" if r["ids_kept"] else "NO")
        ms = (f"{r['median_ms']:.1f}", f"{r['min_ms']:.1f}", f"{r['cpu_median_ms']:.1f}")
        rows.append((name, *ms, fg, c.labels, shapes, kept))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in (header, *rows):
        lines.append("  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip())
    lines += ["", "parameters (besides p=1 and additional_targets={'label': 'mask'}):"]
    for name in results:
        c = BY_NAME[name]
        lines.append(f"  {name}: {c.cls}(" + ", ".join(f"{k}={v!r}" for k, v in c.kwargs.items()) + ")")
    lines += ["", "flowgraph variants without a counterpart in pytorch_connectomics:"]
    lines += [f"  {variant}: {why}" for variant, why in WITHOUT_EQUIVALENT.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--source", type=Path, help="a checkout of pytorch_connectomics before b55daf6 (e.g. b55daf6~1)")
    ap.add_argument("--python", help="the interpreter of a venv with numpy, scipy, scikit-image and OpenCV")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the results file (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=20, help="timed calls per row (default: %(default)s)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed calls first (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the data and of the first RandomState")
    ap.add_argument(
        "--data", choices=("em", "random"), default="em", help="flowgraph's synthetic EM volume or a random one"
    )
    ap.add_argument("--only", help="comma-separated rows (default: all of CASES)")
    ap.add_argument("--worker", metavar="ROW", help=argparse.SUPPRESS)
    ap.add_argument("--worker-environment", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker_environment:
        print(json.dumps(worker_environment()))
        return 0
    if args.source is None or (args.python is None and args.worker is None):
        ap.error("--source and --python are required")
    if not (args.source / "connectomics" / "data" / "augmentation" / "cutblur.py").exists():
        ap.error(f"{args.source} has no connectomics/data/augmentation/cutblur.py: check out a commit before b55daf6")
    if args.repeats < 1 or args.warmup < 0:
        ap.error("--repeats must be at least 1 and --warmup at least 0")
    if args.worker is not None:
        print(
            json.dumps(worker(args.source, args.data_dir, BY_NAME[args.worker], args.repeats, args.warmup, args.seed))
        )
        return 0
    names = args.only.split(",") if args.only else list(BY_NAME)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        ap.error(f"unknown rows: {', '.join(unknown)} (known: {', '.join(BY_NAME)})")

    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="flowgraph-connectomics-") as tmp:
        data_what = make_data(Path(tmp), args.data, args.seed)
        load_before = _load()
        for name in names:
            results[name] = _run_worker(args, Path(tmp), BY_NAME[name])
            r = results[name]
            shown = r.get("error") or f"median {r['median_ms']:.1f} ms, min {r['min_ms']:.1f} ms"
            print(f"{name}: {shown}", file=sys.stderr)
        loads = (load_before, _load())
    text = report(results, args, data_what, loads)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
