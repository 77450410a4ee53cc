"""The counts after a fault, from the services' own databases, the topics and the sandbox
(what reached the gateways' and providers' side). The one home of the suite's checks: ``make
chaos`` and the reduced test (tests/chaos) run these.

Each check gives ``lost`` and ``duplicated`` (both expected 0) and what it counted.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from demo.settle import partitions_of
from propfee.kafka import client_kwargs
from propfee.topics import PUBLICATIONS, SUBSCRIPTIONS, dlq_topic


@dataclass
class Check:
    name: str
    counted: int = 0
    lost: int = 0
    duplicated: int = 0
    detail: str = ""
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


async def run_checks(system: Any) -> list[Check]:
    """Every check, on the system as it is now (call after it converged)."""
    conns = {s: await asyncpg.connect(url) for s, url in system.db_urls.items()}
    try:
        checks = [
            await _payments_once(conns, system.sim),
            await _payments_reach_billing(conns),
            await _payments_reach_dunning(conns),
            await _allocations_equal_payments(conns),
            await _money_per_unit(conns),
            await _reminders_once(conns, system.sandbox),
            await _outboxes_published(conns),
            await _inboxes_complete(conns),
        ]
        checks += await _topics(system.bootstrap, system.prefix, system.poisoned)
        return checks
    finally:
        for conn in conns.values():
            await conn.close()


def _short(rows: list[Any], n: int = 5) -> list[str]:
    return [str(r) for r in rows[:n]]


async def _payments_once(conns: dict[str, asyncpg.Connection], sim: Any) -> Check:
    """Payments recorded once per gateway transaction (and per counter Idempotency-Key), and
    every payment the world made (a webhook or counter call that was answered) recorded."""
    pay = conns["payments"]
    c = Check("payments recorded once per gateway transaction")
    c.counted = await pay.fetchval("SELECT count(*) FROM payments")
    doubled = await pay.fetch(
        "SELECT gateway, gateway_transaction_id, count(*) AS n FROM payments "
        "WHERE gateway_transaction_id IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1"
    )
    doubled_orders = await pay.fetch(
        "SELECT out_trade_no, count(*) AS n FROM payments WHERE out_trade_no IS NOT NULL "
        "GROUP BY 1 HAVING count(*) > 1"
    )
    c.duplicated = sum(r["n"] - 1 for r in doubled) + sum(r["n"] - 1 for r in doubled_orders)
    c.examples += _short(doubled) + _short(doubled_orders)
    orders: list[str] = []
    counter: list[str] = []
    paid_fen = 0
    for paid in (p for ps in sim.paid.values() for p in ps):
        paid_fen += paid.amount_fen
        if paid.payment_id:
            (counter if paid.channel == "counter" else orders).append(paid.payment_id)
    missing_orders = await pay.fetch(
        "SELECT o FROM unnest($1::text[]) AS o WHERE NOT EXISTS (SELECT 1 FROM payment_orders "
        "WHERE order_id = o AND status = 'paid' AND payment_id IS NOT NULL)",
        orders,
    )
    missing_counter = await pay.fetch(
        "SELECT p FROM unnest($1::text[]) AS p "
        "WHERE NOT EXISTS (SELECT 1 FROM payments WHERE payment_id = p)",
        counter,
    )
    c.lost = len(missing_orders) + len(missing_counter)
    c.examples += _short(missing_orders) + _short(missing_counter)
    recorded_fen = await pay.fetchval("SELECT coalesce(sum(amount_fen), 0) FROM payments")
    c.detail = (
        f"{len(orders)} gateway and {len(counter)} counter payments made, "
        f"{c.counted} recorded; {paid_fen} fen paid, {recorded_fen} fen recorded"
    )
    if recorded_fen != paid_fen and not c.lost and not c.duplicated:
        c.lost = 1 if recorded_fen < paid_fen else 0
        c.duplicated = 1 if recorded_fen > paid_fen else 0
    return c


async def _id_sets(
    name: str, src: asyncpg.Connection, src_sql: str, dst: asyncpg.Connection, dst_sql: str
) -> Check:
    a = {r[0]: r[1] for r in await src.fetch(src_sql)}
    b = {r[0]: r[1] for r in await dst.fetch(dst_sql)}
    c = Check(name, counted=len(a))
    missing = sorted(set(a) - set(b))
    extra = sorted(set(b) - set(a))
    differ = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    c.lost = len(missing) + len(differ)
    c.duplicated = len(extra)
    c.examples = missing[:5] + extra[:5] + differ[:5]
    c.detail = f"{len(a)} at the source, {len(b)} seen; amounts differ for {len(differ)}"
    return c


async def _payments_reach_billing(conns: dict[str, asyncpg.Connection]) -> Check:
    return await _id_sets(
        "every payment reached billing once (payments_received)",
        conns["payments"],
        "SELECT payment_id, amount_fen FROM payments",
        conns["billing"],
        "SELECT payment_id, amount_fen FROM payments_received",
    )


async def _payments_reach_dunning(conns: dict[str, asyncpg.Connection]) -> Check:
    return await _id_sets(
        "every payment reached dunning once (payments_seen)",
        conns["payments"],
        "SELECT payment_id, amount_fen FROM payments",
        conns["dunning"],
        "SELECT payment_id, amount_fen FROM payments_seen",
    )


async def _allocations_equal_payments(conns: dict[str, asyncpg.Connection]) -> Check:
    """Per payment: allocated (the journal, reversals negative) + credit left + refunded =
    the payment's amount."""
    rows = await conns["billing"].fetch(
        """
        SELECT p.payment_id, p.amount_fen,
               coalesce((SELECT sum(a.amount_fen) FROM allocations a
                         WHERE a.payment_id = p.payment_id), 0) AS allocated,
               coalesce((SELECT sum(c.credit_fen) FROM account_credits c
                         WHERE c.payment_id = p.payment_id), 0) AS credit,
               coalesce((SELECT sum(r.amount_fen) FROM refunds_received r
                         WHERE r.payment_id = p.payment_id), 0) AS refunded
        FROM payments_received p
        """
    )
    c = Check("allocations equal payments (allocated + credit + refunded = paid, per payment)")
    c.counted = len(rows)
    for r in rows:
        gap = r["amount_fen"] - (r["allocated"] + r["credit"] + r["refunded"])
        if gap > 0:
            c.lost += 1
        elif gap < 0:
            c.duplicated += 1
        if gap:
            c.examples.append(f"{r['payment_id']}: paid {r['amount_fen']}, gap {gap}")
    c.examples = c.examples[:5]
    total = sum(r["amount_fen"] for r in rows)
    c.detail = f"{len(rows)} payments, {total} fen"
    return c


