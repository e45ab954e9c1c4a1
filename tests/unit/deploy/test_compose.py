"""docker-compose.yml and the Prometheus/Grafana configuration agree with the code.

No Docker engine is needed: the files are read as YAML and checked against services/common/settings.py
(ports, XF_* variable names), services/common/topics.py (topics) and each other (host names, ports).
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from services.common.settings import PROJECT_ROOT, Settings
from services.common.topics import ALL_TOPICS, ensure_topics

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
PROMETHEUS_FILE = PROJECT_ROOT / "deploy" / "prometheus" / "prometheus.yml"
GRAFANA_DIR = PROJECT_ROOT / "deploy" / "grafana"

# The xinfang services, and the Settings field that holds each one's HTTP port.
XF_SERVICES = {"intake": "intake_port", "router": "router_port", "tracker": "tracker_port"}
# Services that need PostgreSQL (the router is stateless).
DB_SERVICES = ("intake", "tracker")
RULES_SERVICES = ("router", "tracker")
EXPECTED_SERVICES = {"kafka", "kafka-init", "postgres", "prometheus", "grafana", *XF_SERVICES}

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, and $VAR (but not $$ escapes).
_INTERPOLATION = re.compile(
    r"(?<!\$)\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def settings_default(field: str) -> Any:
    """The default from the class, not Settings(): tests elsewhere may have XF_* set in the environment."""
    return Settings.model_fields[field].default


def setting_env_names() -> set[str]:
    prefix = Settings.model_config.get("env_prefix", "")
    assert prefix == "XF_"
    return {f"{prefix}{name}".upper() for name in Settings.model_fields}


def interpolate(value: Any) -> Any:
    """Resolve compose variables to their defaults, as `docker compose` does with an empty environment; a
    required one (`${X:?…}`) to a stand-in for the value scripts/compose-secrets writes into .env."""
    if not isinstance(value, str):
        return value

    def sub(match: re.Match[str]) -> str:
        if match.group("op") in (":-", "-"):
            return match.group("arg")
        if match.group("op") in (":?", "?"):
            return "value-from-dotenv-" + "x" * 16
        return ""

    return _INTERPOLATION.sub(sub, value).replace("$$", "$")


def env_of(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment (mapping or list form), variables resolved, values as strings."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {key: str(interpolate(value)) for key, value in raw.items()}


def ports_of(service: dict[str, Any]) -> list[tuple[str | None, int, int]]:
    """(host ip, published port, container port) for each entry, short or long syntax."""
    result: list[tuple[str | None, int, int]] = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            result.append((entry.get("host_ip"), int(entry["published"]), int(entry["target"])))
            continue
        spec = str(entry).split("/", 1)[0]  # drop /tcp
        parts = spec.rsplit(":", 2)
        if len(parts) == 3:
            result.append((parts[0], int(parts[1]), int(parts[2])))
        elif len(parts) == 2:
            result.append((None, int(parts[0]), int(parts[1])))
        else:
            pytest.fail(f"port {entry!r} has no published port: it would be random")
    return result


def volumes_of(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) for each volume, short or long syntax."""
    result = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            result.append((entry["source"], entry["target"], bool(entry.get("read_only", False))))
            continue
        source, target, *mode = str(entry).split(":")
        result.append((source, target, "ro" in (mode[0].split(",") if mode else [])))
    return result


def bind_target(service: dict[str, Any], host_path: Path) -> tuple[str, bool]:
    """Where a service mounts the project path `host_path`, and whether read-only."""
    for source, target, read_only in volumes_of(service):
        if source.startswith(".") and (PROJECT_ROOT / source).resolve() == host_path.resolve():
            return target, read_only
    pytest.fail(f"{host_path.relative_to(PROJECT_ROOT)} is not mounted")


