from __future__ import annotations

from typing import get_args

from services.common.lifecycle import LIFECYCLE_TYPES
from services.common.schemas import Disposition
from services.intake.metrics import code_label, field_label, known_fields
from services.intake.outcomes import DISPOSITION_STATUS, LIFECYCLE_STATUS, replaceable, status_after_routing


def test_every_disposition_has_a_status() -> None:
    assert set(DISPOSITION_STATUS) == set(get_args(Disposition))
    assert status_after_routing("merge") == "merged"
    assert status_after_routing("reject_concluded") == "closed"
    assert status_after_routing("assign") == "open"


def test_a_matter_concludes_after_re_review_or_conclusion_only() -> None:
    assert set(LIFECYCLE_STATUS) <= set(LIFECYCLE_TYPES)
    concluding = {kind for kind, status in LIFECYCLE_STATUS.items() if status == "concluded"}
    assert concluding == {"rereviewed", "concluded"}
    assert LIFECYCLE_STATUS["withdrawn"] == LIFECYCLE_STATUS["rejected"] == "closed"
    assert "replied" not in LIFECYCLE_STATUS  # a replied case is still open: a review may follow


def test_nothing_reopens_a_case() -> None:
    assert replaceable("open") == []
    assert replaceable("closed") == ["open", "merged"]
    assert "concluded" not in replaceable("closed")
    assert set(replaceable("concluded")) == {"open", "merged", "closed"}


def test_metric_labels_come_from_a_fixed_set() -> None:
    assert {"petitioner.id_number", "location.region", "assignment.due_days", "summary"} <= known_fields()
    assert field_label("petitioner.id_number") == "petitioner.id_number"
    assert field_label("anything_a_client_invents_13912345678") == "other"
    assert field_label("cases.17.idempotency_key") == "idempotency_key"
    assert code_label("id_number_checksum") == "id_number_checksum"
    assert code_label("value_error_with_input") == "other"
