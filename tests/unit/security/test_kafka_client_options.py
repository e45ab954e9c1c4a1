"""client_options: every Kafka client's connection settings, with this process's principal."""

from __future__ import annotations

from pathlib import Path

import pytest
from faststream.security import SASLScram512

from services.common.kafka import MissingKafkaCredentials, broker_security, client_options, make_broker
from services.common.secret_files import write_kafka_credentials
from services.common.settings import Settings


@pytest.fixture
def sasl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("XF_KAFKA_SECURITY_PROTOCOL", raising=False)
    write_kafka_credentials(tmp_path, "admin", "admin", "admin-password")
    write_kafka_credentials(tmp_path, "dev-unit", "dev-unit", "unit-password")
    return Settings(stack_dir=tmp_path, kafka_port=29092)


def test_without_a_principal_of_its_own_a_process_uses_the_stack_admin(sasl: Settings) -> None:
    assert client_options(sasl) == {
        "bootstrap_servers": "127.0.0.1:29092",
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "admin",
        "sasl_plain_password": "admin-password",
    }


def test_a_process_with_its_own_principal_uses_it(sasl: Settings) -> None:
    own = sasl.model_copy(update={"kafka_username": "intake", "kafka_password": "intake-password"})
    options = client_options(own)
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("intake", "intake-password")


def test_a_named_stack_principal(sasl: Settings) -> None:
    assert client_options(sasl, "dev-unit")["sasl_plain_username"] == "dev-unit"


def test_missing_credentials_name_the_settings(sasl: Settings) -> None:
    with pytest.raises(MissingKafkaCredentials, match="XF_KAFKA_USERNAME"):
        client_options(sasl, "nobody")
    with pytest.raises(MissingKafkaCredentials, match="XF_KAFKA_PASSWORD"):
        client_options(sasl.model_copy(update={"kafka_username": "intake"}))


def test_sasl_ssl_brings_an_ssl_context(sasl: Settings) -> None:
    options = client_options(sasl.model_copy(update={"kafka_security_protocol": "SASL_SSL"}))
    assert options["security_protocol"] == "SASL_SSL"
    assert options["ssl_context"] is not None
    security = broker_security(options)
    assert isinstance(security, SASLScram512) and security.use_ssl


def test_the_broker_gets_the_principal_as_faststream_security(sasl: Settings) -> None:
    security = broker_security(client_options(sasl))
    assert isinstance(security, SASLScram512)
    assert (security.username, security.password, security.use_ssl) == ("admin", "admin-password", False)
    broker = make_broker(sasl, "test")
    assert broker._connection_kwargs["sasl_plain_username"] == "admin"  # what faststream connects with
