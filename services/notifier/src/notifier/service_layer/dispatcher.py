"""The dispatcher: claim due messages (FOR UPDATE SKIP LOCKED, so replicas share the work;
the workers of one process each take their own share of the parties), lock the batch's parties
(a replica's batch for the same party waits, then sees what this one is sending), decide each
at the as-of instant, compose, and mark what is to go out 'sending' with a lease, in one short
transaction. Then, with no transaction open and no connection held, send through the channel
adapters (each call under its provider's token bucket, at most send_concurrency at once, each
bounded by a timeout), and record each outcome with its evidence in a short transaction of
its own, shared by the outcomes that arrived meanwhile (group commits, ``_Outcomes``); the
next batch is claimed while one is being sent, so the providers' buckets never wait for a
claim (issue 22).

A process that dies after its claim leaves messages 'sending' until their lease runs out;
recovery (service_layer/recovery.py) then asks the provider, relies on its idempotency key, or
marks the message 'unknown' for staff: never a blind second send (issue 21).
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import sys
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
#: How long a thread may hold the GIL while another wants it (see ``Dispatcher.__init__``).
GIL_SWITCH_INTERVAL_S = 0.001
#: Attempts at recording an outcome (the database briefly away) before leaving it to recovery.
RECORD_TRIES = 3
#: The database briefly away (tried again), as opposed to a write that fails by itself.
TRANSIENT_DB_ERRORS = (asyncpg.PostgresConnectionError, OSError, asyncpg.InterfaceError)


@dataclass
class DispatchReport:
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, other: DispatchReport) -> None:
        for key, value in other.counts.items():
            self.counts[key] += value


@dataclass
class _Claimed:
    """One batch's claim, committed: its report so far, what to send, what to look up."""

    report: DispatchReport
    sending: list[Sending]
    lookups: list[Any]
    #: No send starts after this (monotonic) instant (see :meth:`Dispatcher._claim`).
    last_start: float
    #: The most it could claim: fewer, and nothing more is due.
    limit: int


