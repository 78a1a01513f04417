"""gunpowder 1.4.4's batch and request vocabulary, written the way gunpowder users write it.

Each expected value is worked out by hand from gunpowder's (and funlib.geometry's) documented
behaviour; the comments show the arithmetic.
"""

from __future__ import annotations

import numpy as np
import pytest

import flowgraph as fg

RAW, LABELS, MASK = fg.ArrayKey("RAW"), fg.ArrayKey("LABELS"), fg.ArrayKey("MASK")
POINTS = fg.GraphKey("POINTS")


def ramp_source(key: fg.ArrayKey, shape: tuple[int, ...], voxel_size: tuple[int, ...]) -> fg.ArraySource:
    """A source at the origin whose voxel values count up in C order."""
    data = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    roi = fg.Roi((0,) * len(shape), tuple(s * v for s, v in zip(shape, voxel_size)))
    return fg.ArraySource(key, fg.Array(data, fg.ArraySpec(roi=roi, voxel_size=voxel_size)))


# -- Coordinate ------------------------------------------------------------------------------------
def test_coordinate_is_a_tuple_with_element_wise_arithmetic() -> None:
    voxel_size = fg.Coordinate((40, 4, 4))
    shape = fg.Coordinate(20, 64, 64)
    assert isinstance(shape, tuple) and len(shape) == 3
    assert shape * voxel_size == (800, 256, 256)
    assert (shape * voxel_size) / voxel_size == shape
    assert shape + shape == (40, 128, 128)  # two Coordinates: element-wise, not concatenated
    assert (2,) + shape == (2, 20, 64, 64)  # a tuple on the left: concatenated, e.g. (channels,) + shape
    assert np.zeros((2,) + shape).shape == (2, 20, 64, 64)
    assert shape[1:] + shape[1:] == (64, 64, 64, 64)  # a slice is a plain tuple, as in funlib


def test_coordinate_truncates_floats_like_funlib() -> None:
    assert fg.Coordinate(2.9, -2.9, 3.0) == (2, -2, 3)
    assert fg.Coordinate(np.array([10.5, 4.2])) == (10, 4)
    assert fg.Coordinate(10, 20) * 0.75 == (7, 15)  # 7.5 -> 7


def test_coordinate_helpers() -> None:
    shape = fg.Coordinate(84, 268, 268)
    assert shape.is_multiple_of(fg.Coordinate(4, 4, 4)) and not shape.is_multiple_of((8, 8, 8))
    assert shape.floor_division((40, 100, 100)) == (2, 2, 2)
    assert shape.ceil_division((40, 100, 100)) == (3, 3, 3)
    assert shape.round_division((40, 100, 100)) == (2, 3, 3)  # 2.1, 2.68, 2.68
    assert fg.Coordinate(6, 10).round_division(4) == (1, 2)  # 1.5 and 2.5: a half rounds down
    assert shape.squeeze(0) == (268, 268) and shape.squeeze(2) == (84, 268)


# -- Roi -------------------------------------------------------------------------------------------
def test_roi_size_and_empty_are_properties() -> None:
    roi = fg.Roi((0, 0, 0), (10, 20, 30))
    assert roi.size == 6000
    assert fg.Roi((0, 0), (None, 4)).size is None
    disjoint = roi.intersect(fg.Roi((100, 0, 0), (10, 10, 10)))
    # gunpowder code tests them without calling: a method would always be true here
    if roi.empty:
        pytest.fail("a 10 x 20 x 30 ROI is not empty")
    if not disjoint.empty:
        pytest.fail("the intersection of disjoint ROIs is empty")


def test_roi_getters_and_copy() -> None:
    roi = fg.Roi((4, 8), (16, 32))
    assert roi.get_begin() == roi.get_offset() == (4, 8)
    assert roi.get_end() == (20, 40) and roi.get_shape() == (16, 32)
    assert roi.get_center() == (12, 24)
    copy = roi.copy()
    assert copy == roi and copy is not roi


