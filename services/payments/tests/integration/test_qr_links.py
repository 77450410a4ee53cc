"""Static QR links (issue 16, item 10): a random token per unit instead of the unit id, orders
from a link rate-limited per link and per client address, and no start outside development
with the built-in secret."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
from datetime import UTC, date, datetime

import asyncpg
import httpx
import pytest
from payments_testkit.service import know_communities

from payments.settings import DEVELOPMENT_QR_SECRET

pytestmark = pytest.mark.integration


async def _owe(conn: asyncpg.Connection, unit: str, invoice: str, total_fen: int) -> None:
    """An open invoice in payments' read model (as billing.invoice-issued leaves it)."""
    await conn.execute(
        "INSERT INTO invoices (invoice_id, community_id, unit_id, payer_party_id, total_fen, "
        "due_date, issued_at) VALUES ($1, 'c-1', $2, 'owner-1', $3, $4, $5)",
        invoice,
        unit,
        total_fen,
        date(2026, 3, 31),
        datetime.now(UTC),
    )


async def test_links_are_random_tokens_and_orders_from_them_are_limited(
    services, create_database, staff_auth
) -> None:  # type: ignore[no-untyped-def]
    db = await create_database("payments")
    proc = services(
        "payments",
        db,
        qr_orders_per_link_burst="2",
        qr_orders_per_link_per_hour="1",
        qr_orders_per_client_burst="3",
        qr_orders_per_client_per_hour="1",
    ).start()
    await know_communities(db)
    conn = await asyncpg.connect(db)
    await _owe(conn, "b1-3-201", "inv-a", 27580)
    await _owe(conn, "b1-3-202", "inv-b", 10000)
    async with httpx.AsyncClient(base_url=proc.url, timeout=30, auth=staff_auth) as http:
        first = (await http.get("/units/b1-3-201/qr")).json()
        assert (await http.get("/units/b1-3-201/qr")).json() == first, "a printed link stays"
        other = (await http.get("/units/b1-3-202/qr")).json()
        assert "b1-3-201" not in first["url"] and len(first["token"]) >= 22
        assert first["token"] != other["token"]
        path = first["url"].split("127.0.0.1:8102", 1)[1]
        statement = await http.get(path, auth=None)
        assert statement.status_code == 200 and statement.json()["total_fen"] == 27580
        # The former link (unit id signed with the built-in secret) opens nothing any more.
        legacy = hmac.new(
            DEVELOPMENT_QR_SECRET.encode(), b"unit-qr:b1-3-201", hashlib.sha256
        ).hexdigest()[:24]
        assert (await http.get(f"/qr/b1-3-201?sig={legacy}", auth=None)).status_code == 404
        # The token with another link's signature, and an unknown token.
        sig = path.split("sig=", 1)[1]
        assert (await http.get(f"/qr/{other['token']}?sig={sig}", auth=None)).status_code == 404
        assert (await http.get(f"/qr/x{first['token']}?sig={sig}", auth=None)).status_code == 404

        async def pay(link: dict[str, str]) -> httpx.Response:
            url = link["url"].split("127.0.0.1:8102", 1)[1].replace("?", "/orders?")
            return await http.post(url, json={"channel": "wechat_pay"}, auth=None)

        # Per link: a burst of two, then 429 with Retry-After (the next token in an hour).
        assert [(await pay(first)).status_code for _ in range(2)] == [201, 201]
        orders = await conn.fetchval("SELECT count(*) FROM payment_orders")
        refused = await pay(first)
        assert refused.status_code == 429, refused.text
        assert 3000 < int(refused.headers["Retry-After"]) <= 3600
        assert "code" in refused.json()["detail"]
        # Per client address: the third order from this address (another link) is its last.
        assert (await pay(other)).status_code == 201
        refused = await pay(other)
        assert refused.status_code == 429 and "address" in refused.json()["detail"]
        assert int(refused.headers["Retry-After"]) > 0
        assert await conn.fetchval("SELECT count(*) FROM payment_orders") == orders + 1
    await conn.close()


def _serve(env: dict[str, str], command: str = "serve") -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.endswith("_ENVIRONMENT")}
    return subprocess.run(
        [sys.executable, "-m", "payments", command],
        env={**base, "PAYMENTS_HTTP_PORT": "1", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_the_built_in_qr_secret(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for env in (
        {},  # production unless told otherwise
        {"PROPFEE_ENVIRONMENT": "production"},
        {"PAYMENTS_ENVIRONMENT": "production", "PAYMENTS_QR_SECRET": DEVELOPMENT_QR_SECRET},
        {"PAYMENTS_ENVIRONMENT": "production", "PAYMENTS_QR_SECRET": "short"},
    ):
        run = _serve(env)
        assert run.returncode != 0, env
        assert "PAYMENTS_QR_SECRET" in run.stderr + run.stdout, env
        assert DEVELOPMENT_QR_SECRET not in run.stderr + run.stdout
    secret = tmp_path / "qr.secret"
    secret.write_text("a-production-secret-of-enough-length")
    run = _serve({"PAYMENTS_QR_SECRET_FILE": str(secret)}, "openapi")
    assert run.returncode != 0 and "PAYMENTS_PAY_LINK_SECRET" in run.stderr + run.stdout
    pay_link_secret = tmp_path / "pay-link.secret"
    pay_link_secret.write_text("another-production-secret-of-enough-length\n")
    run = _serve(
        {
            "PAYMENTS_QR_SECRET_FILE": str(secret),
            "PAYMENTS_PAY_LINK_SECRET_FILE": str(pay_link_secret),
        },
        "openapi",
    )
    assert run.returncode == 0, run.stderr
    run = _serve({"PROPFEE_ENVIRONMENT": "development"}, "openapi")
    assert run.returncode == 0, run.stderr
