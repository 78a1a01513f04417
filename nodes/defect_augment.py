"""DefectAugment: section-wise imaging defects (missing, low contrast, artifacts, folds)."""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.coordinate import Coordinate
from flowgraph.errors import ConfigError, PipelineError, SetupError
from flowgraph.keys import ArrayKey
from flowgraph.pipeline import Pipeline
from flowgraph.provider import Negotiation
from flowgraph.request import BatchRequest
from flowgraph.rng import derive_seed
from flowgraph.roi import Roi
from flowgraph.specs import ArraySpec
from flowgraph.validate import array_key, number, probability, require_float, upstream_array

from .augment import RandomAugment
from .sections import data_axis, section, section_count, section_index, section_means

_NAME = "DefectAugment"

# section kinds, in the order their probabilities are stacked
MISSING, LOW_CONTRAST, ARTIFACT, DEFORM, INTACT = 0, 1, 2, 3, 4

# voxels whose centre lies closer than this to a fold's line are set to 0
FOLD_HALF_WIDTH = 1.0


def section_kinds(r: np.ndarray, probs: tuple[float, float, float, float]) -> np.ndarray:
    """The kind of each section (MISSING ... DEFORM, or INTACT) for uniform draws ``r`` in [0, 1).

    Section ``i`` is MISSING if ``r[i] < p_missing``, LOW_CONTRAST if it is below
    ``p_missing + p_low_contrast``, and so on; a probability of 0 never selects its kind, a
    probability of 1 always does.

    Example:
        >>> section_kinds(np.array([0.05, 0.15, 0.25, 0.35, 0.95]), (0.1, 0.1, 0.1, 0.1))
        array([0, 1, 2, 3, 4])
    """
    return np.searchsorted(np.cumsum(probs), r, side="right").astype(np.int64)


def low_contrast(sections: np.ndarray, axis: int, contrast_scale: float, out: np.ndarray | None = None) -> np.ndarray:
    """``mean + (s - mean) * contrast_scale`` per section ``s`` along ``axis`` (mean per section).

    The mean accumulates in float64 and is cast to the data's dtype. ``out`` may be
    ``sections`` itself (in place).

    Example:
        >>> low_contrast(np.array([[0.0, 1.0], [0.5, 0.5]], np.float32), 0, 0.5)
        array([[0.25, 0.75],
               [0.5 , 0.5 ]], dtype=float32)
    """
    mean = section_means(sections, axis, fast=False).astype(sections.dtype)
    result = np.subtract(sections, mean, out=out)
    result *= sections.dtype.type(contrast_scale)
    result += mean
    return result


