"""One model of a case's progress: the stages a case passes, the clocks each event opens, stops and
closes, and the dispositions and events that end a case. Data only, no I/O and no logic beyond lookups.

Two kinds of "stage" meet here:
- the case's stage (`CaseStage`): where the case stands, received → … → concluded, or how it ended;
- a stage clock (`Stage`): one deadline the case runs against (route, accept, handle, …), with the
  limits rules/deadlines.yaml gives it.

`EVENTS` is the table: for every event a case can receive, the case stages it is legal in, the stage it
reaches and the clocks it closes and opens; `ENDING_EVENTS` and `ENDING_DISPOSITIONS` say what ends a
case. The state machine (`lifecycle.apply`: which clocks are open, which event is legal), the clock book
(`timeline.step`: the exact times, shared by the service and `xf deadlines`), the case.status event and
the read API all read it; tests/unit/tracker/test_tracker_stages.py checks that they agree with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from services.common.lifecycle import LifecycleType
from services.common.schemas import Disposition, PetitionStatus

# --- stage clocks ------------------------------------------------------------------------------------

Stage = Literal[
    "route",
    "accept",
    "handle",
    "review_window",
    "review",
    "rereview_window",
    "rereview",
    "assignment_report",
    "urgent_report",
]
STAGES: tuple[Stage, ...] = get_args(Stage)
# The petitioner's windows: their lapse is not a breach by anyone, it concludes the stage; nobody is alerted.
WINDOWS: tuple[Stage, ...] = ("review_window", "rereview_window")
# The clocks of the review chain, from the reply on (a case cannot be reassigned once one exists).
REVIEW_CLOCKS: tuple[Stage, ...] = ("review_window", "review", "rereview_window", "rereview")
# Reports owed upward, by `reported.report` kind.
REPORT_CLOCK: dict[str, Stage] = {"urgent": "urgent_report", "assignment": "assignment_report"}

# --- case stages -------------------------------------------------------------------------------------

MainStage = Literal[  # the main line, in order
    "received",
    "routed",
    "delivered",
    "accepted",
    "replied",
    "review_requested",
    "reviewed",
    "rereview_requested",
    "rereviewed",
    "concluded",
]
CaseStage = Literal[
    MainStage,
    "rejected",
    "withdrawn",
    "merged",
    "diverted",
    "redirected",
    "reject_concluded",
]
MAIN_LINE: tuple[CaseStage, ...] = get_args(MainStage)
CASE_STAGES: tuple[CaseStage, ...] = (
    *MAIN_LINE,
    "rejected",
    "withdrawn",
    "merged",
    "diverted",
    "redirected",
    "reject_concluded",
)

# Routing dispositions that end the case at routing, and the stage it ends in (every clock closes).
ENDING_DISPOSITIONS: dict[Disposition, CaseStage] = {
    "merge": "merged",
    "divert_legal": "diverted",
    "redirect": "redirected",
    "reject_concluded": "reject_concluded",
}
# The disposition under which the receiving unit handles the case itself: routing is its delivery
# (the case goes straight to `delivered`, the accept clock opens at routing, a later `delivered` is a no-op).
DELIVERING_DISPOSITION: Disposition = "handle"
# Stages in which the handling unit runs a clock, and so can pause or extend it.
UNIT_CLOCK: dict[CaseStage, Stage] = {
    "delivered": "accept",
    "accepted": "handle",
    "review_requested": "review",
    "rereview_requested": "rereview",
}
UNIT_SIDE: tuple[Stage, ...] = tuple(UNIT_CLOCK.values())

# --- the table ---------------------------------------------------------------------------------------

EventType = Literal["received", "routed", LifecycleType]
UnitClockAction = Literal["pause", "resume", "extend"]


@dataclass(frozen=True)
class EventRule:
    """What one event does to a case.

    `closes` are the clocks it stops for good (only those running are closed); `discards` are among
    them the ones dropped rather than completed (the old unit's handle clock on reassignment); `opens`
    are the clocks it starts (anew, replacing an earlier instance). `unit_clock` acts on the running
    unit-side clock instead (pause, resume, extend). `finishes` is the clock the event is the answer to:
    it must be running (review chain). `closes_all` marks an event that stops every running clock.
    """

    allowed_from: frozenset[CaseStage]
    reaches: CaseStage | None = None  # the case's stage after it (None: unchanged)
    closes: tuple[Stage, ...] = ()
    opens: tuple[Stage, ...] = ()
    discards: tuple[Stage, ...] = ()
    finishes: Stage | None = None
    unit_clock: UnitClockAction | None = None
    closes_all: bool = False


# Events that end the case after routing, and the stage each ends it in (concluded and withdrawn close
# every clock; rejected closes route and accept, report clocks run on).
ENDING_EVENTS: dict[LifecycleType, CaseStage] = {
    "rejected": "rejected",
    "concluded": "concluded",
    "withdrawn": "withdrawn",
}
# Every stage in which the case has ended: by an ending event or an ending disposition.
TERMINAL: frozenset[CaseStage] = frozenset(ENDING_EVENTS.values()) | frozenset(ENDING_DISPOSITIONS.values())
_RUNNING: frozenset[CaseStage] = frozenset(MAIN_LINE) - TERMINAL
_UNIT: frozenset[CaseStage] = frozenset(UNIT_CLOCK)
_AFTER_REPLY: frozenset[CaseStage] = frozenset(
    {"replied", "review_requested", "reviewed", "rereview_requested", "rereviewed", "concluded"}
)

# `received` opens route, and assignment_report when the case carries an assignment; `routed` closes
# route and opens accept under the delivering disposition, or closes every clock under an ending one;
# either opens urgent_report when the decision sets report_within_hours (see `timeline.open_case`).
RECEIPT_OPENS: tuple[Stage, ...] = ("route",)
ROUTING_CLOSES: tuple[Stage, ...] = ("route",)
ROUTING_DELIVERY_OPENS: tuple[Stage, ...] = ("accept",)
ASSIGNMENT_OPENS: Stage = "assignment_report"
URGENT_OPENS: Stage = "urgent_report"

EVENTS: dict[LifecycleType, EventRule] = {
    "delivered": EventRule(frozenset({"routed"}), "delivered", closes=("route",), opens=("accept",)),
    "accepted": EventRule(
        frozenset({"routed", "delivered"}), "accepted", closes=("route", "accept"), opens=("handle",)
    ),
    "rejected": EventRule(frozenset({"routed", "delivered"}), "rejected", closes=("route", "accept")),
    "extended": EventRule(_UNIT, unit_clock="extend"),
    "paused": EventRule(_UNIT, unit_clock="pause"),
    "resumed": EventRule(_UNIT, unit_clock="resume"),
    "replied": EventRule(
        frozenset({"accepted"}),
        "replied",
        closes=("handle", "assignment_report"),
        opens=("review_window",),
        finishes="handle",
    ),
    "review_requested": EventRule(
        frozenset({"replied"}),
        "review_requested",
        closes=("review_window",),
        opens=("review",),
        finishes="review_window",
    ),
    "reviewed": EventRule(
        frozenset({"review_requested"}), "reviewed", closes=("review",), opens=("rereview_window",), finishes="review"
    ),
    "rereview_requested": EventRule(
        frozenset({"reviewed"}),
        "rereview_requested",
        closes=("rereview_window",),
        opens=("rereview",),
        finishes="rereview_window",
    ),
    "rereviewed": EventRule(frozenset({"rereview_requested"}), "rereviewed", closes=("rereview",), finishes="rereview"),
    "concluded": EventRule(frozenset({"replied", "reviewed", "rereviewed"}), "concluded", closes_all=True),
    "reassigned": EventRule(
        frozenset({"routed", "delivered", "accepted"}),
        "delivered",
        closes=("route", "accept", "handle"),
        opens=("accept",),
        discards=("handle",),
    ),
    "withdrawn": EventRule(_RUNNING, "withdrawn", closes_all=True),
    "feedback": EventRule(_AFTER_REPLY),
    # a report closes the report clock its kind names (REPORT_CLOCK); reports are taken after the end too
    "reported": EventRule(frozenset(CASE_STAGES)),
}

# The event that first opens each clock after receipt (named in "needs … first" errors).
OPENED_BY: dict[Stage, LifecycleType] = {}
for _kind, _rule in EVENTS.items():
    for _stage in _rule.opens:
        OPENED_BY.setdefault(_stage, _kind)

# --- what petitioners see ----------------------------------------------------------------------------

# The petitioner-facing status of each way a case ends (every other stage is `open`).
PETITION_STATUS: dict[str, PetitionStatus] = {
    "merged": "merged",
    "diverted": "closed",
    "redirected": "closed",
    "reject_concluded": "closed",
    "rejected": "closed",
    "withdrawn": "closed",
    # the re-review is the last decision: concluded at once (三级终结)
    "rereviewed": "concluded",
    "concluded": "concluded",
}


def petition_status(stage: str) -> PetitionStatus:
    return PETITION_STATUS.get(stage, "open")