def healthcheck_command(service: dict[str, Any]) -> str:
    test = service.get("healthcheck", {}).get("test")
    assert test, "no healthcheck"
    if isinstance(test, str):
        return test
    assert test[0] in ("CMD", "CMD-SHELL"), test
    return " ".join(test[1:])


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    assert command, "no command"
    return command if isinstance(command, list) else command.split()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    # safe_load understands the `<<: *anchor` merge keys the file uses, as compose does.
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def prometheus() -> dict[str, Any]:
    return yaml.safe_load(PROMETHEUS_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def grafana_datasources() -> dict[str, dict[str, Any]]:
    path = GRAFANA_DIR / "provisioning" / "datasources" / "datasources.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {ds["uid"]: ds for ds in data["datasources"]}


# --- services and ports ---------------------------------------------------------------------------


def test_all_services_are_defined(services: dict[str, Any]) -> None:
    missing = EXPECTED_SERVICES - services.keys()
    assert not missing, f"missing services: {sorted(missing)}"


def test_pinned_images(services: dict[str, Any]) -> None:
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")
    for name, service in services.items():
        if "build" not in service:  # our own image is built here; every pulled one has a fixed tag
            assert not service["image"].endswith(":latest") and ":" in service["image"], name


@pytest.mark.parametrize("name", sorted(XF_SERVICES))
def test_xf_service_port_matches_settings(services: dict[str, Any], name: str) -> None:
    service = services[name]
    field = XF_SERVICES[name]
    port = settings_default(field)
    assert [(published, target) for _, published, target in ports_of(service)] == [(port, port)]
    assert env_of(service)[f"XF_{field.upper()}"] == str(port)
    assert f"127.0.0.1:{port}/healthz" in healthcheck_command(service)


@pytest.mark.parametrize("name", sorted(XF_SERVICES))
def test_xf_service_runs_its_module_from_our_image(services: dict[str, Any], name: str) -> None:
    service = services[name]
    assert command_of(service) == ["python", "-m", f"services.{name}"]
    build = service["build"]
    assert (build if isinstance(build, str) else build["context"]) == ".", "built from this repository"
    assert service["image"] == services["kafka-init"]["image"], "one image for every xinfang container"


def test_infrastructure_ports_match_settings(services: dict[str, Any]) -> None:
    assert [(p, t) for _, p, t in ports_of(services["prometheus"])] == [(settings_default("prometheus_port"), 9090)]
    # The host side uses the local stack's PostgreSQL port, so `xf` on the host reaches it unchanged.
    assert [(p, t) for _, p, t in ports_of(services["postgres"])] == [(settings_default("pg_port"), 5432)]
    assert [(p, t) for _, p, t in ports_of(services["grafana"])] == [(3000, 3000)]


def test_published_ports_are_loopback_only(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for host_ip, published, _ in ports_of(service):
            assert host_ip == "127.0.0.1", f"{name} publishes {published} on every interface"


def test_published_ports_do_not_clash(services: dict[str, Any]) -> None:
    published = [port for service in services.values() for _, port, _ in ports_of(service)]
    assert len(published) == len(set(published))


# --- environment ----------------------------------------------------------------------------------


def test_xf_variables_are_settings_fields(compose: dict[str, Any]) -> None:
    """Every XF_* name, set in an environment or used as a ${variable}, is a field of Settings."""
    known = setting_env_names()
    used: dict[str, set[str]] = {}
    for name, service in compose["services"].items():
        for key in env_of(service):
            if key.upper().startswith("XF_"):
                used.setdefault(key, set()).add(name)
    for match in _INTERPOLATION.finditer(COMPOSE_FILE.read_text(encoding="utf-8")):
        variable = match.group("braced") or match.group("bare")
        if variable.upper().startswith("XF_"):
            used.setdefault(variable, set()).add("${...}")
    assert used, "no XF_* variables found at all"
    unknown = {key: sorted(where) for key, where in used.items() if key not in known}
    assert not unknown, f"XF_* names that no Settings field reads (typo?): {unknown}"


@pytest.mark.parametrize("name", sorted(XF_SERVICES))
def test_settings_accept_the_compose_environment(
    services: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings() inside the container: the values parse, and they point at the compose hosts."""
    for key in setting_env_names():
        monkeypatch.delenv(key, raising=False)
    for key, value in env_of(services[name]).items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.host == "0.0.0.0", "a container must listen on all interfaces"
    assert settings.bootstrap_servers == "kafka:9092"
    assert getattr(settings, XF_SERVICES[name]) == settings_default(XF_SERVICES[name])
    if name in DB_SERVICES:
        dsn = urlsplit(settings.dsn)
        postgres_env = env_of(services["postgres"])
        assert (dsn.hostname, dsn.port) == ("postgres", 5432)
        assert dsn.username == postgres_env["POSTGRES_USER"] == settings_default("pg_user")
        assert dsn.password == postgres_env["POSTGRES_PASSWORD"]
        assert dsn.path.lstrip("/") == postgres_env["POSTGRES_DB"] == settings_default("pg_database")
    if name in RULES_SERVICES:
        target, read_only = bind_target(services[name], PROJECT_ROOT / "rules")
        assert str(settings.rules_dir) == target
        assert read_only, "the rules are mounted read-only"


# --- dependencies and health ----------------------------------------------------------------------


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in raw.items()}


def test_start_order(services: dict[str, Any]) -> None:
    assert depends_on(services["kafka-init"]) == {"kafka": "service_healthy"}
    for name in XF_SERVICES:
        deps = depends_on(services[name])
        # The topics must exist first: auto-creation is off.
        assert deps.get("kafka-init") == "service_completed_successfully", name
        if name in DB_SERVICES:
            assert deps.get("postgres") == "service_healthy", name
    for name, service in services.items():
        for dependency, condition in depends_on(service).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if condition == "service_healthy":
                assert services[dependency].get("healthcheck"), f"{dependency} has no healthcheck"


def test_long_running_services_have_healthchecks(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if name != "kafka-init":
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    assert services["kafka-init"].get("restart", "no") == "no", "a one-shot must not be restarted"


# --- Kafka and the topics -------------------------------------------------------------------------


def kafka_properties(service: dict[str, Any], path: str = "/tmp/server.properties") -> dict[str, str]:
    """The properties the kafka container's start script writes to `path` (a here-document)."""
    script = service["command"][0]
    match = re.search(rf"cat > {re.escape(path)} <<EOF\n(.*?)\nEOF\n", script, re.DOTALL)
    assert match, f"the kafka command writes no {path}"
    return dict(line.split("=", 1) for line in match.group(1).splitlines() if line.strip())


def test_kafka_is_a_single_kraft_node(services: dict[str, Any]) -> None:
    props = kafka_properties(services["kafka"])
    assert set(props["process.roles"].split(",")) == {"broker", "controller"}
    assert props["auto.create.topics.enable"] == "false"
    for key, value in props.items():
        if key.endswith("replication.factor") or key.endswith("min.isr"):
            assert value == "1", key
    # The address the containers use is the one the broker advertises.
    advertised = props["advertised.listeners"].split(",")
    assert "SASL_PLAINTEXT://kafka:9092" in advertised
    assert env_of(services["kafka-init"])["XF_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert props["inter.broker.listener.name"] == "SASL_PLAINTEXT"


def test_kafka_authenticates_every_listener_and_authorises_by_acl(services: dict[str, Any]) -> None:
    props = kafka_properties(services["kafka"])
    protocols = dict(item.split(":") for item in props["listener.security.protocol.map"].split(","))
    assert set(protocols.values()) == {"SASL_PLAINTEXT"}, "no PLAINTEXT listener at all"
    assert {name.split(":")[0] for name in props["listeners"].split(",")} == set(protocols)
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:admin"
    script = services["kafka"]["command"][0]
    assert "--add-scram" in script, "the super user exists from the first start"
    assert "--command-config /tmp/admin.properties" in healthcheck_command(services["kafka"])


@pytest.mark.parametrize("name", sorted(XF_SERVICES))
def test_each_service_has_its_own_kafka_principal_and_no_shipped_secret(services: dict[str, Any], name: str) -> None:
    raw = services[name]["environment"]
    assert raw["XF_KAFKA_USERNAME"] == name
    assert raw["XF_KAFKA_PASSWORD"].startswith(f"${{KAFKA_{name.upper()}_PASSWORD:?"), "required, no default"
    assert "XF_DEV_MODE" not in raw
    if name == "intake":
        for secret in ("XF_PSEUDONYM_KEY", "XF_VAULT_KEYS"):
            assert raw[secret].startswith(f"${{{secret}:?"), f"{secret}: required, no default"


def test_the_tracker_signs_with_a_key_of_the_installation(services: dict[str, Any]) -> None:
    secret = services["tracker"]["environment"]["XF_EVENT_SIGNING_KEY"]
    assert secret.startswith("${XF_EVENT_SIGNING_KEY:?"), "required, no default"


def test_kafka_init_creates_all_topics(services: dict[str, Any]) -> None:
    """kafka-init runs ensure_topics with its default, which is ALL_TOPICS with their partitions."""
    command = command_of(services["kafka-init"])
    assert command[:2] == ["python", "-c"]
    tree = ast.parse(command[2])  # also proves the inline script is valid Python

    imported = {
        (node.module, alias.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names
    }
    assert ("services.common.topics", "ensure_topics") in imported
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "ensure_topics"
    ]
    assert len(calls) == 1, "ensure_topics is called once"
    assert len(calls[0].args) == 1 and not calls[0].keywords, "only the settings: all topics"

    default = inspect.signature(ensure_topics).parameters["topics"].default
    assert default is ALL_TOPICS


def test_topics_are_well_formed() -> None:
    names = [topic.name for topic in ALL_TOPICS]
    assert len(names) == len(set(names))
    for topic in ALL_TOPICS:
        assert re.fullmatch(r"[a-z0-9._-]+", topic.name), topic.name
        assert topic.partitions >= 1, topic.name


# --- Prometheus -----------------------------------------------------------------------------------


def test_prometheus_scrapes_every_xf_service(prometheus: dict[str, Any], services: dict[str, Any]) -> None:
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    assert set(jobs) == set(XF_SERVICES)
    for name, field in XF_SERVICES.items():
        job = jobs[name]
        targets = [target for static in job["static_configs"] for target in static["targets"]]
        container_ports = [target for _, _, target in ports_of(services[name])]
        assert targets == [f"{name}:{settings_default(field)}"]
        host, port = targets[0].rsplit(":", 1)
        assert host in services and int(port) in container_ports
        assert job.get("metrics_path", "/metrics") == "/metrics"
        assert job["scrape_interval"] == "5s"


def test_prometheus_container_reads_this_config(prometheus: dict[str, Any], services: dict[str, Any]) -> None:
    service = services["prometheus"]
    target, read_only = bind_target(service, PROMETHEUS_FILE.parent)
    assert read_only
    assert f"--config.file={target}/prometheus.yml" in command_of(service)
    # rule_files are relative to the config file, so they resolve inside the same mount.
    for pattern in prometheus["rule_files"]:
        assert not pattern.startswith("/"), pattern
        assert list(PROMETHEUS_FILE.parent.glob(pattern)), f"{pattern} matches no rule file"


# --- Grafana --------------------------------------------------------------------------------------


def test_grafana_datasources_point_at_compose_services(
    grafana_datasources: dict[str, dict[str, Any]], services: dict[str, Any]
) -> None:
    assert {"prometheus", "postgres"} <= grafana_datasources.keys()

    prom = urlsplit(grafana_datasources["prometheus"]["url"])
    assert prom.hostname in services and prom.hostname == "prometheus"
    assert prom.port in [target for _, _, target in ports_of(services["prometheus"])]

    pg = grafana_datasources["postgres"]
    host, port = pg["url"].rsplit(":", 1)
    assert host in services and host == "postgres"
    assert int(port) in [target for _, _, target in ports_of(services["postgres"])]
    postgres_env = env_of(services["postgres"])
    assert pg["user"] == postgres_env["POSTGRES_USER"]
    assert pg["jsonData"]["database"] == postgres_env["POSTGRES_DB"]
    # Grafana expands ${VAR} in provisioning files from its own environment.
    password_var = re.fullmatch(r"\$\{(\w+)\}", pg["secureJsonData"]["password"])
    assert password_var, "the password comes from the environment, not the file"
    grafana_env = env_of(services["grafana"])
    assert grafana_env[password_var.group(1)] == postgres_env["POSTGRES_PASSWORD"]


def test_grafana_mounts_provisioning_and_dashboards(services: dict[str, Any]) -> None:
    service = services["grafana"]
    target, read_only = bind_target(service, GRAFANA_DIR / "provisioning")
    assert (target, read_only) == ("/etc/grafana/provisioning", True)

    dashboards_target, read_only = bind_target(service, GRAFANA_DIR / "dashboards")
    assert read_only
    providers = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "dashboards" / "dashboards.yml").read_text(encoding="utf-8")
    )["providers"]
    assert [p["options"]["path"] for p in providers] == [dashboards_target]
    assert (GRAFANA_DIR / "dashboards").is_dir()
