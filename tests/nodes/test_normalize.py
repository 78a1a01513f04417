"""Normalize: integer intensities scaled into [0, 1] floats; floats pass through."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import flowgraph as fg
from flowgraph.nodes.normalize import default_factor, normalize

RAW = fg.ArrayKey("RAW")
OTHER = fg.ArrayKey("OTHER")


def run(data: np.ndarray, **kwargs: Any) -> tuple[fg.Array, fg.ArraySpec]:
    spec = fg.ArraySpec(roi=fg.Roi((0,) * data.ndim, data.shape), voxel_size=(1,) * data.ndim)
    source = fg.ArraySource(RAW, fg.Array(data, spec))
    request = fg.BatchRequest(random_seed=0)
    request[RAW] = fg.ArraySpec(roi=spec.roi)
    with fg.build(source + fg.Normalize(RAW, **kwargs)) as p:
        return p.request_batch(request)[RAW], p.spec[RAW]  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("dtype", "maximum"),
    [(np.uint8, 255), (np.uint16, 65535), (np.int32, 2**31 - 1), (np.int8, 127)],
)
def test_integers_are_divided_by_their_maximum(dtype: type, maximum: int) -> None:
    values = np.array([0, 1, maximum // 3, maximum // 2, maximum - 1, maximum], dtype=dtype)
    array, spec = run(values)
    assert array.data.dtype == np.float32 and spec.dtype == np.float32 and array.spec.dtype == np.float32
    expected = values.astype(np.float64) / maximum
    np.testing.assert_allclose(array.data, expected, rtol=2e-7, atol=0)
    assert array.data[0] == 0.0
    assert abs(float(array.data[-1]) - 1.0) <= 1.2e-7


def test_uint8_exact_values() -> None:
    array, _ = run(np.array([0, 51, 255], np.uint8))
    np.testing.assert_array_equal(array.data, np.array([0, 51, 255], np.float32) * np.float32(1 / 255))
    assert array.data[1] == pytest.approx(0.2, abs=1e-7)


def test_floats_pass_through_bit_for_bit() -> None:
    values = np.array([-3.5, 0.0, 0.25, 7e10, np.finfo(np.float32).max], np.float32)
    array, _ = run(values)
    assert array.data.dtype == np.float32
    assert array.data.tobytes() == values.tobytes()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused_with_their_count(bad: float) -> None:
    values = np.array([0.5, bad, 0.25, bad, 0.0], np.float32)
    with pytest.raises(fg.NonFiniteError, match=r"Normalize\(RAW\): RAW holds 2 non-finite value"):
        run(values)


def test_large_finite_values_whose_sum_overflows_are_accepted() -> None:
    values = np.full(8, np.finfo(np.float32).max, np.float32)  # the sum is inf, every value finite
    array, _ = run(values)
    assert array.data.tobytes() == values.tobytes()


def test_complex_data_is_refused_at_setup() -> None:
    with pytest.raises(fg.SetupError, match=r"complex .* imaginary"):
        run(np.array([1 + 2j, 0.5], np.complex64))


def test_float64_input_becomes_float32() -> None:
    values = np.array([0.1, 0.5, 2.0])
    array, _ = run(values)
    np.testing.assert_array_equal(array.data, values.astype(np.float32))


def test_explicit_factor() -> None:
    array, _ = run(np.array([0, 10, 200], np.uint8), factor=0.5)
    np.testing.assert_array_equal(array.data, np.array([0, 5, 100], np.float32))
    array, _ = run(np.array([1.0, -2.0], np.float32), factor=4)
    np.testing.assert_array_equal(array.data, np.array([4.0, -8.0], np.float32))


def test_float64_dtype() -> None:
    values = np.array([0, 1, 65535], np.uint16)
    array, spec = run(values, dtype=np.float64)
    assert array.data.dtype == np.float64 and spec.dtype == np.float64
    np.testing.assert_allclose(array.data, values / 65535.0, rtol=1e-15)


def test_roi_and_channels_are_kept() -> None:
    data = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    spec = fg.ArraySpec(roi=fg.Roi((10, 20), (6, 4)), voxel_size=(2, 1))
    request = fg.BatchRequest(random_seed=0)
    request[RAW] = fg.ArraySpec(roi=fg.Roi((12, 21), (4, 2)))
    with fg.build(fg.ArraySource(RAW, fg.Array(data, spec)) + fg.Normalize(RAW)) as p:
        array = p.request_batch(request)[RAW]
    assert array.spec.roi == fg.Roi((12, 21), (4, 2)) and array.spec.voxel_size == (2, 1)
    np.testing.assert_allclose(array.data, data[:, 1:3, 1:3] / 255.0, rtol=2e-7)


def test_upstream_data_is_not_modified() -> None:
    data = np.array([10, 20], np.float32)
    original = data.copy()
    out = normalize(data, 0.5, np.dtype(np.float32))
    np.testing.assert_array_equal(data, original)
    np.testing.assert_array_equal(out, [5.0, 10.0])
    assert not np.shares_memory(out, data)


def test_default_factor() -> None:
    assert default_factor(np.dtype(np.uint8)) == 1 / 255
    assert default_factor(np.dtype(np.uint16)) == 1 / 65535
    assert default_factor(np.dtype(np.int16)) == 1 / 32767
    assert default_factor(np.dtype(np.float32)) == 1.0
    assert default_factor(np.dtype(np.bool_)) == 1.0


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, "int64", bool])
def test_non_float_dtype_is_a_config_error(dtype: Any) -> None:
    with pytest.raises(fg.ConfigError, match=r"Normalize: dtype must be a float dtype \(float32 or float64\)"):
        fg.Normalize(RAW, dtype=dtype)


def test_bad_arguments() -> None:
    with pytest.raises(fg.ConfigError, match="Normalize: array must be an ArrayKey"):
        fg.Normalize("RAW")  # type: ignore[arg-type]
    with pytest.raises(fg.ConfigError, match="Normalize: factor must be a finite number"):
        fg.Normalize(RAW, factor=float("inf"))


def test_missing_array_is_a_setup_error() -> None:
    spec = fg.ArraySpec(roi=fg.Roi((0,), (2,)), voxel_size=(1,))
    source = fg.ArraySource(OTHER, fg.Array(np.zeros(2, np.uint8), spec))
    with (
        pytest.raises(fg.SetupError, match=r"Normalize\(RAW\): needs RAW, but upstream provides only OTHER"),
        fg.build(source + fg.Normalize(RAW)),
    ):
        pass  # pragma: no cover
