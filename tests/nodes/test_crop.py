"""Crop: the offered ROI shrinks (by a ROI or by fractions); data inside is untouched."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from contract_cases import coordinate_volume

import flowgraph as fg

RAW = fg.ArrayKey("RAW")
POINTS = fg.GraphKey("POINTS")

# a 10 x 8 coordinate image at world offset (0, 6), voxel size (2, 3): world [0:20, 6:30]
DATA = coordinate_volume((10, 8))
VOXEL = (2, 3)
DATA_ROI = fg.Roi((0, 6), (20, 24))


def source() -> fg.ArraySource:
    return fg.ArraySource(RAW, fg.Array(DATA, fg.ArraySpec(roi=DATA_ROI, voxel_size=VOXEL)))


def offered(crop: fg.Crop) -> fg.Roi:
    with fg.build(source() + crop) as p:
        return p.spec[RAW].roi


def request(roi: fg.Roi) -> fg.BatchRequest:
    r = fg.BatchRequest(random_seed=0)
    r[RAW] = fg.ArraySpec(roi=roi)
    return r


def test_roi_is_intersected_with_the_data() -> None:
    assert offered(fg.Crop(RAW, fg.Roi((4, 12), (10, 9)))) == fg.Roi((4, 12), (10, 9))
    assert offered(fg.Crop(RAW, fg.Roi((-100, 12), (110, 1000)))) == fg.Roi((0, 12), (10, 18))


def test_roi_off_the_grid_shrinks_onto_it() -> None:
    # [3:13, 5:15] -> inside the data [3:13, 6:15] -> on the grid [4:12, 6:15]
    assert offered(fg.Crop(RAW, fg.Roi((3, 5), (10, 10)))) == fg.Roi((4, 6), (8, 9))


def test_data_inside_is_exact_and_outside_is_refused() -> None:
    with fg.build(source() + fg.Crop(RAW, fg.Roi((4, 12), (10, 9)))) as p:
        batch = p.request_batch(request(fg.Roi((6, 15), (4, 6))))
        np.testing.assert_array_equal(batch[RAW].data, DATA[3:5, 3:5])
        with pytest.raises(fg.RequestError, match=r"outside the provided ROI \[4:14, 12:21\]"):
            p.request_batch(request(fg.Roi((2, 15), (4, 6))))


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        # shape (20, 24): cut int(20 * 0.5) = 10 below on axis 0
        ({"fraction_negative": (0.5, 0.0)}, fg.Roi((10, 6), (10, 24))),
        # cut int(24 * 0.25) = 6 above on axis 1
        ({"fraction_positive": (0.0, 0.25)}, fg.Roi((0, 6), (20, 18))),
        ({"fraction_negative": (0.1, 0.25), "fraction_positive": (0.2, 0.25)}, fg.Roi((2, 12), (14, 12))),
        # cuts off the voxel grid shrink onto it: int(20 * 0.15) = 3 -> begin 4; int(24 * 0.2) = 4 -> end 26 -> 24
        ({"fraction_negative": (0.15, 0.0), "fraction_positive": (0.0, 0.2)}, fg.Roi((4, 6), (16, 18))),
    ],
)
def test_fractions(kwargs: dict[str, Any], expected: fg.Roi) -> None:
    assert offered(fg.Crop(RAW, **kwargs)) == expected


def test_graph_crop() -> None:
    roi = fg.Roi((0, 0), (10, 10))
    graph = fg.Graph([1, 2], [[1.0, 1.0], [8.0, 8.0]], fg.GraphSpec(roi=roi))

    class Points(fg.BatchProvider):
        def setup(self) -> None:
            self.provides(POINTS, graph.spec.copy())

        def provide(self, request: fg.BatchRequest) -> fg.Batch:
            return fg.Batch({POINTS: graph.crop(request[POINTS].roi)})

    r = fg.BatchRequest(random_seed=0)
    r[POINTS] = fg.GraphSpec(roi=fg.Roi((5, 0), (5, 10)))
    with fg.build(Points() + fg.Crop(POINTS, fraction_negative=(0.5, 0.0))) as p:
        assert p.spec[POINTS].roi == fg.Roi((5, 0), (5, 10))
        out = p.request_batch(r)[POINTS]
    np.testing.assert_array_equal(out.ids, [2])


def test_nothing_left_is_a_setup_error() -> None:
    pipeline = source() + fg.Crop(RAW, fg.Roi((100, 100), (10, 10)))
    with (
        pytest.raises(fg.SetupError, match=r"nothing of RAW's ROI \[0:20, 6:30\] remains after cropping"),
        fg.build(pipeline),
    ):
        pass  # pragma: no cover


def test_wrong_number_of_fractions_is_a_setup_error() -> None:
    pipeline = source() + fg.Crop(RAW, fraction_negative=(0.5,))
    with pytest.raises(fg.SetupError, match="fractions need 2 entries for RAW"), fg.build(pipeline):
        pass  # pragma: no cover


def test_missing_key_is_a_setup_error() -> None:
    pipeline = source() + fg.Crop(POINTS, fraction_negative=(0.5, 0.0))
    with (
        pytest.raises(fg.SetupError, match=r"Crop\(POINTS\): needs POINTS with a bounded ROI upstream"),
        fg.build(pipeline),
    ):
        pass  # pragma: no cover


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "give roi, fraction_negative or fraction_positive"),
        ({"roi": fg.Roi((0, 0), (1, 1)), "fraction_negative": (0.1, 0.1)}, "give either roi or fractions, not both"),
        ({"roi": [0, 0]}, "roi must be a Roi"),
        ({"fraction_negative": (1.0, 0.0)}, r"fraction_negative must hold fractions in \[0, 1\)"),
        ({"fraction_positive": (-0.1, 0.0)}, r"fraction_positive must hold fractions in \[0, 1\)"),
        ({"fraction_positive": ("half", 0.0)}, "fraction_positive must be a sequence of fractions"),
        ({"fraction_positive": 0.5}, "fraction_positive must be a sequence of fractions"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(fg.ConfigError, match=match):
        fg.Crop(RAW, **kwargs)
    with pytest.raises(fg.ConfigError, match="key must be an ArrayKey or GraphKey"):
        fg.Crop("RAW", fraction_negative=(0.5, 0.0))  # type: ignore[arg-type]
