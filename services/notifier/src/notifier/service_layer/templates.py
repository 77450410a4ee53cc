"""Jinja2 templates per message type, stage, channel and locale: lookup, rendering and the
checks run when staff save one (syntax, known variables, required content, SMS length,
forbidden wording). Built-in templates ship in ``notifier/templates``; saved ones are
versioned in the ``templates`` table and the highest version wins."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import asyncpg
from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment

from notifier.domain import sms
from notifier.domain.wording import forbidden_wording

ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
VARIABLES = frozenset(
    {
        "room",
        "amount",
        "deadline",
        "pay_link",
        "contact",
        "company",
        "community",
        "period",
        "oldest_due_date",
        "days_overdue",
        "tier",
        "stage",
        "paid_date",
        "complaint_line",
        "total",
        "parts",
    }
)
#: What an SMS must carry (issue 6: room, amount, deadline, pay link and contact).
REQUIRED_SMS = {
    "reminder": ("room", "amount", "deadline", "pay_link", "contact"),
    "bill": ("room", "amount", "deadline", "pay_link", "contact"),
    "confirmation": ("room", "amount", "deadline", "pay_link", "contact"),
    "receipt": ("amount",),
}
SUBJECTS = {
    "bill": "物业费账单",
    "receipt": "缴费回执",
    "reminder": "物业费缴费提醒",
    "confirmation": "缴费安排确认",
}
#: Long-ish realistic values: a template that fits with these fits in practice.
SAMPLE = {
    "room": "12-3-2801",
    "amount": "12345.67",
    "deadline": "12月31日",
    "pay_link": "https://pf.cn/p/u-000123",
    "contact": "4008123456",
    "company": "示例物业服务有限公司",
    "community": "示例花园",
    "period": "2026年12月",
    "oldest_due_date": "2026-01-31",
    "days_overdue": "365",
    "tier": "red",
    "stage": "reminder_7d",
    "paid_date": "12月31日",
    "complaint_line": "12345",
    "total": "12345.67",
    "parts": "12",
}
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_]\w*)")


@dataclass(frozen=True, slots=True)
class Template:
    template_id: str
    version: int  # 0: built in
    body: str
    subject: str | None = None
    provider_codes: dict[str, str] | None = None

    def variables(self) -> list[str]:
        """Variables in order of first appearance (the order of SMS template parameters)."""
        return list(dict.fromkeys(_VARIABLE.findall(self.body)))


def template_id(message_type: str, stage: str | None, channel: str, locale: str) -> str:
    return f"{message_type}.{stage or '*'}.{channel}.{locale}"


@functools.lru_cache(maxsize=256)
def builtin(
    message_type: str, channel: str, locale: str, stage: str | None = None
) -> Template | None:
    folder = resources.files("notifier").joinpath("templates")
    names = [f"{message_type}.{channel}.{locale}.j2", f"{message_type}.any.{locale}.j2"]
    if stage:  # a stage's own wording first (e.g. confirmation.plan.any.zh-CN.j2)
        names[:0] = [f"{message_type}.{stage}.{channel}.{locale}.j2"]
        names[1:1] = [f"{message_type}.{stage}.any.{locale}.j2"] if channel != "sms" else []
    for name in names:
        entry = folder.joinpath(name)
        if entry.is_file():
            return Template(f"builtin:{name}", 0, entry.read_text("utf-8").strip())
    return None


def validate(
    message_type: str,
    channel: str,
    body: str,
    subject: str | None,
    *,
    sign_name: str,
    max_segments: int,
) -> list[str]:
    """Every reason to refuse this template; empty when it may be saved."""
    problems: list[str] = []
    for part, source in (("body", body), ("subject", subject or "")):
        try:
            parsed = ENV.parse(source)
        except TemplateSyntaxError as exc:
            problems.append(f"{part}: syntax error at line {exc.lineno}: {exc.message}")
            continue
        unknown = meta.find_undeclared_variables(parsed) - VARIABLES
        problems += [f"{part}: unknown variable '{name}'" for name in sorted(unknown)]
    if problems:
        return problems
    try:
        text = render(body, SAMPLE)
    except Exception as exc:
        return [f"body: cannot be rendered: {exc}"]
    problems += forbidden_wording(text + (subject or ""), message_type)
    if channel == "sms":
        used = set(_VARIABLE.findall(body))
        problems += [
            f"body: an SMS {message_type} must carry '{name}'"
            for name in REQUIRED_SMS.get(message_type, ())
            if name not in used
        ]
        too_long = sms.length_problem(sms.with_sign(sign_name, text), max_segments)
        if too_long:
            problems.append(f"body: {too_long} (with sample values)")
    return problems


@functools.lru_cache(maxsize=512)
def _compiled(source: str) -> Any:
    return ENV.from_string(source)


def render(source: str, context: dict[str, Any]) -> str:
    return str(_compiled(source).render(context)).strip()


async def latest(conn: asyncpg.Connection) -> dict[str, Template]:
    """The template in use for every saved template id."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (template_id) template_id, version, body, subject, provider_codes "
        "FROM templates ORDER BY template_id, version DESC"
    )
    return {
        r["template_id"]: Template(
            r["template_id"], r["version"], r["body"], r["subject"], r["provider_codes"]
        )
        for r in rows
    }


def pick(
    saved: dict[str, Template], message_type: str, stage: str | None, channel: str, locale: str
) -> Template | None:
    """Most specific first: stage, any stage; the party's locale, then zh-CN; then built in."""
    for loc in dict.fromkeys((locale, "zh-CN")):
        for st in (stage, None) if stage else (None,):
            found = saved.get(template_id(message_type, st, channel, loc))
            if found:
                return found
        found = builtin(message_type, channel, loc, stage)
        if found:
            return found
    return None
