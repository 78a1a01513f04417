"""The row the picture scripts save: panels side by side, 8 white pixels apart."""

from __future__ import annotations

import numpy as np
from PIL import Image


def save_row(path: str, panels: list[np.ndarray], gap: int = 8) -> None:
    """Save uint8 ``panels`` (all grey ``(h, w)`` or all RGB ``(h, w, 3)``, one height) as one PNG row."""
    white = np.full((panels[0].shape[0], gap, *panels[0].shape[2:]), 255, np.uint8)
    row = [panels[0]]
    for panel in panels[1:]:
        row += [white, panel]
    Image.fromarray(np.concatenate(row, axis=1)).save(path, optimize=True)
