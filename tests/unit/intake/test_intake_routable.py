"""Property (issue 10, finding 3): every case intake accepts can be routed by the router's rules; none
is accepted only to be dead-lettered. Units and regions are drawn from the directory and around it
(unknown departments, departments a region does not have, village codes below known towns)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from intake_factories import submission

from services.common.field_errors import SubmissionInvalid
from services.common.regions import official_regions
from services.common.schemas import History
from services.common.settings import PROJECT_ROOT
from services.intake import checks
from services.intake.matter import to_received_case
from services.intake.validation import validate_submission
from services.router.problems import RoutingError
from services.router.rules import CompiledRules, Router, load_rules

RULES = PROJECT_ROOT / "rules"
_TREE = official_regions()
REGIONS = sorted(
    {"000000", "150000", "150600", "110000", "110101"} | {region.code for region in _TREE.descendants("150627")}
)
DEPARTMENTS = ["petition", "gov", "hrss", "police", "committee", "sasac", "court", "nosuchdept", "_"]

regions = st.one_of(
    st.sampled_from(REGIONS),
    st.sampled_from([code for code in REGIONS if len(code) == 9]).map(lambda town: town + "201"),  # villages
)
units = st.builds(lambda region, department: f"{region}:{department}", regions, st.sampled_from(DEPARTMENTS))


@pytest.fixture(scope="module")
def rules() -> Iterator[CompiledRules]:
    compiled = load_rules(RULES)
    checks.use_rules(*checks.deployment_rules(RULES))
    try:
        yield compiled
    finally:
        checks.use_rules((), None)


@pytest.fixture(scope="module")
def router(rules: CompiledRules) -> Iterator[Router]:
    router = Router(rules)
    yield router
    router.close()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    received_by=units,
    target_unit=st.none() | units,
    region=regions,
    channel=st.sampled_from(["online", "letter", "assignment", "referral"]),
    from_unit=units,
)
def test_every_accepted_case_can_be_routed(
    router: Router, received_by: str, target_unit: str | None, region: str, channel: str, from_unit: str
) -> None:
    body: dict[str, Any] = submission(
        channel=channel, received_by=received_by, target_unit=target_unit, location={"region": region}
    )
    if channel == "assignment":
        body["assignment"] = {"from_unit": from_unit, "due_days": 30}
    elif channel == "referral":
        body["assignment"] = {"from_unit": from_unit}
    try:
        accepted = validate_submission(body)
    except SubmissionInvalid:
        return
    case = to_received_case(accepted, case_id="XF150627-20260506-000001", petitioner_key="k" * 16, history=History())
    [decision] = router.decide_each([case])
    assert not isinstance(decision, RoutingError), (body["received_by"], target_unit, region, decision)
