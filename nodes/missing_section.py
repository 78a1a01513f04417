"""MissingSection: whole sections deleted from the stack, as if they had never been imaged."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from flowgraph.array import Array
from flowgraph.coordinate import Coordinate
from flowgraph.keys import ArrayKey
from flowgraph.request import BatchRequest
from flowgraph.roi import Roi
from flowgraph.specs import ArraySpec
from flowgraph.validate import number

from .spatial import SpatialAugment, SpatialTransform


@dataclasses.dataclass(frozen=True)
class SectionDeletion(SpatialTransform):
    """Output section ``j`` (world ``[begin + j size, ...)`` along axis 0) shows input section
    ``kept[j]`` (world ``[source_begin + kept[j] size, ...)``); the sections left out are gone.

    Example:
        >>> t = SectionDeletion(begin=0, source_begin=-1, size=1, kept=(0, 2, 4))  # 1 and 3 deleted
        >>> t.move_points(np.array([[0.5, 7.0], [1.5, 7.0], [3.5, 7.0]]))  # input sections 1, 2, 4
        array([[nan, nan],
               [1.5, 7. ],
               [2.5, 7. ]])
    """

    begin: int
    source_begin: int
    size: int
    kept: tuple[int, ...]

    def source_z(self, roi: Roi, voxel_size: Coordinate) -> np.ndarray:
        """The world z (axis 0) of the input voxel row shown by each voxel row of ``roi``."""
        vz = voxel_size.ints()[0]
        z = roi.begin.ints()[0] + np.arange(roi.shape.ints()[0] // vz) * vz
        j = np.clip((z - self.begin) // self.size, 0, len(self.kept) - 1)
        return z + self.source_begin + np.asarray(self.kept)[j] * self.size - self.begin - j * self.size

    def plan(self, roi: Roi, voxel_size: Coordinate) -> tuple[Roi, np.ndarray]:
        z = self.source_z(roi, voxel_size)
        first, end = int(z[0]), int(z[-1]) + voxel_size.ints()[0]
        return Roi((first, *roi.begin[1:]), (end - first, *roi.shape[1:])), z

    def apply(self, array: Array, roi: Roi, plan: np.ndarray) -> Array:
        rows = (plan - array.roi.begin.ints()[0]) // array.voxel_size.ints()[0]
        return Array.trusted(np.take(array.data, rows, axis=array.data.ndim - roi.dims), array.spec, roi)

    def move_points(self, locations: np.ndarray) -> np.ndarray:
        out = np.array(locations, dtype=np.float64, copy=True)
        i = np.floor((out[:, 0] - self.source_begin) / self.size).astype(np.int64)
        output_section = np.full(self.kept[-1] + 1, -1)  # per input section; the last one is always kept
        output_section[list(self.kept)] = np.arange(len(self.kept))
        j = output_section[np.clip(i, 0, len(output_section) - 1)]
        j[(i < 0) | (i >= len(output_section))] = -1
        out[:, 0] += (self.begin + j * self.size) - (self.source_begin + i * self.size)
        out[j < 0] = np.nan  # in a deleted section (or outside what was read): dropped
        return out

    def displacement(self, roi: Roi, voxel_size: Coordinate) -> np.ndarray:
        shape = (roi.shape // voxel_size).ints()
        out = np.zeros((roi.dims, *shape), dtype=np.float32)
        rows = self.source_z(roi, voxel_size) - (roi.begin.ints()[0] + np.arange(shape[0]) * voxel_size.ints()[0])
        out[0] = rows.reshape(-1, *(1,) * (roi.dims - 1))
        return out


class MissingSection(SpatialAugment):
    """Delete ``num_sections`` whole sections (along axis 0) from every array and graph.

    The output is the input stack with ``num_sections`` random inner sections left out: the
    node asks upstream for ``num_sections`` more sections (``num_sections // 2`` before the
    request, the rest after) and the sections around each gap meet, as pytorch_connectomics'
    MissingSection does (which pads its input and deletes among the inner sections). Arrays of
    several voxel sizes lose the same world sections (sections of the least common multiple of
    their voxel sizes along axis 0). Points in deleted sections are dropped, others move with
    their section.

    Args:
        num_sections: how many sections to delete.
        p: probability that the node acts on a request.
        displacement: optional ArrayKey to provide the applied map under (see :class:`SpatialAugment`).

    Requires: every requested key. Updates: every spatial array and graph (same specs).
    Request: every key ``num_sections`` sections thicker along axis 0 (less for a key that does
    not span the whole request: only the deleted sections inside its span).
    Randomness: drawn in ``prepare``: the gate (``p``), then which sections are deleted (never
    the first or last one read). 2-D data and requests of one section pass unchanged.

    Raises:
        ConfigError: ``num_sections`` not a positive integer, ``p`` outside [0, 1].

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> spec = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (10, 2, 2)), voxel_size=(1, 1, 1))
        >>> source = fg.ArraySource(raw, fg.Array(np.arange(10.0)[:, None, None] * np.ones((1, 2, 2)), spec))
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((3, 0, 0), (4, 2, 2)))
        >>> with fg.build(source + MissingSection(num_sections=2, p=1.0)) as p:
        ...     p.request_batch(request)[raw].data[:, 0, 0]  # 3..6 asked, 2..7 read, 3 and 4 deleted
        array([2., 5., 6., 7.])
    """

    def __init__(self, num_sections: int = 2, p: float = 0.5, displacement: ArrayKey | None = None) -> None:
        self.num_sections = number("MissingSection", "num_sections", num_sections, 1, integer=True)
        super().__init__("MissingSection", p, displacement)

    def setup(self) -> None:
        spatial = self.spatial_specs()
        sizes = [s.voxel_size.ints()[0] for s in spatial.values() if isinstance(s, ArraySpec) and s.voxel_size]
        self._size = math.lcm(*sizes) if sizes else 1
        self.announce(spatial)

    def draw_params(self, rng: np.random.Generator, request: BatchRequest) -> SectionDeletion | None:
        total = request.total_roi()
        assert total is not None  # SpatialAugment asks only for requests with a ROI
        s, k = self._size, self.num_sections
        begin = total.begin.ints()[0] // s * s
        sections = -(-total.end.ints()[0] // s) - begin // s
        if total.dims < 3 or sections < 2:
            return None
        deleted = rng.choice(np.arange(1, sections + k - 1), k, replace=False)
        kept = tuple(int(i) for i in np.setdiff1d(np.arange(sections + k), deleted))
        return SectionDeletion(begin, begin - (k // 2) * s, s, kept)


__all__ = ["MissingSection", "SectionDeletion"]
