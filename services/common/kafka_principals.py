"""Kafka principals and what each may do: the ACL table of the pipeline, and the functions that put it
on a broker (SCRAM credentials and ACLs through the Admin API, as the stack's super user).

Roles:
- a service (intake, router, tracker) reads and writes exactly the topics of its part of the pipeline,
  in consumer groups named after it (prefix), and may see (DESCRIBE) the pipeline's topics, which its
  start-up check that they exist needs;
- an upstream system may only write `case.submitted`;
- a unit's system may only write `case.lifecycle`.
The broker runs with `allow.everyone.if.no.acl.found=false`: whatever is not in this table is refused.

The partner functions (`add_partner_principal`, `remove_partner_principal`, `list_partner_principals`)
are the API the `xf kafka partner` command and the partner registration use.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from services.common.kafka import STACK_ADMIN, client_options
from services.common.settings import Settings
from services.common.topics import (
    ALL_TOPICS,
    CASE_ALERT,
    CASE_LIFECYCLE,
    CASE_RECEIVED,
    CASE_ROUTED,
    CASE_STATUS,
    CASE_SUBMITTED,
    DEADLETTER,
)

PartnerRole = Literal["upstream", "unit"]
PARTNER_ROLES: tuple[PartnerRole, ...] = ("upstream", "unit")
SERVICE_PRINCIPALS: tuple[str, ...] = ("intake", "router", "tracker")
# The development stack's own partners, made by `xf stack up` (`xf stack kafka-config --role upstream|unit`).
DEV_UPSTREAM, DEV_UNIT = "dev-upstream", "dev-unit"
DEV_PARTNERS: dict[str, PartnerRole] = {DEV_UPSTREAM: "upstream", DEV_UNIT: "unit"}
RESERVED_NAMES = frozenset({STACK_ADMIN, *SERVICE_PRINCIPALS, "ANONYMOUS"})
# Letters, digits and . _ - : (a unit id such as 150627:gongan is a valid name), at most 64 characters.
PARTNER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
SCRAM_ITERATIONS = 8192
TIMEOUT = 15.0


@dataclass(frozen=True, order=True)
class Grant:
    """One ALLOW rule: `operation` on the resource `kind` named `name` (literal, or a prefix)."""

    kind: Literal["topic", "group"]
    name: str
    operation: Literal["read", "write", "describe"]
    prefixed: bool = False


def _read(*topics: str) -> list[Grant]:
    return [Grant("topic", t, "read") for t in topics]


def _write(*topics: str) -> list[Grant]:
    return [Grant("topic", t, "write") for t in topics]


def _service(group_prefix: str, grants: list[Grant]) -> frozenset[Grant]:
    used = {g.name for g in grants}  # READ and WRITE imply DESCRIBE
    describe = [Grant("topic", t.name, "describe") for t in ALL_TOPICS if t.name not in used]
    return frozenset([*grants, *describe, Grant("group", group_prefix, "read", prefixed=True)])


SERVICE_GRANTS: Mapping[str, frozenset[Grant]] = {
    # case.submitted in; case.status (the tracker's view of each case) for its status view, never a raw
    # partner event; case.received out through the outbox; refused records to the dead letters.
    "intake": _service(
        "intake",
        [
            *_read(CASE_SUBMITTED.name, CASE_STATUS.name),
            *_write(CASE_RECEIVED.name, DEADLETTER.name),
        ],
    ),
    "router": _service("router", [*_read(CASE_RECEIVED.name), *_write(CASE_ROUTED.name, DEADLETTER.name)]),
    # The tracker also writes case.lifecycle itself (its API, conclusions of the scanner).
    "tracker": _service(
        "tracker",
        [
            *_read(CASE_RECEIVED.name, CASE_ROUTED.name, CASE_LIFECYCLE.name),
            *_write(CASE_LIFECYCLE.name, CASE_ALERT.name, CASE_STATUS.name, DEADLETTER.name),
        ],
    ),
}
PARTNER_GRANTS: Mapping[PartnerRole, frozenset[Grant]] = {
    "upstream": frozenset(_write(CASE_SUBMITTED.name)),
    "unit": frozenset(_write(CASE_LIFECYCLE.name)),
}


class PrincipalError(RuntimeError):
    """A partner name or role that cannot be used, or a broker that refused the change."""


def check_partner_name(name: str) -> str:
    if not PARTNER_NAME.fullmatch(name):
        raise PrincipalError(
            f"partner name {name[:80]!r} refused: 1 to 64 letters, digits or . _ - :, starting with a letter or digit"
        )
    if name in RESERVED_NAMES:
        raise PrincipalError(f"partner name {name!r} refused: it is one of the stack's own principals")
    return name


def check_role(role: str) -> PartnerRole:
    for known in PARTNER_ROLES:
        if role == known:
            return known
    raise PrincipalError(f"role {role[:40]!r} refused: choose from {', '.join(PARTNER_ROLES)}")


# --- the Admin API ----------------------------------------------------------------------------------


def admin_client(settings: Settings) -> AdminClient:
    """An Admin API client as the stack's super user (the process's own principal when it has one)."""
    options = client_options(settings)
    config: dict[str, Any] = {
        "bootstrap.servers": options["bootstrap_servers"],
        "security.protocol": options["security_protocol"].lower(),
        "socket.timeout.ms": int(TIMEOUT * 1000),
    }
    if "sasl_plain_username" in options:
        config |= {
            "sasl.mechanism": options["sasl_mechanism"],
            "sasl.username": options["sasl_plain_username"],
            "sasl.password": options["sasl_plain_password"],
        }
    if settings.kafka_ssl_cafile is not None:
        config["ssl.ca.location"] = str(settings.kafka_ssl_cafile)
    return AdminClient(config)


def principal_of(name: str) -> str:
    return f"User:{name}"


def bindings(name: str, grants: Iterable[Grant]) -> list[AclBinding]:
    return [
        AclBinding(
            ResourceType.TOPIC if g.kind == "topic" else ResourceType.GROUP,
            g.name,
            ResourcePatternType.PREFIXED if g.prefixed else ResourcePatternType.LITERAL,
            principal_of(name),
            "*",
            {"read": AclOperation.READ, "write": AclOperation.WRITE, "describe": AclOperation.DESCRIBE}[g.operation],
            AclPermissionType.ALLOW,
        )
        for g in sorted(grants)
    ]


def _grant_of(binding: AclBinding) -> Grant | None:
    kinds = {ResourceType.TOPIC: "topic", ResourceType.GROUP: "group"}
    operations = {AclOperation.READ: "read", AclOperation.WRITE: "write", AclOperation.DESCRIBE: "describe"}
    kind = kinds.get(ResourceType(binding.restype))
    operation = operations.get(AclOperation(binding.operation))
    if kind is None or operation is None or binding.permission_type != AclPermissionType.ALLOW:
        return None
    return Grant(kind, binding.name, operation, binding.resource_pattern_type == ResourcePatternType.PREFIXED)  # type: ignore[arg-type]


def _principal_filter(name: str) -> AclBindingFilter:
    return AclBindingFilter(
        ResourceType.ANY,
        None,  # type: ignore[arg-type]  # None matches any name, as the library documents
        ResourcePatternType.ANY,
        principal_of(name),
        None,  # type: ignore[arg-type]  # and any host
        AclOperation.ANY,
        AclPermissionType.ANY,
    )


def _wait(futures: Mapping[Any, Any], what: str) -> None:
    for key, future in futures.items():
        try:
            future.result(timeout=TIMEOUT)
        except KafkaException as error:
            raise PrincipalError(f"{what} ({key}): {error.args[0]}") from error


def current_grants(admin: AdminClient, name: str) -> set[Grant]:
    found = admin.describe_acls(_principal_filter(name), request_timeout=TIMEOUT).result(timeout=TIMEOUT)
    return {grant for binding in found if (grant := _grant_of(binding)) is not None}


def set_grants(admin: AdminClient, name: str, grants: frozenset[Grant]) -> None:
    """Make `name`'s ACLs exactly `grants`: the missing ones created, any other of its ACLs deleted."""
    found = admin.describe_acls(_principal_filter(name), request_timeout=TIMEOUT).result(timeout=TIMEOUT)
    extra = [b for b in found if _grant_of(b) not in grants]
    if extra:
        filters = [
            AclBindingFilter(
                b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation, b.permission_type
            )
            for b in extra
        ]
        _wait(admin.delete_acls(filters, request_timeout=TIMEOUT), f"deleting ACLs of {name}")
    have = {g for b in found if (g := _grant_of(b)) is not None}
    missing = grants - have
    if missing:
        _wait(admin.create_acls(bindings(name, missing), request_timeout=TIMEOUT), f"creating ACLs of {name}")


