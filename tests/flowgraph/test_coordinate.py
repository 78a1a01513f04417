"""Coordinate: integer vectors with element-wise arithmetic, None = unbounded, floor division."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowgraph.coordinate import Coordinate
from flowgraph.errors import ConfigError


def test_construction_from_values_and_from_an_iterable() -> None:
    assert Coordinate(1, -2, 3) == (1, -2, 3)
    assert Coordinate((1, -2, 3)) == Coordinate([1, -2, 3]) == Coordinate(np.array([1, -2, 3]))
    assert Coordinate(1.0, np.int64(2)) == (1, 2)
    assert all(type(v) is int for v in Coordinate(np.int32(4), 5.0))
    assert Coordinate(None, 3) == (None, 3)
    assert Coordinate() == ()
    assert Coordinate(1, 2).dims == 2


def test_real_numbers_are_truncated_towards_zero_as_funlib_does() -> None:
    assert Coordinate(1.5, -1.5, 2.999, -0.5) == (1, -1, 2, 0)
    assert Coordinate(np.array([3.7, -3.7])) == (3, -3)
    assert all(type(v) is int for v in Coordinate(np.float32(4.9), 5.0))


@pytest.mark.parametrize("bad", ["a", True, np.bool_(True), float("nan"), float("inf"), 1j])
def test_non_numbers_are_rejected(bad: object) -> None:
    with pytest.raises(ConfigError, match="entries must be numbers or None"):
        Coordinate(1, bad)


def test_a_string_is_not_taken_as_an_iterable_of_entries() -> None:
    with pytest.raises(ConfigError, match="entries must be numbers"):
        Coordinate("12")


def test_element_wise_arithmetic() -> None:
    a, b = Coordinate(1, -2, 30), Coordinate(4, 5, -6)
    assert a + b == (5, 3, 24)
    assert a - b == (-3, -7, 36)
    assert a * b == (4, -10, -180)
    assert -a == (-1, 2, -30)
    assert abs(a) == (1, 2, 30)
    assert isinstance(a + b, Coordinate) and isinstance(-a, Coordinate) and isinstance(abs(a), Coordinate)


def test_arithmetic_with_ints_and_tuples_on_either_side() -> None:
    c = Coordinate(3, -4)
    assert c + 1 == (4, -3) and 1 + c == (4, -3)
    assert c - 1 == (2, -5) and 1 - c == (-2, 5)
    assert c * 2 == (6, -8) and 2 * c == (6, -8)
    assert c + (1, 2) == (4, -2)
    assert (10, 10) - c == (7, 14) and isinstance((10, 10) - c, Coordinate)
    assert c + np.int64(1) == (4, -3)


def test_a_tuple_on_the_left_of_plus_concatenates_like_any_tuple() -> None:
    c = Coordinate(3, -4)
    assert (1, 2) + c == (1, 2, 3, -4) and type((1, 2) + c) is tuple
    assert (3,) + c == (3, 3, -4)  # e.g. (channels,) + voxel shape
    assert () + c == (3, -4)


def test_float_operands_act_on_every_entry_and_are_truncated() -> None:
    c = Coordinate(10, -10)
    assert c * 0.5 == (5, -5) and 0.5 * c == (5, -5)
    assert c * 0.25 == (2, -2)  # 2.5 and -2.5 truncated towards zero, as funlib does
    assert c + 0.9 == (10, -9)
    assert Coordinate(10, 7) / 2.5 == (4, 2) and Coordinate(10, 7) // 2.5 == (4, 2)
    assert isinstance(c * 0.5, Coordinate) and all(type(v) is int for v in c * 0.5)


def test_floor_division_of_negatives_lands_in_the_right_voxel() -> None:
    c = Coordinate(-7, -8, -1, 0, 7)
    assert c // 4 == (-2, -2, -1, 0, 1)
    assert c / 4 == (-2, -2, -1, 0, 1)  # `/` floors as well: world coordinates stay integers
    assert c % 4 == (1, 0, 3, 0, 3)
    # the invariant that makes voxel lookup work: (c // v) * v + c % v == c
    assert (c // 4) * 4 + c % 4 == c
    assert Coordinate(-7, 9) // (2, -4) == (-4, -3)


def test_none_propagates_through_every_operation() -> None:
    c = Coordinate(None, 6)
    assert c + 1 == (None, 7)
    assert c + (5, None) == (None, None)
    assert Coordinate(5, None) + c == (None, None)
    assert c - (1, 2) == (None, 4)
    assert c * 2 == (None, 12)
    assert c // 4 == (None, 1)
    assert c % 4 == (None, 2)
    assert -c == (None, -6)
    assert abs(Coordinate(None, -6)) == (None, 6)
    assert c.min((3, 2)) == (None, 2)
    assert c.max((3, 2)) == (None, 6)
    assert not c.is_bounded() and Coordinate(1, 2).is_bounded()


@pytest.mark.parametrize("other", ["a", [1, 2], None, True, {1, 2}, object()])
@pytest.mark.parametrize("op", ["+", "-", "*", "//", "%"])
def test_foreign_operands_give_type_error(op: str, other: object) -> None:
    c = Coordinate(1, 2)
    # (a str or list on the right of `*` answers with its own sequence-repetition TypeError)
    with pytest.raises(TypeError, match=r"unsupported operand|can't multiply sequence"):
        eval(f"c {op} other", {"c": c, "other": other})
    if not isinstance(other, (str, list)):  # str and list raise their own TypeError on the left
        with pytest.raises(TypeError, match="unsupported operand"):
            eval(f"other {op} c", {"c": c, "other": other})


@pytest.mark.parametrize("op", ["__add__", "__sub__", "__mul__", "__floordiv__", "__mod__", "__rsub__", "__radd__"])
def test_dunders_return_not_implemented_for_foreign_types(op: str) -> None:
    c = Coordinate(1, 2)
    for other in ("a", [1, 2], None, True):
        assert getattr(c, op)(other) is NotImplemented
    if op == "__radd__":  # so that `(1, 2) + c` concatenates
        assert c.__radd__((1, 2)) is NotImplemented


def test_a_numpy_array_operand_is_left_to_numpy() -> None:
    # NotImplemented lets numpy's reflected operator take over: an element-wise ndarray result
    out = Coordinate(1, 2) + np.array([10, 20])
    assert isinstance(out, np.ndarray) and out.tolist() == [11, 22]


def test_mismatched_dimensions_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"cannot combine 2-D \(1, 2\) with 3-D"):
        Coordinate(1, 2) + (1, 2, 3)
    with pytest.raises(ConfigError, match="same number of axes"):
        Coordinate(1, 2) * Coordinate(1)


def test_slicing_indexing_and_tuple_semantics() -> None:
    c = Coordinate(1, 2, 3)
    assert c[1:] == (2, 3) and type(c[1:]) is tuple  # a plain tuple, as funlib's slices
    assert c[1:] + c[1:] == (2, 3, 2, 3)
    assert c[0] == 1 and c[-1] == 3
    assert c == (1, 2, 3) and hash(c) == hash((1, 2, 3))
    assert {Coordinate(1, 2): "x"}[(1, 2)] == "x"


def test_min_max_lcm_product() -> None:
    assert Coordinate(1, 8).min((4, 2)) == (1, 2)
    assert Coordinate(1, 8).max(3) == (3, 8)
    assert Coordinate(4, 6, 40).lcm((6, 4, 4)) == (12, 12, 40)
    assert Coordinate(2, 3, 4).product() == 24
    assert Coordinate().product() == 1
    with pytest.raises(ConfigError, match="unbounded; it has no product"):
        Coordinate(None, 2).product()


def test_funlib_helpers() -> None:
    c = Coordinate(80, 12, 6)
    assert c.is_multiple_of((40, 4, 3)) and not c.is_multiple_of((40, 8, 3))
    assert c.is_multiple_of(Coordinate(1, 1, 1))
    assert Coordinate(9, 8, 7, -9).floor_division(4) == (2, 2, 1, -3)
    assert Coordinate(9, 8, 7, -9).ceil_division(4) == (3, 2, 2, -2)
    # round to nearest; an exact half rounds down: 6/4 = 1.5 -> 1, 10/4 = 2.5 -> 2, 7/4 -> 2
    assert Coordinate(5, 6, 7, 10).round_division(4) == (1, 1, 2, 2)
    assert Coordinate(5, 6).round_division(Coordinate(2, 4)) == (2, 1)
    assert Coordinate(1, 2, 3).squeeze() == (2, 3) and Coordinate(1, 2, 3).squeeze(1) == (1, 3)
    assert Coordinate(1, 2, 3).squeeze(-1) == (1, 2) and isinstance(c.squeeze(), Coordinate)
    assert Coordinate(2, 3) ** 2 == (4, 9)
    assert Coordinate(None, 9).ceil_division(4) == (None, 3)


def test_repr_and_str() -> None:
    assert repr(Coordinate(1, -2)) == "Coordinate(1, -2)"
    assert repr(Coordinate(7)) == "Coordinate(7)"
    assert str(Coordinate(1, None)) == "(1, None)"


ints = st.integers(-(10**6), 10**6)


@given(st.lists(ints, min_size=1, max_size=4), st.integers(1, 1000))
def test_floor_division_and_modulo_are_consistent(values: list[int], divisor: int) -> None:
    c = Coordinate(values)
    assert (c // divisor) * divisor + c % divisor == c
    assert all(0 <= r < divisor for r in c % divisor)  # type: ignore[operator]


@given(st.lists(st.tuples(ints, ints), min_size=1, max_size=4))
def test_addition_and_subtraction_invert_each_other(pairs: list[tuple[int, int]]) -> None:
    a = Coordinate(p[0] for p in pairs)
    b = Coordinate(p[1] for p in pairs)
    assert (a + b) - b == a
    assert a + b == b + a
    assert a - b == -(b - a)
