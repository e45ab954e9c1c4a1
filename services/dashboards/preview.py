"""`xf dashboards preview`: every panel of every dashboard drawn from live data (preview_data.py), one PNG
per dashboard laid out on the dashboard's own grid (the committed Grafana JSON's gridPos), with the
panel's title and unit. Drawn by matplotlib and labelled as a preview on every image: it is not Grafana,
and is meant for reviews of dashboard changes, the README, and offices without Grafana.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.common.settings import PROJECT_ROOT
from services.dashboards.preview_data import PanelData, Series
from services.dashboards.spec import Board, Panel
from services.report import fonts

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DASHBOARD_DIR = PROJECT_ROOT / "deploy" / "grafana" / "dashboards"
COLUMN_PX = 64  # Grafana's grid: 24 columns; a height unit is 30 px plus the gap
ROW_PX = 34
BANNER_PX = 70
DPI = 100
PALETTE = (
    "#3274d9",
    "#e0752d",
    "#37872d",
    "#c4162a",
    "#8f3bb8",
    "#a16800",
    "#1f9bb4",
    "#d44a9a",
    "#6e7f8d",
    "#56a64b",
    "#f2cc0c",
    "#5794f2",
)
TEXT, MUTED, FRAME, GRID = "#1f2329", "#6b7280", "#c8ccd2", "#e4e7eb"
PREVIEW_ZH = "预览：由 xf dashboards preview 根据实时数据绘制，并非 Grafana 截图"
PREVIEW_EN = "PREVIEW drawn by `xf dashboards preview` from live Prometheus and PostgreSQL data, not Grafana"


@dataclass(frozen=True)
class Box:
    kind: str  # a panel kind, or "row"
    title: str
    x: int
    y: int
    w: int
    h: int


def layout(board: Board, directory: Path = DASHBOARD_DIR) -> list[Box]:
    """The panels and rows of the board where the committed dashboard JSON puts them."""
    data = json.loads((directory / board.file).read_text(encoding="utf-8"))
    boxes = []
    for item in data["panels"]:
        grid = item["gridPos"]
        boxes.append(Box(item["type"], item["title"], grid["x"], grid["y"], grid["w"], grid["h"]))
    return boxes


def format_value(value: float | None, unit: str, decimals: int | None = None) -> str:
    if value is None:
        return "—"
    if unit == "percentunit":
        return f"{value * 100:.{1 if decimals is None else decimals}f}%"
    if unit == "s":
        for limit, divisor, name in ((1, 0.001, "ms"), (60, 1, "s"), (3600, 60, "min"), (86400, 3600, "h")):
            if abs(value) < limit:
                return f"{value / divisor:.3g} {name}"
        return f"{value / 86400:.3g} d"
    suffix = {"cpm": " /min", "mps": " /s", "reqps": " req/s"}.get(unit, "")
    if decimals is not None:
        return f"{value:.{decimals}f}{suffix}"
    if abs(value) >= 10000:
        return f"{value / 1000:.3g}k{suffix}"
    return f"{value:.0f}{suffix}" if float(value).is_integer() else f"{value:.3g}{suffix}"


def _cell_text(value: object, panel: Panel) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() else f"{value:.4g}"
    text = str(value)
    return panel.value_names.get(text) or panel.names.get(text) or text


def _style(ax: Axes) -> None:
    ax.set_facecolor("white")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(FRAME)
    ax.tick_params(colors=MUTED, labelsize=7, length=2)
    ax.grid(True, color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)


def _message(ax: Axes, text: str, color: str = MUTED) -> None:
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=9, color=color, transform=ax.transAxes, wrap=True)


def _numbers(times: Sequence[datetime], tz: tzinfo) -> list[float]:
    """Times as matplotlib's date numbers (days since 1970-01-01) on the local clock of the deployment."""
    epoch = datetime(1970, 1, 1)
    return [(t.astimezone(tz).replace(tzinfo=None) - epoch).total_seconds() / 86400 for t in times]


