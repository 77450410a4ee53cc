"""Request bodies of billing's HTTP API (validated by pydantic before anything runs)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from billing.domain.plans import PARTS_LIMITS

# The community's terms (and the id and text types) have one home: the registry.
from billing.service_layer.registry import CommunityIn as CommunityIn
from billing.service_layer.registry import Id as Id
from billing.service_layer.registry import Text as Text
from propfee.validation import IdNumber, Phone, SocialCreditCode, check_sms_reachable

UnitType = Literal["residential", "shop", "office", "parking", "storage"]
Channel = Literal["sms", "wechat", "app_push", "email", "letter", "door_notice"]


class CompanyIn(BaseModel):
    """Company data; only the fields sent change (company-level roles only)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "绿城物业", "credit_code": "91110000600037341L", "backdate_days": 7}
            ]
        }
    )

    name: Text | None = None
    credit_code: SocialCreditCode | None = Field(
        default=None, description="统一社会信用代码 (check character verified)"
    )
    backdate_days: Annotated[int, Field(ge=0, le=31)] | None = Field(
        default=None, description="days staff may back-date a record (default 7)"
    )


class VacancyRuleIn(BaseModel):
    after_months: Annotated[int, Field(gt=0, le=60)]
    payable_share: Annotated[Decimal, Field(ge=Decimal("0.0001"), le=1, decimal_places=4)]


class PartyBody(BaseModel):
    """A party's contact data. ``phone`` is a mainland mobile or landline, stored in national
    form (``13812345678``, ``010-12345678``); a party reached by ``sms`` needs a mobile.
    ``id_number`` (居民身份证号码, check digit verified) is kept for court filings and
    answered masked to every role."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "张三",
                    "phone": "13812345678",
                    "allowed_channels": ["sms", "wechat"],
                    "preferred_channels": ["sms"],
                }
            ]
        }
    )

    name: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=200)
    wechat_openid: str | None = Field(default=None, max_length=128)
    app_user_id: str | None = Field(default=None, max_length=128)
    postal_address: str | None = Field(default=None, max_length=300)
    allowed_channels: list[Channel] = []
    preferred_channels: list[Channel] = []
    do_not_contact: bool = False
    # After the channels: its check reads them (SMS reaches mobiles only).
    phone: Phone | None = None
    id_number: IdNumber | None = None

    @field_validator("phone")
    @classmethod
    def _sms_needs_a_mobile(cls, phone: str | None, info: ValidationInfo) -> str | None:
        channels = [
            *info.data.get("allowed_channels", ()),
            *info.data.get("preferred_channels", ()),
        ]
        check_sms_reachable(phone, channels)
        return phone


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

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "unit_id": "u-9-2-502",
                    "sale_id": "sale-1",
                    "sold_on": "2026-06-15",
                    "sold_at": "2026-06-15T10:00:00+08:00",
                    "buyer_party_id": "p-buyer",
                    "seller_party_ids": ["p-seller"],
                    "arrears_to_settle_fen": 36412,
                    "arrears": [
                        {
                            "invoice_id": "inv-2026-05",
                            "payer_party_id": "p-seller",
                            "collection": "property",
                            "period_start": "2026-05-01",
                            "period_end": "2026-05-31",
                            "due_date": "2026-05-31",
                            "total_fen": 36370,
                            "principal_outstanding_fen": 36370,
                            "late_fee_fen": 42,
                            "owed_fen": 36412,
                        }
                    ],
                    "seller_credit": "refund",
                    "seller_credit_fen": 0,
                }
            ]
        }
    )

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

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "receipt_no": "R2026110300042",
                    "company_name": "示例物业服务有限公司",
                    "community_name": "阳光花园",
                    "room": "9栋2单元502",
                    "paid_on": "2026-11-03",
                    "amount_fen": 32300,
                    "amount_yuan": "323.00",
                    "refunded_fen": 0,
                }
            ]
        }
    )

    receipt_no: str
    company_name: str
    community_name: str
    room: str = Field(description="As people write it: 9栋2单元502")
    paid_on: date
    amount_fen: int
    amount_yuan: str
    refunded_fen: int = Field(description="Refunded since: a refunded receipt proves less")


# --- Answers of the registry (communities, companies, units, parties, ledger imports) ------

#: A decimal quantity (an area, a rate, a share): answered as a decimal string ("89.50"), as it
#: always was, so no digit is lost to binary floating point.
Number = Decimal
PartyKind = Literal["owner", "tenant", "developer", "company"]


class CommunityOut(BaseModel):
    """A community, its contract terms, its company's name and back-dating window."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "community_id": "c-sunny",
                    "company_id": "co-1",
                    "company_name": "示例物业服务有限公司",
                    "backdate_days": 7,
                    "name": "阳光花园",
                    "city": "杭州",
                    "time_zone": "Asia/Shanghai",
                    "contract_mode": "flat_fee",
                    "contract_end": None,
                    "late_fee_daily_rate": "0.0001",
                    "late_fee_annual_cap": "0.036",
                    "allocation_order": "owner_friendly",
                    "prepay_quarterly": "0.05",
                    "prepay_half_yearly": "0.08",
                    "prepay_yearly": "0.12",
                    "advance_cap_months": 12,
                    "installment_min_parts": 3,
                    "installment_max_parts": 6,
                    "utilities_late_fee": False,
                    "service_phone": "0571-88886666",
                    "complaint_line": "0571-12345",
                    "address": "杭州市西湖区示例路1号",
                    "units": 1236,
                    "created_at": "2026-01-05T02:00:00Z",
                    "updated_at": "2026-01-05T02:00:00Z",
                }
            ]
        }
    )

    community_id: str
    company_id: str
    company_name: str
    backdate_days: int
    name: str
    city: str
    time_zone: str
    contract_mode: Literal["flat_fee", "cost_plus"]
    contract_end: date | None
    late_fee_daily_rate: Number | None
    late_fee_annual_cap: Number
    allocation_order: Literal["owner_friendly", "civil_code_561"]
    prepay_quarterly: Number
    prepay_half_yearly: Number
    prepay_yearly: Number
    advance_cap_months: int
    installment_min_parts: int
    installment_max_parts: int
    utilities_late_fee: bool
    service_phone: str | None
    complaint_line: str | None
    address: str | None
    units: int = Field(description="units registered in the community")
    created_at: datetime
    updated_at: datetime


