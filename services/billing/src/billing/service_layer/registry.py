"""The registry: companies, communities, buildings, units, parties and who pays each unit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import asyncpg
from pydantic import BaseModel, Field, model_validator

from billing.domain.handover import initial_ties, new_payer_from, old_payer_until
from billing.domain.plans import DEFAULT_PARTS, PARTS_LIMITS
from billing.errors import Conflict as Conflict
from billing.errors import NotFound as NotFound
from billing.errors import RegistryError as RegistryError
from billing.service_layer.accounts import (
    ChangeContext,
    load_account,
    lock_units,
    recompute_account,
)
from billing.service_layer.ids import new_id, stable_id
from billing.service_layer.statements import party_arrears
from propfee.events import CommunityUpdated, PartyContactsUpdated
from propfee.late_fees import DEFAULT_ANNUAL_CAP
from propfee.outbox import add_event
from propfee.validation import TimeZone

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Text = Annotated[str, Field(min_length=1, max_length=200)]


class CommunityIn(BaseModel):
    """A community's contract terms, validated once (the HTTP body of ``PUT
    /communities/{id}`` is this model): the one home of their defaults."""

    company_id: Id
    #: Needed when the company is new; a different name renames the company, which only a
    #: company-level role may do (omit it, or send the stored one, otherwise).
    company_name: Text | None = None
    name: Text
    city: Text
    time_zone: TimeZone = "Asia/Shanghai"
    contract_mode: Literal["flat_fee", "cost_plus"] = "flat_fee"
    contract_end: date | None = None
    late_fee_daily_rate: Annotated[Decimal, Field(ge=0, lt=1)] | None = None
    late_fee_annual_cap: Annotated[Decimal, Field(ge=0, lt=1)] = DEFAULT_ANNUAL_CAP
    allocation_order: Literal["owner_friendly", "civil_code_561"] = "owner_friendly"
    prepay_quarterly: Annotated[Decimal, Field(ge=0, lt=1)] = Decimal("0.05")
    prepay_half_yearly: Annotated[Decimal, Field(ge=0, lt=1)] = Decimal("0.08")
    prepay_yearly: Annotated[Decimal, Field(ge=0, lt=1)] = Decimal("0.12")
    #: Advance collection (预收) is capped: runs and manual invoices bill no period ending
    #: later than this many months ahead of the day of recording, nor past ``contract_end``.
    advance_cap_months: Annotated[int, Field(ge=0, le=36)] = 12
    #: Installment plans have this many parts at least and at most (within 2-12).
    installment_min_parts: Annotated[int, Field(ge=PARTS_LIMITS[0], le=PARTS_LIMITS[1])] = (
        DEFAULT_PARTS[0]
    )
    installment_max_parts: Annotated[int, Field(ge=PARTS_LIMITS[0], le=PARTS_LIMITS[1])] = (
        DEFAULT_PARTS[1]
    )
    #: Utilities collected on behalf of suppliers bear a late fee only when the service
    #: contract names one for them (then at the community's rate).
    utilities_late_fee: bool = False
    service_phone: str | None = None
    complaint_line: str | None = None
    address: str | None = None

    @model_validator(mode="after")
    def _parts_range(self) -> CommunityIn:
        if self.installment_min_parts > self.installment_max_parts:
            raise ValueError(
                f"installment_min_parts: {self.installment_min_parts} is more than "
                f"installment_max_parts {self.installment_max_parts}"
            )
        return self


async def upsert_company(conn: asyncpg.Connection, company_id: str, name: str | None) -> bool:
    """Create the company, or rename it; True when its name changed (not when created).
    ``name`` None keeps the stored name. Who may rename a company is the caller's concern (a
    company-level role)."""
    before = await conn.fetchval(
        "SELECT name FROM companies WHERE company_id = $1 FOR UPDATE", company_id
    )
    if before is None and name is None:
        raise RegistryError(f"company_name: required for a new company ({company_id})")
    if name is None:
        return False
    if before is None:
        await conn.execute(
            "INSERT INTO companies (company_id, name) VALUES ($1, $2)", company_id, name
        )
        return False
    if before == name:
        return False
    await conn.execute(
        "UPDATE companies SET name = $2, updated_at = now() WHERE company_id = $1",
        company_id,
        name,
    )
    return True


async def upsert_community(
    conn: asyncpg.Connection, community_id: str, c: CommunityIn, at: datetime
) -> None:
    """Create or change the community (its company must exist or is created with
    ``company_name``); publishes CommunityUpdated, and for every other community of the
    company too when the company's name changed."""
    renamed = await upsert_company(conn, c.company_id, c.company_name)
    await conn.execute(
        """
        INSERT INTO communities (community_id, company_id, name, city, time_zone, contract_mode,
            contract_end, late_fee_daily_rate, late_fee_annual_cap, allocation_order,
            prepay_quarterly, prepay_half_yearly, prepay_yearly, advance_cap_months,
            service_phone, complaint_line, address, installment_min_parts, installment_max_parts,
            utilities_late_fee)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
            $18, $19, $20)
        ON CONFLICT (community_id) DO UPDATE SET company_id = EXCLUDED.company_id,
            name = EXCLUDED.name, city = EXCLUDED.city, time_zone = EXCLUDED.time_zone,
            contract_mode = EXCLUDED.contract_mode, contract_end = EXCLUDED.contract_end,
            late_fee_daily_rate = EXCLUDED.late_fee_daily_rate,
            late_fee_annual_cap = EXCLUDED.late_fee_annual_cap,
            allocation_order = EXCLUDED.allocation_order,
            prepay_quarterly = EXCLUDED.prepay_quarterly,
            prepay_half_yearly = EXCLUDED.prepay_half_yearly,
            prepay_yearly = EXCLUDED.prepay_yearly,
            advance_cap_months = EXCLUDED.advance_cap_months,
            service_phone = EXCLUDED.service_phone, complaint_line = EXCLUDED.complaint_line,
            address = EXCLUDED.address,
            installment_min_parts = EXCLUDED.installment_min_parts,
            installment_max_parts = EXCLUDED.installment_max_parts,
            utilities_late_fee = EXCLUDED.utilities_late_fee, updated_at = now()
        """,
        community_id,
        c.company_id,
        c.name,
        c.city,
        c.time_zone,
        c.contract_mode,
        c.contract_end,
        c.late_fee_daily_rate,
        c.late_fee_annual_cap,
        c.allocation_order,
        c.prepay_quarterly,
        c.prepay_half_yearly,
        c.prepay_yearly,
        c.advance_cap_months,
        c.service_phone,
        c.complaint_line,
        c.address,
        c.installment_min_parts,
        c.installment_max_parts,
        c.utilities_late_fee,
    )
    if renamed:
        await publish_communities(conn, at, company_id=c.company_id)
    else:
        await publish_communities(conn, at, community_id=community_id)


