"""How to exercise each node of ``flowgraph.nodes.__all__`` in the contract suite.

Every node registers one :class:`Case` (``flowgraph.testing.NodeCase``). ``test_contract.py``
runs the checks of ``flowgraph.testing`` over all of them (and fails for a node without a case):

- the pipeline builds on small in-memory data and delivers the request: keys, ROIs, shapes and
  dtypes as requested (the base class checks, the suite re-checks), also for each key alone;
- same seed -> identical batch (also after a rebuild); neither the caller's request nor the
  request object the node itself receives is mutated;
- for nodes with a probability ``p``: ``p=0`` gives exactly the batch of the pipeline without the
  node;
- each bad argument raises ConfigError whose message names the parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import flowgraph as fg
from flowgraph.testing import (
    LABELS,
    MASK,
    POINTS,
    RAW,
    VOXEL_SIZE,
    NodeCase,
    coordinate_volume,  # noqa: F401 (re-exported for the node tests)
    default_request,
    source_data,
    source_nodes,
    sources,
)

# the data and the case type come from the public contract suite (flowgraph.testing)
Case = NodeCase

CASES: dict[str, Case] = {}


def register(name: str, case: Case) -> None:
    CASES[name] = case


# -- helpers for the cases below ------------------------------------------------------------------
def request_of(keys: tuple[Any, ...]) -> Callable[[int], fg.BatchRequest]:
    """A request factory: :func:`default_request` restricted to ``keys``."""

    def make(seed: int = 0) -> fg.BatchRequest:
        full = default_request(seed)
        request = fg.BatchRequest(random_seed=seed)
        for key in keys:
            request[key] = full[key]
        return request

    return make


def padded_request(seed: int = 0) -> fg.BatchRequest:
    """:func:`default_request` with RAW reaching 8 world units past the data's lower corner."""
    request = default_request(seed)
    request[RAW] = fg.ArraySpec(roi=fg.Roi((-8, -4, -4), (24, 40, 40)))
    return request


_HDF5_FILE: list[str] = []


def hdf5_file() -> str:
    """A tiny HDF5 file (written once per process into a temporary directory) holding the arrays
    of :func:`source_data` as ``volumes/raw``, ``volumes/labels`` and ``volumes/mask`` with
    ``resolution`` and ``offset`` attributes."""
    if not _HDF5_FILE:
        import atexit
        import os
        import shutil
        import tempfile

        import h5py

        folder = tempfile.mkdtemp(prefix="flowgraph-contract-")
        atexit.register(shutil.rmtree, folder, True)
        path = os.path.join(folder, "sample.h5")
        data = source_data()
        with h5py.File(path, "w") as f:
            for key, name in ((RAW, "raw"), (LABELS, "labels"), (MASK, "mask")):
                ds = f.create_dataset(f"volumes/{name}", data=data[key].data)
                ds.attrs["resolution"] = VOXEL_SIZE
                ds.attrs["offset"] = (0, 0, 0)
        _HDF5_FILE.append(path)
    return _HDF5_FILE[0]


def _hdf5_source(**overrides: Any) -> fg.BatchProvider:
    args: dict[str, Any] = {
        "filename": hdf5_file(),
        "datasets": {RAW: "volumes/raw", LABELS: "volumes/labels", MASK: "volumes/mask"},
        "array_specs": {LABELS: fg.ArraySpec(interpolatable=False), MASK: fg.ArraySpec(interpolatable=False)},
    }
    return fg.Hdf5Source(**{**args, **overrides})


_ZARR_GROUP: list[str] = []


def zarr_2() -> bool:
    """Whether the installed zarr is zarr 2 (the tests run with zarr 2.18, gunpowder's, and with zarr 3)."""
    import zarr

    return zarr.__version__.startswith("2.")


def create_zarr_array(group: Any, name: str, data: np.ndarray, chunks: Any = None) -> Any:
    """A new array ``name`` in the zarr group ``group`` holding ``data``, with zarr 3's ``create_array`` or
    zarr 2's ``create_dataset`` (zarr 2 has no ``create_array``; zarr 3 deprecates ``create_dataset``)."""
    create = group.create_dataset if zarr_2() else group.create_array
    array = create(name, shape=data.shape, dtype=data.dtype, **({} if chunks is None else {"chunks": chunks}))
    array[...] = data
    return array


