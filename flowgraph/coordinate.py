"""Coordinate: an immutable n-D integer vector in world units (``None`` = unbounded)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any

from flowgraph.errors import ConfigError

_new = tuple.__new__


def _as_int(value: Any) -> int | None:
    """``value`` as an int: integers as they are, other real numbers truncated towards zero."""
    if value is None:
        return None
    if not isinstance(value, bool) and isinstance(value, numbers.Real):
        if isinstance(value, numbers.Integral):
            return int(value)
        if math.isfinite(value):
            return int(float(value))  # truncated, as funlib.geometry's Coordinate: 2.7 -> 2
    raise ConfigError(f"Coordinate: entries must be numbers or None, got {value!r}; world coordinates are integral.")


class Coordinate(tuple[int | None, ...]):
    """A tuple of integers (or ``None`` for unbounded) with element-wise arithmetic.

    As funlib.geometry's ``Coordinate`` (gunpowder's): real numbers are truncated to integers, an
    operation with a number applies it to every entry, and an operation with another Coordinate
    (or a tuple on the right) works entry by entry. Two differences: division floors (``//`` and
    ``/`` alike), so negative coordinates land in the right voxel, and ``2 * c`` multiplies where
    funlib repeats the tuple. A plain tuple on the *left* of ``+`` concatenates, as for any tuple,
    and slicing gives a plain tuple. Other operands return ``NotImplemented``.

    Example:
        >>> Coordinate(4, -5) // 2
        Coordinate(2, -3)
        >>> Coordinate((1, 2)) + (10, None)
        Coordinate(11, None)
        >>> (3,) + Coordinate(1, 2)
        (3, 1, 2)
        >>> Coordinate(2.7, -2.7)
        Coordinate(2, -2)
    """

    def __new__(cls, *values: Any) -> Coordinate:
        if len(values) == 1 and isinstance(values[0], Iterable) and not isinstance(values[0], str):
            values = tuple(values[0])
        for v in values:  # the hot path: only ints and Nones, no conversion needed
            if type(v) is not int and v is not None:
                return _new(cls, [_as_int(v) for v in values])
        return _new(cls, values)

    @property
    def dims(self) -> int:
        return len(self)

    def is_bounded(self) -> bool:
        return None not in self

    # -- arithmetic ------------------------------------------------------------------------------
    def _other(self, other: Any) -> tuple[Any, ...] | None:
        """``other`` as a tuple of this length (a number repeated), or None if it is foreign."""
        if type(other) is int:
            return (other,) * len(self)
        if isinstance(other, tuple):
            if len(other) != len(self):
                raise ConfigError(
                    f"Coordinate: cannot combine {len(self)}-D {tuple(self)} with "
                    f"{len(other)}-D {tuple(other)}; give both the same number of axes."
                )
            return other
        if isinstance(other, numbers.Real) and not isinstance(other, bool):
            return (other,) * len(self)
        return None

    def _zip(self, other: Any, op: Callable[[Any, Any], Any]) -> Coordinate:
        values = self._other(other)
        if values is None:
            return NotImplemented
        # Coordinate() truncates what a float operand produced; None stays None
        return Coordinate([None if a is None or b is None else op(a, b) for a, b in zip(self, values)])

    def __add__(self, other: Any) -> Coordinate:
        try:  # the hot paths: a bounded Coordinate and another one or an int
            if type(other) is Coordinate and len(other) == len(self):
                return _new(Coordinate, [a + b for a, b in zip(self, other)])  # type: ignore[operator]
            if type(other) is int:
                return _new(Coordinate, [a + other for a in self])  # type: ignore[operator]
        except TypeError:  # None in an entry
            pass
        return self._zip(other, lambda a, b: a + b)

    def __radd__(self, other: Any) -> Coordinate:
        if isinstance(other, tuple):
            return NotImplemented  # `(3,) + coordinate` concatenates, as for any tuple
        return self._zip(other, lambda a, b: b + a)

    def __sub__(self, other: Any) -> Coordinate:
        try:
            if type(other) is Coordinate and len(other) == len(self):
                return _new(Coordinate, [a - b for a, b in zip(self, other)])  # type: ignore[operator]
            if type(other) is int:
                return _new(Coordinate, [a - other for a in self])  # type: ignore[operator]
        except TypeError:  # None in an entry
            pass
        return self._zip(other, lambda a, b: a - b)

    def __rsub__(self, other: Any) -> Coordinate:
        return self._zip(other, lambda a, b: b - a)

    def __mul__(self, other: Any) -> Coordinate:
        try:
            if type(other) is Coordinate and len(other) == len(self):
                return _new(Coordinate, [a * b for a, b in zip(self, other)])  # type: ignore[operator]
            if type(other) is int:
                return _new(Coordinate, [a * other for a in self])  # type: ignore[operator]
        except TypeError:  # None in an entry
            pass
        return self._zip(other, lambda a, b: a * b)

    __rmul__ = __mul__

    def __floordiv__(self, other: Any) -> Coordinate:
        try:
            if type(other) is Coordinate and len(other) == len(self):
                return _new(Coordinate, [a // b for a, b in zip(self, other)])  # type: ignore[operator]
            if type(other) is int:
                return _new(Coordinate, [a // other for a in self])  # type: ignore[operator]
        except TypeError:  # None in an entry
            pass
        return self._zip(other, lambda a, b: a // b)

    __truediv__ = __floordiv__

    def __mod__(self, other: Any) -> Coordinate:
        try:
            if type(other) is Coordinate and len(other) == len(self):
                return _new(Coordinate, [a % b for a, b in zip(self, other)])  # type: ignore[operator]
            if type(other) is int:
                return _new(Coordinate, [a % other for a in self])  # type: ignore[operator]
        except TypeError:
            pass
        return self._zip(other, lambda a, b: a % b)

    def __pow__(self, other: Any) -> Coordinate:
        return self._zip(other, lambda a, b: a**b)

    def __neg__(self) -> Coordinate:
        return Coordinate([None if a is None else -a for a in self])

    def __abs__(self) -> Coordinate:
        return Coordinate([None if a is None else abs(a) for a in self])

    def min(self, other: Any) -> Coordinate:
        return self._zip(other, min)

    def max(self, other: Any) -> Coordinate:
        return self._zip(other, max)

    def lcm(self, other: Any) -> Coordinate:
        return self._zip(other, math.lcm)

    # -- funlib.geometry's helpers -----------------------------------------------------------------
    def squeeze(self, dim: int = 0) -> Coordinate:
        """This Coordinate without axis ``dim`` (negative counts from the end)."""
        drop = dim % len(self) if self else dim
        return Coordinate([c for i, c in enumerate(self) if i != drop])

    def is_multiple_of(self, coordinate: Any) -> bool:
        """True if every entry is a multiple of the corresponding entry of ``coordinate``.

        Example:
            >>> Coordinate(80, 12).is_multiple_of((40, 4)), Coordinate(80, 10).is_multiple_of((40, 4))
            (True, False)
        """
        return all(a % b == 0 for a, b in zip(self, Coordinate(coordinate)))  # type: ignore[operator]

    def floor_division(self, other: Any) -> Coordinate:
        """``self // other``, rounding down."""
        return self // other

    def ceil_division(self, other: Any) -> Coordinate:
        """``self / other`` rounded up, e.g. the number of voxels that cover a length.

        Example:
            >>> Coordinate(9, 8, -9).ceil_division(4)
            Coordinate(3, 2, -2)
        """
        return -((-self) // other)

    def round_division(self, other: Any) -> Coordinate:
        """``self / other`` rounded to the nearest integer; an exact half rounds down.

        Example:
            >>> Coordinate(5, 6, 7).round_division(4)
            Coordinate(1, 1, 2)
        """
        values = self._other(other)
        if values is None:
            raise ConfigError(f"Coordinate.round_division: cannot divide by {other!r}; give a number or a tuple.")
        return (self + (Coordinate(values) - 1) // 2) // values

    # -- conversions -------------------------------------------------------------------------------
    def ints(self) -> tuple[int, ...]:
        """The entries as plain ints, for a bounded Coordinate (ConfigError if an entry is None)."""
        if None in self:
            raise ConfigError(f"Coordinate: {tuple(self)} is unbounded; expected integers on every axis.")
        return tuple(self)  # type: ignore[arg-type]

    def product(self) -> int:
        if None in self:
            raise ConfigError(f"Coordinate: {tuple(self)} is unbounded; it has no product.")
        return math.prod(self)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"Coordinate{tuple(self)!r}".replace(",)", ")")

    def __str__(self) -> str:
        return "(" + ", ".join(str(v) for v in self) + ")"


def integral_coordinate(value: Any) -> Coordinate:
    """``Coordinate(value)``, but a ConfigError for an entry that is not a whole number.

    For node parameters: a fractional world size there is a mistake, not something to truncate.
    """
    entries = tuple(value) if isinstance(value, Iterable) and not isinstance(value, str) else (value,)
    for v in entries:
        if isinstance(v, numbers.Real) and not isinstance(v, numbers.Integral) and not float(v).is_integer():
            raise ConfigError(f"Coordinate: {v!r} is not a whole number; world coordinates are integral.")
    return Coordinate(entries)


__all__ = ["Coordinate", "integral_coordinate"]
