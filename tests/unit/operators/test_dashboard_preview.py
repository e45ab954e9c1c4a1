"""`xf dashboards preview` without a stack: the grid of each dashboard, values in their units, legend names,
and a board drawn from made-up data with every panel where the grid puts it."""

from __future__ import annotations

import io
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pixels import coloured, ink

from services.dashboards.boards import BOARDS
from services.dashboards.preview import BANNER_PX, COLUMN_PX, ROW_PX, draw, format_value, layout
from services.dashboards.preview_data import PanelData, Series, Window, series_name
from services.dashboards.spec import Board, Panel, Prom
from services.report.vocabulary import CHANNELS


@pytest.mark.parametrize("board", BOARDS, ids=lambda b: b.uid)
def test_the_layout_is_the_dashboards_grid(board: Board) -> None:
    boxes = layout(board)
    assert [b.title for b in boxes if b.kind != "row"] == [p.title for p in board.panels()]
    assert [b.title for b in boxes if b.kind == "row"] == [r.title for r in board.rows]
    assert all(b.x >= 0 and b.x + b.w <= 24 for b in boxes)


@pytest.mark.parametrize(
    ("value", "unit", "decimals", "text"),
    [
        (0.1234, "percentunit", None, "12.3%"),
        (0.5, "percentunit", 0, "50%"),
        (0.0123, "s", None, "12.3 ms"),
        (95.0, "s", None, "1.58 min"),
        (86400 * 10.3, "s", None, "10.3 d"),
        (12.0, "short", None, "12"),
        (12345.0, "short", None, "12.3k"),
        (0.25, "cpm", None, "0.25 /min"),
        (None, "short", None, "—"),
    ],
)
def test_values_in_their_units(value: float | None, unit: str, decimals: int | None, text: str) -> None:
    assert format_value(value, unit, decimals) == text


def test_legends_show_the_names_of_codes() -> None:
    panel = Panel("timeseries", "渠道", "Channel", (Prom("x", "{{channel}}"),), names={"online": "网上 online"})
    assert series_name(panel, panel.queries[0], {"channel": "online"}) == "网上 online"
    two = Prom("x", "{{job}} {{reason}}")
    other = Panel("bargauge", "死信", "Dead letters", (two,), value_names={"router": "分办 router"})
    assert series_name(other, two, {"job": "router", "reason": "not_json"}) == "分办 router not_json"


def test_the_rate_interval_follows_the_step_as_grafanas() -> None:
    end = datetime(2026, 12, 1, tzinfo=UTC)
    short = Window(end - timedelta(days=30), end, end - timedelta(minutes=10))
    assert short.step == 5 and short.rate_interval == "20s"
    long = Window(end - timedelta(days=30), end, end - timedelta(days=30))
    assert long.step == 8640 and long.rate_interval == "8645s"


def fake(panel: Panel, now: datetime) -> PanelData:
    """Data of the panel's shape: a few series over an hour, one value, or table rows."""
    if panel.kind == "table":
        columns = ("a", "b")
        return PanelData(columns=columns, rows=[("online", 3.0), ("visit", 1.0)])
    if panel.kind == "timeseries":
        times = [now - timedelta(minutes=60 - i) for i in range(60)]
        return PanelData(
            series=[
                Series(name, [float(i % 7 + k) for i in range(60)], times)
                for k, name in enumerate(list(CHANNELS.values())[:3])
            ]
        )
    return PanelData(series=[Series("网上 online", [3.0]), Series("来访 visit", [1.0])][: 1 if panel.single else 2])


@pytest.mark.parametrize("board", BOARDS, ids=lambda b: b.uid)
def test_a_board_is_drawn_panel_by_panel_on_its_grid(board: Board) -> None:
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    data = {p.title: fake(p, now) for p in board.panels()}
    image = Image.open(io.BytesIO(draw(board, data, generated=now)))
    boxes = layout(board)
    assert image.width == 24 * COLUMN_PX
    assert image.height == BANNER_PX + max(b.y + b.h for b in boxes) * ROW_PX + 10
    banner = np.asarray(image.crop((0, 0, image.width, 60)).convert("RGB")).astype(int)
    assert (banner[..., 0] - banner[..., 2]).mean() > 20, "the preview banner, amber across the top"
    for box in boxes:
        if box.kind == "row":
            continue
        # The panel's body, below its title: something is drawn there, in colour unless it is a table.
        body = image.crop(
            (
                box.x * COLUMN_PX + 10,
                BANNER_PX + box.y * ROW_PX + 32,
                (box.x + box.w) * COLUMN_PX - 10,
                BANNER_PX + (box.y + box.h) * ROW_PX - 8,
            )
        )
        assert ink(body) > 0.001, box.title
        if box.kind != "table":
            assert coloured(body) > 0.002, box.title


def test_a_panel_without_data_or_with_an_error_says_so() -> None:
    board = BOARDS[0]
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    data = {p.title: PanelData() for p in board.panels()}
    data[board.panels()[0].title] = PanelData(error="OSError: connection refused")
    image = Image.open(io.BytesIO(draw(board, data, generated=now)))
    box = next(b for b in layout(board) if b.kind != "row")
    body = image.crop(
        (
            box.x * COLUMN_PX + 10,
            BANNER_PX + box.y * ROW_PX + 32,
            (box.x + box.w) * COLUMN_PX - 10,
            BANNER_PX + (box.y + box.h) * ROW_PX - 8,
        )
    )
    assert coloured(body) > 0.001  # the error, in red


def test_preview_without_a_stack_says_where_it_looked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from services.cli import main
    from services.common.settings import get_settings

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("XF_PG_PORT", str(port))
    monkeypatch.setenv("XF_PROMETHEUS_PORT", str(port))
    get_settings.cache_clear()
    try:
        assert main(["dashboards", "preview", "--out", str(tmp_path)]) == 1
    finally:
        get_settings.cache_clear()
    assert f"cannot read PostgreSQL at 127.0.0.1:{port}" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
