"""Every service's configuration, read from XF_* environment variables.

The local stack (`xf stack`), docker-compose.yml and the tests all set the same variables, so one
place says what a service listens on and where it finds Kafka and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Literal

from limits import parse_many
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common import secret_files

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
    # How this process authenticates to Kafka (services.common.kafka.client_options). The local stack
    # listens SASL_PLAINTEXT on loopback; a production broker reached over a network uses SASL_SSL (with
    # kafka_ssl_cafile naming the CA that signed the broker's certificate).
    kafka_security_protocol: Literal["SASL_PLAINTEXT", "SASL_SSL", "PLAINTEXT"] = "SASL_PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_ssl_cafile: Path | None = None
    # This process's Kafka principal. Unset, a process on the developer's machine uses the stack's admin
    # credentials that `xf stack up` wrote into <stack_dir>/secrets (the services it starts get their own).
    kafka_username: str | None = None
    kafka_password: str | None = Field(default=None, repr=False)

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

    # Development mode: the only mode in which the shipped defaults of the secrets below may be used and
    # intake's development API key exists. `xf stack up` and the test suite turn it on; a deployment never.
    dev_mode: bool = False
    # Key for the petitioner pseudonym (HMAC). A deployment must set its own secret; `xf stack up` makes
    # one per stack directory (<stack_dir>/secrets/pseudonym-key), which every process of that stack reads.
    pseudonym_key: str = Field(default="dev-only-pseudonym-key-change-me", repr=False)
    # Keys that encrypt personal data at rest in intake: "k2:<base64>,k1:<base64>", the first encrypts,
    # all decrypt. The default is for development only; `xf intake new-key` makes a real one, and
    # `xf stack up` one per stack directory (<stack_dir>/secrets/vault-keys).
    vault_keys: str = Field(default="dev1:ZGV2LW9ubHktdmF1bHQta2V5LWNoYW5nZS1tZS0zMmI=", repr=False)
    # Intake's development API key (client "dev": every channel, the whole country, any Kafka source),
    # so that `xf demo` and the tests work on a fresh stack. It exists only in development mode; a
    # deployment creates its clients with `xf intake client add`.
    intake_dev_api_key: str = Field(default="xfk_dev_dev-only-intake-key-change-me", repr=False)
    # The development client's key for signing the Kafka records it publishes (services.common.signing),
    # so that `xf demo` works on a fresh stack. Development only, like the key above.
    intake_dev_signing_key: str = Field(default="xfsk_dev-only-partner-signing-key-change-me", repr=False)
    # The services' own key for signing the records they publish on topics partners write to
    # (case.lifecycle), so that no partner can pass as the tracker. A deployment sets its own secret.
    event_signing_key: str = Field(default="xfsk_dev-only-service-signing-key-change-me", min_length=16, repr=False)
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

    # Every consumer: how often a record whose effect fails (not for a connection error) is tried before it
    # is dead-lettered; how long a consumer with records waiting may go without progress before /healthz
    # answers 503 (xf_consumer_stalled); how often its progress is measured.
    consumer_max_attempts: int = Field(default=3, ge=1, le=100)
    consumer_stall_seconds: float = Field(default=120.0, gt=0)
    consumer_progress_interval: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _stack_secrets(self) -> Settings:
        """Secrets not given explicitly come from the stack directory when `xf stack up` made them there."""
        for field, name in secret_files.SETTINGS_FILES.items():
            if field not in self.model_fields_set:
                value = secret_files.read_secret(self.stack_dir, name)
                if value is not None:
                    setattr(self, field, value)
        return self

    def require_own_secrets(self, fields: Iterable[str]) -> None:
        """Refuse to run with a shipped default secret outside development mode, naming the setting."""
        if self.dev_mode:
            return
        prefix = str(self.model_config.get("env_prefix", ""))
        shipped = [
            f"{prefix}{field}".upper()
            for field in fields
            if field != "intake_dev_api_key" and getattr(self, field) == type(self).model_fields[field].default
        ]
        if shipped:
            raise ShippedDefaultSecret(
                f"{', '.join(shipped)} still {'has' if len(shipped) == 1 else 'have'} the shipped development "
                f"default; set {'it' if len(shipped) == 1 else 'them'} to this installation's own secret "
                f"(docs/SECRETS.md), or set {prefix}DEV_MODE=true on a developer's machine"
            )
        if "intake_dev_api_key" in fields and "intake_dev_api_key" in self.model_fields_set and self.intake_dev_api_key:
            raise ShippedDefaultSecret(
                f"{prefix}INTAKE_DEV_API_KEY is set, but the development API key exists only in development mode "
                f"({prefix}DEV_MODE=true); unset it and create clients with `xf intake client add`"
            )

    @property
    def dev_api_key(self) -> str | None:
        """Intake's development API key, or None: it exists only in development mode."""
        return (self.intake_dev_api_key or None) if self.dev_mode else None

    @property
    def dev_signing_key(self) -> str | None:
        """The development client's signing key, or None: it exists only in development mode."""
        return (self.intake_dev_signing_key or None) if self.dev_mode else None

    # The HTTP edge of intake and the tracker (docs/intake.md "Limits of the HTTP edge"). Bodies: bytes of one
    # request (of a batch), how deep its JSON may nest, seconds for all of it to arrive. Connections:
    # seconds for a request's headers to arrive and their bytes, seconds an idle keep-alive connection
    # is kept, concurrent connections and requests (beyond: 503). Rates in the notation of the `limits`
    # library ("200/second;5000/minute"), per API key and per client address, each process its own;
    # a client address with too many wrong keys is locked out (429) for `http_lockout_seconds`.
    http_max_body_bytes: int = Field(default=1_048_576, gt=0)
    http_max_batch_body_bytes: int = Field(default=8_388_608, gt=0)
    http_max_json_depth: int = Field(default=32, gt=0)
    http_body_timeout: float = Field(default=30.0, gt=0)
    http_header_timeout: float = Field(default=10.0, gt=0)
    http_max_header_bytes: int = Field(default=16_384, gt=0)
    http_keep_alive_timeout: int = Field(default=5, gt=0)
    http_max_concurrency: int = Field(default=1000, gt=0)
    http_rate_per_key: str = "200/second"
    http_rate_per_address: str = "400/second"
    http_auth_failures: str = "20/minute"
    http_lockout_seconds: float = Field(default=300.0, gt=0)
    # Retry-After (seconds) of a 503 while PostgreSQL (or Kafka, for the tracker's actions) is unreachable.
    http_unavailable_retry_after: int = Field(default=5, gt=0)
    # Proxies whose X-Forwarded-For is believed (uvicorn's forwarded_allow_ips): the client address
    # that rate limits and lock-outs count by.
    http_forwarded_allow_ips: str = "127.0.0.1"

    # Repeated log lines (same logger, level and message template, WARNING and above): at most
    # `log_repeat_burst` per `log_repeat_interval` seconds, then one line with the count.
    log_repeat_interval: float = Field(default=10.0, gt=0)
    log_repeat_burst: int = Field(default=5, gt=0)

    @field_validator("http_rate_per_key", "http_rate_per_address", "http_auth_failures")
    @classmethod
    def _rates(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError:
            raise ValueError(f"not a rate such as '200/second' or '50/second;2000/minute': {value!r}") from None
        return value

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap or f"{self.host}:{self.kafka_port}"

    @property
    def dsn(self) -> str:
        if self.database_url:
            return self.database_url
        return f"postgresql://{self.pg_user}:{self.pg_password}@{self.host}:{self.pg_port}/{self.pg_database}"


class ShippedDefaultSecret(RuntimeError):
    """A service was about to run with a secret everyone has (the shipped default) outside development mode."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
