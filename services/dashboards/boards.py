"""The four operators' dashboards, in the order of the dashboard links."""

from __future__ import annotations

from services.dashboards import deadlines, overview, pipeline, routing
from services.dashboards.spec import Board

BOARDS: tuple[Board, ...] = (overview.BOARD, deadlines.BOARD, routing.BOARD, pipeline.BOARD)
