"""Ledger import parsing: the sample community, every kind of mistake, both file formats."""

from __future__ import annotations

import csv
import io
import zipfile
from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.domain.ledger import LedgerParseResult, LedgerRow, parse_ledger
from billing.domain.ledger_formats import field_for_header
from propfee.uploads import UploadLimits, UploadRefused

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "sample-ledger.csv"  # a copy of shared/data/sample-ledger.csv (synthetic)
HEADER = (
    "楼栋,单元,房号,房屋类型,建筑面积,房屋状态,交房日期,业主姓名,业主电话,"
    "租户姓名,租户电话,缴费责任人,车位号,车位月租金,期初欠费金额,欠费起始月"
).split(",")
GOOD = ["1栋", "1单元", "101", "住宅", "98.50", "已入住", "2019-06-30", "王小明", "13812345678"]
GOOD += ["", "", "业主", "", "", "", ""]


def to_csv(rows: list[list[str]], header: list[str] = HEADER, encoding: str = "utf-8") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([header, *rows])
    return buf.getvalue().encode(encoding)


def to_xlsx(rows: list[list[Any]], header: list[str] = HEADER) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in [header, *rows]:
        sheet.append(row)
    buf = io.BytesIO()
    workbook.save(buf)
    return buf.getvalue()


def with_(**changes: str) -> list[str]:
    row = dict(zip(HEADER, GOOD, strict=True)) | changes
    return [row[h] for h in HEADER]


def where(result: LedgerParseResult) -> list[tuple[int, str]]:
    return [(e.row, e.column) for e in result.errors]


def all_text(result: LedgerParseResult) -> str:
    return " ".join([*(e.reason for e in result.errors), *result.warnings])


# The sample community --------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> LedgerParseResult:
    return parse_ledger(SAMPLE.read_bytes(), "sample-ledger.csv")


def test_sample_ledger_parses_without_errors(sample: LedgerParseResult) -> None:
    assert sample.errors == [] and sample.warnings == []
    assert len(sample.rows) == sample.total_rows == 1236
    assert Counter(r.unit_type for r in sample.rows) == {"residential": 1169, "shop": 67}
    assert sum(r.unit_type == "residential" and r.status == "vacant" for r in sample.rows) == 187
    assert len({r.unit_key for r in sample.rows}) == 1236
    assert sample.columns["floor_area_m2"] == "建筑面积"


def test_sample_rows_are_read_exactly(sample: LedgerParseResult) -> None:
    by_key = {r.unit_key: r for r in sample.rows}
    home = by_key["1栋/1单元/301"]
    assert home.row == 6 and home.floor_area_m2 == Decimal("68.00")
    assert (home.parking_space, home.parking_monthly_fen) == ("B346", 30000)
    assert (home.opening_arrears_fen, home.arrears_first_month) == (221000, date(2023, 12, 1))
    assert home.handover_date == date(2019, 6, 30) and home.owner_phone == "13712322445"
    shop = by_key["商业1区/-/S001"]
    assert (shop.entrance, shop.unit_type, shop.payer) == (None, "shop", "tenant")
    assert shop.tenant_name == "姜欣" and shop.opening_arrears_fen == 76800
    first = sample.rows[0]
    assert (first.row, first.unit_key, first.arrears_first_month) == (2, "1栋/1单元/101", None)
    assert first.parking_monthly_fen is None and first.opening_arrears_fen == 0


# Mistakes -------------------------------------------------------------------------------


EXPECTED_MISTAKES = [
    (3, "建筑面积"),  # 98.5㎡
    (4, "建筑面积"),  # 98,5
    (5, "建筑面积"),  # -3
    (6, "建筑面积"),  # 0
    (7, "建筑面积"),  # abc
    (8, "建筑面积"),  # 98.555
    (9, "房屋状态"),  # 入住
    (9, "房屋类型"),  # 别墅
    (9, "缴费责任人"),  # 物业
    (10, "房号"),  # empty
    (10, "楼栋"),  # empty
    (11, "交房日期"),  # 2019.06.30
    (12, "交房日期"),  # 2019-02-30
    (13, "期初欠费金额"),  # ¥100
    (14, "期初欠费金额"),  # 100元
    (15, "欠费起始月"),  # arrears without a month
    (16, "欠费起始月"),  # a month without arrears
    (17, "欠费起始月"),  # 2024-13
    (18, "业主电话"),  # ten digits
    (19, "租户电话"),  # starts with 12
    (20, "租户姓名"),  # tenant pays, no tenant
    (21, "缴费责任人"),  # developer pays for a sold unit
    (22, "车位号"),  # parking fee without a space
    (23, "房号"),  # duplicate of row 2
    (24, "车位月租金"),  # negative
    (27, "业主姓名"),  # owner pays, no owner
]


