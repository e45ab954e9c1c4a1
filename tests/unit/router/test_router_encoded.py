"""The service's encoded decisions (services/router/encoded.py) are the decisions' own JSON, byte for byte."""

from __future__ import annotations

from router_helpers import make_case

from services.router.decide import decision_of, evaluate_in_python, run_pipeline
from services.router.encoded import Encoded, TraceTemplate
from services.router.rules import CompiledRules, Router, RoutingError
from services.router.samples import sample_cases


def test_every_encoded_decision_is_the_decisions_json(demo_rules: CompiledRules) -> None:
    """Against the reference: each case through every table in plain Python, no memo, decision_of."""
    router = Router(demo_rules)
    cases = sample_cases(demo_rules, 3000, seed=12)
    cases += [make_case(case_id="XF-NO-UNIT", location="110101001"), make_case(received_by="159999:gov")]
    encoded = router.encode_each(cases)
    router.close()
    evaluate = evaluate_in_python(demo_rules)
    seen_units, seen_helpers, seen_none = set(), 0, 0
    for case, encoding in zip(cases, encoded, strict=True):
        try:
            [routing] = run_pipeline(demo_rules, [case], evaluate)
        except RoutingError as error:
            assert not isinstance(encoding, Encoded) and str(encoding) == str(error), case.case_id
            continue
        decision = decision_of(demo_rules, routing)
        assert isinstance(encoding, Encoded)
        assert encoding.json == decision.model_dump_json().encode(), case.case_id
        labels = (decision.disposition, decision.handling_level or "none", decision.urgency)
        assert encoding.tally.labels == labels and encoding.tally.trace == tuple(decision.trace)
        seen_units.add(decision.handling_unit)
        seen_helpers += bool(decision.co_units)
        seen_none += decision.handling_unit is None
    assert len(seen_units) > 100 and seen_helpers and seen_none  # many units, helpers and no unit at all


def test_a_template_is_made_from_one_decision_and_fits_any_unit(demo_rules: CompiledRules) -> None:
    router = Router(demo_rules)
    [decision] = router.decide_many([make_case(category="land_acquisition")])
    router.close()
    assert decision.co_units, "this case has helping units"
    template = TraceTemplate(decision)
    other = decision.model_copy(update={"handling_unit": "150627:natres", "handling_level": "county", "co_units": []})
    assert template.encode("150627:natres", "county", ()).json == other.model_dump_json().encode()
    again = template.encode("150627:natres", "county", ())
    assert again.tally is template.encode("150628:natres", "county", ["x:y"]).tally  # shared, counted by identity