def zarr_group() -> str:
    """A tiny zarr group (written once per process into a temporary directory) holding the arrays of
    :func:`source_data` as ``volumes/raw``, ``volumes/labels`` and ``volumes/mask`` with
    ``resolution`` and ``offset`` attributes, in chunks smaller than the arrays."""
    if not _ZARR_GROUP:
        import atexit
        import os
        import shutil
        import tempfile

        import zarr

        folder = tempfile.mkdtemp(prefix="flowgraph-contract-")
        atexit.register(shutil.rmtree, folder, True)
        path = os.path.join(folder, "sample.zarr")
        group = zarr.open_group(path, mode="w")
        for key, name in ((RAW, "raw"), (LABELS, "labels"), (MASK, "mask")):
            array = create_zarr_array(group, f"volumes/{name}", source_data()[key].data, chunks=(4, 8, 8))
            array.attrs.update({"resolution": VOXEL_SIZE, "offset": (0, 0, 0)})
        _ZARR_GROUP.append(path)
    return _ZARR_GROUP[0]


def _zarr_source(**overrides: Any) -> fg.BatchProvider:
    args: dict[str, Any] = {
        "store": zarr_group(),
        "datasets": {RAW: "volumes/raw", LABELS: "volumes/labels", MASK: "volumes/mask"},
        "array_specs": {LABELS: fg.ArraySpec(interpolatable=False), MASK: fg.ArraySpec(interpolatable=False)},
    }
    return fg.ZarrSource(**{**args, **overrides})


def two_sources() -> tuple[fg.Pipeline, fg.Pipeline]:
    """Two copies of :func:`sources`, the second shifted by (8, 10, 10): they overlap in [8:48, 10:80, 10:80]."""
    return sources(), sources((8, 10, 10))


