"""The CJK font of the pictures: Noto Sans CJK SC from Debian's fonts-noto-cjk (scripts/bootstrap installs it).

Charts (matplotlib) draw with it; the HTML report embeds the subset of it that its text uses, so the file
shows the same glyphs on a machine without CJK fonts and needs no network. A character the font lacks is
an error here, never a box (tofu) in front of a reader.
"""

from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

FAMILY = "Noto Sans CJK SC"
EMBEDDED_FAMILY = "XF Noto Sans CJK SC"  # the name the report's CSS gives its embedded subset
FONT_DIRS = (Path("/usr/share/fonts/opentype/noto"), Path("/usr/share/fonts/truetype/noto"))
FONT_FILE = "NotoSansCJK-Regular.ttc"


class MissingFont(RuntimeError):
    pass


class MissingGlyph(RuntimeError):
    pass


@cache
def font_path() -> Path:
    for directory in FONT_DIRS:
        if (directory / FONT_FILE).exists():
            return directory / FONT_FILE
    raise MissingFont(
        f"{FONT_FILE} not found in {', '.join(map(str, FONT_DIRS))}: install fonts-noto-cjk (scripts/bootstrap)"
    )


@cache
def _face_number() -> int:
    from fontTools.ttLib import TTCollection

    collection = TTCollection(str(font_path()), lazy=True)
    for number, font in enumerate(collection.fonts):
        if font["name"].getDebugName(1) == FAMILY:
            return number
    raise MissingFont(f"{font_path()} has no face {FAMILY!r}")


@cache
def covered() -> frozenset[int]:
    """The code points the font has glyphs for."""
    from fontTools.ttLib import TTFont

    font = TTFont(str(font_path()), fontNumber=_face_number(), lazy=True)
    return frozenset(font.getBestCmap())


def missing(text: str) -> list[str]:
    """Characters of `text` the font cannot draw (white space aside)."""
    have = covered()
    return sorted({ch for ch in text if not ch.isspace() and ord(ch) not in have})


def check_text(text: str) -> None:
    lacking = missing(text)
    if lacking:
        shown = ", ".join(f"{ch!r} U+{ord(ch):04X}" for ch in lacking[:10])
        raise MissingGlyph(f"{FAMILY} has no glyph for {shown}")


def subset_css(text: str) -> str:
    """An @font-face rule with the font's subset for `text` (and printable ASCII) as a data URI."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    check_text(text)
    font = TTFont(str(font_path()), fontNumber=_face_number(), lazy=True)
    options = subset.Options()
    # No OpenType layout features: horizontal CJK and plain Latin need none, and keeping them all costs
    # twice the time and three times the bytes.
    options.layout_features = []
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes={ord(ch) for ch in text} | set(range(0x20, 0x7F)))
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    data = base64.b64encode(out.getvalue()).decode("ascii")
    return (
        f'@font-face {{ font-family: "{EMBEDDED_FAMILY}"; font-style: normal; font-weight: 400 700; '
        f'src: url("data:font/otf;base64,{data}") format("opentype"); }}'
    )


@cache
def configure_matplotlib() -> None:
    """Charts draw with the CJK font (its Latin too, so one text has one look)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager, rcParams

    if FAMILY not in {f.name for f in font_manager.fontManager.ttflist}:
        font_manager.fontManager.addfont(str(font_path()))
    rcParams["font.family"] = [FAMILY]
    rcParams["axes.unicode_minus"] = False
    rcParams["text.parse_math"] = False  # names from the data are text: "$" is not TeX here
    rcParams["svg.fonttype"] = "path"


@contextmanager
def glyphs_required() -> Iterator[None]:
    """Matplotlib only warns of a missing glyph and draws a box: make it an error."""
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=r"Glyph \d+ .*missing from", category=UserWarning)
        try:
            yield
        except UserWarning as warning:
            raise MissingGlyph(str(warning)) from None
