"""Roi: an immutable axis-aligned box in world units, ``Roi(offset, shape)``."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal

from flowgraph.coordinate import Coordinate
from flowgraph.errors import ConfigError

SnapMode = Literal["grow", "shrink", "closest"]


class _Flag(int):
    """A bool that can also be called: ``Roi.empty`` is a property as in gunpowder, and older
    flowgraph code calls it as a method (``roi.empty()``)."""

    __slots__ = ()

    def __call__(self) -> bool:
        return self is _TRUE

    def __repr__(self) -> str:
        return "True" if self is _TRUE else "False"

    __str__ = __repr__


class _Count(int):
    """An int that can also be called: ``Roi.size`` is a property as in gunpowder, and older
    flowgraph code calls it as a method (``roi.size()``)."""

    __slots__ = ()

    def __call__(self) -> int:
        return int(self)


_TRUE, _FALSE = _Flag(1), _Flag(0)


def _coordinate(value: Any, name: str) -> Coordinate:
    if isinstance(value, Coordinate):
        return value
    if not isinstance(value, Iterable) or isinstance(value, str):
        raise ConfigError(f"Roi: {name} must be a sequence of integers, got {value!r}.")
    return Coordinate(value)


class Roi:
    """A box ``[offset, offset + shape)`` per axis; ``None`` in offset or shape is unbounded.

    Example:
        >>> roi = Roi((0, 0), (10, 20))
        >>> roi.grow((2, 2), (2, 2))
        Roi([-2:12, -2:22])
        >>> roi.intersect(Roi((5, 5), (100, 100)))
        Roi([5:10, 5:20])
    """

    __slots__ = ("_offset", "_shape")

    def __init__(self, offset: Iterable[int | None], shape: Iterable[int | None]) -> None:
        off = _coordinate(offset, "offset")
        shp = _coordinate(shape, "shape")
        if len(off) != len(shp):
            raise ConfigError(f"Roi: offset {tuple(off)} and shape {tuple(shp)} have different numbers of axes.")
        if any(s is not None and s < 0 for s in shp):
            raise ConfigError(f"Roi: shape {tuple(shp)} has a negative extent; use a shape >= 0.")
        if None in off or None in shp:
            # an axis is unbounded as a whole: no offset or no shape means (-inf, inf)
            off = Coordinate([None if s is None else o for o, s in zip(off, shp)])
            shp = Coordinate([None if o is None else s for o, s in zip(off, shp)])
        self._offset = off
        self._shape = shp

    # -- basic properties ------------------------------------------------------------------
    @property
    def offset(self) -> Coordinate:
        return self._offset

    @property
    def shape(self) -> Coordinate:
        return self._shape

    @property
    def begin(self) -> Coordinate:
        return self._offset

    @property
    def end(self) -> Coordinate:
        return self._offset + self._shape

    @property
    def dims(self) -> int:
        return len(self._offset)

    @property
    def center(self) -> Coordinate:
        return self._offset + self._shape // 2

    def bounds(self) -> tuple[tuple[int, int] | None, ...]:
        """Per axis ``(begin, end)``, or None where the axis is unbounded."""
        return tuple(None if o is None or s is None else (o, o + s) for o, s in zip(self._offset, self._shape))

    def is_bounded(self) -> bool:
        return None not in self._shape

    @property
    def unbounded(self) -> bool:
        """True if some axis is unbounded (gunpowder's name; ``not roi.is_bounded()``)."""
        return None in self._shape

    @property
    def empty(self) -> _Flag:
        """True if the Roi has no volume (a zero extent on some axis).

        A property, as in gunpowder (``if roi.empty:``); ``roi.empty()`` gives the same answer.
        """
        return _TRUE if 0 in self._shape else _FALSE

    @property
    def size(self) -> _Count | None:
        """The volume in world units cubed; None if the Roi is unbounded (as in gunpowder).

        A property, as in gunpowder; ``roi.size()`` gives the same number for a bounded Roi.
        """
        if None in self._shape:
            return None
        return _Count(math.prod(self._shape))  # type: ignore[arg-type]

    # gunpowder's getters
    def get_offset(self) -> Coordinate:
        return self._offset

    def get_begin(self) -> Coordinate:
        return self._offset

    def get_shape(self) -> Coordinate:
        return self._shape

    def get_end(self) -> Coordinate:
        return self.end

    def get_center(self) -> Coordinate:
        return self.center

    def get_size(self) -> int | None:
        size = self.size
        return None if size is None else int(size)

    def get_bounding_box(self) -> tuple[slice, ...]:
        """The same as :meth:`to_slices`."""
        return self.to_slices()

    def copy(self) -> Roi:
        """An equal Roi (a Roi is immutable, so sharing one is just as safe)."""
        new = object.__new__(Roi)
        new._offset, new._shape = self._offset, self._shape
        return new

    # -- set operations -----------------------------------------------------------------------
    def _check_dims(self, other: Roi, what: str) -> None:
        if not isinstance(other, Roi):
            raise ConfigError(f"Roi.{what}: expected a Roi, got {type(other).__name__}.")
        if other.dims != self.dims:
            raise ConfigError(f"Roi.{what}: cannot combine a {self.dims}-D {self} with a {other.dims}-D {other}.")

    def contains(self, other: Roi | Iterable[float]) -> bool:
        """True if ``other`` lies inside; an empty Roi is inside anything.

        ``other`` is a Roi or a point: a Coordinate, or any sequence or 1-D numpy array of numbers,
        integers or not (a graph node's location), compared as it is: ``begin <= p < end``.
        """
        if not isinstance(other, Roi):
            if isinstance(other, str) or not isinstance(other, Iterable):
                raise ConfigError(f"Roi.contains: expected a Roi or a point, got {other!r}.")
            point = tuple(other)
            if len(point) != self.dims:
                raise ConfigError(f"Roi.contains: the point {point} is not {self.dims}-D like {self}.")
            for b, s, p in zip(self._offset, self._shape, point):
                if b is None or s is None:
                    continue
                if p is None or not b <= p < b + s:
                    return False
            return True
        self._check_dims(other, "contains")
        if 0 in other._shape:
            return True
        # plain loop over offsets and shapes: called for every key at every node
        for b, e, ob, oe in zip(self._offset, self._shape, other._offset, other._shape):
            if b is None or e is None:
                continue
            if ob is None or oe is None or ob < b or ob + oe > b + e:
                return False
        return True

    def intersects(self, other: Roi) -> bool:
        self._check_dims(other, "intersects")
        return not self.intersect(other).empty

    def intersect(self, other: Roi) -> Roi:
        """The common part; an empty Roi (shape 0 on some axis) when there is none."""
        self._check_dims(other, "intersect")
        begin: list[int | None] = []
        end: list[int | None] = []
        for axis, other_axis in zip(self.bounds(), other.bounds()):
            if axis is None or other_axis is None:
                b, e = axis or other_axis or (None, None)
                begin.append(b)
                end.append(e)
            else:
                nb, ne = max(axis[0], other_axis[0]), min(axis[1], other_axis[1])
                begin.append(nb)
                end.append(max(nb, ne))
        return Roi.from_begin_end(begin, end)

    def union(self, other: Roi) -> Roi:
        """The smallest Roi containing both (empty Rois are ignored)."""
        self._check_dims(other, "union")
        if 0 in self._shape:
            return other
        if 0 in other._shape:
            return self
        begin: list[int | None] = []
        end: list[int | None] = []
        for axis, other_axis in zip(self.bounds(), other.bounds()):
            if axis is None or other_axis is None:
                begin.append(None)
                end.append(None)
            else:
                begin.append(min(axis[0], other_axis[0]))
                end.append(max(axis[1], other_axis[1]))
        return Roi.from_begin_end(begin, end)

    @staticmethod
    def from_begin_end(begin: Iterable[int | None], end: Iterable[int | None]) -> Roi:
        b, e = Coordinate(begin), Coordinate(end)
        return Roi(b, e - b)

    # -- transformations -----------------------------------------------------------------------
    def grow(self, amount_neg: Any = 0, amount_pos: Any = 0) -> Roi:
        """Grow by ``amount_neg`` below and ``amount_pos`` above (negative amounts shrink)."""
        neg = Coordinate((amount_neg,) * self.dims) if isinstance(amount_neg, int) else Coordinate(amount_neg)
        pos = Coordinate((amount_pos,) * self.dims) if isinstance(amount_pos, int) else Coordinate(amount_pos)
        return Roi(self._offset - neg, self._shape + neg + pos)

    def shift(self, by: Any) -> Roi:
        return Roi(self._offset + by, self._shape)

    def snap_to_grid(self, voxel_size: Any, mode: SnapMode = "grow") -> Roi:
        """Align begin and end to multiples of ``voxel_size``.

        ``grow`` floors the begin and ceils the end, ``shrink`` does the opposite, ``closest``
        rounds both to the nearest grid line (ties towards growing).
        """
        vs = Coordinate(voxel_size)
        if len(vs) != self.dims or any(v is None or v <= 0 for v in vs):
            raise ConfigError(
                f"Roi.snap_to_grid: voxel_size must be {self.dims} positive integers, got {voxel_size!r}."
            )
        if mode not in ("grow", "shrink", "closest"):
            raise ConfigError(f"Roi.snap_to_grid: mode must be 'grow', 'shrink' or 'closest', got {mode!r}.")
        begin: list[int | None] = []
        end: list[int | None] = []
        for axis, v in zip(self.bounds(), vs.ints()):
            if axis is None:
                begin.append(None)
                end.append(None)
                continue
            b, e = axis
            if mode == "grow":
                nb, ne = (b // v) * v, -((-e) // v) * v
            elif mode == "shrink":
                nb, ne = -((-b) // v) * v, (e // v) * v
            else:
                nb, ne = ((2 * b + v - 1) // (2 * v)) * v, ((2 * e + v) // (2 * v)) * v
            begin.append(nb)
            end.append(max(nb, ne))
        return Roi.from_begin_end(begin, end)

    def on_grid(self, voxel_size: Any) -> bool:
        """True if every bounded begin and end is a multiple of ``voxel_size`` (cheap; no new Roi)."""
        for b, s, v in zip(self._offset, self._shape, voxel_size):  # noqa: SIM110 (a loop is faster than all())
            if b is not None and (b % v or s % v):
                return False
        return True

    def to_slices(self) -> tuple[slice, ...]:
        """Slices selecting this Roi from an array whose origin is 0 (world = index units)."""
        return tuple(slice(None) if b is None else slice(b, e) for b, e in zip(self.begin, self.end))

    def squeeze(self, dim: int = 0) -> Roi:
        """This Roi without axis ``dim``."""
        keep = [d for d in range(self.dims) if d != dim % self.dims]
        return Roi([self._offset[d] for d in keep], [self._shape[d] for d in keep])

    # -- value semantics -----------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Roi):
            return NotImplemented
        return self._offset == other._offset and self._shape == other._shape

    def __hash__(self) -> int:
        return hash((self._offset, self._shape))

    def __add__(self, other: Any) -> Roi:
        if isinstance(other, Roi):
            return NotImplemented
        return self.shift(other)

    def __sub__(self, other: Any) -> Roi:
        if isinstance(other, Roi):
            return NotImplemented
        return self.shift(-Coordinate(other))

    def __mul__(self, other: Any) -> Roi:
        if isinstance(other, Roi):
            return NotImplemented
        return Roi(self._offset * other, self._shape * other)

    def __floordiv__(self, other: Any) -> Roi:
        if isinstance(other, Roi):
            return NotImplemented
        return Roi.from_begin_end(self.begin // other, self.end // other)

    __truediv__ = __floordiv__

    def __str__(self) -> str:
        return "[" + ", ".join(":" if b is None else f"{b}:{e}" for b, e in zip(self.begin, self.end)) + "]"

    def __repr__(self) -> str:
        return f"Roi({self})"


def as_roi(value: Any, owner: str = "Roi") -> Roi:
    """``value`` as a Roi: a Roi as it is; another box type converted from its ``offset`` (or
    ``begin``) and ``shape``, such as funlib.geometry's Roi (which gunpowder code passes around).

    Raises:
        ConfigError: ``value`` has no offset or begin, or no shape.

    Example:
        >>> class Box:  # funlib.geometry.Roi has these two attributes
        ...     offset, shape = (4, 0), (8, 2)
        >>> as_roi(Box())
        Roi([4:12, 0:2])
    """
    if isinstance(value, Roi):
        return value
    offset = getattr(value, "offset", None)
    if offset is None:
        offset = getattr(value, "begin", None)
    shape = getattr(value, "shape", None)
    if offset is None or shape is None or isinstance(value, (str, bytes)):
        raise ConfigError(
            f"{owner}: expected a Roi (or a box with offset and shape, such as funlib.geometry's Roi), "
            f"got {type(value).__name__}."
        )
    return Roi(offset, shape)


__all__ = ["Roi", "as_roi"]