# -- issue 2: sources, joins, sampling ------------------------------------------------------------
register(
    "ArraySource",
    Case(
        make=lambda **kw: fg.ArraySource(**{"key": RAW, "array": source_data()[RAW], **kw}),
        upstream=None,
        request=request_of((RAW,)),
        bad_args=[
            ({"key": "RAW"}, "key"),
            ({"array": np.zeros((2, 2))}, "array"),
            ({"interpolatable": "yes"}, "interpolatable"),
        ],
    ),
)
register(
    "Hdf5Source",
    Case(
        make=_hdf5_source,
        upstream=None,
        request=request_of((RAW, LABELS, MASK)),
        bad_args=[
            ({"filename": 3}, "filename"),
            ({"datasets": {}}, "datasets"),
            ({"datasets": {"RAW": "volumes/raw"}}, "datasets"),
            ({"array_specs": {RAW: 3}}, "array_specs"),
            ({"channels_first": "yes"}, "channels_first"),
        ],
    ),
)
register(
    "ZarrSource",
    Case(
        make=_zarr_source,
        upstream=None,
        request=request_of((RAW, LABELS, MASK)),
        bad_args=[
            ({"store": 3}, "store"),
            *([] if zarr_2() else [({"store": "volume.n5"}, "store")]),  # N5 needs zarr 2
            ({"datasets": {}}, "datasets"),
            ({"datasets": {"RAW": "volumes/raw"}}, "datasets"),
            ({"array_specs": {RAW: 3}}, "array_specs"),
            ({"channels_first": "yes"}, "channels_first"),
        ],
    ),
)
register(
    "MergeProvider",
    Case(make=lambda **kw: source_nodes() + fg.MergeProvider(**kw), upstream=None),
)
register(
    "RandomProvider",
    Case(
        make=lambda **kw: two_sources() + fg.RandomProvider(**kw),
        upstream=None,
        bad_args=[
            ({"probabilities": "ab"}, "probabilities"),
            ({"probabilities": [-1, 2]}, "probabilities"),
            ({"probabilities": [0, 0]}, "probabilities"),
            ({"random_provider_key": "INDEX"}, "random_provider_key"),
        ],
    ),
)
register(
    "Normalize",
    Case(
        make=lambda **kw: fg.Normalize(**{"array": MASK, "dtype": np.float64, **kw}),
        bad_args=[
            ({"array": "MASK"}, "array"),
            ({"factor": "x"}, "factor"),
            ({"factor": float("nan")}, "factor"),
            ({"dtype": np.int32}, "dtype"),
            ({"dtype": "no such dtype"}, "dtype"),
        ],
    ),
)
register(
    "Pad",
    Case(
        make=lambda **kw: fg.Pad(**{"key": RAW, "size": (8, 4, 4), "value": 0.5, **kw}),
        request=padded_request,
        bad_args=[
            ({"key": "RAW"}, "key"),
            ({"size": "abc"}, "size"),
            ({"size": (-4, 0, 0)}, "size"),
            ({"value": "x"}, "value"),
        ],
    ),
)
register(
    "Crop",
    Case(
        make=lambda **kw: fg.Crop(**{"key": RAW, "roi": fg.Roi((4, 10, 10), (40, 60, 60)), **kw}),
        bad_args=[
            ({"key": "RAW"}, "key"),
            ({"roi": (0, 0, 0)}, "roi"),
            ({"roi": None, "fraction_negative": (1.5, 0, 0)}, "fraction_negative"),
            ({"roi": None, "fraction_positive": ("a", 0, 0)}, "fraction_positive"),
            ({"roi": None, "fraction_positive": 0.5}, "fraction_positive"),
        ],
    ),
)
register(
    "RandomLocation",
    Case(
        make=lambda **kw: fg.RandomLocation(**{"min_masked": 0.9, "mask": MASK, **kw}),
        bad_args=[
            ({"min_masked": 2}, "min_masked"),
            ({"mask": "MASK"}, "mask"),
            ({"mask": None}, "mask"),
            ({"ensure_nonempty": RAW}, "ensure_nonempty"),
            ({"p_nonempty": -0.5}, "p_nonempty"),
            ({"ensure_centered": "yes"}, "ensure_centered"),
            ({"point_balance_radius": -1}, "point_balance_radius"),
            ({"random_shift_key": "SHIFT"}, "random_shift_key"),
        ],
    ),
)
register(
    "Reject",
    Case(
        make=lambda **kw: fg.Reject(**{"mask": MASK, "min_masked": 0.9, **kw}),
        upstream=lambda: sources() + fg.RandomLocation(),
        bad_args=[
            ({"mask": "MASK"}, "mask"),
            ({"min_masked": 1.5}, "min_masked"),
            ({"ensure_nonempty": RAW}, "ensure_nonempty"),
            ({"reject_probability": 2}, "reject_probability"),
            ({"max_attempts": 0}, "max_attempts"),
            ({"max_attempts": 2.5}, "max_attempts"),
        ],
    ),
)
register(
    "ElasticAugment",
    Case(
        make=lambda **kw: fg.ElasticAugment(
            **{
                "control_point_spacing": [2, 10, 10],
                "jitter_sigma": [0, 1, 1],
                "rotation_interval": [0, 0.8],
                "prob_slip": 0.1,
                "prob_shift": 0.1,
                "max_misalign": 1,
                **kw,
            }
        ),
        upstream=lambda: sources() + fg.RandomLocation(),
        has_p=True,
        bad_args=[
            ({"control_point_spacing": [0, 10, 10]}, "control_point_spacing"),
            ({"jitter_sigma": [0, -1, 1]}, "jitter_sigma"),
            ({"rotation_interval": [1.0, 0.0]}, "rotation_interval"),
            ({"scale_interval": [0.0, 1.0]}, "scale_interval"),
            ({"prob_slip": 1.5}, "prob_slip"),
            ({"max_misalign": -1}, "max_misalign"),
            ({"subsample": 0}, "subsample"),
            ({"use_fast_points_transform": "yes"}, "use_fast_points_transform"),
            ({"recompute_missing_points": None}, "recompute_missing_points"),
            ({"spatial_dims": 1}, "spatial_dims"),
            ({"p": -0.1}, "p"),
        ],
    ),
)
register(
    "PreCache",
    Case(
        make=lambda **kw: fg.PreCache(**{"cache_size": 2, "num_workers": 2, **kw}),
        upstream=lambda: sources() + fg.RandomLocation(),
        bad_args=[
            ({"cache_size": 0}, "cache_size"),
            ({"cache_size": 1.5}, "cache_size"),
            ({"num_workers": -1}, "num_workers"),
            ({"num_workers": "2"}, "num_workers"),
            ({"start_method": "thread"}, "start_method"),
        ],
    ),
)
register(
    "Stack",
    Case(
        make=lambda **kw: fg.Stack(**{"num_repetitions": 3, **kw}),
        upstream=lambda: sources() + fg.RandomLocation(),
        bad_args=[
            ({"num_repetitions": 0}, "num_repetitions"),
            ({"num_repetitions": 2.0}, "num_repetitions"),
        ],
    ),
)


