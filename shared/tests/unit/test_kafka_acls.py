"""Each service's Kafka permissions (propfee.kafka_acls), derived from propfee.topics."""

from __future__ import annotations

import pytest

from propfee.events import ALL_EVENTS
from propfee.kafka_acls import all_service_acls, cli_commands, main, service_acls
from propfee.topics import SUBSCRIPTIONS, all_topics


def grants(service: str, operation: str, prefix: str = "") -> set[tuple[str, str]]:
    return {
        (a.resource_type, a.name)
        for a in service_acls(service, prefix)
        if operation in a.operations
    }


@pytest.mark.parametrize("service", sorted(SUBSCRIPTIONS))
def test_a_service_writes_its_own_events_and_dead_letters_only(service: str) -> None:
    writes = {name for kind, name in grants(service, "Write")}
    own = {e.topic() for e in ALL_EVENTS if e.producer == service}
    dead_letters = {f"{e.topic()}.dlq.{service}" for e in SUBSCRIPTIONS[service]}
    assert writes == own | dead_letters
    assert all(
        name.startswith(f"{service}.") or name.endswith(f".dlq.{service}") for name in writes
    )


@pytest.mark.parametrize("service", sorted(SUBSCRIPTIONS))
def test_a_service_reads_its_subscriptions_and_its_group_only(service: str) -> None:
    reads = grants(service, "Read")
    assert reads == {("topic", e.topic()) for e in SUBSCRIPTIONS[service]} | {("group", service)}


def test_no_service_may_create_alter_or_touch_the_cluster() -> None:
    for service, acls in all_service_acls().items():
        for acl in acls:
            assert acl.resource_type in {"topic", "group"}, service
            assert set(acl.operations) <= {"Read", "Write", "Describe"}, service


def test_every_granted_topic_is_declared_and_the_prefix_applies() -> None:
    declared = {t.name for t in all_topics()}
    for acls in all_service_acls().values():
        assert {a.name for a in acls if a.resource_type == "topic"} <= declared
    assert ("group", "t1.billing") in grants("billing", "Read", prefix="t1.")
    assert ("topic", "t1.payments.payment-received") in grants("billing", "Read", prefix="t1.")


def test_only_payments_writes_payments_and_only_notifier_and_dunning_read_contacts() -> None:
    writers = {
        s for s in SUBSCRIPTIONS if ("topic", "payments.payment-received") in grants(s, "Write")
    }
    readers = {
        s for s in SUBSCRIPTIONS if ("topic", "billing.party-contacts-updated") in grants(s, "Read")
    }
    # dunning: the evidence cover names the debtor (kind, name, postal address; issue 18)
    assert (writers, readers) == ({"payments"}, {"notifier", "dunning"})


def test_cli_commands_group_resources_by_operations(capsys: pytest.CaptureFixture[str]) -> None:
    commands = cli_commands("dunning", service_acls("dunning"))
    assert len(commands) == 2
    read = next(c for c in commands if "Read" in c)
    assert read[:4] == ["--allow-principal", "User:dunning", "--allow-host", "*"]
    assert ["--group", "dunning"] == read[read.index("--group") : read.index("--group") + 2]
    assert main(["notifier", "--principal-format", "propfee-kafka-{service}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert all("User:propfee-kafka-notifier" in line.split("\t") for line in lines)


def test_an_unknown_service_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown service 'billling'"):
        service_acls("billling")