class CompanyVacancyRuleItem(BaseModel):
    city: str
    after_months: int
    payable_share: Number
    updated_at: datetime


class CompanyOut(BaseModel):
    """The company, its back-dating window, its credit code and its vacancy rules."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "company_id": "co-1",
                    "name": "示例物业服务有限公司",
                    "credit_code": "91110000600037341L",
                    "backdate_days": 7,
                    "created_at": "2026-01-05T02:00:00Z",
                    "updated_at": "2026-01-05T02:00:00Z",
                    "vacancy_rules": [
                        {
                            "city": "杭州",
                            "after_months": 6,
                            "payable_share": "0.7",
                            "updated_at": "2026-01-05T02:00:00Z",
                        }
                    ],
                }
            ]
        }
    )

    company_id: str
    name: str
    credit_code: str | None
    backdate_days: int
    created_at: datetime
    updated_at: datetime
    vacancy_rules: list[CompanyVacancyRuleItem]


class CompanyVacancyRuleOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"company_id": "co-1", "city": "杭州", "after_months": 6, "payable_share": "0.7"}
            ]
        }
    )

    company_id: str
    city: str
    after_months: int
    payable_share: Number


class CommunityVacancyRuleOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"community_id": "c-sunny", "after_months": 6, "payable_share": "0.7"}]
        }
    )

    community_id: str
    after_months: int
    payable_share: Number


class CommunityVacancyRuleRemovedOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"community_id": "c-sunny", "removed": True}]}
    )

    community_id: str
    removed: bool = Field(description="false: the community had no rule of its own")


class UnitPartyOut(BaseModel):
    """Who is tied to a unit, over which days; name and phone masked for roles that do not
    need them."""

    party_id: str
    role: Literal["owner", "tenant", "developer"]
    pays: bool
    valid_from: date
    valid_to: date | None
    name: str | None
    phone: str | None


class UnitOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "unit_id": "unit-8f3k2q",
                    "community_id": "c-sunny",
                    "building_id": "bld-1",
                    "entrance": "2单元",
                    "room": "502",
                    "unit_key": "9栋/2单元/502",
                    "reference": "9-2-502",
                    "unit_type": "residential",
                    "floor_area_m2": "89.5",
                    "status": "occupied",
                    "handover_date": "2019-06-30",
                    "credit_fen": 0,
                    "parties": [
                        {
                            "party_id": "pty-1",
                            "role": "owner",
                            "pays": True,
                            "valid_from": "2000-01-01",
                            "valid_to": None,
                            "name": "张*",
                            "phone": "138****5678",
                        }
                    ],
                }
            ]
        }
    )

    unit_id: str
    community_id: str
    building_id: str
    entrance: str | None
    room: str
    unit_key: str
    reference: str | None
    unit_type: UnitType
    floor_area_m2: Number
    status: Literal["occupied", "vacant", "unsold"]
    handover_date: date | None
    credit_fen: int = Field(description="credit on account")
    parties: list[UnitPartyOut]


class UnitListItem(BaseModel):
    """A unit in a community's list: no contact data (read the unit or the party)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "unit_id": "unit-8f3k2q",
                    "unit_key": "9栋/2单元/502",
                    "building_id": "bld-1",
                    "entrance": "2单元",
                    "room": "502",
                    "unit_type": "residential",
                    "floor_area_m2": "89.5",
                    "status": "occupied",
                    "handover_date": "2019-06-30",
                    "payer_party_id": "pty-1",
                }
            ]
        }
    )

    unit_id: str
    unit_key: str
    building_id: str
    entrance: str | None
    room: str
    unit_type: UnitType
    floor_area_m2: Number
    status: Literal["occupied", "vacant", "unsold"]
    handover_date: date | None
    payer_party_id: str | None = Field(description="who pays now")


class HandoverOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"unit_id": "unit-8f3k2q", "owner_party_id": "pty-9"}]}
    )

    unit_id: str
    owner_party_id: str


class VacancyOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"unit_id": "unit-8f3k2q", "registered_on": "2026-03-01", "ended_on": None}
            ]
        }
    )

    unit_id: str
    registered_on: date
    ended_on: date | None


class PartyOut(BaseModel):
    """A party; contact data masked for roles that do not need it, ``id_number`` for all."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "party_id": "pty-1",
                    "community_id": "c-sunny",
                    "kind": "owner",
                    "name": "张*",
                    "phone": "138****5678",
                    "email": None,
                    "wechat_openid": None,
                    "app_user_id": None,
                    "postal_address": None,
                    "id_number": None,
                    "allowed_channels": ["sms", "wechat"],
                    "preferred_channels": ["wechat"],
                    "do_not_contact": False,
                    "created_at": "2026-01-05T02:00:00Z",
                    "updated_at": "2026-01-05T02:00:00Z",
                }
            ]
        }
    )

    party_id: str
    community_id: str
    kind: PartyKind
    name: str | None
    phone: str | None
    email: str | None
    wechat_openid: str | None
    app_user_id: str | None
    postal_address: str | None
    id_number: str | None = Field(description="masked for every role")
    allowed_channels: list[str]
    preferred_channels: list[str]
    do_not_contact: bool
    created_at: datetime
    updated_at: datetime


class LedgerRowErrorOut(BaseModel):
    row: int = Field(description="1-based, as the spreadsheet counts; 1 for the whole file")
    column: str = Field(description="the column's header; empty for a whole row")
    reason: str


class LedgerRejectedRowOut(BaseModel):
    """A row with errors as uploaded: its labelled cells by header (names and phones
    masked), to show beside its errors."""

    row: int = Field(description="1-based, as the spreadsheet counts")
    cells: dict[str, str]


class LedgerImportOut(BaseModel):
    """What an import did; ``errors`` lists the rows left out (with ``accept_good_rows``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "total_rows": 1236,
                    "errors": [],
                    "warnings": [],
                    "imported": True,
                    "units_created": 1236,
                    "units_existing": 0,
                    "parties_created": 1237,
                    "arrears_invoices": 310,
                    "arrears_fen": 18_250_000,
                    "columns": {"楼栋": "building", "房号": "room"},
                }
            ]
        }
    )

    total_rows: int
    errors: list[LedgerRowErrorOut]
    warnings: list[str]
    imported: bool
    units_created: int
    units_existing: int
    parties_created: int
    arrears_invoices: int
    arrears_fen: int
    columns: dict[str, str] = Field(description="each header of the file, and what it was read as")
    rejected_rows: list[LedgerRejectedRowOut] = Field(
        default_factory=list,
        description="the rows with errors as uploaded (also in a refusal's problem body)",
    )


class MoneyReportOut(BaseModel):
    """Where every fen received went: payments − refunds = allocated + credit on account."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "payments": 12,
                    "payments_fen": 1_250_000,
                    "refunds_fen": 10_000,
                    "allocated_fen": 1_200_000,
                    "credit_fen": 40_000,
                    "balanced": True,
                    "currency": "CNY",
                }
            ]
        }
    )

    payments: int
    payments_fen: int
    refunds_fen: int
    allocated_fen: int
    credit_fen: int
    balanced: bool
    currency: Literal["CNY"]


class ContactOut(BaseModel):
    """A current owner or tenant of a unit with their contact data, unmasked."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "unit_key": "9栋/2单元/502",
                    "role": "owner",
                    "pays": True,
                    "party_id": "pty-1",
                    "name": "张三",
                    "phone": "13812345678",
                    "email": None,
                    "postal_address": None,
                    "do_not_contact": False,
                }
            ]
        }
    )

    unit_key: str
    role: Literal["owner", "tenant"]
    pays: bool
    party_id: str
    name: str | None
    phone: str | None
    email: str | None
    postal_address: str | None
    do_not_contact: bool