def blend(section: np.ndarray, artifact: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``section * (1 - alpha) + artifact * alpha`` in ``section``'s dtype (alpha-blending).

    Example:
        >>> blend(np.float32([0.0, 1.0]), np.float32([1.0, 1.0]), np.float32([0.5, 0.0]))
        array([0.5, 1. ], dtype=float32)
    """
    one = section.dtype.type(1)
    return (section * (one - alpha) + artifact * alpha).astype(section.dtype, copy=False)


def translate(grown: np.ndarray, start: np.ndarray, shape: tuple[int, ...], order: int = 1) -> np.ndarray:
    """``grown`` sampled at ``index + start`` for every index of an array of ``shape``.

    The same as ``scipy.ndimage.map_coordinates(grown, index + start, order=order)`` for a
    constant offset whose samples lie inside ``grown`` (``0 <= start <= grown.shape - shape``):
    order 1 is a weighted sum of at most ``2**ndim`` shifted views (no coordinate arrays),
    order 0 one view.

    Example:
        >>> translate(np.array([0.0, 10.0, 20.0, 30.0]), np.array([0.5]), (3,))
        array([ 5., 15., 25.])
    """
    limit = np.asarray(grown.shape, np.float64) - np.asarray(shape, np.float64)
    start = np.clip(np.asarray(start, np.float64), 0.0, limit)
    if order == 0:
        base = np.minimum(np.floor(start + 0.5), limit).astype(int)
        return grown[tuple(slice(b, b + n) for b, n in zip(base, shape, strict=True))].copy()
    base = np.floor(start).astype(int)
    frac = start - base
    moving = [d for d in range(len(shape)) if frac[d] > 0]
    out = np.empty(shape, dtype=grown.dtype)
    term = np.empty_like(out) if moving else out
    for k, corner in enumerate(itertools.product((0, 1), repeat=len(moving))):
        step = [0] * len(shape)
        weight = 1.0
        for d, c in zip(moving, corner, strict=True):
            step[d] = c
            weight *= float(frac[d]) if c else 1.0 - float(frac[d])
        view = grown[tuple(slice(b + c, b + c + n) for b, c, n in zip(base, step, shape, strict=True))]
        np.multiply(view, grown.dtype.type(weight), out=out if k == 0 else term)
        if k:
            out += term
    return out


def fold(
    grown: np.ndarray, margin: int, point: np.ndarray, normal: np.ndarray, strength: float, order: int = 1
) -> np.ndarray:
    """A fold through one section: content pushed towards a line (plane), the line set to 0.

    ``grown`` is the section with ``margin`` extra voxels on every side; the result has the
    shape of the section without the margin. The fold is the line (for 2-D sections) through
    ``point`` (section voxel coordinates, without the margin) perpendicular to the unit vector
    ``normal``. Each output voxel ``v`` at signed distance ``d`` from the line shows the input
    at ``v + strength * sign(d) * normal``: the content moves ``strength`` voxels towards the
    line, the strips of width ``strength`` on both sides of it disappear under the fold, and
    voxels within FOLD_HALF_WIDTH of the line become 0. ``margin >= strength`` keeps every
    sample inside ``grown``. Interpolation of ``order`` (1: linear, 0: nearest); the flow is
    one constant translation per side, so this equals ``scipy.ndimage.map_coordinates`` on
    the flow field, at a fraction of its cost.

    Example:
        >>> row = np.arange(10, dtype=np.float32)[None]  # a 1 x 10 section without margin
        >>> fold(row, 0, np.array([0.0, 4.2]), np.array([0.0, 1.0]), 0.0)
        array([[0., 1., 2., 3., 0., 0., 6., 7., 8., 9.]], dtype=float32)
    """
    shape = tuple(s - 2 * margin for s in grown.shape)
    grids = np.meshgrid(*[np.arange(s, dtype=np.float64) for s in shape], indexing="ij", sparse=True)
    distance = np.broadcast_to(sum((g - c) * n for g, c, n in zip(grids, point, normal, strict=True)), shape)
    positive = distance > 0
    normal = np.asarray(normal, np.float64)
    out = translate(grown, margin + strength * normal, shape, order)  # the positive side
    if not positive.all():
        np.copyto(out, translate(grown, margin - strength * normal, shape, order), where=~positive)
    out[np.abs(distance) < FOLD_HALF_WIDTH] = 0
    return out


@dataclasses.dataclass(frozen=True)
class DefectPlan:
    """What prepare decided for one request: the kind of every section and the fold geometry."""

    kinds: np.ndarray
    margin: int  # in-plane voxels requested beyond the caller's ROI on each side (0 if no fold)
    fold_points: np.ndarray  # (folds, in-plane dims), section voxel coordinates
    fold_normals: np.ndarray  # (folds, in-plane dims), unit vectors
    artifact_seed: int


class DefectAugment(RandomAugment):
    """Augment an intensity array section by section with imaging defects.

    Every section along ``axis`` independently becomes, with the given probabilities, one of:
    missing (all 0), low contrast (``mean + (s - mean) * contrast_scale``), an artifact
    blended in (``s * (1 - alpha) + artifact * alpha``, a section of ``artifacts`` and
    ``artifacts_mask`` from ``artifact_source``), or deformed by a fold (content pushed
    ``deformation_strength`` voxels towards a random line through the section, the line set to
    0). Only ``intensities`` changes: labels and masks stay as they are.

    Args:
        intensities: the float intensity array to modify.
        prob_missing, prob_low_contrast, prob_artifact, prob_deform: per-section probabilities
            of each defect; their sum must not exceed 1.
        contrast_scale: contrast factor of low-contrast sections.
        artifact_source: a pipeline (or node) delivering ``artifacts`` (float intensities) and
            ``artifacts_mask`` (float alpha in [0, 1], or bool) at the voxel size of
            ``intensities``, typically ``source + RandomLocation() + Normalize(...) +
            augmentations``. It is built and torn down with the host pipeline.
        artifacts: the ArrayKey of the artifact intensities in ``artifact_source``.
        artifacts_mask: the ArrayKey of the alpha mask in ``artifact_source``.
        deformation_strength: how many voxels the content moves towards a fold.
        axis: the spatial axis along which sections are cut (0: z).
        p: probability that the node does anything for a request (``p=0`` is the identity).

    Requires: ``intensities`` (float32/float64); with ``prob_artifact > 0`` the artifact
    source must provide ``artifacts`` and ``artifacts_mask``.

    Updates: ``intensities`` (same spec and dtype).

    Request: unchanged, unless some section is to be folded: then ``intensities`` is requested
    ``ceil(deformation_strength)`` voxels larger on each side of every in-plane axis and
    cropped back. Each artifact section sends the artifact source one request for
    ``artifacts`` and ``artifacts_mask`` at that section's ROI (one voxel thick).

    Randomness: drawn in ``prepare``: whether the node acts (``p``), the kind of every section, each fold's line,
    and the seed of each artifact request (derived from one draw with
    ``flowgraph.rng.derive_seed``), all from this node's generator.

    Raises:
        ConfigError: bad arguments, probabilities summing to more than 1, ``prob_artifact > 0``
            without ``artifact_source``, ``artifacts`` and ``artifacts_mask``.
        SetupError: ``intensities`` missing or not float, ``axis`` out of range, or the
            artifact source lacking a key, with a non-float artifact or another voxel size.
        NonFiniteError: ``intensities`` holds NaN or inf (checked by the kit's base for every request).

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> source = fg.ArraySource(raw, fg.Array(np.full((3, 2, 2), 0.5, np.float32),
        ...                         fg.ArraySpec(roi=fg.Roi((0, 0, 0), (3, 2, 2)), voxel_size=(1, 1, 1))))
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (3, 2, 2)))
        >>> with fg.build(source + fg.DefectAugment(raw, prob_missing=1.0, prob_low_contrast=0.0)) as p:
        ...     p.request_batch(request)[raw].data.max()
        np.float32(0.0)
    """

    def __init__(
        self,
        intensities: ArrayKey,
        prob_missing: float = 0.05,
        prob_low_contrast: float = 0.05,
        prob_artifact: float = 0.0,
        prob_deform: float = 0.0,
        contrast_scale: float = 0.1,
        artifact_source: Any = None,
        artifacts: ArrayKey | None = None,
        artifacts_mask: ArrayKey | None = None,
        deformation_strength: float = 20,
        axis: int = 0,
        p: float = 1.0,
    ) -> None:
        self.intensities: ArrayKey = array_key(_NAME, "intensities", intensities)
        self.prob_missing = probability(_NAME, "prob_missing", prob_missing)
        self.prob_low_contrast = probability(_NAME, "prob_low_contrast", prob_low_contrast)
        self.prob_artifact = probability(_NAME, "prob_artifact", prob_artifact)
        self.prob_deform = probability(_NAME, "prob_deform", prob_deform)
        total = self.prob_missing + self.prob_low_contrast + self.prob_artifact + self.prob_deform
        if total > 1 + 1e-12:
            raise ConfigError(
                f"{_NAME}: prob_missing + prob_low_contrast + prob_artifact + prob_deform = {total:g} exceeds 1; "
                "lower them (each section gets at most one defect)."
            )
        self.contrast_scale = number(_NAME, "contrast_scale", contrast_scale)
        self.artifacts = array_key(_NAME, "artifacts", artifacts, optional=True)
        self.artifacts_mask = array_key(_NAME, "artifacts_mask", artifacts_mask, optional=True)
        if artifact_source is None:
            self.artifact_source: Pipeline | None = None
        else:
            try:
                self.artifact_source = Pipeline.coerce(artifact_source, "artifact_source")
            except PipelineError as e:
                raise ConfigError(
                    f"{_NAME}: artifact_source must be a pipeline or a node, got {type(artifact_source).__name__}."
                ) from e
        if self.prob_artifact > 0:
            for param, value in (
                ("artifact_source", self.artifact_source),
                ("artifacts", self.artifacts),
                ("artifacts_mask", self.artifacts_mask),
            ):
                if value is None:
                    raise ConfigError(
                        f"{_NAME}: prob_artifact > 0 needs {param}; give artifact_source, artifacts and "
                        "artifacts_mask, or set prob_artifact=0."
                    )
        self.deformation_strength = number(_NAME, "deformation_strength", deformation_strength, 0.0)
        self.axis = number(_NAME, "axis", axis, 0, integer=True)
        super().__init__(_NAME, p)

    @property
    def name(self) -> str:
        return f"{_NAME}({self.intensities})"

    # -- setup ----------------------------------------------------------------------------------
    def setup(self) -> None:
        spec = upstream_array(self.name, self.upstream_spec, self.intensities)
        require_float(self.name, self.intensities, spec)
        if spec.nonspatial or spec.roi is None or spec.voxel_size is None:
            raise SetupError(f"{self.name}: {self.intensities} must be a spatial array with a ROI and a voxel size.")
        dims = spec.roi.dims
        if self.axis >= dims:
            raise SetupError(
                f"{self.name}: axis={self.axis} is out of range for {self.intensities} with {dims} spatial axes; "
                f"use an axis in 0..{dims - 1}."
            )
        if dims < 2 and self.prob_deform > 0:
            raise SetupError(
                f"{self.name}: folds need at least 2 spatial axes, {self.intensities} is 1-D; set prob_deform=0."
            )
        self._dims = dims
        self._voxel_size: Coordinate = spec.voxel_size
        self._order = 1 if spec.interpolatable is not False else 0
        if self.prob_artifact > 0:
            self._check_artifact_source(spec)
        self.updates(self.intensities)

    def _check_artifact_source(self, spec: ArraySpec) -> None:
        assert self.artifact_source is not None and self.artifacts is not None and self.artifacts_mask is not None
        offered = self.artifact_source.spec
        for key, what in ((self.artifacts, "artifacts"), (self.artifacts_mask, "artifacts_mask")):
            found = offered.get(key)
            if not isinstance(found, ArraySpec):
                raise SetupError(
                    f"{self.name}: the artifact source does not provide {what}={key} (it provides "
                    f"{', '.join(map(str, offered)) or 'nothing'}); add a source for {key} to artifact_source."
                )
            if found.voxel_size != spec.voxel_size:
                raise SetupError(
                    f"{self.name}: the artifact source provides {key} at voxel size {found.voxel_size}, but "
                    f"{self.intensities} has {spec.voxel_size}; blending needs equal voxel sizes, "
                    "resample the artifacts."
                )
        art = offered[self.artifacts]
        assert isinstance(art, ArraySpec)
        require_float(self.name, self.artifacts, art)
        alpha = offered[self.artifacts_mask]
        assert isinstance(alpha, ArraySpec)
        if alpha.dtype is not None and alpha.dtype.kind not in "fb":
            raise SetupError(
                f"{self.name}: needs a float (or bool) alpha mask; expected float32 or float64 for "
                f"{self.artifacts_mask}, got {alpha.dtype}. "
                f"Add Normalize({self.artifacts_mask}) to the artifact source."
            )

    # -- per request ---------------------------------------------------------------------------------
    def draw_params(self, rng: np.random.Generator, request: BatchRequest) -> DefectPlan | None:
        spec = request[self.intensities]
        sections = section_count(spec, self.axis, self._voxel_size)
        if sections is None:
            return None
        shape = spec.roi.shape // (spec.voxel_size or self._voxel_size)  # type: ignore[union-attr]
        kinds = section_kinds(
            rng.random(sections), (self.prob_missing, self.prob_low_contrast, self.prob_artifact, self.prob_deform)
        )
        folds = int(np.count_nonzero(kinds == DEFORM))
        plane = [s for d, s in enumerate(shape) if d != self.axis]
        points = rng.random((folds, len(plane))) * np.asarray(plane, dtype=np.float64) - 0.5
        normals = rng.standard_normal((folds, len(plane)))
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)  # uniform directions
        artifact_seed = int(rng.integers(2**63))
        margin = math.ceil(self.deformation_strength) if folds else 0
        return DefectPlan(kinds, margin, points, normals, artifact_seed)

    def dependencies(self, request: BatchRequest, plan: DefectPlan) -> tuple[BatchRequest, DefectPlan]:
        """The requested ROI, grown in-plane by the fold margin when a section is folded."""
        deps = BatchRequest(random_seed=request.random_seed)
        spec = request[self.intensities]
        if plan.margin:
            vs = spec.voxel_size or self._voxel_size
            grow = Coordinate(0 if d == self.axis else plan.margin * v for d, v in enumerate(vs.ints()))
            deps[self.intensities] = spec.with_roi(spec.roi.grow(grow, grow))  # type: ignore[union-attr]
        else:
            deps[self.intensities] = spec.copy()
        return deps, plan

    def negotiate(self, request: BatchRequest) -> Negotiation:
        """The dependencies, and one request to the artifact source per artifact section."""
        negotiation = super().negotiate(request)
        plan = negotiation.state
        if isinstance(plan, DefectPlan) and self.artifact_source is not None:
            target = request[self.intensities].roi
            assert target is not None  # a plan is only made for a spatial request
            index = next(i for i, p in enumerate(self.nested_pipelines()) if p is self.artifact_source)
            negotiation.nested[index] = [
                self._artifact_request(target, int(i), plan.artifact_seed)
                for i in np.flatnonzero(plan.kinds == ARTIFACT)
            ]
        return negotiation

    def augment(self, batch: Batch, request: BatchRequest, plan: DefectPlan) -> Batch | None:
        array = batch[self.intensities]
        assert isinstance(array, Array)
        data = array.data
        if not data.flags.writeable:
            data = data.copy()
        lead = data.ndim - self._dims
        axis = data_axis(data.ndim, self._dims, self.axis)
        target = request[self.intensities].roi
        assert target is not None
        if plan.margin:
            crop = tuple(
                slice(None) if d < lead or d == axis else slice(plan.margin, data.shape[d] - plan.margin)
                for d in range(data.ndim)
            )
            visible = data[crop]
        else:
            visible = data
        kinds = plan.kinds
        missing = np.flatnonzero(kinds == MISSING)
        if missing.size:
            visible[section_index(data.ndim, axis, missing)] = 0
        for i in np.flatnonzero(kinds == LOW_CONTRAST):
            view = section(visible, axis, int(i))
            low_contrast(view, axis, self.contrast_scale, out=view)
        for i in np.flatnonzero(kinds == ARTIFACT):
            index = section_index(data.ndim, axis, slice(i, i + 1))
            artifact, alpha = self._artifact(target, int(i), plan.artifact_seed)
            visible[index] = blend(visible[index], artifact, alpha)
        for n, i in enumerate(np.flatnonzero(kinds == DEFORM)):
            grown = np.take(data, i, axis=axis)  # (channels..., in-plane...) with the margin
            folded = visible[section_index(data.ndim, axis, i)]
            channels = grown.reshape((-1, *grown.shape[lead:]))
            result = np.stack(
                [
                    fold(
                        c,
                        plan.margin,
                        plan.fold_points[n],
                        plan.fold_normals[n],
                        self.deformation_strength,
                        self._order,
                    )
                    for c in channels
                ]
            )
            folded[...] = result.reshape(folded.shape)
        return Batch({self.intensities: Array.trusted(visible, array.spec, target)})

    def _artifact_request(self, target: Roi, i: int, seed: int) -> BatchRequest:
        """The request to the artifact source for section ``i`` of ``target``."""
        assert self.artifacts is not None and self.artifacts_mask is not None
        step = self._voxel_size.ints()[self.axis]
        offset = list(target.offset.ints())
        shape = list(target.shape.ints())
        offset[self.axis] += i * step
        shape[self.axis] = step
        roi = Roi(offset, shape)
        request = BatchRequest(random_seed=derive_seed(seed, i))
        request[self.artifacts] = ArraySpec(roi=roi, voxel_size=self._voxel_size)
        request[self.artifacts_mask] = ArraySpec(roi=roi, voxel_size=self._voxel_size)
        return request

    def _artifact(self, target: Roi, i: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Artifact intensities and alpha for section ``i`` of ``target``, from the artifact source."""
        assert self.artifact_source is not None and self.artifacts is not None and self.artifacts_mask is not None
        artifacts = self.artifact_source.request_batch(self._artifact_request(target, i, seed))
        artifact = artifacts[self.artifacts].data
        alpha = artifacts[self.artifacts_mask].data
        dtype = self.spec[self.intensities].dtype
        return artifact.astype(dtype, copy=False), alpha.astype(dtype, copy=False)


__all__ = ["DefectAugment", "DefectPlan", "blend", "fold", "low_contrast", "section_kinds", "translate"]
