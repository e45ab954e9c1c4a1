"""Every service's configuration, read from XF_* environment variables.

The local stack (`xf stack`), docker-compose.yml and the tests all set the same variables, so one
place says what a service listens on and where it finds Kafka and PostgreSQL.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XF_", extra="ignore")

    # Where the local stack keeps data, logs and pid files (never used inside containers).
    stack_dir: Path = PROJECT_ROOT / ".stack"
    host: str = "127.0.0.1"

    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    # Full bootstrap address; defaults to host:kafka_port. docker-compose sets it to kafka:9092.
    kafka_bootstrap: str | None = None

    pg_port: int = 55432
    pg_user: str = "xinfang"
    pg_password: str = "xinfang"
    pg_database: str = "xinfang"
    # Full DSN; defaults to one built from the parts above.
    database_url: str | None = None

    prometheus_port: int = 9090

    intake_port: int = 8001
    router_port: int = 8002
    tracker_port: int = 8003

    rules_dir: Path = PROJECT_ROOT / "rules"
    timezone: str = "Asia/Shanghai"
    log_level: str = "INFO"

    # Key for the petitioner pseudonym (HMAC). A deployment must set its own secret.
    pseudonym_key: str = Field(default="dev-only-pseudonym-key-change-me")
    # Keys that encrypt personal data at rest in intake: "k2:<base64>,k1:<base64>", the first encrypts,
    # all decrypt. The default is for development only; `xf intake new-key` makes a real one.
    vault_keys: str = Field(default="dev1:ZGV2LW9ubHktdmF1bHQta2V5LWNoYW5nZS1tZS0zMmI=")
    # Intake's development API key (client "dev": every channel, the whole country, any Kafka source),
    # so that `xf demo` and the tests work on a fresh stack. A deployment sets it empty to disable it and
    # creates its clients with `xf intake client add`.
    intake_dev_api_key: str = Field(default="xfk_dev_dev-only-intake-key-change-me")
    # The development client's key for signing the Kafka records it publishes (services.common.signing),
    # so that `xf demo` works on a fresh stack. Development only, like the key above.
    intake_dev_signing_key: str = Field(default="xfsk_dev-only-partner-signing-key-change-me")
    # The services' own key for signing the records they publish on topics partners write to
    # (case.lifecycle), so that no partner can pass as the tracker. A deployment sets its own secret.
    event_signing_key: str = Field(default="xfsk_dev-only-service-signing-key-change-me", min_length=16)
    # How far a partner's signature time may lie from the broker's append time of its record (seconds).
    signature_tolerance_seconds: float = Field(default=300.0, gt=0)
    # Intake's outbox: how long an event is kept after Kafka took it (never before), and how often
    # (seconds) and in batches of how many rows each intake process deletes the older ones.
    intake_outbox_retention_hours: float = Field(default=7 * 24.0, gt=0)
    intake_outbox_purge_interval: float = Field(default=300.0, gt=0)
    intake_outbox_purge_batch: int = Field(default=1000, gt=0)

    # Tracker: seconds between deadline scans, clocks claimed per scan round, events per consumed
    # batch, how long an event waits (parked) for the event it depends on before it is refused, how
    # often the gauges are read from the database, and this instance's name in the alerts it raises.
    tracker_scan_interval: float = 5.0
    tracker_scan_batch: int = 500
    tracker_consumer_batch: int = 200
    tracker_hold_seconds: float = 7 * 86400.0
    tracker_gauge_interval: float = 15.0
    tracker_instance: str | None = None
    # Running clocks `xf deadlines reapply` moves to the current policy per transaction.
    tracker_reapply_batch: int = Field(default=200, gt=0)

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap or f"{self.host}:{self.kafka_port}"

    @property
    def dsn(self) -> str:
        if self.database_url:
            return self.database_url
        return f"postgresql://{self.pg_user}:{self.pg_password}@{self.host}:{self.pg_port}/{self.pg_database}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
