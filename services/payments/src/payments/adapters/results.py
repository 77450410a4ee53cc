"""What gateway clients answer, in payments' terms."""

from __future__ import annotations

from dataclasses import dataclass

from payments.domain.settlement import GatewayReport


@dataclass(frozen=True)
class QueryResult:
    """``state`` is the gateway's word (SUCCESS, NOTPAY, USERPAYING, CLOSED...);
    ``report`` is set when the order is paid."""

    state: str
    report: GatewayReport | None


@dataclass(frozen=True)
class CodePayResult:
    """paid | unknown (query, then reverse) | failed (nothing was taken)."""

    state: str
    report: GatewayReport | None
    detail: str = ""
