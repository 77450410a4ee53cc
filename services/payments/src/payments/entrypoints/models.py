"""What payments' HTTP API answers: one pydantic model per answer, money in integer fen
(``*_fen``), instants as aware ``datetime``, days as ``date``. Each carries an example for the
OpenAPI document (and the TypeScript client generated from it)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from payments.domain.pay_links import PayLinkState
from payments.service_layer.statements import OwedToday

OrderChannel = Literal["wechat_pay", "alipay", "unionpay"]
OrderScene = Literal["jsapi", "native", "qr", "wap", "app", "codepay"]
OrderStatus = Literal["pending", "paid", "closed", "expired", "failed"]
#: ``pending_approval``: above the second-approval threshold, waiting for another member of
#: staff (no money moved); ``rejected``: that person said no (nothing refunded).
RefundStatus = Literal[
    "requested", "processing", "succeeded", "failed", "review", "pending_approval", "rejected"
]
ReviewStatus = Literal["open", "resolved"]

_AT = "2026-11-05T10:15:00+08:00"


def _example(**example: Any) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


# -- payments and receipts ----------------------------------------------------------------

_PAYMENT = {
    "payment_id": "pay-6f1c2d1e-0b8a-4c1e-9a52-3f7d2b8e1a10",
    "community_id": "c-lotus",
    "unit_id": "u-9-2-502",
    "payer_party_id": "p-1024",
    "invoice_ids": ["inv-2026-11-u-9-2-502"],
    "amount_fen": 35000,
    "currency": "CNY",
    "channel": "cash",
    "gateway": "counter",
    "gateway_transaction_id": None,
    "out_trade_no": None,
    "paid_at": _AT,
    "received_at": _AT,
    "recorded_at": _AT,
    "receipt_no": "c-lotus-20261105-0007",
    "received_by": "staff-17",
    "order_id": None,
}


class Payment(BaseModel):
    """Money received, from a gateway, the counter or a bank file (personal ids masked for
    roles that do not see contact data)."""

    model_config = _example(**_PAYMENT)

    payment_id: str
    community_id: str
    unit_id: str
    payer_party_id: str
    invoice_ids: list[str]
    amount_fen: int
    currency: Literal["CNY"]
    channel: str = Field(
        description="cash, bank_card, pos, wechat_pay, alipay, unionpay, bank_withholding"
    )
    gateway: str | None
    gateway_transaction_id: str | None
    out_trade_no: str | None
    paid_at: datetime
    received_at: datetime
    recorded_at: datetime
    receipt_no: str | None = Field(description="Counter receipts only")
    received_by: str | None
    order_id: str | None


# -- orders --------------------------------------------------------------------------------

_ORDER = {
    "order_id": "ord-4b3a2c1d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
    "out_trade_no": "PF20261105101500A1B2C3D4",
    "community_id": "c-lotus",
    "unit_id": "u-9-2-502",
    "payer_party_id": "p-1024",
    "invoice_ids": ["inv-2026-11-u-9-2-502"],
    "amount_fen": 35000,
    "currency": "CNY",
    "channel": "wechat_pay",
    "scene": "native",
    "status": "pending",
    "created_at": _AT,
    "expires_at": "2026-11-05T10:45:00+08:00",
    "paid_at": None,
    "payment_id": None,
    "gateway_payload": {"code_url": "weixin://wxpay/bizpayurl?pr=abc123"},
    "closed_at": None,
}


class Order(BaseModel):
    """A payment order: the amount fixed when it was made; a pending order past its expiry
    shows as ``expired``."""

    model_config = _example(**_ORDER)

    order_id: str
    out_trade_no: str
    community_id: str
    unit_id: str
    payer_party_id: str
    invoice_ids: list[str]
    amount_fen: int
    currency: Literal["CNY"]
    channel: OrderChannel
    scene: OrderScene
    status: OrderStatus
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    payment_id: str | None
    gateway_payload: dict[str, Any] | None = Field(
        description="What the gateway answered the prepay (code_url, prepay parameters, ...)"
    )
    closed_at: datetime | None


class OrderCreated(Order):
    """A new order with the gateway's prepay answer, or ``gateway_error`` when the channel is
    not configured in this deployment."""

    model_config = _example(**_ORDER, gateway_error=None)

    gateway_error: str | None = None


class Recorded(BaseModel):
    """What a gateway's paid answer became: a payment, or an exception for finance review."""

    model_config = _example(outcome="payment", record_id=_PAYMENT["payment_id"], duplicate=False)

    outcome: Literal["payment", "exception"]
    record_id: str = Field(description="The payment_id or exception_id")
    duplicate: bool = Field(description="Already recorded before (a notification, a query)")


