"""RandomWarp: warp an array by a random displacement field and provide the field, its inverse and its matrix."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.coordinate import Coordinate
from flowgraph.errors import ConfigError, RequestError, SetupError, UnsatisfiableRequestError
from flowgraph.fields import DisplacementField
from flowgraph.keys import ArrayKey
from flowgraph.request import BatchRequest
from flowgraph.resample import round_back
from flowgraph.rng import derive_seed, generator
from flowgraph.roi import Roi
from flowgraph.specs import ArraySpec
from flowgraph.validate import array_key, number, upstream_array

from .augment import RandomAugment

_NAME = "RandomWarp"
#: the approaches of DisplacementField.generate and their parameters (``transform`` is generate's ``matrix``,
#: renamed because the node's ``matrix`` names the output key)
APPROACHES: dict[str, tuple[str, ...]] = {
    "identity": (),
    "affine": ("transform",),
    "affine_simple": ("scale_x", "scale_y", "rotation", "translation_x", "translation_y", "shear", "apply_centering"),
    "projective": ("transform",),
    "control_points": ("points", "values", "interpolation", "anchor_corners"),
    "edge_stretching": ("edge_mask", "n_perturbation_points", "radius_max", "interpolation"),
    "elastic": ("alpha", "sigma"),
}
#: approaches whose field is affine (a ``matrix`` can be provided); projective gives its 3 x 3 homography
MATRIX_APPROACHES = ("identity", "affine", "affine_simple", "projective")
#: parameters that may be given as a (low, high) range, drawn uniformly per request
RANGED = ("scale_x", "scale_y", "rotation", "translation_x", "translation_y", "shear", "alpha", "sigma", "radius_max")


@dataclasses.dataclass
class Warp:
    """One request's warp: the field on the output grid (voxels), its matrix, how it was found."""

    deltas: np.ndarray  # (D, *shape) float64, voxels of the output grid
    matrix: np.ndarray | None  # (D, D + 1) affine or (3, 3) homography, voxel units of the output grid
    params: dict[str, Any]  # the drawn scalar parameters
    attempts: int  # draws needed to satisfy max_folded (1: the first)
    folded: float  # the fraction of folded voxels of the kept field


def draw_warp(
    shape: tuple[int, ...],
    approach: str,
    params: dict[str, Any],
    rng: np.random.Generator,
    seed: int,
    path: tuple[int, ...],
    max_folded: float,
    max_attempts: int,
) -> Warp:
    """Draw a field with ``approach`` on ``shape``, redrawing from ``derive_seed(seed, *path, k)`` while it folds.

    Attempt 1 draws from ``rng``; attempt ``k > 1`` from the generator of ``derive_seed(seed, *path, k)``.
    Scalar parameters given as ``(low, high)`` are drawn uniformly (sorted by name) before the field.

    Raises:
        UnsatisfiableRequestError: ``max_attempts`` fields all folded more than ``max_folded``.
    """
    best = 1.0
    for attempt in range(1, max_attempts + 1):
        if attempt > 1:
            rng = generator(derive_seed(seed, *path, attempt))
        drawn = {
            ("matrix" if name == "transform" else name): (
                float(rng.uniform(value[0], value[1])) if name in RANGED and isinstance(value, tuple) else value
            )
            for name, value in sorted(params.items())
        }
        field = DisplacementField.generate(shape, approach, rng, None, **drawn)
        folded = float(field.folds().mean()) if field.deltas.size else 0.0
        if folded <= max_folded:
            return Warp(field.deltas, affine_matrix(field, approach, drawn), drawn, attempt, folded)
        best = min(best, folded)
    raise UnsatisfiableRequestError(
        f"{_NAME}: {max_attempts} fields drawn with approach {approach!r} all had more than {max_folded:.2%} folded "
        f"voxels (best {best:.2%}); raise max_folded or max_attempts, or draw gentler fields."
    )


