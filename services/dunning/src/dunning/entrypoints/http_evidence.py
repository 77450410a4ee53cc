"""The evidence bundle of a case (证据材料, for mediation or court): JSON for every reader
(contact data masked outside ``CONTACT_ROLES``), PDF and ZIP for contact roles only (an export
of personal data, audited)."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from dunning.adapters.evidence_files import render_pdf, render_zip
from dunning.entrypoints import security
from dunning.service_layer import evidence
from propfee import audit
from propfee.auth import Principal
from propfee.http import Pool
from propfee.masking import mask_data

router = APIRouter(tags=["evidence"])


async def _bundle(pool: Any, principal: Principal, case_id: str) -> dict[str, Any]:
    async with pool.acquire() as conn:
        await security.case(conn, principal, case_id)
        try:
            return await evidence.gather(conn, case_id)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc


@router.get("/cases/{case_id}/evidence")
async def get_evidence(case_id: str, pool: Pool, principal: security.Reader) -> dict[str, Any]:
    """Everything on record about the case; contact data (and numbers in notes) masked for
    roles outside ``CONTACT_ROLES``."""
    bundle = await _bundle(pool, principal, case_id)
    return bundle if principal.sees_contacts else mask_data(bundle)


async def _export(pool: Any, principal: Principal, case_id: str, kind: str) -> dict[str, Any]:
    """The bundle for a file export of personal data, audited in the same transaction."""
    async with pool.acquire() as conn, conn.transaction():
        case = await security.case(conn, principal, case_id)
        bundle = await evidence.gather(conn, case_id)
        await audit.record(
            conn, principal, "evidence.exported", "case", case_id,
            community_id=case["community_id"], unit_id=case["unit_id"],
            company_id=case["company_id"], after={"format": kind},
        )  # fmt: skip
    return bundle


@router.get("/cases/{case_id}/evidence.pdf", response_class=Response)
async def download_evidence_pdf(
    case_id: str, pool: Pool, principal: security.ContactReader
) -> Response:
    """The evidence bundle as a PDF (contact data: contact roles only; the export is audited)."""
    bundle = await _export(pool, principal, case_id, "pdf")
    pdf = await asyncio.to_thread(render_pdf, bundle)
    return Response(pdf, media_type="application/pdf", headers=_attachment(bundle, "pdf"))


@router.get("/cases/{case_id}/evidence.zip", response_class=Response)
async def download_evidence_zip(
    case_id: str, pool: Pool, principal: security.ContactReader
) -> Response:
    """The PDF, the evidence list and its numbered attachments (contact data: contact roles
    only; the export is audited)."""
    bundle = await _export(pool, principal, case_id, "zip")
    data = await asyncio.to_thread(render_zip, bundle)
    return Response(data, media_type="application/zip", headers=_attachment(bundle, "zip"))


def _attachment(bundle: dict[str, Any], extension: str) -> dict[str, str]:
    """The file is named for the room, as people name the case (no internal id)."""
    name = f"证据材料-{bundle['case'].get('room_label') or '房号待补充'}.{extension}"
    return {
        "Content-Disposition": f'attachment; filename="evidence.{extension}"; '
        f"filename*=UTF-8''{quote(name, safe='')}"
    }
