"""Outside development mode nothing starts with the shipped default secrets, and the dev key does not exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.settings import Settings, ShippedDefaultSecret
from services.intake.privacy import generate_vault_key
from services.intake.service import IntakeService
from services.stack.stack_secrets import STACK_PRINCIPALS, ensure_stack_secrets
from services.tracker.service import TrackerService

OWN = {"pseudonym_key": "an-installation's-own-pseudonym-key-000", "vault_keys": f"k1:{generate_vault_key()}"}


def production(tmp_path: Path, **values: object) -> Settings:
    return Settings(stack_dir=tmp_path, dev_mode=False, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize("shipped", ["pseudonym_key", "vault_keys"])
def test_intake_refuses_a_shipped_default_outside_development_mode(tmp_path: Path, shipped: str) -> None:
    values = {name: value for name, value in OWN.items() if name != shipped}
    with pytest.raises(ShippedDefaultSecret, match=f"XF_{shipped.upper()}"):
        IntakeService(production(tmp_path, **values))


def test_the_tracker_refuses_the_shipped_event_signing_key_outside_development_mode(tmp_path: Path) -> None:
    with pytest.raises(ShippedDefaultSecret, match="XF_EVENT_SIGNING_KEY"):
        TrackerService(production(tmp_path))
    ensure_stack_secrets(Settings(stack_dir=tmp_path))  # what `xf stack up` makes is the tracker's own
    assert production(tmp_path).event_signing_key.startswith("xfsk_")
    assert production(tmp_path).event_signing_key != Settings.model_fields["event_signing_key"].default


def test_intake_refuses_a_dev_key_outside_development_mode(tmp_path: Path) -> None:
    with pytest.raises(ShippedDefaultSecret, match="XF_INTAKE_DEV_API_KEY"):
        IntakeService(production(tmp_path, **OWN, intake_dev_api_key="xfk_dev_someone-set-this"))


def test_intake_starts_with_its_own_secrets_and_no_dev_key(tmp_path: Path) -> None:
    settings = production(tmp_path, **OWN)
    IntakeService(settings)
    assert settings.dev_api_key is None  # the shipped default key is not a key outside development mode


def test_development_mode_allows_the_shipped_defaults(tmp_path: Path) -> None:
    settings = Settings(stack_dir=tmp_path, dev_mode=True)
    IntakeService(settings)
    assert settings.dev_api_key == Settings.model_fields["intake_dev_api_key"].default


def test_the_stack_makes_its_own_secrets_once_readable_by_the_owner_only(tmp_path: Path) -> None:
    created = ensure_stack_secrets(Settings(stack_dir=tmp_path))
    kafka = [f"kafka/{name}" for name in STACK_PRINCIPALS]
    assert created == ["pseudonym-key", "vault-keys", "event-signing-key", *kafka]
    files = [path for path in (tmp_path / "secrets").rglob("*") if path.is_file()]
    assert len(files) == len(created)
    assert {path.stat().st_mode & 0o777 for path in files} == {0o600}
    assert {path.stat().st_mode & 0o777 for path in (tmp_path / "secrets").rglob("*") if path.is_dir()} == {0o700}
    first = {path: path.read_text() for path in files}
    assert ensure_stack_secrets(Settings(stack_dir=tmp_path)) == []  # kept across restarts
    assert {path: path.read_text() for path in files} == first


def test_processes_of_the_stack_read_its_secrets_and_run_outside_development_mode(tmp_path: Path) -> None:
    ensure_stack_secrets(Settings(stack_dir=tmp_path))
    settings = production(tmp_path)
    assert settings.pseudonym_key == (tmp_path / "secrets" / "pseudonym-key").read_text().strip()
    assert settings.vault_keys.startswith("stack1:")
    IntakeService(settings)


def test_an_explicit_secret_wins_over_the_stack_file(tmp_path: Path) -> None:
    ensure_stack_secrets(Settings(stack_dir=tmp_path))
    assert production(tmp_path, **OWN).pseudonym_key == OWN["pseudonym_key"]


def test_secrets_are_not_in_the_settings_repr(tmp_path: Path) -> None:
    text = repr(Settings(stack_dir=tmp_path, kafka_password="hunter2-password", **OWN))
    assert "hunter2-password" not in text and OWN["pseudonym_key"] not in text