def affine_matrix(field: DisplacementField, approach: str, params: dict[str, Any]) -> np.ndarray | None:
    """The matrix of an affine field, ``(D, D + 1)`` in array axis order (``p`` reads ``A p + t``);
    a projective field's 3 x 3 homography; None for the other approaches.

    Read off the field at the origin and one voxel along each axis (exact up to rounding).
    """
    if approach not in MATRIX_APPROACHES:
        return None
    if approach == "projective":
        return np.asarray(params["matrix"], dtype=np.float64)
    dims = field.ndim
    flat = field.deltas.reshape(dims, -1).astype(np.float64)
    strides = [int(np.prod(field.shape[k + 1 :])) for k in range(dims)]
    t = flat[:, 0].copy()
    a = np.eye(dims)
    for k in range(dims):
        if field.shape[k] > 1:
            a[:, k] += flat[:, strides[k]] - t  # one voxel along axis k
        elif approach == "affine":
            a[:, k] = np.asarray(params["matrix"], dtype=np.float64)[:dims, k]
    return np.column_stack([a, t])


def read_box(coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The voxel box ``[lo, hi)`` that linear or nearest reads at ``coords`` (``(D, ...)``) touch."""
    flat = coords.reshape(coords.shape[0], -1)
    lo = np.floor(flat.min(axis=1)).astype(np.int64)
    hi = np.floor(flat.max(axis=1)).astype(np.int64) + 2
    return lo, hi


def warp_array(data: np.ndarray, coords: np.ndarray, interpolatable: bool) -> np.ndarray:
    """Read ``data`` (spatial axes last, channels first) at ``coords`` (``(D, *shape)`` voxels of ``data``).

    Images: linear interpolation (integers rounded and clipped, as :meth:`DisplacementField.warp`);
    labels: the nearest voxel, values copied (exact on uint64). Reads beyond the data repeat its
    border (the caller asks for the context, so they only happen at rounding distance).
    """
    dims = coords.shape[0]
    spatial = data.shape[data.ndim - dims :]
    lead = data.shape[: data.ndim - dims]
    flat_in = data.reshape((-1, *spatial))
    out_shape = coords.shape[1:]
    if not interpolatable:
        nearest = np.floor(coords + 0.5).astype(np.intp)
        for d, n in enumerate(spatial):
            np.clip(nearest[d], 0, n - 1, out=nearest[d])
        index = np.ravel_multi_index(tuple(nearest), spatial)
        return flat_in.reshape(flat_in.shape[0], -1)[:, index].reshape((*lead, *out_shape))
    kind = data.dtype.kind
    work = data.dtype if kind == "f" else np.dtype(np.float64)
    c = coords.astype(work, copy=False) if work == np.float32 else coords
    out = np.empty((flat_in.shape[0], *out_shape), dtype=work)
    for i in range(flat_in.shape[0]):
        ndimage.map_coordinates(flat_in[i].astype(work, copy=False), c, output=out[i], order=1, mode="nearest")
    out = out.reshape((*lead, *out_shape))
    return round_back(out, data.dtype) if kind in "biu" else out  # rounded, clipped without wrapping


class RandomWarp(RandomAugment):
    """Warp ``source`` by a random displacement field; provide the result, the field, its inverse and matrix.

    Per request a :class:`flowgraph.fields.DisplacementField` is drawn with
    ``DisplacementField.generate(shape, approach, rng=..., **approach_params)`` on the grid of the
    requested ROI (``target``'s, else ``field``'s, else ``inverse``'s: those requested must share
    one ROI), and ``target`` at voxel ``p`` is ``source`` read at ``p + field[p]`` (linear for
    images, nearest for labels, exactly as :meth:`DisplacementField.warp` and ``warp_labels``).
    Scalar parameters given as a ``(low, high)`` pair (``scale_x``, ``scale_y``, ``rotation``,
    ``translation_x``, ``translation_y``, ``shear``, ``alpha``, ``sigma``, ``radius_max``) are
    drawn uniformly per request; the generator's parameters are in voxels of the grid (translations,
    ``alpha``, ``sigma``, ``radius_max``). ``edge_mask`` (``edge_stretching``) is an array of the
    requested shape. The ``matrix`` of ``affine`` and ``projective`` is passed as ``transform``
    (``matrix`` names the output key).

    Emitted fields follow the rule of every geometric node: ``(D, *shape)`` float32 on the
    grid and ROI of the output, in **world units**, such that reading the input at
    ``p + field[p]`` (world positions) gives the output at ``p``. Divide by the voxel size to get
    a ``DisplacementField`` (voxels): ``DisplacementField(field / voxel_size[:, None, None])``.

    Args:
        source: the array to warp (spatial, any dtype; channels lead).
        target: where the warped array goes; ``target == source`` warps in place.
        field: ArrayKey for the drawn field (provided when requested).
        inverse: optional ArrayKey for the field's inverse (``DisplacementField.inverse``):
            reading ``target`` at ``p + inverse[p]`` gives ``source`` back where the warp kept it.
            With ``compose_with`` it is composed (see there).
        matrix: optional ArrayKey for the matrix of an affine approach (``identity``, ``affine``,
            ``affine_simple``: ``(D, D + 1)``, array axis order, voxel units of the output grid
            with the origin at its first voxel, output voxel ``p`` reads ``A p + t``; DLIR's six
            parameters in 2-D) or ``projective``'s 3 x 3 homography; a nonspatial float32 array.
        approach: the generator (``identity``, ``affine``, ``affine_simple``, ``projective``,
            ``control_points``, ``edge_stretching``, ``elastic``).
        compose_with: optional ArrayKey of a field already in the batch (world units, this
            convention, the voxel size of ``source``), e.g. atlalign's ``mov2reg`` that
            registers ``source``. ``inverse`` then becomes ``compose_with`` after the inverse,
            atlalign's ``art2reg = art2mov ∘ mov2reg``: reading ``target`` at
            ``p + inverse[p]`` gives ``source`` warped by ``compose_with``. Needs ``inverse``.
        max_folded: the largest fraction of voxels with a non-positive Jacobian determinant
            accepted; a field folding more is redrawn.
        max_attempts: how many fields are drawn at most before giving up.
        p: probability of warping; otherwise the field is zero (target = source, the matrix
            the identity).
        **approach_params: the approach's parameters (see ``DisplacementField.generate``).

    Requires: ``source`` (and ``compose_with``) at the voxel size of ``source``.

    Provides: ``target`` (``source``'s spec), ``field``, ``inverse`` (float32, ``(D, *shape)``,
    the output ROI) and ``matrix`` (nonspatial float32) when requested. Updates ``source``
    instead of providing ``target`` when they are the same key.

    Request: ``source`` over the bounding box of ``p + field[p]`` for the output voxels ``p``
    (snapped onto the voxel grid, one voxel more on the upper side for interpolation), and
    ``compose_with`` at the output ROI. Add ``Pad`` upstream to read beyond the data (atlalign
    reads zeros there).

    Randomness: the gate, then the ranged parameters and the field from ``self.rng(request)``;
    a redraw ``k`` (``k >= 2``) uses ``derive_seed(seed, position, k)``.

    Raises:
        ConfigError: bad keys, approach, parameters, ``max_folded``, ``max_attempts`` or ``p``.
        SetupError: ``source`` or ``compose_with`` missing upstream, or at another voxel size.
        RequestError: the requested fields and target differ in ROI, or only ``matrix`` is
            requested.
        UnsatisfiableRequestError: ``max_attempts`` fields all folded too much.

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> img, out, field, matrix = (fg.ArrayKey(n) for n in ("IMG", "OUT", "FIELD", "MATRIX"))
        >>> data = np.add.outer(np.arange(16.0), np.zeros(16)).astype(np.float32)  # value = row
        >>> source = fg.ArraySource(img, fg.Array(data, fg.ArraySpec(roi=fg.Roi((0, 0), (32, 32)), voxel_size=(2, 2))))
        >>> warp = fg.RandomWarp(img, out, field, matrix=matrix, approach="affine_simple", translation_y=(1.0, 3.0))
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[out] = fg.ArraySpec(roi=fg.Roi((8, 8), (8, 8)))
        >>> request[field] = fg.ArraySpec(roi=fg.Roi((8, 8), (8, 8)))
        >>> request[matrix] = fg.ArraySpec(nonspatial=True)
        >>> with fg.build(source + warp) as p:
        ...     batch = p.request_batch(request)
        >>> shift = float(batch[matrix].data[0, 2])  # rows, in voxels
        >>> bool(1 <= shift <= 3), np.allclose(batch[out].data[:, 0], 4 + np.arange(4) + shift, atol=1e-5)
        (True, True)
        >>> np.allclose(batch[field].data[0], 2 * shift)  # world units: 2 per voxel
        True
    """

    def __init__(
        self,
        source: ArrayKey,
        target: ArrayKey,
        field: ArrayKey,
        inverse: ArrayKey | None = None,
        matrix: ArrayKey | None = None,
        approach: str = "elastic",
        compose_with: ArrayKey | None = None,
        max_folded: float = 0.0,
        max_attempts: int = 100,
        p: float = 1.0,
        **approach_params: Any,
    ) -> None:
        super().__init__(_NAME, p)
        self.source = array_key(_NAME, "source", source)
        self.target = array_key(_NAME, "target", target)
        self.field = array_key(_NAME, "field", field)
        self.inverse = array_key(_NAME, "inverse", inverse, optional=True)
        self.matrix = array_key(_NAME, "matrix", matrix, optional=True)
        self.compose_with = array_key(_NAME, "compose_with", compose_with, optional=True)
        outputs = [k for k in (self.target, self.field, self.inverse, self.matrix) if k is not None]
        if (self.target != self.source and self.source in outputs) or len(set(outputs)) != len(outputs):
            raise ConfigError(
                f"{_NAME}: target, field, inverse and matrix must be different keys (and differ from source, "
                f"except target), got {outputs}."
            )
        if approach not in APPROACHES:
            raise ConfigError(f"{_NAME}: approach must be one of {sorted(APPROACHES)}, got {approach!r}.")
        self.approach = approach
        unknown = sorted(set(approach_params) - set(APPROACHES[approach]))
        if unknown:
            raise ConfigError(
                f"{_NAME}: unknown parameter(s) {unknown} for approach {approach!r}; approach_params of "
                f"{approach!r}: {list(APPROACHES[approach]) or 'none'}."
            )
        for name, value in approach_params.items():
            if name in RANGED and isinstance(value, tuple):
                if len(value) != 2 or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
                    raise ConfigError(f"{_NAME}: {name} must be a number or a (low, high) pair, got {value!r}.")
                if not value[0] <= value[1]:
                    raise ConfigError(f"{_NAME}: {name} must have low <= high, got {value!r}.")
        self.approach_params = dict(approach_params)
        if self.matrix is not None and approach not in MATRIX_APPROACHES:
            raise ConfigError(
                f"{_NAME}: matrix needs an affine approach ({', '.join(MATRIX_APPROACHES)}), got {approach!r}; "
                "drop matrix."
            )
        if self.compose_with is not None and self.inverse is None:
            raise ConfigError(
                f"{_NAME}: compose_with needs inverse=ArrayKey(...) to receive the composed field; add inverse."
            )
        if self.compose_with is not None and self.compose_with in outputs:
            raise ConfigError(f"{_NAME}: compose_with must be a field already in the batch, not an output.")
        self.max_folded = number(_NAME, "max_folded", max_folded, 0.0, 1.0)
        self.max_attempts = number(_NAME, "max_attempts", max_attempts, 1, integer=True)

    # -- setup -----------------------------------------------------------------------------------
    def setup(self) -> None:
        spec = upstream_array(self.name, self.upstream_spec, self.source)
        if spec.nonspatial or spec.voxel_size is None:
            raise SetupError(f"{self.name}: {self.source} must be a spatial array with a voxel size.")
        self._dims = len(spec.voxel_size)
        if self.compose_with is not None:
            other = upstream_array(self.name, self.upstream_spec, self.compose_with, " (compose_with)")
            if other.voxel_size != spec.voxel_size:
                raise SetupError(
                    f"{self.name}: compose_with {self.compose_with} has voxel size {other.voxel_size}, {self.source} "
                    f"{spec.voxel_size}; resample the field onto the grid of {self.source}."
                )
        if self.target == self.source:
            self.updates(self.source)
        else:
            self.provides(self.target, spec.copy())
        float32 = np.dtype(np.float32)
        field_spec = ArraySpec(roi=spec.roi, voxel_size=spec.voxel_size, interpolatable=True, dtype=float32)
        self.provides(self.field, field_spec)
        if self.inverse is not None:
            self.provides(self.inverse, field_spec.copy())
        if self.matrix is not None:
            self.provides(self.matrix, ArraySpec(nonspatial=True, dtype=np.dtype(np.float32)))

    # -- negotiation -------------------------------------------------------------------------------
    def _warp_roi(self, request: BatchRequest) -> Roi:
        rois = {k: request[k].roi for k in (self.target, self.field, self.inverse) if k is not None and k in request}
        if not rois:
            raise RequestError(
                f"{self.name}: {self.matrix} is requested without {self.target} or {self.field}; request one of them "
                "too (the field is drawn on its grid)."
            )
        first = next(iter(rois.values()))
        if first is None or any(roi != first for roi in rois.values()):
            raise RequestError(
                f"{self.name}: {', '.join(map(str, rois))} must be requested at one ROI (the grid of the field), got "
                f"{ {str(k): str(r) for k, r in rois.items()} }; request them at the same ROI."
            )
        return first

    def _shape(self, roi: Roi) -> tuple[int, ...]:
        vs = self.spec[self.field].voxel_size
        assert vs is not None
        if not roi.on_grid(vs):
            raise RequestError(f"{self.name}: the warp ROI {roi} is not on the voxel grid {vs}; request whole voxels.")
        return tuple((roi.shape // vs).ints())

    def draw_params(self, rng: np.random.Generator, request: BatchRequest) -> Warp:
        shape = self._shape(self._warp_roi(request))
        assert request.random_seed is not None
        return draw_warp(
            shape,
            self.approach,
            self.approach_params,
            rng,
            request.random_seed,
            (self._position,),
            self.max_folded,
            self.max_attempts,
        )

    def prepare(self, request: BatchRequest) -> tuple[BatchRequest, Any]:
        warp = self._params_for(request, self.rng(request))
        if warp is None:  # closed gate: the identity
            shape = self._shape(self._warp_roi(request))
            field = DisplacementField(np.zeros((len(shape), *shape)))
            warp = Warp(field.deltas, affine_matrix(field, "identity", {}), {}, 0, 0.0)
            if self.approach == "projective":
                warp.matrix = np.eye(3)
        return self.dependencies(request, warp)

    def dependencies(self, request: BatchRequest, warp: Warp) -> tuple[BatchRequest, Any]:
        roi = self._warp_roi(request)
        vs = self.spec[self.field].voxel_size
        assert vs is not None
        deps = BatchRequest(random_seed=request.random_seed)
        if self.target in request:
            coords = warp.deltas + np.indices(warp.deltas.shape[1:], dtype=np.float64)
            lo, hi = read_box(coords)
            begin = roi.begin + Coordinate(lo.tolist()) * vs
            deps[self.source] = ArraySpec(roi=Roi(begin, Coordinate((hi - lo).tolist()) * vs))
        if self.compose_with is not None and self.inverse in request:
            deps[self.compose_with] = ArraySpec(roi=roi)
        return deps, (warp, roi)

    # -- processing --------------------------------------------------------------------------------
    def augment(self, batch: Batch, request: BatchRequest, state: tuple[Warp, Roi]) -> Batch:
        warp, roi = state
        spec = self.spec[self.field]
        vs = np.asarray(spec.voxel_size.ints() if spec.voxel_size is not None else (), dtype=np.float64)
        scale = vs.reshape((-1,) + (1,) * len(vs))
        out = Batch()
        if self.target in request:
            source = batch[self.source]
            assert source.spec.roi is not None
            assert spec.voxel_size is not None
            offset = ((roi.begin - source.spec.roi.begin) // spec.voxel_size).ints()
            coords = np.indices(warp.deltas.shape[1:], dtype=np.float64)
            coords += warp.deltas
            coords += np.asarray(offset, dtype=np.float64).reshape(scale.shape)
            interpolatable = bool(source.spec.interpolatable)
            data = warp_array(source.data, coords, interpolatable)
            out[self.target] = Array(data, source.spec.with_roi(roi))
        if self.field in request:
            out[self.field] = Array((warp.deltas * scale).astype(np.float32), spec.with_roi(roi))
        if self.inverse is not None and self.inverse in request:
            inverse = DisplacementField(warp.deltas).inverse()
            if self.compose_with is not None:
                existing = DisplacementField(np.asarray(batch[self.compose_with].data, dtype=np.float64) / scale)
                inverse = existing.compose(inverse)
            out[self.inverse] = Array((inverse.deltas * scale).astype(np.float32), spec.with_roi(roi))
        if self.matrix is not None and self.matrix in request:
            assert warp.matrix is not None
            matrix_spec = self.spec[self.matrix]
            out[self.matrix] = Array(warp.matrix.astype(np.float32), matrix_spec.copy())
        return out


__all__: Sequence[str] = ["RandomWarp", "Warp", "affine_matrix", "draw_warp", "read_box", "warp_array"]
