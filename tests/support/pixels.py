"""What a person sees in a picture, measured: marks in colour (data), ink (anything drawn), blank margins."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

Picture = bytes | Path | Image.Image


def _image(picture: Picture) -> Image.Image:
    if isinstance(picture, Image.Image):
        return picture
    return Image.open(io.BytesIO(picture) if isinstance(picture, bytes) else picture)


def coloured(picture: Picture) -> float:
    """The share of pixels in colour (lines, bars, areas), not white, grey or black (text, axes, grid)."""
    hsv = np.asarray(_image(picture).convert("RGB").convert("HSV"))
    return float(((hsv[..., 1] > 80) & (hsv[..., 2] > 60)).mean())


def ink(picture: Picture, background: int = 235) -> float:
    """The share of pixels darker than the background (anything drawn at all)."""
    grey = np.asarray(_image(picture).convert("L"))
    return float((grey < background).mean())
