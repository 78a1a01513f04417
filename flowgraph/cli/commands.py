"""The ``flowgraph`` command line: demo, run, show and preview.

``flowgraph demo`` is the main job on an embedded default: it writes a synthetic EM volume and
an artifact volume, runs the CREMI training recipe with snapshots, and draws the pipeline and a
preview. ``run``, ``show`` and ``preview`` work on a user's pipeline file, a Python file that
defines ``pipeline`` (a Pipeline) and ``request`` (a BatchRequest).

Exit codes: 0 success, 1 an error in the pipeline or its file (shown as the flowgraph message,
without a traceback unless ``--debug``), 2 a usage error, 130 interrupted.

Ctrl-C (SIGINT) is deferred to safe points (:class:`DeferredInterrupt`): Python's default
handler raises KeyboardInterrupt wherever the main thread is, and a KeyboardInterrupt raised in a
finalizer, a weakref callback or an HDF5 library callback is printed as "Exception ignored" and
lost, while one raised half-way through releasing a lock leaves the lock held.
"""

from __future__ import annotations

import argparse
import os
import runpy
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from flowgraph.rng import seed_stream

if TYPE_CHECKING:
    from flowgraph.keys import Key

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A command-line usage problem (exit code 2)."""


class PipelineFileError(Exception):
    """The user's pipeline file is broken or does not define what it must (exit code 1)."""


# ------------------------------------------------------------------------------------------------
# helpers


class Progress:
    """A plain-text progress bar on a stream (redrawn in place on a terminal, else every 10%)."""

    def __init__(self, total: int, stream: TextIO | None = None, label: str = "batches") -> None:
        self.total = max(1, total)
        self.stream = stream if stream is not None else sys.stderr
        self.label = label
        self.start = time.perf_counter()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_decile = -1

    def update(self, done: int) -> None:
        elapsed = time.perf_counter() - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else float("nan")
        width = 30
        filled = int(width * done / self.total)
        line = (
            f"[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} {self.label}"
            f"  {rate:.2f}/s  elapsed {elapsed:.1f}s" + (f"  eta {eta:.0f}s" if done < self.total and rate > 0 else "")
        )
        if self.tty:
            self.stream.write("\r" + line)
            if done >= self.total:
                self.stream.write("\n")
        else:
            decile = int(10 * done / self.total)
            if decile != self._last_decile or done >= self.total:
                self._last_decile = decile
                self.stream.write(line + "\n")
        self.stream.flush()


def load_pipeline_file(path: str) -> tuple[Any, Any]:
    """Run the user's file and return its ``pipeline`` and ``request``."""
    import flowgraph as fg

    if not os.path.isfile(path):
        raise UsageError(f"{path}: no such file; give the path of a Python file that defines `pipeline` and `request`.")
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        namespace = runpy.run_path(path, run_name="__flowgraph_pipeline__")
    except fg.FlowgraphError:
        raise
    except SyntaxError as e:
        raise PipelineFileError(f"{path}, line {e.lineno}: syntax error: {e.msg}.") from e
    except Exception as e:
        where = _user_frame(e, path)
        raise PipelineFileError(f"{path}{where}: {type(e).__name__}: {e}") from e
    finally:
        sys.path.pop(0)
    pipeline = namespace.get("pipeline")
    request = namespace.get("request")
    if pipeline is None:
        raise PipelineFileError(
            f"{path}: defines no `pipeline`; assign the composed pipeline, e.g. pipeline = source + ..."
        )
    if isinstance(pipeline, fg.BatchProvider):
        pipeline = fg.Pipeline(pipeline)
    if not isinstance(pipeline, fg.Pipeline):
        raise PipelineFileError(f"{path}: `pipeline` must be a flowgraph Pipeline, got {type(pipeline).__name__}.")
    if request is not None and not isinstance(request, fg.BatchRequest):
        raise PipelineFileError(f"{path}: `request` must be a flowgraph BatchRequest, got {type(request).__name__}.")
    return pipeline, request


def _user_frame(error: BaseException, path: str) -> str:
    """`, line N` of the deepest traceback frame inside the user's file."""
    line = ""
    target = os.path.abspath(path)
    for frame, lineno in traceback.walk_tb(error.__traceback__):
        if os.path.abspath(frame.f_code.co_filename) == target:
            line = f", line {lineno}"
    return line