class OrderQueried(Order):
    """The order after asking its gateway."""

    model_config = _example(**_ORDER, gateway_state="NOTPAY", recorded=None)

    gateway_state: str = Field(description="The gateway's own state word (SUCCESS, NOTPAY ...)")
    recorded: Recorded | None = Field(description="Set when the gateway said paid")


class ExpiredOrder(BaseModel):
    model_config = _example(order_id=_ORDER["order_id"], outcome="expired", gateway_state="CLOSED")

    order_id: str
    outcome: Literal["expired", "paid", "exception", "left_pending"]
    gateway_state: str | None = None
    recorded: Recorded | None = None
    error: str | None = Field(default=None, description="Why the gateway could not be asked")


class ExpiryRun(BaseModel):
    """What one expiry run did, order by order."""

    model_config = _example(
        as_of=_AT,
        expired=1,
        paid=0,
        exception=0,
        left_pending=0,
        orders=[{"order_id": _ORDER["order_id"], "outcome": "expired", "gateway_state": "CLOSED"}],
    )

    as_of: datetime
    expired: int
    paid: int
    exception: int
    left_pending: int
    orders: list[ExpiredOrder]


class CodePayment(BaseModel):
    """A payment-code (付款码) collection at the counter."""

    model_config = _example(
        order_id=_ORDER["order_id"],
        out_trade_no=_ORDER["out_trade_no"],
        status="paid",
        outcome="payment",
        id=_PAYMENT["payment_id"],
    )

    order_id: str
    out_trade_no: str
    status: Literal["paid", "failed", "reversed", "unknown"]
    outcome: Literal["payment", "exception"] | None = Field(
        default=None, description="When paid: what the money became"
    )
    id: str | None = Field(default=None, description="When paid: the payment or exception id")
    detail: str | None = Field(default=None, description="Why it failed, or what to check")


# -- refunds and review cases --------------------------------------------------------------


_REFUND = {
    "refund_id": "ref-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "out_refund_no": "RF20261105101500A1B2C3D4",
    "payment_id": _PAYMENT["payment_id"],
    "amount_fen": 5000,
    "reason": "overpaid",
    "requested_by": "staff-17",
    "status": "succeeded",
    "gateway_refund_id": "ref-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "requested_at": _AT,
    "refunded_at": _AT,
    "failure": None,
}


class Refund(BaseModel):
    model_config = _example(**_REFUND)

    refund_id: str
    out_refund_no: str
    payment_id: str
    amount_fen: int
    reason: str
    requested_by: str
    status: RefundStatus
    gateway_refund_id: str | None
    requested_at: datetime
    refunded_at: datetime | None
    failure: str | None
    #: The second person who approved or rejected a refund above the threshold.
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None


class CommunityRefund(Refund):
    """A refund with its payment's community, unit and channel (a community's list)."""

    model_config = _example(
        **_REFUND,
        community_id="c-lotus",
        unit_id="u-9-2-502",
        channel="cash",
        payment_amount_fen=80000,
    )

    community_id: str
    unit_id: str
    channel: str
    payment_amount_fen: int


class RefundDecisionIn(BaseModel):
    decision: Literal["approve", "reject"]
    note: str | None = Field(default=None, min_length=1, max_length=200)


class RefundRequested(Refund):
    """The refund as recorded, with ``gateway_error`` when the gateway could not be asked
    (the refund stays ``requested``; finance retries at the gateway's console)."""

    model_config = _example(**_REFUND, gateway_error=None)

    gateway_error: str | None = None


class ReviewCase(BaseModel):
    """Money finance reviews (an "exception"): paid for an order payments cannot settle (an
    unknown, expired or already paid order, another amount ...)."""

    model_config = _example(
        exception_id="exc-2f3e4d5c-6b7a-4988-a1b2-c3d4e5f6a7b8",
        gateway="wechatpay",
        channel="wechat_pay",
        transaction_id="4200001234202611050000000001",
        out_trade_no=_ORDER["out_trade_no"],
        order_id=_ORDER["order_id"],
        community_id="c-lotus",
        unit_id="u-9-2-502",
        amount_fen=35000,
        currency="CNY",
        reason="order_expired",
        detail="paid 2 minutes after the order expired",
        paid_at=_AT,
        created_at=_AT,
        status="open",
        resolution=None,
        resolution_note=None,
        resolved_by=None,
        resolved_at=None,
        payment_id=None,
        merchant_id="1900000109",
        company_id="co-lotus",
    )

    exception_id: str
    gateway: str
    channel: str
    transaction_id: str
    out_trade_no: str
    order_id: str | None
    community_id: str | None = Field(description="Unknown when the order is")
    unit_id: str | None
    amount_fen: int
    currency: str
    reason: str
    detail: str
    paid_at: datetime
    created_at: datetime
    status: ReviewStatus
    resolution: Literal["applied", "refunded", "dismissed"] | None
    resolution_note: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    payment_id: str | None = Field(description="The payment an ``applied`` resolution made")
    merchant_id: str
    company_id: str | None = Field(description="The company owning the merchant account")


