"""What the system refuses, whatever a policy or a person asks (guardrails, not options).

- No coercion through supplies or access (Civil Code art. 944 §3): no action that cuts or
  restricts water, power, heating, gas, lifts, door cards, parking or entry exists, and a
  policy naming one is rejected.
- No public disclosure (PIPL): no posting, no blacklist; door notices go in a sealed envelope.
- Legal referral only after an individually delivered demand with a deadline that has passed
  (art. 944 §2). The precondition belongs to the *action kind*, not to a stage's name: any
  stage whose action (channel or template) or code names a lawsuit-like kind
  (:data:`LAWSUIT_LIKE_KINDS`, :func:`names_legal_referral`: a lawyer's letter, a lawsuit,
  arbitration, a court filing or enforcement, a mediation referral, also in Chinese) needs it,
  whatever the stage is called (issue 18 rule 1). Whether a demand satisfies it (delivered,
  in time, its deadline from delivery passed) is one SQL function, ``dunning_demand_refusal``
  (migration 0010), run by the sweep and the manual advance (issue 18 rule 2).
- No reminder to a case that is paid, paused, on hold or closed.

These words refuse *actions* by their names (a channel, template or stage called
``cut_water``, ``门禁``). What a message may *say* is notifier's rule, checked on every
template save, approval and built-in template (``notifier.domain.wording``, issue 18 rule 11).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

MESSAGE_CHANNELS = frozenset({"sms", "wechat", "app_push", "email", "letter", "door_notice"})
TASK_CHANNELS = frozenset({
    "phone_call", "visit", "letter_delivery", "legal_review", "lawyer_letter", "mediation",
    "lawsuit", "enforcement", "assign_owner", "promise_follow_up", "limitation_alert",
    "fix_contact", "arbitration", "court_filing", "mediation_referral",
})  # fmt: skip
#: The lawsuit-like action kinds (task channels): each needs a delivered individual demand
#: whose deadline has passed, whatever the stage holding it is called. The one home of the list.
LAWSUIT_LIKE_KINDS = frozenset({
    "lawyer_letter", "lawsuit", "arbitration", "court_filing", "mediation_referral",
    "mediation", "enforcement",
})  # fmt: skip
#: Words that name a lawsuit-like action in a free-text template or stage code: English
#: (whole words after lower-casing, ``_``/``-``/space split) and Chinese (substrings).
_LAWSUIT_WORDS = frozenset({
    "lawyer", "lawyers", "attorney", "solicitor", "lawsuit", "lawsuits", "litigation",
    "litigate", "sue", "suing", "arbitration", "arbitrate", "arbitral", "court", "courts",
    "mediation", "mediate", "enforcement", "tribunal",
})  # fmt: skip
_LAWSUIT_ZH = (
    "律师函", "律师", "起诉", "诉讼", "仲裁", "立案", "调解", "法院", "强制执行", "支付令",
)  # fmt: skip
#: English words (matched as whole words or word stems) and Chinese terms that name coercion
#: through supplies or access, or public disclosure.
_FORBIDDEN_STEMS = (
    "cut", "cutoff", "disconnect", "shut", "suspend", "restrict", "block", "lock", "disable",
    "deny", "water", "power", "electric", "heating", "heat", "gas", "lift", "elevator",
    "doorcard", "card", "access", "parking", "park", "entry", "gate", "public", "publish",
    "post", "posting", "board", "blacklist", "expose", "exposure", "shame", "groupchat",
)  # fmt: skip
_FORBIDDEN_ZH = (
    "停水", "停电", "停暖", "停气", "断水", "断电", "断气", "电梯", "门禁", "停车", "车位",
    "出入", "公示", "曝光", "黑名单", "张贴", "限制",
)  # fmt: skip
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the system will not do something, in words a person can act on."""

    code: str
    reason: str


def forbidden_words(text: str) -> list[str]:
    """Forbidden words in a channel, template or stage name (``cut_water``, ``门禁``)."""
    lowered = text.lower()
    words = _WORD.findall(lowered)
    joined = {a + b for a, b in itertools.pairwise(words)}  # door_card → doorcard
    found = {
        w for w in [*words, *joined] if w in _FORBIDDEN_STEMS or w.rstrip("s") in _FORBIDDEN_STEMS
    }
    found |= {term for term in _FORBIDDEN_ZH if term in text}
    return sorted(found)


def names_legal_referral(text: str | None) -> str | None:
    """The lawsuit-like kind or word ``text`` names (a channel, template or stage code, free
    text normalised), or None. ``court_filing``, ``Lawyer-Letter``, ``起诉通知`` all match;
    ``legal_demand`` (the demand itself) and ``courtesy_call`` do not."""
    if not text:
        return None
    lowered = text.strip().lower()
    normal = re.sub(r"[\s\-]+", "_", lowered)
    if normal in LAWSUIT_LIKE_KINDS:
        return normal
    words: list[str] = _WORD.findall(lowered)
    joined = {f"{a}_{b}" for a, b in itertools.pairwise(words)}
    for word in [*words, *sorted(joined)]:
        if word in LAWSUIT_LIKE_KINDS or word in _LAWSUIT_WORDS:
            return word
    return next((term for term in _LAWSUIT_ZH if term in text), None)


def check_action(
    kind: str, channel: str, template: str | None, sealed: bool = True
) -> list[Refusal]:
    """Refusals for one configured action (empty: allowed)."""
    refusals: list[Refusal] = []
    allowed = MESSAGE_CHANNELS if kind == "message" else TASK_CHANNELS
    if kind not in ("message", "task"):
        refusals.append(
            Refusal("unknown_kind", f"action kind {kind!r} is neither message nor task")
        )
    elif channel not in allowed:
        refusals.append(
            Refusal("channel_not_allowed", f"{kind} channel {channel!r} is not on the allow-list")
        )
    for text in (channel, template or ""):
        words = forbidden_words(text)
        if words:
            refusals.append(
                Refusal(
                    "coercion_or_disclosure",
                    f"{text!r} names {', '.join(words)}: restricting supplies or access and "
                    "public disclosure of arrears are unlawful (Civil Code 944, PIPL)",
                )
            )
    if channel == "door_notice" and not sealed:
        refusals.append(
            Refusal("door_notice_unsealed", "door notices go only in a sealed envelope")
        )
    return refusals


def check_reminder(
    status: str, paused: bool, on_hold: bool, outstanding_fen: int
) -> Refusal | None:
    """No reminder after the case is paid, paused, on hold (a payment is on its way) or closed."""
    if status != "open":
        return Refusal("case_closed", "the case is closed")
    if outstanding_fen <= 0:
        return Refusal("paid", "nothing is owed")
    if on_hold:
        return Refusal("on_hold", "a payment was received and is being allocated")
    if paused:
        return Refusal("paused", "the case is paused")
    return None