def test_roi_contains_float_points() -> None:
    roi = fg.Roi((0, 0, 0), (40, 40, 40))
    node_location = np.array([39.5, 0.25, 12.0])
    assert roi.contains(node_location)
    assert roi.contains((0.0, 0.0, 39.99))
    assert not roi.contains((39.5, -0.25, 12.0))
    assert not roi.contains(np.array([40.0, 1.0, 1.0]))


# -- specs and requests ----------------------------------------------------------------------------
def test_array_specs_and_graph_specs_are_live_dicts() -> None:
    request = fg.BatchRequest()
    request.add(RAW, (40, 40), voxel_size=(4, 4))
    request.add(LABELS, (20, 20), voxel_size=(4, 4))
    request.add(POINTS, (20, 20))
    assert set(request.array_specs) == {RAW, LABELS} and set(request.graph_specs) == {POINTS}
    assert len(request.array_specs) == 2 and RAW in request.array_specs and POINTS not in request.array_specs
    assert dict(request.array_specs.items()) == {RAW: request[RAW], LABELS: request[LABELS]}
    # writing through them changes the request, as in gunpowder
    for key, spec in request.array_specs.items():
        spec.interpolatable = key == RAW
    assert request[RAW].interpolatable is True and request[LABELS].interpolatable is False
    request.array_specs[MASK] = fg.ArraySpec(roi=fg.Roi((0, 0), (8, 8)))
    del request.graph_specs[POINTS]
    assert MASK in request and POINTS not in request
    with pytest.raises(KeyError):
        request.array_specs[POINTS]  # type: ignore[index]
    with pytest.raises(fg.ConfigError, match="expected a ArrayKey"):
        request.array_specs[POINTS] = fg.GraphSpec()  # type: ignore[index,assignment]
    assert request.array_specs() == {RAW: request[RAW], LABELS: request[LABELS], MASK: request[MASK]}


def test_total_common_roi_and_lcm_voxel_size() -> None:
    request = fg.BatchRequest()
    request[RAW] = fg.ArraySpec(roi=fg.Roi((0, 0), (40, 40)), voxel_size=(4, 6))
    request[LABELS] = fg.ArraySpec(roi=fg.Roi((20, -8), (40, 16)), voxel_size=(8, 4))
    request[POINTS] = fg.GraphSpec(roi=fg.Roi((10, 0), (10, 100)))
    assert request.get_total_roi() == fg.Roi((0, -8), (60, 108))  # [0:60, -8:100]
    # [20:20, 0:8]: the second axis overlaps, the first does not
    assert request.get_common_roi() == fg.Roi((20, 0), (0, 8))
    assert request.get_common_roi().empty
    assert request.get_lcm_voxel_size() == (8, 12)
    assert request.get_lcm_voxel_size([RAW]) == (4, 6)
    assert fg.BatchRequest().get_total_roi() is None and fg.BatchRequest().get_lcm_voxel_size() is None
    assert fg.BatchRequest().get_common_roi() is None


def test_a_pipeline_spec_has_the_same_helpers() -> None:
    source = (ramp_source(RAW, (10, 10), (2, 2)), ramp_source(LABELS, (10, 10), (3, 3))) + fg.MergeProvider()
    with fg.build(source) as p:
        spec = p.spec
        assert isinstance(spec, fg.ProviderSpec)
        assert spec.get_total_roi() == fg.Roi((0, 0), (30, 30))
        assert spec.get_common_roi() == fg.Roi((0, 0), (20, 20))
        assert spec.get_lcm_voxel_size() == (6, 6)
        assert set(spec.array_specs) == {RAW, LABELS} and not spec.graph_specs


