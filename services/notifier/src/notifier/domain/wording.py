"""Wording rules for templates: what a lawful, non-harassing reminder may not say.

Civil Code art. 944 §3 forbids pressing for fees by cutting supplies or access; art. 1033
and company policy forbid threats and marketing inside reminders. A template containing
such wording is refused when it is saved.
"""

from __future__ import annotations

#: Coercion through supplies or access (never lawful as a dunning measure).
COERCION = (
    "停水",
    "断水",
    "停电",
    "断电",
    "停暖",
    "停气",
    "断气",
    "停梯",
    "锁梯",
    "停用电梯",
    "门禁",
    "禁止入内",
    "禁止停车",
    "黑名单",
)
#: Marketing has no place inside a reminder or a demand.
MARKETING = ("促销", "抽奖", "优惠券", "限时特价", "广告")
#: Publicly shaming a debtor (PIPL; the issue's "never expose the debt publicly").
SHAMING = ("公示欠费", "张榜", "曝光")


def forbidden_wording(text: str, message_type: str) -> list[str]:
    """Phrases in ``text`` that the rules forbid for ``message_type``, with the rule."""
    found = [f"'{w}': coercion through supplies or access" for w in COERCION if w in text]
    found += [f"'{w}': public shaming" for w in SHAMING if w in text]
    if message_type in {"reminder", "demand"}:
        found += [f"'{w}': marketing inside a reminder" for w in MARKETING if w in text]
    return found
