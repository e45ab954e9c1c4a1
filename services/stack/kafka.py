"""Apache Kafka 4.1.1 as one KRaft node (broker and controller), assembled from Maven Central.

The jars are copied once by Maven into `${XDG_CACHE_HOME:-~/.cache}/xinfang/kafka-4.1.1/libs` and
shared by every stack directory. Per stack: `<stack_dir>/kafka/` holds server.properties, the
log4j2 configuration, the cluster id and the data (`data/`); the broker's output goes to
`<stack_dir>/logs/kafka.log`.

The broker authenticates every client with SASL/SCRAM-SHA-512 and authorises every request by ACL
(services/common/kafka_principals.py); the passwords are the stack's secrets (stack_secrets.py). Its
storage is formatted with the super user's credentials; provisioning adds the other principals, their
ACLs and the topics on every `up`.
"""

from __future__ import annotations

import base64
import fcntl
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from services.common.kafka import STACK_ADMIN, client_options, credentials
from services.common.kafka_principals import SCRAM_ITERATIONS, ensure_principals, ensure_stack_acls
from services.common.settings import Settings
from services.common.topics import ensure_topics
from services.stack import processes
from services.stack.aio import run_sync
from services.stack.errors import StackError
from services.stack.part import Part, Port
from services.stack.ports import port_accepts
from services.stack.stack_secrets import STACK_PRINCIPALS, ensure_stack_secrets

KAFKA_VERSION = "4.1.1"
SCALA_VERSION = "2.13"
# The POM of kafka_2.13 does not bring the slf4j → log4j2 bridge that the release tarball ships;
# without it the broker logs nothing at all.
LOG4J_SLF4J_VERSION = "2.24.3"
# Pinned rather than left to Maven's prefix resolution; 2.8 is the version Maven 3.8 itself picks.
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:2.8"
HEAP = "512m"
START_TIMEOUT = 90.0
COMPLETE_MARKER = ".complete"
# In the data folder once it was formatted with SASL users (a folder without it predates SASL).
SASL_MARKER = ".xf-sasl"
SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule"
PLAIN_LOGIN = "org.apache.kafka.common.security.plain.PlainLoginModule"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "xinfang" / f"kafka-{KAFKA_VERSION}"


def libs_dir() -> Path:
    return cache_dir() / "libs"


def classpath(libs: Path) -> str:
    return f"{libs}/*"  # expanded by java itself, not by a shell