def test_each_kind_of_mistake_is_reported_at_its_row_and_column() -> None:
    result = parse_ledger((DATA / "bad-rows.csv").read_bytes(), "bad-rows.csv")
    assert where(result) == EXPECTED_MISTAKES
    assert [r.row for r in result.rows] == [2, 25, 26, 28, 30]
    assert result.total_rows == 28  # row 29 is blank


def test_reasons_quote_the_bad_value_and_say_what_is_expected() -> None:
    result = parse_ledger((DATA / "bad-rows.csv").read_bytes(), "bad-rows.csv")
    reasons = {(e.row, e.column): e.reason for e in result.errors}
    assert "'98.5㎡'" in reasons[3, "建筑面积"] and "no units" in reasons[3, "建筑面积"]
    assert "not a real calendar date" in reasons[12, "交房日期"]
    assert "greater than 0" in reasons[6, "建筑面积"]
    assert "2 decimal places" in reasons[8, "建筑面积"]
    assert "'别墅'" in reasons[9, "房屋类型"] and "住宅" in reasons[9, "房屋类型"]
    assert "YYYY-MM-DD" in reasons[11, "交房日期"]
    assert "'¥100'" in reasons[13, "期初欠费金额"]
    assert reasons[23, "房号"] == "duplicate room '1栋/1单元/101': same as row 2"


def test_tolerated_spellings_are_normalised() -> None:
    result = parse_ledger((DATA / "bad-rows.csv").read_bytes(), "bad-rows.csv")
    row = next(r for r in result.rows if r.row == 25)
    assert row.floor_area_m2 == Decimal("98.50") and row.owner_phone == "13812345678"
    assert row.tenant_phone == "0571-88886666" and row.opening_arrears_fen == 221000
    assert (row.arrears_first_month, row.handover_date) == (date(2023, 12, 1), date(2019, 6, 30))
    unsold = next(r for r in result.rows if r.row == 26)
    assert (unsold.payer, unsold.status, unsold.owner_name) == ("developer", "unsold", None)
    assert next(r for r in result.rows if r.row == 28).owner_phone == "13812345678"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812345678", "13812345678"),
        ("+8613812345678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("010-12345678", "010-12345678"),
        ("01012345678", "010-12345678"),
        ("02087654321", "020-87654321"),
        ("0571-8888666", "0571-8888666"),
        ("075588886666", "0755-88886666"),
        ("12812345678", None),
        ("1381234567", None),
        ("+8601012345678", None),
        ("010-12345678-123", None),
        ("138123456789", None),
    ],
)
def test_phone_numbers(raw: str, expected: str | None) -> None:
    result = parse_ledger(to_csv([with_(业主电话=raw)]), "l.csv")
    if expected is None:
        assert where(result) == [(2, "业主电话")]
        assert raw not in all_text(result)
    else:
        assert result.rows[0].owner_phone == expected


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        ("98.50", True),
        (" 98.5 ", True),
        ("１２０", True),
        ("98.500", True),
        ("1,098.5", False),
        ("98.5㎡", False),
        ("98,5", False),
        ("-3", False),
        ("0", False),
        ("abc", False),
        ("98.555", False),
        ("1e3", False),
        ("NaN", False),
        ("", False),
    ],
)
def test_floor_area(raw: str, ok: bool) -> None:
    result = parse_ledger(to_csv([with_(建筑面积=raw)]), "l.csv")
    assert where(result) == ([] if ok else [(2, "建筑面积")])


@pytest.mark.parametrize(
    ("raw", "fen"),
    [
        ("2210", 221000),
        ("2,210.00", 221000),
        ("1,234,567.8", 123456780),
        ("0.01", 1),
        ("¥100", None),
        ("100元", None),
        ("2,21", None),
        ("1.234", None),
        ("-5", None),
    ],
)
def test_opening_arrears(raw: str, fen: int | None) -> None:
    result = parse_ledger(to_csv([with_(期初欠费金额=raw, 欠费起始月="2024-01")]), "l.csv")
    if fen is None:
        assert where(result) == [(2, "期初欠费金额")]
    else:
        assert result.rows[0].opening_arrears_fen == fen


