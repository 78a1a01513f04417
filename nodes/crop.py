"""Crop: restrict the ROI an array or graph is offered in."""

from __future__ import annotations

from typing import Any

from flowgraph.coordinate import Coordinate
from flowgraph.errors import ConfigError, SetupError
from flowgraph.keys import Key
from flowgraph.provider import BatchFilter
from flowgraph.roi import Roi
from flowgraph.specs import ArraySpec
from flowgraph.validate import any_key


def _fractions(key: Key, param: str, value: Any) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"Crop({key}): {param} must be a sequence of fractions, got {value!r}.") from e
    if any(not 0.0 <= v < 1.0 for v in values):
        raise ConfigError(f"Crop({key}): {param} must hold fractions in [0, 1), got {value!r}.")
    return values


class Crop(BatchFilter):
    """Offer only part of ``key``'s ROI downstream (e.g. to split training and validation).

    Args:
        key: the ArrayKey or GraphKey to crop.
        roi: the ROI to keep (intersected with what upstream offers).
        fraction_negative: per axis, the fraction of the ROI to cut from the lower end.
        fraction_positive: per axis, the fraction of the ROI to cut from the upper end.

    Requires: ``key``.

    Updates: ``key`` (its offered ROI shrinks; data is untouched).

    Request: unchanged; requests outside the cropped ROI are refused.

    Randomness: none.

    Raises:
        ConfigError: bad arguments, or both ``fraction_*`` and ``roi`` given.
        SetupError: ``key`` not provided upstream, or nothing remains after cropping.

    Example:
        >>> import numpy as np, flowgraph as fg
        >>> raw = fg.ArrayKey("RAW")
        >>> source = fg.ArraySource(raw, fg.Array(np.zeros((10, 10), np.uint8),
        ...                         fg.ArraySpec(roi=fg.Roi((0, 0), (10, 10)), voxel_size=(1, 1))))
        >>> with fg.build(source + fg.Crop(raw, fraction_negative=(0.5, 0.0))) as p:
        ...     p.spec[raw].roi
        Roi([5:10, 0:10])
    """

    autoskip = True  # flowgraph's rules for library nodes (see BatchFilter)
    exact_dependencies = True

    def __init__(
        self,
        key: Key,
        roi: Roi | None = None,
        fraction_negative: Any = None,
        fraction_positive: Any = None,
    ) -> None:
        self.key = any_key("Crop", "key", key)
        if roi is not None and not isinstance(roi, Roi):
            raise ConfigError(f"Crop({key}): roi must be a Roi, got {type(roi).__name__}.")
        self.roi = roi
        self.fraction_negative = _fractions(key, "fraction_negative", fraction_negative)
        self.fraction_positive = _fractions(key, "fraction_positive", fraction_positive)
        if roi is not None and (fraction_negative is not None or fraction_positive is not None):
            raise ConfigError(f"Crop({key}): give either roi or fractions, not both.")
        if roi is None and fraction_negative is None and fraction_positive is None:
            raise ConfigError(f"Crop({key}): give roi, fraction_negative or fraction_positive.")

    def setup(self) -> None:
        spec = self.upstream_spec.get(self.key)
        if spec is None or spec.roi is None:
            raise SetupError(f"{self.name}: needs {self.key} with a bounded ROI upstream; add a source for it first.")
        roi = spec.roi
        if self.roi is not None:
            roi = roi.intersect(self.roi)
        else:
            dims = roi.dims
            neg = self.fraction_negative or (0.0,) * dims
            pos = self.fraction_positive or (0.0,) * dims
            if len(neg) != dims or len(pos) != dims:
                raise SetupError(f"{self.name}: fractions need {dims} entries for {self.key}, one per axis.")
            cut_neg = Coordinate(int(s * f) for s, f in zip(roi.shape.ints(), neg))
            cut_pos = Coordinate(int(s * f) for s, f in zip(roi.shape.ints(), pos))
            roi = roi.grow(-cut_neg, -cut_pos)
        if isinstance(spec, ArraySpec) and spec.voxel_size is not None:
            roi = roi.snap_to_grid(spec.voxel_size, mode="shrink")
        if roi.empty():
            raise SetupError(f"{self.name}: nothing of {self.key}'s ROI {spec.roi} remains after cropping.")
        self.updates(self.key, spec.with_roi(roi))
