"""Roi: exact geometry of boxes in world units, unbounded axes, empty rois, and the laws they obey."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowgraph.coordinate import Coordinate
from flowgraph.errors import ConfigError
from flowgraph.roi import Roi, as_roi


def r(begin: tuple[int | None, ...], end: tuple[int | None, ...]) -> Roi:
    return Roi.from_begin_end(begin, end)


# -- construction ----------------------------------------------------------------------------------
def test_offset_shape_begin_end_center_size() -> None:
    roi = Roi((-4, 10), (8, 6))
    assert roi.offset == roi.begin == (-4, 10)
    assert roi.shape == (8, 6)
    assert roi.end == (4, 16)
    assert roi.center == (0, 13)
    assert roi.dims == 2
    assert roi.size == 48 and roi.get_size() == 48
    assert isinstance(roi.offset, Coordinate) and isinstance(roi.end, Coordinate)
    assert roi == r((-4, 10), (4, 16))
    assert str(roi) == "[-4:4, 10:16]" and repr(roi) == "Roi([-4:4, 10:16])"


def test_an_axis_without_offset_or_shape_is_unbounded_as_a_whole() -> None:
    a = Roi((0, None), (10, 5))
    b = Roi((0, 7), (10, None))
    assert a == b == Roi((0, None), (10, None))
    assert a.offset == (0, None) and a.shape == (10, None) and a.end == (10, None)
    assert not a.is_bounded() and Roi((0,), (1,)).is_bounded()
    assert str(a) == "[0:10, :]"
    assert a.size is None and a.get_size() is None and a.unbounded  # as gunpowder: no volume


@pytest.mark.parametrize(
    ("offset", "shape", "message"),
    [
        ((0, 0), (-1, 4), "negative extent"),
        ((0, 0), (1,), "different numbers of axes"),
        (5, (1,), "offset must be a sequence of integers"),
        ((0,), "1", "shape must be a sequence of integers"),
        (("a",), (1,), "entries must be numbers"),
    ],
)
def test_bad_construction(offset: object, shape: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Roi(offset, shape)  # type: ignore[arg-type]


def test_gunpowder_getters_and_properties() -> None:
    roi = Roi((-4, 10), (8, 6))
    assert roi.get_offset() == roi.get_begin() == (-4, 10)
    assert roi.get_shape() == (8, 6) and roi.get_end() == (4, 16) and roi.get_center() == (0, 13)
    assert roi.get_bounding_box() == roi.to_slices() == (slice(-4, 4), slice(10, 16))
    assert roi.empty is not None and not roi.empty and Roi((0, 0), (0, 4)).empty
    assert not roi.unbounded
    copy = roi.copy()
    assert copy == roi and copy is not roi and hash(copy) == hash(roi)


def test_empty_and_size_are_properties_that_can_also_be_called() -> None:
    # gunpowder reads them as properties; older flowgraph code calls them: both give the answer
    empty, full = Roi((0, 0), (0, 4)), Roi((0, 0), (2, 3))
    assert empty.empty == True and full.empty == False  # noqa: E712 (the value, not its truth)
    assert empty.empty() is True and full.empty() is False
    assert repr(full.empty) == "False" and str(empty.empty) == "True"
    assert full.size == 6 and full.size() == 6 and type(full.size()) is int
    assert full.size + 1 == 7 and Roi((0,), (0,)).size == 0


def test_as_roi_converts_boxes_with_offset_or_begin_and_shape() -> None:
    roi = Roi((1, 2), (3, 4))
    assert as_roi(roi) is roi

    class Funlike:  # funlib.geometry's Roi: offset, begin and shape
        offset = begin = (1, 2)
        shape = (3, 4)

    class BeginOnly:
        begin, shape = (0, -8), (2, 8)

    assert as_roi(Funlike()) == roi and type(as_roi(Funlike())) is Roi
    assert as_roi(BeginOnly()) == Roi((0, -8), (2, 8))
    for bad in [np.zeros((2, 2)), (0, 4), "0:4"]:
        with pytest.raises(ConfigError, match=r"Crop: expected a Roi \(or a box with offset and shape"):
            as_roi(bad, "Crop")


def test_value_semantics() -> None:
    assert Roi((0, 0), (2, 2)) == Roi([0, 0], [2, 2])
    assert Roi((0, 0), (2, 2)) != Roi((0, 0), (2, 3))
    assert len({Roi((0, 0), (2, 2)), Roi((0, 0), (2, 2)), Roi((0, None), (2, None))}) == 2
    assert Roi((0,), (1,)).__eq__("x") is NotImplemented


# -- intersect / union / contains ---------------------------------------------------------------------
def test_intersect_exact() -> None:
    a = Roi((0, 0), (10, 20))
    assert a.intersect(Roi((5, -5), (100, 10))) == r((5, 0), (10, 5))
    assert a.intersect(a) == a
    assert a.intersect(Roi((2, 3), (1, 1))) == Roi((2, 3), (1, 1))


def test_intersect_of_disjoint_rois_is_empty() -> None:
    a = Roi((0, 0), (10, 10))
    out = a.intersect(Roi((20, 0), (5, 5)))
    assert out.empty and out.shape[0] == 0 and out.shape[1] == 5
    touching = a.intersect(Roi((10, 0), (5, 5)))
    assert touching.empty
    assert not a.intersects(Roi((10, 0), (5, 5)))
    assert a.intersects(Roi((9, 9), (5, 5)))


def test_intersect_with_unbounded_axes() -> None:
    bounded = Roi((0, 0), (10, 10))
    half = Roi((5, None), (100, None))
    assert bounded.intersect(half) == r((5, 0), (10, 10))
    assert half.intersect(bounded) == r((5, 0), (10, 10))
    everything = Roi((None, None), (None, None))
    assert everything.intersect(half) == half
    assert everything.intersect(everything) == everything


def test_union_exact_and_with_unbounded_and_empty() -> None:
    a = Roi((0, 0), (10, 10))
    assert a.union(Roi((-5, 20), (1, 1))) == r((-5, 0), (10, 21))
    assert a.union(Roi((0, None), (1, None))) == Roi((0, None), (10, None))
    empty = Roi((100, 100), (0, 3))
    assert a.union(empty) == a
    assert empty.union(a) == a


def test_contains_rois_and_points() -> None:
    a = Roi((0, 0), (10, 10))
    assert a.contains(Roi((0, 0), (10, 10)))
    assert a.contains(Roi((2, 3), (8, 7)))
    assert not a.contains(Roi((2, 3), (9, 7)))
    assert not a.contains(Roi((-1, 0), (2, 2)))
    assert a.contains((0, 0)) and a.contains((9, 9))
    assert not a.contains((10, 9)) and not a.contains((-1, 0))  # end is exclusive


def test_contains_with_unbounded_and_empty_rois() -> None:
    half = Roi((0, None), (10, None))
    assert half.contains(Roi((3, -(10**9)), (2, 2 * 10**9)))
    assert half.contains((5, -(10**12)))
    assert not Roi((0, 0), (10, 10)).contains(half)  # an unbounded axis fits in no bounded one
    assert Roi((0, 0), (10, 10)).contains(Roi((500, 500), (0, 4)))  # the empty roi lies in anything


def test_contains_points_with_fractional_coordinates() -> None:
    # graph node locations are floats: compared as they are, begin <= p < end
    a = Roi((0, 0), (10, 10))
    assert a.contains((9.5, 0.0)) and a.contains((0.0, 9.999))
    assert not a.contains((-0.5, 5.0))  # truncating -0.5 to 0 would wrongly put it inside
    assert not a.contains((10.0, 5.0)) and not a.contains((9.5, 10.25))
    assert a.contains(np.array([2.5, 7.25])) and not a.contains(np.array([2.5, -1e-9]))
    assert a.contains(np.array([3, 4])) and a.contains([1, 2])
    assert Roi((0, None), (10, None)).contains((5.5, -1e12))
    assert not a.contains((5, None))


def test_contains_a_point_of_other_dimensionality_is_an_error() -> None:
    with pytest.raises(ConfigError, match="2-D"):
        Roi((0, 0), (10, 10)).contains((5,))


@pytest.mark.parametrize("method", ["intersect", "union", "contains", "intersects"])
def test_set_operations_check_dims_and_type(method: str) -> None:
    a = Roi((0, 0), (10, 10))
    with pytest.raises(ConfigError, match=f"Roi.{method}: cannot combine a 2-D"):
        getattr(a, method)(Roi((0,), (1,)))
    if method != "contains":  # contains also takes points
        with pytest.raises(ConfigError, match=f"Roi.{method}: expected a Roi"):
            getattr(a, method)((0, 0))


# -- grow / shift / arithmetic ----------------------------------------------------------------------
def test_grow_and_shrink() -> None:
    a = Roi((0, 0), (10, 10))
    assert a.grow(2, 3) == r((-2, -2), (13, 13))
    assert a.grow((1, 2), (3, 4)) == r((-1, -2), (13, 14))
    assert a.grow(Coordinate(1, 0)) == r((-1, 0), (10, 10))
    assert a.grow(-3, -3) == r((3, 3), (7, 7))
    assert a.grow(-6, 0) == r((6, 6), (10, 10))
    with pytest.raises(ConfigError, match="negative extent"):
        a.grow(-6, -6)


def test_grow_and_shift_keep_unbounded_axes_unbounded() -> None:
    half = Roi((0, None), (10, None))
    assert half.grow(1, 1) == Roi((-1, None), (12, None))
    assert half.shift((5, 5)) == Roi((5, None), (10, None))


def test_shift_and_operators() -> None:
    a = Roi((0, 4), (10, 10))
    assert a.shift((3, -4)) == Roi((3, 0), (10, 10))
    assert a + (1, 1) == Roi((1, 5), (10, 10))
    assert a - (1, 1) == Roi((-1, 3), (10, 10))
    assert a * 2 == Roi((0, 8), (20, 20))
    assert a * (2, 3) == Roi((0, 12), (20, 30))
    # division floors begin and end: [-3:7] // 2 = [-2:3]
    assert Roi((-3, 1), (10, 10)) // 2 == r((-2, 0), (3, 5))
    assert Roi((-3, 1), (10, 10)) / 2 == r((-2, 0), (3, 5))
    with pytest.raises(TypeError, match="unsupported operand"):
        a + a
    with pytest.raises(TypeError, match="unsupported operand"):
        a * a


# -- snap_to_grid ----------------------------------------------------------------------------------
def test_snap_to_grid_modes() -> None:
    roi = r((-3, 5), (4, 14))
    assert roi.snap_to_grid((4, 4)) == r((-4, 4), (4, 16))
    assert roi.snap_to_grid((4, 4), "grow") == r((-4, 4), (4, 16))
    assert roi.snap_to_grid((4, 4), "shrink") == r((0, 8), (4, 12))
    # closest: -3 -> -4, 4 -> 4, 5 -> 4, 14 (tie between 12 and 16) -> 16 (ties grow)
    assert roi.snap_to_grid((4, 4), "closest") == r((-4, 4), (4, 16))
    # begin ties grow as well: 2 (between 0 and 4) -> 0, -2 (between -4 and 0) -> -4
    assert r((2, -2), (6, 2)).snap_to_grid((4, 4), "closest") == r((0, -4), (8, 4))


def test_snap_to_grid_anisotropic_and_already_aligned() -> None:
    roi = r((-41, 3), (41, 9))
    assert roi.snap_to_grid((40, 4)) == r((-80, 0), (80, 12))
    aligned = r((-80, 4), (40, 12))
    for mode in ("grow", "shrink", "closest"):
        assert aligned.snap_to_grid((40, 4), mode) == aligned  # type: ignore[arg-type]


def test_snap_to_grid_shrink_of_a_small_roi_is_empty() -> None:
    out = r((1, 1), (3, 3)).snap_to_grid((4, 4), "shrink")
    assert out.empty and out == r((4, 4), (4, 4))


def test_snap_to_grid_leaves_unbounded_axes() -> None:
    assert Roi((1, None), (3, None)).snap_to_grid((4, 4)) == Roi((0, None), (4, None))


@pytest.mark.parametrize(
    ("voxel_size", "mode", "message"),
    [((0, 1), "grow", "positive integers"), ((1,), "grow", "positive integers"), ((1, 1), "up", "mode must be")],
)
def test_snap_to_grid_errors(voxel_size: tuple[int, ...], mode: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Roi((0, 0), (4, 4)).snap_to_grid(voxel_size, mode)  # type: ignore[arg-type]


# -- slices / squeeze -------------------------------------------------------------------------------
def test_to_slices() -> None:
    assert Roi((1, 2), (3, 4)).to_slices() == (slice(1, 4), slice(2, 6))
    assert Roi((None, 3), (None, 2)).to_slices() == (slice(None), slice(3, 5))
    data = list(range(10))
    assert data[Roi((2,), (3,)).to_slices()[0]] == [2, 3, 4]


def test_squeeze_drops_one_axis() -> None:
    roi = r((1, 2, 3), (4, 5, 6))
    assert roi.squeeze(0) == r((2, 3), (5, 6))
    assert roi.squeeze(1) == r((1, 3), (4, 6))
    assert roi.squeeze(2) == r((1, 2), (4, 5))
    assert roi.squeeze() == roi.squeeze(0)


# -- laws (hypothesis) --------------------------------------------------------------------------------
DIMS = st.shared(st.integers(1, 3), key="dims")


@st.composite
def rois(draw: st.DrawFn, unbounded: bool = True) -> Roi:
    dims = draw(DIMS)
    offset, shape = [], []
    for _ in range(dims):
        if unbounded and draw(st.integers(0, 7)) == 0:
            offset.append(None)
            shape.append(None)
        else:
            offset.append(draw(st.integers(-60, 60)))
            shape.append(draw(st.integers(0, 50)))
    return Roi(offset, shape)


@st.composite
def coordinates(draw: st.DrawFn, low: int, high: int) -> Coordinate:
    return Coordinate(draw(st.lists(st.integers(low, high), min_size=draw(DIMS), max_size=draw(DIMS))))


FAST = settings(max_examples=60, deadline=None)


@FAST
@given(rois(), rois())
def test_intersect_is_commutative_and_contained_in_both(a: Roi, b: Roi) -> None:
    i = a.intersect(b)
    if not i.empty:
        assert i == b.intersect(a)
    else:
        assert b.intersect(a).empty
    assert a.contains(i) and b.contains(i)


@FAST
@given(rois(), rois(), coordinates(-60, 60))
def test_a_point_is_in_the_intersection_iff_it_is_in_both(a: Roi, b: Roi, p: Coordinate) -> None:
    assert a.intersect(b).contains(p) == (a.contains(p) and b.contains(p))


@FAST
@given(rois(), rois())
def test_union_contains_both_and_is_commutative(a: Roi, b: Roi) -> None:
    u = a.union(b)
    assert u.contains(a) and u.contains(b)
    if not a.empty and not b.empty:
        assert u == b.union(a)


@FAST
@given(rois(), coordinates(1, 12))
def test_snap_grow_contains_the_roi_and_lies_on_the_grid(roi: Roi, vs: Coordinate) -> None:
    grown = roi.snap_to_grid(vs, "grow")
    assert grown.contains(roi)
    assert grown.snap_to_grid(vs, "shrink") == grown  # on the grid: no mode changes it
    for b, e, v in zip(grown.begin, grown.end, vs):
        assert b is None or (b % v == 0 and e % v == 0)  # type: ignore[operator]
    # the smallest such roi: shrinking any bound by one voxel would lose part of the roi
    for b, ob, e, oe, v in zip(grown.begin, roi.begin, grown.end, roi.end, vs):
        if b is not None and ob != oe:
            assert b > ob - v and e < oe + v  # type: ignore[operator]


@FAST
@given(rois(), coordinates(1, 12))
def test_snap_shrink_is_contained_and_lies_on_the_grid(roi: Roi, vs: Coordinate) -> None:
    shrunk = roi.snap_to_grid(vs, "shrink")
    assert roi.contains(shrunk)
    assert shrunk.snap_to_grid(vs, "grow") == shrunk


@FAST
@given(rois(), coordinates(1, 12))
def test_snap_closest_moves_each_bound_by_at_most_half_a_voxel(roi: Roi, vs: Coordinate) -> None:
    snapped = roi.snap_to_grid(vs, "closest")
    assert snapped.snap_to_grid(vs) == snapped
    for b, ob, e, oe, v in zip(snapped.begin, roi.begin, snapped.end, roi.end, vs):
        if b is not None:
            assert abs(b - ob) * 2 <= v  # type: ignore[operator]
            assert e >= b  # type: ignore[operator]
            if e > b:  # type: ignore[operator]
                assert abs(e - oe) * 2 <= v  # type: ignore[operator]


@FAST
@given(rois(), coordinates(-100, 100))
def test_shift_round_trip(roi: Roi, by: Coordinate) -> None:
    assert roi.shift(by).shift(-by) == roi
    assert (roi + by) - by == roi
    assert roi.shift(by).shape == roi.shape


@FAST
@given(rois(), coordinates(0, 30), coordinates(0, 30))
def test_grow_then_negative_grow_round_trip(roi: Roi, neg: Coordinate, pos: Coordinate) -> None:
    grown = roi.grow(neg, pos)
    assert grown.contains(roi)
    assert grown.grow(-neg, -pos) == roi
