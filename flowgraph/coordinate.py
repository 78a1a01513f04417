"""Coordinate: an immutable n-D integer vector in world units (``None`` = unbounded)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any, SupportsIndex, overload

from flowgraph.errors import ConfigError


def _as_int(value: Any) -> int | None:
    if value is None:
        return None
    whole = not isinstance(value, bool) and (
        isinstance(value, numbers.Integral) or (isinstance(value, numbers.Real) and float(value).is_integer())
    )
    if not whole:
        raise ConfigError(
            f"Coordinate: entries must be integers or None, got {value!r}; "
            "world coordinates are integral, round them first."
        )
    return int(value)


class Coordinate(tuple[int | None, ...]):
    """A tuple of integers (or ``None`` for unbounded) with element-wise arithmetic.

    Division floors (``//`` and ``/`` alike), so negative coordinates land in the right voxel.
    Arithmetic with anything but a Coordinate, a tuple or an int returns ``NotImplemented``.

    Example:
        >>> Coordinate(4, -5) // 2
        Coordinate(2, -3)
        >>> Coordinate((1, 2)) + (10, None)
        Coordinate(11, None)
    """

    def __new__(cls, *values: Any) -> Coordinate:
        if len(values) == 1 and isinstance(values[0], Iterable) and not isinstance(values[0], str):
            values = tuple(values[0])
        if all(type(v) is int or v is None for v in values):  # the hot path: no conversion needed
            return super().__new__(cls, values)
        return super().__new__(cls, (_as_int(v) for v in values))

    @property
    def dims(self) -> int:
        return len(self)

    def is_bounded(self) -> bool:
        return all(v is not None for v in self)

    def _zip(self, other: Any, op: Callable[[int, int], int]) -> Coordinate:
        if isinstance(other, bool):
            return NotImplemented
        if isinstance(other, numbers.Integral):
            other = (int(other),) * len(self)
        elif not isinstance(other, tuple):
            return NotImplemented
        if len(other) != len(self):
            raise ConfigError(
                f"Coordinate: cannot combine {len(self)}-D {tuple(self)} with "
                f"{len(other)}-D {tuple(other)}; give both the same number of axes."
            )
        return Coordinate(None if a is None or b is None else op(a, b) for a, b in zip(self, other))

    def __add__(self, other: Any) -> Coordinate:
        return self._zip(other, lambda a, b: a + b)

    __radd__ = __add__

    def __sub__(self, other: Any) -> Coordinate:
        return self._zip(other, lambda a, b: a - b)

    def __rsub__(self, other: Any) -> Coordinate:
        return self._zip(other, lambda a, b: b - a)

    def __mul__(self, other: Any) -> Coordinate:
        return self._zip(other, lambda a, b: a * b)

    __rmul__ = __mul__

    def __floordiv__(self, other: Any) -> Coordinate:
        return self._zip(other, lambda a, b: a // b)

    __truediv__ = __floordiv__

    def __mod__(self, other: Any) -> Coordinate:
        return self._zip(other, lambda a, b: a % b)

    def __neg__(self) -> Coordinate:
        return Coordinate(None if a is None else -a for a in self)

    def __abs__(self) -> Coordinate:
        return Coordinate(None if a is None else abs(a) for a in self)

    @overload
    def __getitem__(self, index: SupportsIndex) -> int | None: ...
    @overload
    def __getitem__(self, index: slice) -> Coordinate: ...
    def __getitem__(self, index: Any) -> Any:
        item = super().__getitem__(index)
        return Coordinate(item) if isinstance(index, slice) else item

    def min(self, other: Any) -> Coordinate:
        return self._zip(other, min)

    def max(self, other: Any) -> Coordinate:
        return self._zip(other, max)

    def lcm(self, other: Any) -> Coordinate:
        return self._zip(other, math.lcm)

    def ints(self) -> tuple[int, ...]:
        """The entries as plain ints, for a bounded Coordinate (ConfigError if an entry is None)."""
        if not self.is_bounded():
            raise ConfigError(f"Coordinate: {tuple(self)} is unbounded; expected integers on every axis.")
        return tuple(v for v in self if v is not None)

    def product(self) -> int:
        if not self.is_bounded():
            raise ConfigError(f"Coordinate: {tuple(self)} is unbounded; it has no product.")
        return math.prod(self.ints())

    def __repr__(self) -> str:
        return f"Coordinate{tuple(self)!r}".replace(",)", ")")

    def __str__(self) -> str:
        return "(" + ", ".join(str(v) for v in self) + ")"


__all__ = ["Coordinate"]
