"""flowgraph: a batch-provider graph for deep learning on large n-D biomedical images.

``import flowgraph as fg`` gives the engine (keys, specs, Roi, requests, pipelines) and every
node of the library, like gunpowder's ``gp.*``.
"""

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.coordinate import Coordinate
from flowgraph.drawing import render
from flowgraph.errors import (
    BatchContractError,
    ConfigError,
    FlowgraphError,
    PipelineError,
    RequestError,
    SetupError,
    UnsatisfiableRequestError,
    WorkerError,
)
from flowgraph.graph import Graph
from flowgraph.keys import ArrayKey, GraphKey
from flowgraph.pipeline import Pipeline, build
from flowgraph.preview import preview, preview_pipeline
from flowgraph.provider import BatchFilter, BatchProvider
from flowgraph.request import BatchRequest
from flowgraph.roi import Roi
from flowgraph.specs import ArraySpec, GraphSpec, ProviderSpec
from flowgraph.visualize import to_dot, to_mermaid, to_networkx

# isort: split
# the node library last: its modules import the engine
from flowgraph import nodes
from flowgraph.nodes import *  # noqa: F403

__version__ = "0.1.0"

__all__ = [
    "Array",
    "ArrayKey",
    "ArraySpec",
    "Batch",
    "BatchContractError",
    "BatchFilter",
    "BatchProvider",
    "BatchRequest",
    "ConfigError",
    "Coordinate",
    "FlowgraphError",
    "Graph",
    "GraphKey",
    "GraphSpec",
    "Pipeline",
    "PipelineError",
    "ProviderSpec",
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
    "nodes",
    *nodes.__all__,
]