def render_pom() -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by `xf stack`: only used to copy Kafka's runtime jars from Maven Central. -->
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 http://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>org.xinfang.stack</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>{KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_{SCALA_VERSION}</artifactId>
      <version>{KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{LOG4J_SLF4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
"""


def ensure_libs() -> Path:
    """Copy Kafka's jars into the cache once (a marker file says it completed); returns the folder."""
    cache = cache_dir()
    libs = libs_dir()
    if (cache / COMPLETE_MARKER).exists():
        return libs
    mvn = find_mvn()
    cache.mkdir(parents=True, exist_ok=True)
    # A lock, so that two `xf stack up` at once do not copy into the same folder together.
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (cache / COMPLETE_MARKER).exists():
            return libs
        shutil.rmtree(libs, ignore_errors=True)
        (cache / "pom.xml").write_text(render_pom())
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(cache / "pom.xml"),
                f"{DEPENDENCY_PLUGIN}:copy-dependencies",
                f"-DoutputDirectory={libs}",
                "-DincludeScope=runtime",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            output = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
            raise StackError(
                f"mvn could not fetch Kafka {KAFKA_VERSION} from Maven Central (network or proxy?):\n" + output
            )
        (cache / COMPLETE_MARKER).write_text(f"{len(list(libs.glob('*.jar')))} jars\n")
    return libs


def kafka_dir(settings: Settings) -> Path:
    return settings.stack_dir / "kafka"


def data_dir(settings: Settings) -> Path:
    return kafka_dir(settings) / "data"


def server_properties_path(settings: Settings) -> Path:
    return kafka_dir(settings) / "server.properties"


def log4j2_path(settings: Settings) -> Path:
    return kafka_dir(settings) / "log4j2.xml"


def bootstrap_servers(settings: Settings) -> str:
    """The local broker's address (XF_KAFKA_BOOTSTRAP is for containers, not for this stack)."""
    return f"{settings.host}:{settings.kafka_port}"


def render_server_properties(settings: Settings, admin_password: str) -> str:
    """One KRaft node with SASL/SCRAM-SHA-512 on the client listener and ACLs enforced.

    The client listener is SASL_PLAINTEXT on the stack's loopback address (a production broker uses
    SASL_SSL). The controller listener uses SASL PLAIN with the admin's password in this file (SCRAM users
    live in the metadata log, which the controller cannot read before it runs), so no listener at all
    takes unauthenticated connections. Only the super user `admin` may do what no ACL allows.
    """
    host, port, controller = settings.host, settings.kafka_port, settings.kafka_controller_port
    jaas_scram = f'{SCRAM_LOGIN} required username="{STACK_ADMIN}" password="{admin_password}";'
    jaas_plain = (
        f'{PLAIN_LOGIN} required username="{STACK_ADMIN}" password="{admin_password}" '
        f'user_{STACK_ADMIN}="{admin_password}";'
    )
    return f"""# Written by `xf stack`: one KRaft node that is both broker and controller. Holds a password: mode 0600.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers={host}:{controller}
listeners=SASL_PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller}
advertised.listeners=SASL_PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller}
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={jaas_scram}
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config={jaas_plain}
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:{STACK_ADMIN}
# Clients authenticate again every 10 minutes, so a removed principal's open connections end.
connections.max.reauth.ms=600000
log.dirs={data_dir(settings)}
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Topics are created by `xf stack up` with explicit partition counts (services/common/topics.py).
auto.create.topics.enable=false
"""


def render_log4j2() -> str:
    # Everything goes to stdout, which the stack appends to <stack_dir>/logs/kafka.log.
    return """<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by `xf stack`. -->
<Configuration status="WARN">
  <Appenders>
    <Console name="stdout" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="stdout"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Logger name="org.apache.kafka.clients" level="WARN"/>
    <Logger name="kafka.log.LogCleaner" level="WARN"/>
    <!-- Every component prints its whole configuration at start; server.properties is at hand. -->
    <Logger name="org.apache.kafka.common.config.AbstractConfig" level="WARN"/>
  </Loggers>
</Configuration>
"""


def new_cluster_id() -> str:
    """16 random bytes, URL-safe base64 without padding (22 characters), as Kafka expects.

    Like Kafka's own Uuid.randomUuid(), never one that starts with "-": the storage tool's argument
    parser would read it as an option (`-t -abc…`) and fail.
    """
    while True:
        value = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not value.startswith("-"):
            return value


def cluster_id(settings: Settings) -> str:
    """The stack's cluster id, made on first use and kept in `<stack_dir>/kafka/cluster-id`."""
    path = kafka_dir(settings) / "cluster-id"
    if path.exists():
        return path.read_text().strip()
    value = new_cluster_id()
    path.write_text(value + "\n")
    return value


def is_formatted(settings: Settings) -> bool:
    return (data_dir(settings) / "meta.properties").exists()


def sasl_marker(settings: Settings) -> Path:
    return data_dir(settings) / SASL_MARKER


def set_aside_plaintext_data(settings: Settings) -> Path | None:
    """A data folder formatted before the stack ran SASL has no users and no ACLs: it is moved aside
    (`data.before-sasl-<time>`, to be deleted by hand) and the storage formatted anew. Returns where it went."""
    if not is_formatted(settings) or sasl_marker(settings).exists():
        return None
    aside = kafka_dir(settings) / f"data.before-sasl-{time.strftime('%Y%m%d-%H%M%S')}"
    data_dir(settings).rename(aside)
    return aside


def format_storage(settings: Settings, java: str, libs: Path, admin_password: str) -> None:
    """Format the storage with the super user's SCRAM credentials in the first metadata (KIP-900), so that
    the broker can authenticate it from the start; the other principals are added at run time."""
    result = subprocess.run(
        [
            java,
            "-cp",
            classpath(libs),
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "-t",
            cluster_id(settings),
            "-c",
            str(server_properties_path(settings)),
            "--add-scram",
            f"SCRAM-SHA-512=[name={STACK_ADMIN},iterations={SCRAM_ITERATIONS},password={admin_password}]",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        output = f"{result.stdout}{result.stderr}".replace(admin_password, "***")
        raise StackError(f"formatting Kafka's storage failed:\n{output}".rstrip())
    sasl_marker(settings).write_text("formatted with SASL/SCRAM users by `xf stack`\n")


def broker_command(settings: Settings, java: str, libs: Path) -> list[str]:
    return [
        java,
        f"-Xmx{HEAP}",
        f"-Xms{HEAP}",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j2_path(settings)}",
        "-cp",
        classpath(libs),
        "kafka.Kafka",
        str(server_properties_path(settings)),
    ]


def find_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise StackError(
            "java not found: Kafka needs Java 17 or later; "
            "install it (apt-get install openjdk-17-jre-headless) or run scripts/bootstrap"
        )
    return java


def find_mvn() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(
            "mvn not found: Kafka's jars are fetched once with Maven; "
            "install it (apt-get install maven) or run scripts/bootstrap"
        )
    return mvn


def preflight(settings: Settings) -> None:
    find_java()
    if not (cache_dir() / COMPLETE_MARKER).exists():
        find_mvn()


def start(settings: Settings) -> None:
    java = find_java()
    libs = ensure_libs()
    kafka_dir(settings).mkdir(parents=True, exist_ok=True)
    ensure_stack_secrets(settings)
    _username, admin_password = credentials(settings, STACK_ADMIN)
    write_owner_only(server_properties_path(settings), render_server_properties(settings, admin_password))
    log4j2_path(settings).write_text(render_log4j2())
    aside = set_aside_plaintext_data(settings)
    if aside is not None:
        print(f"kafka: data formatted without SASL moved to {aside}; formatting anew", file=sys.stderr)
    if not is_formatted(settings):
        format_storage(settings, java, libs, admin_password)
    processes.start_detached(
        "kafka", broker_command(settings, java, libs), stack_dir=settings.stack_dir, cwd=kafka_dir(settings)
    )
    processes.wait_until_ready(
        "kafka",
        lambda: port_accepts(settings.host, settings.kafka_port) and run_sync(broker_answers(admin_settings(settings))),
        stack_dir=settings.stack_dir,
        marker=marker(settings),
        timeout=START_TIMEOUT,
        what="answering metadata requests",
    )


async def broker_answers(settings: Settings) -> bool:
    """True when the cluster metadata names at least one broker (the node has registered)."""
    admin = AIOKafkaAdminClient(**client_options(settings, STACK_ADMIN), request_timeout_ms=3000)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        return bool(cluster.get("brokers"))
    except Exception:  # any failure here just means "not yet"
        return False
    finally:
        await admin.close()


def admin_settings(settings: Settings) -> Settings:
    """The stack's settings as its super user sees them: this broker's address, SASL on, no own principal."""
    return settings.model_copy(
        update={
            "kafka_bootstrap": bootstrap_servers(settings),
            "kafka_security_protocol": "SASL_PLAINTEXT",
            "kafka_username": None,
            "kafka_password": None,
        }
    )


def provision(settings: Settings) -> None:
    """The stack's principals (SCRAM users) and their ACLs, then the pipeline's topics that do not exist
    yet, with their partition counts. All idempotent."""
    ensure_stack_secrets(settings)
    admin = admin_settings(settings)
    passwords = {name: credentials(settings, name)[1] for name in STACK_PRINCIPALS}
    ensure_principals(admin, passwords)
    ensure_stack_acls(admin)
    run_sync(ensure_topics(admin))


def write_owner_only(path: Path, content: str) -> None:
    """Write a file that holds a password: mode 0600 before the first byte is written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode on open
    with os.fdopen(fd, "w") as out:
        out.write(content)


def marker(settings: Settings) -> str:
    return str(server_properties_path(settings))


def address(settings: Settings) -> str:
    return f"{bootstrap_servers(settings)} (controller {settings.host}:{settings.kafka_controller_port})"


def ports(settings: Settings) -> list[Port]:
    return [
        Port(settings.kafka_port, "XF_KAFKA_PORT"),
        Port(settings.kafka_controller_port, "XF_KAFKA_CONTROLLER_PORT"),
    ]


PART = Part(
    name="kafka",
    address=address,
    ports=ports,
    marker=marker,
    start=start,
    preflight=preflight,
    provision=provision,
    stop_timeout=60.0,
)
