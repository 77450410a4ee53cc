"""Payments' errors: ``propfee.problems`` subclasses, each carrying its HTTP status and mapped
once, in the app factory (``propfee.problems.install``), to RFC 9457 problem details.

The domain's own (``OrderError``, ``RefundError``, ``UnknownPayLink``, ``PayLinkGone``) live
beside their rules and are re-exported here, so that this module lists them all. The
gateways' webhooks never answer these: each gateway expects its own answer
(``entrypoints.http_webhooks``).

======================================  ======  ===========================================
Error                                   Status  When
======================================  ======  ===========================================
``OrderError``                          422     an order's amount or invoices cannot be
                                                fixed (``domain.orders``, ``domain.advance``)
``AmbiguousAccount``                    422     several merchant accounts: name one
``IdempotencyConflict``                 409     an Idempotency-Key reused for another payment
``RefundError``                         409     a refund the payment does not allow
``ResolutionError``                     409     a review case already closed, or incomplete
``NothingOwed``                         409     an owner's link with nothing to pay now
``NotConfigured``                       409     a gateway this deployment has not configured
``UnknownPayLink`` / ``UnknownCode``    404     a forged, malformed or unknown owner link
``PayLinkGone``                         410     an expired or revoked pay link
``TooManyReads`` / ``TooManyOrders``    429     an owner link's rate limit (Retry-After)
``GatewayFailed``                       502     a gateway answered with an error
``GatewayUnreachable``                  503     a gateway could not be reached (Retry-After)
======================================  ======  ===========================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from payments.domain.orders import OrderError
from payments.domain.pay_links import PayLinkGone, UnknownPayLink
from payments.domain.refunds import RefundError
from propfee.problems import (
    Conflict,
    InvalidInput,
    NotFound,
    ProblemError,
    TooManyRequests,
    Unavailable,
)

__all__ = [
    "AmbiguousAccount",
    "GatewayFailed",
    "GatewayFailure",
    "GatewayUnreachable",
    "IdempotencyConflict",
    "NotConfigured",
    "NothingOwed",
    "OrderError",
    "PayLinkGone",
    "RefundError",
    "ResolutionError",
    "TooManyOrders",
    "TooManyReads",
    "UnknownCode",
    "UnknownPayLink",
]


class GatewayFailure(ProblemError):
    """A gateway call that failed (``service_layer.prepay.gateway_failure``): nothing was
    charged. Extension members may name the order it leaves ``failed``."""


class GatewayFailed(GatewayFailure):
    """The gateway answered with an error, a 5xx, or something that does not verify or parse."""

    status = 502
    slug = "gateway-error"


class GatewayUnreachable(GatewayFailure, Unavailable):
    """The gateway could not be reached (refused, reset, timed out): retry in 30 s."""

    status = 503
    slug = "gateway-unreachable"

    def __init__(
        self, detail: str, *, headers: Mapping[str, str] | None = None, **extensions: Any
    ) -> None:
        super().__init__(detail, headers={"Retry-After": "30", **(headers or {})}, **extensions)


class NotConfigured(Conflict):
    """The payment channel is not configured in this deployment."""

    def __init__(self, channel: str) -> None:
        super().__init__(f"{channel} is not configured")


class UnknownCode(NotFound):
    """A printed QR code's token unknown or its signature wrong: one answer for both."""

    def __init__(self) -> None:
        super().__init__("unknown code")


class TooManyOrders(TooManyRequests):
    """Orders from an owner's open link beyond its bucket or the client address's."""

    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(
            f"too many orders from this {what}; try again in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


class TooManyReads(TooManyRequests):
    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many requests from this address; try again in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


class NothingOwed(Conflict):
    """The statement has nothing to pay now (the chosen collection included)."""

    def __init__(self) -> None:
        super().__init__("nothing is owed now")


class IdempotencyConflict(Conflict, ValueError):
    """The same Idempotency-Key was used for a different payment."""


class ResolutionError(Conflict, ValueError):
    """A review case already resolved, or a resolution missing what it needs."""


class AmbiguousAccount(InvalidInput, ValueError):
    """The company has several merchant accounts of the gateway: the request must name one."""
