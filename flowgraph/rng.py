"""Reproducible randomness: generators derived from a request's seed and a stable path.

Nothing here touches numpy's or Python's global random state.
"""

from __future__ import annotations

import numpy as np


def derive_seed(seed: int, *path: int) -> int:
    """A new seed in [0, 2**63) determined by ``seed`` and the integers in ``path``."""
    state = np.random.SeedSequence([seed, *path]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) | (int(state[1]) >> 1)


def generator(seed: int, *path: int) -> np.random.Generator:
    """A numpy Generator determined by ``seed`` and ``path``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *path])))


__all__ = ["derive_seed", "generator"]
