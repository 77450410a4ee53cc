"""The registry's HTTP contract (issue 20): identifiers validated at the edge (a landline
where SMS needs a mobile, a bad credit code, a bad ID number, a bad time zone: 422 naming the
field), phones stored in national form, identity card numbers masked for every role, and a
community's units walked in cursor pages (a malformed cursor is 422)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import pytest
import pytest_asyncio
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from billing.app import create_app
from billing.settings import BillingSettings
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from tests.support.auth import bearer, staff_token, trust

pytestmark = pytest.mark.integration

CO = "co-contract"
ROOMS = ("101", "102", "201", "202", "301")
C = "c-contract"


@pytest_asyncio.fixture
async def billing_db(create_database) -> str:  # type: ignore[no-untyped-def]
    return await create_database("billing_contract")


@pytest.fixture
def http(
    billing_db: str, kafka: str, test_prefix: str, dev_issuer: DevIssuer
) -> Iterator[TestClient]:
    settings = BillingSettings(
        database_url=billing_db, kafka_bootstrap_servers=kafka, topic_prefix=test_prefix
    )
    token = staff_token(dev_issuer, [Role.company_admin], company_id=CO)
    with TestClient(trust(create_app(settings), dev_issuer), headers=bearer(token)) as client:
        for _ in range(100):
            if client.get("/readyz").status_code == 200:
                break
            asyncio.run(asyncio.sleep(0.1))
        r = client.put(
            f"/communities/{C}",
            json={"company_id": CO, "company_name": "示例物业", "name": "阳光花园", "city": "杭州"},
        )
        assert r.status_code == 200, r.text
        yield client


def _fields(r) -> list[str]:  # type: ignore[no-untyped-def]
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return [e["field"] for e in r.json()["errors"]]


def test_sms_needs_a_mobile_a_landline_is_refused_where_one_is_required(http: TestClient) -> None:
    landline = {"community_id": C, "kind": "owner", "name": "王五", "phone": "0571-8888 6666"}
    r = http.post("/parties", json={**landline, "allowed_channels": ["sms", "letter"]})
    assert _fields(r) == ["phone"]
    assert "8888" not in r.text  # the number is personal data: never echoed
    # Without SMS a landline is a fine number, stored in national form.
    kept = http.post("/parties", json={**landline, "allowed_channels": ["letter"]})
    assert kept.status_code == 201, kept.text
    assert kept.json()["phone"] == "0571-88886666"
    party_id = kept.json()["party_id"]
    # Adding SMS later to the stored landline is refused too (the merged party is checked).
    assert _fields(http.patch(f"/parties/{party_id}", json={"allowed_channels": ["sms"]})) == [
        "phone"
    ]
    # A mobile, written any usual way, is stored as its 11 digits and may be texted.
    r = http.patch(
        f"/parties/{party_id}",
        json={"phone": "+86 138-1234-5678", "allowed_channels": ["sms"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["phone"] == "13812345678"
    assert r.json()["allowed_channels"] == ["sms"]
    assert _fields(http.post("/parties", json={**landline, "phone": "12345"})) == ["phone"]


def test_an_identity_card_number_is_checked_and_answered_masked(http: TestClient) -> None:
    body = {"community_id": C, "kind": "owner", "name": "赵六", "phone": "13900001111"}
    assert _fields(http.post("/parties", json={**body, "id_number": "110105194912310021"})) == [
        "id_number"
    ]
    r = http.post("/parties", json={**body, "id_number": "11010519491231002x"})
    assert r.status_code == 201, r.text
    assert r.json()["id_number"] not in (None, "11010519491231002X")  # masked, even for admins
    assert "1231002" not in r.json()["id_number"]


def test_a_bad_credit_code_is_refused_naming_the_field(http: TestClient) -> None:
    r = http.put(f"/companies/{CO}", json={"credit_code": "91110000600037341X"})
    assert _fields(r) == ["credit_code"]
    r = http.put(f"/companies/{CO}", json={"credit_code": "91110000600037341l"})
    assert r.status_code == 200, r.text
    assert r.json()["credit_code"] == "91110000600037341L"


def test_a_community_time_zone_is_an_iana_name(http: TestClient) -> None:
    body = {"company_id": CO, "name": "阳光花园", "city": "杭州", "time_zone": "Beijing"}
    assert _fields(http.put(f"/communities/{C}", json=body)) == ["time_zone"]
    r = http.put(f"/communities/{C}", json={**body, "time_zone": "Asia/Urumqi"})
    assert r.status_code == 200 and r.json()["time_zone"] == "Asia/Urumqi"


def test_units_are_walked_in_cursor_pages(http: TestClient) -> None:
    for room in ROOMS:
        r = http.post(
            "/units",
            json={
                "community_id": C,
                "building": "1栋",
                "room": room,
                "floor_area_m2": "88.50",
                "owner": {"name": "业主", "phone": f"1380000{room}1"},
            },
        )
        assert r.status_code == 201, r.text
        assert r.json()["floor_area_m2"] == "88.50"
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 2}
    pages = 0
    while True:
        r = http.get(f"/communities/{C}/units", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen += [u["unit_id"] for u in page["items"]]
        pages += 1
        if page["next"] is None:
            assert "link" not in r.headers
            break
        assert 'rel="next"' in r.headers["link"]
        params = {"limit": 2, "cursor": page["next"]}
    assert pages == 3 and len(seen) == 5 == len(set(seen)) and seen == sorted(seen)
    r = http.get(f"/communities/{C}/units", params={"cursor": "not-a-cursor!"})
    assert _fields(r) == ["query.cursor"]
    # The contact list as JSON pages too (each page an audited export); CSV is one file.
    contacts: list[str] = []
    params = {"reason": "年终寄送账单", "format": "json", "limit": 2}
    while True:
        page = http.get(f"/communities/{C}/contacts", params=params).json()
        contacts += [c["phone"] for c in page["items"]]
        if page["next"] is None:
            break
        params = {**params, "cursor": page["next"]}
    assert sorted(contacts) == sorted(f"1380000{room}1" for room in ROOMS)
    bad = {"reason": "年终寄送账单", "format": "json", "cursor": "WyJ4Il0"}  # ["x"]: not a key
    assert _fields(http.get(f"/communities/{C}/contacts", params=bad)) == ["query.cursor"]


def test_units_are_found_by_room_and_building(http: TestClient) -> None:
    """The cashier's look-up: ``room`` (exact) and ``building_id`` narrow the list, its pages
    keep the filter, and another community's building is not found."""
    for building in ("1栋", "2栋"):
        for room in ("101", "102"):
            r = http.post(
                "/units",
                json={"community_id": C, "building": building, "room": room,
                      "floor_area_m2": "88.50", "owner": {"name": "业主"}},
            )  # fmt: skip
            assert r.status_code == 201, r.text
    r = http.get(f"/communities/{C}/units", params={"room": "101", "limit": 1})
    assert r.status_code == 200, r.text
    first = r.json()
    assert [u["room"] for u in first["items"]] == ["101"]
    assert "room=101" in r.headers["link"]
    second = http.get(
        f"/communities/{C}/units", params={"room": "101", "limit": 1, "cursor": first["next"]}
    ).json()
    both = first["items"] + second["items"]
    assert sorted(u["unit_key"].split("/")[0] for u in both) == ["1栋", "2栋"]
    assert {u["room"] for u in both} == {"101"}
    assert second["next"] is None
    building = next(u["building_id"] for u in both if u["unit_key"].startswith("2栋"))
    r = http.get(f"/communities/{C}/units", params={"room": "101", "building_id": building})
    (only,) = r.json()["items"]
    assert only["unit_key"].startswith("2栋") and only["room"] == "101"
    assert len(http.get(f"/communities/{C}/units", params={"building_id": building}).json()[
        "items"]) == 2  # fmt: skip
    assert http.get(f"/communities/{C}/units", params={"room": "999"}).json()["items"] == []
    assert _fields(http.get(f"/communities/{C}/units", params={"room": ""})) == ["query.room"]
    r = http.get(f"/communities/{C}/units", params={"building_id": "bld-elsewhere"})
    assert r.status_code == 404


