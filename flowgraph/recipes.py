"""Ready-made pipelines: the CREMI training recipe of the EM community, and pytorch_connectomics'.

Used by ``flowgraph demo``, the benchmarks, ``examples/cremi_training_pipeline.py`` and
``examples/connectomics_training.py``. This is application code on top of the engine, so it
imports the node library inside its functions.

The file layout is that of :mod:`flowgraph.synthetic` (and of the CREMI files): a volume with
``volumes/raw`` (uint8), ``volumes/labels/neuron_ids`` (uint64) and ``volumes/labels/mask``
(uint8), and an artifact file with ``defect_sections/raw`` and ``defect_sections/mask``
(uint8 alpha, 0-255).
"""

from __future__ import annotations

import math
import os
from typing import Any

from flowgraph.keys import ArrayKey
from flowgraph.pipeline import Pipeline
from flowgraph.request import BatchRequest
from flowgraph.specs import ArraySpec

RAW = ArrayKey("RAW")
LABELS = ArrayKey("LABELS")
MASK = ArrayKey("MASK")
ARTIFACTS = ArrayKey("ARTIFACTS")
ARTIFACTS_MASK = ArrayKey("ARTIFACTS_MASK")

#: ElasticAugment parameters of the CREMI recipe (voxels at 40 x 4 x 4 nm, radians)
CREMI_ELASTIC: dict[str, Any] = {
    "control_point_spacing": [4, 40, 40],
    "jitter_sigma": [0, 2, 2],
    "rotation_interval": [0, math.pi / 2],
}


def artifact_pipeline(
    artifacts_filename: str | os.PathLike[str],
    artifacts: ArrayKey = ARTIFACTS,
    artifacts_mask: ArrayKey = ARTIFACTS_MASK,
) -> Pipeline:
    """Artifact sections for DefectAugment: a random place, normalized and augmented."""
    import flowgraph as fg

    return (
        fg.Hdf5Source(
            artifacts_filename,
            datasets={artifacts: "defect_sections/raw", artifacts_mask: "defect_sections/mask"},
        )
        + fg.RandomLocation(min_masked=0.05, mask=artifacts_mask)
        + fg.Normalize(artifacts)
        + fg.Normalize(artifacts_mask)
        + fg.IntensityAugment(artifacts, 0.9, 1.1, -0.1, 0.1, z_section_wise=True)
        + fg.ElasticAugment(**CREMI_ELASTIC)
        + fg.SimpleAugment(transpose_only=[1, 2])
    )


def cremi_training_pipeline(
    filename: str | os.PathLike[str],
    artifacts_filename: str | os.PathLike[str],
    raw: ArrayKey = RAW,
    labels: ArrayKey = LABELS,
    mask: ArrayKey = MASK,
    artifacts: ArrayKey = ARTIFACTS,
    artifacts_mask: ArrayKey = ARTIFACTS_MASK,
    min_masked: float = 0.5,
) -> Pipeline:
    """The CREMI training pipeline, with the parameters of the CREMI synapse/neuron recipes.

    Hdf5Source -> Normalize -> RandomLocation(min_masked) -> ElasticAugment (with slip/shift
    misalignment) -> SimpleAugment (in-plane transposes) -> IntensityAugment (per section) ->
    DefectAugment (missing, low-contrast and artifact sections from ``artifacts_filename``).
    """
    import flowgraph as fg

    source = fg.Hdf5Source(
        filename,
        datasets={raw: "volumes/raw", labels: "volumes/labels/neuron_ids", mask: "volumes/labels/mask"},
        array_specs={labels: ArraySpec(interpolatable=False), mask: ArraySpec(interpolatable=False)},
    )
    return (
        source
        + fg.Normalize(raw)
        + fg.RandomLocation(min_masked=min_masked, mask=mask)
        + fg.ElasticAugment(**CREMI_ELASTIC, prob_slip=0.05, prob_shift=0.05, max_misalign=25)
        + fg.SimpleAugment(transpose_only=[1, 2])
        + fg.IntensityAugment(raw, 0.9, 1.1, -0.1, 0.1, z_section_wise=True)
        + fg.DefectAugment(
            raw,
            prob_missing=0.03,
            prob_low_contrast=0.01,
            prob_artifact=0.03,
            contrast_scale=0.1,
            artifact_source=artifact_pipeline(artifacts_filename, artifacts, artifacts_mask),
            artifacts=artifacts,
            artifacts_mask=artifacts_mask,
        )
    )


