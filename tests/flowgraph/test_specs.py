"""Keys and specs: value objects, validation, update/copy semantics, SpecMap helpers."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from flowgraph.coordinate import Coordinate
from flowgraph.errors import ConfigError
from flowgraph.keys import ArrayKey, GraphKey
from flowgraph.roi import Roi
from flowgraph.specs import ArraySpec, GraphSpec, ProviderSpec, check_key_spec, default_interpolatable

RAW, LABELS, POINTS = ArrayKey("RAW"), ArrayKey("LABELS"), GraphKey("POINTS")


# -- keys ----------------------------------------------------------------------------------------------
def test_keys_are_equal_by_kind_and_name() -> None:
    assert ArrayKey("RAW") == ArrayKey("RAW") and hash(ArrayKey("RAW")) == hash(ArrayKey("RAW"))
    assert ArrayKey("RAW") != ArrayKey("LABELS")
    assert ArrayKey("X") != GraphKey("X") and hash(ArrayKey("X")) != hash(GraphKey("X"))
    assert ArrayKey("X") != "X"
    assert len({ArrayKey("A"), ArrayKey("A"), GraphKey("A")}) == 2
    assert RAW.name == "RAW" and repr(RAW) == "RAW" and str(POINTS) == "POINTS"


def test_keys_sort_and_pickle() -> None:
    assert sorted([GraphKey("A"), ArrayKey("B"), ArrayKey("A")]) == [ArrayKey("A"), ArrayKey("B"), GraphKey("A")]
    assert pickle.loads(pickle.dumps(RAW)) == RAW
    assert type(pickle.loads(pickle.dumps(POINTS))) is GraphKey


@pytest.mark.parametrize("name", ["", None, 3])
def test_bad_key_names(name: object) -> None:
    with pytest.raises(ConfigError, match="ArrayKey: name must be a non-empty string"):
        ArrayKey(name)  # type: ignore[arg-type]


# -- ArraySpec / GraphSpec ---------------------------------------------------------------------------
def test_array_spec_normalizes_its_fields() -> None:
    spec = ArraySpec(roi=Roi((0,), (4,)), voxel_size=(2,), dtype="uint8", interpolatable=np.bool_(True))
    assert isinstance(spec.voxel_size, Coordinate) and spec.voxel_size == (2,)
    assert spec.dtype == np.dtype(np.uint8)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"roi": (0, 4)}, "roi must be a Roi or None"),
        ({"voxel_size": (0, 1)}, "voxel_size must be positive"),
        ({"voxel_size": (None, 1)}, "voxel_size must be positive"),
        ({"dtype": "not a dtype"}, "is not a numpy dtype"),
        ({"interpolatable": "yes"}, "interpolatable must be a bool"),
    ],
)
def test_array_spec_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ArraySpec(**kwargs)  # type: ignore[arg-type]


def test_graph_spec_checks_its_roi() -> None:
    with pytest.raises(ConfigError, match="GraphSpec: roi must be a Roi"):
        GraphSpec(roi=[0, 1])  # type: ignore[arg-type]


class _OffsetBox:
    """A box of another library (funlib.geometry's Roi has offset, begin and shape)."""

    offset, shape = (4, None), (8, None)


class _BeginBox:
    begin, shape = (-2, 0), (2, 6)


def test_specs_convert_another_library_s_roi() -> None:
    spec = ArraySpec(_OffsetBox())  # type: ignore[arg-type]
    assert type(spec.roi) is Roi and spec.roi == Roi((4, None), (8, None))
    assert GraphSpec(roi=_BeginBox()).roi == Roi((-2, 0), (2, 6))  # type: ignore[arg-type]
    assert spec.with_roi(_BeginBox()).roi == Roi((-2, 0), (2, 6))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="roi must be a Roi or None, got ndarray"):
        ArraySpec(roi=np.zeros((2, 2)))  # type: ignore[arg-type]


def test_update_takes_the_fields_the_other_spec_sets() -> None:
    base = ArraySpec(roi=Roi((0,), (4,)), voxel_size=(2,), interpolatable=True, dtype=np.uint8)
    new = base.update(ArraySpec(dtype=np.float32))
    assert new == ArraySpec(roi=Roi((0,), (4,)), voxel_size=(2,), interpolatable=True, dtype=np.float32)
    assert base.dtype == np.uint8
    assert base.update(ArraySpec(interpolatable=False)).interpolatable is False
    assert base.update(ArraySpec(nonspatial=True)).nonspatial is True
    g = GraphSpec(roi=Roi((0,), (4,)), directed=False)
    assert g.update(GraphSpec(directed=True)) == GraphSpec(roi=Roi((0,), (4,)), directed=True)
    assert g.update(GraphSpec()) == g


def test_copy_is_independent() -> None:
    spec = ArraySpec(roi=Roi((0,), (4,)), voxel_size=(2,))
    copy = spec.copy()
    copy.roi = Roi((2,), (2,))
    assert spec.roi == Roi((0,), (4,))


