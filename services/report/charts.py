"""The situation report's charts (matplotlib), each a PNG as bytes. Pure: data in, picture out.

Every label is drawn with the CJK font (fonts.py); a glyph the font lacks fails the chart instead of
drawing a box. A chart without data says so in words rather than showing empty axes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from matplotlib.ticker import MaxNLocator

from services.report import fonts

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WIDTH = 7.2  # inches: the report's column at 100 % (the HTML shows it 720 px wide)
DPI = 150
PALETTE = ("#2f6db5", "#e07b39", "#3a9a5b", "#c2413b", "#7d5ba6", "#8c6d46", "#d06aa8", "#5f6b73", "#b5a22f", "#2aa3b5")
CURRENT, PREVIOUS = PALETTE[0], "#b9c9de"
GRID = "#d9dde3"
TEXT = "#2b2f36"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    previous: float | None = None
    note: str = ""  # printed at the end of the bar


def _figure(height: float, ncols: int = 1) -> tuple[Figure, list[Axes]]:
    fonts.configure_matplotlib()
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH, height), dpi=DPI, layout="constrained")
    axes = figure.subplots(1, ncols, squeeze=False)[0]
    for ax in axes:
        ax.set_facecolor("white")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        for side in ("left", "bottom"):
            ax.spines[side].set_color("#9aa1ab")
        ax.tick_params(colors=TEXT, labelsize=8)
        ax.grid(True, color=GRID, linewidth=0.6)
        ax.set_axisbelow(True)
    return figure, list(axes)


def _png(figure: Figure) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    with fonts.glyphs_required():
        figure.savefig(out, format="png", facecolor="white")
    # A chart has few colours: a palette image is a third of the size and looks the same (256 colours
    # keep the series apart; fewer merged similar lines).
    image = Image.open(io.BytesIO(out.getvalue())).convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
    small = io.BytesIO()
    image.save(small, format="PNG", optimize=True)
    return small.getvalue()


def day_numbers(days: Sequence[date]) -> list[float]:
    """Dates as matplotlib's numbers (days since its epoch, 1970-01-01), which its date axis reads."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return [(datetime(d.year, d.month, d.day, tzinfo=UTC) - epoch).total_seconds() / 86400 for d in days]


def _date_axis(ax: Axes) -> None:
    import matplotlib.dates as mdates

    ax.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=10))  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))  # type: ignore[no-untyped-call]


def _no_data(ax: Axes, what: str) -> None:
    ax.text(
        0.5,
        0.5,
        f"本期无数据\nno data in the period: {what}",
        ha="center",
        va="center",
        color="#6b7280",
        fontsize=10,
        transform=ax.transAxes,
    )
    ax.set_xticks([])
    ax.set_yticks([])