def test_zero_arrears_need_no_month_and_zero_parking_fee_needs_no_space() -> None:
    result = parse_ledger(to_csv([with_(期初欠费金额="0.00", 车位月租金="0")]), "l.csv")
    assert result.errors == []
    assert (result.rows[0].opening_arrears_fen, result.rows[0].parking_monthly_fen) == (0, None)


def test_an_unquoted_thousands_comma_is_a_row_error_not_shifted_values() -> None:
    data = (
        to_csv([GOOD]) + "1栋,1单元,102,住宅,98.50,已入住,,,,,,业主,,,2,210.00,2024-01\r\n".encode()
    )
    result = parse_ledger(data, "l.csv")
    assert where(result) == [(3, "")] and "unquoted comma" in result.errors[0].reason
    assert len(result.rows) == 1 and result.total_rows == 2


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_rows_with_errors_are_given_back_as_uploaded_with_personal_data_masked(
    kind: str,
) -> None:
    """The console shows a bad row's cells beside its errors, for CSV and XLSX alike: the
    spreadsheet's row number, each labelled cell by its header, names and phones masked."""
    bad = with_(房号="102", 建筑面积="98.5平", 业主电话="13900001111")
    rows = [GOOD, bad, with_(房号="103")]
    data = to_csv(rows) if kind == "csv" else to_xlsx(rows)
    result = parse_ledger(data, f"l.{kind}")
    assert [r.row for r in result.rejected] == [3] and where(result) == [(3, "建筑面积")]
    cells = result.rejected[0].cells
    assert (cells["楼栋"], cells["房号"], cells["建筑面积"]) == ("1栋", "102", "98.5平")
    assert (cells["业主姓名"], cells["业主电话"]) == ("王**", "139****1111")
    assert cells["租户姓名"] == "" and list(cells) == HEADER
    assert parse_ledger(to_csv([GOOD]), "l.csv").rejected == []


# Files and headers ------------------------------------------------------------------------


def test_gbk_csv_is_detected_and_reported() -> None:
    result = parse_ledger((DATA / "gbk-ledger.csv").read_bytes(), "gbk-ledger.csv")
    assert result.errors == [] and len(result.rows) == 2
    assert result.rows[0].unit_key == "商业1区/-/S001" and result.rows[0].tenant_name == "姜欣"
    assert any("GB18030" in w for w in result.warnings)


def test_utf8_with_bom_reads_the_first_header() -> None:
    result = parse_ledger(b"\xef\xbb\xbf" + to_csv([GOOD]), "l.csv")
    assert result.errors == [] and result.columns["building"] == "楼栋"


@pytest.mark.parametrize(
    ("data", "filename", "word"),
    [
        (b"\xff\xfe1\x002\x00", "l.csv", "UTF-16"),
        (b"\x81\x20\xff\xfe\x80", "l.csv", "GB18030"),
        (b"", "l.csv", "empty"),
        (b"PK\x03\x04 not really", "l.csv", ".xlsx"),
        (to_csv([GOOD]), "l.xlsx", "not an Excel"),
        (b"PK\x03\x04 broken zip", "l.xlsx", "damaged"),
        (b"\xd0\xcf\x11\xe0 old excel", "l.xls", ".xls"),
        (to_csv([GOOD]), "ledger.txt", "unsupported"),
        (to_csv([GOOD]), "ledger", "unsupported"),
    ],
)
def test_unreadable_files_are_one_file_level_error(data: bytes, filename: str, word: str) -> None:
    result = parse_ledger(data, filename)
    assert result.rows == [] and where(result) == [(1, "")]
    assert word in result.errors[0].reason


