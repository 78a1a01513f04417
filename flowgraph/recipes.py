"""Ready-made pipelines: the CREMI training recipe of the EM community.

Used by ``flowgraph demo``, the benchmarks and ``examples/cremi_training_pipeline.py``. This is
application code on top of the engine, so it imports the node library inside its functions.

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
    "cremi_request",
    "cremi_training_pipeline",
]
