"""The Kafka topics of the pipeline, with their partition counts, in one place.

Every topic is keyed by case id, so all events of one case land on one partition, in order.
The topics partners write to stamp each record with the broker's append time (LogAppendTime), which a
producer cannot choose: signatures (services.common.signing) are checked against it. Topics are created
with their settings; a topic created before it had them is left alone (its other settings may be an
operator's): set them with `kafka-configs.sh --alter --entity-type topics --entity-name case.lifecycle
--add-config message.timestamp.type=LogAppendTime` (until then the consumers compare with their clock).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from services.common.kafka import client_options
from services.common.settings import Settings

APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    description: str
    configs: Mapping[str, str] = field(default_factory=dict)


CASE_SUBMITTED = Topic("case.submitted", 6, "cases published by upstream systems, into intake", APPEND_TIME)
CASE_RECEIVED = Topic("case.received", 6, "accepted cases, without personal data, intake → router, tracker")
CASE_ROUTED = Topic("case.routed", 6, "routing decisions, router → tracker")
CASE_LIFECYCLE = Topic(
    "case.lifecycle", 6, "lifecycle events from units' systems and the tracker API, signed", APPEND_TIME
)
CASE_ALERT = Topic("case.alert", 3, "deadline warnings, overdue alerts and escalations from the tracker")
DEADLETTER = Topic("case.deadletter", 3, "events that could not be processed, with the reason")
CASE_STATUS = Topic("case.status", 6, "each case's stage as the tracker decided it, tracker → intake")

ALL_TOPICS: tuple[Topic, ...] = (
    CASE_SUBMITTED,
    CASE_RECEIVED,
    CASE_ROUTED,
    CASE_LIFECYCLE,
    CASE_STATUS,
    CASE_ALERT,
    DEADLETTER,
)


async def ensure_topics(settings: Settings, topics: tuple[Topic, ...] = ALL_TOPICS) -> list[str]:
    """Create the topics that do not exist yet; returns the names created.

    Only the stack's super user may create topics; a service's principal may see (DESCRIBE) the pipeline's
    topics, so for it this is a check that they exist, which fails if one does not.
    """
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t.name not in existing]
        if not missing:
            return []
        # Another service may create one between our list and create.
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(
                [
                    NewTopic(t.name, num_partitions=t.partitions, replication_factor=1, topic_configs=dict(t.configs))
                    for t in missing
                ]
            )
        return [t.name for t in missing]
    finally:
        await admin.close()