def test_array_spec_update_with_merges_in_place() -> None:
    spec = fg.ArraySpec(roi=fg.Roi((0, 0), (8, 8)), voxel_size=(2, 2), interpolatable=True)
    result = spec.update_with(fg.ArraySpec(roi=fg.Roi((4, -4), (8, 8)), dtype=np.uint8))
    assert result is None  # in place, as in gunpowder
    assert spec.roi == fg.Roi((0, -4), (12, 12))  # the union
    assert spec.voxel_size == (2, 2) and spec.interpolatable is True and spec.dtype == np.uint8
    spec.update_with(fg.ArraySpec(voxel_size=(4, 4), interpolatable=False))
    assert spec.voxel_size == (4, 4) and spec.interpolatable is False and spec.roi == fg.Roi((0, -4), (12, 12))
    empty = fg.ArraySpec()
    empty.update_with(fg.ArraySpec(roi=fg.Roi((1,), (2,))))
    assert empty.roi == fg.Roi((1,), (2,))


def test_graph_spec_update_with_and_dtype() -> None:
    spec = fg.GraphSpec(roi=fg.Roi((0, 0), (4, 4)))
    spec.update_with(fg.GraphSpec(roi=fg.Roi((2, 2), (4, 4)), directed=True))
    assert spec.roi == fg.Roi((0, 0), (6, 6)) and spec.directed is True
    spec.update_with(fg.GraphSpec())
    assert spec.directed is True and spec.roi == fg.Roi((0, 0), (6, 6))
    assert fg.GraphSpec().dtype == np.float64  # flowgraph keeps point locations in float64
    assert fg.GraphSpec(dtype=np.float32).dtype == np.float32
    with pytest.raises(fg.ConfigError, match="must be a float dtype"):
        fg.GraphSpec(dtype=np.int64)


def test_array_copy_owns_its_data() -> None:
    array = fg.Array(np.zeros((2, 2), np.float32), fg.ArraySpec(roi=fg.Roi((0, 0), (4, 4)), voxel_size=(2, 2)))
    copy = array.copy()
    copy.data[:] = 1
    copy.spec.interpolatable = False
    assert array.data.sum() == 0 and array.spec.interpolatable is None
    assert copy.spec.roi == array.spec.roi and copy.data.dtype == np.float32


# -- keys --------------------------------------------------------------------------------------------
def test_keys_are_registered_in_array_keys_and_graph_keys() -> None:
    fg.ArrayKey("VOCABULARY_TEST_AFFS")
    fg.GraphKey("VOCABULARY_TEST_SYNAPSES")
    affs, synapses = fg.ArrayKeys.VOCABULARY_TEST_AFFS, fg.GraphKeys.VOCABULARY_TEST_SYNAPSES
    assert affs == fg.ArrayKey("VOCABULARY_TEST_AFFS") and isinstance(affs, fg.ArrayKey)
    assert synapses == fg.GraphKey("VOCABULARY_TEST_SYNAPSES") and isinstance(synapses, fg.GraphKey)
    assert not hasattr(fg.GraphKeys, "VOCABULARY_TEST_AFFS") and not hasattr(fg.ArrayKeys, "VOCABULARY_TEST_SYNAPSES")
    assert fg.ArrayKeys.VOCABULARY_TEST_AFFS.identifier == "VOCABULARY_TEST_AFFS"


# -- errors ------------------------------------------------------------------------------------------
def test_a_request_for_a_key_not_provided_is_a_pipeline_request_error() -> None:
    request = fg.BatchRequest()
    request.add(LABELS, (4, 4))
    pipeline = ramp_source(RAW, (4, 4), (1, 1)) + fg.Normalize(RAW)
    with fg.build(pipeline) as p:
        with pytest.raises(fg.PipelineRequestError, match="LABELS is not provided"):
            p.request_batch(request)
        with pytest.raises(fg.BatchRequestError, match="LABELS is not provided"):
            p.request_batch(request)
        try:
            p.request_batch(request)
        except fg.PipelineRequestError as e:  # the except clause of gunpowder code
            assert isinstance(e, fg.RequestError)


