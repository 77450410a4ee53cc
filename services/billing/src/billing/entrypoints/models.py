"""Request bodies of billing's HTTP API (validated by pydantic before anything runs)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from billing.domain.plans import PARTS_LIMITS

# The community's terms (and the id and text types) have one home: the registry.
from billing.service_layer.registry import CommunityIn as CommunityIn
from billing.service_layer.registry import Id as Id
from billing.service_layer.registry import Text as Text

UnitType = Literal["residential", "shop", "office", "parking", "storage"]
Channel = Literal["sms", "wechat", "app_push", "email", "letter", "door_notice"]


class CompanyIn(BaseModel):
    """Company data; only the fields sent change (company-level roles only)."""

    name: Text | None = None
    backdate_days: Annotated[int, Field(ge=0, le=31)] | None = Field(
        default=None, description="days staff may back-date a record (default 7)"
    )


class VacancyRuleIn(BaseModel):
    after_months: Annotated[int, Field(gt=0, le=60)]
    payable_share: Annotated[Decimal, Field(ge=Decimal("0.0001"), le=1, decimal_places=4)]


class PartyBody(BaseModel):
    name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=200)
    wechat_openid: str | None = Field(default=None, max_length=128)
    app_user_id: str | None = Field(default=None, max_length=128)
    postal_address: str | None = Field(default=None, max_length=300)
    allowed_channels: list[Channel] = []
    preferred_channels: list[Channel] = []
    do_not_contact: bool = False


class PartyIn(PartyBody):
    community_id: Id
    kind: Literal["owner", "tenant", "developer", "company"]


def _no_client_id(data: object, field: str) -> object:
    """Ids of units and invoices are billing's (random): a client id would tell whether it
    exists in another company. Refused with the way out rather than silently ignored."""
    if isinstance(data, dict) and field in data:
        raise ValueError(f"{field}: ids are assigned by billing; send your own as reference")
    return data


class UnitIn(BaseModel):
    #: The client's own identifier of the unit, unique within the community; the unit's id
    #: is the server's (random).
    reference: Id | None = None
    community_id: Id
    building: Text
    entrance: str | None = Field(default=None, max_length=50)
    room: Annotated[str, Field(min_length=1, max_length=50)]
    unit_type: UnitType = "residential"
    floor_area_m2: Decimal = Field(max_digits=10, decimal_places=2)
    status: Literal["occupied", "vacant", "unsold"] = "occupied"
    handover_date: date | None = None
    owner: PartyBody | None = None
    tenant: PartyBody | None = None
    payer: Literal["owner", "tenant", "developer"] = "owner"
    parking_spaces: list[Annotated[str, Field(min_length=1, max_length=32)]] = []

    @model_validator(mode="before")
    @classmethod
    def _unit_id(cls, data: object) -> object:
        return _no_client_id(data, "unit_id")


class HandoverIn(BaseModel):
    handover_date: date
    owner: PartyBody


class SaleIn(BaseModel):
    sold_on: date
    buyer: PartyBody
    seller_credit: Literal["refund", "transfer"] = Field(
        description="What becomes of the seller's credit on account: refunded to the seller, "
        "or transferred to the buyer. Always required: an explicit choice, even when the "
        "seller has no credit today (a payment may still arrive)."
    )


class SaleArrearOut(BaseModel):
    invoice_id: str
    payer_party_id: str
    collection: Literal["property", "utilities"]
    period_start: date
    period_end: date
    due_date: date
    total_fen: int
    principal_outstanding_fen: int
    late_fee_fen: int = Field(description="accrued up to and including the sale date")
    owed_fen: int


class SaleOut(BaseModel):
    """What the sale settles: the seller's arrears as of the sale date, late fees included,
    and the seller's credit with its treatment."""

    unit_id: str
    sale_id: str
    sold_on: date
    sold_at: AwareDatetime = Field(description="from this instant, money is the buyer's")
    buyer_party_id: str
    seller_party_ids: list[str]
    arrears_to_settle_fen: int
    arrears: list[SaleArrearOut]
    seller_credit: Literal["refund", "transfer"]
    seller_credit_fen: int


class VacancyIn(BaseModel):
    registered_on: date
    ended_on: date | None = None


