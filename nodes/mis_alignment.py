"""MisAlignment: sections slipped, shifted or rotated against the rest of the stack."""

from __future__ import annotations

import math

import numpy as np

from flowgraph.coordinate import Coordinate
from flowgraph.keys import ArrayKey
from flowgraph.request import BatchRequest
from flowgraph.validate import number, probability

from .spatial import SectionwiseTransform, SmoothTransform, SpatialAugment, finest_voxel_size


def max_angle(displacement: float, height: float, width: float) -> float:
    """The largest angle (radians) that moves no corner of a ``height`` x ``width`` plane more
    than ``displacement`` about its centre: a chord ``2 r sin(a / 2)`` with ``r`` the half diagonal.

    Example:
        >>> round(math.degrees(max_angle(16, 256, 256)), 2)
        5.07
    """
    radius = math.hypot(height, width) / 2
    return 2 * math.asin(min(1.0, displacement / (2 * radius))) if radius > 0 else 0.0


class MisAlignment(SpatialAugment):
    """Misalign sections of every array and graph: a slip (one section) or a translation (every
    section from a random one on), shifted in-plane, or with ``rotate_ratio`` rotated instead.

    As pytorch_connectomics' MisAlignment: the first moved section is drawn from the inner
    sections (never the first or the last); slip and translation are equally likely; a rotation
    turns about the centre of the request by at most the angle that moves its corners
    ``displacement`` voxels. Unlike there, the shift is drawn uniformly per in-plane axis from
    ``[-displacement, displacement]`` voxels (never zero on both), and the request grows by what
    the moved sections read, so no border is filled with zeros.

    Args:
        displacement: the largest in-plane shift, in voxels of the finest requested voxel size.
        rotate_ratio: probability of a rotation instead of a shift.
        p: probability that the node acts on a request.
        displacement_key: see ``displacement`` of :class:`~flowgraph.nodes.spatial.SpatialAugment`
            (named ``displacement_key`` here, since ``displacement`` is pytorch_connectomics').

    Requires: every requested key. Updates: every spatial array and graph (same specs).

    Request: the moved sections are requested where they read (shifted or rotated boxes plus one
    voxel of interpolation support); the other sections as requested.

    Randomness: drawn in ``prepare``: the gate (``p``), rotation or not, the first moved
    section, slip or translation, then the shift or the angle. 2-D data and requests of one
    section pass unchanged (no neighbour to be misaligned against).

    Raises:
        ConfigError: a negative or non-integer ``displacement``, ``rotate_ratio`` or ``p`` outside [0, 1].

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> data = np.arange(4 * 12 * 12, dtype=np.float32).reshape(4, 12, 12)
        >>> spec = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (4, 12, 12)), voxel_size=(1, 1, 1))
        >>> request = fg.BatchRequest(random_seed=3)
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((0, 4, 4), (4, 4, 4)))
        >>> with fg.build(fg.ArraySource(raw, fg.Array(data, spec)) + MisAlignment(2, p=1.0)) as p:
        ...     out = p.request_batch(request)[raw].data
        >>> [int(out[z, 0, 0] - data[z, 4, 4]) for z in range(4)]  # section 2 slipped by (1, -1)
        [0, 0, 11, 0]
    """

    def __init__(
        self,
        displacement: int = 16,
        rotate_ratio: float = 0.0,
        p: float = 0.5,
        displacement_key: ArrayKey | None = None,
    ) -> None:
        name = "MisAlignment"
        self.max_shift = number(name, "displacement", displacement, 0, integer=True)
        self.rotate_ratio = probability(name, "rotate_ratio", rotate_ratio)
        super().__init__(name, p, displacement_key)

    def setup(self) -> None:
        self.announce(self.spatial_specs())

    def draw_params(self, rng: np.random.Generator, request: BatchRequest) -> SectionwiseTransform | None:
        total = request.total_roi()
        assert total is not None  # SpatialAugment asks only for requests with a ROI
        vs = (finest_voxel_size(request) or Coordinate((1,) * total.dims)).ints()
        begin, shape = total.begin.ints(), total.shape.ints()
        sections = shape[0] // vs[0] if total.dims == 3 else 0
        if sections < 2 or self.max_shift == 0:
            return None
        rotate = bool(rng.random() < self.rotate_ratio)
        first = int(rng.integers(1, sections - 1)) if sections > 2 else 1
        slip = bool(rng.random() < 0.5)
        centre = [b + s / 2 for b, s in zip(begin, shape, strict=True)]
        matrix = np.eye(3)
        shift = None
        if rotate:
            limit = max_angle(self.max_shift * min(vs[1], vs[2]), shape[1], shape[2])
            angle = rng.uniform(-limit, limit)
            matrix[1:, 1:] = [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
        else:
            side = 2 * self.max_shift + 1
            k = int(rng.integers(side * side - 1))
            k += k >= side * side // 2  # never (0, 0)
            shift = np.array([[0.0, (self.max_shift - k // side) * vs[1], (self.max_shift - k % side) * vs[2]]])
        moved = SmoothTransform.affine(centre, matrix, section_shifts=shift)
        still = SmoothTransform.affine(centre, np.eye(3))
        z = float(begin[0] + first * vs[0])
        if slip:
            return SectionwiseTransform((z, z + vs[0]), (still, moved, still))
        return SectionwiseTransform((z,), (still, moved))


__all__ = ["MisAlignment", "max_angle"]