async def publish_communities(
    conn: asyncpg.Connection,
    at: datetime,
    *,
    company_id: str | None = None,
    community_id: str | None = None,
) -> int:
    """CommunityUpdated for one community, or every community of a company, as stored (with
    the company's name and back-dating window). Returns how many were published."""
    rows = await conn.fetch(
        "SELECT c.*, co.name AS company_name, co.backdate_days FROM communities c "
        "JOIN companies co USING (company_id) "
        "WHERE ($1::text IS NULL OR c.company_id = $1) "
        "AND ($2::text IS NULL OR c.community_id = $2) ORDER BY c.community_id",
        company_id,
        community_id,
    )
    for row in rows:
        event = CommunityUpdated(
            community_id=row["community_id"],
            company_id=row["company_id"],
            company_name=row["company_name"],
            name=row["name"],
            city=row["city"],
            time_zone=row["time_zone"],
            service_phone=row["service_phone"],
            complaint_line=row["complaint_line"],
            address=row["address"],
            backdate_days=row["backdate_days"],
            # The contract terms other services apply (payments: the advance-collection cap on
            # on-account prepayments, the late fee a pay link asks for).
            late_fee_daily_rate=row["late_fee_daily_rate"],
            late_fee_annual_cap=row["late_fee_annual_cap"],
            advance_cap_months=row["advance_cap_months"],
            contract_end=row["contract_end"],
            updated_at=at,
        )
        await add_event(conn, event, key=row["community_id"], subject=row["community_id"], time=at)
    return len(rows)