HEADER = "楼栋,单元,房号,房屋类型,建筑面积,房屋状态,交房日期,业主姓名,业主电话,租户姓名,租户电话,缴费责任人,车位号,车位月租金,期初欠费金额,欠费起始月"


def test_a_ledger_keeps_a_landline_without_sms_and_a_bad_phone_is_its_rows_error(
    http: TestClient,
) -> None:
    rows = [
        "1栋,1单元,101,住宅,88.00,已入住,2019-06-30,钱七,0571-87654321,,,业主,,,,",
        "1栋,1单元,102,住宅,88.00,已入住,2019-06-30,孙八,24680,,,业主,,,,",
        "1栋,1单元,201,住宅,88.00,已入住,2019-06-30,李九,150 3477 3197,,,业主,,,,",
    ]
    data = "\n".join([HEADER, *rows]).encode("utf-8-sig")
    params = {"filename": "l.csv", "opening_as_of": "2025-01-01"}
    r = http.post(f"/communities/{C}/ledger-imports", content=data, params=params)
    assert r.status_code == 422 and r.json()["imported"] is False
    assert [(e["row"], e["field"]) for e in r.json()["errors"]] == [(3, "业主电话")]
    assert "24680" not in r.text
    r = http.post(
        f"/communities/{C}/ledger-imports",
        content=data,
        params={**params, "accept_good_rows": "true"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["units_created"] == 2 and len(r.json()["errors"]) == 1
    units = {u["unit_key"]: u for u in http.get(f"/communities/{C}/units").json()["items"]}
    landline_owner = units["1栋/1单元/101"]["payer_party_id"]
    assert http.get(f"/parties/{landline_owner}").json()["phone"] == "0571-87654321"
    r = http.patch(f"/parties/{landline_owner}", json={"preferred_channels": ["sms"]})
    assert _fields(r) == ["phone"]
    mobile_owner = units["1栋/1单元/201"]["payer_party_id"]
    assert http.get(f"/parties/{mobile_owner}").json()["phone"] == "15034773197"
    r = http.patch(f"/parties/{mobile_owner}", json={"preferred_channels": ["sms"]})
    assert r.status_code == 200, r.text


def test_a_unit_registered_with_its_handover_day_is_the_developers_through_that_month(
    http: TestClient,
) -> None:
    r = http.post(
        "/units",
        json={
            "community_id": C,
            "building": "2栋",
            "room": "101",
            "floor_area_m2": "90",
            "handover_date": "2026-05-20",
            "owner": {"name": "周十", "phone": "13900002222"},
        },
    )
    assert r.status_code == 201, r.text
    ties = [(p["role"], p["pays"], p["valid_from"], p["valid_to"]) for p in r.json()["parties"]]
    assert ties == [
        ("developer", True, "2000-01-01", "2026-05-31"),
        ("owner", True, "2026-06-01", None),
    ]


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_the_contact_list_downloads_as_a_typed_workbook(http: TestClient) -> None:
    """``format=xlsx``: the CSV's columns and rows, phones and ids as text cells (a landline
    keeps its leading 0; phones are stored national, the ``+86`` case is in
    ``unit/test_export.py``), booleans as booleans, a formula-like name inert."""
    owners = [("101", '=HYPERLINK("http://x")', "+8613812345678"), ("102", "王五", "0571-87654321")]
    for room, name, phone in owners:
        body = {"community_id": C, "building": "2栋", "room": room, "floor_area_m2": "88.50",
                "owner": {"name": name, "phone": phone}}  # fmt: skip
        r = http.post("/units", json=body)
        assert r.status_code == 201, r.text
    params = {"reason": "年终寄送账单", "format": "xlsx"}
    r = http.get(f"/communities/{C}/contacts", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(XLSX)
    assert r.headers["content-disposition"].endswith(f'contacts-{C}.xlsx"')
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    header, *rows = list(sheet.iter_rows())
    columns = [c.value for c in header]
    assert columns == ["unit_key", "role", "pays", "party_id", "name", "phone", "email",
                       "postal_address", "do_not_contact"]  # fmt: skip
    cells = [dict(zip(columns, row, strict=True)) for row in rows]
    as_json = http.get(f"/communities/{C}/contacts", params={**params, "format": "json"}).json()
    assert [c["party_id"].value for c in cells] == [p["party_id"] for p in as_json["items"]]
    for row in cells:
        for text in ("unit_key", "role", "party_id", "name", "phone"):
            assert row[text].data_type == "s", (text, row[text].value)
        assert row["pays"].data_type == "b" and row["pays"].value is True
        assert row["do_not_contact"].data_type == "b" and row["do_not_contact"].value is False
    mine = [row for row in cells if row["unit_key"].value.startswith("2栋")]
    first, second = sorted(mine, key=lambda row: row["unit_key"].value)
    assert first["name"].value == '\'=HYPERLINK("http://x")'  # text, never a formula
    stored = next(p for p in as_json["items"] if p["unit_key"] == first["unit_key"].value)
    assert first["phone"].value == stored["phone"] and not stored["phone"].startswith("'")
    assert second["phone"].value.startswith("0571")  # text: the leading zero stays
    assert second["phone"].value == next(
        p["phone"] for p in as_json["items"] if p["unit_key"] == second["unit_key"].value
    )
    # The document says so, for the generated client.
    answer = http.get("/openapi.json").json()["paths"]["/communities/{community_id}/contacts"]
    assert XLSX in answer["get"]["responses"]["200"]["content"]
