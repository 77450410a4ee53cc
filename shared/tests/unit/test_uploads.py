"""Upload limits (propfee.uploads): body size, rows, columns, cells, XLSX inflation."""

from __future__ import annotations

import io
import os
import struct
import zipfile
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from openpyxl import Workbook
from pydantic import BaseModel
from pydantic_settings import SettingsConfigDict

from propfee.http import create_service_app
from propfee.runtime import ServiceRuntime
from propfee.settings import ServiceSettings
from propfee.uploads import (
    BodySizeLimit,
    Limits,
    UploadLimits,
    UploadRefused,
    check_csv,
    check_xlsx,
    limit_rows,
)

SMALL = UploadLimits(
    max_bytes=100,
    max_rows=5,
    max_columns=4,
    max_cell_chars=10,
    max_xlsx_ratio=100,
    max_xlsx_uncompressed_bytes=3 * 1024 * 1024,
)


class Item(BaseModel):
    name: str


def _app(max_bytes: int = 100) -> tuple[FastAPI, list[str]]:
    """Routes that read a body three ways; ``calls`` records which handlers ran."""
    calls: list[str] = []
    app = FastAPI()

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, int]:
        calls.append("raw")
        return {"bytes": len(await request.body())}

    @app.post("/json")
    async def parsed(item: Item) -> dict[str, str]:
        calls.append("json")
        return {"name": item.name}

    @app.post("/limits")
    async def limits(limits: Limits) -> dict[str, int]:
        return {"max_rows": limits.max_rows}

    app.add_middleware(BodySizeLimit, max_bytes=max_bytes)
    return app, calls


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_declared_length_above_the_limit_is_refused_before_the_route_runs() -> None:
    app, calls = _app()
    async with _client(app) as http:
        r = await http.post("/raw", content=b"x" * 101)
        assert r.status_code == 413
        assert "larger than 100 bytes" in r.json()["detail"]
        r = await http.post("/json", json={"name": "x" * 200})
        assert r.status_code == 413
        assert calls == []
        ok = await http.post("/raw", content=b"x" * 100)
        assert ok.status_code == 200 and ok.json() == {"bytes": 100}
        assert calls == ["raw"]