async def _money_per_unit(conns: dict[str, asyncpg.Connection]) -> Check:
    """Per unit: fen in = allocated + credit + refunded."""
    rows = await conns["billing"].fetch(
        """
        WITH units AS (SELECT DISTINCT unit_id FROM payments_received)
        SELECT u.unit_id,
               coalesce((SELECT sum(amount_fen) FROM payments_received p
                         WHERE p.unit_id = u.unit_id), 0) AS paid,
               coalesce((SELECT sum(amount_fen) FROM allocations a
                         WHERE a.unit_id = u.unit_id), 0) AS allocated,
               coalesce((SELECT sum(credit_fen) FROM account_credits c
                         WHERE c.unit_id = u.unit_id), 0) AS credit,
               coalesce((SELECT sum(amount_fen) FROM refunds_received r
                         WHERE r.unit_id = u.unit_id), 0) AS refunded
        FROM units u
        """
    )
    c = Check("money invariant per unit (fen in = allocated + credit + refunded)")
    c.counted = len(rows)
    for r in rows:
        gap = r["paid"] - (r["allocated"] + r["credit"] + r["refunded"])
        if gap > 0:
            c.lost += 1
        elif gap < 0:
            c.duplicated += 1
        if gap:
            c.examples.append(f"{r['unit_id']}: in {r['paid']}, gap {gap}")
    c.examples = c.examples[:5]
    c.detail = f"{len(rows)} units with payments, {sum(r['paid'] for r in rows)} fen in"
    return c


_SALT = secrets.token_bytes(16)


def _mask(to: Any) -> str:
    """A recipient as the report may show it (never a whole phone number or address): its
    last two characters and a hash salted per run, which tells recipients apart."""
    text = str(to or "")
    digest = hashlib.sha256(_SALT + text.encode()).hexdigest()[:8]
    return f"…{text[-2:]}#{digest}"


def _message_key(m: dict[str, Any]) -> str:
    return json.dumps(
        [m.get("channel"), _mask(m.get("to")), m.get("template"), m.get("params"), m.get("text")],
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )


#: Channels that reach a provider (the sandbox); letters and door notices are staff's.
PROVIDER_CHANNELS = ("sms", "wechat", "app_push", "email")