class _Discard:
    """A text stream that forgets what it is given (keeps PrintProfilingStats quiet in the suite)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


register(
    "PrintProfilingStats",
    Case(
        make=lambda **kw: fg.PrintProfilingStats(**{"every": 1, "stream": _Discard(), **kw}),
        bad_args=[
            ({"every": 0}, "every"),
            ({"every": 1.5}, "every"),
            ({"stream": "stdout"}, "stream"),
        ],
    ),
)


# -- issue 3: SimpleAugment, IntensityAugment, DefectAugment ------------------------------------------
_DEFECT_ARTIFACTS = fg.ArrayKey("DEFECT_ARTIFACTS")
_DEFECT_ALPHA = fg.ArrayKey("DEFECT_ALPHA")


def _defect_artifact_source() -> fg.Pipeline:
    """A fresh artifact pipeline: small random artifacts and alpha masks at RAW's voxel size, at random places."""
    rng = np.random.default_rng(3)
    roi = fg.Roi((0, 0, 0), tuple(s * v for s, v in zip((3, 30, 30), VOXEL_SIZE, strict=True)))

    def array(data: np.ndarray) -> fg.Array:
        return fg.Array(data.astype(np.float32), fg.ArraySpec(roi=roi, voxel_size=VOXEL_SIZE))

    return (
        (
            fg.ArraySource(_DEFECT_ARTIFACTS, array(rng.uniform(0.2, 0.8, (3, 30, 30)))),
            fg.ArraySource(_DEFECT_ALPHA, array(rng.uniform(0.0, 1.0, (3, 30, 30)))),
        )
        + fg.MergeProvider()
        + fg.RandomLocation()
    )


register(
    "SimpleAugment",
    Case(
        make=lambda **kw: fg.SimpleAugment(**{"transpose_only": (1, 2), **kw}),
        has_p=True,
        bad_args=[
            ({"mirror_only": "z"}, "mirror_only"),
            ({"transpose_only": (1, 1)}, "transpose_only"),
            ({"mirror_probs": 1.5}, "mirror_probs"),
            ({"transpose_probs": [0.5, -0.5, 0.5]}, "transpose_probs"),
            ({"transpose_probs": {(0, 2, 2): 1.0}}, "transpose_probs"),
            ({"p": -0.1}, "p"),
        ],
    ),
)
register(
    "IntensityAugment",
    Case(
        make=lambda **kw: fg.IntensityAugment(
            **{
                "array": RAW,
                "scale_min": 0.8,
                "scale_max": 1.2,
                "shift_min": -0.1,
                "shift_max": 0.1,
                "z_section_wise": True,
                **kw,
            }
        ),
        has_p=True,
        bad_args=[
            ({"array": "RAW"}, "array"),
            ({"scale_min": 1.5}, "scale_min"),
            ({"shift_min": 0.2}, "shift_min"),
            ({"shift_max": float("nan")}, "shift_max"),
            ({"clip": "yes"}, "clip"),
            ({"p": 1.5}, "p"),
        ],
    ),
)
register(
    "DefectAugment",
    Case(
        make=lambda **kw: fg.DefectAugment(
            **{
                "intensities": RAW,
                "prob_missing": 0.2,
                "prob_low_contrast": 0.2,
                "prob_artifact": 0.2,
                "prob_deform": 0.2,
                "artifact_source": _defect_artifact_source(),
                "artifacts": _DEFECT_ARTIFACTS,
                "artifacts_mask": _DEFECT_ALPHA,
                "deformation_strength": 2,
                **kw,
            }
        ),
        has_p=True,
        bad_args=[
            ({"intensities": "RAW"}, "intensities"),
            ({"prob_missing": -0.1}, "prob_missing"),
            ({"prob_missing": 0.5, "prob_deform": 0.5}, "prob_missing"),
            ({"artifact_source": None}, "artifact_source"),
            ({"artifacts_mask": None}, "artifacts_mask"),
            ({"contrast_scale": None}, "contrast_scale"),
            ({"deformation_strength": -2}, "deformation_strength"),
            ({"axis": 0.5}, "axis"),
            ({"p": 2}, "p"),
        ],
    ),
)


