"""The one place where topics and subscriptions are declared.

Local setup, test fixtures and the Kubernetes manifests all create topics from here; the
broker's automatic topic creation is off so a typo fails loudly.
"""

from __future__ import annotations

from dataclasses import dataclass

from propfee.events import (
    ALL_EVENTS,
    ArrearsCasePaused,
    ArrearsCaseResumed,
    ArrearsEscalated,
    CommunityUpdated,
    Event,
    InstallmentPlanCreated,
    InvoiceBalanceChanged,
    InvoiceIssued,
    InvoiceSettled,
    LateFeeAssessed,
    LimitationClockChanged,
    NotificationDelivered,
    NotificationFailed,
    PartyContactsUpdated,
    PayLinkIssued,
    PaymentReceived,
    PaymentRefunded,
    PromiseRecorded,
    StaffTaskRequested,
)

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class Replication:
    """How many brokers hold each partition (``factor``) and how many of them must have a
    record before an ``acks=all`` producer (every Propfee producer) is told it is written
    (``min_insync_replicas``)."""

    factor: int
    min_insync_replicas: int

    def configs(self) -> dict[str, str]:
        return {"min.insync.replicas": str(self.min_insync_replicas)}


#: The production setting, the one home of it (the Helm chart's KafkaTopics default to it, the
#: local 3-broker cluster is made with it): 3 copies, a write acknowledged once 2 have it. One
#: broker can be down or rolling without losing an acknowledged event or stopping writes; with
#: two down, writes fail (NotEnoughReplicas) instead of being acknowledged by a lone broker.
PRODUCTION_REPLICATION = Replication(factor=3, min_insync_replicas=2)

#: The local single broker (deploy/local/infra.sh up) and the tests on it.
SINGLE_BROKER_REPLICATION = Replication(factor=1, min_insync_replicas=1)

#: By name, for ``PROPFEE_TOPIC_REPLICATION`` and ``python -m propfee.admin topics``.
REPLICATIONS = {"single-broker": SINGLE_BROKER_REPLICATION, "production": PRODUCTION_REPLICATION}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 6
    retention_ms: int = 30 * DAY_MS

    def configs(self) -> dict[str, str]:
        return {"retention.ms": str(self.retention_ms), "cleanup.policy": "delete"}


#: Which events each service's consumer group reads. The group id is the service name.
SUBSCRIPTIONS: dict[str, tuple[type[Event], ...]] = {
    "billing": (PaymentReceived, PaymentRefunded, LimitationClockChanged),
    "payments": (
        CommunityUpdated,
        InvoiceIssued,
        InvoiceSettled,
        InvoiceBalanceChanged,
        PayLinkIssued,
    ),
    "dunning": (
        CommunityUpdated,
        InvoiceIssued,
        InvoiceSettled,
        InvoiceBalanceChanged,
        LateFeeAssessed,
        PaymentReceived,
        PaymentRefunded,
        NotificationDelivered,
        NotificationFailed,
        StaffTaskRequested,
        InstallmentPlanCreated,
        PartyContactsUpdated,
    ),
    "notifier": (
        CommunityUpdated,
        PartyContactsUpdated,
        InvoiceIssued,
        PaymentReceived,
        ArrearsEscalated,
        ArrearsCasePaused,
        ArrearsCaseResumed,
        PromiseRecorded,
        InstallmentPlanCreated,
    ),
}

#: Events each service publishes (through its outbox).
PUBLICATIONS: dict[str, tuple[type[Event], ...]] = {
    service: tuple(e for e in ALL_EVENTS if e.producer == service) for service in SUBSCRIPTIONS
}

HEALTHCHECK_TOPIC = "propfee.healthcheck"


def dlq_topic(topic: str, group: str) -> str:
    """Dead-letter topic of one consumer group for one topic: ``<topic>.dlq.<group>``."""
    return f"{topic}.dlq.{group}"


def all_topics() -> list[TopicSpec]:
    """Every event topic, every dead-letter topic and the health-check topic."""
    specs = [TopicSpec(e.topic()) for e in ALL_EVENTS]
    for group, events in SUBSCRIPTIONS.items():
        specs += [
            TopicSpec(dlq_topic(e.topic(), group), partitions=1, retention_ms=90 * DAY_MS)
            for e in events
        ]
    specs.append(TopicSpec(HEALTHCHECK_TOPIC, partitions=1, retention_ms=DAY_MS))
    return specs