def _require_request(request: Any, path: str) -> Any:
    if request is None:
        raise PipelineFileError(
            f"{path}: defines no `request`; add request = fg.BatchRequest() with the keys to deliver."
        )
    return request


class DeferredInterrupt:
    """While active (a context manager, main thread only): Ctrl-C becomes a KeyboardInterrupt at a safe point.

    The SIGINT handler only takes note. The KeyboardInterrupt is raised by :meth:`check`, which
    the command's batch loop calls between batches and a PreCache's worker pool calls while it
    waits for a batch (:func:`flowgraph.parallel.executor.check_interrupt`, ten times a second).
    Where no safe point comes within ``force_after`` seconds (a long batch computed in this
    process), the handler raises it once where the main thread is, as Python would have; a third
    Ctrl-C raises it at once. After the first Ctrl-C, cleanup (workers stopped, files closed)
    runs without being interrupted again.
    """

    def __init__(self, force_after: float = 2.0) -> None:
        self.force_after = force_after
        self.requested: float | None = None  # monotonic time of the first Ctrl-C
        self.delivered = False  # a KeyboardInterrupt was raised for it
        self.signals = 0
        self._forcing = False
        self._active = False
        self._stop = threading.Event()

    def __enter__(self) -> DeferredInterrupt:
        if threading.current_thread() is not threading.main_thread():
            return self  # signal handlers belong to the main thread: Python's default stays
        from flowgraph.parallel.executor import set_interrupt_check

        self._previous = signal.signal(signal.SIGINT, self._handler)
        self._previous_check = set_interrupt_check(self.check)
        self._main = threading.get_ident()
        self._active = True
        # started here, not in the handler: starting a thread from a signal handler can deadlock
        self._watchdog = threading.Thread(target=self._watch, name="flowgraph-interrupt", daemon=True)
        self._watchdog.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._active:
            return
        from flowgraph.parallel.executor import set_interrupt_check

        self._active = False
        self._stop.set()
        self._watchdog.join(1.0)
        set_interrupt_check(self._previous_check)
        signal.signal(signal.SIGINT, self._previous)

    def _handler(self, signum: int, frame: Any) -> None:
        self.signals += 1
        if self.requested is None:
            self.requested = time.monotonic()
        if self._forcing or self.signals >= 3:
            self._forcing = False
            self.delivered = True
            raise KeyboardInterrupt

    def _watch(self) -> None:
        forced = False
        while not self._stop.wait(0.05):
            if forced or self.delivered or self.requested is None:
                continue
            if time.monotonic() - self.requested < self.force_after:
                continue
            forced = True
            self._forcing = True
            signal.pthread_kill(self._main, signal.SIGINT)  # a real signal: it also ends a blocking call

    def check(self) -> None:
        """Raise KeyboardInterrupt if Ctrl-C was pressed (a safe point)."""
        if self.requested is not None:
            self.delivered = True
            raise KeyboardInterrupt


def _precache(workers: int) -> Any:
    import flowgraph as fg

    cls = getattr(fg, "PreCache", None)
    if cls is None:
        raise UsageError("--workers needs the PreCache node, which this installation lacks; leave --workers out.")
    return cls(num_workers=workers)


def run_batches(
    pipeline: Any, request: Any, batches: int, seed: int | None, stream: TextIO, keep: int = 0
) -> tuple[dict[str, Any], list[Any]]:
    """Request ``batches`` batches (seeds ``seed, seed + 1, ...`` if given) with a progress bar.

    Returns throughput figures (``profile``: the batches' timing records, a ProfileStats) and
    the first ``keep`` batches.
    """
    import numpy as np

    import flowgraph as fg
    from flowgraph.parallel.executor import check_interrupt
    from flowgraph.profiling import ProfileStats

    kept: list[Any] = []
    profile = ProfileStats()
    voxels = 0
    nbytes = 0
    t_build = time.perf_counter()
    with fg.build(pipeline) as p:
        setup_s = time.perf_counter() - t_build
        progress = Progress(batches, stream)
        progress.update(0)
        start = time.perf_counter()
        seeds = seed_stream(seed or 0, start=0)
        for i in range(batches):
            check_interrupt()  # a safe point for a deferred Ctrl-C (see DeferredInterrupt)
            req = request if seed is None else request.with_seed(next(seeds))
            batch = p.request_batch(req)
            for array in batch.arrays().values():
                voxels += int(np.prod(array.data.shape))
                nbytes += array.data.nbytes
            profile.add(batch.records)  # timings from every node, worker processes included
            if len(kept) < keep:
                kept.append(batch)
            progress.update(i + 1)
        elapsed = time.perf_counter() - start
    stats = {
        "batches": batches,
        "setup_s": setup_s,
        "seconds": elapsed,
        "batches_per_s": batches / elapsed if elapsed > 0 else float("inf"),
        "voxels_per_s": voxels / elapsed if elapsed > 0 else float("inf"),
        "mb_per_s": nbytes / elapsed / 1e6 if elapsed > 0 else float("inf"),
        "profile": profile,
    }
    return stats, kept