class _Outcomes:
    """A batch's provider answers written back in group commits: each write takes every
    answer that arrived while the one before ran, in one short transaction (a statement per
    kind of outcome for all of them, where one transaction per answer cost eight round trips
    each). The caller returns once its own answer is committed, so, as before, a send is done
    only when its outcome is durable; a process that dies before that leaves the message
    'sending' under its lease, for recovery. A group that fails for another reason than the
    database being away is written again answer by answer, so one bad row fails alone."""

    def __init__(self, dispatcher: Dispatcher, as_of: datetime, report: DispatchReport) -> None:
        self._d = dispatcher
        self._as_of = as_of
        self._report = report
        self._pending: list[tuple[Sending, SendResult, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, x: Sending, result: SendResult) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((x, result, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        await done

    async def _write_all(self) -> None:
        while self._pending:
            taken, self._pending = self._pending, []
            try:
                await self._write(taken)
            except asyncio.CancelledError:
                for *_, done in taken + self._pending:
                    done.cancel()
                self._pending = []
                raise
            except Exception as exc:  # the database stayed away: these are left to recovery
                for *_, done in taken:
                    if not done.done():
                        done.set_exception(exc)

    async def _write(self, taken: list[tuple[Sending, SendResult, asyncio.Future[None]]]) -> None:
        try:
            await self._write_group([(x, r) for x, r, _ in taken])
        except TRANSIENT_DB_ERRORS:
            raise  # tried RECORD_TRIES times: left to recovery
        except Exception:
            if len(taken) == 1:
                raise
            for x, r, done in taken:
                try:
                    await self._write_group([(x, r)])
                except Exception as exc:
                    done.set_exception(exc)
                else:
                    done.set_result(None)
            return
        for *_, done in taken:
            done.set_result(None)

    async def _write_group(self, answers: list[tuple[Sending, SendResult]]) -> None:
        d = self._d
        ids = sorted(x.row["notification_id"] for x, _ in answers)
        counts: dict[str, int] = defaultdict(int)

        async def write(conn: asyncpg.Connection) -> None:
            counts.clear()  # a write tried again counts once
            kept = {r[0] for r in await conn.fetch(queries.RELEASE_MANY, ids, d.name)}
            if len(kept) < len(ids):
                log.warning("claims lost before their outcomes were recorded")
                counts["lost_claims"] += len(ids) - len(kept)
            ours: list[tuple[Sending, SendResult | None]] = [
                (x, r) for x, r in answers if x.row["notification_id"] in kept
            ]
            await record(conn, ours, self._as_of, d.s, counts, apply_receipts=False)

        await d._in_own_transaction(write)
        for key, value in counts.items():
            self._report.counts[key] += value


def _made_due(report: DispatchReport) -> bool:
    """Whether a batch's outcomes may have made messages due at once (a failure's fallback
    channel, a message released for a lease too short to start it)."""
    return bool(report.counts["failed"] or report.counts["released"])


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
        # executor): one thread per dispatch worker, plus one spare. A rendering thread holds
        # the GIL for the interpreter's switch interval whenever the event loop lets it go
        # (each socket write, each select), so the loop waits up to that long to send the
        # next message; at 5 ms (Python's default) that lateness moved every later second of
        # a provider's rolling window along (issue 22: 10,000 SMS at 500/s, 21.2 s -> 21.0 s).
        if sys.getswitchinterval() > GIL_SWITCH_INTERVAL_S:
            sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
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

        size = self.s.dispatch_batch_size

        async def claim(shard: int, limit: int = size) -> _Claimed:
            return await self._claim(as_of, shard=(workers, shard), scope=scope, limit=limit)

        async def worker(shard: int) -> None:
            # Each batch's claim is taken while the one before goes out, so the providers'
            # buckets never wait for a claim (decide, compose, pay links: a few hundred ms for
            # a full batch). A claim runs while the batch before is being sent, so what that
            # batch makes due again (a fallback channel's message, a release) is looked for
            # once more at the end.
            # The first claim is a tenth of a batch, so the first sends start sooner; each
            # claim after it is at most four times the one before, so that it is ready
            # before the smaller batch before it has gone out (50, 200, then 500 at 500/s).
            claimed = await claim(shard, max(1, size // 10))
            again = False
            while True:
                delivering = asyncio.create_task(self._deliver(claimed, as_of))
                following: _Claimed | None = None
                try:
                    if claimed.report.counts["claimed"] >= claimed.limit:
                        following = await claim(shard, min(size, 4 * claimed.limit))
                except BaseException:
                    await asyncio.gather(delivering, return_exceptions=True)
                    raise
                try:
                    await delivering
                except BaseException:
                    if following is not None:  # claimed, never sent: due again at once
                        await self._release_unsent(following)
                    raise
                report.add(claimed.report)
                if following is not None:
                    again = _made_due(claimed.report)
                elif again:
                    again = False
                    following = await claim(shard)
                    if not following.sending and not following.lookups:
                        report.add(following.report)
                        return
                else:
                    return
                claimed = following

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
        claimed = await self._claim(as_of, shard=shard, scope=scope)
        await self._deliver(claimed, as_of)
        return claimed.report

    async def _claim(
        self,
        as_of: datetime,
        *,
        shard: tuple[int, int] = (1, 0),
        scope: tuple[str | None, list[str] | None] | None = None,
        limit: int | None = None,
    ) -> _Claimed:
        """The claim of :meth:`batch`, in one short transaction: what is to be sent (each
        message 'sending' under this dispatcher's lease) and the expired claims to ask a
        provider about; what needed no provider is recorded already. ``limit``: at most so
        many of each kind (the batch size by default)."""
        report = DispatchReport()
        size = limit or self.s.dispatch_batch_size
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
        return _Claimed(report, sending, lookups, last_start, size)

    async def _deliver(self, claimed: _Claimed, as_of: datetime) -> None:
        """Send a claim's messages and record their outcomes (into ``claimed.report``)."""
        report, sending, lookups = claimed.report, claimed.sending, claimed.lookups
        last_start = claimed.last_start
        # Committed: the claims are visible, no lock or connection is held from here on.
        if not sending and not lookups:
            return
        recorder = _Outcomes(self, as_of, report)
        outcomes = await asyncio.gather(
            *(self._send_and_record(x, as_of, last_start, report, recorder) for x in sending),
            *(self._look_up(row, as_of, report) for row in lookups),
            return_exceptions=True,
        )
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        # The others were recorded; these stay 'sending' until their lease ends, when
        # recovery asks their provider. An outcome the database refuses by a constraint (a
        # provider id already recorded for another message: a provider's fault) is counted
        # and the pass goes on; anything else (the database away, a bug) ends it.
        refused = [f for f in failures if isinstance(f, asyncpg.IntegrityConstraintViolationError)]
        for exc in refused:  # the constraint's name only: its detail holds the values
            log.error(
                "an outcome was refused by the database; left to recovery",
                error=type(exc).__name__,
                constraint=getattr(exc, "constraint_name", None),
            )
        report.counts["unrecorded"] += len(refused)
        others = [f for f in failures if f not in refused]
        if others:
            raise others[0]
        if report.counts["sent"]:
            async with self.pool.acquire() as conn, conn.transaction():
                await receipts.apply(conn, as_of, self.s)  # receipts that raced ahead

    async def _release_unsent(self, claimed: _Claimed) -> None:
        """Give back a claim none of whose messages was sent (its lookups stay leased:
        recovery asks their provider when the lease runs out)."""
        ids = sorted(x.row["notification_id"] for x in claimed.sending)
        if ids:
            await self._in_own_transaction(
                lambda conn: conn.execute(queries.RELEASE_MANY, ids, self.name)
            )

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
        self,
        x: Sending,
        as_of: datetime,
        last_start: float,
        report: DispatchReport,
        recorder: _Outcomes,
    ) -> None:
        assert x.outbound is not None
        result = await self._send(x.outbound, last_start, x.row)
        if result is None:  # too late to start within the lease: due again, as it was
            await self._in_own_transaction(
                lambda conn: conn.execute(queries.RELEASE, x.row["notification_id"], self.name)
            )
            report.counts["released"] += 1
            return
        await recorder.record(x, result)

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
            except TRANSIENT_DB_ERRORS as exc:
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
            # The token is taken right before sending (in route.send), not before waiting for
            # the gate: otherwise tokens taken while the gate was full go out together later,
            # and the provider counts more than its limit in a second.
            try:
                return await route.send(outbound, start_by=last_start, timeout=self.call_timeout)
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
