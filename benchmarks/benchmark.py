"""Throughput of flowgraph on the CREMI recipe, its parts, with workers, and of gunpowder beside it.

Usage (from the repository root)::

    python benchmarks/benchmark.py                  # everything; writes benchmarks/data/ once
    python benchmarks/benchmark.py --only cremi,io  # some variants
    python benchmarks/benchmark.py --quick          # a small volume and few batches (a smoke run)

Run it with a Python in which gunpowder is importable (e.g. a separate venv with
``pip install gunpowder`` and ``pip install -e .``) to add the gunpowder rows and the ratio.

Every variant runs in a fresh subprocess (``--variant NAME``), so that its peak memory is its own
and no variant warms a cache for the next. Per variant: warm-up batches (the first batch builds
RandomLocation's summed-area table of the mask, the workers set up), then timed batches with
consecutive seeds. Reported: batches/s, raw voxels/s, ms per batch, peak resident memory of the
process (and of its largest worker), the peak of traced allocations (tracemalloc) over two extra
batches, and the per-node split of the timed batches from ``batch.profiling``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent


@dataclasses.dataclass
class Config:
    """What to run on: volume sizes, request sizes, batch counts, workers."""

    data_dir: str = str(HERE / "data")
    shape: tuple[int, int, int] = (100, 1024, 1024)
    artifact_shape: tuple[int, int, int] = (20, 1024, 1024)
    voxel_size: tuple[int, int, int] = (40, 4, 4)
    raw_shape: tuple[int, int, int] = (84, 268, 268)
    labels_shape: tuple[int, int, int] = (56, 56, 56)
    batches: int = 20
    gunpowder_batches: int = 4
    overhead_batches: int = 2000
    workers: int = 0  # 0: the CPUs this process may use
    seed: int = 0

    @property
    def em_path(self) -> str:
        return os.path.join(self.data_dir, "em_{}x{}x{}.h5".format(*self.shape))

    @property
    def artifacts_path(self) -> str:
        return os.path.join(self.data_dir, "artifacts_{}x{}x{}.h5".format(*self.artifact_shape))

    @property
    def num_workers(self) -> int:
        return self.workers or len(os.sched_getaffinity(0))

    @property
    def raw_voxels(self) -> int:
        return math.prod(self.raw_shape)


QUICK = {
    "shape": (40, 256, 256),
    "artifact_shape": (6, 256, 256),
    "raw_shape": (20, 96, 96),
    "labels_shape": (12, 40, 40),
    "batches": 3,
    "gunpowder_batches": 1,
    "overhead_batches": 50,
}


def ensure_data(cfg: Config) -> None:
    """Write the synthetic EM volume and the artifact volume unless they exist."""
    from flowgraph.synthetic import write_artifacts, write_em_volume

    os.makedirs(cfg.data_dir, exist_ok=True)
    if not os.path.exists(cfg.em_path):
        t0 = time.perf_counter()
        write_em_volume(cfg.em_path + ".tmp", shape=cfg.shape, voxel_size=cfg.voxel_size, seed=cfg.seed)
        os.replace(cfg.em_path + ".tmp", cfg.em_path)
        print(f"wrote {cfg.em_path} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    if not os.path.exists(cfg.artifacts_path):
        write_artifacts(cfg.artifacts_path + ".tmp", shape=cfg.artifact_shape, voxel_size=cfg.voxel_size, seed=cfg.seed)
        os.replace(cfg.artifacts_path + ".tmp", cfg.artifacts_path)


# -- flowgraph variants ------------------------------------------------------------------------------------


def _fg_request(cfg: Config, with_mask: bool = True) -> Any:
    import flowgraph as fg
    from flowgraph.recipes import LABELS, MASK, cremi_request

    request = cremi_request(voxel_size=cfg.voxel_size, raw_shape=cfg.raw_shape, labels_shape=cfg.labels_shape)
    if with_mask:  # gunpowder's RandomLocation checks min_masked on the requested mask: request it in both
        request[MASK] = fg.ArraySpec(roi=request[LABELS].roi, voxel_size=cfg.voxel_size)
    return request


def _fg_source(cfg: Config) -> Any:
    import flowgraph as fg
    from flowgraph.recipes import LABELS, MASK, RAW

    return fg.Hdf5Source(
        cfg.em_path,
        datasets={RAW: "volumes/raw", LABELS: "volumes/labels/neuron_ids", MASK: "volumes/labels/mask"},
        array_specs={LABELS: fg.ArraySpec(interpolatable=False), MASK: fg.ArraySpec(interpolatable=False)},
    )


def fg_io(cfg: Config) -> Any:
    import flowgraph as fg
    from flowgraph.recipes import MASK

    return _fg_source(cfg) + fg.RandomLocation(min_masked=0.5, mask=MASK)


def fg_elastic(cfg: Config, subsample: int) -> Any:
    import flowgraph as fg
    from flowgraph.recipes import CREMI_ELASTIC, MASK, RAW

    return (
        _fg_source(cfg)
        + fg.Normalize(RAW)
        + fg.RandomLocation(min_masked=0.5, mask=MASK)
        + fg.ElasticAugment(**CREMI_ELASTIC, prob_slip=0.05, prob_shift=0.05, max_misalign=25, subsample=subsample)
    )


def fg_cremi(cfg: Config) -> Any:
    from flowgraph.recipes import cremi_training_pipeline

    return cremi_training_pipeline(cfg.em_path, cfg.artifacts_path)


def fg_cremi_workers(cfg: Config) -> Any:
    import flowgraph as fg

    n = cfg.num_workers
    return fg_cremi(cfg) + fg.PreCache(cache_size=2 * n, num_workers=n)


def fg_cremi_stack(cfg: Config) -> Any:
    import flowgraph as fg

    n = cfg.num_workers
    return fg_cremi(cfg) + fg.PreCache(cache_size=2 * n, num_workers=n) + fg.Stack(n)


# one augmentation at a time on the CREMI request (raw 84 x 268 x 268 float32 after Normalize, labels and
# mask 56^3): per-node ms from the profile; append (variant name, factory) pairs for more nodes
def _geometry_nodes() -> dict[str, Callable[[], Any]]:
    import flowgraph as fg

    return {
        "MisAlignment": lambda: fg.MisAlignment(displacement=16, p=1.0),
        "MisAlignment_rotate": lambda: fg.MisAlignment(displacement=16, rotate_ratio=1.0, p=1.0),
        "Rescale": lambda: fg.Rescale(p=1.0),
        "MissingSection": lambda: fg.MissingSection(p=1.0),
    }


def _intensity_nodes() -> dict[str, Callable[[], Any]]:
    """Issue 11's intensity/artifact nodes and OneOf/SomeOf, at p=1 with their default parameters."""
    import flowgraph as fg
    from flowgraph.recipes import RAW

    return {
        "CutBlur": lambda: fg.CutBlur(RAW, length_ratio=0.6, down_ratio_min=4.0, down_ratio_max=8.0, p=1.0),
        "CutNoise": lambda: fg.CutNoise(RAW, p=1.0),
        "MissingParts": lambda: fg.MissingParts(RAW, p=1.0),
        "MotionBlur": lambda: fg.MotionBlur(RAW, p=1.0),
        "GreyAugment": lambda: fg.GreyAugment(RAW, mode="3D", p=1.0),
        "GreyAugment_2D": lambda: fg.GreyAugment(RAW, mode="2D", p=1.0),
        "XYMasking": lambda: fg.XYMasking(
            RAW, num_masks_x=(1, 3), num_masks_y=(1, 3), mask_x_length=(5, 20), mask_y_length=(5, 20), p=1.0
        ),
        "OneOf": lambda: fg.OneOf([fg.MotionBlur(RAW, p=1.0), fg.CutNoise(RAW, p=1.0), fg.GreyAugment(RAW, p=1.0)]),
        "SomeOf": lambda: fg.SomeOf(
            [fg.MotionBlur(RAW, p=1.0), fg.CutNoise(RAW, p=1.0), fg.GreyAugment(RAW, p=1.0)], n=2
        ),
    }