async def _reminders_once(conns: dict[str, asyncpg.Connection], sandbox: Any) -> Check:
    """Reminders sent at most once per occasion: notifier keeps one notification per occasion
    (its dedup key); what reached the providers is counted on the sandbox's side, per channel:
    a message accepted twice (same recipient, template and content) is a duplicate, and every
    notification notifier marked sent (or delivered) reached a provider."""
    note = conns["notifier"]
    c = Check("messages (reminders, bills, receipts) sent at most once per occasion")
    rows = await note.fetch(
        "SELECT channel, count(*) AS n FROM notifications "
        "WHERE status IN ('sent', 'delivered') AND channel = ANY($1::text[]) GROUP BY 1",
        list(PROVIDER_CHANNELS),
    )
    sent = {r["channel"]: r["n"] for r in rows}
    messages = sandbox.messages(0)
    c.counted = sum(1 for m in messages if m.get("kind") == "reminder")
    per = Counter(_message_key(m) for m in messages)
    c.duplicated = sum(n - 1 for n in per.values() if n > 1)
    c.examples = [k[:200] for k, n in per.items() if n > 1][:5]
    distinct: Counter[str] = Counter()
    for key in per:
        distinct[json.loads(key)[0]] += 1
    for channel in PROVIDER_CHANNELS:
        if distinct[channel] < sent.get(channel, 0):  # marked sent, never reached a provider
            c.lost += sent.get(channel, 0) - distinct[channel]
            c.examples.append(f"{channel}: {sent.get(channel, 0)} sent, {distinct[channel]} seen")
    c.duplicated += await note.fetchval(
        "SELECT count(*) - count(DISTINCT dedup_key) FROM notifications"
    )
    c.detail = (
        f"notifier sent {dict(sent)}; the providers accepted {len(messages)} messages "
        f"({dict(distinct)} distinct; {c.counted} reminders)"
    )
    return c


async def _outboxes_published(conns: dict[str, asyncpg.Connection]) -> Check:
    c = Check("every outbox published")
    pending = {}
    for service, conn in conns.items():
        c.counted += await conn.fetchval("SELECT count(*) FROM outbox")
        pending[service] = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL"
        )
    c.lost = sum(pending.values())
    c.detail = f"unpublished: {pending}"
    return c


async def _inboxes_complete(conns: dict[str, asyncpg.Connection]) -> Check:
    """Every event a service published (its outbox) is in the inbox of every consumer group
    subscribed to it: each event consumed, none skipped."""
    c = Check("every event consumed by every subscriber (outbox ids in the inboxes)")
    missing: Counter[str] = Counter()
    for group, events in SUBSCRIPTIONS.items():
        for producer, published in PUBLICATIONS.items():
            topics = sorted({e.topic() for e in events if e in published})
            if not topics:
                continue
            ids = [
                r[0]
                for r in await conns[producer].fetch(
                    "SELECT event_id FROM outbox WHERE topic = ANY($1::text[])", topics
                )
            ]
            c.counted += len(ids)
            absent = await conns[group].fetch(
                "SELECT e FROM unnest($1::uuid[]) AS e WHERE NOT EXISTS "
                "(SELECT 1 FROM inbox WHERE consumer_group LIKE '%' || $2 AND event_id = e)",
                ids,
                group,
            )
            if absent:
                missing[f"{producer}→{group}"] += len(absent)
                c.examples += [str(r[0]) for r in absent[:3]]
    c.lost = sum(missing.values())
    c.detail = f"missing: {dict(missing) or 'none'}"
    return c


async def _topics(bootstrap: str, prefix: str, poison_expected: int) -> list[Check]:
    """Consumer-group lag 0 on every partition (no stuck partition) and the DLQ topics
    empty."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_kwargs())
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, **client_kwargs()
    )
    await admin.start()
    await consumer.start()
    try:
        lag = Check("consumer-group lag 0 on every partition")
        stuck: list[str] = []
        for group, events in SUBSCRIPTIONS.items():
            topics = sorted({prefix + e.topic() for e in events})
            tps = await partitions_of(admin, topics)
            ends = await consumer.end_offsets(tps)
            committed = await admin.list_consumer_group_offsets(prefix + group)
            for tp in tps:
                lag.counted += 1
                meta = committed.get(tp)
                at = meta.offset if meta is not None and meta.offset >= 0 else 0
                behind = ends[tp] - at
                if behind > 0:
                    lag.lost += behind
                    stuck.append(
                        f"{group} {tp.topic.removeprefix(prefix)}[{tp.partition}] +{behind}"
                    )
        lag.examples = stuck[:10]
        lag.detail = f"{lag.counted} partitions; behind: {len(stuck)}"
        dlq = Check("DLQ topics empty (but for the poison records injected on purpose)")
        names = sorted(
            {prefix + dlq_topic(e.topic(), g) for g, es in SUBSCRIPTIONS.items() for e in es}
        )
        tps = await partitions_of(admin, names)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        full = {tp.topic.removeprefix(prefix): ends[tp] - starts[tp] for tp in tps}
        dlq.counted = len(names)
        found = sum(full.values())
        dlq.lost = max(0, found - poison_expected)  # a real event dead-lettered
        dlq.duplicated = max(0, poison_expected - found)  # a poison record not (yet) there
        dlq.examples = [f"{t}: {n}" for t, n in full.items() if n][:10]
        dlq.detail = f"{found} records in {len(names)} DLQ topics ({poison_expected} injected)"
        return [lag, dlq]
    finally:
        await consumer.stop()
        await admin.close()
