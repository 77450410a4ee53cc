"""Bank-withholding files and gateway statements past the upload limits, on a real process:
refused (413 for a size, 422 naming the row and column), nothing recorded, the process fine."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

pytestmark = pytest.mark.integration

HEADER = (
    "batch_no,serial_no,community_id,unit_id,payer_party_id,invoice_ids,amount,currency,"
    "result,bank_reference,debited_at,failure_reason\n"
)


def _line(n: int, reason: str = "") -> str:
    return f"B1,{n:04},c-1,u-{n},owner-1,,10.00,CNY,FAILED,,2026-03-05 10:00:00,{reason}\n"


async def test_upload_limits_on_bank_files_and_statements(
    services,
    create_database,
    staff_auth,  # type: ignore[no-untyped-def]
) -> None:
    db = await create_database("payments_hostile")
    limits = {"max_upload_bytes": "100000", "max_upload_rows": "20"}
    # A WeChat Pay merchant account of the test company: statements are imported for it.
    account = {"wechatpay_mchid": "1900000109", "wechatpay_company_id": "co-1"}
    proc = services("payments", db, max_upload_cell_chars="200", **limits, **account).start()
    routes = ("/bank-withholding/files", "/reconciliation/wechatpay/2026-03-05")
    async with httpx.AsyncClient(base_url=proc.url, timeout=30, auth=staff_auth) as http:

        async def post(route: str, content: bytes | AsyncIterator[bytes]) -> httpx.Response:
            return await http.post(route, content=content, headers={"Content-Type": "text/csv"})

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as read
            yield HEADER.encode()
            for _ in range(300):
                yield _line(1).encode() * 10

        for route in routes:
            big = await post(route, (HEADER + _line(1) * 2000).encode())
            assert big.status_code == 413, big.text
            assert "larger than 100000 bytes" in big.json()["detail"]
            assert (await post(route, chunked())).status_code == 413

            rows = await post(route, (HEADER + "".join(_line(n) for n in range(25))).encode())
            assert rows.status_code == 413
            assert rows.json()["detail"].startswith("row 21: the file has more than 20 rows")

            cell = await post(route, (HEADER + _line(1) + _line(2, "余" * 201)).encode())
            assert cell.status_code == 422
            assert cell.json()["detail"].startswith("row 3, column 12: the cell holds 201")

        assert (await http.get("/readyz")).status_code == 200
    conn = await asyncpg.connect(db)
    try:
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == 0
    finally:
        await conn.close()
