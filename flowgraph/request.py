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
        Roi([0:80, 0:40])
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
        # keys whose ROI add() placed without knowing the voxel size; the pipeline snaps them
        self._centred: set[Key] = set()

    def add(
        self,
        key: Key,
        shape: Iterable[int],
        voxel_size: Iterable[int] | None = None,
        directed: bool | None = None,
        placeholder: bool = False,
    ) -> None:
        """Request ``key`` with a ROI of ``shape`` (world units), centred on the other ROIs.

        As in gunpowder, the new ROI starts at the origin and then every ROI of the request (of
        the same number of axes) is moved so that its centre is the centre of their union: ROIs
        added with ``add`` share a centre, and the largest one starts at the origin. flowgraph
        then floors each moved array ROI's offset onto its voxel grid: here with ``voxel_size``
        (or the voxel size its spec already has), otherwise in the pipeline when the request is
        made, with the voxel size the pipeline provides. A ROI can so lie up to one voxel below
        the common centre; gunpowder leaves it off the grid.

        With ``placeholder=True`` the key's ROI takes part in the negotiation (RandomLocation
        keeps it inside the data, a warp reads around it) but no data is delivered for it.

        Example:
            >>> raw, labels = ArrayKey("RAW"), ArrayKey("LABELS")
            >>> request = BatchRequest()
            >>> request.add(raw, (100, 100))
            >>> request.add(labels, (40, 40), voxel_size=(4, 4))
            >>> request[raw].roi, request[labels].roi
            (Roi([0:100, 0:100]), Roi([28:68, 28:68]))
        """
        shp = Coordinate(shape)
        if not shp.is_bounded() or any(s <= 0 for s in shp.ints()):
            raise ConfigError(f"BatchRequest.add({key}): shape must be positive integers, got {tuple(shp)}.")
        origin = Coordinate((0,) * len(shp))
        if isinstance(key, ArrayKey):
            vs = None if voxel_size is None else Coordinate(voxel_size)
            if vs is not None:
                if len(vs) != len(shp) or any(v is None or v <= 0 for v in vs):
                    raise ConfigError(
                        f"BatchRequest.add({key}): voxel_size must be {len(shp)} positive integers, got {voxel_size!r}."
                    )
                if shp % vs != origin:
                    raise ConfigError(
                        f"BatchRequest.add({key}): shape {shp} is not a multiple of voxel_size {vs}; "
                        "give the shape in world units (voxels * voxel_size)."
                    )
            self[key] = ArraySpec(roi=Roi(origin, shp), voxel_size=vs, placeholder=placeholder)
        elif isinstance(key, GraphKey):
            self[key] = GraphSpec(roi=Roi(origin, shp), directed=directed, placeholder=placeholder)
        else:
            raise ConfigError(f"BatchRequest.add: key must be an ArrayKey or GraphKey, got {key!r}.")
        self._centre_rois(key, len(shp))

    def _centre_rois(self, added: Key, dims: int) -> None:
        """Centre every ``dims``-D ROI on the centre of their union (gunpowder's rule), on the grid."""
        specs = [
            (key, spec)
            for key, spec in self.items()
            if spec.roi is not None and spec.roi.dims == dims and not (isinstance(spec, ArraySpec) and spec.nonspatial)
        ]
        total = None
        for _, spec in specs:
            total = spec.roi if total is None else total.union(spec.roi)  # type: ignore[arg-type]
        assert total is not None  # the added ROI is one of them
        centre = total.center
        for key, spec in specs:
            roi = spec.roi
            assert roi is not None
            offset = Coordinate(
                o if c is None or s is None else c - s // 2 for o, s, c in zip(roi.offset, roi.shape, centre)
            )
            vs = spec.voxel_size if isinstance(spec, ArraySpec) else None
            if vs is not None:
                offset = offset - offset % vs  # floored onto the grid
            if offset != roi.offset:  # a new spec: the caller may share the old one elsewhere
                self._specs[key] = spec.with_roi(Roi(offset, roi.shape))
            if isinstance(spec, ArraySpec) and vs is None and (key == added or offset != roi.offset):
                self._centred.add(key)

    def is_centred(self, key: Key) -> bool:
        return key in self._centred

    def __setitem__(self, key: Key, spec: Any) -> None:
        if isinstance(spec, Roi):  # gunpowder's ``deps[key] = roi``: a spec with just that ROI
            spec = ArraySpec(roi=spec) if isinstance(key, ArrayKey) else GraphSpec(roi=spec)
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
