"""One trace from a signed WeChat Pay notification to the allocation, the hold and the receipt SMS
(issue 21, observability).

The four services run in this process (their apps and runtimes: relay, consumers) against real
PostgreSQL and Kafka, so that the SDK's in-memory exporter sees every span: payments answers the
notification (SERVER span) and records the payment (its event written to the outbox with
``ce_traceparent``); billing allocates it, dunning holds the household's case and notifier
queues the receipt, each in a CONSUMER span that is a child of payments' span; the receipt is
sent to the fake Alibaba SMS provider in a span of the same trace, its HTTP call a CLIENT span
whose ``traceparent`` reaches the provider. No personal data in any span.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from billing.app import create_app as billing_app
from billing.settings import BillingSettings
from dunning.app import create_app as dunning_app
from dunning.settings import DunningSettings
from notifier.app import create_app as notifier_app
from notifier.settings import NotifierSettings
from payments.app import create_app as payments_app
from payments.settings import PaymentsSettings
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from propfee.events import PaymentReceived
from sandbox.server import ThreadServer
from sandbox.sms import SmsProvider, alibaba_app
from tests.support.auth import BearerAuth, trust
from tests.support.billing_api import create_unit, invoice_body, setup_community, this_month
from tests.support.fixtures import wait_until
from tests.support.tracing import describe

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services" / "payments" / "tests"))
from payments_testkit.service import wechat_env

from sandbox.wechatpay import WechatSide, transaction

pytestmark = pytest.mark.integration

CST = timezone(timedelta(hours=8))
SHANGHAI = ZoneInfo("Asia/Shanghai")
ALI_SECRET = "ali-secret-for-tests"
PHONE = "13812345678"  # the owner's (tests.support.billing_api.create_unit)


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app's runtime started (database, migrations, relay, consumers) and a client to it."""
    runtime = app.state.runtime
    runtime.start()
    try:
        await asyncio.wait_for(runtime.started.wait(), timeout=90)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://app", timeout=30
        ) as client:
            yield client
    finally:
        await runtime.stop()


def daytime_now() -> datetime:
    """Now, or the next 10:00 in Shanghai when now is in the quiet hours (21:00-08:00)."""
    now = datetime.now(SHANGHAI)
    if 9 <= now.hour < 20:
        return now
    morning = now.replace(hour=10, minute=0, second=0, microsecond=0)
    return morning if now.hour < 9 else morning + timedelta(days=1)


def in_trace(spans: InMemorySpanExporter, trace_id: int) -> list[ReadableSpan]:
    return [
        s
        for s in spans.get_finished_spans()
        if s.context is not None and s.context.trace_id == trace_id
    ]


def consumed(spans: list[ReadableSpan], group: str, topic: str) -> ReadableSpan:
    found = [
        s
        for s in spans
        if s.kind is SpanKind.CONSUMER
        and (s.attributes or {}).get("messaging.consumer.group.name") == group
        and str((s.attributes or {}).get("messaging.destination.name", "")).endswith(topic)
    ]
    # A run that failed (a deadlock broken by PostgreSQL under load) is redone record by
    # record or retried: one more span each time, all in the trace. The last one succeeded.
    done = [s for s in found if s.status.status_code is not StatusCode.ERROR]
    assert done, f"{group} {topic}: {len(found)} spans\n{describe(spans)}"
    return max(done, key=lambda s: s.end_time or 0)


def child_of(span: ReadableSpan, parent: ReadableSpan) -> bool:
    return (
        span.parent is not None
        and parent.context is not None
        and span.parent.span_id == parent.context.span_id
        and span.parent.trace_id == parent.context.trace_id
    )


