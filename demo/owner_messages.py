"""What owners read (issue 19): every message the notifier sent in the year, judged by the
notifier's own rules, with three samples per channel as the owner saw them.

The rules are the notifier's, not a copy: :func:`notifier.domain.owner_text.problems` (no
internal id, no negative number, no unfilled placeholder) and
:func:`notifier.domain.sms.segments` (as carriers count them, the 【signature】 included).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from notifier.domain import owner_text, sms

#: What the owner got: sent, and (letters, door notices) printed or delivered.
SENT = frozenset({"sent", "delivered", "printing", "posted"})
SAMPLES_PER_CHANNEL = 3


def judge(notes: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts per channel, SMS segments, the messages with a problem, and samples: per
    channel, the first message (by unit and time) of up to three different message types
    and stages, so the samples show a bill, a reminder and a receipt where there are some."""
    sent = sorted(
        (n for n in notes if n.get("status") in SENT and n.get("body")),
        key=lambda n: (str(n.get("unit_id")), str(n.get("sent_at") or n.get("created_at"))),
    )
    by_channel: Counter[str] = Counter()
    segments: Counter[int] = Counter()
    wrong: list[dict[str, Any]] = []
    samples: dict[str, list[dict[str, str]]] = defaultdict(list)
    seen: dict[str, set[str]] = defaultdict(set)
    for n in sent:
        channel, body = str(n["channel"]), str(n["body"])
        by_channel[channel] += 1
        if channel == "sms":
            segments[sms.segments(body)] += 1
        found = owner_text.problems(body)
        if found:
            wrong.append(
                {"notification_id": n.get("notification_id"), "channel": channel,
                 "problems": found, "body": body}
            )  # fmt: skip
        kind = f"{n.get('message_type')}/{n.get('stage') or '-'}"
        if len(samples[channel]) < SAMPLES_PER_CHANNEL and kind not in seen[channel]:
            seen[channel].add(kind)
            samples[channel].append({"kind": kind, "body": body})
    return {
        "by_channel": dict(by_channel.most_common()),
        "sms": {
            "messages": sum(segments.values()),
            "segments": sum(k * v for k, v in segments.items()),
            "by_segments": {str(k): v for k, v in sorted(segments.items())},
        },
        "with_problems": len(wrong),
        "problems": wrong[:20],
        "samples": {k: v for k, v in sorted(samples.items())},
    }


def invariants(judged: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The two invariants the report adds."""
    sms_ = judged["sms"]
    one = sms_["by_segments"].get("1", 0)
    first = judged["problems"][0] if judged["problems"] else None
    return [
        {
            "name": "no internal id, negative number or unfilled placeholder in any sent message",
            "ok": judged["with_problems"] == 0,
            "detail": f"{judged['with_problems']} of {sum(judged['by_channel'].values())} "
            "messages"
            + (f"; first: {first['channel']} {'; '.join(first['problems'])}" if first else ""),
        },
        {
            "name": "every SMS is one segment (as carriers count, signature included)",
            "ok": one == sms_["messages"],
            "detail": f"{sms_['messages']} SMS, {sms_['segments']} segments billed",
        },
    ]
