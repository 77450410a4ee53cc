"""Events billing publishes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from propfee.events.base import Event
from propfee.late_fees import AccrualBasis, LateFeeTerms
from propfee.money import CURRENCY, Currency, Fen, NonNegativeFen


class InvoiceLine(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    fee_item: str = Field(description="Fee item code from the published schedule")
    description: str
    quantity: str = Field(description="Exact decimal quantity, e.g. '98.50' m² or '1'")
    unit_price_fen: Fen
    amount_fen: Fen
    unit_price_exact: str | None = Field(
        default=None, description="The rate with its sub-fen precision, e.g. '285.5'"
    )


class InvoiceIssued(Event):
    """billing issued an invoice to the payer of one unit for one period."""

    producer: ClassVar[str] = "billing"

    invoice_id: str
    community_id: str
    building_id: str
    unit_id: str
    payer_party_id: str
    period_start: date
    period_end: date
    due_date: date
    lines: list[InvoiceLine]
    total_fen: Fen
    currency: Currency = CURRENCY
    issued_at: AwareDatetime
    schedule_version: str | None = None
    room_label: str | None = None
    kind: Literal["regular", "manual", "opening_arrears", "opening_late_fee"] | None = Field(
        default=None,
        description="How it was issued: 'regular' by a billing run, 'manual' one at a time, "
        "'opening_arrears' / 'opening_late_fee' imported from the ledger before Propfee",
    )
    collection: Literal["property", "utilities"] | None = Field(
        default=None,
        description="'utilities': water, power or heating collected on behalf of the supplier "
        "(水电暖代收), billed apart from the property fee; absent means 'property'",
    )
    liable_party_ids: list[str] | None = Field(
        default=None,
        description="Everyone jointly liable for the invoice: the payer and, when a tenant "
        "pays, the owner (absent on invoices issued before this field existed)",
    )
    interest_from: date | None = Field(
        default=None,
        description="The first day that can bear a late fee: the day after max(due_date, issue "
        "date); absent when the invoice bears none (no contract rate, or utilities)",
    )


class InvoiceSettled(Event):
    """billing allocated payments that cover an invoice in full (principal and late fees)."""

    producer: ClassVar[str] = "billing"

    invoice_id: str
    community_id: str
    unit_id: str
    payer_party_id: str
    total_fen: Fen
    paid_fen: NonNegativeFen
    currency: Currency = CURRENCY
    payment_ids: list[str] = Field(default_factory=list)
    settled_at: AwareDatetime
    balance_version: int | None = Field(
        default=None,
        description="The invoice's balance_version at settlement (see "
        "InvoiceBalanceChanged); a later version wins",
    )


PartyKind = Literal["owner", "tenant", "developer", "company"]


class LateFeeBasis(BaseModel):
    """How an invoice's late fee continues after this balance change, so a consumer (a pay
    link) can ask for what is owed on a later day with ``propfee.late_fees.late_fee_on``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    daily_rate: Decimal | None = Field(description="The contract's daily rate (None: no fee)")
    annual_cap: Decimal
    starts_on: date = Field(description="First day bearing interest")
    through: date = Field(description="fen_days are counted up to and including this day")
    fen_days: int = Field(ge=0)
    principal_outstanding_fen: NonNegativeFen
    stops_on: date | None = Field(
        default=None, description="Last day of accrual (a time-barred invoice's expiry)"
    )
    fixed_fen: NonNegativeFen | None = Field(
        default=None, description="The late fee no longer grows (principal paid in full)"
    )

    @classmethod
    def of(cls, basis: AccrualBasis) -> LateFeeBasis:
        """The event form of an accrual basis (billing's replay publishes its own)."""
        return cls.model_construct(
            daily_rate=basis.terms.daily_rate,
            annual_cap=basis.terms.annual_cap,
            starts_on=basis.starts_on,
            through=basis.through,
            fen_days=basis.fen_days,
            principal_outstanding_fen=basis.principal_outstanding_fen,
            stops_on=basis.stops_on,
            fixed_fen=basis.fixed_fen,
        )

    def accrual(self) -> AccrualBasis:
        """What a consumer hands to ``propfee.late_fees.late_fee_on`` (payments' pay links)."""
        return AccrualBasis(
            terms=LateFeeTerms(self.daily_rate, self.annual_cap),
            starts_on=self.starts_on,
            through=self.through,
            fen_days=self.fen_days,
            principal_outstanding_fen=self.principal_outstanding_fen,
            stops_on=self.stops_on,
            fixed_fen=self.fixed_fen,
        )


