"""The flowgraph exception hierarchy.

Messages are one sentence: the cause first, then the fix. Exceptions keep their type while
travelling through a pipeline; the pipeline adds context with ``add_note``.
"""

from __future__ import annotations


class FlowgraphError(Exception):
    """Base class of every error flowgraph raises on purpose."""


class ConfigError(FlowgraphError, ValueError, TypeError):
    """A node or value was constructed with a bad argument (also a ValueError and TypeError)."""


class PipelineError(FlowgraphError):
    """Nodes were composed in a way that cannot work (reused node, bad operand of ``+``)."""


class SetupError(FlowgraphError):
    """A node found its upstream unsuitable while the pipeline was being built."""


class RequestError(FlowgraphError):
    """A request is malformed or asks for something the pipeline does not provide."""


class UnsatisfiableRequestError(RequestError):
    """A well-formed request that cannot be satisfied (nothing fits, every retry failed)."""


class BatchContractError(FlowgraphError):
    """A node returned a batch that breaks its promise (missing key, wrong ROI, shape or dtype)."""


class NonFiniteError(FlowgraphError, ValueError):
    """An intensity array holds NaN or infinite values, which every average or interpolation would
    spread silently (also a ValueError)."""


class WorkerError(FlowgraphError, RuntimeError):
    """A PreCache worker died or could not start (also a RuntimeError).

    Also raised when a worker's own exception cannot be pickled back to the caller; the message
    then names the original type and the worker's traceback is attached as a note.
    """


__all__ = [
    "BatchContractError",
    "ConfigError",
    "FlowgraphError",
    "NonFiniteError",
    "PipelineError",
    "RequestError",
    "SetupError",
    "UnsatisfiableRequestError",
    "WorkerError",
]
