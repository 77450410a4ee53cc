"""Bank withholding file rows are scoped like ids in a path (issue 16, item 2): a row whose
unit is another company's, or in another community than the row's ``community_id``, or whose
invoices are another unit's, is a row error and records nothing; a community of the file
outside the caller's scope refuses the whole file."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from payments_testkit.service import know_communities

from propfee.auth import Role
from tests.support.auth import BearerAuth

pytestmark = pytest.mark.integration

HEADER = (
    "batch_no,serial_no,community_id,unit_id,payer_party_id,invoice_ids,amount,currency,"
    "result,bank_reference,debited_at,failure_reason\n"
)


def row(serial: str, community: str, unit: str, invoices: str = "", payer: str = "owner-1") -> str:
    return (
        f"B1,{serial},{community},{unit},{payer},{invoices},10.00,CNY,SUCCESS,REF{serial},"
        "2026-03-05 10:00:00,\n"
    )


async def test_rows_of_units_outside_the_row_community_or_scope_are_refused(
    services, create_database, dev_issuer
) -> None:  # type: ignore[no-untyped-def]
    db = await create_database("payments")
    proc = services("payments", db).start()
    await know_communities(db, "c-1", "c-9")
    await know_communities(db, "c-x", company_id="co-2")
    conn = await asyncpg.connect(db)
    await conn.executemany(
        "INSERT INTO invoices (invoice_id, community_id, unit_id, payer_party_id, total_fen) "
        "VALUES ($1, $2, $3, $4, 1000)",
        [("inv-mine", "c-1", "u-mine", "owner-1"), ("inv-c9", "c-9", "u-c9", "owner-9"),
         ("inv-foreign", "c-x", "u-foreign", "owner-x")],
    )  # fmt: skip
    admin = BearerAuth(dev_issuer.mint("fin", [Role.finance], "co-1", "*"))
    clerk_of_c1 = BearerAuth(dev_issuer.mint("fin-c1", [Role.finance], "co-1", ["c-1"]))
    async with httpx.AsyncClient(base_url=proc.url, timeout=30) as http:
        text = HEADER + "".join(
            [
                row("1", "c-1", "u-mine", "inv-mine"),
                row("2", "c-1", "u-foreign"),  # another company's unit, named in c-1
                row("3", "c-1", "u-c9"),  # a unit of another community of the company
                row("4", "c-1", "u-mine", "inv-foreign"),  # another company's invoice
                row("5", "c-1", "u-mine", payer="owner-x"),  # another company's payer
                # A unit payments has not heard of yet (a debit before its first invoice):
                # taken to be in the row's community, which is the caller's.
                row("9", "c-1", "u-new", payer="owner-new"),
            ]
        )
        r = await http.post("/bank-withholding/files", content=text.encode(), auth=admin)
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["recorded"] == 2
        assert [(e["line"], e["column"]) for e in result["errors"]] == [
            (3, "unit_id"),
            (4, "unit_id"),
            (5, "invoice_ids"),
            (6, "payer_party_id"),
        ]
        assert "u-foreign" not in r.text and "c-x" not in r.text, "nothing of co-2 told"
        # A token of c-1 only: the unit of c-9 is outside its scope too.
        only_c9 = HEADER + row("6", "c-1", "u-c9")
        r = await http.post("/bank-withholding/files", content=only_c9.encode(), auth=clerk_of_c1)
        assert r.status_code == 200 and r.json()["recorded"] == 0, r.text
        # A community of another company in the file: the whole file is refused.
        foreign = HEADER + row("7", "c-1", "u-mine") + row("8", "c-x", "u-foreign")
        r = await http.post("/bank-withholding/files", content=foreign.encode(), auth=admin)
        assert r.status_code == 404, r.text
    rows = await conn.fetch("SELECT unit_id, community_id FROM payments ORDER BY unit_id")
    assert [tuple(r) for r in rows] == [("u-mine", "c-1"), ("u-new", "c-1")]
    assert await conn.fetchval("SELECT count(*) FROM outbox") == 2
    await conn.close()
