"""Reproducible randomness: generators derived from a request's seed and a stable path.

Nothing here touches numpy's or Python's global random state.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np

_WORD = 2**32
#: seeds lie in [0, SEED_MODULUS); the seed after ``s`` is ``(s + 1) % SEED_MODULUS``
SEED_MODULUS = 2**63


def seed_stream(seed: int, start: int = 1) -> Iterator[int]:
    """The seeds a built pipeline gives after ``seed``: ``seed + start, seed + start + 1, ...``
    modulo ``SEED_MODULUS``. The one next-seed rule: unseeded requests, PreCache's prefetching,
    Stack's upcoming repetitions, ``flowgraph run --seed`` and previews all follow it.

    Example:
        >>> from flowgraph.rng import seed_stream
        >>> import itertools
        >>> list(itertools.islice(seed_stream(2**63 - 2), 3))
        [9223372036854775807, 0, 1]
        >>> list(itertools.islice(seed_stream(5, start=0), 2))
        [5, 6]
    """
    return ((seed + i) % SEED_MODULUS for i in itertools.count(start))


def _entropy(seed: int, path: tuple[int, ...]) -> list[int]:
    """An unambiguous word sequence for (seed, *path): a length, then two 32-bit words per value.

    ``SeedSequence`` on the plain list would treat ``(s, p)`` and ``(s, p, 0)`` alike and split
    large values into a variable number of words; a fixed layout keeps every path distinct.
    """
    words = [len(path)]
    for value in (seed, *path):
        value = int(value)
        if not 0 <= value < _WORD * _WORD:
            raise ValueError(f"seeds and path entries must lie in [0, 2**64), got {value}")
        words += [value % _WORD, value // _WORD]
    return words


def derive_seed(seed: int, *path: int) -> int:
    """A new seed in [0, 2**63) determined by ``seed`` and the integers in ``path``."""
    state = np.random.SeedSequence(_entropy(seed, path)).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) | (int(state[1]) >> 1)


def generator(seed: int, *path: int) -> np.random.Generator:
    """A numpy Generator determined by ``seed`` and ``path``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(_entropy(seed, path))))


__all__ = ["SEED_MODULUS", "derive_seed", "generator", "seed_stream"]
