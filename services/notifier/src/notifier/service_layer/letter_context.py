"""What a printed letter or door notice says (issue 19), from the notification's parameters:
its title for the stage, the debtor and the room, a reference number, the statement (each
period with principal, late fee and how it was computed, and its total), the grand total in
figures and in capitals (大写), the deadline counted from delivery, the contractual and legal
basis, how to pay, how to dispute and the sender.

The result is plain JSON (stored with the notification, ``params.letter``, and printed again in
a batch) that ``adapters/letters_pdf`` lays out; wording of periods, amounts and late-fee terms
comes from ``propfee.claims``, the home dunning's evidence shares, so the letter an owner
received and the claim a court reads agree.

A letter is a document with legal content: its text is this module's, not an SMS-style
template's (the template's body is still rendered and kept as the message's record).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from propfee.claims import as_date, day, late_fee_terms, period_of, yuan
from propfee.money import yuan_in_words

#: Stages whose letter is a demand (催告函): a stated time to pay, after which the company
#: goes to court or arbitration (Civil Code art. 944 §2).
DEMAND_STAGES = frozenset({"legal_demand", "demand", "demand_letter"})
#: Titles of reminders by stage; any other reminder is a 催缴函.
REMINDER_TITLES = {
    "notice_before_due": "物业费缴费通知单",
    "friendly_letter": "物业费缴费提示函",
    "formal_letter": "物业费催缴函",
    "final_reminder": "最后催缴函",
    "final_letter": "最后催缴函",
}
TITLES = {
    "bill": "物业费缴费通知单",
    "receipt": "缴费回执",
    "reminder": "物业费催缴函",
    "confirmation": "缴费承诺确认函",
}
DOOR_NOTICE_TITLE = "温馨提示"
DEMAND_TITLE = "催告函"
#: Days to pay a letter gives when dunning set no deadline, counted from delivery.
DEFAULT_DAYS_TO_PAY = 15
CONTRACT = "《物业服务合同》"
CIVIL_CODE_944 = (
    "《中华人民共和国民法典》第九百四十四条：业主应当按照约定向物业服务人支付物业费。"
    "物业服务人已经按照约定和有关规定提供服务的，业主不得以未接受或者无需接受相关物业服务"
    "为由拒绝支付物业费。业主违反约定逾期不支付物业费的，物业服务人可以催告其在合理期限内"
    "支付；合理期限届满仍不支付的，物业服务人可以提起诉讼或者申请仲裁。"
)
STATEMENT_HEADER = ["期间", "缴费期限", "欠缴本金", "滞纳金", "小计"]


def title_of(message_type: str, stage: str | None, channel: str) -> str:
    if channel == "door_notice":
        return DOOR_NOTICE_TITLE
    if message_type == "reminder" and stage in DEMAND_STAGES:
        return DEMAND_TITLE
    if message_type == "reminder":
        return REMINDER_TITLES.get(stage or "", TITLES["reminder"])
    if message_type == "confirmation" and stage == "plan":
        return "分期缴费确认函"
    return TITLES.get(message_type, "通知")


def reference_of(notification_id: str, title: str, issued: date) -> str:
    """The letter's number as printed: the year, the date and the first eight characters of
    the notification's id (enough to find it; the id itself is not shown)."""
    tail = notification_id.removeprefix("ntf-").replace("-", "")[:8].upper()
    prefix = {"催告函": "催告", "温馨提示": "提示"}.get(title, "函")
    return f"{prefix}〔{issued.year}〕{issued:%m%d}-{tail}"


