"""The pictures, looked at as a person would, on the test stack's data after the demo workload.

`xf report --html --pdf` of last month: the HTML opened in headless Chromium (Debian's) and screenshot;
the PDF turned into page images by pdftoppm. Each fails if a chart is missing or empty, text runs out
of its box or off the page, or a character is drawn with a font other than the embedded one (where a
reader's machine without it shows boxes: tofu). `xf dashboards preview`: every panel drawn.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fontTools.ttLib import TTFont
from operators_demo import DemoRun, previous_month
from PIL import Image
from pixels import coloured, ink
from playwright.sync_api import Browser, Page, sync_playwright

from services.cli import main
from services.common.settings import get_settings
from services.dashboards.boards import BOARDS
from services.dashboards.preview import BANNER_PX, COLUMN_PX, ROW_PX, layout
from services.report.fonts import EMBEDDED_FAMILY

CHARTS = 7  # volume by day, by category, by county; two unit rankings; deadlines; durations


@dataclass(frozen=True)
class Pictures:
    period: str
    html: Path
    pdf: Path
    previews: Path


@pytest.fixture(scope="module")
def pictures(demo_run: DemoRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pictures]:
    """One run of each command, as an operator types them (the settings come from the stack's environment)."""
    get_settings.cache_clear()
    out = tmp_path_factory.mktemp("pictures")
    period = previous_month(demo_run)
    assert main(["report", "--period", period, "--html", "--pdf", "--no-files", "--out", str(out)]) == 0
    assert main(["dashboards", "preview", "--out", str(out / "dashboards")]) == 0
    yield Pictures(period, out / f"xinfang-{period}.html", out / f"xinfang-{period}.pdf", out / "dashboards")
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is missing: scripts/bootstrap installs it"
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=args)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def page(pictures: Pictures, browser: Browser) -> Iterator[Page]:
    # `pictures` first: it runs asyncio, which cannot run inside Playwright's loop.
    opened = browser.new_page(viewport={"width": 1000, "height": 900})
    opened.goto(pictures.html.as_uri())
    opened.evaluate("document.fonts.ready.then(() => true)")
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def screenshot(page: Page, pictures: Pictures) -> Image.Image:
    path = pictures.html.with_suffix(".png")
    page.screenshot(path=str(path), full_page=True)
    return Image.open(path).convert("RGB")


def main_changes(page: Page) -> list[str]:
    return [
        str(t)
        for t in page.eval_on_selector_all("ul.changes li", "items => items.map(li => li.firstChild.textContent)")
    ]


def test_every_chart_is_there_and_shows_data(page: Page, screenshot: Image.Image) -> None:
    charts: list[dict[str, Any]] = page.eval_on_selector_all(
        "figure.chart",
        """figures => figures.map(f => {
            const img = f.querySelector('img');
            const r = img ? img.getBoundingClientRect() : null;
            return {caption: f.querySelector('figcaption').innerText,
                    loaded: !!img && img.complete && img.naturalWidth > 0,
                    x: r ? r.left + scrollX : 0, y: r ? r.top + scrollY : 0, w: r ? r.width : 0, h: r ? r.height : 0};
        })""",
    )
    assert len(charts) == CHARTS
    for chart in charts:
        assert chart["loaded"] and chart["w"] > 500 and chart["h"] > 150, chart
        box = (chart["x"], chart["y"], chart["x"] + chart["w"], chart["y"] + chart["h"])
        seen = screenshot.crop(tuple(round(v) for v in box))
        assert coloured(seen) > 0.002, f"{chart['caption']}: no data drawn"


def test_no_text_runs_out_of_its_box_or_the_page(page: Page, screenshot: Image.Image) -> None:
    overflowing = page.evaluate(
        """() => {
            const right = document.body.getBoundingClientRect().right;
            const found = [];
            for (const el of document.body.querySelectorAll('*')) {
                const r = el.getBoundingClientRect();
                if (r.width === 0) continue;
                const clipped = el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1;
                if (clipped || r.right > right + 0.5) found.push(el.tagName + ': ' + el.textContent.slice(0, 60));
            }
            return found;
        }"""
    )
    assert overflowing == []
    body = page.evaluate("(() => { const r = document.body.getBoundingClientRect(); return [r.left, r.right]; })()")
    left, right = round(body[0]), round(body[1])
    assert ink(screenshot.crop((0, 0, left - 1, screenshot.height))) == 0
    assert ink(screenshot.crop((right + 1, 0, screenshot.width, screenshot.height))) == 0


