"""Reading cases back: status and routing, a unit's list, read scopes, same-matter history, and the
tracker's case.status events that intake follows (published here as the tracker would)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from intake_helpers import add_client, case_body, fresh_person, headers, http, publish_raw, unique_name
from polling import eventually

from services.access.scopes import Client
from services.common.envelope import Envelope, to_bytes, wrap
from services.common.regions import official_regions
from services.common.schemas import (
    CaseStatusBody,
    Decision,
    Disposition,
    PetitionStatus,
    StatusCause,
    StatusRouting,
)
from services.common.settings import Settings

# Versions far above what a running tracker reaches keep these events in force; the times stay within
# the window of event times (services.common.schemas.EventTime: at most an hour ahead).
ROUTED_AT = datetime.now(UTC) + timedelta(minutes=30)


async def submit(settings: Settings, body: dict[str, Any], key: str | None = None) -> str:
    async with http(settings) as client:
        answer = await client.post("/v1/cases", json=body, headers=headers(key or settings.intake_dev_api_key))
    assert answer.status_code == 201, answer.text
    case_id: str = answer.json()["case_id"]
    return case_id


async def status(settings: Settings, case_id: str, key: str | None = None) -> dict[str, Any]:
    async with http(settings) as client:
        answer = await client.get(f"/v1/cases/{case_id}", headers=headers(key or settings.intake_dev_api_key))
    assert answer.status_code == 200, answer.text
    view: dict[str, Any] = answer.json()
    return view


async def listing(settings: Settings, unit: str, key: str | None = None, **params: Any) -> list[str]:
    """Every case id of the unit's list, page by page."""
    found: list[str] = []
    cursor = None
    async with http(settings) as client:
        while True:
            query = {**params, **({"cursor": cursor} if cursor else {})}
            answer = await client.get(
                f"/v1/units/{unit}/cases", params=query, headers=headers(key or settings.intake_dev_api_key)
            )
            assert answer.status_code == 200, answer.text
            page = answer.json()
            found += [case["case_id"] for case in page["cases"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return found


async def publish(settings: Settings, event: Envelope[CaseStatusBody]) -> None:
    await publish_raw(settings, "case.status", [(event.caseid.encode(), to_bytes(event))])


def case_status(
    case_id: str,
    version: int,
    *,
    cause: str,
    stage: str,
    status: PetitionStatus = "open",
    unit: str | None = None,
    co_units: Sequence[str] = (),
    disposition: Disposition | None = None,
) -> Envelope[CaseStatusBody]:
    """A case.status event as the tracker publishes it (versions far above what a running tracker
    reaches, so that its own events never replace these)."""
    routing = None
    if disposition is not None:
        decision = Decision(
            disposition=disposition,
            handling_unit=unit,
            handling_level="county",
            co_units=list(co_units),
            flags=["first_time"],
            deadline_policy="standard",
            trace=["test.rule"],
            ruleset_version="test",
        )
        routing = StatusRouting(received_event_id=str(uuid.uuid4()), routed_at=ROUTED_AT, decision=decision)
    body = CaseStatusBody(
        case_id=case_id,
        version=version,
        stage=stage,
        status=status,
        closed=status != "open",
        handling_unit=unit,
        co_units=list(co_units),
        cause=StatusCause(event_id=str(uuid.uuid4()), type=cause, at=ROUTED_AT),
        routing=routing,
    )
    return wrap(body, type="case.status", source="xinfang/tracker", case_id=case_id)


def random_town() -> str:
    towns = [region.code for region in official_regions().descendants("150627") if region.level == "town"]
    return random.choice(towns)


async def test_a_letter_and_a_visit_on_the_same_matter_are_linked(intake_stack: Settings) -> None:
    settings = intake_stack
    # No identity number: the petitioner is known by name and phone, however the phone is written.
    person = fresh_person()
    person.pop("id_number")
    letter = await submit(settings, case_body("letter", petitioner=person))
    visit = await submit(
        settings, case_body("visit", petitioner={**person, "phone": f"+86 {person['phone'][:3]}-{person['phone'][3:]}"})
    )
    other_matter = await submit(settings, case_body("visit", petitioner=person, category="housing"))
    other_person = await submit(settings, case_body("visit", petitioner={**person, "name": person["name"] + "丁"}))
    anonymous = [await submit(settings, case_body("online", petitioner={"kind": "anonymous"})) for _ in range(2)]

    second = await status(settings, visit)
    assert second["history"] == {"prior_cases": 1, "open_case_id": letter, "concluded": False}
    assert second["merged_into"] == letter
    for unrelated in (other_matter, other_person, *anonymous):
        assert (await status(settings, unrelated))["history"]["prior_cases"] == 0


async def test_status_shows_routing_and_lifecycle_keeps_the_matter_history_right(intake_stack: Settings) -> None:
    settings = intake_stack
    person = fresh_person()
    first = await submit(settings, case_body("letter", petitioner=person))
    view = await status(settings, first)
    # (When the router runs, its own decision may already be there; the one published below wins.)
    assert view["status"] == "open" and view["submitted_by"] == "dev" and view["received_by"] == "150627:petition"
    assert view["history"] == {"prior_cases": 0, "open_case_id": None, "concluded": False}

    housing = ["150627:housing"]
    routed = case_status(
        first, 100, cause="routed", stage="routed", unit="150627:hrss", co_units=housing, disposition="forward"
    )
    await publish(settings, routed)

    async def routed_view() -> dict[str, Any] | None:
        view = await status(settings, first)
        return view if view["routing"] and view["routing"]["ruleset_version"] == "test" else None

    view = await eventually(routed_view, what="routing in the status")
    assert view["routing"]["disposition"] == "forward" and view["handling_unit"] == "150627:hrss"
    assert view["stage"] == "routed" and view["published_at"] is not None
    assert first in await listing(settings, "150627:hrss", status="open")
    assert first in await listing(settings, "150627:housing")  # a co-handling unit sees it too

    reassigned = case_status(first, 101, cause="reassigned", stage="delivered", unit="150627:civil")
    await publish(settings, reassigned)

    async def reassigned() -> dict[str, Any] | None:
        view = await status(settings, first)
        return view if view["handling_unit"] == "150627:civil" else None

    assert (await eventually(reassigned, what="reassignment"))["stage"] == "reassigned"
    assert first in await listing(settings, "150627:civil")

    repeat = await submit(settings, case_body("visit", petitioner=person))
    assert (await status(settings, repeat))["history"] == {"prior_cases": 1, "open_case_id": first, "concluded": False}

    await publish(settings, case_status(first, 99, cause="accepted", stage="accepted", unit="150627:hrss"))  # older
    await publish(settings, case_status(first, 103, cause="rereviewed", stage="rereviewed", status="concluded"))

    async def concluded() -> dict[str, Any] | None:
        view = await status(settings, first)
        return view if view["status"] == "concluded" else None

    view = await eventually(concluded, what="conclusion")
    assert view["stage"] == "rereviewed" and view["routing"]["disposition"] == "forward"  # version 99 was ignored
    after = await submit(settings, case_body("online", petitioner=person))
    assert (await status(settings, after))["history"] == {"prior_cases": 2, "open_case_id": None, "concluded": True}

    withdrawn = await submit(settings, case_body("letter"))
    await publish(settings, case_status(withdrawn, 100, cause="withdrawn", stage="withdrawn", status="closed"))

    async def closed() -> dict[str, Any] | None:
        view = await status(settings, withdrawn)
        return view if view["status"] == "closed" else None

    assert (await eventually(closed, what="withdrawal"))["stage"] == "withdrawn"


async def test_a_unit_lists_its_cases_newest_first_page_by_page(intake_stack: Settings) -> None:
    settings = intake_stack
    town = random_town()
    mine = []
    for hour in (8, 9, 10, 11, 12):
        body = case_body("visit", received_by=f"{town}:gov", received_at=f"2026-05-06T{hour:02d}:00:00+08:00")
        mine.append(await submit(settings, body))
    listed = await listing(settings, f"{town}:gov", limit=2)
    assert [case for case in listed if case in mine] == mine[::-1]
    assert len(listed) == len(set(listed))
    # Below: the county's petition bureau and government see the town government's cases; the county's
    # education bureau does not (same department only, and these are not education cases); another
    # county does not.
    assert set(mine) <= set(await listing(settings, "150627:petition", subtree="true", limit=500))
    assert set(mine) <= set(await listing(settings, "150600:gov", subtree="true", limit=500))
    assert not set(mine) & set(await listing(settings, "150627:edu", subtree="true", limit=500))
    assert not set(mine) & set(await listing(settings, "150602:petition", subtree="true", limit=500))


async def test_read_scopes_limit_what_a_client_sees(intake_stack: Settings) -> None:
    settings = intake_stack
    desk = await add_client(
        settings,
        Client(unique_name("desk"), "reception", frozenset({"visit", "letter"}), ("150627",), ("150627",)),
    )
    hrss = await add_client(settings, Client(unique_name("ops"), "operator", read_scope=("150627:hrss",)))
    # A housing case: the router (when it runs) sends it to the housing bureau, not to hrss.
    own = await submit(settings, case_body("visit", category="housing"), key=desk)
    elsewhere = await submit(
        settings, case_body("visit", received_by="150602:petition", location={"region": "150602107"})
    )

    assert (await status(settings, own, key=desk))["case_id"] == own
    async with http(settings) as client:
        hidden = await client.get(f"/v1/cases/{elsewhere}", headers=headers(desk))
        unknown = await client.get("/v1/cases/XF000000-20000101-000001", headers=headers(desk))
        operator_own_unit = await client.get("/v1/units/150627:hrss/cases", headers=headers(hrss))
        operator_other_unit = await client.get("/v1/units/150627:petition/cases", headers=headers(hrss))
        operator_subtree = await client.get("/v1/units/150627:hrss/cases?subtree=true", headers=headers(hrss))
        operator_case = await client.get(f"/v1/cases/{own}", headers=headers(hrss))
        bad_unit = await client.get("/v1/units/999999:gov/cases", headers=headers(desk))
        bad_cursor = await client.get("/v1/units/150627:gov/cases?cursor=nonsense", headers=headers(desk))
    # A case out of scope looks exactly like one that does not exist.
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json() == unknown.json()
    assert operator_own_unit.status_code == 200
    assert operator_other_unit.status_code == 403 and operator_other_unit.json()["errors"][0]["field"] == "unit_id"
    assert operator_subtree.status_code == 403  # a unit entry covers that unit only
    assert operator_case.status_code == 404  # received by the petition bureau, not handled by hrss
    assert bad_unit.status_code == 422 and bad_unit.json()["errors"][0]["code"] == "unit_unknown"
    assert bad_cursor.status_code == 422 and bad_cursor.json()["errors"][0]["field"] == "cursor"

    await publish(
        settings, case_status(own, 100, cause="routed", stage="routed", unit="150627:hrss", disposition="forward")
    )

    async def visible() -> bool | None:
        async with http(settings) as client:
            answer = await client.get(f"/v1/cases/{own}", headers=headers(hrss))
        return True if answer.status_code == 200 else None

    await eventually(visible, what="the case for the handling unit")