def daily_lines(days: Sequence[date], series: Mapping[str, Sequence[int]], *, ylabel: str) -> bytes:
    """One line per series over the period's days (series → values aligned with `days`), total on top."""
    figure, (ax,) = _figure(2.9)
    if not days or not any(any(v) for v in series.values()):
        _no_data(ax, ylabel)
        return _png(figure)
    x = day_numbers(days)
    total = [sum(values[i] for values in series.values()) for i in range(len(days))]
    ax.fill_between(x, total, color=CURRENT, alpha=0.08, linewidth=0)
    ax.plot(x, total, color=TEXT, linewidth=1.6, label="合计 Total")
    for i, (name, values) in enumerate(series.items()):
        ax.plot(x, values, color=PALETTE[(i + 1) % len(PALETTE)], linewidth=1.1, marker="o", markersize=2.2, label=name)
    ax.set_ylabel(ylabel, fontsize=8, color=TEXT)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    _date_axis(ax)
    ax.legend(fontsize=7, ncols=min(5, len(series) + 1), loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    return _png(figure)


def ranked_bars(
    bars: Sequence[Bar], *, xlabel: str, percent: bool = False, legend: tuple[str, str] | None = None
) -> bytes:
    """Horizontal bars, largest on top; with `previous`, a paler bar of the period before beneath each."""
    height = 0.9 + 0.27 * max(len(bars), 3)
    figure, (ax,) = _figure(height)
    if not bars:
        _no_data(ax, xlabel)
        return _png(figure)
    ordered = list(reversed(bars))  # barh draws bottom-up
    positions = list(range(len(ordered)))
    with_previous = any(b.previous is not None for b in ordered)
    thickness = 0.38 if with_previous else 0.62
    offset = thickness / 2 if with_previous else 0.0
    # A zero is drawn as a sliver, so that a unit at 0 % is seen to be there and not missing.
    least = 0.015 * (1 if percent else max(max(b.value for b in ordered), 1))
    ax.barh(
        [p + offset for p in positions],
        [max(b.value, least) for b in ordered],
        height=thickness,
        color=CURRENT,
        label=legend[0] if legend else None,
    )
    if with_previous:
        ax.barh(
            [p - offset for p in positions],
            [b.previous or 0 for b in ordered],
            height=thickness,
            color=PREVIOUS,
            label=legend[1] if legend else None,
        )
    ax.set_yticks(positions, [b.label for b in ordered], fontsize=8)
    ax.grid(True, axis="x", color=GRID, linewidth=0.6)
    ax.grid(False, axis="y")
    top = max([b.value for b in ordered] + [b.previous or 0 for b in ordered])
    if percent:
        ax.set_xlim(0, 1.18)
        ax.xaxis.set_major_formatter(lambda x, _pos: f"{x:.0%}" if x <= 1 else "")
    else:
        ax.set_xlim(0, max(top, 1) * 1.22)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for p, bar in zip(positions, ordered, strict=True):
        note = bar.note or (f"{bar.value:.0%}" if percent else f"{bar.value:g}")
        ax.text(bar.value, p + offset, f" {note}", va="center", ha="left", fontsize=7, color=TEXT)
    ax.set_xlabel(xlabel, fontsize=8, color=TEXT)
    if legend and with_previous:
        ax.legend(fontsize=7, loc="lower right", frameon=False)
    return _png(figure)


def deadlines(days: Sequence[date], met: Sequence[int], missed: Sequence[int], overdue_open: Sequence[int]) -> bytes:
    """Handling deadlines per day (met, missed: stacked bars) and the cases overdue at each day's end (line)."""
    figure, (ax,) = _figure(2.8)
    if not days or not (any(met) or any(missed) or any(overdue_open)):
        _no_data(ax, "deadlines")
        return _png(figure)
    x = day_numbers(days)
    ax.bar(x, met, color=PALETTE[2], width=0.8, label="当日到期·按期办结 Due, met")
    ax.bar(x, missed, bottom=met, color=PALETTE[3], width=0.8, label="当日到期·逾期 Due, missed")
    ax.plot(
        x,
        overdue_open,
        color=TEXT,
        linewidth=1.6,
        drawstyle="steps-mid",
        label="日末逾期未答复 Overdue without a reply at day's end",
    )
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("件 cases", fontsize=8, color=TEXT)
    _date_axis(ax)
    ax.legend(fontsize=7, ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    return _png(figure)


DURATIONS = (
    ("route", "登记至分办 Receipt → routing"),
    ("accept", "登记至受理 Receipt → acceptance"),
    ("reply", "登记至答复 Receipt → reply"),
)


def durations(days: Mapping[str, Sequence[float]]) -> bytes:
    """Three histograms (days from receipt), each with its median marked and the count of cases."""
    figure, axes = _figure(2.5, ncols=3)
    for i, (ax, (key, title)) in enumerate(zip(axes, DURATIONS, strict=True)):
        values = sorted(days.get(key, ()))
        ax.set_title(title, fontsize=8, color=TEXT)
        if not values:
            _no_data(ax, key)
            continue
        ax.hist(values, bins=min(12, max(3, len(values) // 2)), color=PALETTE[i], alpha=0.85)
        median = values[len(values) // 2]
        ax.axvline(median, color=TEXT, linewidth=1.1, linestyle="--")
        ax.text(
            0.97,
            0.97,
            f"中位数 median {median:.1f} 天 d\nn = {len(values)}",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=7,
            color=TEXT,
            zorder=5,
            bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": GRID, "alpha": 0.92},
        )
        ax.set_ylim(0, ax.get_ylim()[1] * 1.35)  # room for the label above the bars
        ax.set_xlabel("天 days", fontsize=8, color=TEXT)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return _png(figure)