def test_a_request_outside_the_data_and_a_broken_batch_are_request_errors() -> None:
    request = fg.BatchRequest()
    request[RAW] = fg.ArraySpec(roi=fg.Roi((8, 8), (4, 4)))
    with fg.build(ramp_source(RAW, (4, 4), (1, 1))) as p, pytest.raises(fg.PipelineRequestError, match="outside"):
        p.request_batch(request)
    for error in (fg.UnsatisfiableRequestError, fg.BatchContractError, fg.WorkerError, fg.NonFiniteError):
        assert issubclass(error, fg.PipelineRequestError) and issubclass(error, fg.BatchRequestError)


def test_a_setup_failure_is_a_pipeline_setup_error() -> None:
    pipeline = ramp_source(RAW, (4, 4), (1, 1)) + fg.Normalize(LABELS)
    with pytest.raises(fg.PipelineSetupError, match="needs LABELS"), fg.build(pipeline):
        pass
    assert issubclass(fg.SetupError, fg.PipelineSetupError)
    assert not issubclass(fg.SetupError, fg.PipelineRequestError)
    assert issubclass(fg.PipelineTeardownError, fg.FlowgraphError)


# -- request.add centres ROIs as gunpowder does ----------------------------------------------------------
def test_a_request_the_size_of_the_source_is_served() -> None:
    request = fg.BatchRequest()
    request.add(RAW, (10, 10))
    with fg.build(ramp_source(RAW, (10, 10), (1, 1))) as p:
        batch = p.request_batch(request)
    assert batch[RAW].spec.roi == fg.Roi((0, 0), (10, 10))
    assert batch[RAW].data[0, 0] == 0 and batch[RAW].data[9, 9] == 99


def test_smaller_rois_are_centred_in_the_largest() -> None:
    # gunpowder: each add puts the ROI at the origin, then centres every ROI on the union's centre
    request = fg.BatchRequest()
    request.add(LABELS, (8, 24, 24))
    request.add(RAW, (20, 64, 64))
    request.add(POINTS, (10, 30, 30))
    assert request[RAW].roi == fg.Roi((0, 0, 0), (20, 64, 64))
    assert request[LABELS].roi == fg.Roi((6, 20, 20), (8, 24, 24))  # 10 - 4, 32 - 12
    assert request[POINTS].roi == fg.Roi((5, 17, 17), (10, 30, 30))  # 10 - 5, 32 - 15
    # the same ROIs whatever the order of the add calls
    other = fg.BatchRequest()
    for key, shape in ((POINTS, (10, 30, 30)), (RAW, (20, 64, 64)), (LABELS, (8, 24, 24))):
        other.add(key, shape)
    assert other == request


def test_centring_snaps_array_rois_onto_their_voxel_grid() -> None:
    # 10 and 5 voxels of 4: gunpowder puts LABELS at 40 // 2 - 20 // 2 = 10, off the grid; flowgraph at 8
    request = fg.BatchRequest()
    request.add(RAW, (40, 40), voxel_size=(4, 4))
    request.add(LABELS, (20, 20), voxel_size=(4, 4))
    request.add(POINTS, (20, 20))
    assert request[LABELS].roi == fg.Roi((8, 8), (20, 20))
    assert request[POINTS].roi == fg.Roi((10, 10), (20, 20))  # a graph has no grid: gunpowder's place
    # without voxel_size the pipeline snaps it with the voxel size it provides
    request = fg.BatchRequest()
    request.add(RAW, (40, 40))
    request.add(LABELS, (20, 20))
    assert request[LABELS].roi == fg.Roi((10, 10), (20, 20))
    source = (ramp_source(RAW, (10, 10), (4, 4)), ramp_source(LABELS, (10, 10), (4, 4))) + fg.MergeProvider()
    with fg.build(source) as p:
        batch = p.request_batch(request)
    assert batch[LABELS].spec.roi == fg.Roi((8, 8), (20, 20))
    assert batch[LABELS].data[0, 0] == 22  # voxel (2, 2) of a 10 x 10 ramp
