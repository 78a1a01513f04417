"""Testing nodes: the node contract suite and the data it runs on, public so that nodes written
outside this repository can be checked the same way (see docs/writing-nodes.md).

    from flowgraph.testing import RAW, NodeCase, check_node_contract
    check_node_contract(NodeCase(make=lambda **kw: MyNode(RAW, **kw), has_p=True))
"""

from flowgraph.testing.contract import (
    CHECKS,
    NodeCase,
    assert_same_batch,
    check_bad_arguments,
    check_delivers_request,
    check_node_contract,
    check_p_zero,
    check_picture_matches_run,
    check_request_not_mutated,
    check_same_seed,
    check_single_keys,
    pipeline_of,
)
from flowgraph.testing.data import (
    LABELS,
    MASK,
    POINTS,
    RAW,
    SHAPE,
    VOXEL_SIZE,
    coordinate_volume,
    default_request,
    source_data,
    source_nodes,
    sources,
)

__all__ = [
    "CHECKS",
    "LABELS",
    "MASK",
    "POINTS",
    "RAW",
    "SHAPE",
    "VOXEL_SIZE",
    "NodeCase",
    "assert_same_batch",
    "check_bad_arguments",
    "check_delivers_request",
    "check_node_contract",
    "check_p_zero",
    "check_picture_matches_run",
    "check_request_not_mutated",
    "check_same_seed",
    "check_single_keys",
    "coordinate_volume",
    "default_request",
    "pipeline_of",
    "source_data",
    "source_nodes",
    "sources",
]
