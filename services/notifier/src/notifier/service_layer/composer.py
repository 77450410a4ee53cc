"""Turn a due notification into the exact text to send on its channel (template + context)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from notifier.adapters.base import Outbound
from notifier.domain import deadlines, owner_text, sms
from notifier.domain.channels import PAPER
from notifier.domain.messages import PAYMENT_CHANNEL_NAMES
from notifier.service_layer import templates
from notifier.service_layer.letter_context import letter_context
from notifier.settings import NotifierSettings
from propfee import labels
from propfee.money import format_yuan


class ComposeError(Exception):
    """The message cannot be written (no template, a missing or nonsensical value, a text
    an owner may not read, too long): final on this channel, with the reason recorded."""


def _fen(value: Any, name: str) -> int:
    """An amount the message states: present and not negative, or the message fails."""
    if value is None:
        raise ComposeError(f"the message has no {name}")
    fen = int(value)
    if fen < 0:
        raise ComposeError(f"{name} is negative ({fen} fen)")
    return fen


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


def _rooms(value: str | None, channel: str | None) -> str:
    """The room (or a combined reminder's rooms, joined with 、) as people write it, whatever
    the event carried (events from before issue 19 carried billing's key). An SMS names a
    combined reminder's first room and how many (``1栋1单元101等2套``: one segment); every
    other channel names each."""
    rooms = [labels.room_label_of_key(part) for part in (value or "").split("、")]
    if not all(rooms):
        raise ComposeError("the message names no room")
    if channel == "sms" and len(rooms) > 1:
        return f"{rooms[0]}等{len(rooms)}套"
    return "、".join(rooms)


def pay_by_date(row: Any, zone: ZoneInfo, s: NotifierSettings) -> date | None:
    """The date the message asks payment by (:mod:`notifier.domain.deadlines`)."""
    p = row["params"]
    requested = row["requested_at"]
    return deadlines.pay_by(
        deadline=_day(p.get("deadline")),
        due_date=_day(p.get("oldest_due_date")),
        days_overdue=p.get("days_overdue"),
        requested_on=requested.astimezone(zone).date() if requested else None,
        within_days=s.reminder_pay_within_days,
    )


def context(
    row: Any,
    zone: ZoneInfo,
    s: NotifierSettings,
    *,
    pay_link: str | None = None,
    periods: list[tuple[date, date]] | None = None,
    channel: str | None = None,
) -> dict[str, Any]:
    """Everything a template may use, each value as an owner reads it (names and phone
    numbers of the party are not in it). ``pay_link``: the link as the channel prints it;
    ``periods``: the periods of the invoices the message speaks of (the notifier's
    ``invoice_periods``), for a receipt's months and a reminder's. A value the message does
    not have is absent, never "": a template using it fails (:class:`ComposeError`)."""
    p = row["params"]
    kind = row["message_type"]
    contact = row["service_phone"] or s.default_service_phone or "物业服务中心"
    company = row["company_name"] or s.default_company_name
    # The dispute variables are never empty: a template that names {{ complaint_line }}
    # gives the service phone when the community has no complaint line.
    dispute = row["complaint_line"] or contact
    amount_fen = _fen(p.get("amount_fen"), "amount")
    days_overdue = p.get("days_overdue")
    ctx: dict[str, Any] = {
        "room": _rooms(p.get("room"), channel),
        "amount": format_yuan(amount_fen),
        "contact": contact,
        "company": company,
        "company_name": company,
        "dispute_contact": dispute,
        "complaint_line": dispute,
        "stage": row["stage"] or kind,
        # A bill, a confirmation or a notice before the due date: nothing is overdue yet.
        "overdue": kind == "reminder" and days_overdue is not None and days_overdue > 0,
        "partial": False,
    }
    if row["community_name"]:
        ctx["community"] = row["community_name"]
    if pay_link is not None:
        ctx["pay_link"] = pay_link
    if kind != "receipt":
        pay_by = pay_by_date(row, zone, s)
        if pay_by is None:
            raise ComposeError("the message has no deadline and none can be computed")
        ctx["deadline"] = labels.month_day(pay_by)
        ctx["deadline_date"] = labels.date_label(pay_by)
    if p.get("period_start") and p.get("period_end"):
        ctx["period"] = labels.period_label(
            date.fromisoformat(p["period_start"]), date.fromisoformat(p["period_end"])
        )
    elif periods:
        ctx["period"] = labels.periods_label(periods)
    if p.get("oldest_due_date"):
        ctx["due_date"] = labels.date_label(date.fromisoformat(p["oldest_due_date"]))
    if days_overdue is not None:
        ctx["days_overdue"] = int(days_overdue)
    if p.get("tier"):
        ctx["tier"] = p["tier"]
    paid_fen = p.get("paid_fen")
    if kind == "reminder" and paid_fen:
        ctx["partial"] = True
        ctx["paid_amount"] = format_yuan(_fen(paid_fen, "paid amount"))
    if kind == "receipt":
        paid = p.get("paid_at")
        if not paid:
            raise ComposeError("the receipt has no payment time")
        ctx["paid_date"] = labels.month_day(datetime.fromisoformat(paid).astimezone(zone).date())
        method = p.get("payment_channel")
        if method not in PAYMENT_CHANNEL_NAMES:
            raise ComposeError(f"the receipt names no known payment channel ({method!r})")
        ctx["pay_channel"] = PAYMENT_CHANNEL_NAMES[method]
        ctx["bills"] = len(p.get("invoice_ids") or ())
    if p.get("total_fen") is not None:
        ctx["total"] = format_yuan(_fen(p["total_fen"], "total"))
    if p.get("parts"):
        ctx["parts"] = int(p["parts"])
    return ctx


def wechat_values(
    row: Any, ctx: dict[str, Any], zone: ZoneInfo, s: NotifierSettings
) -> dict[str, Any]:
    """Typed values for WeChat subscription-message keywords (formatted per keyword type by
    the adapter): amounts in fen, dates and local times, and the template context's text."""
    p = row["params"]
    paid = p.get("paid_at")
    return {
        **ctx,
        "amount": int(p.get("amount_fen", 0)),
        "total": int(p.get("total_fen", p.get("amount_fen", 0))),
        "deadline": pay_by_date(row, zone, s) if row["message_type"] != "receipt" else None,
        "paid_at": datetime.fromisoformat(paid).astimezone(zone) if paid else None,
        "requested_at": row["requested_at"].astimezone(zone),
        "title": templates.SUBJECTS.get(row["message_type"], "通知"),
        "unit_id": row["unit_id"],
        "subject_id": row["subject_id"],
        "notification_id": row["notification_id"],
    }


def compose(
    row: Any,
    channel: str,
    address: str,
    zone: ZoneInfo,
    saved: dict[tuple[str, str], templates.Template],
    s: NotifierSettings,
    *,
    pay_link: str | None = None,
    periods: list[tuple[date, date]] | None = None,
) -> tuple[Outbound, templates.Template]:
    """The message on ``channel``: its template rendered with :func:`context`, checked
    (:func:`notifier.domain.owner_text.problems`: no id, placeholder, negative number or
    empty value) and, for SMS, signed and counted; :class:`ComposeError` otherwise.
    ``pay_link``: the token's link as the channel prints it (:mod:`.pay_links`)."""
    ctx = context(row, zone, s, pay_link=pay_link, periods=periods, channel=channel)
    lookup = "sms" if channel == "sms" else channel
    template = templates.pick(
        saved,
        row["company_id"],
        row["message_type"],
        row["stage"],
        lookup,
        row["locale"] or "zh-CN",
    )
    if template is None:
        raise ComposeError(f"no template for {row['message_type']} on {channel}")
    try:
        subject, body = templates.shown(
            channel,
            row["message_type"],
            template.body,
            template.subject,
            ctx,
            sign_name=s.sms_sign_name,
            max_output=s.template_max_output_chars,
        )
    except Exception as exc:  # the sandbox's limits, or a value the template did not expect
        raise ComposeError(
            f"template {template.template_id} v{template.version} cannot be rendered: {exc}"
        ) from exc
    wrong = owner_text.problems(f"{subject}\n{body}")
    if wrong:
        raise ComposeError(
            f"template {template.template_id} v{template.version} wrote what an owner may not "
            f"read: {'; '.join(wrong)}"
        )
    codes: dict[str, str] = {}
    if channel == "sms":  # signed by templates.shown
        problem = sms.length_problem(body, s.sms_max_segments)
        if problem:
            raise ComposeError(problem)
        codes = {
            provider: by_type[row["message_type"]]
            for provider, by_type in s.sms_template_codes.items()
            if row["message_type"] in by_type
        }
        codes.update(template.provider_codes or {})
    letter = (
        letter_context(row, ctx, channel, address, zone) if channel in PAPER else {}
    )  # issue 19: the letter's own data (service_layer/letter_context.py)
    # A receipt has no pay link: the channel then links nowhere (never to "None").
    extra: dict[str, Any] = {"pay_link": ctx["pay_link"]} if "pay_link" in ctx else {}
    if channel == "wechat":  # typed values for subscription-message keywords
        extra["wechat"] = {**wechat_values(row, ctx, zone, s), "body": body}
    outbound = Outbound(
        notification_id=row["notification_id"],
        channel=channel,
        address=address,
        body=body,
        message_type=row["message_type"],
        subject=subject,
        sms_params={name: str(ctx[name]) for name in template.variables() if name in ctx},
        template_codes=codes,
        context=letter if channel in PAPER else extra,
    )
    return outbound, template