def _snapshot_dir() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="flowgraph-snapshot-contract-")


register(
    "Snapshot",
    Case(
        make=lambda **kw: fg.Snapshot(
            **{
                "dataset_names": {RAW: "volumes/raw", LABELS: "volumes/labels", POINTS: "points"},
                "output_dir": _snapshot_dir(),
                "every": 2,
                "compression": None,
                **kw,
            }
        ),
        bad_args=[
            ({"dataset_names": {}}, "dataset_names"),
            ({"dataset_names": {"RAW": "raw"}}, "dataset_names"),
            ({"output_dir": 3}, "output_dir"),
            ({"output_filename": "{step}.h5"}, "output_filename"),
            ({"every": -1}, "every"),
            ({"additional_request": {RAW: None}}, "additional_request"),
            ({"compression": "zstd"}, "compression"),
        ],
    ),
)
register(
    "GraphSource",
    Case(
        make=lambda **kw: fg.GraphSource(**{"key": POINTS, "graph": source_data()[POINTS], **kw}),
        upstream=None,
        request=request_of((POINTS,)),
        bad_args=[({"key": RAW}, "key"), ({"graph": "points"}, "graph")],
    ),
)


# -- issue 12: precomputed sets -----------------------------------------------------------------------
_PRECOMPUTED_FILE: list[str] = []


def precomputed_file() -> str:
    """Three samples of RAW, LABELS and MASK (:func:`sources` + SimpleAugment), written once per process
    by ``flowgraph precompute`` into a temporary directory."""
    if not _PRECOMPUTED_FILE:
        import atexit
        import os
        import shutil
        import tempfile

        from flowgraph.cli.precompute import precompute

        folder = tempfile.mkdtemp(prefix="flowgraph-precomputed-contract-")
        atexit.register(shutil.rmtree, folder, True)
        path = os.path.join(folder, "set.h5")
        pipeline = sources() + fg.SimpleAugment(transpose_only=(1, 2))
        precompute(pipeline, request_of((RAW, LABELS, MASK))(0), path, 3, seed=0)
        _PRECOMPUTED_FILE.append(path)
    return _PRECOMPUTED_FILE[0]


register(
    "PrecomputedSource",
    Case(
        make=lambda **kw: fg.PrecomputedSource(
            **{"filename": precomputed_file(), "datasets": {RAW: "raw", LABELS: "labels", MASK: "mask"}, **kw}
        ),
        upstream=None,
        request=request_of((RAW, LABELS, MASK)),
        bad_args=[
            ({"filename": 3}, "filename"),
            ({"datasets": {}}, "datasets"),
            ({"datasets": {"RAW": "raw"}}, "datasets"),
            ({"array_specs": {RAW: 3}}, "array_specs"),
        ],
    ),
)