def format_stats(stats: dict[str, Any]) -> str:
    lines = [
        f"{stats['batches']} batches in {stats['seconds']:.2f} s (setup {stats['setup_s']:.2f} s): "
        f"{stats['batches_per_s']:.2f} batches/s, {stats['voxels_per_s'] / 1e6:.1f} Mvoxel/s, "
        f"{stats['mb_per_s']:.0f} MB/s delivered",
    ]
    profile = stats["profile"]
    if profile.batches:
        lines.append(profile.table("time per node"))
        if any(row.node.startswith("PreCache") for row in profile.rows()):
            lines.append("(upstream of PreCache: time in the worker processes, which run in parallel)")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# commands


def cmd_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import flowgraph as fg
    from flowgraph import recipes
    from flowgraph.synthetic import write_artifacts, write_em_volume
    from flowgraph.visualize.describe import to_text
    from flowgraph.visualize.drawing import render
    from flowgraph.visualize.preview import preview, preview_pipeline

    outdir = os.path.abspath(args.out)
    data = os.path.join(outdir, "data")
    os.makedirs(data, exist_ok=True)
    t0 = time.perf_counter()
    volume, artifacts = os.path.join(data, "em.h5"), os.path.join(data, "artifacts.h5")
    vol_shape = tuple(args.volume)
    write_em_volume(volume, shape=vol_shape, seed=args.seed)
    write_artifacts(artifacts, shape=(args.artifact_sections, vol_shape[1], vol_shape[2]), seed=args.seed)
    err.write(
        f"wrote a synthetic EM volume {'x'.join(map(str, vol_shape))} and artifacts in "
        f"{time.perf_counter() - t0:.1f} s: {data}\n"
    )

    request = recipes.cremi_request(raw_shape=tuple(args.raw_shape), labels_shape=tuple(args.labels_shape))

    def recipe() -> Any:
        return recipes.cremi_training_pipeline(volume, artifacts)

    snapshots = os.path.join(outdir, "snapshots")
    every = max(1, args.batches // 4)
    pipeline = recipe()
    if args.workers:
        pipeline = pipeline + _precache(args.workers)
    pipeline = pipeline + fg.Snapshot(
        {recipes.RAW: "volumes/raw", recipes.LABELS: "volumes/labels/neuron_ids"},
        output_dir=snapshots,
        output_filename="batch_{iteration:04d}.h5",
        every=every,
        compression=None,  # fast: the demo measures throughput
    )
    pictures = []
    for name in ("pipeline.png", "pipeline.svg"):
        pictures.append(render(pipeline, os.path.join(outdir, name), request.with_seed(args.seed)))
    out.write(to_text(pipeline, request.with_seed(args.seed)) + "\n\n")
    pictures.append(
        preview_pipeline(
            recipe(),
            request,
            os.path.join(outdir, "preview_steps.png"),
            steps=True,
            seed=args.seed,
            size=args.preview_size,
        )
    )
    err.write(
        f"running {args.batches} batches"
        + (f" with {args.workers} worker processes" if args.workers else " in this process")
        + "\n"
    )
    stats, kept = run_batches(pipeline, request, args.batches, args.seed, err, keep=4)
    pictures.insert(
        2,
        preview(
            {f"batch {i}": b for i, b in enumerate(kept)},
            os.path.join(outdir, "preview.png"),
            size=args.preview_size,
            title="CREMI recipe: the first batches the network sees",
        ),
    )
    summary = format_stats(stats)
    with open(os.path.join(outdir, "throughput.txt"), "w", encoding="utf-8") as f:
        f.write(summary + "\n")
    out.write(summary + "\n\n")
    out.write("pictures:\n" + "".join(f"  {p}\n" for p in pictures))
    out.write(f"snapshots (every {every} batches, readable with Hdf5Source): {snapshots}\n")
    return EXIT_OK


def cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import flowgraph as fg

    pipeline, request = load_pipeline_file(args.pipeline)
    request = _require_request(request, args.pipeline)
    if args.workers:
        pipeline = pipeline + _precache(args.workers)
    if args.snapshot_every:
        names: dict[Key, str] = {k: f"volumes/{k.name.lower()}" for k in request if isinstance(k, fg.ArrayKey)}
        if not names:
            raise UsageError("--snapshot-every: the request has no arrays to write.")
        pipeline = pipeline + fg.Snapshot(names, output_dir=args.snapshot_dir, every=args.snapshot_every)
    stats, _ = run_batches(pipeline, request, args.batches, args.seed, err)
    out.write(format_stats(stats) + "\n")
    if args.snapshot_every:
        out.write(f"snapshots: {os.path.abspath(args.snapshot_dir)}\n")
    return EXIT_OK


def cmd_show(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from flowgraph.visualize.describe import to_networkx, to_text
    from flowgraph.visualize.drawing import render

    pipeline, request = load_pipeline_file(args.pipeline)
    if args.request:
        request = _require_request(request, args.pipeline)
        if args.seed is not None:
            request = request.with_seed(args.seed)
    graph = to_networkx(pipeline, request if args.request else None)
    out.write(to_text(graph) + "\n")
    path = render(graph, args.output, engine=args.engine)
    out.write(f"wrote {os.path.abspath(path)}\n")
    return EXIT_OK


def cmd_preview(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from flowgraph.visualize.preview import preview_pipeline

    pipeline, request = load_pipeline_file(args.pipeline)
    request = _require_request(request, args.pipeline)
    path = preview_pipeline(
        pipeline,
        request,
        args.output,
        samples=args.samples,
        steps=args.steps,
        seed=args.seed,
        axis=args.axis,
        size=args.size,
    )
    out.write(f"wrote {os.path.abspath(path)}\n")
    return EXIT_OK


# ------------------------------------------------------------------------------------------------
# argument parsing


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


_positive = _int_at_least(1)
_non_negative = _int_at_least(0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowgraph",
        description="Batch-provider pipelines for deep learning on large n-D images: run the demo, "
        "run, draw or preview a pipeline file (a Python file defining `pipeline` and `request`).",
        epilog="Exit codes: 0 ok, 1 pipeline error, 2 usage error. Add --debug for tracebacks.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="generate synthetic EM data and run the CREMI training recipe on it",
        description="Generate a synthetic EM volume (membranes, neuron ids, a mask) and an artifact volume, run "
        "the CREMI training recipe (elastic, mirror/transpose, intensity and defect augmentation with an artifact "
        "source) with snapshots, and write the pipeline picture, previews and throughput figures to --out.",
    )
    demo.add_argument("--out", default="flowgraph-demo", help="output directory (default: %(default)s)")
    demo.add_argument("--batches", type=_positive, default=20, help="batches to produce (default: %(default)s)")
    demo.add_argument(
        "--workers",
        type=_non_negative,
        default=None,
        help="worker processes (PreCache); 0 = in this process (default: up to 2, the CPUs available)",
    )
    demo.add_argument("--seed", type=_non_negative, default=0, help="random seed of data and batches (default: 0)")
    demo.add_argument(
        "--volume",
        type=_positive,
        nargs=3,
        default=[100, 560, 560],
        metavar=("Z", "Y", "X"),
        help="synthetic volume shape in voxels (default: 100 560 560)",
    )
    demo.add_argument("--artifact-sections", type=_positive, default=8, help="sections of the artifact volume")
    demo.add_argument(
        "--raw-shape",
        type=_positive,
        nargs=3,
        default=[84, 268, 268],
        metavar=("Z", "Y", "X"),
        help="raw request in voxels (default: the CREMI network's 84 268 268)",
    )
    demo.add_argument(
        "--labels-shape",
        type=_positive,
        nargs=3,
        default=[56, 56, 56],
        metavar=("Z", "Y", "X"),
        help="labels request in voxels (default: 56 56 56)",
    )
    demo.add_argument("--preview-size", type=_positive, default=256, help="preview panel size in pixels")
    demo.set_defaults(func=cmd_demo)

    run = sub.add_parser(
        "run",
        help="run a pipeline file and report throughput",
        description="Run PIPELINE.py (which defines `pipeline` and `request`) for --batches "
        "batches with a progress bar and a final throughput summary.",
    )
    run.add_argument("pipeline", metavar="PIPELINE.py")
    run.add_argument("--batches", type=_positive, default=10, help="batches to produce (default: %(default)s)")
    run.add_argument("--workers", type=_non_negative, default=0, help="worker processes (PreCache); default 0")
    run.add_argument(
        "--snapshot-every",
        type=_non_negative,
        default=0,
        metavar="N",
        help="write every N-th batch to --snapshot-dir as HDF5 (default: never)",
    )
    run.add_argument("--snapshot-dir", default="snapshots", help="snapshot directory (default: %(default)s)")
    run.add_argument("--seed", type=_non_negative, default=None, help="seed of the first batch (then +1 per batch)")
    run.set_defaults(func=cmd_run)

    show = sub.add_parser(
        "show",
        help="draw the pipeline graph (SVG, PNG, DOT, Mermaid or text)",
        description="Print the pipeline as a text tree and write a picture; with --request, "
        "every edge shows the request negotiated along it (a dry run: no image data is read).",
    )
    show.add_argument("pipeline", metavar="PIPELINE.py")
    show.add_argument("--request", action="store_true", help="label edges with the negotiated request")
    show.add_argument(
        "-o",
        "--output",
        default="pipeline.svg",
        help="output file: .svg, .png, .dot, .mmd or .txt (default: %(default)s)",
    )
    show.add_argument(
        "--engine",
        choices=("auto", "dot", "python"),
        default="auto",
        help="layout engine: Graphviz dot if on PATH (auto), or pure Python",
    )
    show.add_argument(
        "--seed", type=_non_negative, default=None, help="seed of the dry run (default: the request's or 0)"
    )
    show.set_defaults(func=cmd_show)

    prev = sub.add_parser(
        "preview",
        help="write a PNG montage of sample batches",
        description="Request SAMPLES batches from PIPELINE.py and write sections of every array "
        "as a PNG montage (images grey, labels coloured, masks as overlays, points as dots).",
    )
    prev.add_argument("pipeline", metavar="PIPELINE.py")
    prev.add_argument("-n", "--samples", type=_positive, default=4, help="number of batches (default: %(default)s)")
    prev.add_argument("-o", "--output", default="preview.png", help="output PNG (default: %(default)s)")
    prev.add_argument("--steps", action="store_true", help="show each sample after every node of the pipeline")
    prev.add_argument("--seed", type=_non_negative, default=None, help="seed of the first sample")
    prev.add_argument("--axis", type=_non_negative, default=0, help="spatial axis the section cuts across (default 0)")
    prev.add_argument("--size", type=_positive, default=256, help="panel size in pixels (default: %(default)s)")
    prev.set_defaults(func=cmd_preview)

    from flowgraph.cli.precompute import add_parser as add_precompute

    add_precompute(sub, _positive, _non_negative)
    return parser


def _report(error: BaseException, err: TextIO, debug: bool) -> None:
    if debug:
        traceback.print_exception(error, file=err)
        return
    err.write(f"flowgraph: error: {error}\n")
    for note in getattr(error, "__notes__", ()):
        err.write(f"  {note}\n")
    err.write("  (run with --debug for the traceback)\n")


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the command line; returns the exit code."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2)
        return int(e.code or 0)
    if args.command is None:
        parser.print_help(out)
        return EXIT_USAGE
    if args.command == "demo" and args.workers is None:
        try:
            import flowgraph as fg

            available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
            args.workers = min(2, available) if getattr(fg, "PreCache", None) is not None and available > 1 else 0
        except Exception:  # pragma: no cover - defensive
            args.workers = 0
    try:
        with DeferredInterrupt():
            return int(args.func(args, out, err))
    except UsageError as e:
        err.write(f"flowgraph {args.command}: {e}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.write("\nflowgraph: interrupted\n")
        return EXIT_INTERRUPTED
    except PipelineFileError as e:
        if args.debug:
            traceback.print_exception(e.__cause__ or e, file=err)
        else:
            err.write(f"flowgraph: error: {e}\n  (run with --debug for the traceback)\n")
        return EXIT_ERROR
    except Exception as e:
        _report(e, err, args.debug)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover (python -m flowgraph.cli.commands)
    sys.exit(main())
