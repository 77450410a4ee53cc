"""The dispatcher: claim due messages (FOR UPDATE SKIP LOCKED, so replicas share the work;
the workers of one process each take their own share of the parties), lock the batch's parties
(a replica's batch for the same party waits, then sees what this one is sending), decide each
at the as-of instant, compose, and mark what is to go out 'sending' with a lease, in one short
transaction. Then, with no transaction open and no connection held, send through the channel
adapters (each call under its provider's token bucket, at most send_concurrency at once, each
bounded by a timeout), and record each outcome with its evidence in a transaction of its own.

A process that dies after its claim leaves messages 'sending' until their lease runs out;
recovery (service_layer/recovery.py) then asks the provider, relies on its idempotency key, or
marks the message 'unknown' for staff: never a blind second send (issue 21).
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from notifier.adapters.base import Outbound, SendResult
from notifier.adapters.registry import Channels
from notifier.domain import contact_rules, plan
from notifier.domain.schedule import FrequencyCap, QuietHours
from notifier.domain.stops import Stop, stopped_by
from notifier.service_layer import pay_links, projections, queries, receipts, recovery, templates
from notifier.service_layer.composer import ComposeError, compose
from notifier.service_layer.recording import Sending, record, sms_segments
from notifier.settings import NotifierSettings
from propfee import tracing
from propfee.logging import get_logger

log = get_logger(__name__)
CLAIM_SCOPED = queries.scoped(queries.CLAIM)
EXPIRED_SCOPED = queries.scoped(queries.EXPIRED)
LEASES_SCOPED = queries.scoped(queries.EXPIRED_LEASES)
#: Attempts at recording an outcome (the database briefly away) before leaving it to recovery.
RECORD_TRIES = 3


@dataclass
class DispatchReport:
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, other: DispatchReport) -> None:
        for key, value in other.counts.items():
            self.counts[key] += value


class Dispatcher:
    def __init__(self, pool: asyncpg.Pool, channels: Channels, settings: NotifierSettings) -> None:
        self.pool = pool
        self.channels = channels
        self.s = settings
        self.rules = plan.Rules(
            quiet=QuietHours(settings.quiet_start, settings.quiet_end),
            cap=FrequencyCap(
                settings.reminder_cap, timedelta(days=settings.reminder_cap_window_days)
            ),
            contact_grace=timedelta(hours=settings.contact_grace_hours),
        )
        self._gate = asyncio.Semaphore(settings.send_concurrency)
        #: Who holds a claim (``notifications.claimed_by``): this dispatcher, in this process.
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        #: A provider call never lasts longer (a WeChat send may first fetch a token).
        self.call_timeout = 2 * settings.provider_timeout_s
        # Renderings run here, not on the event loop (nor behind other users of the default
        # executor): one thread per dispatch worker, plus one spare.
        self._renderers = ThreadPoolExecutor(
            max_workers=settings.dispatch_workers + 1, thread_name_prefix="render"
        )

    async def dispatch(
        self,
        as_of: datetime,
        *,
        workers: int = 1,
        scope: tuple[str | None, list[str] | None] | None = None,
    ) -> DispatchReport:
        """Everything due at ``as_of``, batch after batch, until nothing is left; with
        ``scope`` (``Principal.sql_scope()``) only the messages of those communities."""
        report = DispatchReport()
        report.counts["sms_segments"] += 0  # always answered: the SMS cost of the pass
        workers = max(1, workers)

        async def worker(shard: int) -> None:
            while True:
                part = await self.batch(as_of, shard=(workers, shard), scope=scope)
                report.add(part)
                if part.counts["claimed"] < self.s.dispatch_batch_size:
                    return

        await asyncio.gather(*(worker(i) for i in range(workers)))
        return report

    async def batch(
        self,
        as_of: datetime,
        *,
        shard: tuple[int, int] = (1, 0),
        scope: tuple[str | None, list[str] | None] | None = None,
    ) -> DispatchReport:
        """One batch of what is due for the parties of ``shard`` (workers, this one): the
        workers of a process share no party, so which batch decides a party's messages (its
        frequency cap, "already sent for this stage") is the same whatever their timing."""
        report = DispatchReport()
        size = self.s.dispatch_batch_size
        # No send starts after this (monotonic) instant: the call ends before the lease does,
        # so recovery never takes over a message whose call is still under way.
        last_start = time.monotonic() + self.s.dispatch_lease_s - self.call_timeout - 1
        sending: list[Sending] = []
        async with self.pool.acquire() as conn, conn.transaction():
            # The scope's queue, or the deployment's (the background loop, the service role).
            where = () if scope is None else scope
            leases = await conn.fetch(
                queries.EXPIRED_LEASES if scope is None else LEASES_SCOPED,
                0.0,
                size,
                *shard,
                *where,
            )
            # First, so that a lost claim queued again goes out in this very batch.
            lookups = await recovery.take_expired(
                conn,
                list(leases),
                self.channels,
                self.name,
                self.s.dispatch_lease_s,
                as_of,
                report.counts,
            )
            expired = await conn.fetch(
                queries.EXPIRED if scope is None else EXPIRED_SCOPED,
                as_of - self.rules.contact_grace,
                size,
                *shard,
                *where,
            )
            claimed = await conn.fetch(
                queries.CLAIM if scope is None else CLAIM_SCOPED, as_of, size, *shard, *where
            )
            rows = list(expired) + list(claimed)
            report.counts["claimed"] = len(rows) - len(expired)
            if rows:
                await conn.execute(queries.LOCK_PARTIES, sorted({r["party_id"] for r in rows}))
                sendings = await self._decide(conn, rows, as_of, report)
                sending = [x for x in sendings if _goes_out(x)]
                decided: list[tuple[Sending, SendResult | None]] = [
                    (x, None) for x in sendings if not _goes_out(x)
                ]
                await record(conn, decided, as_of, self.s, report.counts, apply_receipts=False)
                await conn.executemany(
                    queries.CLAIM_SENDING, [self._claim_args(x, as_of) for x in sending]
                )
        # Committed: the claims are visible, no lock or connection is held from here on.
        if not sending and not lookups:
            return report
        outcomes = await asyncio.gather(
            *(self._send_and_record(x, as_of, last_start, report) for x in sending),
            *(self._look_up(row, as_of, report) for row in lookups),
            return_exceptions=True,
        )
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:  # the others were recorded; these stay 'sending' until their lease ends
            raise failures[0]
        if report.counts["sent"]:
            async with self.pool.acquire() as conn, conn.transaction():
                await receipts.apply(conn, as_of, self.s)  # receipts that raced ahead
        return report

    def _claim_args(self, x: Sending, as_of: datetime) -> tuple[Any, ...]:
        o, t = x.outbound, x.template
        assert o is not None and t is not None
        route = self.channels.route(o.channel)
        return (
            o.notification_id,
            o.channel,
            o.address,
            o.body,
            o.subject,
            t.template_id,
            t.version,
            route.adapter.provider if route is not None else None,
            sms_segments(o),
            self.name,
            self.s.dispatch_lease_s,
            as_of,
        )

    async def _send_and_record(
        self, x: Sending, as_of: datetime, last_start: float, report: DispatchReport
    ) -> None:
        assert x.outbound is not None
        result = await self._send(x.outbound, last_start, x.row)
        if result is None:  # too late to start within the lease: due again, as it was
            await self._in_own_transaction(
                lambda conn: conn.execute(queries.RELEASE, x.row["notification_id"], self.name)
            )
            report.counts["released"] += 1
            return
        await self._record_outcome(x, result, as_of, report)

    async def _record_outcome(
        self, x: Sending, result: SendResult, as_of: datetime, report: DispatchReport
    ) -> None:
        """One message's outcome in a transaction of its own, if the claim is still ours."""

        async def write(conn: asyncpg.Connection) -> None:
            if await conn.fetchval(queries.RELEASE, x.row["notification_id"], self.name) is None:
                log.warning("claim lost before its outcome was recorded")
                report.counts["lost_claims"] += 1
                return
            await record(conn, [(x, result)], as_of, self.s, report.counts, apply_receipts=False)

        await self._in_own_transaction(write)

    async def _look_up(self, row: Any, as_of: datetime, report: DispatchReport) -> None:
        """An expired claim at a provider that can be asked (recovery.py, ``lookup``)."""
        route = self.channels.route(row["channel"])
        assert route is not None
        found: SendResult | Exception | None
        async with self._gate:
            try:
                found = await asyncio.wait_for(
                    route.adapter.lookup(  # type: ignore[attr-defined]
                        row["notification_id"], row["claimed_address"], row["claimed_at"]
                    ),
                    self.call_timeout,
                )
            except Exception as exc:
                found = exc

        async def write(conn: asyncpg.Connection) -> None:
            if await conn.fetchval(queries.RELEASE, row["notification_id"], self.name) is None:
                return
            if isinstance(found, Exception):
                await recovery.mark_unknown(
                    conn,
                    row,
                    f"lease expired; {route.adapter.provider} could not be asked whether it "
                    f"accepted the message ({type(found).__name__})",
                    as_of,
                )
                report.counts["unknown"] += 1
            elif found is None:  # never accepted: due again, under the same id
                await conn.execute(
                    recovery.REQUEUE,
                    row["notification_id"],
                    f"lease expired; {route.adapter.provider} has no such message: sent again",
                )
                report.counts["requeued"] += 1
            else:
                await conn.execute(
                    recovery.FOUND,
                    row["notification_id"],
                    found.provider,
                    found.message_id,
                    found.proof,
                    row["sms_segments"],
                )
                report.counts["recovered"] += 1
                report.counts["sent"] += 1
                report.counts["sms_segments"] += row["sms_segments"] or 0

        await self._in_own_transaction(write)

    async def _in_own_transaction(self, write: Any) -> None:
        """``write(conn)`` in a short transaction, tried again if the database is briefly away;
        left to recovery (the lease) when it stays away."""
        for attempt in range(RECORD_TRIES):
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    await write(conn)
                return
            except (asyncpg.PostgresConnectionError, OSError, asyncpg.InterfaceError) as exc:
                if attempt == RECORD_TRIES - 1:
                    log.warning("outcome not recorded; the lease will recover it", error=repr(exc))
                    raise
                await asyncio.sleep(0.5 * 2**attempt)

    async def _decide(
        self, conn: asyncpg.Connection, rows: list[Any], as_of: datetime, report: DispatchReport
    ) -> list[Sending]:
        parties = sorted({r["party_id"] for r in rows})
        rules_of = {r["community_id"]: self.rules_for(r) for r in rows}
        window = max(rules.cap.window for rules in rules_of.values())
        history: dict[str, list[tuple[datetime, tuple[str, str | None]]]] = defaultdict(list)
        for h in await conn.fetch(queries.HISTORY, parties, as_of - window, as_of):
            history[h["party_id"]].append((h["sent_at"], (h["subject_id"], h["stage"])))
        stops: dict[str, list[Stop]] = defaultdict(list)
        units = {u for r in rows for u, _ in _cases_of(r)}
        for st in await conn.fetch(queries.STOPS, sorted(units)):
            stops[st["unit_id"]].append(
                Stop(
                    st["kind"],
                    st["unit_id"],
                    st["case_id"],
                    st["invoice_id"],
                    st["stops_before"],
                    st["reason"],
                )
            )
        gone = {
            tuple(g)
            for g in await conn.fetch(queries.GONE, sorted({r["subject_id"] for r in rows}))
        }
        saved = await templates.latest(
            conn, sorted({r["company_id"] for r in rows if r["company_id"] is not None})
        )
        sendings: list[Sending] = []
        # Messages to write (their index in sendings): composed after every decision, so the
        # batch's pay links are minted together. A message that then fails to compose still
        # counted towards its party's cap within this batch.
        to_write: list[tuple[int, Any, plan.Send, ZoneInfo]] = []
        for row in rows:
            stop = next(
                (
                    found
                    for unit_id, case_id in _cases_of(row)
                    if (
                        found := stopped_by(
                            row["message_type"],
                            unit_id,
                            case_id,
                            row["params"].get("invoice_ids") or (),
                            row["requested_at"],
                            stops[unit_id],
                        )
                    )
                    is not None
                ),
                None,
            )
            if stop is not None:  # a pause, payment or promise came after it was queued
                sendings.append(Sending(row, plan.Cancel(stop.reason), None, None))
                continue
            recipient = queries.recipient_of(row, self.s.default_time_zone)
            decision = plan.decide(
                queries.due_of(row),
                recipient,
                as_of,
                rules_of[row["community_id"]],
                history[row["party_id"]],
            )
            if isinstance(decision, plan.Send):
                key = (
                    row["subject_id"],
                    row["message_type"],
                    row["stage"] or "-",
                    decision.channel,
                )
                if key in gone:
                    decision = plan.Suppress(f"already sent on {decision.channel} for this stage")
                else:
                    gone.add(key)
            if isinstance(decision, plan.Send):
                assert recipient is not None
                if row["message_type"] in plan.CAPPED_TYPES:
                    history[row["party_id"]].append((as_of, (row["subject_id"], row["stage"])))
                to_write.append((len(sendings), row, decision, recipient.zone))
            sendings.append(Sending(row, decision, None, None))
        await self._write(conn, to_write, sendings, as_of, saved)
        return sendings

    async def _write(
        self,
        conn: asyncpg.Connection,
        to_write: list[tuple[int, Any, plan.Send, ZoneInfo]],
        sendings: list[Sending],
        as_of: datetime,
        saved: dict[tuple[str, str], templates.Template],
    ) -> None:
        """Compose what is to be sent: the batch's pay links first (one per household and
        occasion, minted and published in this transaction; issue 19) and the periods of the
        invoices the messages name, then each text (a failure fails it on its channel)."""
        links = await pay_links.issue(
            conn,
            [
                pay_links.household_of(row, zone)
                for _, row, _, zone in to_write
                if row["message_type"] in pay_links.WITH_LINK
            ],
            as_of,
            self.s,
        )
        invoice_ids = sorted(
            {i for _, row, _, _ in to_write for i in row["params"].get("invoice_ids") or ()}
        )
        known = await projections.periods_of(conn, invoice_ids) if invoice_ids else {}
        for index, row, decision, zone in to_write:
            token = links.get((row["unit_id"], row["party_id"], pay_links.occasion_of(row)))
            periods = [known[i] for i in row["params"].get("invoice_ids") or () if i in known]
            try:
                outbound, template = await self._compose(
                    row,
                    decision.channel,
                    decision.address,
                    zone,
                    saved,
                    pay_link=pay_links.printed(token, decision.channel, self.s) if token else None,
                    periods=periods,
                )
            except ComposeError as exc:
                sendings[index] = Sending(row, decision, None, None, str(exc))
                continue
            sendings[index] = Sending(row, decision, outbound, template)

    async def _compose(
        self,
        row: Any,
        channel: str,
        address: str,
        zone: ZoneInfo,
        saved: dict[tuple[str, str], templates.Template],
        *,
        pay_link: str | None = None,
        periods: list[tuple[date, date]] | None = None,
    ) -> tuple[Outbound, templates.Template]:
        """The message's text, rendered in the dispatcher's own threads (off the event loop);
        a rendering past ten times the save-time limit fails the message on this channel. The
        sandbox and the checks at save keep renderings to milliseconds: a last resort."""
        limit = 10 * self.s.template_render_timeout_s
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(
            self._renderers,
            functools.partial(
                compose,
                row,
                channel,
                address,
                zone,
                saved,
                self.s,
                pay_link=pay_link,
                periods=periods,
            ),
        )
        try:
            return await asyncio.wait_for(job, limit)
        except TimeoutError:
            raise ComposeError(
                f"rendering took longer than {limit:g} s (10 x NOTIFIER_TEMPLATE_RENDER_TIMEOUT_S)"
            ) from None

    def rules_for(self, row: Any) -> plan.Rules:
        """The community's own quiet hours and cap when staff set them, else the settings'."""
        if row["quiet_start"] is None:
            return self.rules
        own = contact_rules.rules(
            row["quiet_start"], row["quiet_end"], row["reminder_cap"], row["cap_window_days"]
        )
        return plan.Rules(quiet=own.quiet, cap=own.cap, contact_grace=self.rules.contact_grace)

    async def _send(self, outbound: Outbound, last_start: float, row: Any) -> SendResult | None:
        """The provider's answer; None: not sent, the lease is too short to start now.

        Sent in the trace of the event that queued the message (its provider call a child
        span)."""
        trace = row["params"].get("trace") or {}
        with tracing.span_after(
            f"send {outbound.channel}",
            [tracing.span_context_of(trace.get("traceparent"), trace.get("tracestate"))],
            attributes={
                "propfee.notification_id": outbound.notification_id,
                "propfee.channel": outbound.channel,
                "propfee.message_type": outbound.message_type,
            },
        ):
            return await self._send_now(outbound, last_start)

    async def _send_now(self, outbound: Outbound, last_start: float) -> SendResult | None:
        route = self.channels.route(outbound.channel)
        if route is None:
            return SendResult("failed", "none", error=f"no adapter for channel {outbound.channel}")
        async with self._gate:
            # The token is taken right before sending, not before waiting for the gate:
            # otherwise tokens taken while the gate was full go out together later, and the
            # provider counts more than its limit in a second.
            if route.bucket is not None:
                await route.bucket.acquire()
            if time.monotonic() > last_start:
                return None
            try:
                return await asyncio.wait_for(route.adapter.send(outbound), self.call_timeout)
            except Exception as exc:  # an adapter bug is a retry, not a lost batch
                log.warning("adapter raised", channel=outbound.channel, error=repr(exc))
                return SendResult(
                    "retry", route.adapter.provider, error=f"{type(exc).__name__}: {exc}"
                )

    async def run(self, stop: asyncio.Event) -> None:
        """The background loop: dispatch what is due by the wall clock, then wait a little."""
        while not stop.is_set():
            try:
                await self.dispatch(datetime.now().astimezone(), workers=self.s.dispatch_workers)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("dispatch failed; retrying", error=repr(exc))
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.s.dispatch_interval_s)
            except TimeoutError:
                pass


def _goes_out(x: Sending) -> bool:
    return isinstance(x.decision, plan.Send) and x.outbound is not None


def _cases_of(row: Any) -> list[tuple[str, str]]:
    """The (unit, case) pairs a message speaks for: one, or each case of a combined reminder
    (issue 18 rule 12), so a payment or pause of any of them stops it."""
    p = row["params"]
    if p.get("unit_ids") and p.get("case_ids"):
        return list(zip(p["unit_ids"], p["case_ids"], strict=True))
    return [(row["unit_id"], row["subject_id"])]