def fg_node(cfg: Config, name: str) -> Any:
    """io + Normalize + one augmentation node (p=1) from ``NODE_FACTORIES``."""
    import flowgraph as fg
    from flowgraph.recipes import MASK, RAW

    return _fg_source(cfg) + fg.Normalize(RAW) + fg.RandomLocation(min_masked=0.5, mask=MASK) + NODE_FACTORIES[name]()


NODE_FACTORIES: dict[str, Callable[[], Any]] = {}

# RasterizeGraph on skeleton-like graphs: random walks through the volume (steps of about 40 nm, one z
# section or ten xy voxels) joined by edges, drawn as tubes of radius 40 nm in z and 16 nm in y and x
SKELETONS_KEY = "SKELETONS"
SKELETON_RASTER_KEY = "SKELETON_RASTER"


def skeleton_graph(cfg: Config, walks: int = 600, steps: int = 100) -> Any:
    """``walks`` random walks of ``steps`` points, consecutive points joined by edges."""
    import flowgraph as fg

    rng = np.random.default_rng(cfg.seed)
    extent = np.array([s * v for s, v in zip(cfg.shape, cfg.voxel_size, strict=True)], dtype=float)
    starts = rng.uniform(0, 1, (walks, 1, 3)) * extent
    walk = starts + np.cumsum(rng.normal(0, 40.0, (walks, steps, 3)), axis=1)
    locations = np.clip(walk, 0, extent - 1e-3).reshape(-1, 3)
    ids = np.arange(walks * steps)
    chained = ids.reshape(walks, steps)
    edges = np.stack([chained[:, :-1].ravel(), chained[:, 1:].ravel()], axis=1)
    return fg.Graph(ids, locations, fg.GraphSpec(roi=fg.Roi((0, 0, 0), tuple(extent.astype(int)))), edges=edges)


