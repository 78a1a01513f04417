"""The flowgraph node library, installed as ``flowgraph.nodes`` (never a top-level ``nodes``)."""

if __name__ != "flowgraph.nodes":  # pragma: no cover - guards against a wrong import path
    raise ImportError(
        f"the flowgraph node library was imported as {__name__!r}; import it as flowgraph.nodes "
        "(install the project with `pip install -e .`)."
    )

from .array_source import ArraySource
from .crop import Crop
from .hdf5_source import Hdf5Source
from .merge_provider import MergeProvider
from .normalize import Normalize
from .pad import Pad
from .random_location import RandomLocation
from .random_provider import RandomProvider
from .reject import Reject

__all__ = [
    "ArraySource",
    "Crop",
    "Hdf5Source",
    "MergeProvider",
    "Normalize",
    "Pad",
    "RandomLocation",
    "RandomProvider",
    "Reject",
]
