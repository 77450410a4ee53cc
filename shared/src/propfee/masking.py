"""Masking of personal data (PIPL): phone numbers, ID numbers, names, addresses.

Used by the log pipeline and by anything that writes error text where staff or outside
systems might read it (dead-letter headers, API errors). Masking is deliberately eager: a
false positive hides a harmless number, a false negative leaks a person.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# 18-digit resident ID (last char may be X) and the old 15-digit form.
_ID_NUMBER = re.compile(r"(?<!\d)(\d{6})\d{8,11}(\d{3}[\dXx])(?![\dXx])")
# Mainland mobile numbers, optionally +86 and with spaces or dashes inside.
_MOBILE = re.compile(r"(?<!\d)((?:\+?86[ -]?)?1[3-9]\d)[ -]?\d{4}[ -]?(\d{4})(?!\d)")
# Landlines such as 010-12345678 or 0571 8888 6666.
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[ -]\d{3,4}[ -]?(\d{2})\d{2}(?!\d)")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*(@[A-Za-z0-9.-]+\.[A-Za-z]{2,})")
#: Secrets carried in URLs (WeChat's access_token, callback tokens, signatures, keys).
_URL_SECRET = re.compile(
    r"((?:access_token|token|secret|signature|sign|key|password|AccessKeyId|Signature)=)"
    r"[^&\s\"']+",
    re.IGNORECASE,
)

#: Keys whose values are personal data whatever they look like.
SENSITIVE_KEY_PARTS = (
    "name",
    "phone",
    "mobile",
    "tel",
    "address",
    "id_number",
    "id_card",
    "email",
    "openid",
    "contact",
)
#: Keys that contain a sensitive part but are not personal data.
_NOT_SENSITIVE_KEYS = frozenset(
    {
        "service_name",
        "event_name",
        "topic_name",
        "logger_name",
        "file_name",
        "filename",
        "template_name",
        "fee_item_name",
        "community_name",
        "building_name",
        "hostname",
        "contact_channel",
        "telemetry",
    }
)


def mask_text(text: str) -> str:
    """Mask phone numbers, ID numbers, e-mail addresses and secrets in URLs inside free text."""
    text = _URL_SECRET.sub(lambda m: f"{m.group(1)}***", text)
    text = _ID_NUMBER.sub(lambda m: f"{m.group(1)}********{m.group(2)}", text)
    text = _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)
    text = _LANDLINE.sub(lambda m: f"{m.group(1)}-****{m.group(2)}**", text)
    return _EMAIL.sub(lambda m: f"{m.group(1)}***{m.group(2)}", text)


def mask_value(value: str) -> str:
    """Mask a value known to be personal data: keep the first character only.

    '张三丰' -> '张**', '13812345678' -> '138****5678' (phones keep the usual shape).
    """
    value = value.strip()
    if not value:
        return value
    masked = mask_text(value)
    if masked != value:
        return masked
    if len(value) == 1:
        return "*"
    return value[0] + "*" * min(len(value) - 1, 8)


def is_sensitive_key(key: str) -> bool:
    k = key.lower()
    if k in _NOT_SENSITIVE_KEYS:
        return False
    return any(part in k for part in SENSITIVE_KEY_PARTS)


def mask_data(value: Any, key: str | None = None) -> Any:
    """Recursively mask a structure: sensitive keys by value, every string by pattern."""
    if isinstance(value, Mapping):
        return {k: mask_data(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [mask_data(v, key) for v in value]
    if isinstance(value, str):
        if key is not None and is_sensitive_key(key):
            return mask_value(value)
        return mask_text(value)
    if isinstance(value, int) and not isinstance(value, bool) and key and is_sensitive_key(key):
        return mask_value(str(value))
    return value
