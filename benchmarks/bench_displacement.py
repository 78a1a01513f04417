"""What emitting the applied map costs: ElasticAugment with and without ``displacement=``.

The CREMI request (raw 84 x 268 x 268 float32 at 40 x 4 x 4 nm, labels 56 x 56 x 56 uint64) from
an in-memory volume, ElasticAugment with the CREMI parameters (plus slip/shift misalignment) at
p=1, one thread. Issue 12's target: the 3-D displacement field at no more than 20% extra cost.

    python benchmarks/bench_displacement.py [--batches 12]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("FLOWGRAPH_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np

import flowgraph as fg
from flowgraph.recipes import CREMI_ELASTIC

RAW, LABELS, FIELD = fg.ArrayKey("RAW"), fg.ArrayKey("LABELS"), fg.ArrayKey("DISPLACEMENT")
VOXEL = (40, 4, 4)


def pipeline(displacement: bool) -> fg.Pipeline:
    rng = np.random.default_rng(0)
    shape = (100, 640, 640)
    roi = fg.Roi((0, 0, 0), tuple(s * v for s, v in zip(shape, VOXEL)))
    raw = fg.Array(rng.random(shape, dtype=np.float32), fg.ArraySpec(roi=roi, voxel_size=VOXEL))
    labels = fg.Array(
        rng.integers(0, 1000, shape, dtype=np.uint64), fg.ArraySpec(roi=roi, voxel_size=VOXEL, interpolatable=False)
    )
    field = FIELD if displacement else None
    elastic = fg.ElasticAugment(**CREMI_ELASTIC, prob_slip=0.05, prob_shift=0.05, max_misalign=10, displacement=field)
    return (
        (fg.ArraySource(RAW, raw), fg.ArraySource(LABELS, labels)) + fg.MergeProvider() + fg.RandomLocation() + elastic
    )


def request(displacement: bool) -> fg.BatchRequest:
    r = fg.BatchRequest()
    r.add(RAW, (84 * 40, 268 * 4, 268 * 4))
    r.add(LABELS, (56 * 40, 56 * 4, 56 * 4))
    if displacement:
        r.add(FIELD, (84 * 40, 268 * 4, 268 * 4))  # the field on the raw grid, as the warped raw
    return r


def timed(displacement: bool, batches: int) -> list[float]:
    times = []
    req = request(displacement)
    with fg.build(pipeline(displacement)) as p:
        p.request_batch(req.with_seed(0))  # warm-up (compiles)
        for seed in range(1, batches + 1):
            t = time.perf_counter()
            p.request_batch(req.with_seed(seed))
            times.append(time.perf_counter() - t)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=12)
    args = parser.parse_args(argv)
    without, with_field = [], []
    for _ in range(2):  # alternate, so that load changes hit both alike
        without += timed(False, args.batches // 2)
        with_field += timed(True, args.batches // 2)
    a, b = statistics.median(without) * 1000, statistics.median(with_field) * 1000
    print(f"ElasticAugment (CREMI request, one thread), median of {len(without)} batches, same seeds:")
    print(f"  without displacement  {a:7.1f} ms")
    print(f"  with displacement     {b:7.1f} ms   (+{100 * (b - a) / a:.0f}%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