LIMITS = UploadLimits(max_rows=10, max_columns=20, max_cell_chars=50)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_files_past_the_limits_are_refused_as_they_are_read(fmt: str) -> None:
    def file(rows: list[list[Any]]) -> bytes:
        return to_csv(rows) if fmt == "csv" else to_xlsx(rows)

    name = f"l.{fmt}"
    assert parse_ledger(file([GOOD] * 9), name, LIMITS).total_rows == 9
    with pytest.raises(UploadRefused) as rows:
        parse_ledger(file([with_(房号=str(n)) for n in range(10)]), name, LIMITS)
    assert (rows.value.status_code, rows.value.row) == (413, 11)
    with pytest.raises(UploadRefused) as cell:
        parse_ledger(file([GOOD, with_(业主姓名="王" * 51)]), name, LIMITS)
    assert (cell.value.status_code, cell.value.row, cell.value.column) == (422, 3, 8)
    with pytest.raises(UploadRefused) as columns:
        parse_ledger(file([GOOD, [*GOOD, *[""] * 4, "x"]]), name, LIMITS)
    assert (columns.value.status_code, columns.value.row) == (422, 3)


def test_an_xlsx_bomb_is_refused_before_openpyxl_reads_it() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"<c>" + bytes(30 * 1024 * 1024))
    with pytest.raises(UploadRefused) as bomb:
        parse_ledger(buffer.getvalue(), "l.xlsx", LIMITS)
    assert bomb.value.status_code == 413 and "fold" in str(bomb.value.detail)


def test_xlsx_with_date_and_number_cells() -> None:
    header = ["房间号", "楼号", "单元号", "物业类型", "面积(㎡)", "状态", "交付日期", "业主"]
    header += ["手机号", "缴费人", "车位", "车位费(元)", "欠费金额", "欠费开始月份"]
    good = [101, "1栋", "1单元", "住宅", 98.5, "已入住", datetime(2019, 6, 30), "王小明"]
    good += [13812345678, "业主", "B001", 300, 2210.0, datetime(2023, 12, 1)]
    rows: list[list[Any]] = [good, [None] * len(header), list(good)]
    rows[2][0], rows[2][4], rows[2][6], rows[2][13] = 102, 120, 43646, datetime(2023, 12, 15)
    later = list(good)
    later[0], later[6] = datetime(2024, 1, 1), datetime(2019, 6, 30, 9, 30)
    result = parse_ledger(to_xlsx([*rows, later], header), "community.XLSX")
    assert where(result) == [(4, "交付日期"), (4, "欠费开始月份"), (5, "交付日期"), (5, "房间号")]
    assert result.total_rows == 3 and result.warnings == []
    row = result.rows[0]
    assert (row.unit_key, row.floor_area_m2, row.handover_date) == (
        "1栋/1单元/101",
        Decimal("98.50"),
        date(2019, 6, 30),
    )
    assert (row.owner_phone, row.parking_monthly_fen) == ("13812345678", 30000)
    assert (row.opening_arrears_fen, row.arrears_first_month) == (221000, date(2023, 12, 1))


def test_header_variants_in_another_order() -> None:
    header = ["缴费责任人", " 房屋类型\u3000", "房号", "* 楼栋", "建筑面积（m²）", "房屋状态"]
    header += ["单元", "联系电话", "姓名", "期初欠费", "欠费起始月份"]
    row = ["业主", "住宅", "101", "1栋", "98.50", "已入住", "1单元", "13812345678", "王小明"]
    result = parse_ledger(to_csv([[*row, "100", "2024-01"]], header), "l.csv")
    assert result.errors == [] and result.warnings == []
    assert result.columns["floor_area_m2"] == "建筑面积（m²）"
    assert result.columns["unit_type"] == "房屋类型"
    assert result.rows[0].unit_key == "1栋/1单元/101" and result.rows[0].owner_name == "王小明"
    assert (result.rows[0].opening_arrears_fen, result.rows[0].handover_date) == (10000, None)


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("楼栋号", "building"),
        ("户号", "room"),
        ("类型", "unit_type"),
        ("面积", "floor_area_m2"),
        ("建筑面积(㎡)", "floor_area_m2"),
        ("车位月租金(元)", "parking_monthly_fen"),
        ("业主电话", "owner_phone"),
        ("手机号", "owner_phone"),
        ("欠费开始月份", "arrears_first_month"),
        ("备注", None),
        ("面积差", None),
    ],
)
def test_header_aliases(header: str, field: str | None) -> None:
    assert field_for_header(header) == field


