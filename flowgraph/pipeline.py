"""Pipeline: nodes composed with ``+``, and ``build``, which sets them up and tears them down."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from flowgraph.batch import Batch
from flowgraph.errors import PipelineError, RequestError
from flowgraph.keys import ArrayKey
from flowgraph.provider import BatchFilter, BatchProvider, add_context
from flowgraph.request import BatchRequest, fresh_seed
from flowgraph.rng import seed_stream
from flowgraph.specs import ArraySpec, ProviderSpec


def max_inputs(node: BatchProvider) -> int | None:
    """How many upstream pipelines ``node`` accepts: 0 for sources, 1 for filters, None = any."""
    return getattr(node, "max_inputs", 1 if isinstance(node, BatchFilter) else 0)


class Pipeline:
    """A tree of nodes: ``node`` fed by the pipelines in ``inputs``.

    Built by ``+``: ``source + Normalize(raw)`` chains, ``(a, b) + MergeProvider()`` joins.
    Pipelines are immutable values; a node may appear only once in what is built.
    """

    __slots__ = ("_built", "_done", "_next_seed", "inputs", "node")

    def __init__(self, node: BatchProvider, inputs: tuple[Pipeline, ...] = ()) -> None:
        if not isinstance(node, BatchProvider):
            raise PipelineError(f"Pipeline: expected a node (BatchProvider), got {type(node).__name__}.")
        limit = max_inputs(node)
        if limit is not None and len(inputs) > limit:
            what = "a source and takes no upstream" if limit == 0 else f"takes at most {limit} upstream pipeline(s)"
            raise PipelineError(
                f"{node.name}: is {what}, got {len(inputs)}; "
                "join several pipelines with (a, b) + MergeProvider() or RandomProvider()."
            )
        self.node = node
        self.inputs = inputs
        self._built = False
        self._done: list[tuple[BatchProvider, list[Pipeline]]] = []
        self._next_seed: int | None = None

    @staticmethod
    def coerce(value: Any, op: str = "+") -> Pipeline:
        if isinstance(value, Pipeline):
            return value
        if isinstance(value, BatchProvider):
            return Pipeline(value)
        raise PipelineError(
            f"cannot use {type(value).__name__} with '{op}' in a pipeline; expected a node, a Pipeline, "
            "or a tuple of them followed by MergeProvider()/RandomProvider()."
        )

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles as the unbuilt pipeline of the same nodes (a copy is set up where it is used)."""
        return (Pipeline, (self.node, self.inputs))

    # -- composition -------------------------------------------------------------------------------
    def __add__(self, other: Any) -> Pipeline:
        return Pipeline.coerce(other)._attach((self,))

    def __radd__(self, other: Any) -> Pipeline:
        if isinstance(other, tuple):
            return self._attach(tuple(Pipeline.coerce(p) for p in other))
        return Pipeline.coerce(other) + self

    def _attach(self, upstream: tuple[Pipeline, ...]) -> Pipeline:
        """This pipeline with ``upstream`` plugged into its open end (the first node without inputs)."""
        if self.inputs:
            first = self.inputs[0]._attach(upstream)
            return Pipeline(self.node, (first, *self.inputs[1:]))
        limit = max_inputs(self.node)
        if limit == 0:
            raise PipelineError(
                f"{self.node.name}: is a source and cannot take an upstream pipeline; put sources first, "
                "or join them with (a, b) + MergeProvider()."
            )
        if limit == 1 and len(upstream) != 1:
            raise PipelineError(
                f"{self.node.name}: takes one upstream pipeline, got {len(upstream)}; "
                "join them first with (a, b) + MergeProvider() or RandomProvider()."
            )
        return Pipeline(self.node, upstream)

    # -- structure --------------------------------------------------------------------------------
    def walk(self) -> Iterator[Pipeline]:
        """Every sub-pipeline, inputs before the node they feed (post-order)."""
        for p in self.inputs:
            yield from p.walk()
        yield self

    def nodes(self) -> list[BatchProvider]:
        return [p.node for p in self.walk()]

    def all_nodes(self) -> list[BatchProvider]:
        """Every node, those of nested pipelines (an artifact source) right after their host."""
        out: list[BatchProvider] = []
        for node in self.nodes():
            out.append(node)
            for nested in node.nested_pipelines():
                out += nested.all_nodes()
        return out

    def size(self) -> int:
        return sum(1 for _ in self.walk())

    @property
    def spec(self) -> ProviderSpec:
        return self.node.spec

    # -- lifecycle --------------------------------------------------------------------------------
    def setup(self) -> None:
        """Set up every node, sources first (nested pipelines before their host)."""
        if self._built:
            raise PipelineError("Pipeline: already built; use one `with build(pipeline)` at a time.")
        seen: dict[int, BatchProvider] = {}
        for node in self.nodes():
            if id(node) in seen:
                raise PipelineError(
                    f"{node.name}: appears twice in the pipeline; a node keeps per-pipeline state, create a second "
                    "instance."
                )
            seen[id(node)] = node
        done: list[tuple[BatchProvider, list[Pipeline]]] = []
        try:
            for sub in self.walk():
                node = sub.node
                nested = node.nested_pipelines()
                built: list[Pipeline] = []
                done.append((node, built))
                for pipeline in nested:
                    pipeline.setup()
                    built.append(pipeline)
                _prepare_node(node, sub)
                try:
                    node.setup()
                except Exception as e:
                    add_context(e, f"while setting up {node.name}")
                    raise
        except BaseException as e:
            _teardown_after(e, done)
            raise
        self._built = True
        self._done = done

    def teardown(self) -> None:
        if not self._built:
            return
        self._built = False
        _teardown(self._done)

    # -- requests ---------------------------------------------------------------------------------
    def request_batch(self, request: BatchRequest) -> Batch:
        """Deliver ``request`` (the caller's object is never modified)."""
        if not self._built:
            raise PipelineError("Pipeline: not built; request batches inside `with fg.build(pipeline) as p:`.")
        if not isinstance(request, BatchRequest):
            raise RequestError(f"request_batch: expected a BatchRequest, got {type(request).__name__}.")
        if request.random_seed is None:
            # consecutive seeds from a random base: reproducible within a run and predictable for
            # PreCache, which prepares the next seeds ahead of demand
            self._next_seed = next(seed_stream(self._next_seed)) if self._next_seed is not None else fresh_seed()
            request = request.with_seed(self._next_seed)
        return self.node.request_batch(normalize_request(request, self.spec, self.node.name))

    def __repr__(self) -> str:
        return "\n".join(self._lines())

    def _lines(self, indent: str = "") -> list[str]:
        lines = [indent + self.node.name]
        for p in self.inputs:
            lines += p._lines(indent + "  ")
        return lines


