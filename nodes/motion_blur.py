"""MotionBlur: a horizontal or vertical line kernel on a few random sections."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from flowgraph.array import Array
from flowgraph.batch import Batch
from flowgraph.errors import ConfigError
from flowgraph.keys import ArrayKey
from flowgraph.request import BatchRequest
from flowgraph.validate import array_key, number

from .augment import RandomAugment
from .cut_blur import requested_shape, setup_intensity
from .sections import data_axis, section_index

_NAME = "MotionBlur"


def motion_blur(section: np.ndarray, kernel_size: int, axis: int) -> np.ndarray:
    """The mean over ``kernel_size`` voxels along data axis ``axis`` (reflected at the borders).

    ``scipy.ndimage.uniform_filter1d`` is the line kernel ``ones(k) / k`` of pytorch_connectomics'
    ``cv2.filter2D`` (same border rule, cv2's reflect-101 is scipy's "mirror") without cv2, in one
    running-sum pass whatever the kernel size.

    Example:
        >>> motion_blur(np.array([[0.0, 0.0, 3.0, 0.0, 0.0]]), 3, -1)
        array([[0., 1., 1., 1., 0.]])
    """
    return ndimage.uniform_filter1d(section, kernel_size, axis=axis, mode="mirror")


class MotionBlur(RandomAugment):
    """Blur up to ``sections`` random sections along a line (x or y, drawn per batch).

    Args:
        array: the float intensity array.
        sections: how many distinct sections (along the first spatial axis) to blur; a 2-D array
            is one section.
        kernel_size: the odd length of the line kernel (a normalised mean over that many voxels).
        p: probability that the node acts on a request.

    Requires: ``array`` float, finite, at least 2 spatial axes. Updates: ``array``. Request: unchanged.

    Randomness: the gate, the direction (horizontal: along x, the last axis, or vertical: along y),
    the sections (without replacement; pytorch_connectomics draws with replacement and may blur a
    section twice).

    Raises:
        ConfigError: bad arguments. SetupError: ``array`` missing, not float or not 2-D+.
        NonFiniteError: NaN or inf in ``array`` (checked by the kit for every request).

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> data = np.zeros((3, 9, 9), np.float32); data[:, 4, 4] = 1
        >>> spec = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (3, 9, 9)), voxel_size=(1, 1, 1))
        >>> source = fg.ArraySource(raw, fg.Array(data, spec))
        >>> request = fg.BatchRequest(random_seed=0)
        >>> request[raw] = fg.ArraySpec(roi=fg.Roi((0, 0, 0), (3, 9, 9)))
        >>> with fg.build(source + fg.MotionBlur(raw, sections=1, kernel_size=3, p=1.0)) as p:
        ...     out = p.request_batch(request)[raw].data
        >>> sorted(int((s > 0).sum()) for s in out)  # one section's dot became a line of three
        [1, 1, 3]
    """

    def __init__(self, array: ArrayKey, sections: int = 2, kernel_size: int = 11, p: float = 0.5) -> None:
        self.array: ArrayKey = array_key(_NAME, "array", array)
        self.sections = number(_NAME, "sections", sections, 1, integer=True)
        self.kernel_size = number(_NAME, "kernel_size", kernel_size, 1, integer=True)
        if self.kernel_size % 2 == 0:
            raise ConfigError(f"{_NAME}: kernel_size must be odd (the kernel is centred), got {kernel_size}.")
        super().__init__(_NAME, p)

    def setup(self) -> None:
        setup_intensity(self, self.array, min_dims=2)

    def draw_params(self, rng: np.random.Generator, request: BatchRequest) -> tuple[int, np.ndarray]:
        shape = requested_shape(self, self.array, request)
        horizontal = rng.random() > 0.5
        count = shape[0] if len(shape) > 2 else 1
        chosen = np.sort(rng.choice(count, min(self.sections, count), replace=False))
        return (-1 if horizontal else -2), chosen

    def augment(self, batch: Batch, request: BatchRequest, params: tuple[int, np.ndarray]) -> Batch:
        array = batch[self.array]
        assert isinstance(array, Array)
        axis, chosen = params
        dims = array.roi.dims
        data = array.data if array.data.flags.writeable else array.data.copy()
        index = section_index(data.ndim, data_axis(data.ndim, dims, 0), chosen) if dims > 2 else (Ellipsis,)
        region = data[index]  # a copy (fancy indexing): blurred, then written back
        data[index] = motion_blur(region, self.kernel_size, axis)
        return Batch({self.array: Array.trusted(data, array.spec)})


__all__ = ["MotionBlur", "motion_blur"]