async def set_backdate_days(conn: asyncpg.Connection, company_id: str, days: int) -> int | None:
    """Set the company's back-dating window; the caller publishes it (``publish_communities``).
    Returns the window before (None when the company does not exist)."""
    before: int | None = await conn.fetchval(
        "SELECT backdate_days FROM companies WHERE company_id = $1 FOR UPDATE", company_id
    )
    if before is None or before == days:
        return before
    await conn.execute(
        "UPDATE companies SET backdate_days = $2, updated_at = now() WHERE company_id = $1",
        company_id,
        days,
    )
    return before


async def ensure_building(conn: asyncpg.Connection, community_id: str, name: str) -> str:
    building_id = stable_id("bld", community_id, name)
    await conn.execute(
        "INSERT INTO buildings (building_id, community_id, name) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING",
        building_id,
        community_id,
        name,
    )
    return building_id


@dataclass(frozen=True)
class PartyIn:
    community_id: str
    kind: str
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    wechat_openid: str | None = None
    app_user_id: str | None = None
    postal_address: str | None = None
    allowed_channels: tuple[str, ...] = ()
    preferred_channels: tuple[str, ...] = ()
    do_not_contact: bool = False
    party_id: str | None = None
    #: 居民身份证号码 (for court filings): never in events or logs.
    id_number: str | None = None

    def resolved_id(self, *natural_key: object) -> str:
        return self.party_id or stable_id("pty", self.community_id, self.kind, *natural_key)


async def upsert_party(
    conn: asyncpg.Connection, party: PartyIn, party_id: str, at: datetime
) -> bool:
    """Insert or update a party; publish its contacts when anything changed. True if changed."""
    row = await conn.fetchrow(
        """
        INSERT INTO parties AS p (party_id, community_id, kind, name, phone, email, wechat_openid,
            app_user_id, postal_address, allowed_channels, preferred_channels, do_not_contact,
            id_number)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        ON CONFLICT (party_id) DO UPDATE SET name = EXCLUDED.name, phone = EXCLUDED.phone,
            email = EXCLUDED.email, wechat_openid = EXCLUDED.wechat_openid,
            app_user_id = EXCLUDED.app_user_id, postal_address = EXCLUDED.postal_address,
            allowed_channels = EXCLUDED.allowed_channels,
            preferred_channels = EXCLUDED.preferred_channels,
            do_not_contact = EXCLUDED.do_not_contact, id_number = EXCLUDED.id_number,
            updated_at = now()
        WHERE (p.name, p.phone, p.email, p.wechat_openid, p.app_user_id, p.postal_address,
               p.allowed_channels, p.preferred_channels, p.do_not_contact, p.id_number)
              IS DISTINCT FROM
              (EXCLUDED.name, EXCLUDED.phone, EXCLUDED.email, EXCLUDED.wechat_openid,
               EXCLUDED.app_user_id, EXCLUDED.postal_address, EXCLUDED.allowed_channels,
               EXCLUDED.preferred_channels, EXCLUDED.do_not_contact, EXCLUDED.id_number)
        RETURNING party_id
        """,
        party_id,
        party.community_id,
        party.kind,
        party.name,
        party.phone,
        party.email,
        party.wechat_openid,
        party.app_user_id,
        party.postal_address,
        list(party.allowed_channels),
        list(party.preferred_channels),
        party.do_not_contact,
        party.id_number,
    )
    if row is None:
        return False
    await add_event(
        conn, contacts_event(party, party_id, at), key=party_id, subject=party_id, time=at
    )
    return True


#: Kinds of party that are people (matched by phone); the developer and the company are not.
PERSON_KINDS = ("owner", "tenant")