def _aligned(series: Sequence[Series]) -> tuple[list[datetime], list[list[float]]]:
    """The series on one time axis (missing points as 0), for stacking."""
    times = sorted({t for s in series for t in s.times})
    index = {t: i for i, t in enumerate(times)}
    stacked = []
    for s in series:
        values = [0.0] * len(times)
        for t, v in zip(s.times, s.values, strict=False):
            values[index[t]] = v or 0.0
        stacked.append(values)
    return times, stacked


def _timeseries(ax: Axes, panel: Panel, data: PanelData, height_px: float, tz: tzinfo, legend_px: float) -> None:
    import matplotlib.dates as mdates

    _style(ax)
    series = [s for s in data.series if any(v is not None for v in s.values)]
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(series))]
    if panel.stacked and len(series) > 1:
        times, stacked = _aligned(series)
        ax.stackplot(
            _numbers(times, tz), *stacked, colors=colors, alpha=0.55, linewidth=0.8, labels=[s.name for s in series]
        )
    else:
        for s, color in zip(series, colors, strict=True):
            values = [float("nan") if v is None else v for v in s.values]
            x = _numbers(s.times, tz)
            ax.plot(x, values, color=color, linewidth=1.2, label=s.name)
            if len(x) < 3:
                ax.scatter(x, values, color=color, s=8)
    top = max((v for s in series for v in s.values if v is not None), default=0.0)
    ax.set_ylim(0, None if top > 0 else 1)
    ax.yaxis.set_major_formatter(lambda v, _pos: format_value(v, panel.unit, 0 if panel.unit == "short" else None))
    locator = mdates.AutoDateLocator(minticks=3, maxticks=6)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, show_offset=False))  # type: ignore[no-untyped-call]
    shown = min(len(series), max(2, int(height_px // 40)))
    if series:
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(
            handles[:shown],
            [_shorten(label, legend_px - 30) for label in labels[:shown]],
            fontsize=6.5,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
            handlelength=1.2,
            borderaxespad=0,
        )


def _stat(ax: Axes, panel: Panel, data: PanelData, width_px: float) -> None:
    ax.axis("off")
    values = data.series or [Series(panel.zh, [None])]
    n = len(values)
    size = max(11.0, min(30.0, width_px / max(n, 1) / 6.5))
    for i, s in enumerate(values):
        x = (i + 0.5) / n
        last = next((v for v in reversed(s.values) if v is not None), None)
        big = s.name if panel.show_name else format_value(last, panel.unit, panel.decimals)
        ax.text(
            x,
            0.42,
            big,
            ha="center",
            va="center",
            fontsize=size if not panel.show_name else size * 0.55,
            color=PALETTE[0],
            fontweight="bold",
            transform=ax.transAxes,
        )
        if n > 1 and not panel.show_name:
            ax.text(x, 0.9, s.name, ha="center", va="center", fontsize=7, color=MUTED, transform=ax.transAxes)


def _label_px(text: str) -> float:
    """About how wide a label is at the bar gauges' 6.5 pt (CJK characters are twice as wide)."""
    return sum(9.0 if ord(ch) > 0x2E80 else 5.0 for ch in text)


def _label_room(data: PanelData, width: float) -> float:
    return min(width * 0.45, max((_label_px(s.name) for s in data.series), default=40.0) + 14)


def _shorten(text: str, room: float) -> str:
    if _label_px(text) <= room:
        return text
    while text and _label_px(text + "…") > room:
        text = text[:-1]
    return text + "…"


def _bargauge(ax: Axes, panel: Panel, data: PanelData, height_px: float, room: float) -> None:
    _style(ax)
    ax.grid(False, axis="y")
    rows = max(3, int(height_px // 17))
    series = sorted(
        ((s.name, next((v for v in reversed(s.values) if v is not None), 0.0) or 0.0) for s in data.series),
        key=lambda item: -item[1],
    )[:rows]
    series.reverse()
    positions = list(range(len(series)))
    ax.barh(positions, [v for _, v in series], color=PALETTE[0], height=0.7)
    ax.set_yticks(positions, [_shorten(name, room - 14) for name, _ in series], fontsize=6.5)
    top = max((v for _, v in series), default=0.0) or 1.0
    ax.set_xlim(0, top * 1.25)
    ax.xaxis.set_major_formatter(lambda v, _pos: format_value(v, panel.unit))
    for p, (_, value) in zip(positions, series, strict=True):
        ax.text(value, p, " " + format_value(value, panel.unit, panel.decimals), va="center", fontsize=6.5, color=TEXT)


def _table(ax: Axes, panel: Panel, data: PanelData, height_px: float) -> None:
    ax.axis("off")
    fits = max(1, int(height_px // 17) - 1)
    header = [panel.names.get(c, c) for c in data.columns]
    rows = [[_cell_text(v, panel) for v in row] for row in data.rows[:fits]]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    total = sum(min(w, 28) + 2 for w in widths)
    x = 0.0
    for i, title in enumerate(header):
        ax.text(
            x,
            1.0,
            title,
            ha="left",
            va="top",
            fontsize=6.5,
            color=MUTED,
            fontweight="bold",
            transform=ax.transAxes,
            clip_on=True,
        )
        for j, row in enumerate(rows):
            ax.text(
                x,
                1.0 - (j + 1) / (fits + 1),
                row[i][:28],
                ha="left",
                va="top",
                fontsize=6.5,
                color=TEXT,
                transform=ax.transAxes,
                clip_on=True,
            )
        x += (min(widths[i], 28) + 2) / total
    ax.axhline(1.0 - 0.75 / (fits + 1), color=FRAME, linewidth=0.6)
    if len(data.rows) > fits:
        ax.text(
            1.0,
            0.0,
            f"… {len(data.rows)} 行 rows",
            ha="right",
            va="bottom",
            fontsize=6,
            color=MUTED,
            transform=ax.transAxes,
        )


UNIT_NAMES = {"percentunit": "%", "s": "时长 duration", "cpm": "/min", "mps": "/s", "reqps": "req/s"}


def _fit(text: Any, full: str, width_px: float) -> None:
    """A title that does not fit its panel gets smaller, then shorter (ending in …), never wider."""
    renderer = text.figure.canvas.get_renderer()
    for size in (8.0, 7.5, 7.0, 6.5):
        text.set_fontsize(size)
        if text.get_window_extent(renderer).width <= width_px:
            return
    shown = full
    while len(shown) > 1 and text.get_window_extent(renderer).width > width_px:
        shown = shown[:-1]
        text.set_text(shown.rstrip() + "…")


def _draw_panel(figure: Figure, box: Box, panel: Panel, data: PanelData, size: tuple[float, float], tz: tzinfo) -> None:
    from matplotlib.patches import FancyBboxPatch

    fig_w, fig_h = size
    left, top = box.x * COLUMN_PX + 6, BANNER_PX + box.y * ROW_PX + 3
    width, height = box.w * COLUMN_PX - 8, box.h * ROW_PX - 6
    figure.patches.append(
        FancyBboxPatch(
            (left / fig_w, 1 - (top + height) / fig_h),
            width / fig_w,
            height / fig_h,
            boxstyle="round,pad=0,rounding_size=0.002",
            transform=figure.transFigure,
            facecolor="white",
            edgecolor=FRAME,
            linewidth=0.8,
            zorder=-1,  # beneath the panel's axes
        )
    )
    unit = f"  [{UNIT_NAMES[panel.unit]}]" if panel.unit in UNIT_NAMES else ""
    title = figure.text(
        (left + 8) / fig_w,
        1 - (top + 14) / fig_h,
        panel.title + unit,
        fontsize=8,
        color=TEXT,
        fontweight="bold",
        va="center",
        ha="left",
    )
    _fit(title, panel.title + unit, width - 16)
    # The plot area: inside the frame, below the title; time series keep room for axis labels and legend.
    pad_left = 46 if panel.kind == "timeseries" else _label_room(data, width) if panel.kind == "bargauge" else 10
    pad_right = min(170, width * 0.3) if panel.kind == "timeseries" else 12
    pad_bottom = 22 if panel.kind in ("timeseries", "bargauge") else 8
    inner = (
        (left + pad_left) / fig_w,
        1 - (top + height - pad_bottom) / fig_h,
        max(width - pad_left - pad_right, 20) / fig_w,
        max(height - 28 - pad_bottom, 10) / fig_h,
    )
    ax = figure.add_axes(inner)
    inner_height = height - 28 - pad_bottom
    if data.error:
        _message(ax, f"查询失败 Query failed\n{data.error}", color="#c4162a")
    elif data.empty:
        _message(ax, "无数据 No data")
    elif panel.kind == "timeseries":
        _timeseries(ax, panel, data, inner_height, tz, pad_right)
    elif panel.kind == "stat":
        _stat(ax, panel, data, width)
    elif panel.kind == "bargauge":
        _bargauge(ax, panel, data, inner_height, pad_left)
    else:
        _table(ax, panel, data, inner_height)


def draw(board: Board, data: dict[str, PanelData], *, generated: datetime, boxes: list[Box] | None = None) -> bytes:
    """The board as a PNG: its rows and panels where the dashboard puts them, under a preview banner.
    Times are shown on the clock of `generated` (the deployment's time zone)."""
    tz = generated.tzinfo or UTC
    fonts.configure_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    boxes = boxes if boxes is not None else layout(board)
    panels = {p.title: p for p in board.panels()}
    fig_w = 24 * COLUMN_PX
    fig_h = BANNER_PX + max(b.y + b.h for b in boxes) * ROW_PX + 10
    figure = Figure(figsize=(fig_w / DPI, fig_h / DPI), dpi=DPI, facecolor="#f4f5f7")
    FigureCanvasAgg(figure)  # a renderer, to measure the titles
    figure.patches.append(_banner(figure, fig_h))
    figure.text(12 / fig_w, 1 - 22 / fig_h, board.title, fontsize=15, color=TEXT, fontweight="bold", va="center")
    figure.text(
        12 / fig_w,
        1 - 50 / fig_h,
        f"{PREVIEW_ZH} · {PREVIEW_EN} · {generated:%Y-%m-%d %H:%M %Z}",
        fontsize=8.5,
        color="#8a4b00",
        va="center",
    )
    for box in boxes:
        if box.kind == "row":
            y = BANNER_PX + box.y * ROW_PX + 17
            figure.text(
                10 / fig_w, 1 - y / fig_h, "▼ " + box.title, fontsize=10, color=TEXT, va="center", fontweight="bold"
            )
            continue
        panel = panels.get(box.title)
        if panel is None:
            raise ValueError(f"{board.file}: panel {box.title!r} is not in services/dashboards (run `xf dashboards`)")
        _draw_panel(figure, box, panel, data.get(box.title, PanelData(error="not fetched")), (fig_w, fig_h), tz)
    out = io.BytesIO()
    with fonts.glyphs_required():
        figure.savefig(out, format="png", facecolor=figure.get_facecolor())
    image = Image.open(io.BytesIO(out.getvalue())).convert("RGB").quantize(colors=160, dither=Image.Dither.NONE)
    small = io.BytesIO()
    image.save(small, format="PNG", optimize=True)
    return small.getvalue()


def _banner(figure: Figure, fig_h: float) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle(
        (0, 1 - 64 / fig_h),
        1,
        64 / fig_h,
        transform=figure.transFigure,
        facecolor="#fff4e0",
        edgecolor="#f0b357",
        linewidth=1.0,
        zorder=-1,
    )
