"""Payments' errors are problem details mapped once (``propfee.problems.install``): each class
answers its status, gateway failures their problem type (and Retry-After when unreachable),
a gone pay link says which state with its instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from payments import errors
from payments.domain.pay_links import PayLink
from payments.service_layer.prepay import gateway_failure
from propfee import problems

NOW = datetime(2026, 11, 5, 2, 0, tzinfo=UTC)


def _link(revoked: bool) -> PayLink:
    return PayLink(
        token="Ab3dE5gH7",
        community_id="c-1",
        unit_id="u-1",
        party_id="p-1",
        occasion="reminder",
        issued_at=NOW - timedelta(days=8),
        expires_at=NOW - timedelta(days=1),
        revoked_at=NOW - timedelta(days=2) if revoked else None,
        revoked_by="staff-1" if revoked else None,
        revoke_reason="sent twice" if revoked else None,
    )


def _answer(exc: Exception) -> httpx.Response:
    app = FastAPI()
    problems.install(app)

    @app.get("/boom")
    async def boom() -> None:
        raise exc

    return TestClient(app).get("/boom")


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.OrderError("nothing is owed on the named invoices"), 422),
        (errors.AmbiguousAccount("name merchant_id"), 422),
        (errors.IdempotencyConflict("Idempotency-Key was already used"), 409),
        (errors.RefundError("the refund amount must be positive"), 409),
        (errors.ResolutionError("already resolved"), 409),
        (errors.NothingOwed(), 409),
        (errors.NotConfigured("unionpay"), 409),
        (errors.UnknownPayLink(), 404),
        (errors.UnknownCode(), 404),
        (errors.TooManyReads(60), 429),
        (errors.TooManyOrders("code", 60), 429),
    ],
)
def test_each_error_answers_its_status_as_a_problem(error: Exception, status: int) -> None:
    r = _answer(error)
    assert r.status_code == status
    assert r.headers["content-type"] == problems.MEDIA_TYPE
    assert r.json()["status"] == status and r.json()["detail"] == str(error)
    if status == 429:
        assert r.headers["retry-after"] == "60"


def test_gateway_failures_name_their_kind() -> None:
    unreachable = gateway_failure("wechat_pay", httpx.ConnectTimeout("timed out"))
    unreachable.extensions.update(order_id="ord-1", order_status="failed")
    r = _answer(unreachable)
    assert r.status_code == 503 and r.headers["retry-after"] == "30"
    body = r.json()
    assert body["type"].endswith("/gateway-unreachable") and body["order_status"] == "failed"
    r = _answer(gateway_failure("alipay", ValueError("bad signature")))
    assert r.status_code == 502 and r.json()["type"].endswith("/gateway-error")
    assert "retry-after" not in r.headers


def test_a_gone_pay_link_says_which_state() -> None:
    expired = _answer(errors.PayLinkGone(_link(revoked=False), "expired")).json()
    assert expired["status"] == 410 and expired["state"] == "expired"
    assert datetime.fromisoformat(expired["expires_at"]) == NOW - timedelta(days=1)
    revoked = _answer(errors.PayLinkGone(_link(revoked=True), "revoked")).json()
    assert revoked["state"] == "revoked" and revoked["detail"] == "this pay link was revoked"
    assert datetime.fromisoformat(revoked["revoked_at"]) == NOW - timedelta(days=2)
