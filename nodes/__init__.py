"""The flowgraph node library, installed as ``flowgraph.nodes`` (never a top-level ``nodes``)."""

if __name__ != "flowgraph.nodes":  # pragma: no cover - guards against a wrong import path
    raise ImportError(
        f"the flowgraph node library was imported as {__name__!r}; import it as flowgraph.nodes "
        "(install the project with `pip install -e .`)."
    )

from .array_source import ArraySource
from .crop import Crop
from .cut_blur import CutBlur
from .cut_noise import CutNoise
from .defect_augment import DefectAugment
from .elastic_augment import ElasticAugment
from .graph_source import GraphSource
from .grey_augment import GreyAugment
from .hdf5_source import Hdf5Source
from .intensity_augment import IntensityAugment
from .merge_provider import MergeProvider
from .mis_alignment import MisAlignment
from .missing_parts import MissingParts
from .missing_section import MissingSection
from .motion_blur import MotionBlur
from .normalize import Normalize
from .one_of import OneOf, SomeOf
from .pad import Pad
from .pre_cache import PreCache
from .precomputed_source import PrecomputedSource
from .print_profiling_stats import PrintProfilingStats
from .random_location import RandomLocation
from .random_provider import RandomProvider
from .random_warp import RandomWarp
from .rasterize_graph import RasterizationSettings as RasterizationSettings  # a node's settings: not in __all__
from .rasterize_graph import RasterizeGraph
from .reject import Reject
from .rescale import Rescale
from .simple_augment import SimpleAugment
from .snapshot import Snapshot
from .squeeze import Squeeze
from .stack import Stack
from .unsqueeze import Unsqueeze
from .xy_masking import XYMasking
from .zarr_source import ZarrSource

__all__ = [
    "ArraySource",
    "Crop",
    "CutBlur",
    "CutNoise",
    "DefectAugment",
    "ElasticAugment",
    "GraphSource",
    "GreyAugment",
    "Hdf5Source",
    "IntensityAugment",
    "MergeProvider",
    "MisAlignment",
    "MissingParts",
    "MissingSection",
    "MotionBlur",
    "Normalize",
    "OneOf",
    "Pad",
    "PreCache",
    "PrecomputedSource",
    "PrintProfilingStats",
    "RandomLocation",
    "RandomProvider",
    "RandomWarp",
    "RasterizeGraph",
    "Reject",
    "Rescale",
    "SimpleAugment",
    "Snapshot",
    "SomeOf",
    "Squeeze",
    "Stack",
    "Unsqueeze",
    "XYMasking",
    "ZarrSource",
]