# -- issue 12: random warps ---------------------------------------------------------------------------
register(
    "RandomWarp",
    Case(
        make=lambda **kw: fg.RandomWarp(
            **{"source": RAW, "target": RAW, "field": fg.ArrayKey("FIELD"), "alpha": 2.0, "sigma": 3.0, **kw}
        ),
        has_p=True,
        request=request_of((RAW, LABELS, MASK)),
        bad_args=[
            ({"source": "RAW"}, "source"),
            ({"approach": "swirl"}, "approach"),
            ({"rotation": 0.1}, "rotation"),
            ({"max_folded": -1}, "max_folded"),
            ({"max_attempts": 0}, "max_attempts"),
            ({"compose_with": MASK}, "compose_with"),
            ({"p": 2}, "p"),
        ],
    ),
)


# -- issue 11: geometric augmentations and axes ----------------------------------------------------------
register(
    "MisAlignment",
    Case(
        make=lambda **kw: fg.MisAlignment(**{"displacement": 3, "rotate_ratio": 0.5, "p": 0.9, **kw}),
        upstream=lambda: sources() + fg.RandomLocation(),
        has_p=True,
        bad_args=[
            ({"displacement": -1}, "displacement"),
            ({"displacement": 2.5}, "displacement"),
            ({"rotate_ratio": 1.5}, "rotate_ratio"),
            ({"displacement_key": "DISP"}, "displacement"),
            ({"p": 2}, "p"),
        ],
    ),
)
register(
    "Rescale",
    Case(
        make=lambda **kw: fg.Rescale(**{"low": 0.7, "high": 1.3, "p": 0.9, **kw}),
        upstream=lambda: sources() + fg.RandomLocation(),
        has_p=True,
        bad_args=[
            ({"low": 0}, "low"),
            ({"low": 1.5, "high": 1.2}, "high"),
            ({"high": "big"}, "high"),
            ({"fix_aspect": "yes"}, "fix_aspect"),
            ({"p": -0.5}, "p"),
        ],
    ),
)
register(
    "MissingSection",
    Case(
        make=lambda **kw: fg.MissingSection(**{"num_sections": 2, "p": 0.9, **kw}),
        upstream=lambda: sources() + fg.RandomLocation(),
        has_p=True,
        bad_args=[
            ({"num_sections": 0}, "num_sections"),
            ({"num_sections": 1.5}, "num_sections"),
            ({"p": 1.5}, "p"),
        ],
    ),
)
register(
    "Squeeze",
    Case(
        make=lambda **kw: fg.Squeeze(**{"arrays": [RAW, LABELS], "axis": 0, **kw}),
        upstream=lambda: sources() + fg.Unsqueeze([RAW, LABELS]),
        bad_args=[({"arrays": RAW}, "arrays"), ({"arrays": ["RAW"]}, "arrays"), ({"axis": -1}, "axis")],
    ),
)
register(
    "Unsqueeze",
    Case(
        make=lambda **kw: fg.Unsqueeze(**{"arrays": [RAW, MASK], "axis": 0, **kw}),
        bad_args=[({"arrays": []}, "arrays"), ({"arrays": [POINTS]}, "arrays"), ({"axis": 0.5}, "axis")],
    ),
)


# -- issue 11: intensity and artifact nodes ---------------------------------------------------------
def _intensity_case(cls: Any, bad: list[tuple[dict[str, Any], str]], **defaults: Any) -> Case:
    return Case(
        make=lambda **kw: cls(**{"array": RAW, "p": 0.9, **defaults, **kw}),
        has_p=True,
        bad_args=[({"array": "RAW"}, "array"), ({"p": 1.5}, "p"), *bad],
    )