# -- reconciliation and reports ------------------------------------------------------------


class StatementImported(BaseModel):
    model_config = _example(
        gateway="wechatpay",
        merchant_id="1900000109",
        bill_date="2026-11-04",
        matched=120,
        missing_here=1,
        missing_at_gateway=0,
        amount_mismatch=0,
        fee_fen=2310,
        gateway_payments_fen=4200000,
        gateway_refunds_fen=5000,
    )

    gateway: Literal["wechatpay", "alipay"]
    merchant_id: str
    bill_date: date
    matched: int
    missing_here: int
    missing_at_gateway: int
    amount_mismatch: int
    fee_fen: int
    gateway_payments_fen: int
    gateway_refunds_fen: int


class Discrepancy(BaseModel):
    """A difference between a gateway's statement and what payments recorded."""

    model_config = _example(
        discrepancy_id="dis-1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
        gateway="wechatpay",
        bill_date="2026-11-04",
        kind="payment",
        reference="4200001234202611040000000009",
        result="missing_here",
        gateway_fen=35000,
        recorded_fen=None,
        found_at=_AT,
        status="open",
        note=None,
        resolved_by=None,
        resolved_at=None,
        merchant_id="1900000109",
        company_id="co-lotus",
    )

    discrepancy_id: str
    gateway: str
    bill_date: date
    kind: str
    reference: str
    result: Literal["missing_here", "missing_at_gateway", "amount_mismatch"]
    gateway_fen: int | None
    recorded_fen: int | None
    found_at: datetime
    status: ReviewStatus
    note: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    merchant_id: str
    company_id: str | None


class CloseLine(BaseModel):
    model_config = _example(
        community_id="c-lotus",
        channel="wechat_pay",
        payments=12,
        received_fen=420000,
        refunds=1,
        refunded_fen=5000,
        net_fen=415000,
    )

    community_id: str
    channel: str
    payments: int
    received_fen: int
    refunds: int
    refunded_fen: int
    net_fen: int


class StatementImport(BaseModel):
    model_config = _example(
        gateway="wechatpay",
        bill_date="2026-11-04",
        imported_at=_AT,
        payments_fen=4200000,
        refunds_fen=5000,
        fee_fen=2310,
        matched=120,
        merchant_id="1900000109",
        company_id="co-lotus",
    )

    gateway: str
    bill_date: date
    imported_at: datetime
    payments_fen: int
    refunds_fen: int
    fee_fen: int
    matched: int
    merchant_id: str
    company_id: str | None


class DailyClose(BaseModel):
    """日清日结 of one day; the gateway-level parts are null for callers whose token names
    its communities."""

    model_config = _example(
        day="2026-11-04",
        by_community_and_channel=[CloseLine.model_config["json_schema_extra"]["examples"][0]],  # type: ignore[index]
        statements=[],
        open_exceptions=0,
        open_discrepancies=0,
    )

    day: date
    by_community_and_channel: list[CloseLine]
    statements: list[StatementImport] | None
    open_exceptions: int
    open_discrepancies: int | None


class CashierPayment(BaseModel):
    model_config = _example(
        payment_id="pay-6f1c2d1e-0b8a-4c1e-9a52-3f7d2b8e1a10",
        receipt_no="R-c-lotus-20261104-0007",
        community_id="c-lotus",
        unit_id="u-3a9d",
        channel="cash",
        amount_fen=27580,
        invoice_ids=["inv-2026-10-u-3a9d"],
        paid_at="2026-11-04T09:12:00+08:00",
    )

    payment_id: str
    receipt_no: str | None
    community_id: str
    unit_id: str
    channel: str
    amount_fen: int
    invoice_ids: list[str]
    paid_at: datetime


class CashierChannel(BaseModel):
    model_config = _example(channel="cash", payments=7, received_fen=193060)

    channel: str
    payments: int
    received_fen: int


