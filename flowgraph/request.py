"""BatchRequest: what a caller wants (key -> spec) and the seed that makes it reproducible."""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from flowgraph.coordinate import Coordinate
from flowgraph.errors import ConfigError
from flowgraph.keys import ArrayKey, GraphKey, Key
from flowgraph.roi import Roi
from flowgraph.specs import ArraySpec, GraphSpec, SpecMap

_MAX_SEED = 2**63 - 1


def fresh_seed() -> int:
    """A seed from the operating system's entropy (never from global random state)."""
    return int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


class BatchRequest(SpecMap):
    """key -> spec of what to deliver, plus ``random_seed``.

    Args:
        specs: optional initial key -> spec mapping.
        random_seed: non-negative int. If omitted, the pipeline assigns one when the request is
            made (consecutive seeds from a random start). Same seed and same pipeline give the
            same batch, bit for bit.

    Example:
        >>> raw = ArrayKey("RAW")
        >>> request = BatchRequest(random_seed=1)
        >>> request.add(raw, (80, 40), voxel_size=(40, 4))
        >>> request[raw].roi
        Roi([-40:40, -20:20])
    """

    def __init__(self, specs: Any = None, random_seed: int | None = None) -> None:
        super().__init__(specs)
        if random_seed is not None and (
            isinstance(random_seed, bool)
            or not isinstance(random_seed, numbers.Integral)
            or not 0 <= random_seed <= _MAX_SEED
        ):
            raise ConfigError(f"BatchRequest: random_seed must be an int in [0, 2**63), got {random_seed!r}.")
        self.random_seed: int | None = None if random_seed is None else int(random_seed)
        # keys whose ROI was centred by add() without a voxel size; the pipeline snaps them
        self._centred: set[Key] = set()

    def add(
        self,
        key: Key,
        shape: Iterable[int],
        voxel_size: Iterable[int] | None = None,
        directed: bool | None = None,
    ) -> None:
        """Request ``key`` with a ROI of ``shape`` (world units) centred on the origin.

        The offset is ``-(shape // 2)`` floored onto the voxel grid, so requests of different
        sizes share (up to one voxel) a centre, as in gunpowder. Without ``voxel_size`` the
        pipeline snaps the offset onto the array's grid when the request is made.
        """
        shp = Coordinate(shape)
        if not shp.is_bounded() or any(s <= 0 for s in shp.ints()):
            raise ConfigError(f"BatchRequest.add({key}): shape must be positive integers, got {tuple(shp)}.")
        offset = -(shp // 2)
        if isinstance(key, ArrayKey):
            vs = None if voxel_size is None else Coordinate(voxel_size)
            if vs is not None:
                if len(vs) != len(shp) or any(v is None or v <= 0 for v in vs):
                    raise ConfigError(
                        f"BatchRequest.add({key}): voxel_size must be {len(shp)} positive integers, got {voxel_size!r}."
                    )
                if shp % vs != Coordinate((0,) * len(shp)):
                    raise ConfigError(
                        f"BatchRequest.add({key}): shape {shp} is not a multiple of voxel_size {vs}; "
                        "give the shape in world units (voxels * voxel_size)."
                    )
                offset = (offset // vs) * vs
            self[key] = ArraySpec(roi=Roi(offset, shp), voxel_size=vs)
            if vs is None:
                self._centred.add(key)
        elif isinstance(key, GraphKey):
            self[key] = GraphSpec(roi=Roi(offset, shp), directed=directed)
        else:
            raise ConfigError(f"BatchRequest.add: key must be an ArrayKey or GraphKey, got {key!r}.")

    def is_centred(self, key: Key) -> bool:
        return key in self._centred

    def __setitem__(self, key: Key, spec: Any) -> None:
        super().__setitem__(key, spec)
        if hasattr(self, "_centred"):
            self._centred.discard(key)

    def copy(self) -> BatchRequest:
        new: BatchRequest = super().copy()
        new._centred = set(self._centred)
        return new

    def with_seed(self, seed: int) -> BatchRequest:
        """A copy with another ``random_seed``."""
        new = self.copy()
        new.random_seed = seed
        return new

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f"  random_seed={self.random_seed})"


__all__ = ["BatchRequest", "fresh_seed"]