def test_every_character_is_drawn_with_the_embedded_font(page: Page, pictures: Pictures) -> None:
    faces = page.evaluate("[...document.fonts].map(f => [f.family.replaceAll('\"', ''), f.status])")
    assert [EMBEDDED_FAMILY, "loaded"] in faces
    # The font the report carries has every character of its text ...
    match = re.search(r'data:font/otf;base64,([A-Za-z0-9+/=]+)"', pictures.html.read_text(encoding="utf-8"))
    assert match
    cmap = TTFont(io.BytesIO(base64.b64decode(match.group(1)))).getBestCmap()
    text = page.evaluate("document.body.innerText")
    assert {ch for ch in text if not ch.isspace() and ord(ch) not in cmap} == set()
    # ... and Chromium drew every glyph with it: no fallback to a font the reader may not have.
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    nodes = cdp.send("DOM.querySelectorAll", {"nodeId": root, "selector": "body *"})["nodeIds"]
    others: set[str] = set()
    for node in nodes:
        for font in cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]:
            if not font["isCustomFont"]:
                others.add(font["familyName"])
    assert others == set(), f"text drawn with fonts the report does not carry: {others}"
    assert len(main_changes(page)) >= 4


def pdf_tool(*args: str) -> str:
    assert shutil.which(args[0]), f"{args[0]} is missing: scripts/bootstrap installs poppler-utils"
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=120).stdout


def test_the_pdf_pages_as_a_person_sees_them(pictures: Pictures, page: Page) -> None:
    pdf_tool("pdftoppm", "-r", "60", "-png", str(pictures.pdf), str(pictures.pdf.with_suffix("")) + "-page")
    pages = sorted(pictures.pdf.parent.glob(f"{pictures.pdf.stem}-page*.png"))
    assert len(pages) >= 3
    margin = 20  # px at 60 dpi ≈ 8 mm: the @page margins are 12 mm
    for path in pages:
        image = Image.open(path).convert("RGB")
        assert ink(image) > 0.01, f"{path.name} is blank"
        for strip in ((0, 0, margin, image.height), (image.width - margin, 0, image.width, image.height)):
            assert ink(image.crop(strip)) == 0, f"{path.name}: something runs into the margin"
    assert sum(coloured(Image.open(p)) for p in pages) > 0.02
    # Every chart is in the PDF as a picture of its full size.
    listed = pdf_tool("pdfimages", "-list", str(pictures.pdf)).splitlines()[2:]
    large = [line for line in listed if int(line.split()[3]) >= 800]
    assert len(large) >= CHARTS
    # Every font is embedded (Chromium writes the web font as Type 3 glyphs): a reader's viewer substitutes
    # nothing. That it is the report's own font, with every glyph, the HTML test checks in the same renderer.
    fonts = pdf_tool("pdffonts", str(pictures.pdf)).splitlines()[2:]
    embedded = [re.search(r"(yes|no)\s+(yes|no)\s+(yes|no)\s+\d+\s+\d+$", line) for line in fonts]
    assert fonts and all(m is not None and m.group(1) == "yes" for m in embedded), fonts
    # And the text is all there (not clipped at a page edge): the main changes, word for word.
    text = re.sub(r"\s+", "", pdf_tool("pdftotext", str(pictures.pdf), "-"))
    assert "信访形势分析" in text
    for sentence in main_changes(page):
        assert re.sub(r"\s+", "", sentence) in text


@pytest.mark.parametrize("board", BOARDS, ids=lambda b: b.uid)
def test_dashboard_previews_draw_every_panel(pictures: Pictures, board: Any) -> None:
    image = Image.open(pictures.previews / f"{board.uid}.png").convert("RGB")
    boxes = layout(board)
    assert image.size == (24 * COLUMN_PX, BANNER_PX + max(b.y + b.h for b in boxes) * ROW_PX + 10)
    for box in boxes:
        if box.kind == "row":
            continue
        body = image.crop(
            (
                box.x * COLUMN_PX + 10,
                BANNER_PX + box.y * ROW_PX + 32,
                (box.x + box.w) * COLUMN_PX - 10,
                BANNER_PX + (box.y + box.h) * ROW_PX - 8,
            )
        )
        assert ink(body) > 0.001, f"{board.uid}: {box.title} is blank"