async def match_people(
    conn: asyncpg.Connection, community_id: str, proposed: list[tuple[str, str | None]]
) -> dict[str, str]:
    """Issue 18 rule 12: one person is one party of the community, whatever number of units
    they own or rent. ``proposed`` pairs a new party's id with its phone; the answer maps each
    proposed id to the party it is: the community's oldest owner/tenant party with the same
    verified phone (a normalised mainland mobile, ``billing_person_key`` in migration 0009),
    else the first proposed id of that phone, else itself. Serialised per community so two
    imports never create the same person twice."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('billing.parties:' || $1))", community_id
    )
    rows = await conn.fetch(
        "SELECT x.i, x.k, e.party_id FROM unnest($2::text[], $3::text[]) WITH ORDINALITY "
        "AS p(i, phone, n) CROSS JOIN LATERAL (SELECT p.i, billing_person_key(p.phone) AS k) x "
        "LEFT JOIN LATERAL (SELECT party_id FROM parties e WHERE e.community_id = $1 "
        "AND e.person_key = x.k AND e.kind = ANY($4::text[]) "
        "ORDER BY e.created_at, e.party_id LIMIT 1) e ON true ORDER BY p.n",
        community_id,
        [i for i, _ in proposed],
        [phone for _, phone in proposed],
        list(PERSON_KINDS),
    )
    first: dict[str, str] = {}
    return {
        r["i"]: (r["party_id"] or first.setdefault(r["k"], r["i"])) if r["k"] else r["i"]
        for r in rows
    }


async def person_party(
    conn: asyncpg.Connection, party: PartyIn, proposed_id: str, at: datetime
) -> tuple[str, bool]:
    """The party ``party`` is: an existing one with the same verified phone (left as it is;
    its contacts change through PATCH /parties/{id}), or ``proposed_id`` created or updated.
    True when a party was written."""
    if party.kind in PERSON_KINDS and party.phone:
        party_id = (await match_people(conn, party.community_id, [(proposed_id, party.phone)]))[
            proposed_id
        ]
        if party_id != proposed_id:
            return party_id, False
    return proposed_id, await upsert_party(conn, party, proposed_id, at)


def contacts_event(party: PartyIn, party_id: str, at: datetime) -> PartyContactsUpdated:
    return PartyContactsUpdated(
        party_id=party_id,
        community_id=party.community_id,
        kind=party.kind,
        name=party.name,
        phone=party.phone,
        email=party.email,
        wechat_openid=party.wechat_openid,
        app_user_id=party.app_user_id,
        postal_address=party.postal_address,
        allowed_channels=list(party.allowed_channels),
        preferred_channels=list(party.preferred_channels),
        do_not_contact=party.do_not_contact,
        updated_at=at,
    )


@dataclass(frozen=True)
class UnitIn:
    community_id: str
    building: str
    room: str
    unit_type: str
    floor_area_m2: Decimal
    status: str
    entrance: str | None = None
    handover_date: date | None = None
    owner: PartyIn | None = None
    tenant: PartyIn | None = None
    payer: str = "owner"  # owner | tenant | developer
    #: The client's own identifier of the unit, unique within the community.
    reference: str | None = None

    @property
    def unit_key(self) -> str:
        return f"{self.building}/{self.entrance or '-'}/{self.room}"


def developer_party(community_id: str) -> PartyIn:
    return PartyIn(
        community_id,
        "developer",
        name="开发商",
        party_id=stable_id("pty", community_id, "developer"),
    )


async def register_unit(conn: asyncpg.Connection, unit: UnitIn, at: datetime) -> tuple[str, bool]:
    """Create a unit with its parties; the same unit_key again is found, not duplicated."""
    if unit.floor_area_m2 <= 0:
        raise RegistryError(f"floor_area_m2: must be positive, got {unit.floor_area_m2}")
    if unit.payer == "tenant" and unit.tenant is None:
        raise RegistryError("payer: a tenant pays but no tenant is given")
    if unit.payer == "developer" and unit.status != "unsold":
        raise RegistryError("payer: the developer pays only for unsold units")
    if unit.payer == "owner" and unit.owner is None:
        raise RegistryError("owner: a unit paid by its owner needs the owner")
    community = await conn.fetchval(
        "SELECT community_id FROM communities WHERE community_id = $1", unit.community_id
    )
    if community is None:
        raise NotFound(f"community {unit.community_id} does not exist")
    building_id = await ensure_building(conn, unit.community_id, unit.building)
    unit_id = new_id("unit")
    inserted = await conn.fetchval(
        "INSERT INTO units (unit_id, community_id, building_id, entrance, room, unit_key, "
        "unit_type, floor_area_m2, status, handover_date, reference) VALUES ($1, $2, $3, $4, "
        "$5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING RETURNING true",
        unit_id,
        unit.community_id,
        building_id,
        unit.entrance,
        unit.room,
        unit.unit_key,
        unit.unit_type,
        unit.floor_area_m2,
        unit.status,
        unit.handover_date,
        unit.reference,
    )
    if not inserted:
        # The same room again (a retry, a re-import) is found by its natural key; a
        # reference names one unit of the community (the caller sees that community).
        existing = await conn.fetchrow(
            "SELECT unit_id, reference FROM units WHERE community_id = $1 AND unit_key = $2",
            unit.community_id,
            unit.unit_key,
        )
        if existing is not None and unit.reference in (None, existing["reference"]):
            return existing["unit_id"], False
        if existing is not None:
            raise Conflict(
                f"unit_key: {unit.unit_key} is already registered "
                f"(as unit {existing['unit_id']}, reference {existing['reference']})"
            )
        other = await conn.fetchval(
            "SELECT unit_key FROM units WHERE community_id = $1 AND reference = $2",
            unit.community_id,
            unit.reference,
        )
        raise Conflict(f"reference: {unit.reference} is already used in this community by {other}")
    await _attach_parties(conn, unit_id, unit, at)
    return unit_id, True


async def _attach_parties(
    conn: asyncpg.Connection, unit_id: str, unit: UnitIn, at: datetime
) -> None:
    """Tie the unit's parties as ``billing.domain.handover.initial_ties`` says (the one home
    of who pays from when, shared with the ledger import). A buyer named for an unsold unit
    is registered but tied only at handover."""
    party_of: dict[str, str] = {}
    if unit.owner is not None:
        owner_id = unit.owner.resolved_id(unit.unit_key, "owner", unit.owner.name, unit.owner.phone)
        party_of["owner"], _ = await person_party(conn, unit.owner, owner_id, at)
    if unit.tenant is not None:
        tenant_id = unit.tenant.resolved_id(
            unit.unit_key, "tenant", unit.tenant.name, unit.tenant.phone
        )
        party_of["tenant"], _ = await person_party(conn, unit.tenant, tenant_id, at)
    ties = initial_ties(
        status=unit.status,
        payer=unit.payer,
        handover_date=unit.handover_date,
        has_owner=unit.owner is not None,
        has_tenant=unit.tenant is not None,
    )
    if any(t.role == "developer" for t in ties):
        developer = developer_party(unit.community_id)
        assert developer.party_id is not None
        await upsert_party(conn, developer, developer.party_id, at)
        party_of["developer"] = developer.party_id
    await conn.executemany(
        "INSERT INTO unit_parties (unit_id, party_id, role, pays, valid_from, valid_to) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        [(unit_id, party_of[t.role], t.role, t.pays, t.valid_from, t.valid_to) for t in ties],
    )


async def record_handover(
    conn: asyncpg.Connection, unit_id: str, handover_date: date, owner: PartyIn, at: datetime
) -> str:
    """The developer pays the whole month of handover; the buyer from the next month."""
    unit = await conn.fetchrow(
        "SELECT unit_key, status FROM units WHERE unit_id = $1 FOR UPDATE", unit_id
    )
    if unit is None:
        raise NotFound(f"unit {unit_id} does not exist")
    if unit["status"] != "unsold":
        raise RegistryError(f"unit {unit_id} is not unsold; record a sale instead")
    last_developer_day = old_payer_until(handover_date)
    await conn.execute(
        "UPDATE unit_parties SET valid_to = $2 WHERE unit_id = $1 AND role = 'developer' "
        "AND valid_to IS NULL",
        unit_id,
        last_developer_day,
    )
    owner_id = owner.resolved_id(unit["unit_key"], "owner", owner.name, owner.phone)
    owner_id, _ = await person_party(conn, owner, owner_id, at)
    await conn.execute(
        "INSERT INTO unit_parties (unit_id, party_id, role, pays, valid_from) "
        "VALUES ($1, $2, 'owner', true, $3) ON CONFLICT DO NOTHING",
        unit_id,
        owner_id,
        new_payer_from(handover_date),
    )
    await conn.execute(
        "UPDATE units SET status = 'occupied', handover_date = $2 WHERE unit_id = $1",
        unit_id,
        handover_date,
    )
    return owner_id


SellerCredit = Literal["refund", "transfer"]


@dataclass(frozen=True)
class SaleArrear:
    """One of the seller's invoices still open at the sale, as of the sale date."""

    invoice_id: str
    payer_party_id: str
    collection: str
    period_start: date
    period_end: date
    due_date: date
    total_fen: int
    principal_outstanding_fen: int
    late_fee_fen: int  # accrued up to and including the sale date, less paid and waived

    @property
    def owed_fen(self) -> int:
        return self.principal_outstanding_fen + self.late_fee_fen