def statement_rows(
    lines: list[Mapping[str, Any]], by_room: bool
) -> tuple[list[dict[str, Any]], int, int]:
    """Each claimed invoice as the letter's table shows it: period, due date, principal, late
    fee, total, and how the late fee was computed; with the principal and late-fee sums."""
    rows, principal_total, late_fee_total = [], 0, 0
    for line in lines:
        principal, late_fee = int(line["principal_fen"]), int(line.get("late_fee_fen") or 0)
        principal_total, late_fee_total = principal_total + principal, late_fee_total + late_fee
        period = period_of(line)
        if by_room and line.get("room"):
            period = f"{line['room']} {period}"
        basis = line.get("late_fee_basis")
        rows.append(
            {
                "cells": [
                    period,
                    day(line.get("due_date")),
                    yuan(principal),
                    yuan(late_fee),
                    yuan(principal + late_fee),
                ],
                "terms": late_fee_terms(basis, late_fee, line.get("late_fee_as_of"))
                if late_fee or basis
                else "",
            }
        )
    return rows, principal_total, late_fee_total


def _fallback_rows(p: Mapping[str, Any], as_of: date) -> tuple[list[dict[str, Any]], int, int]:
    """No lines given (a reminder asked for by SMS that fell back to a letter, a bill): the
    bill's lines, else one row with what is owed and since when."""
    if p.get("lines"):
        rows = [
            {"cells": [str(x["description"]), day(p.get("deadline")), yuan(x["amount_fen"]),
                       yuan(0), yuan(x["amount_fen"])], "terms": ""}
            for x in p["lines"]
        ]  # fmt: skip
        return rows, sum(int(x["amount_fen"]) for x in p["lines"]), 0
    amount = int(p.get("amount_fen") or 0)
    oldest = p.get("oldest_due_date")
    what = f"截至{day(as_of)}欠缴物业服务费" + (f"（最早一期{day(oldest)}到期）" if oldest else "")
    return [{"cells": [what, day(oldest), yuan(amount), "", yuan(amount)], "terms": ""}], amount, 0


def letter_context(
    row: Mapping[str, Any], ctx: Mapping[str, Any], channel: str, address: str, zone: ZoneInfo
) -> dict[str, Any]:
    """The letter's data (JSON-ready) for the notification ``row`` on ``channel`` (letter or
    door notice) at ``address``; ``ctx`` is the template context (room, pay link, contact,
    company)."""
    p = row["params"] or {}
    message_type, stage = str(row["message_type"]), row["stage"]
    requested: datetime = row["requested_at"]
    issued = requested.astimezone(zone).date()
    title = title_of(message_type, stage, channel)
    demand = title == DEMAND_TITLE
    room = str(ctx.get("room") or "")
    debtor = (row["name"] or "").strip() or f"{room}业主/住户"
    lines = p.get("statement")
    if lines and message_type == "reminder":
        by_room = len({x.get("room") for x in lines if x.get("room")}) > 1
        rows, principal, late_fee = statement_rows(lines, by_room)
    elif message_type in ("reminder", "bill"):
        rows, principal, late_fee = _fallback_rows(p, issued)
    else:  # a receipt or a confirmation: the amount, no statement
        rows, principal, late_fee = [], int(p.get("amount_fen") or 0), 0
    total = principal + late_fee
    deadline = as_date(p.get("deadline"))
    days_to_pay = (deadline - issued).days if deadline and deadline > issued else None
    company = str(ctx.get("company") or "")
    dispute = str(ctx.get("dispute_contact") or ctx.get("complaint_line") or ctx.get("contact"))
    paid = int(p.get("paid_fen") or 0)
    letter: dict[str, Any] = {
        "title": title,
        "channel": channel,
        "demand": demand,
        "reference": reference_of(str(row["notification_id"]), title, issued),
        "company": company,
        "company_address": row["company_address"] or "",
        "community": str(ctx.get("community") or ""),
        "contact": str(ctx.get("contact") or ""),
        "dispute_contact": dispute,
        "recipient_address": address if channel == "letter" else "",
        "recipient": debtor,
        "room": room,
        "salutation": f"{debtor}（{room}）：" if row["name"] else f"尊敬的{debtor}：",
        "statement_header": STATEMENT_HEADER,
        "statement": rows,
        "totals": [
            ["欠缴本金合计", yuan(principal)],
            ["滞纳金合计", yuan(late_fee)],
            ["应缴合计", yuan(total)],
        ],
        "total_fen": total,
        "total_in_words": yuan_in_words(total),
        "pay_link": str(ctx.get("pay_link") or ""),
        "date": day(issued),
    }
    if message_type == "reminder":
        letter["paragraphs"] = _reminder_text(
            letter, demand, issued, days_to_pay, deadline, paid, stage
        )
        if channel == "door_notice":  # a notice, not a letter
            letter["paragraphs"] = {
                part: [x.replace("本函", "本通知") for x in texts]
                for part, texts in letter["paragraphs"].items()
            }
    else:
        letter["paragraphs"] = _notice_text(letter, message_type, p, zone)
    letter["basis"] = [CONTRACT + "的约定", CIVIL_CODE_944] if demand else []
    return letter


