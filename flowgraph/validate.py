"""Argument checks shared by node constructors; each raises ConfigError naming the parameter."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, Literal, overload

import numpy as np

from flowgraph.coordinate import Coordinate, integral_coordinate
from flowgraph.errors import ConfigError, NonFiniteError, SetupError
from flowgraph.keys import ArrayKey, GraphKey, Key
from flowgraph.specs import ArraySpec, ProviderSpec


@overload
def array_key(node: str, param: str, value: Any, optional: Literal[False] = False) -> ArrayKey: ...
@overload
def array_key(node: str, param: str, value: Any, optional: bool) -> ArrayKey | None: ...
def array_key(node: str, param: str, value: Any, optional: bool = False) -> ArrayKey | None:
    if value is None and optional:
        return None
    if not isinstance(value, ArrayKey):
        raise ConfigError(f"{node}: {param} must be an ArrayKey, got {value!r}; create one with fg.ArrayKey('NAME').")
    return value


@overload
def graph_key(node: str, param: str, value: Any, optional: Literal[False] = False) -> GraphKey: ...
@overload
def graph_key(node: str, param: str, value: Any, optional: bool) -> GraphKey | None: ...
def graph_key(node: str, param: str, value: Any, optional: bool = False) -> GraphKey | None:
    if value is None and optional:
        return None
    if not isinstance(value, GraphKey):
        raise ConfigError(f"{node}: {param} must be a GraphKey, got {value!r}; create one with fg.GraphKey('NAME').")
    return value


def any_key(node: str, param: str, value: Any) -> Key:
    if not isinstance(value, (ArrayKey, GraphKey)):
        raise ConfigError(f"{node}: {param} must be an ArrayKey or GraphKey, got {value!r}.")
    return value


@overload
def number(
    node: str,
    param: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    integer: Literal[False] = False,
) -> float: ...
@overload
def number(
    node: str, param: str, value: Any, low: float | None = None, high: float | None = None, *, integer: Literal[True]
) -> int: ...
def number(
    node: str, param: str, value: Any, low: float | None = None, high: float | None = None, integer: bool = False
) -> int | float:
    # a flag rather than isinstance() in the condition: narrowed to numbers.Real, ``value`` would lose
    # its comparisons and int() in the type stubs
    valid = not isinstance(value, bool) and isinstance(value, numbers.Integral if integer else numbers.Real)
    if not valid or (not integer and not np.isfinite(value)):
        raise ConfigError(f"{node}: {param} must be {'an integer' if integer else 'a finite number'}, got {value!r}.")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{node}: {param} must lie in [{low}, {high}], got {value!r}.")
    return int(value) if integer else float(value)


def probability(node: str, param: str, value: Any) -> float:
    return number(node, param, value, 0.0, 1.0)


def interval(node: str, param: str, value: Any, low: float | None = None) -> tuple[float, float]:
    """A (min, max) pair with min <= max."""
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise ConfigError(f"{node}: {param} must be a (min, max) pair, got {value!r}.")
    a, b = (number(node, param, v, low) for v in value)
    if a > b:
        raise ConfigError(f"{node}: {param} must have min <= max, got {tuple(value)!r}.")
    return a, b


def per_axis(node: str, param: str, value: Any, dims: int | None = None, low: float | None = None) -> tuple[float, ...]:
    """A number per axis; a single number is repeated when ``dims`` is given."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if dims is None:
            return (number(node, param, value, low),)
        return (number(node, param, value, low),) * dims
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        raise ConfigError(f"{node}: {param} must be a number or a sequence of numbers, got {value!r}.")
    if dims is not None and len(value) != dims:
        raise ConfigError(f"{node}: {param} must have {dims} entries, got {len(value)} ({value!r}).")
    return tuple(number(node, param, v, low) for v in value)


def coordinate(node: str, param: str, value: Any, positive: bool = False) -> Coordinate:
    try:
        c = integral_coordinate(value)  # strict: no truncation of a fractional size
    except (ConfigError, TypeError) as e:
        raise ConfigError(f"{node}: {param} must be a sequence of integers, got {value!r}.") from e
    if positive and any(v is None or v <= 0 for v in c):
        raise ConfigError(f"{node}: {param} must be positive integers, got {tuple(c)}.")
    return c


def float_dtype(node: str, param: str, value: Any) -> np.dtype:
    try:
        dtype = np.dtype(value)
    except TypeError as e:
        raise ConfigError(f"{node}: {param} must be a numpy dtype, got {value!r}.") from e
    if dtype.kind != "f":
        raise ConfigError(f"{node}: {param} must be a float dtype (float32 or float64), got {dtype}.")
    return dtype


def upstream_array(node: str, spec: ProviderSpec, key: ArrayKey, what: str = "") -> ArraySpec:
    """The upstream spec of ``key``; SetupError naming the node if it is missing or not an array."""
    found = spec.get(key)
    if found is None:
        raise SetupError(
            f"{node}: needs {key}{what}, but upstream provides only {', '.join(map(str, spec)) or 'nothing'}; "
            f"add a source for {key} upstream."
        )
    assert isinstance(found, ArraySpec)
    return found


def check_finite(node: str, key: ArrayKey, data: np.ndarray) -> None:
    """Raise NonFiniteError if ``data`` (a float array) holds NaN or infinite values.

    One summing pass in the common case: a finite sum means every value is finite; only a
    non-finite sum (NaN, inf, or an overflow of large values) counts exactly.
    """
    if data.dtype.kind not in "fc" or data.size == 0:
        return
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(data.sum()):
            return
    bad = int(data.size - np.count_nonzero(np.isfinite(data)))
    if bad:
        raise non_finite_error(node, key, data.size, bad)


def non_finite_error(node: str, key: ArrayKey, size: int, bad: int) -> NonFiniteError:
    """The error for ``bad`` NaN or inf values of ``size`` in ``key``."""
    return NonFiniteError(
        f"{node}: {key} holds {bad} non-finite value(s) (NaN or inf) of {size}; they would spread through every "
        "average and interpolation. Replace them upstream (e.g. np.nan_to_num in the source data) or mask them out."
    )


def require_float(node: str, key: ArrayKey, spec: ArraySpec) -> None:
    if spec.dtype is not None and spec.dtype.kind != "f":
        raise SetupError(
            f"{node}: needs a float array; expected float32 or float64 for {key}, got {spec.dtype}. "
            f"Add Normalize({key}) upstream."
        )


__all__ = [
    "any_key",
    "array_key",
    "check_finite",
    "coordinate",
    "float_dtype",
    "graph_key",
    "interval",
    "number",
    "per_axis",
    "probability",
    "require_float",
    "upstream_array",
]