register(
    "CutBlur",
    _intensity_case(
        fg.CutBlur,
        [({"length_ratio": 2.0}, "length_ratio"), ({"down_ratio_min": 9.0}, "down_ratio_min")],
        length_ratio=0.5,
    ),
)
register(
    "CutNoise",
    _intensity_case(fg.CutNoise, [({"mode": "salt"}, "mode"), ({"scale": -1.0}, "scale")], length_ratio=0.5),
)
register(
    "MissingParts",
    _intensity_case(
        fg.MissingParts, [({"iterations": -1}, "iterations"), ({"iterations": 1.5}, "iterations")], iterations=3
    ),
)
register(
    "MotionBlur",
    _intensity_case(fg.MotionBlur, [({"kernel_size": 4}, "kernel_size"), ({"sections": 0}, "sections")], kernel_size=5),
)
register(
    "GreyAugment",
    _intensity_case(fg.GreyAugment, [({"mode": "4D"}, "mode"), ({"contrast_factor": -1.0}, "contrast_factor")]),
)
register(
    "XYMasking",
    _intensity_case(
        fg.XYMasking,
        [
            ({"num_masks_x": (3, 1)}, "num_masks_x"),
            ({"mask_y_length": -2}, "mask_y_length"),
            ({"masks": [RAW, "LABELS"]}, "masks"),
            ({"axes": (-1, -1)}, "axes"),
            ({"fill_value": "zero"}, "fill_value"),
        ],
        num_masks_x=(1, 2),
        num_masks_y=1,
        mask_x_length=(2, 4),
        mask_y_length=3,
        masks=[LABELS, MASK],
    ),
)


# -- issue 11: OneOf and SomeOf --------------------------------------------------------------------
def _composition_children() -> list[Any]:
    """Fresh children for OneOf/SomeOf: one that grows the request, one that does not, one that flips."""
    return [
        fg.ElasticAugment([2, 10, 10], [0, 1, 1], [0, 0.8]),
        fg.IntensityAugment(RAW, 0.8, 1.2, -0.1, 0.1, z_section_wise=True),
        fg.SimpleAugment(transpose_only=(1, 2)),
    ]


register(
    "OneOf",
    Case(
        make=lambda **kw: fg.OneOf(**{"nodes": _composition_children(), "weights": [2, 1, 1], **kw}),
        upstream=lambda: sources() + fg.RandomLocation(),
        has_p=True,
        bad_args=[
            ({"nodes": []}, "nodes"),
            ({"nodes": [fg.Normalize(RAW), "IntensityAugment"]}, "nodes"),
            ({"weights": [1, 1]}, "weights"),
            ({"weights": [1, -1, 1]}, "weights"),
            ({"weights": [0, 0, 0]}, "weights"),
            ({"p": 1.5}, "p"),
        ],
    ),
)
register(
    "SomeOf",
    Case(
        make=lambda **kw: fg.SomeOf(**{"nodes": _composition_children(), "n": 2, **kw}),
        upstream=lambda: sources() + fg.RandomLocation(),
        has_p=True,
        bad_args=[
            ({"nodes": fg.Normalize(RAW)}, "nodes"),
            ({"n": 4}, "n"),
            ({"n": 0}, "n"),
            ({"n": 1.5}, "n"),
            ({"replace": "no"}, "replace"),
            ({"p": -0.5}, "p"),
        ],
    ),
)


# -- gunpowder's RasterizeGraph -------------------------------------------------------------------------
_RASTER = fg.ArrayKey("RASTER")


def _raster_request(seed: int = 0) -> fg.BatchRequest:
    """:func:`default_request` with the raster of POINTS where POINTS is requested, but shifted: the graph
    (and the mask) are asked for in the union of their own ROI and the raster's context."""
    request = default_request(seed)
    request[_RASTER] = fg.ArraySpec(roi=fg.Roi((12, 30, 30), (28, 40, 40)))
    return request


register(
    "RasterizeGraph",
    Case(
        make=lambda **kw: fg.RasterizeGraph(
            **{
                "graph": POINTS,
                "array": _RASTER,
                "array_spec": fg.ArraySpec(voxel_size=VOXEL_SIZE),
                "settings": fg.RasterizationSettings(radius=(8, 6, 6), mask=MASK, inner_radius_fraction=0.3),
                **kw,
            }
        ),
        request=_raster_request,
        bad_args=[
            ({"graph": RAW}, "graph"),
            ({"array": POINTS}, "array"),
            ({"array_spec": {"voxel_size": VOXEL_SIZE}}, "array_spec"),
            ({"settings": 2.0}, "settings"),
            ({"settings": fg.RasterizationSettings(2.0, fg_value=256)}, "fg_value"),
        ],
    ),
)
