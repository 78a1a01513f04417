"""Argument checks: accepted values come back normalized, bad ones raise ConfigError naming the parameter."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from flowgraph import validate
from flowgraph.coordinate import Coordinate
from flowgraph.errors import ConfigError, SetupError
from flowgraph.keys import ArrayKey, GraphKey
from flowgraph.roi import Roi
from flowgraph.specs import ArraySpec, GraphSpec, ProviderSpec

RAW, POINTS = ArrayKey("RAW"), GraphKey("POINTS")


def test_accepted_values() -> None:
    assert validate.array_key("N", "array", RAW) is RAW
    assert validate.array_key("N", "mask", None, optional=True) is None
    assert validate.graph_key("N", "points", POINTS) is POINTS
    assert validate.graph_key("N", "points", None, optional=True) is None
    assert validate.any_key("N", "key", POINTS) is POINTS
    assert validate.number("N", "sigma", np.float32(1.5)) == 1.5 and type(validate.number("N", "s", 2)) is float
    assert validate.number("N", "count", np.int64(3), 0, 5, integer=True) == 3
    assert type(validate.number("N", "count", 3, integer=True)) is int
    assert validate.probability("N", "p", 1) == 1.0
    assert validate.interval("N", "range", [0.5, 2]) == (0.5, 2.0)
    assert validate.per_axis("N", "sigma", 2, dims=3) == (2.0, 2.0, 2.0)
    assert validate.per_axis("N", "sigma", 2) == (2.0,)
    assert validate.per_axis("N", "sigma", (1, 2)) == (1.0, 2.0)
    assert validate.coordinate("N", "shape", [4, 5], positive=True) == Coordinate(4, 5)
    assert validate.float_dtype("N", "dtype", "float64") == np.float64


BAD: list[tuple[Any, str]] = [
    (lambda: validate.array_key("Node", "array", "RAW"), "Node: array must be an ArrayKey, got 'RAW'"),
    (lambda: validate.array_key("Node", "array", None), "Node: array must be an ArrayKey, got None"),
    (lambda: validate.array_key("Node", "array", POINTS), "Node: array must be an ArrayKey, got POINTS"),
    (lambda: validate.graph_key("Node", "points", RAW), "Node: points must be a GraphKey"),
    (lambda: validate.any_key("Node", "key", 3), "Node: key must be an ArrayKey or GraphKey"),
    (lambda: validate.number("Node", "sigma", "1"), "Node: sigma must be a finite number, got '1'"),
    (lambda: validate.number("Node", "sigma", True), "Node: sigma must be a finite number, got True"),
    (lambda: validate.number("Node", "sigma", float("nan")), "Node: sigma must be a finite number"),
    (lambda: validate.number("Node", "sigma", float("inf")), "Node: sigma must be a finite number"),
    (lambda: validate.number("Node", "count", 1.5, integer=True), "Node: count must be an integer, got 1.5"),
    (lambda: validate.number("Node", "sigma", -1, low=0), r"Node: sigma must lie in \[0, None\], got -1"),
    (lambda: validate.number("Node", "sigma", 6, high=5), r"Node: sigma must lie in \[None, 5\], got 6"),
    (lambda: validate.probability("Node", "p", 1.5), r"Node: p must lie in \[0.0, 1.0\], got 1.5"),
    (lambda: validate.interval("Node", "range", (2, 1)), r"Node: range must have min <= max, got \(2, 1\)"),
    (lambda: validate.interval("Node", "range", (1, 2, 3)), r"Node: range must be a \(min, max\) pair"),
    (lambda: validate.interval("Node", "range", "ab"), r"Node: range must be a \(min, max\) pair"),
    (lambda: validate.interval("Node", "range", (-1, 1), low=0), "Node: range must lie in"),
    (lambda: validate.per_axis("Node", "sigma", [], dims=2), "Node: sigma must be a number or a sequence"),
    (lambda: validate.per_axis("Node", "sigma", "12"), "Node: sigma must be a number or a sequence"),
    (lambda: validate.per_axis("Node", "sigma", (1, 2), dims=3), r"Node: sigma must have 3 entries, got 2"),
    (lambda: validate.per_axis("Node", "sigma", (1, -2), low=0), "Node: sigma must lie in"),
    (lambda: validate.coordinate("Node", "shape", [1.5, 2]), "Node: shape must be a sequence of integers"),
    (lambda: validate.coordinate("Node", "shape", ["a"]), "Node: shape must be a sequence of integers"),
    (lambda: validate.coordinate("Node", "shape", [0, 2], positive=True), "Node: shape must be positive"),
    (lambda: validate.float_dtype("Node", "dtype", "uint8"), "Node: dtype must be a float dtype"),
    (lambda: validate.float_dtype("Node", "dtype", "nonsense"), "Node: dtype must be a numpy dtype"),
]


IDS = [f"{i}-{message.split(':')[1][:24].strip()}" for i, (_, message) in enumerate(BAD)]


@pytest.mark.parametrize(("call", "message"), BAD, ids=IDS)
def test_bad_arguments_name_node_and_parameter(call: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call()


def test_upstream_array() -> None:
    spec = ProviderSpec({RAW: ArraySpec(roi=Roi((0,), (4,)), voxel_size=(1,), dtype=np.uint8), POINTS: GraphSpec()})
    assert validate.upstream_array("Node(RAW)", spec, RAW) is spec[RAW]
    message = r"Node\(MASK\): needs MASK \(the mask\), but upstream provides only RAW, POINTS"
    with pytest.raises(SetupError, match=message):
        validate.upstream_array("Node(MASK)", spec, ArrayKey("MASK"), " (the mask)")
    with pytest.raises(SetupError, match="upstream provides only nothing; add a source for MASK"):
        validate.upstream_array("Node", ProviderSpec(), ArrayKey("MASK"))


def test_require_float() -> None:
    validate.require_float("Node", RAW, ArraySpec(dtype=np.float32))
    validate.require_float("Node", RAW, ArraySpec())
    with pytest.raises(
        SetupError,
        match=r"Node: needs a float array; expected float32 or float64 for RAW, got uint8\. "
        r"Add Normalize\(RAW\) upstream\.",
    ):
        validate.require_float("Node", RAW, ArraySpec(dtype=np.uint8))