def test_with_roi_returns_a_new_spec_and_keeps_the_other_fields() -> None:
    spec = ArraySpec(roi=Roi((0, 0), (4, 4)), voxel_size=(2, 2), interpolatable=False, dtype=np.uint64)
    moved = spec.with_roi(Roi((2, 2), (4, 4)))
    assert type(moved) is ArraySpec and moved is not spec
    assert moved == ArraySpec(roi=Roi((2, 2), (4, 4)), voxel_size=(2, 2), interpolatable=False, dtype=np.uint64)
    assert spec.roi == Roi((0, 0), (4, 4))
    assert spec.with_roi(None).roi is None
    graph = GraphSpec(roi=Roi((0,), (4,)), directed=True)
    grown = graph.with_roi(Roi((-1,), (6,)))
    assert grown == GraphSpec(roi=Roi((-1,), (6,)), directed=True) and graph.roi == Roi((0,), (4,))
    with pytest.raises(ConfigError, match="roi must be a Roi or None"):
        spec.with_roi((0, 0))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="GraphSpec: roi must be a Roi"):
        graph.with_roi("everywhere")  # type: ignore[arg-type]


def test_replace_validates_like_the_constructor() -> None:
    spec = ArraySpec(roi=Roi((0,), (4,)), voxel_size=(2,))
    assert spec.replace(voxel_size=(1,), dtype="float32") == ArraySpec(
        roi=Roi((0,), (4,)), voxel_size=Coordinate((1,)), dtype=np.float32
    )
    assert spec.voxel_size == Coordinate((2,))
    with pytest.raises(ConfigError, match="voxel_size must be positive"):
        spec.replace(voxel_size=(0,))
    assert GraphSpec(directed=False).replace(directed=True).directed is True


def test_copies_share_no_mutable_state() -> None:
    spec = ArraySpec(roi=Roi((0,), (4,)), voxel_size=(2,))
    for new in (spec.copy(), spec.with_roi(spec.roi)):
        new.dtype = np.dtype(np.int8)
        assert spec.dtype is None and new.__dict__ is not spec.__dict__


def test_default_interpolatable() -> None:
    for dtype in (np.float32, np.float64, np.uint8, np.uint16):
        assert default_interpolatable(np.dtype(dtype))
    for dtype in (np.uint32, np.uint64, np.int64, np.bool_):
        assert not default_interpolatable(np.dtype(dtype))


# -- SpecMap / ProviderSpec -------------------------------------------------------------------------------
def test_check_key_spec() -> None:
    check_key_spec("X", RAW, ArraySpec())
    check_key_spec("X", POINTS, GraphSpec())
    with pytest.raises(ConfigError, match="X: RAW is an ArrayKey and needs an ArraySpec, got GraphSpec"):
        check_key_spec("X", RAW, GraphSpec())
    with pytest.raises(ConfigError, match="X: POINTS is a GraphKey and needs a GraphSpec"):
        check_key_spec("X", POINTS, ArraySpec())
    with pytest.raises(ConfigError, match="X: keys must be ArrayKey or GraphKey, got 'RAW'"):
        check_key_spec("X", "RAW", ArraySpec())


def test_provider_spec_mapping_and_helpers() -> None:
    spec = ProviderSpec(
        {
            RAW: ArraySpec(roi=Roi((0, 0), (40, 40)), voxel_size=(4, 2)),
            LABELS: ArraySpec(roi=Roi((-8, 10), (8, 50)), voxel_size=(2, 6)),
            POINTS: GraphSpec(roi=Roi((100, 0), (1, 1))),
        }
    )
    assert len(spec) == 3 and list(spec) == [RAW, LABELS, POINTS]
    assert set(spec.array_specs()) == {RAW, LABELS} and set(spec.graph_specs()) == {POINTS}
    assert spec.total_roi() == Roi.from_begin_end((-8, 0), (101, 60))
    assert spec.common_voxel_size() == (4, 6)
    with pytest.raises(KeyError, match="MISSING"):
        spec[ArrayKey("MISSING")]
    with pytest.raises(ConfigError, match="ProviderSpec: RAW is an ArrayKey"):
        spec[RAW] = GraphSpec()
    del spec[POINTS]
    assert POINTS not in spec
    assert ProviderSpec().total_roi() is None and ProviderSpec().common_voxel_size() is None


def test_nonspatial_arrays_are_ignored_by_total_roi_and_voxel_size() -> None:
    spec = ProviderSpec({RAW: ArraySpec(roi=Roi((0,), (4,)), voxel_size=(2,)), LABELS: ArraySpec(nonspatial=True)})
    assert spec.total_roi() == Roi((0,), (4,)) and spec.common_voxel_size() == (2,)


def test_spec_map_copy_is_deep_for_specs_and_compares_by_value() -> None:
    spec = ProviderSpec({RAW: ArraySpec(roi=Roi((0,), (4,)))})
    copy = spec.copy()
    assert copy == spec and copy is not spec
    copy[RAW].roi = Roi((1,), (1,))
    assert spec[RAW].roi == Roi((0,), (4,))
    assert copy != spec
    assert "RAW" in repr(spec)
