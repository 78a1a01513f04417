"""Timings of flowgraph.fields on a 512 x 512 field, one core.

Usage (from the repository root)::

    python benchmarks/bench_fields.py            # prints a table
    python benchmarks/bench_fields.py --repeat 20

Thread pools are limited to one thread through the environment before numpy is imported. Each
row is the median of ``--repeat`` runs after one warm-up run (which also compiles the numba
kernels, or loads them from numba's cache).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "FLOWGRAPH_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

from flowgraph.fields import DisplacementField  # noqa: E402

SHAPE = (512, 512)


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``fn`` in ms, after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    mask = np.zeros(SHAPE, bool)
    mask[128:384, 128] = mask[128, 128:384] = mask[384, 128:384] = True
    smooth = DisplacementField.generate(SHAPE, "elastic", rng=rng, alpha=100, sigma=10)
    other = DisplacementField.generate(SHAPE, "affine_simple", rotation=0.1, scale_x=1.05)
    image = rng.random(SHAPE)
    labels = rng.integers(0, 2**63, SHAPE, dtype=np.uint64)
    inverse = smooth.inverse()
    rows = [
        (
            "generate elastic (alpha=100, sigma=10)",
            lambda: DisplacementField.generate(SHAPE, "elastic", rng=rng, alpha=100, sigma=10),
        ),
        ("generate affine_simple", lambda: DisplacementField.generate(SHAPE, "affine_simple", rotation=0.2, shear=0.1)),
        (
            "generate edge_stretching (griddata, 3 pts)",
            lambda: DisplacementField.generate(SHAPE, "edge_stretching", rng=rng, edge_mask=mask),
        ),
        (
            "generate edge_stretching (rbf, 3 pts)",
            lambda: DisplacementField.generate(SHAPE, "edge_stretching", rng=rng, edge_mask=mask, interpolation="rbf"),
        ),
        ("inverse (elastic, incl. residual)", smooth.inverse),
        ("compose", lambda: smooth.compose(other)),
        ("warp float64 image (order 1)", lambda: smooth.warp(image)),
        ("warp float32 image (order 1)", lambda: smooth.warp(image.astype(np.float32))),
        ("warp_labels uint64", lambda: smooth.warp_labels(labels)),
        ("jacobian", smooth.jacobian),
        ("warp_points (1000 points)", lambda: smooth.warp_points(rng.uniform(0, 511, (1000, 2)))),
    ]
    print(f"flowgraph.fields benchmark, {SHAPE[0]} x {SHAPE[1]}, one thread, median of {args.repeat}")
    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"python {platform.python_version()}, numpy {np.__version__}")
    print(
        f"inverse residual on the elastic field: {inverse.residual:.4f} voxels (max |delta| "
        f"{float(np.abs(smooth.deltas).max()):.2f}, min Jacobian {float(smooth.jacobian().min()):.2f})"
    )
    print()
    print(f"{'operation':<46} {'ms':>8}")
    for name, fn in rows:
        print(f"{name:<46} {timed(fn, args.repeat):8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