def fg_rasterize(cfg: Config) -> Any:
    """io + a GraphSource of skeletons + Normalize + RandomLocation + RasterizeGraph (tubes along the edges)."""
    import flowgraph as fg
    from flowgraph.recipes import MASK, RAW

    skeletons, raster = fg.GraphKey(SKELETONS_KEY), fg.ArrayKey(SKELETON_RASTER_KEY)
    return (
        (_fg_source(cfg), fg.GraphSource(skeletons, skeleton_graph(cfg)))
        + fg.MergeProvider()
        + fg.Normalize(RAW)
        + fg.RandomLocation(min_masked=0.5, mask=MASK)
        + fg.RasterizeGraph(
            skeletons,
            raster,
            fg.ArraySpec(voxel_size=cfg.voxel_size),
            fg.RasterizationSettings(radius=(40, 16, 16)),
        )
    )


def _rasterize_request(cfg: Config) -> Any:
    """The CREMI request plus the skeleton raster over the labels' ROI."""
    import flowgraph as fg
    from flowgraph.recipes import LABELS

    request = _fg_request(cfg)
    request[fg.ArrayKey(SKELETON_RASTER_KEY)] = fg.ArraySpec(roi=request[LABELS].roi, voxel_size=cfg.voxel_size)
    return request


def _noop_pipeline(n: int) -> tuple[Any, Any]:
    import flowgraph as fg

    key = fg.ArrayKey("RAW")

    class NoOp(fg.BatchFilter):
        """Updates ``key`` without changing it: the full prepare/process/crop/check path."""

        def __init__(self, key: fg.ArrayKey) -> None:
            self.key = key

        def setup(self) -> None:
            self.updates(self.key)

        def process(self, batch: fg.Batch, request: fg.BatchRequest) -> None:
            return None

    spec = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (32, 32, 32)), voxel_size=(1, 1, 1))
    data = fg.Array(np.zeros((32, 32, 32), np.uint8), spec)
    pipeline: Any = fg.ArraySource(key, data)
    for _ in range(n):
        pipeline = pipeline + NoOp(key)
    request = fg.BatchRequest()
    request[key] = fg.ArraySpec(roi=fg.Roi((8, 8, 8), (8, 8, 8)))
    return pipeline, request


# -- gunpowder variants ------------------------------------------------------------------------------------


