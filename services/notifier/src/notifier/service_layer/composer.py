"""Turn a due notification into the exact text to send on its channel (template + context)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from notifier.adapters.base import Outbound
from notifier.domain import sms
from notifier.domain.channels import PAPER
from notifier.service_layer import templates
from notifier.service_layer.letter_context import letter_context
from notifier.settings import NotifierSettings
from propfee.money import format_yuan


class ComposeError(Exception):
    """The message cannot be written (no template, too long): final on this channel."""


def _md(value: str | None) -> str | None:
    if not value:
        return None
    day = date.fromisoformat(value[:10])
    return f"{day.month}月{day.day}日"


def context(row: Any, zone: ZoneInfo, s: NotifierSettings) -> dict[str, Any]:
    """Everything a template may use; names and phone numbers of the party are not in it."""
    p = row["params"]
    paid = p.get("paid_at")
    period = p.get("period_start")
    contact = row["service_phone"] or s.default_service_phone or "物业服务中心"
    company = row["company_name"] or s.default_company_name
    # The dispute variables are never empty: a template that names {{ complaint_line }}
    # gives the service phone when the community has no complaint line.
    dispute = row["complaint_line"] or contact
    return {
        "room": p.get("room") or row["unit_id"],
        "amount": format_yuan(int(p.get("amount_fen", 0))),
        "deadline": _md(p.get("deadline")) or "近日",
        "pay_link": s.pay_link_template.format(
            unit_id=row["unit_id"], subject_id=row["subject_id"]
        ),
        "contact": contact,
        "company": company,
        "company_name": company,
        "dispute_contact": dispute,
        "community": row["community_name"] or "",
        "period": f"{period[:4]}年{period[5:7]}月" if period else "",
        "oldest_due_date": p.get("oldest_due_date") or "",
        "days_overdue": str(p.get("days_overdue", "")),
        "tier": p.get("tier") or "",
        "stage": row["stage"] or "",
        "paid_date": _md(datetime.fromisoformat(paid).astimezone(zone).date().isoformat())
        if paid
        else "",
        "complaint_line": dispute,
        "total": format_yuan(int(p.get("total_fen", p.get("amount_fen", 0)))),
        "parts": str(p.get("parts", "")),
    }


def wechat_values(row: Any, ctx: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """Typed values for WeChat subscription-message keywords (formatted per keyword type by
    the adapter): amounts in fen, dates and local times, and the template context's text."""
    p = row["params"]
    paid = p.get("paid_at")
    return {
        **ctx,
        "amount": int(p.get("amount_fen", 0)),
        "total": int(p.get("total_fen", p.get("amount_fen", 0))),
        "deadline": date.fromisoformat(p["deadline"][:10]) if p.get("deadline") else None,
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
) -> tuple[Outbound, templates.Template]:
    ctx = context(row, zone, s)
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
    subject_source = (
        template.subject
        or f"{{{{ company }}}}：{templates.SUBJECTS.get(row['message_type'], '通知')}"
    )
    try:
        body = templates.render(template.body, ctx, max_output=s.template_max_output_chars)
        subject = templates.render(subject_source, ctx, max_output=s.template_max_output_chars)
    except Exception as exc:  # the sandbox's limits, or a value the template did not expect
        raise ComposeError(
            f"template {template.template_id} v{template.version} cannot be rendered: {exc}"
        ) from exc
    codes: dict[str, str] = {}
    if channel == "sms":
        body = sms.with_sign(s.sms_sign_name, body)
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
    extra: dict[str, Any] = {"pay_link": ctx["pay_link"]}
    if channel == "wechat":  # typed values for subscription-message keywords
        extra["wechat"] = {**wechat_values(row, ctx, zone), "body": body}
    outbound = Outbound(
        notification_id=row["notification_id"],
        channel=channel,
        address=address,
        body=body,
        message_type=row["message_type"],
        subject=subject,
        sms_params={name: str(ctx[name]) for name in template.variables()},
        template_codes=codes,
        context=letter if channel in PAPER else extra,
    )
    return outbound, template