def test_missing_required_columns_stop_the_import() -> None:
    header = [h for h in HEADER if h not in ("建筑面积", "缴费责任人")]
    rows = [[v for h, v in zip(HEADER, GOOD, strict=True) if h in header]]
    result = parse_ledger(to_csv(rows, header), "l.csv")
    assert result.rows == [] and where(result) == [(1, "建筑面积"), (1, "缴费责任人")]
    assert "required column 建筑面积 is missing" in result.errors[0].reason
    assert result.total_rows == 1


def test_duplicate_header_stops_the_import() -> None:
    header = [*HEADER, "联系电话"]
    result = parse_ledger(to_csv([[*GOOD, "13900000000"]], header), "l.csv")
    assert result.rows == [] and where(result) == [(1, "联系电话")]
    assert "repeats column '业主电话'" in result.errors[0].reason
    same = parse_ledger(to_csv([[*GOOD, "98"]], [*HEADER, "建筑面积"]), "l.csv")
    assert where(same) == [(1, "建筑面积")]


def test_unknown_columns_are_ignored_with_a_warning() -> None:
    result = parse_ledger(to_csv([[*GOOD, "VIP", "x"]], [*HEADER, "备注", "客户等级"]), "l.csv")
    assert result.errors == [] and len(result.rows) == 1
    assert result.warnings == ["unknown columns ignored: '备注', '客户等级'"]


def test_cells_without_a_header_are_ignored_with_a_warning() -> None:
    result = parse_ledger(to_xlsx([[*GOOD, "stray"]]), "l.xlsx")
    assert result.errors == [] and len(result.rows) == 1
    assert result.warnings == ["some cells are in columns without a header and were ignored"]


def test_duplicate_rooms_keep_the_first() -> None:
    other = with_(房号="102")
    shop = with_(楼栋="商业1区", 单元="", 房号="S001", 房屋类型="商铺")
    shop_again = with_(楼栋="商业1区", 单元="-", 房号="S001", 房屋类型="商铺")
    rows = [GOOD, other, GOOD, with_(房号="１０１"), shop, shop_again]
    result = parse_ledger(to_csv(rows), "l.csv")
    assert where(result) == [(4, "房号"), (5, "房号"), (7, "房号")]
    assert [e.reason.rsplit(" ", 1)[-1] for e in result.errors] == ["2", "2", "6"]
    assert [r.row for r in result.rows] == [2, 3, 6]


def test_personal_data_never_appears_unmasked() -> None:
    rows = [
        with_(业主姓名="欧阳娜娜", 业主电话="1391234567"),
        with_(房号="102", 租户姓名="司马光", 租户电话="0571-123", 缴费责任人="租户"),
        with_(房号="103", 业主电话="+86 139 1234 56789"),
        with_(房号="104", 缴费责任人="诸葛亮", 建筑面积="13912345678㎡"),
    ]
    result = parse_ledger(to_csv(rows), "l.csv")
    assert where(result) == [
        (2, "业主电话"),
        (3, "租户电话"),
        (4, "业主电话"),
        (5, "建筑面积"),
        (5, "缴费责任人"),
    ]
    text = all_text(result)
    for secret in ("欧阳娜娜", "司马光", "1391234567", "0571-123", "123456789", "诸葛亮"):
        assert secret not in text
    assert "1*" in result.errors[0].reason
    headerless = parse_ledger(to_csv([GOOD], header=with_(房号="100")), "l.csv")
    assert "王小明" not in all_text(headerless) and "13812345678" not in all_text(headerless)
    assert headerless.rows == [] and "required column" in headerless.errors[0].reason


# Volume and round trips -------------------------------------------------------------------


def generated(n: int) -> list[list[str]]:
    """n homes in 10-storey buildings; every 100th has an area written with a unit."""
    rows = []
    for i in range(n):
        area = "98.5㎡" if i % 100 == 99 else f"{60 + i % 90}.50"
        room = f"{i % 40 // 4 + 1}0{i % 4 + 1}"
        rows.append(with_(楼栋=f"{i // 80 + 1}栋", 单元=f"{i % 80 // 40 + 1}单元", 房号=room))
        rows[-1][4] = area
    return rows


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_five_thousand_rows(fmt: str) -> None:
    rows = generated(5000)
    data = to_csv(rows) if fmt == "csv" else to_xlsx(rows)
    result = parse_ledger(data, f"big.{fmt}")
    assert result.total_rows == 5000 and len(result.rows) == 4950 and len(result.errors) == 50
    assert {e.column for e in result.errors} == {"建筑面积"}


