"""What the providers of one world share: its credentials, the orders the gateways know, the
messages the providers accepted and the counts of what they refused. Each provider module's
``*Routes`` mixin works on it; :class:`sandbox.world.Sandbox` puts them together."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

from sandbox.keys import CST, MESSAGE_TYPES, Credentials

#: The default subjects notifier gives e-mails and push titles (``<company>：<subject>``).
SUBJECT_KINDS = {
    "物业费账单": "bill",
    "缴费回执": "receipt",
    "物业费缴费提醒": "reminder",
    "缴费安排确认": "confirmation",
}


def yuan(fen: int) -> str:
    whole, cents = divmod(fen, 100)
    return f"{whole}.{cents:02d}"


def cst(at: datetime) -> datetime:
    """The instant in Shanghai; a naive value is taken as Shanghai time already."""
    return at.replace(tzinfo=CST) if at.tzinfo is None else at.astimezone(CST)


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status, headers=dict(headers or {}), media_type="application/json")


def subject_kind(subject: str) -> str | None:
    for words, kind in SUBJECT_KINDS.items():
        if subject.endswith(words):
            return kind
    return None


@dataclass
class Order:
    gateway: str  # wechatpay | alipay | unionpay
    out_trade_no: str
    amount_fen: int
    trade_type: str = "NATIVE"
    state: str = "NOTPAY"  # NOTPAY | SUCCESS | CLOSED
    openid: str | None = None
    txn_time: str = ""
    transaction_id: str = ""
    paid_at: datetime | None = None
    refunded_fen: int = 0


class WorldState:
    """The state the provider mixins read and write (under ``_lock``)."""

    credentials: Credentials
    ids: dict[str, Any]

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self.ids = credentials.ids
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = []
        self._counts: Counter[str] = Counter()
        self._orders: dict[tuple[str, str], Order] = {}
        self._kinds = self._kind_index()

    def _count(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def _accept(
        self,
        channel: str,
        to: str,
        template: str | None,
        params: dict[str, Any],
        text: str | None,
        kind: str | None,
        ref: str | None = None,
    ) -> None:
        message = {
            "channel": channel,
            "to": to,
            "template": template,
            "params": params,
            "text": text,
            "kind": kind,
            "ref": ref,  # the provider's id of the message (Alibaba's BizId)
            "at": datetime.now(UTC),
        }
        with self._lock:
            self._messages.append(message)
            self._counts[channel] += 1

    def _kind_index(self) -> dict[str, str]:
        index = {code: kind for kind, code in self.ids["alibaba"]["template_codes"].items()}
        index |= {
            tid: kind
            for kind, tid in self.ids["wechat"]["template_ids"].items()
            if kind in MESSAGE_TYPES
        }
        return index

    def _order(self, gateway: str, out_trade_no: str, amount_fen: int) -> Order:
        """The order as the gateway knows it (created on the fly when payments did not reach
        the gateway when it was made, e.g. a prepay refused). Call under ``_lock``."""
        key = (gateway, out_trade_no)
        order = self._orders.get(key)
        if order is None:
            order = self._orders[key] = Order(gateway, out_trade_no, amount_fen)
        return order

    def _mark_paid(
        self, gateway: str, out_trade_no: str, amount_fen: int, paid_at: datetime, txn: str
    ) -> Order:
        with self._lock:
            order = self._order(gateway, out_trade_no, amount_fen)
            if order.state != "SUCCESS":
                order.state, order.transaction_id, order.paid_at = "SUCCESS", txn, cst(paid_at)
            return order
