"""Synthetic EM-like volumes for demos, tests and benchmarks.

``write_em_volume`` writes a volume that looks like serial-section electron microscopy of
neural tissue: neurons are the cells of a power diagram (a weighted Voronoi tessellation) whose
seeds drift smoothly from section to section, so every neuron is a continuous tube through z;
membranes between neurons are dark, cytoplasm is bright with a per-neuron tint, and the whole
is noisy. ``write_artifacts`` writes an artifact volume for ``DefectAugment``: dark smudges
(``defect_sections/raw``) and blob-shaped alpha masks (``defect_sections/mask``).

Everything is vectorised over blocks of sections and deterministic given the seed (the result
does not depend on the chunk size). Datasets carry ``resolution`` (the voxel size) and
``offset`` (world units) attributes, which ``Hdf5Source`` reads.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import h5py
import numba
import numpy as np

from flowgraph.errors import ConfigError

RAW = "volumes/raw"
NEURON_IDS = "volumes/labels/neuron_ids"
MASK = "volumes/labels/mask"
ARTIFACTS_RAW = "defect_sections/raw"
ARTIFACTS_MASK = "defect_sections/mask"

#: the smallest neuron id; ids are larger than 2**32 so that they exercise uint64 all the way
ID_BASE = 2**32 + 1


def _check_shape(name: str, value: Sequence[int], dims: int = 3) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in value)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"synthetic: {name} must be {dims} positive integers, got {value!r}.") from e
    if len(out) != dims or any(v <= 0 for v in out):
        raise ConfigError(f"synthetic: {name} must be {dims} positive integers, got {value!r}.")
    return out


def _smooth_basis(n: int, knots: int, rng_width: float = 1.0) -> np.ndarray:
    """An (n, knots) matrix of normalised Gaussian weights: ``basis @ g`` interpolates knot values ``g``."""
    x = np.linspace(0.0, knots - 1.0, n)[:, None]
    k = np.arange(knots)[None, :]
    w = np.exp(-0.5 * ((x - k) / rng_width) ** 2)
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], knots: int) -> np.ndarray:
    """Smooth 2-D noise in roughly [-1, 1]: random knot values interpolated separably (two matrix products)."""
    g = rng.standard_normal((knots, knots)).astype(np.float32)
    field = _smooth_basis(shape[0], knots) @ g @ _smooth_basis(shape[1], knots).T
    return field / max(float(np.abs(field).max()), 1e-6)


class _Tessellation:
    """Seeds on a jittered grid of ``cell`` pixels, one per cell, drifting smoothly with z."""

    def __init__(self, shape: tuple[int, int, int], cell: int, seed: int) -> None:
        rng = np.random.default_rng([seed, 1])
        self.cell = cell
        # one margin cell on each side so every pixel has its 3 x 3 neighbourhood of cells
        self.ny = -(-shape[1] // (2 * cell)) + 2  # shape is at full resolution, cell at half
        self.nx = -(-shape[2] // (2 * cell)) + 2
        n = self.ny * self.nx
        self.phase = rng.uniform(0, 2 * np.pi, (2, n)).astype(np.float32)
        self.period = rng.uniform(40, 160, (2, n)).astype(np.float32)  # sections per wobble
        # power-diagram weights make some neurons larger than others
        self.weight = (rng.uniform(0.0, 0.35, n) * cell) ** 2
        self.weight = self.weight.astype(np.float32)
        self.ids = (ID_BASE + rng.permutation(n).astype(np.uint64) * np.uint64(7919)).astype(np.uint64)
        self.tint = rng.uniform(-18, 18, n).astype(np.float32)

    def seeds(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Seed positions (pixels, relative to the image origin) for sections ``z``: two (nz, ny, nx) arrays."""
        zf = z.astype(np.float32)[:, None]
        jitter = 0.5 + 0.33 * np.sin(2 * np.pi * zf[None] / self.period[:, None] + self.phase[:, None])
        gy, gx = np.meshgrid(np.arange(self.ny) - 1, np.arange(self.nx) - 1, indexing="ij")
        sy = (gy.reshape(-1) + jitter[0]) * self.cell
        sx = (gx.reshape(-1) + jitter[1]) * self.cell
        return sy.reshape(-1, self.ny, self.nx), sx.reshape(-1, self.ny, self.nx)

    def labels(self, z: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Cell index and approximate distance to the nearest membrane (pixels) for sections ``z``."""
        sy, sx = self.seeds(z)
        cells = np.empty((len(z), height, width), np.int32)
        gap = np.empty((len(z), height, width), np.float32)
        _power_diagram(
            sy.reshape(len(z), -1).astype(np.float32),
            sx.reshape(len(z), -1).astype(np.float32),
            self.weight,
            self.nx,
            self.cell,
            cells,
            gap,
        )
        return cells, gap


@numba.njit(nogil=True, cache=True)
def _power_diagram(
    sy: np.ndarray, sx: np.ndarray, weight: np.ndarray, nx: int, cell: int, cells: np.ndarray, gap: np.ndarray
) -> None:  # pragma: no cover - compiled
    """For every pixel: the closest seed of the 3 x 3 neighbouring grid cells (power distance
    ``|p - s|^2 - w``) and the distance to the bisector with the second closest,
    ``(d2 - d1) / (2 |s2 - s1|)``."""
    nz, height, width = cells.shape
    for z in range(nz):
        for y in range(height):
            cy = y // cell + 1
            for x in range(width):
                cx = x // cell + 1
                d1 = np.inf
                d2 = np.inf
                b1 = 0
                b2 = 0
                for dy in range(-1, 2):
                    for dx in range(-1, 2):
                        k = (cy + dy) * nx + (cx + dx)
                        ey = y - sy[z, k]
                        ex = x - sx[z, k]
                        d = ey * ey + ex * ex - weight[k]
                        if d < d1:
                            d2, b2 = d1, b1
                            d1, b1 = d, k
                        elif d < d2:
                            d2, b2 = d, k
                ey = sy[z, b1] - sy[z, b2]
                ex = sx[z, b1] - sx[z, b2]
                sep = max(np.sqrt(ey * ey + ex * ex), 1.0)
                cells[z, y, x] = b1
                gap[z, y, x] = (d2 - d1) / (2.0 * sep)


def _upsample2(a: np.ndarray, n1: int, n2: int) -> np.ndarray:
    """Linear 2x upsampling of the last two axes (sample centres aligned, edges clamped), cropped to (n1, n2)."""
    h, w = a.shape[-2:]
    rows = np.empty(a.shape[:-2] + (2 * h, w), a.dtype)
    rows[..., 0::2, :] = a
    rows[..., 1::2, :] = a
    rows *= 0.75
    rows[..., 2::2, :] += 0.25 * a[..., :-1, :]
    rows[..., 0, :] += 0.25 * a[..., 0, :]
    rows[..., 1:-1:2, :] += 0.25 * a[..., 1:, :]
    rows[..., -1, :] += 0.25 * a[..., -1, :]
    rows = rows[..., :n1, :]
    out = np.empty(rows.shape[:-1] + (2 * w,), a.dtype)
    out[..., 0::2] = rows
    out[..., 1::2] = rows
    out *= 0.75
    out[..., 2::2] += 0.25 * rows[..., :-1]
    out[..., 0] += 0.25 * rows[..., 0]
    out[..., 1:-1:2] += 0.25 * rows[..., 1:]
    out[..., -1] += 0.25 * rows[..., -1]
    return out[..., :n2]


def em_sections(
    tess: _Tessellation, z: np.ndarray, height: int, width: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Raw (uint8) and neuron ids (uint64) of sections ``z``; deterministic per section.

    The tessellation and the smooth intensity (per-neuron tint, membranes, texture) are computed
    at half the in-plane resolution and upsampled linearly; the ids by repetition; the grain
    noise is added at full resolution.
    """
    h2, w2 = -(-height // 2), -(-width // 2)
    cells, gap = tess.labels(z, h2, w2)
    low = 190.0 + tess.tint[cells]
    low *= 1.0 - 0.72 * np.exp(-((gap / 1.6) ** 2))
    for i, zi in enumerate(z):
        low[i] += 14.0 * smooth_noise(np.random.default_rng([seed, 2, int(zi)]), (h2, w2), 24)
    raw = _upsample2(low, height, width)
    for i, zi in enumerate(z):
        # grain: a triangular distribution from two random bytes per pixel (cheap, bell-like), sd ~ 10
        grain = np.random.default_rng([seed, 4, int(zi)]).integers(0, 256, (2, height, width), dtype=np.uint8)
        noise = grain[0].astype(np.int16)
        noise += grain[1]
        noise -= 255
        raw[i] += noise * np.float32(0.1)
    np.clip(raw, 0, 255, out=raw)
    cells = np.repeat(np.repeat(cells, 2, axis=1)[:, :height], 2, axis=2)[:, :, :width]
    return raw.astype(np.uint8), tess.ids[cells]


def central_mask(height: int, width: int, fraction: float = 0.8) -> np.ndarray:
    """A (height, width) uint8 ellipse of ones covering the central ``fraction`` of each axis."""
    y = (np.arange(height) + 0.5 - height / 2) / (fraction * height / 2)
    x = (np.arange(width) + 0.5 - width / 2) / (fraction * width / 2)
    return ((y[:, None] ** 2 + x[None, :] ** 2) <= 1.0).astype(np.uint8)


def _attrs(ds: h5py.Dataset, voxel_size: tuple[int, ...], offset: tuple[int, ...]) -> None:
    ds.attrs["resolution"] = np.asarray(voxel_size, dtype=np.int64)
    ds.attrs["offset"] = np.asarray(offset, dtype=np.int64)


def _create(
    f: h5py.File,
    name: str,
    shape: tuple[int, ...],
    dtype: Any,
    compression: str | None,
    voxel_size: tuple[int, ...],
    offset: tuple[int, ...],
) -> h5py.Dataset:
    kwargs: dict[str, Any] = {}
    if compression is not None:
        kwargs = {"compression": compression, "chunks": (1, min(256, shape[1]), min(256, shape[2]))}
    ds = f.create_dataset(name, shape=shape, dtype=dtype, **kwargs)
    _attrs(ds, voxel_size, offset)
    return ds


def write_em_volume(
    path: str | os.PathLike[str],
    shape: Sequence[int] = (100, 1024, 1024),
    voxel_size: Sequence[int] = (40, 4, 4),
    seed: int = 0,
    offset: Sequence[int] = (0, 0, 0),
    cell_size: int = 48,
    compression: str | None = None,
    sections_per_chunk: int = 4,
    threads: int | None = None,
) -> str:
    """Write an EM-like volume with neuron ids and a mask to the HDF5 file ``path``.

    Args:
        path: the file to (over)write.
        shape: (z, y, x) in voxels.
        voxel_size: world size of a voxel, written as the ``resolution`` attribute.
        seed: the random seed; same seed, same volume (whatever ``sections_per_chunk``).
        offset: world offset, written as the ``offset`` attribute.
        cell_size: typical neuron diameter in pixels.
        compression: h5py compression for the datasets (None: contiguous, fastest to read).
        sections_per_chunk: sections generated at once (memory ~ 60 bytes per voxel of a chunk).
        threads: worker threads (numpy releases the GIL); default: up to 2.

    Datasets: ``volumes/raw`` (uint8: bright cytoplasm, dark membranes, noise),
    ``volumes/labels/neuron_ids`` (uint64 ids > 2**32, constant along each neuron) and
    ``volumes/labels/mask`` (uint8 0/1, a central elliptic cylinder covering 80% of y and x).

    Returns:
        ``path`` as a string.

    Example:
        >>> import os, tempfile, h5py
        >>> from flowgraph.synthetic import write_em_volume
        >>> path = write_em_volume(os.path.join(tempfile.mkdtemp(), "em.h5"), shape=(4, 64, 64))
        >>> with h5py.File(path, "r") as f:
        ...     raw, ids = f["volumes/raw"], f["volumes/labels/neuron_ids"]
        ...     raw.dtype, ids.dtype, raw.attrs["resolution"].tolist()
        (dtype('uint8'), dtype('uint64'), [40, 4, 4])
    """
    shp = _check_shape("shape", shape)
    vs = _check_shape("voxel_size", voxel_size)
    off = tuple(int(v) for v in offset)
    if len(off) != 3 or any(o % v for o, v in zip(off, vs)):
        raise ConfigError(f"write_em_volume: offset must be 3 multiples of voxel_size {vs}, got {offset!r}.")
    if int(cell_size) < 4:
        raise ConfigError(f"write_em_volume: cell_size must be >= 4 pixels, got {cell_size!r}.")
    chunk = max(1, int(sections_per_chunk))
    path = os.fspath(path)
    tess = _Tessellation(shp, max(2, int(cell_size) // 2), seed)  # type: ignore[arg-type]
    mask_section = central_mask(shp[1], shp[2])
    starts = list(range(0, shp[0], chunk))

    def work(z0: int) -> tuple[int, np.ndarray, np.ndarray]:
        z = np.arange(z0, min(z0 + chunk, shp[0]))
        raw, ids = em_sections(tess, z, shp[1], shp[2], seed)
        return z0, raw, ids

    with h5py.File(path, "w") as f:
        raw_ds = _create(f, RAW, shp, np.uint8, compression, vs, off)
        ids_ds = _create(f, NEURON_IDS, shp, np.uint64, compression, vs, off)
        mask_ds = _create(f, MASK, shp, np.uint8, compression, vs, off)
        with ThreadPoolExecutor(max_workers=threads or min(2, os.cpu_count() or 1)) as pool:
            for z0, raw, ids in pool.map(work, starts):
                raw_ds[z0 : z0 + len(raw)] = raw
                ids_ds[z0 : z0 + len(raw)] = ids
                mask_ds[z0 : z0 + len(raw)] = np.broadcast_to(mask_section, raw.shape)
    return path


def write_artifacts(
    path: str | os.PathLike[str],
    shape: Sequence[int] = (20, 1024, 1024),
    voxel_size: Sequence[int] = (40, 4, 4),
    seed: int = 0,
    compression: str | None = None,
) -> str:
    """Write an artifact volume for ``DefectAugment(artifact_source=...)`` to ``path``.

    Args:
        path: the file to (over)write.
        shape: (sections, y, x) in voxels.
        voxel_size: written as ``resolution`` (use the raw data's voxel size).
        seed: the random seed.
        compression: h5py compression (None: contiguous).

    Datasets: ``defect_sections/raw`` (uint8: dark smudges with fine texture) and
    ``defect_sections/mask`` (uint8 alpha, 0 = no artifact, 255 = opaque; smooth-edged blobs
    covering roughly a third of each section).

    Returns:
        ``path`` as a string.

    Example:
        >>> import os, tempfile, h5py
        >>> from flowgraph.synthetic import write_artifacts
        >>> path = write_artifacts(os.path.join(tempfile.mkdtemp(), "a.h5"), shape=(2, 32, 32))
        >>> with h5py.File(path, "r") as f:
        ...     f["defect_sections/mask"].shape, f["defect_sections/mask"].dtype
        ((2, 32, 32), dtype('uint8'))
    """
    shp = _check_shape("shape", shape)
    vs = _check_shape("voxel_size", voxel_size)
    path = os.fspath(path)
    h, w = shp[1], shp[2]
    with h5py.File(path, "w") as f:
        raw_ds = _create(f, ARTIFACTS_RAW, shp, np.uint8, compression, vs, (0, 0, 0))
        mask_ds = _create(f, ARTIFACTS_MASK, shp, np.uint8, compression, vs, (0, 0, 0))
        for z in range(shp[0]):
            rng = np.random.default_rng([seed, 3, z])
            blobs = smooth_noise(rng, (h, w), 10)
            threshold = np.quantile(blobs[:: max(1, h // 64), :: max(1, w // 64)], 0.65)
            alpha = np.clip((blobs - threshold) / 0.15, 0.0, 1.0)
            smudge = 70.0 + 35.0 * smooth_noise(rng, (h, w), 30)
            smudge += rng.standard_normal((h, w), dtype=np.float32) * 9.0
            raw_ds[z] = np.clip(smudge, 0, 255).astype(np.uint8)
            mask_ds[z] = np.round(alpha * 255).astype(np.uint8)
    return path


__all__ = [
    "ARTIFACTS_MASK",
    "ARTIFACTS_RAW",
    "ID_BASE",
    "MASK",
    "NEURON_IDS",
    "RAW",
    "central_mask",
    "write_artifacts",
    "write_em_volume",
]
