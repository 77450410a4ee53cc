"""Issue 18 rules 1, 2 and 3 across services, over the real broker: dunning and notifier as
real processes. The community's policy (over HTTP) adds a ``court_filing`` stage with a lawsuit
task: refused without the precondition, whatever it is called (rule 1). A legal demand moved to by hand goes to notifier as a letter; its tracking number
makes it posted, which proves nothing, so dunning refuses the lawsuit; its delivery recorded
with the carrier's status reaches dunning as NotificationDelivered over Kafka, and then (its
deadline, counted from delivery, passed) the lawsuit is allowed."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from dunning.domain.default_policy import DEFAULT_POLICY
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from propfee.events import CommunityUpdated, NotificationDelivered, PartyContactsUpdated
from propfee.kafka import make_producer
from services.dunning.tests.integration.support import at, invoice
from tests.support.auth import BearerAuth, staff_token
from tests.support.fixtures import wait_until
from tests.support.kafka import publish, read_topic

pytestmark = pytest.mark.integration
T0 = datetime(2025, 1, 1, tzinfo=UTC)


async def test_a_posted_letter_is_refused_and_its_delivery_over_kafka_allows_the_lawsuit(
    create_database: Any,
    services: Any,
    test_prefix: str,
    kafka: str,
    staff_auth: BearerAuth,
    dev_issuer: DevIssuer,
) -> None:
    dunning_db, notifier_db = await create_database("dunning"), await create_database("notifier")
    dunning = services("dunning", dunning_db, sweep_interval_s="0")
    notifier = services("notifier", notifier_db, dispatcher_enabled="false")
    for proc in (dunning, notifier):
        proc.start(wait=False)
    for proc in (dunning, notifier):
        proc.wait_ready()
    # Staff on the simulation clock (the service role beside theirs), as the demo's actors.
    cron = BearerAuth(staff_token(dev_issuer, [Role.company_admin, Role.service], subject="sim"))
    producer = make_producer(kafka, client_id="demand-test")
    await producer.start()
    try:

        async def send(event: Any, key: str) -> None:
            await publish(producer, test_prefix + event.topic(), event, key=key)

        await send(CommunityUpdated(
            community_id="c-1", company_id="co-1", company_name="安居物业服务有限公司",
            name="幸福花园", city="杭州", service_phone="4008123456",
            complaint_line="0571-12345", updated_at=T0,
        ), "c-1")  # fmt: skip
        await send(PartyContactsUpdated(
            party_id="p-kd", community_id="c-1", kind="owner", name="张三",
            postal_address="杭州市西湖区幸福路1号", updated_at=T0,
        ), "p-kd")  # fmt: skip
        await send(invoice("kd", date(2025, 1, 31), total_fen=800_000), "kd")
        async with httpx.AsyncClient(timeout=30, auth=staff_auth) as http:
            cases: list[dict[str, Any]] = []

            async def case_open() -> bool:
                r = await http.get(f"{dunning.url}/cases", params={"unit_id": "kd"})
                cases[:] = r.json()["items"] if r.status_code == 200 else []
                return bool(cases)

            await wait_until(case_open, timeout=60)
            case_id = cases[0]["case_id"]

            async def party_known() -> bool:
                return (await http.get(f"{notifier.url}/parties/p-kd")).status_code == 200

            await wait_until(party_known, timeout=60)

            async def debtor_named() -> bool:  # dunning reads the contacts topic too (rule 14)
                r = await http.get(f"{dunning.url}/cases/{case_id}/evidence")
                debtor = (r.json().get("debtor") if r.status_code == 200 else None) or {}
                return debtor.get("name") == "张三" and debtor.get("kind") == "owner"

            await wait_until(debtor_named, timeout=60)
            moved = await http.post(
                f"{dunning.url}/cases/{case_id}/advance", auth=cron,
                json={"stage": "legal_demand", "at": at("2026-03-02 10:00").isoformat()},
            )  # fmt: skip
            assert moved.status_code == 200, moved.text
            letters: list[dict[str, Any]] = []

            async def letter_queued() -> bool:
                r = await http.get(f"{notifier.url}/notifications", params={"status": "queued"})
                letters[:] = [
                    n
                    for n in r.json()["items"]
                    if n["channel"] == "letter" and n["subject_id"] == case_id
                ]
                return bool(letters)

            await wait_until(letter_queued, timeout=60)
            letter = letters[0]["notification_id"]
            assert letters[0]["stage"] == "legal_demand"
            as_of = {"as_of": at("2026-03-02 11:00").isoformat()}
            report = (await http.post(f"{notifier.url}/dispatch", auth=cron, params=as_of)).json()
            assert report.get("printing") == 2, report  # the demand, and the bill by post
            batch = await http.post(
                f"{notifier.url}/letters/batches", auth=cron,
                params={"as_of": at("2026-03-02 12:00").isoformat()},
            )  # fmt: skip
            assert letter in batch.json()["notification_ids"], batch.text
            tracked = await http.post(
                f"{notifier.url}/notifications/{letter}/tracking", auth=cron,
                json={"tracking_number": "EA123456789CN",
                      "posted_at": at("2026-03-03 09:00").isoformat()},
            )  # fmt: skip
            assert tracked.json()["status"] == "posted", tracked.text
            # Rule 1: the precondition belongs to the action kind, not to the stage's name.
            document = DEFAULT_POLICY.model_dump(mode="json")
            court_filing = {"code": "court_filing", "automatic": False,
                            "actions": [{"kind": "task", "channel": "lawsuit"}]}  # fmt: skip
            document["stages"].append(court_filing)
            policy = f"{dunning.url}/policies/c-1"
            bare = await http.put(policy, auth=cron, json=document)
            assert bare.status_code == 422 and "court_filing" in bare.text, bare.text
            court_filing["preconditions"] = ["delivered_demand_deadline_passed"]
            assert (await http.put(policy, auth=cron, json=document)).status_code == 200
            lawsuit = {"stage": "court_filing", "at": at("2026-04-10 10:00").isoformat()}
            advance = f"{dunning.url}/cases/{case_id}/advance"
            await asyncio.sleep(3)  # time enough for any event the tracking number published
            refused = await http.post(advance, auth=cron, json=lawsuit)
            assert refused.status_code == 409, refused.text
            assert refused.json()["refused"] == "no_delivered_demand"

            delivered = await http.post(
                f"{notifier.url}/notifications/{letter}/delivery", auth=cron,
                json={"carrier_status": "妥投", "signed_by": "本人",
                      "delivered_at": at("2026-03-05 10:00").isoformat()},
            )  # fmt: skip
            assert delivered.json()["status"] == "delivered", delivered.text

            async def evidence_arrived() -> bool:
                conn = await asyncpg.connect(dunning_db)
                try:
                    return bool(
                        await conn.fetchval(
                            "SELECT count(*) FROM contact_evidence WHERE notification_id = $1 "
                            "AND outcome = 'delivered'",
                            letter,
                        )
                    )
                finally:
                    await conn.close()

            await wait_until(evidence_arrived, timeout=60)
            allowed = await http.post(advance, auth=cron, json=lawsuit)
            assert allowed.status_code == 200, allowed.text
    finally:
        await producer.stop()
    records = await read_topic(
        kafka, test_prefix + NotificationDelivered.topic(), at_least=1, settle=1.0
    )
    events = [json.loads(r.value or b"") for r in records]
    assert len(events) == 1 and events[0]["notification_id"] == letter
    assert events[0]["proof"]["carrier_status"] == "妥投"
    assert events[0]["proof"]["tracking_number"] == "EA123456789CN"
    assert dunning.stop_gracefully(), dunning.log_tail()
    assert notifier.stop_gracefully()
