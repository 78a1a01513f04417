"""RandomAugment: the base of every random augmentation (one ``p`` gate, parameters drawn in prepare).

A random node draws everything it needs for a request in ``prepare``, from the node's generator
``self.rng(request)``, in a fixed order: first the gate (``rng.random() < p``), then, only when the
gate is open, the node's parameters (:meth:`RandomAugment.draw_params`). The parameters travel to
``process`` as the per-request state; a closed gate (or parameters of ``None``: nothing to do)
makes the node the identity without calling :meth:`RandomAugment.augment`.

All parameters of a request come from one method, :meth:`RandomAugment._params_for`: a hook that
records or replays augmentations overrides it and nothing else.

Intensity arrays (the keys in the attributes named by :attr:`RandomAugment.intensity_attributes`,
``array`` and ``intensities`` by default) are checked for NaN and inf before every ``augment``
(:func:`flowgraph.validate.check_finite`, one summing pass): one non-finite voxel would spread
through a section mean, a blur or an interpolation, so the node refuses it with
:class:`~flowgraph.errors.NonFiniteError` naming the key, the node and how many voxels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flowgraph import observe
from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.keys import ArrayKey
from flowgraph.provider import BatchFilter
from flowgraph.request import BatchRequest
from flowgraph.validate import check_finite, probability


class RandomAugment(BatchFilter):
    """A filter that acts on a request with probability ``p``, with parameters drawn in ``prepare``.

    Subclass API (besides ``setup``):

    - ``__init__``: validate the arguments, call ``super().__init__(name, p)``.
    - ``draw_params(rng, request)``: draw this request's parameters from ``rng`` (called only when
      the gate is open); return plain values or a small dataclass, or None to do nothing.
    - ``dependencies(request, params)``: ``(deps, state)`` for ``process``; the default depends on
      the requested keys the node updates, at their ROIs, and hands on ``params`` as the state.
    - ``augment(batch, request, state)``: apply a pure function, like ``BatchFilter.process``
      (called only for an open gate and parameters that are not None).

    Args:
        name: the node's class name, for error messages.
        p: probability that the node acts on a request (``p=0`` is the identity).

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> class Negate(RandomAugment):
        ...     def __init__(self, array, p=1.0):
        ...         super().__init__("Negate", p)
        ...         self.array = array
        ...     def setup(self):
        ...         self.updates(self.array)
        ...     def draw_params(self, rng, request):
        ...         return -1.0
        ...     def augment(self, batch, request, factor):
        ...         batch[self.array].data *= factor
        >>> raw = fg.ArrayKey("RAW")
        >>> source = fg.ArraySource(raw, fg.Array(np.ones(2, np.float32), fg.ArraySpec(
        ...     roi=fg.Roi((0,), (2,)), voxel_size=(1,))))
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((0,), (2,)))
        >>> with fg.build(source + Negate(raw)) as p, fg.build(source + Negate(raw, p=0)) as q:
        ...     p.request_batch(request)[raw].data, q.request_batch(request)[raw].data
        (array([-1., -1.], dtype=float32), array([1., 1.], dtype=float32))
    """

    autoskip = True  # flowgraph's rules for library nodes (see BatchFilter)
    exact_dependencies = True

    p: float = 1.0
    #: attributes holding the ArrayKey of an intensity array the node reads (checked for NaN and inf
    #: before ``augment``); a subclass that tolerates non-finite values sets ``()``
    intensity_attributes: tuple[str, ...] = ("array", "intensities")
    #: True for a node whose ``augment`` checks its intensity arrays in its own pass over them (the
    #: check before ``augment`` then runs only when the gate is closed)
    checks_finite_in_augment: bool = False

    def __init__(self, name: str, p: float = 1.0) -> None:
        self.p = probability(name, "p", p)

    # -- subclass API --------------------------------------------------------------------------
    def draw_params(self, rng: np.random.Generator, request: BatchRequest) -> Any:
        """This request's parameters, drawn from ``rng`` after the gate (None: do nothing)."""
        raise NotImplementedError(f"{type(self).__name__} must implement draw_params(rng, request)")

    def dependencies(self, request: BatchRequest, params: Any) -> tuple[BatchRequest, Any]:
        """The dependencies for ``params`` and the state ``augment`` receives (default: ``params``)."""
        return self.updated_dependencies(request), params

    def augment(self, batch: Batch, request: BatchRequest, state: Any) -> Batch | None:
        """Apply the augmentation of ``state`` to ``batch`` (exactly the dependencies)."""
        raise NotImplementedError(f"{type(self).__name__} must implement augment(batch, request, state)")

    # -- the gate ------------------------------------------------------------------------------
    def gate(self, rng: np.random.Generator) -> bool:
        """Whether to act: the first draw of every request, ``rng.random() < p``."""
        return bool(rng.random() < self.p)

    def _params_for(self, request: BatchRequest, rng: np.random.Generator) -> Any:
        """The parameters of ``request`` (None: identity): the gate, then ``draw_params``.

        The one place a request's parameters come from: inside ``fg.observing("params")`` they
        are recorded on the batch, inside ``fg.replaying(...)`` the recorded ones are used instead
        of drawing (see :mod:`flowgraph.observe`).
        """

        def draw() -> Any:
            return self.draw_params(rng, request) if self.gate(rng) else None

        return observe.draw(self, draw)

    # -- framework -----------------------------------------------------------------------------
    def prepare(self, request: BatchRequest) -> tuple[BatchRequest, Any]:
        params = self._params_for(request, self.rng(request))
        if params is None:
            return self.updated_dependencies(request), None
        return self.dependencies(request, params)

    def process(self, batch: Batch, request: BatchRequest, state: Any) -> Batch | None:
        if state is None or not self.checks_finite_in_augment:
            self.check_intensities(batch)
        if state is None:
            return None
        return self.augment(batch, request, state)

    def check_intensities(self, batch: Batch) -> None:
        """Raise NonFiniteError if an intensity array of this node in ``batch`` holds NaN or inf.

        Checked whether or not the gate is open, so the same input is refused for every seed.
        """
        for attribute in self.intensity_attributes:
            key = getattr(self, attribute, None)
            if isinstance(key, ArrayKey) and key in batch:
                array = batch[key]
                if isinstance(array, Array):
                    check_finite(self.name, key, array.data)


__all__ = ["RandomAugment"]
