"""``flowgraph precompute``: write N samples of a pipeline to one HDF5 file, resumably.

The file layout (atlalign's: one dataset per array, the samples stacked on a new first axis):

- one dataset per requested array, named after its key, lower-cased (``ArrayKey("IMG")`` and
  ``ArrayKey("img")`` both give ``img``; two keys that would share a name are refused), shape
  ``(N, *array shape)``, the array's dtype, contiguous and allocated when the file is created.
  Its attributes: ``key`` (the key's exact name), ``nonspatial``, ``interpolatable`` and, for
  spatial arrays, ``resolution`` (voxel size) and ``offset`` (the requested ROI's begin, world
  units), so that :class:`flowgraph.nodes.PrecomputedSource` serves a sample at the world ROI the
  pipeline delivered it;
- ``done``: a bool dataset of length N, ``done[i]`` True once sample ``i`` is wholly on disk;
- root attributes: ``format`` (``"flowgraph.precomputed/1"``), ``n``, ``seeds`` (int64, length N:
  the request seed of every sample), ``pipeline`` (the pipeline's text tree,
  :func:`flowgraph.visualize.describe.to_text`), ``request`` (one line per key: ROI, voxel size,
  dtype), ``complete`` (True once every sample is done).

Resumption. The file is created whole (every dataset, ``done`` all False, the attributes) under a
temporary name beside the target and renamed into place, so it exists either complete in its
structure or not at all. Then each sample is written into its slots, the file is flushed, and
only then ``done[i]`` is set and flushed again. After creation nothing in the file's metadata
changes until ``complete`` is set at the end (datasets are preallocated, the writes are raw data),
so a process killed at any moment leaves a readable file in which every sample marked done is
whole. Run again with the same pipeline, request and ``-n``, it computes exactly the samples not
marked done, with the seeds stored in the file; since a pipeline's batch is a function of its
seed, the result equals an uninterrupted run bit for bit (every dataset and attribute). A file
whose ``seeds``, ``pipeline``, ``request``, ``n`` or datasets differ is refused, never
overwritten.

The description compares the pipeline's text tree (node classes and keys) and the request, not
the nodes' parameters: changing, say, a sigma between two runs into the same file is not
detected.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from flowgraph.errors import ConfigError
from flowgraph.rng import SEED_MODULUS, seed_stream

if TYPE_CHECKING:
    import h5py

    from flowgraph.batch import Batch
    from flowgraph.keys import ArrayKey
    from flowgraph.pipeline import Pipeline
    from flowgraph.request import BatchRequest

FORMAT = "flowgraph.precomputed/1"
DONE = "done"

#: ``progress(done, total)``: called once before the first sample and after every sample written
ProgressCallback = Callable[[int, int], None]


@dataclasses.dataclass
class PrecomputeResult:
    """What :func:`precompute` did.

    Attributes:
        path: the file.
        n: samples in the file.
        computed: samples computed by this call.
        kept: samples already done by an earlier run and left as they were.
        seconds: time spent (build and computation).
        datasets: key name -> dataset name.
    """

    path: str
    n: int
    computed: int
    kept: int
    seconds: float
    datasets: dict[str, str]


def dataset_names(request: BatchRequest) -> dict[ArrayKey, str]:
    """The dataset of every requested array: its key's name, lower-cased.

    Raises:
        ConfigError: the request holds a graph, no array, or two keys that give the same name.

    Example:
        >>> import flowgraph as fg
        >>> request = fg.BatchRequest()
        >>> request.add(fg.ArrayKey("IMG"), (4, 4))
        >>> request.add(fg.ArrayKey("deltas_xy"), (4, 4))
        >>> sorted(dataset_names(request).values())
        ['deltas_xy', 'img']
    """
    from flowgraph.keys import ArrayKey

    names: dict[ArrayKey, str] = {}
    for key in request:
        if not isinstance(key, ArrayKey):
            raise ConfigError(
                f"precompute: the request holds {key}, a graph; precompute writes arrays only. "
                "Drop it from the request."
            )
        name = key.name.lower()
        if name == DONE:
            raise ConfigError(
                f"precompute: the array {key} would be stored as {DONE!r}, the name of the completion flags. "
                "Rename the key."
            )
        clash = [k for k, v in names.items() if v == name]
        if clash:
            raise ConfigError(
                f"precompute: {clash[0]} and {key} would both be stored as {name!r} (names are lower-cased). "
                "Rename one of the keys."
            )
        names[key] = name
    if not names:
        raise ConfigError("precompute: the request holds no array; add the arrays to store to the request.")
    return names


def describe_request(request: BatchRequest) -> str:
    """One line per requested key (sorted): ROI, voxel size, dtype, nonspatial; the seed left out.

    Example:
        >>> import flowgraph as fg
        >>> request = fg.BatchRequest(random_seed=3)
        >>> request[fg.ArrayKey("RAW")] = fg.ArraySpec(roi=fg.Roi((-2, -2), (4, 4)))
        >>> print(describe_request(request))
        RAW roi=[-2:2, -2:2] voxel_size=None dtype=None nonspatial=False
    """
    lines = []
    for key, spec in sorted(request.items(), key=lambda kv: str(kv[0])):
        roi = "None" if spec.roi is None else str(spec.roi).removeprefix("Roi(").removesuffix(")")
        vs = getattr(spec, "voxel_size", None)
        voxel_size = "None" if vs is None else "(" + ", ".join(str(v) for v in vs) + ")"
        lines.append(
            f"{key} roi={roi} voxel_size={voxel_size} dtype={getattr(spec, 'dtype', None)} "
            f"nonspatial={bool(getattr(spec, 'nonspatial', False))}"
        )
    return "\n".join(lines)


def sample_seeds(first: int, n: int) -> np.ndarray:
    """The seeds of ``n`` samples from ``first`` on (``flowgraph.rng.seed_stream``), int64.

    Example:
        >>> sample_seeds(7, 3).tolist()
        [7, 8, 9]
    """
    stream = seed_stream(int(first), start=0)
    return np.array([next(stream) for _ in range(n)], dtype=np.int64)


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _read_state(path: str) -> dict[str, Any]:
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ConfigError(
            f"precompute: {path!r} exists but is not a readable HDF5 file ({e}). Delete it or choose another output."
        ) from e
    with f:
        if _text(f.attrs.get("format")) != FORMAT or DONE not in f:
            raise ConfigError(
                f"precompute: {path!r} exists and was not written by flowgraph precompute. "
                "Delete it or choose another output; it is never overwritten."
            )
        return {
            "n": int(f.attrs["n"]),
            "seeds": np.asarray(f.attrs["seeds"], dtype=np.int64),
            "pipeline": _text(f.attrs["pipeline"]),
            "request": _text(f.attrs["request"]),
            "done": np.asarray(f[DONE][()], dtype=bool),
            "datasets": sorted(k for k in f if k != DONE),
        }


def _check_resumable(
    path: str, state: dict[str, Any], n: int, seeds: np.ndarray | None, pipeline: str, request: str, names: list[str]
) -> None:
    fix = "Run with the arguments that wrote it, or delete the file to start over."
    if state["n"] != n:
        raise ConfigError(f"precompute: {path!r} holds {state['n']} samples, not -n {n}. {fix}")
    if seeds is not None and not np.array_equal(state["seeds"], seeds):
        raise ConfigError(
            f"precompute: {path!r} was written with seeds from {int(state['seeds'][0])}, not {int(seeds[0])}. {fix}"
        )
    if state["request"] != request:
        raise ConfigError(
            f"precompute: {path!r} was written for another request:\n{state['request']}\nnot\n{request}\n{fix}"
        )
    if state["pipeline"] != pipeline:
        raise ConfigError(
            f"precompute: {path!r} was written by another pipeline:\n{state['pipeline']}\nnot\n{pipeline}\n{fix}"
        )
    if state["datasets"] != sorted(names):
        raise ConfigError(f"precompute: {path!r} holds the datasets {state['datasets']}, not {sorted(names)}. {fix}")


def _create(
    path: str, batch: Batch, names: dict[ArrayKey, str], n: int, seeds: np.ndarray, pipeline: str, request: str
) -> None:
    """Create the whole file structure (datasets allocated, ``done`` all False) atomically."""
    import h5py

    from flowgraph.nodes.store_writer import remove, temporary_path

    tmp = temporary_path(path)
    try:
        with h5py.File(tmp, "w") as f:
            for key, name in names.items():
                array = batch[key]
                dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
                dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)  # no metadata changes after creation
                ds = f.create_dataset(name, shape=(n, *array.data.shape), dtype=array.data.dtype, dcpl=dcpl)
                spec = array.spec
                ds.attrs["key"] = key.name
                ds.attrs["nonspatial"] = bool(spec.nonspatial)
                ds.attrs["interpolatable"] = bool(spec.interpolatable)
                if not spec.nonspatial and spec.roi is not None and spec.voxel_size is not None:
                    ds.attrs["resolution"] = np.asarray(spec.voxel_size.ints(), dtype=np.int64)
                    ds.attrs["offset"] = np.asarray(spec.roi.begin.ints(), dtype=np.int64)
            dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
            f.create_dataset(DONE, shape=(n,), dtype=bool, fillvalue=False, dcpl=dcpl)
            f[DONE][...] = False
            f.attrs["format"] = FORMAT
            f.attrs["n"] = n
            f.attrs["seeds"] = seeds
            f.attrs["pipeline"] = pipeline
            f.attrs["request"] = request
            f.attrs["complete"] = False
        os.replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise


def _write_sample(f: h5py.File, i: int, batch: Batch, names: dict[ArrayKey, str]) -> None:
    for key, name in names.items():
        ds = f[name]
        data = batch[key].data
        if data.shape != ds.shape[1:] or data.dtype != ds.dtype:
            raise ConfigError(
                f"precompute: sample {i} delivered {key} as {data.shape} {data.dtype}, but the file stores "
                f"{ds.shape[1:]} {ds.dtype}; every sample of a request must have the same shape and dtype."
            )
        ds[i] = data
    f.flush()  # the sample is on disk ...
    f[DONE][i] = True  # ... before it is marked done
    f.flush()


def precompute(
    pipeline: Pipeline,
    request: BatchRequest,
    path: str | os.PathLike[str],
    n: int,
    seed: int | None = None,
    workers: int = 0,
    progress: ProgressCallback | None = None,
) -> PrecomputeResult:
    """Write ``n`` samples of ``pipeline`` for ``request`` to the HDF5 file ``path``, resuming a partial file.

    Sample ``i`` is the batch for ``request`` with the seed ``seed + i`` (``flowgraph.rng.seed_stream``).
    The layout and the resumption scheme are described in the module docstring.

    Args:
        pipeline: the (unbuilt) pipeline.
        request: what every sample holds (arrays only).
        path: the output file; an existing file written by an interrupted run with the same
            arguments is completed, any other existing file is refused.
        n: the number of samples.
        seed: the first sample's seed. None: the seeds stored in an existing file, else the
            request's ``random_seed``, else a fresh random seed (recorded in the file).
        workers: worker processes (PreCache); 0 computes in this process.
        progress: called as ``progress(done, n)`` before the first sample and after each one
            (an exception it raises, e.g. KeyboardInterrupt, stops the run resumably).

    Returns:
        A :class:`PrecomputeResult`.

    Raises:
        ConfigError: bad arguments, a request with graphs or clashing names, or an existing file
            that does not match.

    Example:
        >>> import os, tempfile, numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> data = fg.Array(np.arange(64, dtype=np.float32).reshape(8, 8), fg.ArraySpec(
        ...     roi=fg.Roi((0, 0), (8, 8)), voxel_size=(1, 1)))
        >>> request = fg.BatchRequest()
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((0, 0), (4, 4)))
        >>> path = os.path.join(tempfile.mkdtemp(), "set.h5")
        >>> result = precompute(fg.ArraySource(raw, data) + fg.RandomLocation(), request, path, 3, seed=5)
        >>> result.computed, result.datasets
        (3, {'RAW': 'raw'})
        >>> import h5py
        >>> with h5py.File(path, "r") as f:
        ...     f["raw"].shape, f.attrs["seeds"].tolist(), bool(f.attrs["complete"])
        ((3, 4, 4), [5, 6, 7], True)
    """
    import h5py

    import flowgraph as fg
    from flowgraph.visualize.describe import to_text

    t0 = time.perf_counter()
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ConfigError(f"precompute: n must be a positive integer, got {n!r}.")
    n = int(n)
    if isinstance(workers, bool) or not isinstance(workers, int | np.integer) or workers < 0:
        raise ConfigError(f"precompute: workers must be an integer >= 0, got {workers!r}.")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0):
        raise ConfigError(f"precompute: seed must be an integer >= 0 or None, got {seed!r}.")
    if isinstance(pipeline, fg.BatchProvider):
        pipeline = fg.Pipeline(pipeline)
    if not isinstance(pipeline, fg.Pipeline):
        raise ConfigError(f"precompute: pipeline must be a flowgraph Pipeline, got {type(pipeline).__name__}.")
    if not isinstance(request, fg.BatchRequest):
        raise ConfigError(f"precompute: request must be a BatchRequest, got {type(request).__name__}.")
    path = os.fspath(path)
    names = dataset_names(request)
    pipeline_text = to_text(pipeline)
    request_text = describe_request(request)

    seeds: np.ndarray | None = None
    if seed is not None:
        seeds = sample_seeds(int(seed), n)
    done = np.zeros(n, dtype=bool)
    exists = os.path.exists(path)
    if exists:
        state = _read_state(path)
        _check_resumable(path, state, n, seeds, pipeline_text, request_text, list(names.values()))
        seeds, done = state["seeds"], state["done"]
    elif seeds is None:
        first = request.random_seed
        if first is None:
            first = int(np.random.SeedSequence().generate_state(2, dtype=np.uint64)[0]) % SEED_MODULUS
        seeds = sample_seeds(int(first), n)
    assert seeds is not None
    kept = int(done.sum())
    missing = [i for i in range(n) if not done[i]]
    if progress is not None:
        progress(kept, n)
    computed = 0
    if missing:
        built = pipeline + fg.PreCache(num_workers=int(workers)) if workers else pipeline
        f: h5py.File | None = h5py.File(path, "r+") if exists else None
        try:
            with fg.build(built) as p:
                for i in missing:
                    batch = p.request_batch(request.with_seed(int(seeds[i])))
                    if f is None:
                        _create(path, batch, names, n, seeds, pipeline_text, request_text)
                        f = h5py.File(path, "r+")
                    _write_sample(f, i, batch, names)
                    computed += 1
                    if progress is not None:
                        progress(kept + computed, n)
            assert f is not None
            f.attrs["complete"] = True
            f.flush()
        finally:
            if f is not None:
                f.close()
    return PrecomputeResult(
        path=path,
        n=n,
        computed=computed,
        kept=kept,
        seconds=time.perf_counter() - t0,
        datasets={key.name: name for key, name in names.items()},
    )


# ------------------------------------------------------------------------------------------------
# the subcommand


def cmd_precompute(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from flowgraph.cli.commands import EXIT_OK, Progress, _require_request, load_pipeline_file

    pipeline, request = load_pipeline_file(args.pipeline)
    request = _require_request(request, args.pipeline)
    bar: list[Any] = []

    def progress(done: int, total: int) -> None:
        if not bar:  # the bar counts this run's samples, so that its rate is this run's
            bar.extend([Progress(total - done, err, label="samples"), done])
            if done:
                err.write(f"{args.output}: {done} of {total} samples already done; computing the rest\n")
        bar[0].update(done - bar[1])

    try:
        result = precompute(
            pipeline, request, args.output, args.samples, seed=args.seed, workers=args.workers, progress=progress
        )
    except KeyboardInterrupt:
        if os.path.exists(args.output):
            err.write(f"\n{args.output}: interrupted; run the same command again to compute the missing samples\n")
        raise
    names = ", ".join(f"{k} -> {v}" for k, v in result.datasets.items())
    out.write(
        f"{result.path}: {result.n} samples ({result.computed} computed, {result.kept} kept from an earlier run) "
        f"in {result.seconds:.2f} s; datasets: {names}\n"
    )
    return EXIT_OK


def add_parser(sub: Any, positive: Callable[[str], int], non_negative: Callable[[str], int]) -> None:
    """Register ``precompute`` on the subparsers ``sub`` of the ``flowgraph`` command."""
    pre = sub.add_parser(
        "precompute",
        help="write N samples of a pipeline to one HDF5 file (resumable)",
        description="Request -n samples from PIPELINE.py (seeds S, S + 1, ...) and store each requested "
        "array stacked along a new first axis, under its key's name in lower case, with the seeds and the "
        "pipeline's description as attributes. Interrupted and run again, it computes only the missing samples.",
    )
    pre.add_argument("pipeline", metavar="PIPELINE.py")
    pre.add_argument("-n", "--samples", type=positive, required=True, metavar="N", help="number of samples")
    pre.add_argument("-o", "--output", required=True, metavar="OUT.h5", help="the HDF5 file to write or complete")
    pre.add_argument("--seed", type=non_negative, default=None, help="seed of the first sample (then +1 per sample)")
    pre.add_argument("--workers", type=non_negative, default=0, help="worker processes (PreCache); default 0")
    pre.set_defaults(func=cmd_precompute)


__all__: Sequence[str] = [
    "FORMAT",
    "PrecomputeResult",
    "add_parser",
    "dataset_names",
    "describe_request",
    "precompute",
    "sample_seeds",
]