def gp_cremi(cfg: Config, subsample: int) -> tuple[Any, Any]:
    """The same recipe in gunpowder (ElasticAugment as in CREMI, ``subsample`` as given)."""
    import gunpowder as gp

    if not hasattr(gp.Pipeline, "teardown"):  # gunpowder 1.4: DefectAugment calls artifact_source.teardown()
        gp.Pipeline.teardown = gp.Pipeline.internal_teardown
    raw, labels, mask = gp.ArrayKey("RAW"), gp.ArrayKey("LABELS"), gp.ArrayKey("MASK")
    artifacts, artifacts_mask = gp.ArrayKey("ARTIFACTS"), gp.ArrayKey("ARTIFACTS_MASK")
    from flowgraph.recipes import CREMI_ELASTIC

    elastic = dict(CREMI_ELASTIC)  # the same parameters as flowgraph's recipe
    artifact_source = (
        gp.Hdf5Source(
            cfg.artifacts_path,
            datasets={artifacts: "defect_sections/raw", artifacts_mask: "defect_sections/mask"},
            array_specs={a: gp.ArraySpec(interpolatable=True) for a in (artifacts, artifacts_mask)},
        )
        + gp.RandomLocation(min_masked=0.05, mask=artifacts_mask)
        + gp.Normalize(artifacts)
        + gp.Normalize(artifacts_mask)
        + gp.IntensityAugment(artifacts, 0.9, 1.1, -0.1, 0.1, z_section_wise=True)
        + gp.ElasticAugment(**elastic, subsample=subsample)
        + gp.SimpleAugment(transpose_only=[1, 2])
    )
    source = gp.Hdf5Source(
        cfg.em_path,
        datasets={raw: "volumes/raw", labels: "volumes/labels/neuron_ids", mask: "volumes/labels/mask"},
        array_specs={
            raw: gp.ArraySpec(interpolatable=True),
            labels: gp.ArraySpec(interpolatable=False),
            mask: gp.ArraySpec(interpolatable=False),
        },
    )
    pipeline = (
        source
        + gp.Normalize(raw)
        + gp.RandomLocation(min_masked=0.5, mask=mask)
        + gp.ElasticAugment(**elastic, prob_slip=0.05, prob_shift=0.05, max_misalign=25, subsample=subsample)
        + gp.SimpleAugment(transpose_only=[1, 2])
        + gp.IntensityAugment(raw, 0.9, 1.1, -0.1, 0.1, z_section_wise=True)
        + gp.DefectAugment(
            raw,
            prob_missing=0.03,
            prob_low_contrast=0.01,
            prob_artifact=0.03,
            contrast_scale=0.1,
            artifact_source=artifact_source,
            artifacts=artifacts,
            artifacts_mask=artifacts_mask,
        )
    )
    vs = cfg.voxel_size
    request = gp.BatchRequest()
    request.add(raw, tuple(s * v for s, v in zip(cfg.raw_shape, vs)))
    request.add(labels, tuple(s * v for s, v in zip(cfg.labels_shape, vs)))
    request.add(mask, tuple(s * v for s, v in zip(cfg.labels_shape, vs)))
    return pipeline, request


# -- the variants --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Variant:
    name: str
    what: str
    kind: str  # "fg", "gp" or "overhead"
    make: Callable[[Config], Any]
    warmup: Callable[[Config], int] = lambda cfg: 2
    batches: Callable[[Config], int] = lambda cfg: cfg.batches
    voxels: Callable[[Config], int] = lambda cfg: cfg.raw_voxels
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    request: Callable[[Config], Any] | None = None  # flowgraph variants: default the CREMI request


