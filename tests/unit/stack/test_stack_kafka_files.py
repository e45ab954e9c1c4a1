"""What `xf stack` writes for Kafka: the POM, server.properties, the log4j2 config, the cluster id."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from services.common.settings import Settings
from services.stack import kafka
from services.stack.errors import StackError

POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(stack_dir=tmp_path, host="127.0.0.1", kafka_port=29092, kafka_controller_port=29093)


def properties(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


PASSWORD = "s3cret-admin-password"


def test_server_properties_describe_one_kraft_node(settings: Settings) -> None:
    props = properties(kafka.render_server_properties(settings, PASSWORD))
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["listeners"] == "SASL_PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093"
    assert props["advertised.listeners"] == props["listeners"]
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:29093"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["log.dirs"] == str(settings.stack_dir / "kafka" / "data")
    assert props["auto.create.topics.enable"] == "false"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert "controller.quorum.voters" not in props  # would require formatting without --standalone


def test_no_listener_takes_unauthenticated_connections_and_acls_decide(settings: Settings) -> None:
    props = properties(kafka.render_server_properties(settings, PASSWORD))
    protocols = dict(item.split(":") for item in props["listener.security.protocol.map"].split(","))
    assert set(protocols.values()) == {"SASL_PLAINTEXT"}
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert props["listener.name.controller.sasl.enabled.mechanisms"] == "PLAIN"
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:admin"
    assert PASSWORD in props["listener.name.controller.plain.sasl.jaas.config"]


def test_server_properties_are_written_owner_only(settings: Settings) -> None:
    path = settings.stack_dir / "server.properties"
    path.write_text("old")
    path.chmod(0o644)
    kafka.write_owner_only(path, "new")
    assert path.read_text() == "new"
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    "key",
    [
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor",
        "share.coordinator.state.topic.min.isr",
    ],
)
def test_single_node_replication_settings_are_one(settings: Settings, key: str) -> None:
    assert properties(kafka.render_server_properties(settings, PASSWORD))[key] == "1"


def test_pom_depends_on_kafka_and_the_log4j_bridge() -> None:
    root = ET.fromstring(kafka.render_pom())
    assert root.findtext("m:packaging", namespaces=POM_NS) == "pom"
    dependencies = {
        (d.findtext("m:groupId", namespaces=POM_NS), d.findtext("m:artifactId", namespaces=POM_NS)): d.findtext(
            "m:version", namespaces=POM_NS
        )
        for d in root.iterfind("m:dependencies/m:dependency", POM_NS)
    }
    assert dependencies == {
        ("org.apache.kafka", "kafka_2.13"): "4.1.1",
        ("org.apache.logging.log4j", "log4j-slf4j-impl"): "2.24.3",
    }


def test_log4j2_config_is_xml_writing_to_stdout() -> None:
    root = ET.fromstring(kafka.render_log4j2())
    console = root.find("Appenders/Console")
    assert console is not None and console.get("target") == "SYSTEM_OUT"
    assert root.find("Loggers/Root") is not None


def test_cluster_id_is_16_random_bytes_in_url_safe_base64() -> None:
    value = kafka.new_cluster_id()
    assert len(value) == 22 and "=" not in value
    assert len(base64.urlsafe_b64decode(value + "==")) == 16
    assert kafka.new_cluster_id() != value


def test_cluster_id_is_made_once_per_stack(settings: Settings) -> None:
    kafka.kafka_dir(settings).mkdir(parents=True)
    assert kafka.cluster_id(settings) == kafka.cluster_id(settings)


def test_cache_follows_xdg_cache_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert kafka.libs_dir() == tmp_path / "xinfang" / "kafka-4.1.1" / "libs"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert kafka.libs_dir() == Path.home() / ".cache" / "xinfang" / "kafka-4.1.1" / "libs"


def test_libs_are_reused_once_complete(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    kafka.cache_dir().mkdir(parents=True)
    (kafka.cache_dir() / kafka.COMPLETE_MARKER).write_text("46 jars\n")
    monkeypatch.setattr("shutil.which", lambda name: None)  # Maven is not even needed
    assert kafka.ensure_libs() == kafka.libs_dir()


def test_missing_maven_is_reported_with_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(StackError, match=r"mvn not found.*apt-get install maven"):
        kafka.ensure_libs()
    with pytest.raises(StackError, match=r"java not found.*scripts/bootstrap"):
        kafka.preflight(Settings())


def test_broker_command_uses_the_libs_folder_and_a_small_heap(settings: Settings) -> None:
    command = kafka.broker_command(settings, "/usr/bin/java", Path("/cache/libs"))
    assert command[0] == "/usr/bin/java"
    assert "-Xmx512m" in command and "-Xms512m" in command
    assert command[command.index("-cp") + 1] == "/cache/libs/*"
    assert command[-2:] == ["kafka.Kafka", str(kafka.server_properties_path(settings))]
    assert kafka.marker(settings) in " ".join(command)


def test_cluster_id_never_starts_with_a_dash_the_storage_tool_would_read_as_an_option() -> None:
    assert not any(kafka.new_cluster_id().startswith("-") for _ in range(2000))


def test_storage_formatted_before_sasl_is_set_aside_to_be_formatted_anew(settings: Settings) -> None:
    data = kafka.data_dir(settings)
    data.mkdir(parents=True)
    (data / "meta.properties").write_text("cluster.id=old\n")
    (data / "case.received-0").mkdir()
    aside = kafka.set_aside_plaintext_data(settings)
    assert aside is not None and aside.name.startswith("data.before-sasl-")
    assert (aside / "case.received-0").is_dir() and not data.exists()
    assert not kafka.is_formatted(settings)


def test_storage_formatted_with_sasl_or_not_at_all_is_left_alone(settings: Settings) -> None:
    assert kafka.set_aside_plaintext_data(settings) is None
    data = kafka.data_dir(settings)
    data.mkdir(parents=True)
    (data / "meta.properties").write_text("cluster.id=new\n")
    kafka.sasl_marker(settings).write_text("")
    assert kafka.set_aside_plaintext_data(settings) is None
    assert kafka.is_formatted(settings)