def scram_users(admin: AdminClient) -> set[str]:
    described = admin.describe_user_scram_credentials(request_timeout=TIMEOUT)
    assert not isinstance(described, dict)  # asked for every user: one future
    return set(described.result(timeout=TIMEOUT))


def set_password(admin: AdminClient, name: str, password: str) -> None:
    upsert = UserScramCredentialUpsertion(
        name, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS), password.encode()
    )
    _wait(admin.alter_user_scram_credentials([upsert], request_timeout=TIMEOUT), f"setting the password of {name}")


def delete_user(admin: AdminClient, name: str) -> None:
    deletion = UserScramCredentialDeletion(name, ScramMechanism.SCRAM_SHA_512)
    _wait(admin.alter_user_scram_credentials([deletion], request_timeout=TIMEOUT), f"deleting the user {name}")


# --- the stack's own principals -------------------------------------------------------------------


def ensure_principals(settings: Settings, passwords: Mapping[str, str]) -> list[str]:
    """Give each user of `passwords` that password (a rotated one included); returns the users created."""
    admin = admin_client(settings)
    missing = sorted(set(passwords) - scram_users(admin))
    for name, password in passwords.items():
        set_password(admin, name, password)
    return missing


def ensure_stack_acls(settings: Settings, partners: Mapping[str, PartnerRole] = DEV_PARTNERS) -> None:
    """Give every service, and the stack's own partners, exactly the ACLs of its role."""
    admin = admin_client(settings)
    for name, grants in SERVICE_GRANTS.items():
        set_grants(admin, name, grants)
    for name, role in partners.items():
        set_grants(admin, name, PARTNER_GRANTS[role])


