"""CutNoise: noise added to a random cuboid (pytorch_connectomics' CutNoise)."""

from __future__ import annotations

from typing import Any

import numpy as np

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.errors import ConfigError
from flowgraph.keys import ArrayKey
from flowgraph.request import BatchRequest
from flowgraph.validate import array_key, number

from .augment import RandomAugment
from .cut_blur import random_box, requested_shape, setup_intensity

_NAME = "CutNoise"


def cut_noise(data: np.ndarray, box: tuple[slice, ...], noise: np.ndarray) -> np.ndarray:
    """``data`` with ``noise`` added inside ``data[..., box]`` and that region clipped to [0, 1].

    Example:
        >>> cut_noise(np.full((1, 3), 0.5), (slice(None), slice(1, 3)), np.array([[0.25, 0.75]]))
        array([[0.5 , 0.75, 1.  ]])
    """
    out = data if data.flags.writeable else data.copy()
    index: tuple[Any, ...] = (Ellipsis, *box)
    region = out[index]
    region += noise.astype(out.dtype, copy=False)
    np.clip(region, 0, 1, out=region)
    return out


class CutNoise(RandomAugment):
    """Add uniform (or Gaussian) noise to a random cuboid and clip it to [0, 1].

    Args:
        array: the float intensity array.
        length_ratio: the cuboid's length along every spatial axis, as a share of the request's
            (at least one voxel, so a one-section request gets noise in its section).
        mode: ``"uniform"`` (noise in [-scale, scale], as pytorch_connectomics) or ``"gaussian"``
            (standard deviation ``scale``).
        scale: the noise's half-width (or standard deviation).
        p: probability that the node acts on a request.

    Requires: ``array`` float, finite. Updates: ``array``. Request: unchanged.

    Randomness: the gate, the cuboid, then a seed from which the noise (one value per voxel and
    channel of the cuboid) is generated in ``process``.

    Raises:
        ConfigError: bad arguments. SetupError: ``array`` missing or not float.
        NonFiniteError: NaN or inf in ``array`` (checked by the kit for every request).

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> data = np.full((4, 16, 16), 0.5, np.float32)
        >>> spec = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (4, 16, 16)), voxel_size=(1, 1, 1))
        >>> source = fg.ArraySource(raw, fg.Array(data, spec))
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (4, 16, 16)))
        >>> with fg.build(source + fg.CutNoise(raw, length_ratio=0.5, scale=0.1, p=1.0)) as p:
        ...     out = p.request_batch(request)[raw].data
        >>> int((out != 0.5).sum()), bool(abs(out - 0.5).max() <= 0.1)
        (128, True)
    """

    def __init__(
        self, array: ArrayKey, length_ratio: float = 0.25, mode: str = "uniform", scale: float = 0.2, p: float = 0.5
    ) -> None:
        self.array: ArrayKey = array_key(_NAME, "array", array)
        self.length_ratio = number(_NAME, "length_ratio", length_ratio, 0.0, 1.0)
        if mode not in ("uniform", "gaussian"):
            raise ConfigError(f"{_NAME}: mode must be 'uniform' or 'gaussian', got {mode!r}.")
        self.mode = mode
        self.scale = number(_NAME, "scale", scale, 0.0)
        super().__init__(_NAME, p)

    def setup(self) -> None:
        setup_intensity(self, self.array)

    def draw_params(self, rng: np.random.Generator, request: BatchRequest) -> tuple[tuple[slice, ...], int]:
        return random_box(rng, requested_shape(self, self.array, request), self.length_ratio), int(rng.integers(2**63))

    def augment(self, batch: Batch, request: BatchRequest, params: tuple[tuple[slice, ...], int]) -> Batch:
        array = batch[self.array]
        assert isinstance(array, Array)
        box, seed = params
        index: tuple[Any, ...] = (Ellipsis, *box)
        region = array.data[index]
        noise_rng = np.random.default_rng(seed)
        if self.mode == "uniform":
            noise = noise_rng.uniform(-self.scale, self.scale, region.shape)
        else:
            noise = noise_rng.normal(0.0, self.scale, region.shape)
        return Batch({self.array: Array.trusted(cut_noise(array.data, box, noise), array.spec)})


__all__ = ["CutNoise", "cut_noise"]
