"""SimpleAugment: random mirrors and transposes of the spatial axes, applied as numpy views."""

from __future__ import annotations

import dataclasses
import itertools
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from flowgraph.array import Array
from flowgraph.coordinate import Coordinate
from flowgraph.errors import ConfigError, RequestError, SetupError
from flowgraph.keys import ArrayKey, GraphKey, Key
from flowgraph.request import BatchRequest
from flowgraph.roi import Roi
from flowgraph.validate import number, probability

from .spatial import SpatialAugment, SpatialTransform, voxel_centres

_NAME = "SimpleAugment"


@dataclasses.dataclass(frozen=True)
class Flip(SpatialTransform):
    """One mirror-and-transpose of world space (upstream coordinates ``x`` -> downstream ``z``).

    First every axis ``q`` with ``mirror[q]`` is mirrored, ``y_q = mirror_sum[q] - x_q``; then
    output axis ``d`` shows upstream axis ``perm[d]`` moved by ``shift[d]``:
    ``z_d = y_perm[d] + shift[d]``. ``mirror_sum`` is ``lo + hi`` of the box mirrored onto
    itself (the total requested ROI), so ``[lo, hi)`` maps onto ``[lo, hi)``.
    """

    mirror: tuple[bool, ...]
    perm: tuple[int, ...]
    mirror_sum: tuple[int, ...]
    shift: tuple[int, ...]

    @property
    def dims(self) -> int:
        return len(self.perm)

    def is_identity(self) -> bool:
        return not any(self.mirror) and self.perm == tuple(range(self.dims)) and not any(self.shift)

    def forward_roi(self, roi: Roi) -> Roi:
        """The downstream box showing the upstream box ``roi``."""
        roi_begin, roi_end = roi.begin.ints(), roi.end.ints()  # a bounded box
        begin: list[int] = []
        end: list[int] = []
        for d, q in enumerate(self.perm):
            lo, hi = roi_begin[q], roi_end[q]
            if self.mirror[q]:
                lo, hi = self.mirror_sum[q] - hi, self.mirror_sum[q] - lo
            begin.append(lo + self.shift[d])
            end.append(hi + self.shift[d])
        return Roi.from_begin_end(begin, end)

    def inverse_roi(self, roi: Roi) -> Roi:
        """The upstream box whose image is the downstream box ``roi``."""
        roi_begin, roi_end = roi.begin.ints(), roi.end.ints()  # a bounded box
        begin: list[int] = [0] * self.dims
        end: list[int] = [0] * self.dims
        for d, q in enumerate(self.perm):
            lo, hi = roi_begin[d] - self.shift[d], roi_end[d] - self.shift[d]
            if self.mirror[q]:
                lo, hi = self.mirror_sum[q] - hi, self.mirror_sum[q] - lo
            begin[q], end[q] = lo, hi
        return Roi.from_begin_end(begin, end)

    def forward_points(self, locations: np.ndarray) -> np.ndarray:
        """Downstream world coordinates of the (N, D) upstream ``locations`` (a new array)."""
        y = np.array(locations, dtype=np.float64, copy=True)
        mirrored = np.flatnonzero(self.mirror)
        if mirrored.size:
            y[:, mirrored] = np.asarray(self.mirror_sum, np.float64)[mirrored] - y[:, mirrored]
        z = y[:, list(self.perm)]
        z += np.asarray(self.shift, np.float64)
        return z

    def source_points(self, locations: np.ndarray) -> np.ndarray:
        """Upstream world coordinates of the (N, D) downstream ``locations`` (the inverse map)."""
        z = np.asarray(locations, dtype=np.float64) - np.asarray(self.shift, np.float64)
        y = np.empty_like(z)
        y[:, list(self.perm)] = z
        mirrored = np.flatnonzero(self.mirror)
        if mirrored.size:
            y[:, mirrored] = np.asarray(self.mirror_sum, np.float64)[mirrored] - y[:, mirrored]
        return y

    def apply_data(self, data: np.ndarray) -> np.ndarray:
        """``data`` (channels first, spatial axes last) mirrored and transposed, as a view."""
        return mirror_transpose(data, self.mirror, self.perm)

    # -- as a SpatialTransform: exact on the grid, applied as views ------------------------------------
    def plan(self, roi: Roi, voxel_size: Coordinate) -> tuple[Roi, None]:
        return self.inverse_roi(roi), None

    def graph_roi(self, roi: Roi, voxel_size: Coordinate) -> Roi:
        """The preimage of ``roi``, one unit further above on mirrored axes (points on that face land inside)."""
        return self.inverse_roi(roi).grow(0, tuple(int(m) for m in self.mirror))

    def apply(self, array: Array, roi: Roi, plan: None) -> Array:
        return Array.trusted(self.apply_data(array.data), array.spec, self.forward_roi(array.roi))

    def move_points(self, locations: np.ndarray) -> np.ndarray:
        return self.forward_points(locations)

    def displacement(self, roi: Roi, voxel_size: Coordinate) -> np.ndarray:
        centres = np.stack(
            [np.broadcast_to(c, (roi.shape // voxel_size).ints()) for c in voxel_centres(roi, voxel_size)]
        )
        points = centres.reshape(roi.dims, -1).T
        return (self.source_points(points) - points).T.reshape(centres.shape).astype(np.float32)


def mirror_transpose(data: np.ndarray, mirror: Sequence[bool], perm: Sequence[int]) -> np.ndarray:
    """A view of ``data`` with the spatial axes ``q`` where ``mirror[q]`` reversed, then axis
    ``d`` of the result taken from spatial axis ``perm[d]``; leading (channel) axes stay put.

    Example:
        >>> mirror_transpose(np.arange(6).reshape(2, 3), (True, False), (1, 0))
        array([[3, 0],
               [4, 1],
               [5, 2]])
    """
    lead = data.ndim - len(perm)
    flipped = [lead + q for q, m in enumerate(mirror) if m]
    out = np.flip(data, axis=tuple(flipped)) if flipped else data
    if tuple(perm) != tuple(range(len(perm))):
        out = out.transpose(*range(lead), *(lead + q for q in perm))
    return out


def _towards_zero(a: int, b: int) -> int:
    """``a / b`` rounded towards zero, for a positive ``b``."""
    return a // b if a >= 0 else -((-a) // b)


def make_flip(total: Roi, grid: Sequence[int], mirror: Sequence[bool], perm: Sequence[int]) -> Flip:
    """The Flip that mirrors and transposes about the centre of ``total``, kept on ``grid``.

    ``grid`` is per axis the least common multiple of the voxel sizes involved; each upstream axis
    is mirrored about the centre of the window it is read in (its mirror sum ``lo + hi`` floored
    onto the grid) and the transpose shifts are rounded towards zero onto it,
    so that every box on the grid maps to a box on the grid and the shifts of two transposed
    axes are exact opposites: transposing twice is the identity, also when the centre of
    ``total`` is off the grid (as gunpowder's regression test for mismatched voxel multiples
    requires). When ``total`` is on the grid (and a cube along the transposed axes) nothing is
    rounded: ``total`` maps onto itself.
    """
    sums = [b + e for b, e in zip(total.begin.ints(), total.end.ints(), strict=True)]
    # z_d = y_q + (c_d - c_q) with c the centre; (c_d - c_q) = (sum_d - sum_q) / 2, rounded towards
    # zero onto the grid (an odd rounding: the shift of q from d is minus the shift of d from q)
    shift = tuple(_towards_zero(sums[d] - sums[q], 2 * grid[d]) * grid[d] for d, q in enumerate(perm))
    # each upstream axis q is mirrored about the centre of the window it is read in (the
    # transposed window of axis d), so that the read window maps onto itself, as in gunpowder
    sums_read = [0] * len(perm)
    for d, q in enumerate(perm):
        sums_read[q] = sums[d] - 2 * shift[d]
    mirror_sum = tuple((s // g) * g if m else 0 for s, g, m in zip(sums_read, grid, mirror, strict=True))
    return Flip(tuple(bool(m) for m in mirror), tuple(perm), mirror_sum, shift)


def _axes(param: str, value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ConfigError(f"{_NAME}: {param} must be a sequence of spatial axis indices, got {value!r}.")
    axes = tuple(number(_NAME, param, a, 0, integer=True) for a in value)
    if len(set(axes)) != len(axes):
        raise ConfigError(f"{_NAME}: {param} must not repeat an axis, got {tuple(value)!r}.")
    return axes


def _mirror_probs(value: Any) -> float | tuple[float, ...] | None:
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return probability(_NAME, "mirror_probs", value)
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ConfigError(f"{_NAME}: mirror_probs must be a probability or one per spatial axis, got {value!r}.")
    return tuple(probability(_NAME, "mirror_probs", v) for v in value)


def _transpose_probs(value: Any) -> tuple[float, ...] | dict[tuple[int, ...], float] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        out: dict[tuple[int, ...], float] = {}
        for perm, weight in value.items():
            if (
                not isinstance(perm, tuple)
                or sorted(perm) != list(range(len(perm)))
                or any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in perm)
            ):
                raise ConfigError(
                    f"{_NAME}: transpose_probs keys must be permutations of the spatial axes such as (0, 2, 1), "
                    f"got {perm!r}."
                )
            out[tuple(int(a) for a in perm)] = number(_NAME, "transpose_probs", weight, 0.0)
        if len({len(k) for k in out}) > 1:
            raise ConfigError(
                f"{_NAME}: transpose_probs permutations have different lengths; give one entry per spatial axis."
            )
        if not out or sum(out.values()) <= 0:
            raise ConfigError(f"{_NAME}: transpose_probs gives no permutation a positive weight.")
        return out
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ConfigError(
            f"{_NAME}: transpose_probs must be one probability per spatial axis or a dict permutation -> weight, "
            f"got {value!r}."
        )
    return tuple(probability(_NAME, "transpose_probs", v) for v in value)


class SimpleAugment(SpatialAugment):
    """Randomly mirror and transpose the spatial axes of every array and graph in the batch.

    Mirrors and transposes are exact: arrays become numpy views (``np.flip``/``transpose``),
    never resampled; graph points move with the image content.

    Args:
        mirror_only: spatial axes that may be mirrored (default: all).
        transpose_only: spatial axes that may be permuted among themselves (default: all).
            Axes of different voxel size cannot be transposed; for anisotropic EM at
            ``(40, 4, 4)`` use ``transpose_only=(1, 2)``.
        mirror_probs: probability of mirroring, one per spatial axis or one for all
            (default 0.5).
        transpose_probs: ``None`` (every permutation of ``transpose_only`` equally likely);
            one probability per spatial axis that the axis moves (each permutation of
            ``transpose_only`` is weighted by the product of ``p`` for moved and ``1 - p`` for
            fixed axes); or a dict ``{permutation: weight}``, e.g. ``{(0, 1, 2): 0.5,
            (0, 2, 1): 0.5}`` (permutations moving axes outside ``transpose_only`` are dropped).
        p: probability that the node does anything for a request (``p=0`` is the identity).
        displacement: optional ArrayKey under which to provide the applied flip: ``(D, *shape)``
            float32 on the grid of its requested ROI, in world units; the output at voxel centre
            ``x`` shows the input at ``x + displacement[:, x]`` (see :class:`SpatialAugment`).
        spatial_dims: mirror and transpose only the last ``spatial_dims`` spatial axes (default:
            all), as ElasticAugment's ``spatial_dims``: ``2`` augments 3-D stacks section by
            section in-plane (the same as ``mirror_only=transpose_only=(1, 2)``), e.g. for 2-D
            training on one-section requests. Not in gunpowder 1.4.

    Requires: every requested key; all spatial arrays and graphs need the same number of axes.

    Updates: every spatial array and graph (same specs; content mirrored/transposed).

    Provides: ``displacement`` if given (float32, at the finest voxel size of the arrays).

    Request: mirror and transpose happen about the centre of the total requested ROI. Each
    key is requested upstream at the box whose mirrored/transposed image is the requested
    box (with anisotropic shapes, the transposed box). Graphs are requested one world unit
    further on the upper side of mirrored axes so that points exactly on the upper face,
    which land on the lower face of the requested ROI, are kept.

    Randomness: drawn in ``prepare``: whether the node acts (``p``), then per axis whether it is
    mirrored, then the permutation; all from this node's generator.

    Raises:
        ConfigError: bad axes or probabilities.
        SetupError: axes out of range, probabilities of the wrong length, or a possible
            transpose mixes axes of different voxel size.
        RequestError: a spatial key is requested without a ROI.

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> source = fg.ArraySource(raw, fg.Array(np.arange(4.0).reshape(2, 2),
        ...                         fg.ArraySpec(roi=fg.Roi((0, 0), (2, 2)), voxel_size=(1, 1))))
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((0, 0), (2, 2)))
        >>> node = fg.SimpleAugment(mirror_probs=(1.0, 0.0), transpose_only=())
        >>> with fg.build(source + node) as p:
        ...     p.request_batch(request)[raw].data
        array([[2., 3.],
               [0., 1.]])
    """

    def __init__(
        self,
        mirror_only: Sequence[int] | None = None,
        transpose_only: Sequence[int] | None = None,
        mirror_probs: float | Sequence[float] | None = None,
        transpose_probs: Sequence[float] | Mapping[tuple[int, ...], float] | None = None,
        p: float = 1.0,
        displacement: ArrayKey | None = None,
        spatial_dims: int | None = None,
    ) -> None:
        self.spatial_dims = (
            None if spatial_dims is None else number(_NAME, "spatial_dims", spatial_dims, 1, integer=True)
        )
        self.mirror_only = _axes("mirror_only", mirror_only)
        self.transpose_only = _axes("transpose_only", transpose_only)
        self.mirror_probs = _mirror_probs(mirror_probs)
        self.transpose_probs = _transpose_probs(transpose_probs)
        super().__init__(_NAME, p, displacement)

    # -- setup ---------------------------------------------------------------------------------
    def setup(self) -> None:
        spatial: dict[Key, Any] = self.spatial_specs()
        if not spatial:
            raise SetupError(f"{self.name}: upstream provides no spatial array or graph to mirror; add a source first.")
        dims_of = {key: spec.roi.dims for key, spec in spatial.items()}
        dims = next(iter(dims_of.values()))
        if any(d != dims for d in dims_of.values()):
            listing = ", ".join(f"{k}: {d}-D" for k, d in dims_of.items())
            raise SetupError(
                f"{self.name}: all spatial keys need the same number of axes, got {listing}; split the pipeline."
            )
        self._dims = dims
        for param, axes in (("mirror_only", self.mirror_only), ("transpose_only", self.transpose_only)):
            if axes is not None and any(a >= dims for a in axes):
                raise SetupError(f"{self.name}: {param}={axes} names an axis >= {dims}, the number of spatial axes.")
        if self.spatial_dims is not None and self.spatial_dims > dims:
            raise SetupError(
                f"{self.name}: spatial_dims={self.spatial_dims} exceeds the {dims} spatial axes of the data."
            )
        first = 0 if self.spatial_dims is None else dims - self.spatial_dims  # axes before it stay put
        mirror_axes = {a for a in (range(dims) if self.mirror_only is None else self.mirror_only) if a >= first}
        if isinstance(self.mirror_probs, tuple) and len(self.mirror_probs) != dims:
            raise SetupError(
                f"{self.name}: mirror_probs has {len(self.mirror_probs)} entries for {dims} spatial axes; "
                "give one per axis."
            )
        probs = (
            self.mirror_probs
            if isinstance(self.mirror_probs, tuple)
            else ((0.5 if self.mirror_probs is None else self.mirror_probs),) * dims
        )
        self._mirror_p = np.asarray([probs[d] if d in mirror_axes else 0.0 for d in range(dims)])
        transposed = range(dims) if self.transpose_only is None else sorted(self.transpose_only)
        self._transpose_dims = tuple(a for a in transposed if a >= first)
        self._perms, self._weights = self._permutations(dims)
        self._check_voxel_sizes(spatial)
        self.announce(spatial)

    def _permutations(self, dims: int) -> tuple[list[tuple[int, ...]] | None, np.ndarray | None]:
        """The possible permutations and their probabilities (``None``: uniform over transpose_only)."""
        tp = self.transpose_probs
        if tp is None:
            return None, None
        movable = self._transpose_dims
        perms: list[tuple[int, ...]] = []
        weights: list[float] = []
        if isinstance(tp, dict):
            for perm, w in tp.items():
                if len(perm) != dims:
                    raise SetupError(
                        f"{self.name}: transpose_probs permutation {perm} has {len(perm)} axes, expected {dims}."
                    )
                if all(perm[d] == d for d in range(dims) if d not in movable) and w > 0:
                    perms.append(perm)
                    weights.append(w)
        else:
            if len(tp) != dims:
                raise SetupError(
                    f"{self.name}: transpose_probs has {len(tp)} entries for {dims} spatial axes; give one per axis."
                )
            for order in itertools.permutations(movable):
                moved = list(range(dims))
                for d, q in zip(movable, order, strict=True):
                    moved[d] = q
                w = float(np.prod([tp[d] if moved[d] != d else 1.0 - tp[d] for d in movable]))
                if w > 0:
                    perms.append(tuple(moved))
                    weights.append(w)
        if not perms:
            raise SetupError(
                f"{self.name}: transpose_probs leaves no permutation of transpose_only={movable} with a positive "
                "weight; give some allowed permutation a weight > 0."
            )
        total = float(sum(weights))
        return perms, np.asarray(weights) / total

    def _check_voxel_sizes(self, spatial: dict[Key, Any]) -> None:
        if self._perms is None:
            movable = self._transpose_dims
            pairs = {(a, b) for a in movable for b in movable if a < b}
        else:
            pairs = {(min(d, q), max(d, q)) for perm in self._perms for d, q in enumerate(perm) if d != q}
        for key, spec in spatial.items():
            vs = getattr(spec, "voxel_size", None)
            if vs is None:
                continue
            for a, b in sorted(pairs):
                if vs[a] != vs[b]:
                    raise SetupError(
                        f"{self.name}: transposing axes {a} and {b} would mix voxel sizes {vs[a]} and {vs[b]} of {key} "
                        f"(voxel size {tuple(vs)}); restrict the transpose to axes of equal voxel size, "
                        f"e.g. transpose_only={self._suggestion(spatial)}."
                    )

    def _suggestion(self, spatial: dict[Key, Any]) -> tuple[int, ...]:
        """The largest group of transposable axes with equal voxel sizes in every array."""
        sizes = [spec.voxel_size for spec in spatial.values() if getattr(spec, "voxel_size", None) is not None]
        groups: dict[tuple[int, ...], list[int]] = {}
        for axis in self._transpose_dims:
            groups.setdefault(tuple(vs[axis] for vs in sizes), []).append(axis)
        best = max(groups.values(), key=len)
        return tuple(best) if len(best) > 1 else ()

    # -- per request -------------------------------------------------------------------------------
    def draw(self, rng: np.random.Generator) -> tuple[bool, tuple[bool, ...], tuple[int, ...]]:
        """Whether to act, the mirrored axes and the permutation: the draws of a request, from ``rng``."""
        act = self.gate(rng)
        return (act, *self._draw_flip(rng))

    def _draw_flip(self, rng: np.random.Generator) -> tuple[tuple[bool, ...], tuple[int, ...]]:
        mirror = tuple(bool(m) for m in rng.random(self._dims) < self._mirror_p)
        if self._perms is None:
            order = rng.permutation(len(self._transpose_dims))
            perm = list(range(self._dims))
            for d, i in zip(self._transpose_dims, order, strict=True):
                perm[d] = self._transpose_dims[i]
            return mirror, tuple(perm)
        assert self._weights is not None
        return mirror, self._perms[int(rng.choice(len(self._perms), p=self._weights))]

    def _keys(self, request: BatchRequest) -> list[Key]:
        return [k for k in request if k in self._updated or k == self.displacement]

    def prepare(self, request: BatchRequest) -> tuple[BatchRequest, Any]:
        for key in self._keys(request):
            if request[key].roi is None:
                raise RequestError(
                    f"{self.name}: {key} is requested without a ROI; request a ROI (request.add({key}, shape)) "
                    "so the mirror centre is defined."
                )
        return super().prepare(request)

    def draw_params(self, rng: np.random.Generator, request: BatchRequest) -> Flip | None:
        mirror, perm = self._draw_flip(rng)
        total: Roi | None = None
        grid = Coordinate((1,) * self._dims)
        for key in self._keys(request):
            spec = request[key]
            total = spec.roi if total is None else total.union(spec.roi)  # type: ignore[arg-type]
            if isinstance(key, ArrayKey):
                vs = spec.voxel_size or self.spec[key].voxel_size  # type: ignore[union-attr]
                if vs is not None:
                    grid = grid.lcm(vs)
        assert total is not None
        if not total.is_bounded():
            raise RequestError(f"{self.name}: the requested ROI {total} is unbounded; request bounded ROIs.")
        flip = make_flip(total, grid.ints(), mirror, perm)
        return None if flip.is_identity() else flip

    def graph_read_roi(self, key: Key, roi: Roi, transform: SpatialTransform, grid: Coordinate) -> Roi:
        """The flip's graph box, kept inside the upstream ROI when that holds the un-grown box."""
        assert isinstance(key, GraphKey) and isinstance(transform, Flip)
        grown = transform.graph_roi(roi, grid)
        provided = self.upstream_spec[key].roi
        if provided is not None and provided.contains(transform.inverse_roi(roi)):
            grown = grown.intersect(provided)
        return grown


__all__ = ["Flip", "SimpleAugment", "make_flip", "mirror_transpose"]
