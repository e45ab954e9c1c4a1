"""The pipeline's ACL table: partners may write their one topic only; each service what its part needs."""

from __future__ import annotations

import pytest

from services.common.kafka_principals import (
    PARTNER_GRANTS,
    SERVICE_GRANTS,
    Grant,
    PrincipalError,
    check_partner_name,
    check_role,
    role_of,
)
from services.common.topics import ALL_TOPICS


def rights(grants: frozenset[Grant], operation: str) -> set[str]:
    return {g.name for g in grants if g.kind == "topic" and g.operation == operation}


def test_partners_may_write_their_one_topic_and_nothing_else() -> None:
    assert PARTNER_GRANTS["upstream"] == {Grant("topic", "case.submitted", "write")}
    assert PARTNER_GRANTS["unit"] == {Grant("topic", "case.lifecycle", "write")}


@pytest.mark.parametrize(
    ("service", "reads", "writes"),
    [
        (
            "intake",
            {"case.submitted", "case.status"},
            {"case.received", "case.deadletter"},
        ),
        ("router", {"case.received"}, {"case.routed", "case.deadletter"}),
        (
            "tracker",
            {"case.received", "case.routed", "case.lifecycle"},
            {"case.lifecycle", "case.alert", "case.status", "case.deadletter"},
        ),
    ],
)
def test_each_service_reads_and_writes_its_part_of_the_pipeline(
    service: str, reads: set[str], writes: set[str]
) -> None:
    grants = SERVICE_GRANTS[service]
    assert rights(grants, "read") == reads
    assert rights(grants, "write") == writes
    assert {g for g in grants if g.kind == "group"} == {Grant("group", service, "read", prefixed=True)}
    # DESCRIBE of the other topics only (its start-up check that the pipeline's topics exist).
    assert rights(grants, "describe") == {t.name for t in ALL_TOPICS} - reads - writes
    assert not any(g.prefixed for g in grants if g.kind == "topic")


def test_no_service_writes_a_partner_topic_and_only_intake_reads_submitted() -> None:
    for grants in SERVICE_GRANTS.values():
        assert "case.submitted" not in rights(grants, "write")
    assert [name for name, grants in SERVICE_GRANTS.items() if "case.submitted" in rights(grants, "read")] == ["intake"]


def test_every_topic_has_a_writer_and_a_reader_except_the_operators() -> None:
    written = set().union(
        *(rights(g, "write") for g in SERVICE_GRANTS.values()), *(rights(g, "write") for g in PARTNER_GRANTS.values())
    )
    assert written == {t.name for t in ALL_TOPICS}


@pytest.mark.parametrize("name", ["", "-x", "a b", "x" * 65, "admin", "intake", "router", "tracker", "a\x00b", "名"])
def test_partner_names_are_refused_when_unusable_or_reserved(name: str) -> None:
    with pytest.raises(PrincipalError, match="refused"):
        check_partner_name(name)


@pytest.mark.parametrize("name", ["acme-petitions", "150627:gongan", "unit.hrss_1"])
def test_partner_names(name: str) -> None:
    assert check_partner_name(name) == name


def test_roles() -> None:
    assert check_role("unit") == "unit"
    with pytest.raises(PrincipalError, match="role"):
        check_role("service")
    assert role_of(set(PARTNER_GRANTS["upstream"])) == "upstream"
    assert role_of({Grant("topic", "case.alert", "read")}) == "custom"
    assert role_of(set()) == "none"