def _reminder_text(
    letter: Mapping[str, Any],
    demand: bool,
    issued: date,
    days_to_pay: int | None,
    deadline: date | None,
    paid: int,
    stage: str | None,
) -> dict[str, list[str]]:
    """The letter's paragraphs before the statement (``intro``) and after it (``after``)."""
    company, room, total = letter["company"], letter["room"], letter["total_fen"]
    amount = f"{yuan(total)}（{yuan_in_words(total)}）"
    intro = [
        f"{company}（以下简称“我司”）系{letter['community'] or '贵小区'}的物业服务人，依据"
        f"{CONTRACT}为{room}提供物业服务。截至{day(issued)}，您尚欠下列期间的物业服务费及"
        "滞纳金（违约金）：",
    ]
    if paid:
        intro.append(f"您已就上述期间缴纳{yuan(paid)}，以下为扣除已缴部分后尚欠的金额。")
    days = days_to_pay or DEFAULT_DAYS_TO_PAY
    planned = deadline or issued + timedelta(days=days)
    when = (
        f"自本函送达之日起{days}日内（本函于{day(issued)}发出，如当日送达，即不晚于{day(planned)}）"
    )
    if demand:
        after = [
            f"经我司多次催缴，上述费用至今未付。根据{CONTRACT}的约定及《中华人民共和国民法典》"
            "第九百四十四条的规定，我司特此催告：",
            f"请您{when}缴清上述欠费合计{amount}。",
            "逾期仍未缴纳的，我司将依法提起诉讼或者申请仲裁，并主张相应的滞纳金（违约金）"
            "及由此产生的诉讼费用。",
        ]
    else:
        after = [f"请您{when}缴清上述欠费合计{amount}。"]
        if stage in ("final_letter", "final_reminder"):
            after.append(
                f"这是我司的最后一次书面催缴。逾期仍未缴纳的，我司将依照{CONTRACT}的约定"
                "及法律规定催告并追缴。"
            )
    after.append("如您已缴清上述费用，请忽略本函；缴费金额以实际到账为准。")
    return {"intro": intro, "after": after}


def _notice_text(
    letter: Mapping[str, Any], message_type: str, p: Mapping[str, Any], zone: ZoneInfo
) -> dict[str, list[str]]:
    amount = f"{yuan(letter['total_fen'])}（{yuan_in_words(letter['total_fen'])}）"
    deadline = day(p.get("deadline"))
    if message_type == "bill":
        start, end = p.get("period_start"), p.get("period_end")
        period = period_of({"period_start": start, "period_end": end, "due_date": deadline})
        return {
            "intro": [f"您{letter['room']}房屋{period}的物业服务费账单如下："],
            "after": [f"请于{deadline}前缴纳{amount}。"] if deadline else [],
        }
    if message_type == "receipt":
        paid_at = p.get("paid_at")
        when = day(datetime.fromisoformat(paid_at).astimezone(zone)) if paid_at else ""
        received = int(p.get("amount_fen") or 0)
        return {
            "intro": [f"我司已于{when}收到您缴纳的{yuan(received)}（{yuan_in_words(received)}）。"],
            "after": ["感谢您的支持。"],
        }
    return {
        "intro": [f"您与我司约定的缴费安排如下：应缴{amount}。"],
        "after": [f"请于{deadline}前缴纳。"] if deadline else [],
    }