@dataclass(frozen=True)
class SaleSettlement:
    """What a sale settles (DOMAIN.md, "Sale"): the seller's arrears with their late fees as of
    the sale date, and the seller's credit with its chosen treatment."""

    sale_id: str
    buyer_party_id: str
    seller_party_ids: tuple[str, ...]
    sold_on: date
    sold_at: datetime
    seller_credit: SellerCredit
    seller_credit_fen: int
    arrears: tuple[SaleArrear, ...]
    created: bool = True  # False: the same sale again, found as recorded

    @property
    def arrears_to_settle_fen(self) -> int:
        return sum(a.owed_fen for a in self.arrears)


async def record_sale(
    conn: asyncpg.Connection,
    unit_id: str,
    sold_on: date,
    buyer: PartyIn,
    seller_credit: SellerCredit,
    at: datetime,
    recorded_by: str | None = None,
) -> SaleSettlement:
    """A change of owner: the seller (the owner, and a tenant whose lease ends with the sale)
    pays through the month of the sale, the buyer from the month after.

    The sale is recorded in ``unit_sales`` with ``sold_at`` = the start of the day after
    ``sold_on`` in the community's time zone: the sale day is the seller's whole (late fees
    run up to and including it), money from then on is the buyer's. The account is replayed in
    this transaction so the replay applies the sale (the buyer's account starts clean; the
    seller's credit is refunded or transferred as ``seller_credit`` says). Returns the seller's
    open invoices with principal and late fee as of the sale date, and the seller's credit.
    The same sale again (same day, same buyer) finds the recorded one; another credit choice
    for it is a conflict."""
    unit = await conn.fetchrow(
        "SELECT u.unit_key, c.time_zone FROM units u JOIN communities c USING (community_id) "
        "WHERE u.unit_id = $1 FOR UPDATE OF u",
        unit_id,
    )
    if unit is None:
        raise NotFound(f"unit {unit_id} does not exist")
    await lock_units(conn, [unit_id])
    proposed_buyer = buyer.resolved_id(unit["unit_key"], "owner", buyer.name, buyer.phone, sold_on)
    # A buyer who already owns or rents in the community is that person (rule 12).
    buyer_id = (await match_people(conn, buyer.community_id, [(proposed_buyer, buyer.phone)]))[
        proposed_buyer
    ]
    sale_id = stable_id("sale", unit_id, sold_on, buyer_id)
    recorded = await conn.fetchrow("SELECT * FROM unit_sales WHERE sale_id = $1", sale_id)
    if recorded is not None and recorded["seller_credit"] != seller_credit:
        raise Conflict(
            f"seller_credit: this sale was recorded with {recorded['seller_credit']!r}; "
            "the choice is not changed afterwards"
        )
    if recorded is not None:
        sellers = tuple(recorded["seller_party_ids"])
        sold_at = recorded["sold_at"]
        credit_fen = recorded["seller_credit_fen"]
    else:
        sellers = tuple(
            r["party_id"]
            for r in await conn.fetch(
                "SELECT DISTINCT party_id FROM unit_parties WHERE unit_id = $1 "
                "AND role IN ('owner', 'tenant') AND valid_from <= $2 "
                "AND (valid_to IS NULL OR valid_to >= $2) ORDER BY party_id",
                unit_id,
                sold_on,
            )
        )
        if not sellers:
            raise RegistryError(
                f"unit {unit_id} has no owner on {sold_on}: an unsold unit is handed over "
                "(POST /units/{unit_id}/handover), not sold"
            )
        sold_at = datetime.combine(
            sold_on + timedelta(days=1), time(0), ZoneInfo(unit["time_zone"])
        ).astimezone(UTC)
    if recorded is None:
        # Everything on account before the sale is the seller's.
        before = await load_account(conn, unit_id)
        credit_fen = before.state.credit_fen if before is not None else 0
        await conn.execute(
            "UPDATE unit_parties SET valid_to = $2 WHERE unit_id = $1 "
            "AND role IN ('owner', 'tenant') AND valid_to IS NULL AND valid_from <= $2",
            unit_id,
            old_payer_until(sold_on),
        )
        if buyer_id == proposed_buyer:
            await upsert_party(conn, buyer, buyer_id, at)
        await conn.execute(
            "INSERT INTO unit_parties (unit_id, party_id, role, pays, valid_from) "
            "VALUES ($1, $2, 'owner', true, $3) ON CONFLICT DO NOTHING",
            unit_id,
            buyer_id,
            new_payer_from(sold_on),
        )
        await conn.execute(
            "INSERT INTO unit_sales (sale_id, unit_id, sold_on, sold_at, seller_party_ids, "
            "buyer_party_id, seller_credit, seller_credit_fen, recorded_at, recorded_by) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            sale_id,
            unit_id,
            sold_on,
            sold_at,
            list(sellers),
            buyer_id,
            seller_credit,
            credit_fen,
            at,
            recorded_by,
        )
        await recompute_account(
            conn, unit_id, at, ChangeContext("recompute", note=f"sale {sale_id}")
        )
    return SaleSettlement(
        sale_id,
        buyer_id,
        sellers,
        sold_on,
        sold_at,
        seller_credit,
        credit_fen,
        await _seller_arrears(conn, unit_id, sellers, sold_on),
        created=recorded is None,
    )