async def test_a_streamed_body_is_stopped_at_the_limit_not_read_whole() -> None:
    app, _ = _app()
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        for n in range(1000):
            sent.append(n)
            yield b"y" * 40

    async with _client(app) as http:
        r = await http.post("/raw", content=chunks())
        assert r.status_code == 413
        assert len(sent) <= 4  # 3 chunks pass 100 bytes; the other 996 are never pulled

        sent.clear()
        r = await http.post("/json", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413  # not FastAPI's 400 "error parsing the body"
        assert len(sent) <= 4


async def test_every_service_app_holds_bodies_to_its_setting() -> None:
    router = APIRouter()

    @router.post("/echo")
    async def echo(request: Request, limits: Limits) -> dict[str, int]:
        return {"bytes": len(await request.body()), "max_bytes": limits.max_bytes}

    settings = ServiceSettings(max_upload_bytes=64, max_upload_rows=7)
    app = create_service_app(
        ServiceRuntime(settings, package="propfee"), title="t", description="d", routers=[router]
    )
    async with _client(app) as http:
        assert (await http.post("/echo", content=b"z" * 65)).status_code == 413
        ok = await http.post("/echo", content=b"z" * 64)
        assert ok.json() == {"bytes": 64, "max_bytes": 64}


async def test_the_limits_dependency_reads_defaults_without_a_runtime() -> None:
    app, _ = _app()
    async with _client(app) as http:
        assert (await http.post("/limits")).json() == {"max_rows": 200_000}


def test_the_settings_name_the_limits_per_service(monkeypatch: pytest.MonkeyPatch) -> None:
    class BillingLike(ServiceSettings):
        model_config = SettingsConfigDict(env_prefix="BILLINGLIKE_", extra="ignore")

    monkeypatch.setenv("BILLINGLIKE_MAX_UPLOAD_BYTES", "2048")
    monkeypatch.setenv("BILLINGLIKE_MAX_XLSX_RATIO", "50")
    limits = UploadLimits.from_settings(BillingLike())
    assert limits.max_bytes == 2048 and limits.max_xlsx_ratio == 50
    assert UploadLimits.from_settings(ServiceSettings()) == UploadLimits()


def test_rows_columns_and_cells_are_refused_with_where() -> None:
    assert list(limit_rows([["a"], ["b", "c"]], SMALL)) == [["a"], ["b", "c"]]
    with pytest.raises(UploadRefused) as rows:
        list(limit_rows([["a"]] * 6, SMALL))
    assert rows.value.status_code == 413 and rows.value.row == 6
    assert "more than 5 rows" in str(rows.value.detail)
    with pytest.raises(UploadRefused) as columns:
        list(limit_rows([["a"], ["", "", "", "", ""]], SMALL))
    assert columns.value.status_code == 422 and columns.value.row == 2
    assert "5 columns" in str(columns.value.detail)
    with pytest.raises(UploadRefused) as cell:
        list(limit_rows([["a", "b"], ["ok", "x" * 11]], SMALL))
    assert cell.value.status_code == 422
    assert (cell.value.row, cell.value.column) == (2, 2)
    assert str(cell.value.detail).startswith("row 2, column 2: the cell holds 11 characters")


def test_rows_are_refused_as_they_come_not_after_reading_all() -> None:
    pulled: list[int] = []

    def endless() -> object:
        n = 0
        while True:
            n += 1
            pulled.append(n)
            yield ["row"]

    with pytest.raises(UploadRefused):
        for _ in limit_rows(endless(), SMALL):  # type: ignore[call-overload]
            pass
    assert len(pulled) == 6


def test_a_csv_text_is_checked_before_its_parser_reads_it() -> None:
    check_csv("a,b\n1,2\n", SMALL)
    with pytest.raises(UploadRefused) as rows:
        check_csv("a\n" * 6, SMALL)
    assert rows.value.row == 6
    with pytest.raises(UploadRefused) as cell:
        check_csv('a,b\n1,"' + "ü" * 11 + '"\n', SMALL)
    assert (cell.value.row, cell.value.column) == (2, 2)
    with pytest.raises(UploadRefused) as tabs:
        check_csv("a\tb\tc\td\te\n", SMALL, delimiter="\t")
    assert tabs.value.status_code == 422
    with pytest.raises(UploadRefused) as huge:  # above the csv module's own field limit
        check_csv('a\n"' + "x" * 200_000 + '"\n', UploadLimits())
    assert huge.value.status_code == 422 and "cannot be read" in str(huge.value.detail)


def _workbook(rows: int) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for n in range(rows):
        sheet.append([f"楼{n}", n, "住宅"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_an_ordinary_workbook_passes() -> None:
    check_xlsx(_workbook(2000), UploadLimits())
    check_xlsx(b"not a zip", UploadLimits())  # the workbook reader says what is wrong


def test_a_zip_bomb_is_refused_from_its_directory() -> None:
    bomb = _zip({"[Content_Types].xml": b"<Types/>", "xl/worksheets/sheet1.xml": bytes(2**21)})
    assert len(bomb) < 10_000  # 2 MiB of zeros deflate about 1000-fold
    with pytest.raises(UploadRefused) as ratio:
        check_xlsx(bomb, SMALL)
    assert ratio.value.status_code == 413
    assert "'xl/worksheets/sheet1.xml' inflates" in str(ratio.value.detail)
    assert "at most 100-fold" in str(ratio.value.detail)


def test_a_workbook_inflating_past_the_total_is_refused() -> None:
    parts = {f"xl/media/image{n}.bin": os.urandom(1024 * 1024) for n in range(4)}
    with pytest.raises(UploadRefused) as total:
        check_xlsx(_zip(parts), SMALL)  # 4 MiB, incompressible: the ratio is ~1
    assert total.value.status_code == 413
    assert "inflates to more than 3.0 MiB" in str(total.value.detail)


def test_a_member_lying_about_its_size_is_not_inflated_past_it() -> None:
    """Why the declared sizes are enough: zipfile stops at the declared size (CRC error)."""
    data = bytearray(_zip({"xl/worksheets/sheet1.xml": bytes(10 * 1024 * 1024)}))
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, 22, 1000)  # local header: uncompressed size
    struct.pack_into("<I", data, central + 24, 1000)  # central directory: the same
    check_xlsx(bytes(data), SMALL)  # declares 1000 bytes: passes the check
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        member = archive.open("xl/worksheets/sheet1.xml")
        read = 0
        with pytest.raises(zipfile.BadZipFile):
            while chunk := member.read(65536):
                read += len(chunk)
    assert read <= 1000
