"""The flowgraph exception hierarchy.

Messages are one sentence: the cause first, then the fix. Exceptions keep their type while
travelling through a pipeline; the pipeline adds context with ``add_note``.
"""

from __future__ import annotations


class FlowgraphError(Exception):
    """Base class of every error flowgraph raises on purpose."""


class ConfigError(FlowgraphError, ValueError, TypeError, AssertionError):
    """A node or value was constructed with a bad argument.

    Also a ValueError and TypeError, and an AssertionError because gunpowder checks its arguments
    with ``assert``: a gunpowder user's ``pytest.raises(AssertionError)`` keeps working.
    """


class PipelineError(FlowgraphError):
    """Nodes were composed in a way that cannot work (reused node, bad operand of ``+``)."""


# gunpowder's names. gunpowder wraps any exception from a node's setup() in PipelineSetupError,
# and any exception while serving a request in BatchRequestError (at each node) and then in
# PipelineRequestError (at the pipeline). flowgraph keeps each exception's own type instead; its
# typed errors derive from these names, so that gunpowder-style ``except`` clauses catch them.


class PipelineSetupError(FlowgraphError):
    """gunpowder's error for a failed setup; base of :class:`SetupError`."""


class PipelineRequestError(FlowgraphError):
    """gunpowder's error for a failed request to a pipeline; base of the errors raised while a
    request is served (:class:`RequestError`, :class:`BatchContractError`, :class:`NonFiniteError`,
    :class:`WorkerError`)."""


class BatchRequestError(FlowgraphError):
    """gunpowder's error for a failed request to a node; base of the same errors as
    :class:`PipelineRequestError`."""


class PipelineTeardownError(FlowgraphError):
    """gunpowder's error for a failed teardown. flowgraph does not raise it: an error in a node's
    teardown() keeps its own type (and the other nodes are still torn down)."""


class SetupError(PipelineSetupError):
    """A node found its upstream unsuitable while the pipeline was being built."""


class RequestError(PipelineRequestError, BatchRequestError):
    """A request is malformed or asks for something the pipeline does not provide."""


class UnsatisfiableRequestError(RequestError):
    """A well-formed request that cannot be satisfied (nothing fits, every retry failed)."""


class BatchContractError(PipelineRequestError, BatchRequestError):
    """A node returned a batch that breaks its promise (missing key, wrong ROI, shape or dtype)."""


class NonFiniteError(PipelineRequestError, BatchRequestError, ValueError):
    """An intensity array holds NaN or infinite values, which every average or interpolation would
    spread silently (also a ValueError)."""


class WorkerError(PipelineRequestError, BatchRequestError, RuntimeError):
    """A PreCache worker died or could not start (also a RuntimeError).

    Also raised when a worker's own exception cannot be pickled back to the caller; the message
    then names the original type and the worker's traceback is attached as a note.
    """


__all__ = [
    "BatchContractError",
    "BatchRequestError",
    "ConfigError",
    "FlowgraphError",
    "NonFiniteError",
    "PipelineError",
    "PipelineRequestError",
    "PipelineSetupError",
    "PipelineTeardownError",
    "RequestError",
    "SetupError",
    "UnsatisfiableRequestError",
    "WorkerError",
]