def connectomics_training_pipeline(
    filename: str | os.PathLike[str],
    raw: ArrayKey = RAW,
    labels: ArrayKey = LABELS,
    mask: ArrayKey = MASK,
    size_thres: int | None = 1000,
    reject_probability: float = 0.95,
    min_valid: float | None = 0.5,
) -> Pipeline:
    """pytorch_connectomics' data-loading example as a flowgraph pipeline.

    The seed document's augmentor (``Rescale(p=0.8)``, ``MisAlignment(displacement=16,
    rotate_ratio=0.5, p=0.5)``, ``CutBlur(length_ratio=0.6, down_ratio_min=4.0,
    down_ratio_max=8.0, p=0.7)`` with ``additional_targets={'label': 'mask', 'valid_mask':
    'mask'}``) and its rejection sampling (``SIZE_THRES: 1000``, ``P: 0.95``, valid ratio 0.5)::

        Hdf5Source(raw, labels and mask; labels and mask not interpolatable) -> Normalize(raw)
          -> RandomLocation -> Reject(mask, min_masked=min_valid)
          -> Reject(labels, min_count=size_thres, reject_probability=reject_probability)
          -> Rescale(p=0.8) -> MisAlignment(16, 0.5, p=0.5) -> CutBlur(raw, 0.6, 4, 8, p=0.7)

    The geometric nodes move every array (labels and mask nearest on their own dtype, as
    pytorch_connectomics' ``'mask'`` targets), CutBlur changes the image only; rejection comes
    first, so that a rejected attempt costs only its reading. ``size_thres=None`` (SIZE_THRES -1)
    or ``min_valid=None`` leaves that rejection out.

    Args:
        filename: the HDF5 file, laid out as :mod:`flowgraph.synthetic` writes it (``volumes/raw``,
            ``volumes/labels/neuron_ids``, ``volumes/labels/mask``).
        raw, labels, mask: the keys of the image, the label volume and the valid mask.
        size_thres: the number of non-zero label voxels below which a batch is a rejection
            candidate (``DATASET.REJECT_SAMPLING.SIZE_THRES``).
        reject_probability: the probability with which such a batch is rejected (``P``).
        min_valid: the fraction of the valid mask a batch needs (pytorch_connectomics: 0.5).
    """
    import flowgraph as fg

    source = fg.Hdf5Source(
        filename,
        datasets={raw: "volumes/raw", labels: "volumes/labels/neuron_ids", mask: "volumes/labels/mask"},
        array_specs={labels: ArraySpec(interpolatable=False), mask: ArraySpec(interpolatable=False)},
    )
    pipeline = source + fg.Normalize(raw) + fg.RandomLocation()
    if min_valid is not None:
        pipeline = pipeline + fg.Reject(mask, min_masked=min_valid)
    if size_thres is not None:
        pipeline = pipeline + fg.Reject(labels, min_count=size_thres, reject_probability=reject_probability)
    return (
        pipeline
        + fg.Rescale(p=0.8)
        + fg.MisAlignment(displacement=16, rotate_ratio=0.5, p=0.5)
        + fg.CutBlur(raw, length_ratio=0.6, down_ratio_min=4.0, down_ratio_max=8.0, p=0.7)
    )


def connectomics_request(
    raw: ArrayKey = RAW,
    labels: ArrayKey = LABELS,
    mask: ArrayKey = MASK,
    voxel_size: tuple[int, ...] = (40, 4, 4),
    shape: tuple[int, ...] = (8, 256, 256),
    seed: int | None = None,
) -> BatchRequest:
    """pytorch_connectomics' ``input_size`` (8, 256, 256) for the image, the labels and the valid mask, centred."""
    request = BatchRequest(random_seed=seed)
    world = tuple(s * v for s, v in zip(shape, voxel_size))
    for key in (raw, labels, mask):
        request.add(key, world, voxel_size=voxel_size)
    return request


def cremi_request(
    raw: ArrayKey = RAW,
    labels: ArrayKey = LABELS,
    voxel_size: tuple[int, ...] = (40, 4, 4),
    raw_shape: tuple[int, ...] = (84, 268, 268),
    labels_shape: tuple[int, ...] = (56, 56, 56),
    seed: int | None = None,
) -> BatchRequest:
    """The CREMI network's request: raw 84 x 268 x 268 and labels 56 x 56 x 56 voxels, centred."""
    request = BatchRequest(random_seed=seed)
    request.add(raw, tuple(s * v for s, v in zip(raw_shape, voxel_size)), voxel_size=voxel_size)
    request.add(labels, tuple(s * v for s, v in zip(labels_shape, voxel_size)), voxel_size=voxel_size)
    return request


__all__ = [
    "ARTIFACTS",
    "ARTIFACTS_MASK",
    "CREMI_ELASTIC",
    "LABELS",
    "MASK",
    "RAW",
    "artifact_pipeline",
    "connectomics_request",
    "connectomics_training_pipeline",
    "cremi_request",
    "cremi_training_pipeline",
]
