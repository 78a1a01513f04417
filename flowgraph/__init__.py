"""flowgraph: a batch-provider graph for deep learning on large n-D biomedical images.

``import flowgraph as fg`` gives the engine (keys, specs, Roi, requests, pipelines) and every
node of the library, like gunpowder's ``gp.*``.
"""

import importlib
from typing import TYPE_CHECKING, Any

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.coordinate import Coordinate
from flowgraph.errors import (
    BatchContractError,
    BatchRequestError,
    ConfigError,
    FlowgraphError,
    NonFiniteError,
    PipelineError,
    PipelineRequestError,
    PipelineSetupError,
    PipelineTeardownError,
    RequestError,
    SetupError,
    UnsatisfiableRequestError,
    WorkerError,
)
from flowgraph.graph import Edge, Graph, Node
from flowgraph.keys import ArrayKey, ArrayKeys, GraphKey, GraphKeys
from flowgraph.observe import observing, replaying
from flowgraph.pipeline import Pipeline, build
from flowgraph.provider import BatchFilter, BatchProvider
from flowgraph.request import BatchRequest
from flowgraph.roi import Roi
from flowgraph.specs import ArraySpec, GraphSpec, ProviderSpec

# isort: split
# the node library last: its modules import the engine
from flowgraph import nodes
from flowgraph.nodes import *  # noqa: F403
from flowgraph.nodes import RasterizationSettings  # a node's settings, not a node

if TYPE_CHECKING:  # for type checkers; at run time these come from __getattr__ below
    from flowgraph.fields import DisplacementField
    from flowgraph.visualize.describe import to_dot, to_mermaid, to_networkx
    from flowgraph.visualize.drawing import render
    from flowgraph.visualize.preview import preview, preview_pipeline

# the periphery (pictures, previews) and heavier leaves (fields) are imported on first use:
# ``import flowgraph`` stays light
_LAZY = {
    "DisplacementField": "flowgraph.fields",
    "preview": "flowgraph.visualize.preview",
    "preview_pipeline": "flowgraph.visualize.preview",
    "render": "flowgraph.visualize.drawing",
    "to_dot": "flowgraph.visualize.describe",
    "to_mermaid": "flowgraph.visualize.describe",
    "to_networkx": "flowgraph.visualize.describe",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'flowgraph' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__version__ = "0.1.0"

__all__ = [
    "Array",
    "ArrayKey",
    "ArrayKeys",
    "ArraySpec",
    "Batch",
    "BatchContractError",
    "BatchFilter",
    "BatchProvider",
    "BatchRequest",
    "BatchRequestError",
    "ConfigError",
    "Coordinate",
    "DisplacementField",
    "FlowgraphError",
    "Edge",
    "Graph",
    "Node",
    "NonFiniteError",
    "GraphKey",
    "GraphKeys",
    "GraphSpec",
    "Pipeline",
    "PipelineError",
    "PipelineRequestError",
    "PipelineSetupError",
    "PipelineTeardownError",
    "ProviderSpec",
    "RasterizationSettings",
    "RequestError",
    "Roi",
    "SetupError",
    "UnsatisfiableRequestError",
    "WorkerError",
    "build",
    "preview",
    "preview_pipeline",
    "render",
    "to_dot",
    "to_mermaid",
    "to_networkx",
    "observing",
    "replaying",
    "nodes",
    *nodes.__all__,
]
