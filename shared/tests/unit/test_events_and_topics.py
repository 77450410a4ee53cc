from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from propfee.contracts import DEFAULT_DIR, all_files, stale_files
from propfee.events import ALL_EVENTS, EVENTS_BY_TYPE, InvoiceIssued, PaymentReceived
from propfee.kafka import topic_replication
from propfee.topics import (
    PRODUCTION_REPLICATION,
    SINGLE_BROKER_REPLICATION,
    SUBSCRIPTIONS,
    all_topics,
    dlq_topic,
)


def test_topic_and_type_names_follow_the_contract() -> None:
    assert InvoiceIssued.topic() == "billing.invoice-issued"
    assert InvoiceIssued.ce_type() == "propfee.billing.InvoiceIssued.v1"
    assert InvoiceIssued.ce_source() == "/services/billing"
    assert PaymentReceived.topic() == "payments.payment-received"
    assert {e.topic() for e in ALL_EVENTS} >= {
        "billing.invoice-issued",
        "billing.invoice-settled",
        "payments.payment-received",
        "payments.payment-refunded",
        "dunning.arrears-escalated",
        "notifier.notification-delivered",
        "notifier.notification-failed",
    }
    assert set(EVENTS_BY_TYPE) == {e.ce_type() for e in ALL_EVENTS}


def test_every_subscription_has_a_dlq_topic() -> None:
    names = {t.name for t in all_topics()}
    for group, events in SUBSCRIPTIONS.items():
        for event in events:
            assert dlq_topic(event.topic(), group) in names
    assert "payments.payment-received.dlq.dunning" in names


def test_money_must_be_integer_fen() -> None:
    base = dict(
        payment_id="p1",
        community_id="c1",
        unit_id="u1",
        payer_party_id="o1",
        channel="wechat_pay",
        paid_at=datetime(2026, 1, 1, tzinfo=UTC),
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert PaymentReceived(amount_fen=100, **base).currency == "CNY"
    with pytest.raises(ValidationError):
        PaymentReceived(amount_fen=1.5, **base)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        PaymentReceived.model_validate_json(
            b'{"amount_fen": "100", "payment_id": "p", "community_id": "c", "unit_id": "u",'
            b'"payer_party_id": "o", "channel": "cash", "paid_at": "2026-01-01T00:00:00Z",'
            b'"received_at": "2026-01-01T00:00:00Z"}'
        )
    with pytest.raises(ValidationError):
        PaymentReceived(amount_fen=-1, **base)
    with pytest.raises(ValidationError):  # instants must carry an offset
        PaymentReceived(amount_fen=1, **{**base, "paid_at": datetime(2026, 1, 1)})


def test_events_ignore_unknown_fields_for_forward_compatibility() -> None:
    event = InvoiceIssued(
        invoice_id="i",
        community_id="c",
        building_id="b",
        unit_id="u",
        payer_party_id="p",
        period_start=date(2026, 1, 1),
        period_end=date(2026, 1, 31),
        due_date=date(2026, 1, 31),
        lines=[],
        total_fen=0,
        issued_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    data = {**event.model_dump(mode="json"), "added_in_v1_1": "x"}
    assert InvoiceIssued.model_validate(data) == event


def test_committed_contracts_are_up_to_date() -> None:
    """Fails when docs/events differs from the models: run `make contracts`."""
    assert stale_files(DEFAULT_DIR) == []
    assert len(all_files()) == len(ALL_EVENTS) + len(SUBSCRIPTIONS)


def test_stale_contracts_are_detected(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from propfee.contracts import write

    write(tmp_path)
    assert stale_files(tmp_path) == []
    target = tmp_path / "schemas" / f"{InvoiceIssued.ce_type()}.json"
    target.write_text(target.read_text().replace("total_fen", "total"))
    (tmp_path / "schemas" / "old.json").write_text("{}")
    assert stale_files(tmp_path) == sorted(
        [f"schemas/{InvoiceIssued.ce_type()}.json", "schemas/old.json"]
    )


def test_topic_replication_is_named_and_single_broker_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PROPFEE_TOPIC_REPLICATION", raising=False)
    assert topic_replication() == SINGLE_BROKER_REPLICATION
    assert SINGLE_BROKER_REPLICATION.configs() == {"min.insync.replicas": "1"}
    monkeypatch.setenv("PROPFEE_TOPIC_REPLICATION", "production")
    assert topic_replication() == PRODUCTION_REPLICATION
    assert (PRODUCTION_REPLICATION.factor, PRODUCTION_REPLICATION.configs()) == (
        3,
        {"min.insync.replicas": "2"},
    )
    monkeypatch.setenv("PROPFEE_TOPIC_REPLICATION", "3")
    with pytest.raises(ValueError, match="single-broker, production"):
        topic_replication()
