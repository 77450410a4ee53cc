from datetime import UTC, datetime

from payments.service_layer.counter import CounterPayment


def _payment(**overrides: object) -> CounterPayment:
    data: dict[str, object] = dict(
        idempotency_key="key-00000001",
        community_id="c",
        unit_id="u",
        payer_party_id="p",
        invoice_ids=["inv-1"],
        amount_fen=27580,
        channel="cash",
        paid_at=datetime(2026, 3, 2, 9, tzinfo=UTC),
        received_at=datetime(2026, 3, 2, 9, tzinfo=UTC),
    )
    data.update(overrides)
    return CounterPayment(**data)  # type: ignore[arg-type]


def test_request_hash_identifies_the_payment_not_the_moment_it_was_recorded() -> None:
    assert _payment().request_hash() == _payment(received_at=datetime.now(UTC)).request_hash()
    assert _payment().request_hash() != _payment(amount_fen=27581).request_hash()


def test_a_replay_without_paid_at_is_the_same_request_a_moment_later() -> None:
    later = datetime.now(UTC)
    assert _payment().request_hash() == _payment(paid_at=later, received_at=later).request_hash()
    chosen = datetime(2026, 3, 1, 9, tzinfo=UTC)
    assert (
        _payment(requested_paid_at=chosen).request_hash()
        != _payment(requested_paid_at=chosen.replace(hour=10)).request_hash()
    )