async def test_one_trace_from_webhook_to_allocation_hold_and_receipt_sms(
    spans: InMemorySpanExporter,
    create_database,
    kafka: str,
    test_prefix: str,
    tmp_path: Path,
    dev_issuer: DevIssuer,
    staff_auth: BearerAuth,  # type: ignore[no-untyped-def]
) -> None:
    side = WechatSide()
    sms = SmsProvider()
    sms_server = ThreadServer(alibaba_app(sms, ALI_SECRET)).start()
    common: dict[str, Any] = {
        "kafka_bootstrap_servers": kafka,
        "topic_prefix": test_prefix,
        "relay_poll_interval_s": 0.2,
        "consumer_backoff_initial_s": 0.05,
        "startup_backoff_max_s": 2,
        "shutdown_timeout_s": 10,
    }
    apps = {
        "billing": billing_app(
            BillingSettings(database_url=await create_database("billing"), **common)
        ),
        "payments": payments_app(
            PaymentsSettings(
                database_url=await create_database("payments"),
                **common,
                **wechat_env(side, tmp_path),
            )
        ),
        "dunning": dunning_app(
            DunningSettings(database_url=await create_database("dunning"), **common)
        ),
        "notifier": notifier_app(
            NotifierSettings(
                database_url=await create_database("notifier"),
                **common,
                dispatcher_enabled=False,  # dispatched below, in the daytime
                alibaba_endpoint=sms_server.url + "/",
                alibaba_access_key_id="LTAItest",
                alibaba_access_key_secret=ALI_SECRET,
            )
        ),
    }
    for app in apps.values():
        trust(app, dev_issuer)
    clock = BearerAuth(dev_issuer.mint("test-clock", [Role.service], "*", "*"))
    community = f"c-{uuid.uuid4().hex[:6]}"
    try:
        async with (
            running(apps["billing"]) as billing,
            running(apps["payments"]) as payments,
            running(apps["dunning"]) as dunning,
            running(apps["notifier"]) as notifier,
        ):
            for client in (billing, payments, dunning, notifier):
                client.auth = staff_auth
            await setup_community(billing, "", community)
            unit_id, _payer = await create_unit(billing, "", community, "1201")
            r = await billing.post("/invoices", json=invoice_body(unit_id, month=this_month()))
            assert r.status_code == 201, r.text
            invoice = r.json()

            order: dict[str, Any] = {}

            async def order_created() -> bool:
                r = await payments.post(
                    "/orders",
                    json={
                        "unit_id": unit_id,
                        "channel": "wechat_pay",
                        "invoice_ids": [invoice["invoice_id"]],
                    },
                )
                if r.status_code in (404, 422):
                    return False
                assert r.status_code == 201, r.text
                order.update(r.json())
                return True

            await wait_until(order_created, timeout=90)

            async def case_opened() -> bool:
                r = await dunning.get("/cases", params={"unit_id": unit_id})
                if r.status_code == 404:  # dunning has not learnt the unit yet (Kafka)
                    return False
                assert r.status_code == 200, r.text
                return len(r.json()["items"]) == 1

            await wait_until(case_opened, timeout=60)

            async def party_known() -> bool:
                r = await notifier.get(f"/parties/{_payer}")
                return r.status_code == 200

            await wait_until(party_known, timeout=60)

            # What happened so far is not the trace under test.
            spans.clear()
            paid = transaction(
                order["out_trade_no"], invoice["total_fen"], success_time=datetime.now(CST)
            )
            body = side.body("TRANSACTION.SUCCESS", paid)
            r = await payments.post("/webhooks/wechatpay", content=body, headers=side.headers(body))
            assert r.status_code == 204, r.text
            payment_id = (await payments.get(f"/orders/{order['order_id']}")).json()["payment_id"]

            async def allocated() -> bool:
                r = await billing.get(f"/invoices/{invoice['invoice_id']}")
                return bool(r.json()["status"] == "paid")

            await wait_until(allocated, timeout=60)

            async def held() -> bool:
                r = await dunning.get("/cases", params={"unit_id": unit_id})
                assert r.status_code == 200, r.text
                return [c.get("hold_payment_id") for c in r.json()["items"]] == [payment_id]

            await wait_until(held, timeout=60)

            async def receipt_queued() -> bool:
                r = await notifier.get("/notifications", params={"unit_id": unit_id})
                if r.status_code == 404:  # notifier has not learnt the unit yet (Kafka)
                    return False
                assert r.status_code == 200, r.text
                return any(n["message_type"] == "receipt" for n in r.json()["items"])

            await wait_until(receipt_queued, timeout=60)
            r = await notifier.post(
                "/dispatch", auth=clock, params={"as_of": daytime_now().isoformat()}
            )
            assert r.status_code == 200, r.text
            await wait_until(lambda: _true(bool(sms.sent)), timeout=30)
    finally:
        sms_server.stop()

    # -- the trace -------------------------------------------------------------------------
    (webhook,) = [s for s in spans.get_finished_spans() if s.name == "POST /webhooks/wechatpay"]
    assert webhook.kind is SpanKind.SERVER and webhook.parent is None
    assert webhook.context is not None
    trace = in_trace(spans, webhook.context.trace_id)
    listing = describe(trace)
    (recorded,) = [s for s in trace if s.name == "record gateway payments"]
    assert child_of(recorded, webhook), listing

    topic = "payments.payment-received"
    allocation = consumed(trace, "billing", topic)
    hold = consumed(trace, "dunning", topic)
    receipt = consumed(trace, "notifier", topic)
    for span in (allocation, hold, receipt):
        assert child_of(span, recorded), listing  # across Kafka: the outbox's ce_traceparent
        assert span.parent is not None and span.parent.is_remote
        attributes = span.attributes or {}
        assert attributes["messaging.system"] == "kafka"
        assert attributes["messaging.destination.name"] == test_prefix + topic
        assert attributes["cloudevents.event_type"] == PaymentReceived.ce_type()
        assert isinstance(attributes["messaging.kafka.offset"], int)

    # Billing's events about the allocation carry the trace onward: dunning (and notifier)
    # consume them as children of billing's span.
    onward = [s for s in trace if s.kind is SpanKind.CONSUMER and child_of(s, allocation)]
    assert onward, listing

    (send,) = [s for s in trace if s.name == "send sms"]
    assert child_of(send, receipt), listing
    (provider_call,) = [s for s in trace if s.kind is SpanKind.CLIENT and child_of(s, send)]
    # The provider received the CLIENT span's context (the traceparent header).
    assert provider_call.context is not None
    url = str(
        (provider_call.attributes or {}).get("http.url")
        or (provider_call.attributes or {}).get("url.full")
    )
    assert url.startswith(sms_server.url) and "?" not in url, url
    # The span's message is the receipt the provider accepted (the other SMS is the bill's,
    # sent in the invoice's trace).
    receipt_id = (send.attributes or {})["propfee.notification_id"]
    assert [m["phone"] for m in sms.sent if m["out_id"] == receipt_id] == [PHONE]
    assert (send.attributes or {})["propfee.message_type"] == "receipt"

    # Nothing personal in any span: not the phone number, not the owner's name.
    for span in trace:
        text = span.to_json()
        assert PHONE not in text and "张三" not in text, span.name


async def _true(value: bool) -> bool:
    return value