class CashierDay(BaseModel):
    """日清日结 of one cashier: the counter payments they recorded that day, and the sums per
    channel (what the drawer and the card terminal hold)."""

    model_config = _example(
        day="2026-11-04",
        cashier="clerk-7",
        payments=[CashierPayment.model_config["json_schema_extra"]["examples"][0]],  # type: ignore[index]
        by_channel=[CashierChannel.model_config["json_schema_extra"]["examples"][0]],  # type: ignore[index]
        total_payments=1,
        total_received_fen=27580,
    )

    day: date
    cashier: str
    payments: list[CashierPayment]
    by_channel: list[CashierChannel]
    total_payments: int
    total_received_fen: int


class Figure(BaseModel):
    model_config = _example(count=12, amount_fen=420000)

    count: int
    amount_fen: int


_FIGURES = {
    "payments": {"count": 12, "amount_fen": 420000},
    "refunds": {"count": 1, "amount_fen": 5000},
    "exceptions_open": {"count": 0, "amount_fen": 0},
    "exceptions_resolved": {"count": 1, "amount_fen": 35000},
    "net_fen": 415000,
}


class Figures(BaseModel):
    model_config = _example(**_FIGURES)

    payments: Figure
    refunds: Figure
    exceptions_open: Figure
    exceptions_resolved: Figure
    net_fen: int = Field(description="payments − refunds")


class Totals(Figures):
    """Everything payments holds, overall and by channel (aggregates only)."""

    model_config = _example(
        community_id=None, currency="CNY", **_FIGURES, by_channel={"wechat_pay": _FIGURES}
    )

    community_id: str | None
    currency: Literal["CNY"]
    by_channel: dict[str, Figures]


class FileRowError(BaseModel):
    model_config = _example(line=7, column="amount_fen", reason="not an amount in fen")

    line: int
    column: str
    reason: str


class BankFileImported(BaseModel):
    model_config = _example(recorded=41, already_recorded=0, failed_debits=2, errors=[])

    recorded: int
    already_recorded: int
    failed_debits: int
    errors: list[FileRowError]


# -- owners' QR codes and pay links --------------------------------------------------------


class UnitQrLink(BaseModel):
    model_config = _example(
        unit_id="u-9-2-502",
        token="k3J9xQ2mZp",
        url="https://pay.example.com/qr/k3J9xQ2mZp?sig=4f1c2a",
    )

    unit_id: str
    token: str
    url: str = Field(description="The link to print as the unit's QR code")


_LINE = {
    "invoice_id": "inv-2026-11-u-9-2-502",
    "collection": "property",
    "principal_fen": 35000,
    "late_fee_fen": 105,
    "amount_fen": 35105,
    "time_barred": False,
}
_OWED = {
    "as_of": "2026-11-05",
    "property": {"invoices": [_LINE], "total_fen": 35105},
    "utilities": {"invoices": [], "total_fen": 0},
    "time_barred": {"invoices": [], "total_fen": 0},
    "invoices": [_LINE],
    "total_fen": 35105,
    "currency": "CNY",
}


class QrStatement(OwedToday):
    """What the household owes today, as the scanned code shows it."""

    model_config = _example(**_OWED, unit_id="u-9-2-502")

    unit_id: str


class Household(BaseModel):
    """The household as the owner knows it: never a name, a phone or an internal id."""

    model_config = _example(room_label="9栋2单元502", community_name="荷塘小区")

    room_label: str | None = Field(description="The room as billing labels it (9栋2单元502)")
    community_name: str | None


class PayLinkStatement(BaseModel):
    """What an owner's pay link shows."""

    model_config = _example(
        household={"room_label": "9栋2单元502", "community_name": "荷塘小区"},
        owed=_OWED,
        total_fen=35105,
        expires_at="2026-12-05T10:15:00+08:00",
    )

    household: Household
    owed: OwedToday = Field(description="What paying takes today, invoice by invoice")
    total_fen: int = Field(description="What the household owes today (property and utilities)")
    expires_at: datetime = Field(description="The link opens until this instant")


class PayLinkView(BaseModel):
    model_config = _example(
        token="Ab3dE5gH7",
        unit_id="u-9-2-502",
        occasion="reminder",
        issued_at=_AT,
        expires_at="2026-12-05T10:15:00+08:00",
        state="active",
        revoked_at=None,
        revoked_by=None,
        revoke_reason=None,
    )

    token: str
    unit_id: str
    occasion: str
    issued_at: datetime
    expires_at: datetime
    state: PayLinkState
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None
