"""Reject: re-request batches until they hold enough mask or a point."""

from __future__ import annotations

import time

import numpy as np

from flowgraph.batch import Batch
from flowgraph.errors import ConfigError, RequestError, SetupError, UnsatisfiableRequestError
from flowgraph.keys import ArrayKey, GraphKey
from flowgraph.provider import BatchFilter, Negotiation
from flowgraph.request import BatchRequest
from flowgraph.rng import derive_seed
from flowgraph.specs import ArraySpec
from flowgraph.validate import array_key, graph_key, number, probability, upstream_array


def masked_fraction(mask: np.ndarray) -> float:
    """The fraction of non-zero voxels of ``mask`` (0 for an empty array)."""
    return float(np.count_nonzero(mask)) / mask.size if mask.size else 0.0


class Reject(BatchFilter):
    """Reject batches with too little mask (or no point) and ask upstream again.

    Args:
        mask: ArrayKey of the mask; a batch needs ``min_masked`` of it non-zero (and/or
            ``min_count`` non-zero voxels).
        min_masked: the fraction of the mask window that must be non-zero (default 0.5, or 0 when
            only ``min_count`` is given).
        min_count: the number of non-zero mask voxels a batch needs; given alone it is the only
            criterion. pytorch_connectomics' ``REJECT_SAMPLING: {SIZE_THRES: 1000, P: 0.95}`` is
            ``Reject(labels, min_count=1000, reject_probability=0.95)``, its valid-mask ratio
            ``Reject(valid_mask, min_masked=0.5)``.
        ensure_nonempty: GraphKey; a batch needs at least one of its points.
        reject_probability: probability with which a failing batch is rejected (else kept).
        max_attempts: how many batches to try before giving up with an error.

    Requires: ``mask`` and/or ``ensure_nonempty``.

    Provides: nothing new; the batch is passed on unchanged.

    Request: the mask is checked inside its requested ROI, or, if the request does not name the
    mask, inside the union of the requested ROIs (the mask is then requested there and dropped
    again). Attempt ``k > 0`` sends the request upstream with a seed derived from the request's
    seed and ``k``, so a RandomLocation upstream picks a new place each time.

    Randomness: whether a failing batch is kept (``reject_probability < 1``).

    Raises:
        ConfigError: bad arguments, or neither ``mask`` nor ``ensure_nonempty``.
        SetupError: ``mask`` or ``ensure_nonempty`` not provided upstream.
        RequestError: ``ensure_nonempty`` is not requested.
        UnsatisfiableRequestError: ``max_attempts`` consecutive batches failed.

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw, mask = fg.ArrayKey("RAW"), fg.ArrayKey("MASK")
        >>> spec = fg.ArraySpec(roi=fg.Roi((0,), (10,)), voxel_size=(1,))
        >>> on = np.zeros(10, np.uint8); on[:3] = 1
        >>> pipeline = ((fg.ArraySource(raw, fg.Array(np.arange(10.0), spec)),
        ...              fg.ArraySource(mask, fg.Array(on, spec))) + fg.MergeProvider()
        ...             + fg.RandomLocation() + fg.Reject(mask=mask, min_masked=1.0))
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request.add(raw, (2,))
        >>> with fg.build(pipeline) as p:
        ...     bool(p.request_batch(request)[raw].data.max() <= 2)
        True
    """

    def __init__(
        self,
        mask: ArrayKey | None = None,
        min_masked: float | None = None,
        ensure_nonempty: GraphKey | None = None,
        reject_probability: float = 1.0,
        max_attempts: int = 1000,
        min_count: int | None = None,
    ) -> None:
        self.mask = array_key("Reject", "mask", mask, optional=True)
        self.ensure_nonempty = graph_key("Reject", "ensure_nonempty", ensure_nonempty, optional=True)
        if self.mask is None and self.ensure_nonempty is None:
            raise ConfigError("Reject: give mask=ArrayKey and/or ensure_nonempty=GraphKey; there is nothing to check.")
        self.min_count = None if min_count is None else number("Reject", "min_count", min_count, 0, integer=True)
        if self.min_count is not None and self.mask is None:
            raise ConfigError("Reject: min_count counts mask voxels; give mask=ArrayKey too.")
        default = 0.5 if self.min_count is None else 0.0
        self.min_masked = probability("Reject", "min_masked", default if min_masked is None else min_masked)
        self.reject_probability = probability("Reject", "reject_probability", reject_probability)
        self.max_attempts = number("Reject", "max_attempts", max_attempts, 1, integer=True)

    def setup(self) -> None:
        if self.mask is not None:
            upstream_array(self.name, self.upstream_spec, self.mask, " (the mask)")
        if self.ensure_nonempty is not None and self.ensure_nonempty not in self.upstream_spec:
            raise SetupError(
                f"{self.name}: ensure_nonempty={self.ensure_nonempty} is not provided upstream; "
                f"add a source for {self.ensure_nonempty}."
            )

    def _upstream_request(self, request: BatchRequest) -> BatchRequest:
        upstream = request.copy()
        if self.mask is not None and self.mask not in request:
            spec = self.upstream_spec[self.mask]
            assert isinstance(spec, ArraySpec) and spec.voxel_size is not None
            total = request.total_roi()
            if total is None:
                raise RequestError(
                    f"{self.name}: the request has no spatial ROI to check {self.mask} in; request a spatial key."
                )
            upstream[self.mask] = ArraySpec(roi=total.snap_to_grid(spec.voxel_size, "grow"), voxel_size=spec.voxel_size)
        elif self.mask is not None and request[self.mask].placeholder:  # checked here, then dropped
            upstream[self.mask] = request[self.mask].replace(placeholder=False)
        if self.ensure_nonempty is not None and self.ensure_nonempty not in request:
            raise RequestError(
                f"{self.name}: ensure_nonempty={self.ensure_nonempty} must be requested to check it; "
                "add it to the request."
            )
        return upstream

    def negotiate(self, request: BatchRequest) -> Negotiation:
        """The first attempt: the request, with the mask's ROI added; retries change only the seed."""
        return Negotiation([[self._upstream_request(request)]])

    def provide(self, request: BatchRequest) -> Batch:
        upstream_request = self.negotiate(request).upstream[0][0]
        seed = request.random_seed if request.random_seed is not None else 0
        best = 0.0
        best_count = 0
        spent = 0.0
        for attempt in range(self.max_attempts):
            attempt_seed = seed if attempt == 0 else derive_seed(seed, self._position, attempt)
            upstream_request.random_seed = attempt_seed
            batch = self.upstream.request_batch(upstream_request)
            t0 = time.perf_counter()
            fraction, count = 1.0, 0
            if self.mask is not None:
                data = batch[self.mask].data
                count = int(np.count_nonzero(data))
                fraction = count / data.size if data.size else 0.0
                best, best_count = max(best, fraction), max(best_count, count)
            ok = fraction >= self.min_masked and (self.min_count is None or count >= self.min_count)
            if self.ensure_nonempty is not None:
                ok = ok and len(batch[self.ensure_nonempty]) > 0
            if not ok and self.reject_probability < 1.0:
                ok = self.rng(request, attempt).random() >= self.reject_probability
            spent += time.perf_counter() - t0
            if ok:
                batch.profiling.append((self.name, "process", spent))
                return batch
        what = f"< {self.min_masked:.0%} masked voxels (best {best:.0%})" if self.mask is not None else ""
        if self.min_count is not None:
            what = f"{what} or < {self.min_count} mask voxels (best {best_count})"
        if self.ensure_nonempty is not None:
            what = (what + " or " if what else "") + f"no point of {self.ensure_nonempty}"
        raise UnsatisfiableRequestError(
            f"{self.name}: {self.max_attempts} consecutive batches had {what}; "
            "lower min_masked/min_count or check the mask."
        )
