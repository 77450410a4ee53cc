"""The evidence bundle of a case (证据材料, for mediation or court): JSON for every reader
(contact data masked outside ``CONTACT_ROLES``), PDF and ZIP for contact roles only (an export
of personal data, audited)."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import Response

from dunning.adapters.evidence_files import render_pdf, render_zip
from dunning.entrypoints import security
from dunning.entrypoints.models_evidence import EvidenceBundle
from dunning.service_layer import evidence
from propfee.http import Pool
from propfee.masking import mask_data

router = APIRouter(tags=["evidence"])


def _binary(media_type: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {media_type: {"schema": {"type": "string", "format": "binary"}}}}}


@router.get("/cases/{case_id}/evidence")
async def get_evidence(case_id: str, pool: Pool, principal: security.Reader) -> EvidenceBundle:
    """Everything on record about the case; contact data (and numbers in notes) masked for
    roles outside ``CONTACT_ROLES``."""
    bundle = await evidence.for_reader(pool, principal, case_id)
    return EvidenceBundle.model_validate(bundle if principal.sees_contacts else mask_data(bundle))


@router.get(
    "/cases/{case_id}/evidence.pdf", response_class=Response, responses=_binary("application/pdf")
)
async def download_evidence_pdf(
    case_id: str, pool: Pool, principal: security.ContactReader
) -> Response:
    """The evidence bundle as a PDF (contact data: contact roles only; the export is audited)."""
    bundle = await evidence.export(pool, principal, case_id, "pdf")
    pdf = await asyncio.to_thread(render_pdf, bundle)
    return Response(pdf, media_type="application/pdf", headers=_attachment(bundle, "pdf"))


@router.get(
    "/cases/{case_id}/evidence.zip", response_class=Response, responses=_binary("application/zip")
)
async def download_evidence_zip(
    case_id: str, pool: Pool, principal: security.ContactReader
) -> Response:
    """The PDF, the evidence list and its numbered attachments (contact data: contact roles
    only; the export is audited)."""
    bundle = await evidence.export(pool, principal, case_id, "zip")
    data = await asyncio.to_thread(render_zip, bundle)
    return Response(data, media_type="application/zip", headers=_attachment(bundle, "zip"))


def _attachment(bundle: dict[str, Any], extension: str) -> dict[str, str]:
    """The file is named for the room, as people name the case (no internal id)."""
    name = f"证据材料-{bundle['case'].get('room_label') or '房号待补充'}.{extension}"
    return {
        "Content-Disposition": f'attachment; filename="evidence.{extension}"; '
        f"filename*=UTF-8''{quote(name, safe='')}"
    }
