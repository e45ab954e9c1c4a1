"""The secrets of one local stack, made on its first `xf stack up` and kept in `<stack_dir>/secrets/`.

A random pseudonym key, vault key and services' event signing key, a random password for every Kafka
principal of the stack: its super user (`admin`, which the stack itself and the developer's `xf`
commands use), one per service, and the development stack's own upstream system and unit system
(`dev-upstream`, `dev-unit`). Existing files are never overwritten: a stack keeps its keys across restarts
(rotation: docs/SECRETS.md).
"""

from __future__ import annotations

import secrets

from services.common.kafka import STACK_ADMIN
from services.common.kafka_principals import (
    DEV_PARTNERS,
    SERVICE_PRINCIPALS,
    PrincipalError,
    admin_client,
    set_password,
)
from services.common.secret_files import (
    SETTINGS_FILES,
    kafka_credentials_path,
    kafka_credentials_text,
    replace_private,
    secrets_dir,
    write_kafka_credentials,
    write_private,
)
from services.common.settings import Settings
from services.intake.privacy import generate_vault_key

STACK_PRINCIPALS: tuple[str, ...] = (STACK_ADMIN, *SERVICE_PRINCIPALS, *DEV_PARTNERS)
VAULT_KEY_ID = "stack1"


def new_password() -> str:
    return secrets.token_urlsafe(32)


def ensure_stack_secrets(settings: Settings) -> list[str]:
    """Create the secrets the stack directory does not have yet; returns what was created."""
    created: list[str] = []
    values = {
        "pseudonym_key": lambda: secrets.token_urlsafe(32),
        "vault_keys": lambda: f"{VAULT_KEY_ID}:{generate_vault_key()}",
        "event_signing_key": lambda: "xfsk_" + secrets.token_urlsafe(32),
    }
    for field, name in SETTINGS_FILES.items():
        if write_private(secrets_dir(settings.stack_dir) / name, values[field]() + "\n"):
            created.append(name)
    for principal in STACK_PRINCIPALS:
        if write_kafka_credentials(settings.stack_dir, principal, principal, new_password()):
            created.append(f"kafka/{principal}")
    return created


def rotate_stack_password(settings: Settings, principal: str) -> None:
    """A new password for one of the stack's principals: set on the broker (as the admin), then stored.

    The part that uses it must be restarted: the service of that name, or Kafka itself for `admin`
    (its own configuration is written from the stored password at start).
    """
    if principal not in STACK_PRINCIPALS:
        raise PrincipalError(f"{principal!r} is not one of the stack's principals ({', '.join(STACK_PRINCIPALS)})")
    from services.stack.kafka import admin_settings  # the stack's Kafka part imports this module

    password = new_password()
    set_password(admin_client(admin_settings(settings)), principal, password)
    replace_private(kafka_credentials_path(settings.stack_dir, principal), kafka_credentials_text(principal, password))