class FeeItemIn(BaseModel):
    code: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")]
    name: Text
    kind: Literal["area", "fixed", "parking", "metered", "shared_meter", "one_off"]
    rate_fen: Decimal = Field(description="fen per m² per month, per month, or per unit used")
    unit_type: UnitType | Literal["*"] = "*"
    #: Utilities collected on behalf of a supplier (水电暖代收): billed on their own invoice
    #: at the supplier's tariff, which the item then carries with its source.
    pass_through: bool = False
    supplier_tariff_fen: Decimal | None = Field(
        default=None,
        description="pass-through items: the supplier's tariff, in the unit of rate_fen; "
        "rate_fen may not exceed it (no surcharge)",
    )
    tariff_source: str = Field(
        default="",
        max_length=200,
        description="pass-through items: where the supplier's tariff is published",
    )


class ScheduleVersionIn(BaseModel):
    """A version as it was published: a schedule the community had before Propfee."""

    published_on: date
    effective_from: date
    approval_ref: Text
    pricing_type: Text
    service_level: str = ""
    legal_basis: str = ""
    complaint_line: str = ""
    items: Annotated[list[FeeItemIn], Field(min_length=1, max_length=200)]


class ScheduleIn(ScheduleVersionIn):
    #: The day the version is recorded: today in the community's time zone (the default; any
    #: other day is refused, 422). The service role on the simulation clock sends its day.
    published_on: date | None = None  # type: ignore[assignment]


class ScheduleImportIn(BaseModel):
    """The schedules a community had before it came to Propfee, oldest first, with their
    original dates; ``approval_ref`` is the company's approval of the import."""

    approval_ref: Text
    versions: Annotated[list[ScheduleVersionIn], Field(min_length=1, max_length=50)]


class ReadingIn(BaseModel):
    unit_id: Id
    item_code: str
    period_month: date
    previous: Decimal
    current: Decimal


class SharedReadingIn(BaseModel):
    building_id: str = "*"
    item_code: str
    period_month: date
    quantity: Annotated[Decimal, Field(ge=0)]


class ChargeIn(BaseModel):
    item_code: str
    quantity: Annotated[Decimal, Field(gt=0)]
    description: str = ""
    period_month: date


class RunIn(BaseModel):
    period_start: date
    cycle: Literal["monthly", "quarterly", "half_yearly", "yearly"] = "monthly"
    #: The day the run is issued; staff run as of today only (the default), the service
    #: role as of any day (the simulation clock).
    as_of: date | None = None


class AssessIn(BaseModel):
    #: As of today for staff (the default); any day for the service role.
    as_of: date | None = None


class LineIn(BaseModel):
    fee_item: Annotated[str, Field(min_length=1, max_length=64)]
    quantity: Annotated[Decimal, Field(gt=0)]
    description: str | None = None


class InvoiceIn(BaseModel):
    #: The client's own identifier, unique within the community: sending it again for the
    #: same unit finds the invoice instead of issuing another. The invoice's id is the
    #: server's (random).
    reference: Id | None = None
    unit_id: Id
    period_start: date
    period_end: date
    due_date: date
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=100)]
    issued_at: AwareDatetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _invoice_id(cls, data: object) -> object:
        return _no_client_id(data, "invoice_id")


class VoidIn(BaseModel):
    reason: Text
    at: AwareDatetime | None = None


class WaiverIn(BaseModel):
    amount_fen: Annotated[int, Field(strict=True, gt=0)]
    reason: Text
    approved_by: Text
    at: AwareDatetime | None = None


class WriteOffIn(BaseModel):
    reason: Text
    approved_by: Text
    at: AwareDatetime | None = None


class PlanIn(BaseModel):
    invoice_ids: Annotated[list[Id], Field(min_length=1)]
    #: Within the community's range (3-6 unless it set its own within 2-12): 422 otherwise.
    parts: Annotated[int, Field(ge=PARTS_LIMITS[0], le=PARTS_LIMITS[1])]
    first_due: date
    reason: Text
    at: AwareDatetime | None = None


class EInvoiceIn(BaseModel):
    title: Text
    tax_id: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=200)
    at: AwareDatetime | None = None


class ReceiptVerificationOut(BaseModel):
    """What a receipt's verification code answers to anyone: enough to compare with the
    paper (number, issuer, room, day, amount), never the payer's name."""

    receipt_no: str
    company_name: str
    community_name: str
    room: str = Field(description="As people write it: 9栋2单元502")
    paid_on: date
    amount_fen: int
    amount_yuan: str
    refunded_fen: int = Field(description="Refunded since: a refunded receipt proves less")
