"""A year of the community, day by day, through the four services' public interfaces.

Each simulated day, in community time (Asia/Shanghai):

1. on the 1st: the billing run for the month and the late-fee assessment (billing);
2. 09:30 the dunning sweep, 09:31 the notifier's dispatch: reminders reach the sandbox phones;
3. the post office: letters printed the day before get their tracking numbers (delivery proof);
4. staff work their open tasks: calls and visits with outcomes, promises, pauses, a hardship
   plan, complaints resolved, one legal case;
5. owners pay between 10:00 and 20:00 through signed WeChat Pay, Alipay and UnionPay
   notifications (a share delivered twice by the "gateway") or at the counter;
6. the simulator waits until every service has handled what the day caused (``Settle``), so
   the next morning's sweep sees every payment: the accelerated clock never outruns the system.

The simulator never touches a database: it only calls HTTP APIs, sends webhooks and reads
public Kafka topics.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from demo.api import Api
from demo.feed import Bill, Feed
from demo.settle import Settle
from demo.world import REASON_OF, Household

TZ = ZoneInfo("Asia/Shanghai")
DUPLICATE_SHARE = 0.06  # gateway notifications delivered twice

SCHEDULE_ITEMS = [
    {"code": "property_fee", "name": "物业服务费", "kind": "area", "rate_fen": "280",
     "unit_type": "residential"},
    {"code": "property_fee", "name": "物业服务费", "kind": "area", "rate_fen": "480",
     "unit_type": "shop"},
    {"code": "parking", "name": "车位管理费", "kind": "parking", "rate_fen": "30000"},
    {"code": "water", "name": "水费（代收）", "kind": "metered", "rate_fen": "410",
     "pass_through": True, "supplier_tariff_fen": "410",
     "tariff_source": "杭州市水务集团 居民生活用水价格表 杭发改价格〔2024〕5号"},
]  # fmt: skip


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    return date(d.year + y, m + 1, 1)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)


@dataclass
class Paid:
    at: datetime
    amount_fen: int
    channel: str
    payment_id: str | None = None


@dataclass
class Totals:
    payments: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    refunds_fen: int = 0
    by_month: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    staff: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    escalations_by_stage: Counter[str] = field(default_factory=Counter)
    tiers: dict[str, dict[str, int]] = field(default_factory=dict)
    open_cases: dict[str, int] = field(default_factory=dict)


class Simulation:
    def __init__(
        self,
        api: Api,
        sandbox: Any,
        households: list[Household],
        ledger_csv: bytes,
        *,
        seed: int,
        start: date,
        months: int,
        community_id: str,
        company_id: str,
        bootstrap: str,
        prefix: str,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self.api = api
        self.sandbox = sandbox
        self.households = households
        self.ledger_csv = ledger_csv
        self.seed = seed
        self.start = start
        self.months = months
        self.community_id = community_id
        self.company_id = company_id
        self.feed = Feed(bootstrap, prefix, community_id)
        self.settle = Settle(api, bootstrap, prefix)
        self.progress = progress or (lambda _label, _done, _total: None)
        self.by_unit: dict[str, Household] = {}
        self.by_contact: dict[str, Household] = {}
        self.paid: dict[str, list[Paid]] = defaultdict(list)
        self.paid_bills: set[str] = set()
        self.plans: dict[str, list[tuple[date, int]]] = {}
        self.pending_pay: dict[date, list[tuple[Household, str]]] = defaultdict(list)
        self.open_pauses: dict[str, tuple[str, date]] = {}  # unit → (pause_id, resolve on)
        self.letters_to_track: dict[date, list[str]] = defaultdict(list)
        self.letters_to_deliver: dict[date, list[str]] = defaultdict(list)
        self.meters: dict[str, int] = {}  # unit → its water meter's last reading (m³)
        self.messages_seen = 0
        self.dispatched_last = False
        self.legal_unit: str | None = None
        self.totals = Totals()
        self.opening_recovered: dict[str, int] = defaultdict(int)
        self.timings: dict[str, float] = defaultdict(float)
        self.days: list[dict[str, Any]] = []  # each simulated day's wall time, by phase

    def rng(self, *parts: object) -> random.Random:
        """The randomness of one decision (what, when, who), from the seed and the decision's
        own name: the same in every run, whatever order concurrent tasks happen to run in.
        (One shared generator would hand out its numbers in the order tasks reach it.)"""
        return random.Random(":".join(str(x) for x in (self.seed, *parts)))

    # ------------------------------------------------------------------------------------
    # set-up: the community, its fee schedule, the ledger, contacts

    async def setup(self) -> dict[str, Any]:
        api, cid = self.api, self.community_id
        await api.put(
            "billing",
            f"/communities/{cid}",
            actor="admin",
            json={
                "company_id": self.company_id,
                "company_name": "示例物业服务有限公司",
                "name": "阳光花园",
                "city": "杭州",
                "late_fee_daily_rate": "0.0001",
                "service_phone": "0571-88886666",
                "complaint_line": "0571-12345",
                "address": "杭州市西湖区示例路1号",
                "contract_end": str(add_months(self.start, 36)),
            },
        )
        # The schedule the community had before it came to Propfee, with its original dates
        # (imported once, by the company admin, with the company's approval of the import).
        published = add_months(self.start, -2)
        await api.post(
            "billing",
            f"/communities/{cid}/fee-schedules/import",
            actor="admin",
            ok=(200, 201),
            json={
                "approval_ref": "公司批复〔2025〕8号",
                "versions": [
                    {
                        "published_on": str(published),
                        "effective_from": str(add_months(published, 1)),
                        "approval_ref": "杭价〔2025〕12号",
                        "pricing_type": "政府指导价",
                        "service_level": "二级",
                        "complaint_line": "0571-12345",
                        "items": SCHEDULE_ITEMS,
                    }
                ],
            },
        )
        report = await api.post(
            "billing",
            f"/communities/{cid}/ledger-imports",
            actor="clerk",
            ok=(200, 201),
            params={"filename": "台账.csv", "opening_as_of": str(self.start)},
            content=self.ledger_csv,
            headers={"Content-Type": "application/octet-stream"},
        )
        units: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 1000}
        while True:
            page = await api.get(
                "billing", f"/communities/{cid}/units", actor="clerk", params=params
            )
            units += page["items"]
            if not page["next"]:
                break
            params = {"limit": 1000, "cursor": page["next"]}
        by_key = {u["unit_key"]: u for u in units}
        for h in self.households:
            unit = by_key.get(h.unit_key)
            if unit is None:
                raise RuntimeError(f"the import did not create unit {h.unit_key}")
            h.unit_id = unit["unit_id"]
            h.payer_party_id = unit["payer_party_id"] or ""
            self.by_unit[h.unit_id] = h
            self.by_contact[h.phone] = h
        await self._contacts()
        return {"import": report, "units": len(units)}

    async def _contacts(self) -> None:
        """The clerk records each payer's mailing address; owners who follow the official
        account or use the app get those channels."""

        async def one(h: Household) -> None:
            if not h.payer_party_id:
                return
            body: dict[str, Any] = {"postal_address": h.postal_address}
            preferred = []
            if h.wechat or h.app:
                body["allowed_channels"] = ["sms", "letter", "door_notice"]
            if h.wechat:
                h_openid = f"o{h.unit_id[-20:]}"
                body["wechat_openid"] = h_openid
                body["allowed_channels"].append("wechat")
                preferred.append("wechat")
                self.by_contact[h_openid] = h
            if h.app:
                body["app_user_id"] = f"app-{h.unit_id[-12:]}"
                body["allowed_channels"].append("app_push")
                preferred.append("app_push")
                self.by_contact[body["app_user_id"]] = h
            if preferred:
                body["preferred_channels"] = [*preferred, "sms"]
            await self.api.patch(
                "billing", f"/parties/{h.payer_party_id}", actor="clerk", json=body
            )

        await gather_limited(one(h) for h in self.households)

    # ------------------------------------------------------------------------------------
    # the year

    async def run(self) -> None:
        await self.feed.start()
        await self.settle.start()
        try:
            for m in range(self.months):
                month = add_months(self.start, m)
                await self._month(month)
            # The last evening's delivery reports, the last day's consequences, then every
            # settlement read (the report's checks).
            fresh = self.sandbox.messages(self.messages_seen)
            self.messages_seen += len(fresh)
            last = add_months(self.start, self.months) - timedelta(days=1)
            await self._sms_reports(fresh, local(last, 20, 30))
            await self.settle.settle()
            await self.feed.drain()
        finally:
            await self.feed.stop()
            await self.settle.stop()

    async def simulate_day(self, day: date) -> None:
        """One day of the community (the fault suite drives the days itself, chaos/)."""
        await self._day(day, day.strftime("%Y-%m"))

    async def _month(self, month: date) -> None:
        label = month.strftime("%Y-%m")
        last = add_months(month, 1) - timedelta(days=1)
        days = (last - month).days + 1
        for i in range(days):
            day = month + timedelta(days=i)
            before, t = dict(self.timings), time.monotonic()
            await self._day(day, label)
            self.days.append({
                "day": str(day), "total": round(time.monotonic() - t, 3),
                **{k: round(v - before.get(k, 0.0), 3) for k, v in self.timings.items()
                   if v - before.get(k, 0.0) > 0.0005},
            })  # fmt: skip
            self.progress(label, i + 1, days)

    async def _day(self, day: date, label: str) -> None:
        """09:30 the sweep; the day's work (post office and staff, then the owners); once the
        services have handled all of it, 20:30 the dispatch (before the quiet hours): a
        reminder the sweep queued this morning is cancelled if the household paid during the
        day. Each step waits for what the one before caused, so a run is the same every time:
        the sweep sees last evening's deliveries, the owners pay after staff recorded their
        promises and pauses."""
        if day.day == 1:
            await self._bill(day, label)
        fresh = self.sandbox.messages(self.messages_seen)  # what last evening's dispatch sent
        self.messages_seen += len(fresh)
        if self.dispatched_last:  # deliveries and staff tasks reach dunning before its sweep
            await self._sms_reports(fresh, local(day - timedelta(days=1), 20, 30))
            await self._settle()
        t = time.monotonic()
        sweep = await self.api.post(
            "dunning", "/sweeps", json={"as_of": local(day, 9, 30).isoformat()}
        )
        self.timings["sweep"] += time.monotonic() - t
        escalated = int(sweep.get("escalated", 0) or 0) + int(
            sweep.get("monthly_reminders", 0) or 0
        )
        for stage, n in (sweep.get("by_stage") or {}).items():
            self.totals.escalations_by_stage[stage] += n
        self.totals.by_month[label]["escalations"] += escalated
        self._read_phones(fresh, day, label)
        _, worked = await asyncio.gather(
            self._timed("post office", self._post_office(day)),
            self._timed("staff", self._staff(day, label)),
        )
        if worked:  # promises, pauses and plans are known before anyone pays
            await self._settle()
        paid = await self._owners_pay(day, label)
        if escalated or paid:  # the notifier must know before it dispatches
            await self._settle()
        t = time.monotonic()
        dispatched = await self.api.post(
            "notifier", "/dispatch", params={"as_of": local(day, 20, 30).isoformat()}
        )
        self.timings["dispatch"] += time.monotonic() - t
        sent = sum(v for k, v in dispatched.items() if k != "as_of" and isinstance(v, int))
        self.totals.by_month[label]["dispatched"] += sent
        self.dispatched_last = sent > 0
        if day.day == 28:
            await self._snapshot(day, label)

    async def _timed(self, name: str, job: Awaitable[Any]) -> Any:
        t = time.monotonic()
        try:
            return await job
        finally:
            self.timings[name] += time.monotonic() - t

    async def _settle(self) -> None:
        t = time.monotonic()
        await self.settle.settle()
        self.timings["waiting for the services"] += time.monotonic() - t

    # ------------------------------------------------------------------------------------
    # billing

    async def _bill(self, day: date, label: str) -> None:
        t = time.monotonic()
        cid = self.community_id
        # The meters are read at the start of the month: last month's water goes on this
        # month's bill (a reading's period_month is the month whose bill charges it).
        readings = []
        for h in self.households:
            if h.kind != "vacant":
                r = self.rng("water", day, h.unit_key)
                used = r.randint(4, 18) if h.kind == "lived_in" else r.randint(8, 40)
                previous = self.meters.setdefault(
                    h.unit_key, self.rng("meter", h.unit_key).randint(100, 3000)
                )
                self.meters[h.unit_key] = previous + used
                readings.append({
                    "unit_id": h.unit_id, "item_code": "water", "period_month": str(day),
                    "previous": str(previous), "current": str(previous + used),
                })  # fmt: skip
        if readings:
            await self.api.post(
                "billing", f"/communities/{cid}/meter-readings", actor="clerk", json=readings
            )
        run = await self.api.post(
            "billing", f"/communities/{cid}/billing-runs", ok=(200, 201),
            json={"period_start": str(day), "cycle": "monthly", "as_of": str(day)},
        )  # fmt: skip
        await self.api.post(
            "billing", f"/communities/{cid}/late-fee-assessments", json={"as_of": str(day)}
        )
        self.timings["billing runs"] += time.monotonic() - t
        await self._settle()
        await self.feed.drain()
        month_bills = [
            b for bills in self.feed.bills.by_unit.values() for b in bills.values()
            if b.period_start == day and not b.opening
        ]  # fmt: skip
        self.totals.by_month[label]["billed_fen"] += sum(b.total_fen for b in month_bills)
        self.totals.by_month[label]["invoices"] += int(run.get("invoices", len(month_bills)) or 0)
        self._plan_month(day, month_bills)

    def _plan_month(self, day: date, bills: list[Bill]) -> None:
        """Each household decides when it pays this month's bill."""
        for bill in sorted(bills, key=lambda b: b.invoice_id):
            h = self.by_unit.get(bill.unit_id)
            if h is None:
                continue
            rng = self.rng("plan", day, h.unit_key)
            due = bill.due_date
            window = max((due - day).days, 1)
            p = h.persona
            when: date | None = None
            if p == "on_time" or (p == "forgets" and rng.random() < 0.5):
                when = day + timedelta(days=rng.randint(1, max(1, window - 1)))
            elif p == "prepays_yearly" and day == self.start:
                self.pending_pay[day + timedelta(days=rng.randint(1, 4))].append((h, "yearly"))
                continue
            elif p in {"hardship", "unhappy_with_service", "landlord_tenant_dispute"} and (
                h.plan_created or self._resolved(h)
            ):
                when = day + timedelta(days=rng.randint(1, max(1, window - 1)))
            if when is not None:
                self.pending_pay[when].append((h, bill.invoice_id))

    def _resolved(self, h: Household) -> bool:
        return h.promise_until == "resolved"

    # ------------------------------------------------------------------------------------
    # what reaches the owners' phones

    async def _sms_reports(self, fresh: list[dict[str, Any]], sent_at: datetime) -> None:
        """Overnight the SMS provider pushes its delivery reports (Alibaba's SmsReport) to
        notifier's callback URL: the SMS proof of delivery, as a demand needs."""
        reports = self.sandbox.sms_reports(fresh, sent_at)
        token = self.sandbox.receipt_callback_token
        for i in range(0, len(reports), 500):  # the provider pushes in batches
            await self.api.post(
                "notifier", "/receipts/alibaba", actor=None, params={"token": token},
                json=reports[i : i + 500],
            )  # fmt: skip

    def _read_phones(self, fresh: list[dict[str, Any]], day: date, label: str) -> None:
        """Yesterday evening's reminders: each household reminded decides once, the same way
        whatever order the messages reached the sandbox in."""
        reminded: dict[str, Household] = {}
        for msg in fresh:
            h = self.by_contact.get(str(msg.get("to", "")))
            if h is None or _message_kind(msg) != "reminder":
                continue
            self.totals.by_month[label]["reminders_received"] += 1
            reminded[h.unit_key] = h
        for key in sorted(reminded):
            h = reminded[key]
            h.reminded_on.append(str(day))
            rng, p = self.rng("reminded", day, key), h.persona
            if p == "pays_after_reminder" or (p == "forgets" and rng.random() < 0.85):
                delay = rng.randint(0, 2) if p == "pays_after_reminder" else rng.randint(1, 5)
                self.pending_pay[day + timedelta(days=delay)].append((h, "all"))

    async def _post_office(self, day: date) -> None:
        """Print yesterday's letters and door notices: the housekeeper posts the notices on
        the doors at once (a hand-delivery reference); the letters go by EMS the next day
        (the tracking number: posted) and most are signed for two days after that (EMS's
        妥投 status: delivered); about one in fourteen is never signed for (refused, nobody
        at the address) and stays posted, which proves nothing in law (issue 18 rule 3).
        Recorded as the automation (the service role): staff act as of now only, and these
        times are the simulated clock's."""
        batch = await self.api.post(
            "notifier", "/letters/batches", actor="automation",
            params={"as_of": local(day, 9, 45).isoformat()},
        )  # fmt: skip
        by_channel = batch.get("by_channel") or {}
        if by_channel.get("letter"):
            self.letters_to_track[day + timedelta(days=1)].extend(by_channel["letter"])
        notices = list(by_channel.get("door_notice") or [])
        letters = self.letters_to_track.pop(day, [])
        signed = self.letters_to_deliver.pop(day, [])
        # Which letters are never signed for: seeded by household and stage, not by the
        # notification's id (a fresh uuid each run), so the same seed posts the same letters.
        about: dict[str, str] = {}
        if letters:
            printing = await notifications(
                self.api, {"status": "printing", "community_id": self.community_id}
            )
            about = {r["notification_id"]: f"{r['unit_id']}|{r.get('stage')}" for r in printing}
        for n in letters:
            if self.rng("ems", day, about.get(n, n)).random() >= 1 / 14:
                self.letters_to_deliver[day + timedelta(days=2)].append(n)

        async def post(nid: str, number: str, carrier: str, at: datetime) -> None:
            await self.api.post(
                "notifier", f"/notifications/{nid}/tracking", actor="automation", ok=(200, 409),
                json={"tracking_number": number, "carrier": carrier,
                      "posted_at": at.isoformat()},
            )  # fmt: skip

        async def deliver(nid: str, proof: dict[str, str], at: datetime) -> None:
            await self.api.post(
                "notifier", f"/notifications/{nid}/delivery", actor="automation", ok=(200, 409),
                json={**proof, "delivered_at": at.isoformat()},
            )  # fmt: skip

        async def by_hand(nid: str, number: str, at: datetime) -> None:
            await post(nid, number, "hand", at)
            await deliver(nid, {"receipt_reference": number}, at)

        await gather_limited(
            [
                *(post(n, f"EMS{stable_digits(n, 9)}CN", "EMS", local(day, 11)) for n in letters),
                *(deliver(n, {"carrier_status": "妥投"}, local(day, 15)) for n in signed),
                *(
                    by_hand(n, f"HK-{day:%Y%m%d}-{stable_digits(n, 6)}", local(day, 10, 30))
                    for n in notices
                ),
            ]
        )
        self.totals.staff["letters_posted"] += len(letters)
        self.totals.staff["letters_delivered"] += len(signed)
        self.totals.staff["door_notices_posted"] += len(notices)

    # ------------------------------------------------------------------------------------
    # staff

    async def _staff(self, day: date, label: str) -> bool:
        resumed = False
        for unit_id, (pause_id, resolve_on) in list(self.open_pauses.items()):
            if day >= resolve_on:
                await self.api.post(
                    "dunning", f"/pauses/{pause_id}/resolve", actor="housekeeper", ok=(200, 404),
                    json={"resolution": "问题已处理，业主认可", "at": local(day, 11).isoformat()},
                )  # fmt: skip
                del self.open_pauses[unit_id]
                resumed = True
                self.totals.staff["resumed"] += 1
                h = self.by_unit[unit_id]
                h.promise_until = "resolved"
                later = self.rng("resumed", day, h.unit_key).randint(1, 4)
                self.pending_pay[day + timedelta(days=later)].append((h, "all"))
        tasks = await self.api.get_all("dunning", "/tasks", actor="housekeeper")
        # In a fixed order: the first refusing household with a lawyer's letter due is the
        # one taken to court.
        tasks.sort(key=lambda t: (t["unit_id"], t["kind"], t.get("stage") or "", t["case_id"]))
        for task in tasks:
            await self._task(task, day)
        return bool(tasks) or resumed

    async def _task(self, task: dict[str, Any], day: date) -> None:
        h = self.by_unit.get(task["unit_id"])
        kind = task["kind"]
        at = local(day, 18, 30) if kind == "phone_call" else local(day, 11)
        done = {"actor": "housekeeper", "ok": (200, 404)}
        if h is None:
            await self.api.post("dunning", f"/tasks/{task['task_id']}/done", **done)
            return
        case_id = task["case_id"]
        self.totals.staff["tasks_done"] += 1
        if kind in {"phone_call", "visit"}:
            reason = REASON_OF[h.persona]
            await self.api.post(
                "dunning", f"/cases/{case_id}/outcomes", actor="housekeeper",
                ok=(200, 201, 409),
                json={"kind": "call" if kind == "phone_call" else "visit", "reason_code": reason,
                      "staff_id": "hk-01", "task_id": task["task_id"], "at": at.isoformat(),
                      "note": "已联系业主"},
            )  # fmt: skip
            self.totals.outcomes[reason] += 1
            await self._after_contact(h, case_id, day, at)
        elif (
            kind == "lawyer_letter"
            and self.legal_unit in (None, h.unit_id)
            and (h.persona == "refuses")
        ):
            await self._legal(h, case_id, day, at)
        await self.api.post("dunning", f"/tasks/{task['task_id']}/done", **done)

    async def _after_contact(self, h: Household, case_id: str, day: date, at: datetime) -> None:
        rng, p = self.rng("contact", day, h.unit_key), h.persona
        if p in {"forgets", "pays_after_reminder", "on_time", "prepays_yearly"}:
            promised = day + timedelta(days=rng.randint(2, 7))
            outstanding = self._owed(h, at)
            await self.api.post(
                "dunning", f"/cases/{case_id}/promises", actor="housekeeper", ok=(200, 201, 409),
                json={"amount_fen": max(outstanding, 0), "promised_date": str(promised),
                      "staff_id": "hk-01", "at": at.isoformat()},
            )  # fmt: skip
            if rng.random() < 0.8:
                self.totals.staff["promises_kept"] += 1
                self.pending_pay[promised].append((h, "all"))
            else:
                self.totals.staff["promises_broken"] += 1
        elif p == "hardship" and not h.plan_created:
            await self._hardship_plan(h, case_id, day, at)
        elif (
            p in {"unhappy_with_service", "landlord_tenant_dispute"}
            and h.unit_id not in (self.open_pauses)
            and not self._resolved(h)
        ):
            reason = "service_complaint" if p == "unhappy_with_service" else p
            days = 20 if p == "unhappy_with_service" else 40
            pause = await self.api.post(
                "dunning", f"/cases/{case_id}/pauses", actor="housekeeper", ok=(200, 201),
                json={"reason": reason, "owner": "hk-01",
                      "ends_at": local(day + timedelta(days=days + 15), 0).isoformat(),
                      "starts_at": at.isoformat(),
                      "note": "业主反映问题，已转工单" if reason == "service_complaint"
                      else "租户与房东就费用承担有争议"},
            )  # fmt: skip
            self.open_pauses[h.unit_id] = (pause["pause_id"], day + timedelta(days=days))
            self.totals.staff["pauses"] += 1

    async def _hardship_plan(self, h: Household, case_id: str, day: date, at: datetime) -> None:
        open_ids = sorted(
            b.invoice_id for b in self.feed.bills.by_unit.get(h.unit_id, {}).values()
            if b.invoice_id not in self.paid_bills and b.due_date < day
        )  # fmt: skip
        if not open_ids:
            return
        # Recorded as of the simulated day: only the service role (the simulation clock) may
        # act as of another day than today; staff may back-date a few days at most.
        plan = await self.api.post(
            "billing", f"/units/{h.unit_id}/installment-plans", actor="automation", ok=(200, 201),
            json={"invoice_ids": open_ids, "parts": 3,
                  "first_due": str(day + timedelta(days=10)),
                  "reason": "家庭困难，分期缴纳", "at": at.isoformat()},
        )  # fmt: skip
        h.plan_created = True
        self.totals.staff["installment_plans"] += 1
        for part in plan.get("parts", []):
            due = date.fromisoformat(str(part["due_date"]))
            amount = int(part.get("amount_fen") or part.get("total_fen") or 0)
            if amount > 0:
                self.pending_pay[due - timedelta(days=1)].append((h, f"part:{amount}"))
        self.paid_bills.update(open_ids)

    async def _legal(self, h: Household, case_id: str, day: date, at: datetime) -> None:
        """One household that refuses after a delivered demand: the lawsuit, then the pause."""
        self.legal_unit = h.unit_id
        await self.api.post(
            "dunning", f"/cases/{case_id}/advance", actor="legal", ok=(200, 409),
            json={"stage": "lawsuit", "staff_id": "legal-01", "at": at.isoformat()},
        )  # fmt: skip
        await self.api.post(
            "dunning", f"/cases/{case_id}/pauses", actor="legal", ok=(200, 201, 409),
            json={"reason": "legal_proceeding", "owner": "legal-01",
                  "ends_at": local(day + timedelta(days=180), 0).isoformat(),
                  "starts_at": at.isoformat(), "note": "已向人民法院起诉"},
        )  # fmt: skip
        self.totals.staff["legal_cases"] += 1

    # ------------------------------------------------------------------------------------
    # owners paying

    def _owed(self, h: Household, at: datetime, *, not_yet_due: bool = False) -> int:
        """What the household owes at ``at`` as it knows it: bills due (or, with
        ``not_yet_due``, every bill issued by then), late fees, less its payments."""
        bills = self.feed.bills.by_unit.get(h.unit_id, {}).values()
        day = at.astimezone(TZ).date()
        billed = sum(
            b.total_fen + b.late_fee_fen
            for b in bills
            if b.due_date < day or (not_yet_due and b.period_start <= day)
        )
        paid = sum(p.amount_fen for p in self.paid[h.unit_id] if p.at <= at)
        return billed - paid

    def had_paid(self, h: Household, at: datetime, *, not_yet_due: bool = False) -> bool:
        """Whether the household had paid, by ``at``, every bill a reminder at ``at`` can be
        about: those overdue (or, for a notice before the due date, every bill issued), by
        billing's settlements. A household with nothing owed is not "a payer who paid"."""
        day = at.astimezone(TZ).date()
        bills = [
            b for b in self.feed.bills.by_unit.get(h.unit_id, {}).values()
            if b.due_date < day or (not_yet_due and b.period_start <= day)
        ]  # fmt: skip
        return bool(bills) and all(b.settled_at is not None and b.settled_at <= at for b in bills)

    async def _owners_pay(self, day: date, label: str) -> bool:
        """The day's payments: households in parallel, each household's one after the other.
        Paying everything owed ("all") reads the statement, so it is the household's only
        payment that day (a statement read while another of its payments is being allocated
        would depend on timing)."""
        todo = self.pending_pay.pop(day, [])
        if not todo:
            return False
        wants: dict[str, tuple[Household, list[str]]] = {}
        for h, what in todo:
            whats = wants.setdefault(h.unit_key, (h, []))[1]
            if what not in whats:
                whats.append(what)
        jobs = []
        for key in sorted(wants):
            h, whats = wants[key]
            if "all" in whats:
                whats = ["all"]
            jobs.append(self._household_pays(h, whats, day, label))
        t = time.monotonic()
        await gather_limited(jobs)
        self.timings["owners paying"] += time.monotonic() - t
        return True

    async def _household_pays(self, h: Household, whats: list[str], day: date, label: str) -> None:
        for what in whats:
            rng = self.rng("pay", day, h.unit_key, what)
            at = local(day, rng.randint(10, 19), rng.randint(0, 59))
            dup = h.channel != "counter" and rng.random() < DUPLICATE_SHARE
            await self._pay(h, what, at, h.channel, dup, label)

    async def _pay(
        self, h: Household, what: str, at: datetime, channel: str, dup: bool, label: str
    ) -> None:
        api, cid = self.api, self.community_id
        invoice_ids: list[str] = []
        if what == "yearly":
            bills = list(self.feed.bills.by_unit.get(h.unit_id, {}).values())
            monthly = max((b.total_fen for b in bills if not b.opening), default=0)
            amount = 12 * monthly
        elif what == "all":
            statement = await api.get(
                "billing", f"/units/{h.unit_id}/statement", actor="clerk",
                params={"as_of": str(at.date())},
            )  # fmt: skip
            amount = int(statement["principal_outstanding_fen"]) + int(
                statement["late_fee_outstanding_fen"]
            )
        elif what.startswith("part:"):
            amount = int(what.split(":", 1)[1])
        else:
            if what in self.paid_bills:
                return
            bill = self.feed.bills.by_unit[h.unit_id][what]
            invoice_ids, amount = [what], bill.total_fen
        if amount <= 0:
            return
        if what == "all":
            self.paid_bills.update(
                b.invoice_id for b in self.feed.bills.by_unit.get(h.unit_id, {}).values()
                if b.due_date <= at.date() or b.period_start <= at.date()
            )  # fmt: skip
        else:
            self.paid_bills.update(invoice_ids)
        if channel == "counter":
            how = self.rng("counter", at, h.unit_key).choice(["cash", "pos"])
            payment = await api.post(
                "payments", "/payments/counter", actor="counter",
                headers={"Idempotency-Key": f"counter-{h.unit_id}-{at:%Y%m%d%H%M}-{what}"},
                json={"community_id": cid, "unit_id": h.unit_id,
                      "payer_party_id": h.payer_party_id, "invoice_ids": invoice_ids,
                      "amount_fen": amount, "channel": how,
                      "received_by": "clerk-01", "paid_at": at.isoformat()},
            )  # fmt: skip
            self._record(h, at, amount, "counter", payment.get("payment_id"), label)
            return
        body: dict[str, Any] = {
            "unit_id": h.unit_id, "channel": channel, "scene": "native",
            "payer_party_id": h.payer_party_id, "at": (at - timedelta(minutes=2)).isoformat(),
        }  # fmt: skip
        if invoice_ids:
            body["invoice_ids"] = invoice_ids
        else:
            body |= {"community_id": cid, "amount_fen": amount}
        order = await api.post("payments", "/orders", actor="automation", json=body, ok=(201, 422))
        if "out_trade_no" not in order:  # nothing left to pay (credit covered it meanwhile)
            return
        out_trade_no = order["out_trade_no"]
        amount = int(order["amount_fen"])
        txn = "4200" + stable_digits(out_trade_no, 24)
        if channel == "wechat_pay":
            content, headers = self.sandbox.wechatpay_notification(out_trade_no, amount, at, txn)
            path, ok = "/webhooks/wechatpay", (200, 204)
        elif channel == "alipay":
            content, headers = self.sandbox.alipay_notification(out_trade_no, amount, at, txn)
            path, ok = "/webhooks/alipay", (200,)
        else:
            content, headers = self.sandbox.unionpay_notification(out_trade_no, amount, at, txn)
            path, ok = "/webhooks/unionpay", (200,)
        sends = [api.post("payments", path, actor=None, content=content, headers=headers, ok=ok)]
        if dup:
            sends.append(
                api.post("payments", path, actor=None, content=content, headers=headers, ok=ok)
            )
            self.totals.duplicates += 1
            self.totals.by_month[label]["duplicate_notifications"] += 1
        await asyncio.gather(*sends)
        self._record(h, at, amount, channel, order.get("order_id"), label)

    def _record(
        self, h: Household, at: datetime, amount: int, channel: str, ref: str | None, label: str
    ) -> None:
        self.paid[h.unit_id].append(Paid(at, amount, channel, ref))
        self.totals.payments[channel] += 1
        self.totals.by_month[label]["payments"] += 1
        self.totals.by_month[label]["paid_fen"] += amount

    # ------------------------------------------------------------------------------------
    # monthly look at the services' own figures

    async def _snapshot(self, day: date, label: str) -> None:
        cases = await self.api.get_all(
            "dunning", "/cases", actor="housekeeper",
            params={"community_id": self.community_id, "status": "open"},
        )  # fmt: skip
        self.totals.open_cases[label] = len(cases)


def _message_kind(msg: dict[str, Any]) -> str:
    """bill | receipt | reminder | confirmation, from the template the provider was asked for."""
    text = " ".join(
        str(x) for x in (msg.get("template"), msg.get("text"), msg.get("kind")) if x
    ).lower()
    for kind in ("receipt", "bill", "confirmation"):
        if kind in text:
            return kind
    return "reminder"


async def notifications(
    api: Api, params: dict[str, str], ok: tuple[int, ...] = (200,)
) -> list[Any]:
    """Every message notifier lists for ``params``; [] for an id notifier does not know yet
    (a 404 in ``ok``)."""
    return await api.get_all("notifier", "/notifications", actor="admin", params=params, ok=ok)


async def gather_limited(jobs: Iterable[Awaitable[Any]], limit: int = 48) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(job: Awaitable[Any]) -> Any:
        async with gate:
            return await job

    return list(await asyncio.gather(*(one(j) for j in jobs)))


def utcnow() -> datetime:
    return datetime.now(UTC)


def stable_digits(text: str, n: int) -> str:
    """Digits derived from ``text`` (the same in every run, unlike ``hash``)."""
    return str(int(hashlib.sha256(text.encode()).hexdigest(), 16)).rjust(n, "0")[:n]
