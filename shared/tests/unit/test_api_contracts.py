"""The API contract pieces every service is built on: problem details, cursor paging and the
completed OpenAPI document (operationIds, documented errors)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from propfee import problems
from propfee.openapi import bars, camel, complete, operation_id
from propfee.paging import Page, PageQuery, decode_cursor, encode_cursor
from propfee.problems import Conflict, FieldProblem, InvalidInput, problem_responses


class Unit(BaseModel):
    id: str
    area_m2: float


UNITS = [Unit(id=f"u-{i:03d}", area_m2=50 + i) for i in range(25)]


BEARER = HTTPBearer(auto_error=False)
Token = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]


def make_app() -> FastAPI:
    app = FastAPI(generate_unique_id_function=operation_id)
    problems.install(app)
    router = APIRouter()

    @router.get("/units", response_model=Page[Unit])
    async def list_units(page: PageQuery, request: Request, response: Response) -> Page[Unit]:
        after = page.after_as(str)
        rows = [u for u in UNITS if after is None or u.id > after[0]][: page.fetch]
        return page.build(rows, key=lambda u: [u.id], request=request, response=response)

    @router.get("/units/{unit_id}", response_model=Unit)
    async def get_unit(unit_id: str, _t: Token) -> Unit:
        for unit in UNITS:
            if unit.id == unit_id:
                return unit
        raise HTTPException(404, "unit not found")

    @router.post("/units/{unit_id}/close", responses=problem_responses(409))
    async def close_unit(unit_id: str, on: Annotated[date, Query()]) -> Unit:
        raise Conflict("the unit has open invoices", refused="open_invoices", count=2)

    @router.post("/refused")
    async def refuse() -> Unit:
        raise HTTPException(409, {"refused": "no_delivered_demand", "case_id": "c-1"})

    @router.post("/rows")
    async def rows() -> Unit:
        raise InvalidInput(
            "2 rows refused", errors=[FieldProblem(field="面积", reason="不是数字", row=7)]
        )

    app.include_router(router)
    generate = app.openapi
    app.openapi = lambda: complete(generate())  # type: ignore[method-assign]
    return app


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(make_app())


def test_errors_are_problem_details(client: TestClient) -> None:
    missing = client.get("/units/u-999")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json() == {
        "type": "https://propfee.dev/problems/not-found",
        "title": "Not Found",
        "status": 404,
        "detail": "unit not found",
        "instance": "/units/u-999",
    }
    conflict = client.post("/units/u-001/close", params={"on": "2026-12-01"}).json()
    assert conflict["status"] == 409 and conflict["refused"] == "open_invoices"
    assert conflict["detail"] == "the unit has open invoices" and conflict["count"] == 2
    refused = client.post("/refused").json()  # a mapping detail: extension members
    assert refused["detail"] == "no_delivered_demand" and refused["case_id"] == "c-1"
    rows = client.post("/rows").json()
    assert rows["errors"] == [{"field": "面积", "reason": "不是数字", "row": 7}]


def test_validation_errors_name_the_field(client: TestClient) -> None:
    r = client.post("/units/u-001/close", params={"on": "2026-02-30"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["errors"][0]["field"] == "query.on" and body["errors"][0]["reason"]
    assert "query.on" in body["detail"]


def test_pages_walk_the_collection_once(client: TestClient) -> None:
    seen: list[str] = []
    r = client.get("/units", params={"limit": 10})
    pages = 0
    while True:
        body = r.json()
        pages += 1
        seen += [u["id"] for u in body["items"]]
        if body["next"] is None:
            assert "link" not in r.headers
            break
        assert r.headers["link"].endswith('>; rel="next"') and "cursor=" in r.headers["link"]
        r = client.get("/units", params={"limit": 10, "cursor": body["next"]})
    assert seen == [u.id for u in UNITS] and pages == 3


@pytest.mark.parametrize("cursor", ["!!", "bm90IGpzb24", encode_cursor([]) or "W10", "e30"])
def test_a_malformed_cursor_is_422_not_500(client: TestClient, cursor: str) -> None:
    r = client.get("/units", params={"cursor": cursor})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "query.cursor"


def test_a_cursor_of_another_shape_is_422(client: TestClient) -> None:
    r = client.get("/units", params={"cursor": encode_cursor(["u-001", 3])})
    assert r.status_code == 422


@given(st.lists(st.one_of(st.text(), st.integers(), st.booleans(), st.none()), min_size=1))
def test_cursors_round_trip(key: list[object]) -> None:
    assert decode_cursor(encode_cursor(key)) == key


def test_the_document_names_operations_and_their_errors(client: TestClient) -> None:
    schema = client.app.openapi()  # type: ignore[attr-defined]
    ops = {op["operationId"]: op for item in schema["paths"].values() for op in item.values()}
    assert set(ops) == {"listUnits", "getUnit", "closeUnit", "refuse", "rows"}
    get_unit = ops["getUnit"]["responses"]
    assert {"401", "403", "404", "422"} <= set(get_unit)
    assert get_unit["404"]["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
    assert set(ops["closeUnit"]["responses"]) >= {"409", "404", "422"}
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert "Problem" in schema["components"]["schemas"]
    numbers = bars({"test": schema})
    assert numbers["generated-looking operationIds"] == (0, 5)
    assert numbers["collections paged"] == (1, 1)
    assert numbers["typed JSON success responses"] == (5, 5)


def test_camel() -> None:
    assert camel("create_unit") == "createUnit"
    assert camel("get_statement_pdf") == "getStatementPdf"
    assert camel("healthz") == "healthz"