# --- partners -------------------------------------------------------------------------------------


def partner_client_options(settings: Settings, name: str, password: str) -> dict[str, Any]:
    """The aiokafka keyword arguments a partner's client uses (what `kafka-config` prints)."""
    return {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
        "sasl_mechanism": settings.kafka_sasl_mechanism,
        "sasl_plain_username": name,
        "sasl_plain_password": password,
    }


def add_partner_principal(settings: Settings, name: str, role: str, *, replace: bool = False) -> dict[str, Any]:
    """Create partner `name` with a new random password and the ACLs of `role`; returns its client options.

    The password is in the returned options only: it is not stored anywhere (the broker keeps a salted
    SCRAM hash). A partner that exists is refused unless `replace`, which issues a new password (the old
    one stops working for new connections) and resets its ACLs to `role`.
    """
    check_partner_name(name)
    checked_role = check_role(role)
    admin = admin_client(settings)
    if not replace and name in scram_users(admin):
        raise PrincipalError(
            f"partner {name!r} exists; remove it first, or add it again with replace (xf kafka partner add --replace)"
        )
    password = secrets.token_urlsafe(32)
    set_password(admin, name, password)
    set_grants(admin, name, PARTNER_GRANTS[checked_role])
    return partner_client_options(settings, name, password)


def remove_partner_principal(settings: Settings, name: str) -> None:
    """Delete partner `name`'s ACLs (its open connections can do nothing more at once) and credentials."""
    check_partner_name(name)
    admin = admin_client(settings)
    set_grants(admin, name, frozenset())
    if name in scram_users(admin):
        delete_user(admin, name)


def role_of(grants: set[Grant]) -> str:
    for role, expected in PARTNER_GRANTS.items():
        if grants == expected:
            return role
    return "custom" if grants else "none"


def list_partner_principals(settings: Settings) -> dict[str, str]:
    """Every SCRAM user that is not one of the stack's own principals, with its role by its ACLs."""
    admin = admin_client(settings)
    names = sorted(scram_users(admin) - RESERVED_NAMES)
    return {name: role_of(current_grants(admin, name)) for name in names}