class CommunityUpdated(Event):
    """billing registered or changed a community: what notifier needs to address its people
    (time zone for quiet hours, the company's letterhead and service line)."""

    producer: ClassVar[str] = "billing"

    community_id: str
    company_id: str
    company_name: str
    name: str
    city: str
    time_zone: str = "Asia/Shanghai"
    service_phone: str | None = None
    complaint_line: str | None = None
    address: str | None = None
    #: Days staff of the company may back-date a record (None: the default, 7).
    backdate_days: int | None = None
    late_fee_daily_rate: Decimal | None = Field(
        default=None, description="The service contract's late-fee daily rate (None: no fee)"
    )
    late_fee_annual_cap: Decimal | None = None
    advance_cap_months: int | None = Field(
        default=None, description="How many months ahead fees may be collected (default 12)"
    )
    contract_end: date | None = None
    updated_at: AwareDatetime


class PartyContactsUpdated(Event):
    """billing registered or changed a party's contact data and channel preferences.

    Carries personal data: the topic is readable only by notifier, dunning (which keeps the
    kind, name and postal address for the evidence bundle's debtor, nothing else) and staff
    systems, and consumers never log these fields unmasked."""

    producer: ClassVar[str] = "billing"

    party_id: str
    community_id: str
    kind: PartyKind
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    wechat_openid: str | None = None
    app_user_id: str | None = None
    postal_address: str | None = None
    allowed_channels: list[str] = Field(
        default_factory=list, description="Empty means every channel is allowed"
    )
    preferred_channels: list[str] = Field(default_factory=list)
    do_not_contact: bool = Field(
        default=False, description="No non-essential messages; bills and demands still go"
    )
    locale: str = "zh-CN"
    updated_at: AwareDatetime


InvoiceStatus = Literal["issued", "partially_paid", "paid", "void", "written_off"]
BalanceChangeReason = Literal[
    "payment", "refund", "void", "waiver", "write_off", "credit", "recompute"
]


class InvoiceBalanceChanged(Event):
    """An invoice's balance or state changed: a payment, refund, void (with a credit note),
    late-fee waiver, write-off or late fee. ``balance_version`` grows with every change of one
    invoice, so a read model keeps the highest version whatever the arrival order."""

    producer: ClassVar[str] = "billing"

    invoice_id: str
    community_id: str
    unit_id: str
    payer_party_id: str
    balance_version: int = Field(ge=1)
    status: InvoiceStatus
    due_date: date
    total_fen: Fen
    principal_paid_fen: NonNegativeFen
    principal_outstanding_fen: NonNegativeFen
    late_fee_fen: NonNegativeFen = Field(description="Late fee accrued as of changed_at")
    late_fee_paid_fen: NonNegativeFen = 0
    late_fee_waived_fen: NonNegativeFen = 0
    currency: Currency = CURRENCY
    reason: BalanceChangeReason
    note: str | None = None
    approved_by: str | None = None
    credit_note_no: str | None = None
    changed_at: AwareDatetime
    late_fee_basis: LateFeeBasis | None = Field(
        default=None, description="How the late fee continues after changed_at"
    )
    time_barred: bool | None = Field(
        default=None,
        description="Past its limitation date (dunning's clock): paid only when named",
    )
    collection: Literal["property", "utilities"] | None = None
    discount_lapsed_fen: NonNegativeFen | None = Field(
        default=None,
        description="A prepayment discount not earned (the period was not paid in full by its "
        "due date): the principal owed is total_fen + discount_lapsed_fen",
    )


class InstallmentPart(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    part_no: int
    due_date: date
    amount_fen: NonNegativeFen


class InstallmentPlanCreated(Event):
    """A household's arrears split into scheduled parts (分期); dunning pauses while parts are
    paid on time and resumes when one is missed."""

    producer: ClassVar[str] = "billing"

    plan_id: str
    community_id: str
    unit_id: str
    payer_party_id: str
    invoice_ids: list[str]
    total_fen: NonNegativeFen
    currency: Currency = CURRENCY
    parts: list[InstallmentPart]
    reason: str
    created_at: AwareDatetime


class LateFeeAssessed(Event):
    """Late fees (违约金) accrued on an overdue invoice as of a date, published by a late-fee
    assessment when the amount changed since the last one. Only where the contract sets a rate."""

    producer: ClassVar[str] = "billing"

    invoice_id: str
    community_id: str
    unit_id: str
    payer_party_id: str
    as_of: date
    late_fee_fen: NonNegativeFen = Field(description="Accrued to as_of, before payments")
    late_fee_paid_fen: NonNegativeFen
    late_fee_waived_fen: NonNegativeFen
    late_fee_outstanding_fen: NonNegativeFen
    principal_outstanding_fen: NonNegativeFen
    currency: Currency = CURRENCY
    assessed_at: AwareDatetime