VARIANTS = [
    Variant("io", "Hdf5Source + RandomLocation(min_masked): reading only", "fg", fg_io),
    Variant("elastic_s1", "io + Normalize + ElasticAugment(CREMI), subsample=1", "fg", lambda c: fg_elastic(c, 1)),
    Variant("elastic_s8", "io + Normalize + ElasticAugment(CREMI), subsample=8", "fg", lambda c: fg_elastic(c, 8)),
    Variant(
        "overhead_0",
        "ArraySource, 8^3 voxels",
        "overhead",
        lambda c: _noop_pipeline(0),
        warmup=lambda c: 100,
        batches=lambda c: c.overhead_batches,
        voxels=lambda c: 512,
    ),
    Variant(
        "overhead_20",
        "ArraySource + 20 no-op filters, 8^3 voxels",
        "overhead",
        lambda c: _noop_pipeline(20),
        warmup=lambda c: 100,
        batches=lambda c: c.overhead_batches,
        voxels=lambda c: 512,
    ),
    Variant("cremi", "the CREMI recipe, one process (resampling on up to 4 threads)", "fg", fg_cremi),
    Variant(
        "cremi_1thread",
        "the CREMI recipe, one process, FLOWGRAPH_THREADS=1",
        "fg",
        fg_cremi,
        env={"FLOWGRAPH_THREADS": "1"},
    ),
    Variant(
        "cremi_workers",
        "the CREMI recipe + PreCache(num_workers=N, cache_size=2N); 1 thread each",
        "fg",
        fg_cremi_workers,
        warmup=lambda c: 2 * c.num_workers + 2,
        batches=lambda c: 2 * c.batches,
    ),
    Variant(
        "cremi_stack",
        "the CREMI recipe + PreCache(N workers) + Stack(N); voxels count all N",
        "fg",
        fg_cremi_stack,
        warmup=lambda c: 2,
        voxels=lambda c: c.raw_voxels * c.num_workers,
    ),
    Variant(
        "gp_cremi",
        "gunpowder: the CREMI recipe, one process, subsample=1",
        "gp",
        lambda c: gp_cremi(c, 1),
        warmup=lambda c: 1,
        batches=lambda c: c.gunpowder_batches,
    ),
    Variant(
        "gp_cremi_s8",
        "gunpowder: the CREMI recipe, one process, subsample=8",
        "gp",
        lambda c: gp_cremi(c, 8),
        warmup=lambda c: 1,
        batches=lambda c: 2 * c.gunpowder_batches,
    ),
]
NODE_FACTORIES.update(_geometry_nodes())
NODE_FACTORIES.update(_intensity_nodes())
# one core: the per-node figures of issue 11 are single-threaded (resampling threads and numba included)
ONE_CORE = {"FLOWGRAPH_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
VARIANTS += [
    Variant(
        f"node_{name}",
        f"io + Normalize + {name} (p=1), one core: per-node ms",
        "fg",
        lambda c, n=name: fg_node(c, n),
        env=ONE_CORE,
    )
    for name in NODE_FACTORIES
]
VARIANTS.append(
    Variant(
        "node_RasterizeGraph",
        "io + skeleton graph + Normalize + RasterizeGraph (tubes, labels ROI), one core: per-node ms",
        "fg",
        fg_rasterize,
        env=ONE_CORE,
        request=_rasterize_request,
    )
)
BY_NAME = {v.name: v for v in VARIANTS}


def gunpowder_available() -> bool:
    try:
        import gunpowder  # noqa: F401
    except ImportError:
        return False
    return True


def _rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # KiB on Linux


def _worker_pids(built: Any) -> list[int]:
    nodes = built.nodes() if hasattr(built, "nodes") else []
    return [pid for n in nodes if hasattr(n, "worker_pids") for pid in n.worker_pids()]


def _proc_stats(pids: list[int]) -> tuple[float, float]:
    """(CPU seconds, largest peak RSS in MB) of the processes ``pids``, from /proc."""
    cpu, peak = 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
            with open(f"/proc/{pid}/status") as f:
                hwm = next(line for line in f if line.startswith("VmHWM:"))
            peak = max(peak, int(hwm.split()[1]) / 1024.0)
        except (OSError, StopIteration, IndexError, ValueError):
            continue
    return cpu, peak


def _gp_records(batch: Any) -> list[tuple[str, str, float]]:
    """gunpowder's per-batch ProfilingStats as flowgraph profiling records."""
    records = []
    for (node, method), summary in batch.profiling_stats.get_timing_summaries().items():
        records.append((node, "prepare" if method == "prepare" else "process", summary.mean() * summary.counts()))
    return records


def run_variant(variant: Variant, cfg: Config) -> dict[str, Any]:
    """Build, warm up, time, trace: the measurements of one variant in this process."""
    from flowgraph.profiling import ProfileStats

    warnings.simplefilter("ignore", DeprecationWarning)  # gunpowder's ElasticAugment is deprecated upstream
    stats = ProfileStats()
    n_warm, n = variant.warmup(cfg), variant.batches(cfg)
    t_setup = time.perf_counter()
    if variant.kind == "gp":
        import gunpowder as gp

        pipeline, request = variant.make(cfg)
        build, records, seeded = gp.build, _gp_records, lambda r, s: _gp_seeded(r, s)
    else:
        import flowgraph as fg

        if variant.kind == "overhead":
            pipeline, request = variant.make(cfg)
        else:
            pipeline, request = variant.make(cfg), (variant.request or _fg_request)(cfg)
        build, records, seeded = fg.build, (lambda b: b.profiling), (lambda r, s: r)
    with build(pipeline) as p:
        setup_s = time.perf_counter() - t_setup
        t0 = time.perf_counter()
        for i in range(n_warm):
            p.request_batch(seeded(request, i))
        warm_s = time.perf_counter() - t0
        pids = _worker_pids(p)
        workers_cpu0 = _proc_stats(pids)[0]
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        for i in range(n):
            batch = p.request_batch(seeded(request, n_warm + i))
            stats.add(records(batch))
            del batch
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        workers_cpu, workers_peak = _proc_stats(pids)
        workers_cpu -= workers_cpu0
        traced = None
        if variant.kind != "overhead":
            tracemalloc.start()
            for i in range(2):
                batch = p.request_batch(seeded(request, n_warm + n + i))
                del batch
            traced = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
    return {
        "name": variant.name,
        "what": variant.what,
        "kind": variant.kind,
        "batches": n,
        "warmup": n_warm,
        "setup_s": setup_s,
        "warmup_s": warm_s,
        "wall_s": wall,
        "cpu_s": cpu,
        "workers_cpu_s": workers_cpu,
        "cores_used": (cpu + workers_cpu) / wall,
        "batches_per_s": n / wall,
        "ms_per_batch": 1e3 * wall / n,
        "voxels_per_s": n * variant.voxels(cfg) / wall,
        "peak_rss_mb": _rss_mb(resource.RUSAGE_SELF),
        "workers_peak_rss_mb": workers_peak,
        "traced_peak_mb": traced,
        "profile": [dataclasses.asdict(r) for r in stats.rows()],
    }


def _gp_seeded(request: Any, seed: int) -> Any:
    r = request.copy()
    r._random_seed = seed + 1  # gunpowder treats seed 0 as "draw one"
    return r


# -- the report ----------------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "cpus": f"{len(os.sched_getaffinity(0))} usable (nproc), {os.cpu_count()} total",
        "cpu": cpu,
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    try:
        import scipy

        info["scipy"] = scipy.__version__
    except ImportError:  # pragma: no cover
        pass
    try:
        from importlib.metadata import version

        info["gunpowder"] = version("gunpowder")
    except Exception:
        info["gunpowder"] = "not importable"
    with contextlib.suppress(OSError):
        info["load average (1, 5, 15 min)"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return info


def report(results: dict[str, dict[str, Any]], cfg: Config) -> str:
    lines = ["machine:"]
    lines += [f"  {k}: {v}" for k, v in machine().items()]
    lines.append(
        "data: raw {}x{}x{} uint8, neuron ids uint64, mask uint8 at {}x{}x{} nm; artifacts {}x{}x{}".format(
            *cfg.shape, *cfg.voxel_size, *cfg.artifact_shape
        )
    )
    lines.append(
        "request: raw {}x{}x{} voxels, labels and mask {}x{}x{} voxels; workers N = {}".format(
            *cfg.raw_shape, *cfg.labels_shape, cfg.num_workers
        )
    )
    lines.append("")
    head = (
        f"{'variant':<14} {'batches':>7} {'batch/s':>8} {'ms/batch':>9} {'Mvox/s':>8} {'cores':>5} "
        f"{'CPU ms/b':>8} {'RSS MB':>7} {'wkr MB':>7} {'traced MB':>9}"
    )
    lines += [head, "-" * len(head)]
    for name, r in results.items():
        traced = "-" if r.get("traced_peak_mb") is None else f"{r['traced_peak_mb']:.0f}"
        workers = f"{r['workers_peak_rss_mb']:.0f}" if r["workers_peak_rss_mb"] > 0 else "-"
        lines.append(
            f"{name:<14} {r['batches']:>7} {r['batches_per_s']:>8.2f} {r['ms_per_batch']:>9.2f} "
            f"{r['voxels_per_s'] / 1e6:>8.2f} {r['cores_used']:>5.2f} {_cpu_ms(r):>8.1f} {r['peak_rss_mb']:>7.0f} "
            f"{workers:>7} {traced:>9}"
        )
    lines.append(
        "(cores: CPU seconds of the process and its workers per wall second; CPU ms/b: their CPU time per"
        " batch; RSS: peak resident memory of the process, wkr: of its largest worker; traced: peak of traced"
        " allocations over 2 batches; with --repeat, the fastest run of each variant)"
    )
    lines.append("")
    lines.append("variants:")
    for name, r in results.items():
        every = r.get("runs_batches_per_s", [])
        runs = f"; batches/s of {len(every)} runs: {', '.join(f'{b:.2f}' for b in every)}" if len(every) > 1 else ""
        lines.append(
            f"  {name}: {r['what']} (setup {r['setup_s']:.1f} s, warm-up {r['warmup']} batches in "
            f"{r['warmup_s']:.1f} s{runs})"
        )
    for name, r in results.items():
        if r["kind"] == "overhead":
            continue
        from flowgraph.profiling import ProfileRow, format_table

        rows = [ProfileRow(**row) for row in r["profile"]]
        lines += ["", format_table(rows, r["batches"], f"[{name}] per-node split")]
    lines += ["", "targets (issue 5):"]
    lines += targets(results)
    return "\n".join(lines)


def _cpu_ms(result: dict[str, Any]) -> float:
    return 1e3 * (result["cpu_s"] + result.get("workers_cpu_s", 0.0)) / result["batches"]


def _row(result: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    return next((row for row in result["profile"] if row["node"].startswith(prefix)), None)


def targets(results: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    fg_, gp1, gp8 = results.get("cremi"), results.get("gp_cremi"), results.get("gp_cremi_s8")
    if fg_ and gp1:
        ratio = fg_["batches_per_s"] / gp1["batches_per_s"]
        out.append(
            f"  CREMI recipe, one process, vs gunpowder (subsample=1): {ratio:.1f}x  (target >= 5x: "
            f"{'met' if ratio >= 5 else 'MISSED'})"
        )
    if fg_ and gp8:
        ratio = fg_["batches_per_s"] / gp8["batches_per_s"]
        out.append(f"  CREMI recipe, one process, vs gunpowder at subsample=8: {ratio:.1f}x")
    if fg_ and not gp1 and not gp8:
        out.append("  vs gunpowder: not run (not selected, or gunpowder is not importable in this Python)")
    workers, one = results.get("cremi_workers"), results.get("cremi_1thread")
    if fg_ and workers:
        ratio = workers["batches_per_s"] / fg_["batches_per_s"]
        out.append(
            f"  N workers vs none: {ratio:.2f}x  (target >= 1.7x with 2 workers on 2 cores: "
            f"{'met' if ratio >= 1.7 else 'MISSED'}); the single process already resamples on "
            f"{fg_['cores_used']:.2f} cores"
        )
    if one and workers:
        ratio = workers["batches_per_s"] / one["batches_per_s"]
        out.append(f"  N workers (1 thread each) vs one single-threaded process: {ratio:.2f}x")
        cores = len(os.sched_getaffinity(0))
        projected = (cores / _cpu_ms(workers)) / (1 / _cpu_ms(one))
        out.append(
            f"  from CPU time per batch ({_cpu_ms(workers):.0f} ms with workers, {_cpu_ms(one):.0f} ms in one "
            f"single-threaded process): {cores} cores to ourselves would give {projected:.2f}x"
        )
    o0, o20 = results.get("overhead_0"), results.get("overhead_20")
    if o0 and o20:
        per_node = 1e3 * (o20["ms_per_batch"] - o0["ms_per_batch"]) / 20
        out.append(
            f"  framework overhead: {per_node:.0f} us per node per batch  (target < 50 us: "
            f"{'met' if per_node < 50 else 'MISSED'}); a bare source costs {1e3 * o0['ms_per_batch']:.0f} us"
        )
    for name, r in results.items():
        row = _row(r, name.removeprefix("node_").split("_")[0]) if name.startswith("node_") else None
        if row:
            out.append(
                f"  [{name}] {row['node']}: {row['prepare_ms'] + row['process_ms']:.1f} ms per batch "
                f"(prepare {row['prepare_ms']:.1f}, process {row['process_ms']:.1f})"
            )
    for name in ("cremi", "elastic_s1", "elastic_s8"):
        r = results.get(name)
        row = _row(r, "ElasticAugment") if r else None
        if row and row["prepare_ms"] + row["process_ms"] > 0:
            share = row["prepare_ms"] / (row["prepare_ms"] + row["process_ms"])
            out.append(
                f"  [{name}] ElasticAugment map generation (its prepare): {row['prepare_ms']:.1f} ms = "
                f"{share:.0%} of its {row['prepare_ms'] + row['process_ms']:.1f} ms  (target < 10%: "
                f"{'met' if share < 0.1 else 'MISSED'})"
            )
    return out


# -- entry point -----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small volume, few batches")
    parser.add_argument("--only", help="comma-separated variants (default: all)")
    parser.add_argument("--batches", type=int, help="timed batches per flowgraph variant")
    parser.add_argument("--workers", type=int, default=0, help="PreCache workers (default: usable CPUs)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each flowgraph variant this often and report the fastest run (gunpowder runs once)",
    )
    parser.add_argument("--data-dir", help="where the volumes are written (default benchmarks/data)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--in-process", action="store_true", help="run the variants in this process")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.variant:  # a child: one variant, result as JSON on the last line of stdout
        cfg = Config(**{k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(args.config).items()})
        print(json.dumps(run_variant(BY_NAME[args.variant], cfg)))
        return 0

    settings: dict[str, Any] = dict(QUICK) if args.quick else {}
    if args.batches:
        settings["batches"] = args.batches
    if args.data_dir:
        settings["data_dir"] = args.data_dir
    settings["workers"] = args.workers
    cfg = Config(**settings)
    names = args.only.split(",") if args.only else [v.name for v in VARIANTS]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")
    if not gunpowder_available():
        skipped = [n for n in names if BY_NAME[n].kind == "gp"]
        names = [n for n in names if BY_NAME[n].kind != "gp"]
        if skipped:
            print(f"gunpowder is not importable in {sys.executable}: skipping {', '.join(skipped)}", file=sys.stderr)
    ensure_data(cfg)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    rounds = max(1, args.repeat)
    for round_ in range(rounds):  # rounds, not repetitions in a row: slow phases of the machine hit all variants
        for name in names:
            if round_ > 0 and BY_NAME[name].kind == "gp":
                continue
            print(f"running {name} ({round_ + 1}/{rounds}) ...", file=sys.stderr, flush=True)
            if args.in_process:
                runs[name].append(run_variant(BY_NAME[name], cfg))
                continue
            config = json.dumps(dataclasses.asdict(cfg))
            done = subprocess.run(
                [sys.executable, __file__, "--variant", name, "--config", config],
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, **BY_NAME[name].env},
            )
            if done.returncode != 0:
                print(f"{name} failed:\n{done.stderr[-4000:]}", file=sys.stderr)
                continue
            runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    results: dict[str, dict[str, Any]] = {}
    for name, done_runs in runs.items():
        if done_runs:
            best = max(done_runs, key=lambda r: r["batches_per_s"])
            best["runs_batches_per_s"] = [r["batches_per_s"] for r in done_runs]
            results[name] = best
    text = report(results, cfg)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "config": dataclasses.asdict(cfg), "results": results}, f, indent=1)
    return 0 if len(results) == len(names) else 1


if __name__ == "__main__":
    sys.exit(main())