NAMES = st.text(alphabet="张王李赵刘陈杨黄周吴伟芳娜敏静丽强磊军洋", min_size=2, max_size=4)
PHONES = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True) | st.from_regex(
    r"0(10|2[0-9]|[3-9][0-9]{2})-[1-9][0-9]{6,7}", fullmatch=True
)


@st.composite
def valid_rows(draw: st.DrawFn) -> tuple[list[str], dict[str, Any]]:
    status = draw(st.sampled_from(["已入住", "空置", "未售"]))
    payers = ["业主", "租户", "开发商"] if status == "未售" else ["业主", "租户"]
    payer = draw(st.sampled_from(payers))
    owner = draw(NAMES) if payer == "业主" or draw(st.booleans()) else ""
    tenant = draw(NAMES) if payer == "租户" or draw(st.booleans()) else ""
    area = draw(st.decimals(Decimal("0.01"), Decimal("99999.99"), places=2))
    space = draw(st.sampled_from(["", "B001", "地下2-117"]))
    fee = draw(st.integers(1, 10**7)) if space and draw(st.booleans()) else 0
    arrears = draw(st.integers(0, 10**9))
    month = draw(st.dates(date(2015, 1, 1), date(2030, 12, 1))).replace(day=1)
    handover = draw(st.none() | st.dates(date(1990, 1, 1), date(2030, 12, 31)))
    unit_type = draw(
        st.sampled_from(["住宅", "商铺", "办公", "写字楼", "车位", "储藏室", "储物间"])
    )
    entrance = draw(st.sampled_from(["", "1单元", "12单元"]))
    phones = [draw(PHONES) if name and draw(st.booleans()) else "" for name in (owner, tenant)]
    cells = [draw(st.from_regex(r"[1-9][0-9]?栋", fullmatch=True)), entrance]
    cells += [draw(st.from_regex(r"[1-9][0-9]{2,3}", fullmatch=True)), unit_type, f"{area}"]
    cells += [status, handover.isoformat() if handover else "", owner, phones[0], tenant]
    cells += [phones[1], payer, space, f"{fee // 100}.{fee % 100:02d}" if fee else ""]
    cells += [f"{arrears // 100:,}.{arrears % 100:02d}" if arrears else ""]
    cells += [f"{month:%Y-%m}" if arrears else ""]
    expected = {
        "entrance": entrance or None,
        "floor_area_m2": area,
        "handover_date": handover,
        "owner_name": owner or None,
        "owner_phone": phones[0] or None,
        "tenant_name": tenant or None,
        "tenant_phone": phones[1] or None,
        "parking_space": space or None,
        "parking_monthly_fen": fee or None,
        "opening_arrears_fen": arrears,
        "arrears_first_month": month if arrears else None,
    }
    return cells, expected


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_rows(), st.sampled_from(["csv", "xlsx"]))
def test_any_valid_row_round_trips(case: tuple[list[str], dict[str, Any]], fmt: str) -> None:
    cells, expected = case
    data = to_csv([cells], encoding="gb18030") if fmt == "csv" else to_xlsx([cells])
    result = parse_ledger(data, f"l.{fmt}")
    assert result.errors == []
    row: LedgerRow = result.rows[0]
    assert row.unit_key == f"{cells[0]}/{cells[1] or '-'}/{cells[2]}"
    assert {k: getattr(row, k) for k in expected} == expected


@pytest.mark.parametrize("header", ["期初违约金", "历史违约金", "期初滞纳金（元）"])
def test_the_old_systems_late_fee_is_an_optional_column_read_as_a_fixed_amount(
    header: str,
) -> None:
    row = with_(期初欠费金额="2210.00", 欠费起始月="2024-01")
    result = parse_ledger(to_csv([[*row, "123.45"]], [*HEADER, header]), "l.csv")
    assert result.errors == [] and result.rows[0].opening_late_fee_fen == 12345
    without = parse_ledger(to_csv([row]), "l.csv")
    assert without.rows[0].opening_late_fee_fen == 0
    bad = parse_ledger(to_csv([[*row, "12元"]], [*HEADER, header]), "l.csv")
    assert where(bad) == [(2, header)]