def _prepare_node(node: BatchProvider, sub: Pipeline) -> None:
    """Give ``node`` its upstream, its stable position and a fresh spec before setup()."""
    node._upstream = tuple(p.node for p in sub.inputs)
    node._position = sub.size()
    if isinstance(node, BatchFilter):
        if not node._upstream:
            raise PipelineError(f"{node.name}: is a filter without a source; chain a source before it with +.")
        node._spec = node._upstream[0].spec.copy()
        node._updated = frozenset()
        node._provided = frozenset()
    else:
        node._spec = ProviderSpec()


def _teardown(done: list[tuple[BatchProvider, list[Pipeline]]]) -> None:
    errors: list[BaseException] = []
    for node, nested in reversed(done):
        try:
            node.teardown()
        except Exception as e:  # keep tearing down the rest
            add_context(e, f"while tearing down {node.name}")
            errors.append(e)
        for pipeline in reversed(nested):
            try:
                pipeline.teardown()
            except Exception as e:
                errors.append(e)
    if errors:
        raise errors[0]


def _teardown_after(error: BaseException, done: list[tuple[BatchProvider, list[Pipeline]]]) -> None:
    """Tear down after ``error``; a teardown failure becomes a note, ``error`` stays the exception."""
    try:
        _teardown(done)
    except Exception as e:
        error.add_note(f"tearing down afterwards failed too: {type(e).__name__}: {e}")


def normalize_request(request: BatchRequest, spec: ProviderSpec, owner: str = "request_batch") -> BatchRequest:
    """A copy of ``request`` with voxel sizes filled in and centred ROIs on the grid.

    ``owner`` (the name of the pipeline's last node) starts every error message.
    """
    out = request.copy()
    for key, rspec in request.items():
        offered = spec.get(key)
        if offered is None:
            raise RequestError(
                f"{owner}: {key} is not provided by this pipeline (it provides "
                f"{', '.join(map(str, spec)) or 'nothing'}); add a source for {key} or drop it from the request."
            )
        if not isinstance(key, ArrayKey):
            continue
        assert isinstance(rspec, ArraySpec) and isinstance(offered, ArraySpec)
        if offered.nonspatial or rspec.roi is None:
            continue
        vs = rspec.voxel_size or offered.voxel_size
        if vs is None:
            continue
        if offered.voxel_size is not None and vs != offered.voxel_size:
            raise RequestError(
                f"{owner}: {key} is requested at voxel size {vs}, but the pipeline provides {offered.voxel_size}; "
                "request the provided voxel size (resampling needs a node such as Resample)."
            )
        if rspec.roi.dims != len(vs):
            raise RequestError(
                f"{owner}: {key} is requested with a {rspec.roi.dims}-D ROI {rspec.roi}, but it has "
                f"{len(vs)} spatial axes (voxel size {vs})."
            )
        roi = rspec.roi
        if request.is_centred(key):
            roi = roi.shift(-(roi.offset % vs))
        if not roi.on_grid(vs):
            raise RequestError(
                f"{owner}: {key} is requested at {roi}, which is not on its voxel grid {vs}; "
                "make offset and shape multiples of the voxel size."
            )
        new = rspec.copy()
        new.voxel_size, new.roi = vs, roi
        out[key] = new
    return out


@contextlib.contextmanager
def build(pipeline: Any) -> Iterator[Pipeline]:
    """Set up ``pipeline`` (sources first) for the ``with`` block and always tear it down.

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> data = fg.Array(np.arange(16, dtype=np.float32).reshape(4, 4),
        ...                 fg.ArraySpec(roi=fg.Roi((0, 0), (4, 4)), voxel_size=(1, 1)))
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((1, 1), (2, 2)))
        >>> with fg.build(fg.ArraySource(raw, data)) as p:
        ...     p.request_batch(request)[raw].data
        array([[ 5.,  6.],
               [ 9., 10.]], dtype=float32)
    """
    p = Pipeline.coerce(pipeline, "build")
    p.setup()
    try:
        yield p
    except BaseException as e:
        if p._built:
            p._built = False
            _teardown_after(e, p._done)
        raise
    p.teardown()


__all__ = ["Pipeline", "build", "max_inputs", "normalize_request"]