async def _seller_arrears(
    conn: asyncpg.Connection, unit_id: str, sellers: tuple[str, ...], sold_on: date
) -> tuple[SaleArrear, ...]:
    """The sellers' open invoices as the account stood at the end of the sale date, with the
    late fee accrued to that day (``statements.party_arrears``: the replay, one home)."""
    lines = [
        a for a in await party_arrears(conn, unit_id, sellers, sold_on) if a["outstanding_fen"]
    ]
    ends = dict(
        await conn.fetch(
            "SELECT invoice_id, period_end FROM invoices WHERE invoice_id = ANY($1::text[])",
            [a["invoice_id"] for a in lines],
        )
    )
    return tuple(
        SaleArrear(
            a["invoice_id"],
            a["payer_party_id"],
            a["collection"],
            a["period_start"],
            ends[a["invoice_id"]],
            a["due_date"],
            a["total_fen"],
            a["principal_outstanding_fen"],
            a["late_fee_outstanding_fen"],
        )
        for a in lines
    )


async def register_vacancy(
    conn: asyncpg.Connection, unit_id: str, registered_on: date, ended_on: date | None
) -> None:
    if ended_on is not None and ended_on < registered_on:
        raise RegistryError("ended_on: before registered_on")
    updated = await conn.execute(
        "INSERT INTO vacancies (unit_id, registered_on, ended_on) SELECT $1, $2, $3 "
        "WHERE EXISTS (SELECT 1 FROM units WHERE unit_id = $1) "
        "ON CONFLICT (unit_id, registered_on) DO UPDATE SET ended_on = EXCLUDED.ended_on",
        unit_id,
        registered_on,
        ended_on,
    )
    if updated.endswith(" 0"):
        raise NotFound(f"unit {unit_id} does not exist")


def now() -> datetime:
    return datetime.now(UTC)
