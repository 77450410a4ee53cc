"""Community-wide reads: the units of a community (cursor pages), where its money went, and
the audited export of its contact list as CSV, XLSX or JSON pages (text a spreadsheet would
run as a formula is neutralised: ``propfee.documents``, ``billing.adapters.export``).
Parse, call ``service_layer.community_lists``, answer."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from billing.adapters.export import XLSX_TYPE, to_xlsx
from billing.entrypoints import models
from billing.entrypoints.security import Reader, ReportReader
from billing.service_layer import community_lists
from billing.service_layer.community_lists import CONTACT_COLUMNS
from propfee.auth import Principal, Role, require
from propfee.documents import spreadsheet_cell
from propfee.http import Pool
from propfee.paging import Page, PageQuery

#: Who may take the whole contact list out of the system: the people who call and write to
#: households for a living. Finance, legal, auditors and automation read contacts one by one.
CONTACT_EXPORT = (Role.fee_clerk, Role.customer_service, Role.community_manager, Role.company_admin)
ContactExporter = Annotated[Principal, Depends(require(*CONTACT_EXPORT))]

router = APIRouter(prefix="/communities/{community_id}")


@router.get("/units", tags=["units"])
async def list_units(
    community_id: models.Id,
    pool: Pool,
    principal: Reader,
    page: PageQuery,
    request: Request,
    response: Response,
    room: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=32,
            description="only the units of this room number "
            "(exact, e.g. `1201`: one per building and entrance)",
        ),
    ] = None,
    building_id: Annotated[
        models.Id | None, Query(description="only the units of this building")
    ] = None,
) -> Page[models.UnitListItem]:
    """The community's units in id order, a page at a time (``next``, and the ``Link``
    header), each with the party who pays now; ``room`` and ``building_id`` narrow it (the
    cashier finds a room without reading the whole list). No contact data: read a unit or a
    party."""
    after = page.after_as(str)
    rows = await community_lists.units_page(
        pool,
        principal,
        community_id,
        after[0] if after else "",
        page.fetch,
        room=room,
        building_id=building_id,
    )
    return page.build(
        [models.UnitListItem(**r) for r in rows],
        key=lambda u: [u.unit_id],
        request=request,
        response=response,
    )


@router.get("/reports/money", tags=["reports"])
async def get_money_report(
    community_id: models.Id, pool: Pool, principal: ReportReader
) -> models.MoneyReportOut:
    """Where every fen received went: payments − refunds = allocated + credit on account.
    ``balanced`` says whether that holds (it must, always)."""
    return models.MoneyReportOut(
        **await community_lists.money_report(pool, principal, community_id)
    )


@router.get(
    "/contacts",
    tags=["contacts"],
    response_model=Page[models.ContactOut],
    responses={
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
                XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
            }
        }
    },
)
async def export_contacts(
    community_id: models.Id,
    pool: Pool,
    principal: ContactExporter,
    reason: Annotated[str, Query(min_length=2, max_length=200, description="why (audited)")],
    page: PageQuery,
    request: Request,
    response: Response,
    format: Literal["csv", "xlsx", "json"] = "csv",
) -> Response | Page[models.ContactOut]:
    """Every current owner and tenant with their contact data, unmasked: for the roles whose
    work is contacting households. ``csv`` (the default) is the whole list in one file
    (UTF-8 with BOM, as a spreadsheet opens it), ``xlsx`` the whole list as a workbook (the
    same columns; phones and ids text cells, ``pays`` and ``do_not_contact`` booleans);
    ``json`` answers cursor pages (``limit``, ``cursor``; a download ignores them). Each
    export, each page, is recorded in the audit trail (who, when, how many rows, why)."""
    if format == "json":
        rows = await community_lists.export_contacts(
            pool,
            principal,
            community_id,
            reason,
            format,
            after=page.after_as(str, str, str),
            page_size=page.limit,
        )
        return page.build(
            [models.ContactOut(**r) for r in rows],
            key=lambda c: [c.unit_key, c.role, c.party_id],
            request=request,
            response=response,
        )
    rows = await community_lists.export_contacts(pool, principal, community_id, reason, format)
    if format == "xlsx":
        return Response(
            to_xlsx(rows, CONTACT_COLUMNS, "contacts"),
            media_type=XLSX_TYPE,
            headers={"Content-Disposition": f'attachment; filename="contacts-{community_id}.xlsx"'},
        )
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CONTACT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: spreadsheet_cell(v) for k, v in r.items()} for r in rows)
    return Response(
        out.getvalue().encode("utf-8-sig"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="contacts-{community_id}.csv"'},
    )
