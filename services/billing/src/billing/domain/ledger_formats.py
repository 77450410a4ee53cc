"""Bytes of a ledger file (台账) -> a table of cells, and cells -> plain values. Pure, no I/O.

Property companies keep their ledgers in Excel and hand them over as XLSX or as CSV, the
CSV often in GB18030 because that is what Chinese Windows Excel writes. The importer must
say precisely why a file or a value cannot be read instead of guessing, so every failure
here is a `LedgerFileError` or a `CellError` whose message a fee clerk can act on.

A file past the upload limits (rows, columns, cell length, an XLSX that inflates too far) is
refused with `propfee.uploads.UploadRefused` as it is read, before it is held whole.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Literal

import openpyxl

from propfee.masking import mask_text, mask_value
from propfee.uploads import UploadLimits, UploadRefused, check_xlsx, limit_rows

#: One cell as read: text, a number (XLSX numeric cells), a date (XLSX date cells) or empty.
Cell = str | Decimal | date | None

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # .xls and password-protected workbooks


class LedgerFileError(ValueError):
    """The file as a whole cannot be read (wrong type, encoding, corrupt workbook)."""


class CellError(ValueError):
    """One value cannot be read; the message is a sentence for the fee clerk."""


@dataclass(frozen=True, slots=True)
class Table:
    """The first row as headers and the other non-blank rows with their spreadsheet numbers."""

    kind: Literal["csv", "xlsx"]
    encoding: str
    header: list[Cell]
    rows: list[tuple[int, list[Cell]]]


def read_table(data: bytes, filename: str, limits: UploadLimits | None = None) -> Table:
    """Decide the format by extension, then check the content agrees before reading it."""
    limits = limits or UploadLimits()
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    is_zip = data.startswith(_ZIP_MAGIC)
    if ext == "xls" or (ext in ("csv", "xlsx") and data.startswith(_OLE_MAGIC)):
        raise LedgerFileError(
            "old Excel (.xls) or password-protected workbooks cannot be read; "
            "save the ledger as .xlsx without a password, or as CSV UTF-8"
        )
    if ext == "csv":
        if is_zip:
            raise LedgerFileError("the file is named .csv but is an Excel workbook; name it .xlsx")
        return _read_csv(data, limits)
    if ext == "xlsx":
        if not is_zip:
            raise LedgerFileError("the file is named .xlsx but is not an Excel workbook")
        return _read_xlsx(data, limits)
    raise LedgerFileError(f"unsupported file type {ext or '(none)'!r}; upload .xlsx or .csv")


def _decode(data: bytes) -> tuple[str, str]:
    """UTF-8 (with or without BOM) first, then GB18030; never a silent lossy decode."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise LedgerFileError("the CSV is UTF-16 ('Unicode text'); save it as CSV UTF-8")
    for codec, name in (("utf-8-sig", "utf-8"), ("gb18030", "gb18030")):
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            raise LedgerFileError("the file contains binary data and is not a CSV text file")
        return text, name
    raise LedgerFileError("the CSV is neither UTF-8 nor GBK/GB18030; save it as CSV UTF-8")


def _read_csv(data: bytes, limits: UploadLimits) -> Table:
    text, encoding = _decode(data)
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "," not in first_line and "\t" in first_line else ","
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        records = list(limit_rows(reader, limits))
    except csv.Error as exc:
        raise LedgerFileError(f"the CSV is malformed: {exc}") from exc
    return _table("csv", encoding, [list[Cell](r) for r in records])


def _read_xlsx(data: bytes, limits: UploadLimits) -> Table:
    check_xlsx(data, limits)
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            sheet = workbook.worksheets[0]
            sheet.reset_dimensions()  # some writers store a wrong size; read what is there
            rows = limit_rows(sheet.iter_rows(values_only=True), limits)
            records = [[_xlsx_cell(v) for v in r] for r in rows]
        finally:
            workbook.close()
    except UploadRefused:
        raise
    except Exception as exc:  # openpyxl raises many unrelated types for a damaged file
        raise LedgerFileError("the Excel workbook is damaged or cannot be read") from exc
    return _table("xlsx", "xlsx", records)


def _xlsx_cell(value: object) -> Cell:
    """Numbers become exact decimals via their shortest repr, as Excel displays them."""
    if value is None or isinstance(value, date):
        return value
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, int | float):
        return Decimal(repr(value))
    if isinstance(value, time):
        return value.isoformat()
    return str(value)


def _table(kind: Literal["csv", "xlsx"], encoding: str, records: list[list[Cell]]) -> Table:
    if not records:
        raise LedgerFileError("the file is empty; the first row must hold the column headers")
    rows = [(n, r) for n, r in enumerate(records[1:], start=2) if not all(map(is_blank, r))]
    return Table(kind, encoding, records[0], rows)


def is_blank(cell: Cell) -> bool:
    return cell is None or (isinstance(cell, str) and not clean(cell))


def clean(text: str) -> str:
    """Full-width forms to ASCII (１０１ -> 101) and no surrounding (full-width) spaces."""
    return unicodedata.normalize("NFKC", text).strip()


def _quote(cell: Cell) -> str:
    """A bad value as the clerk typed it; phone-like parts masked in case it is misplaced."""
    text = mask_text(cell if isinstance(cell, str) else str(cell))
    return repr(text if len(text) <= 40 else text[:40] + "…")


def read_text(cell: Cell) -> str:
    """Text fields (rooms, buildings): a number cell 101 is the text '101'."""
    if isinstance(cell, date):
        raise CellError(f"{cell.isoformat()} is a date cell; format the column as text")
    if isinstance(cell, Decimal):
        return str(int(cell)) if cell == cell.to_integral_value() else format(cell, "f")
    return clean(cell or "")


_PLAIN_NUMBER = re.compile(r"\d+(\.\d+)?")
_THOUSANDS = re.compile(r"\d{1,3}(,\d{3})+(\.\d+)?")


def read_decimal(cell: Cell, *, what: str, positive: bool, thousands: bool) -> Decimal:
    """A plain number, exact to the fen or the hundredth m²; units and signs are refused."""
    text = format(cell, "f") if isinstance(cell, Decimal) else read_text(cell)
    sign = text.startswith("-")
    body = text[1:] if sign else text
    if not (_PLAIN_NUMBER.fullmatch(body) or (thousands and _THOUSANDS.fullmatch(body))):
        unit = (
            "m² such as 98.50 (no units, no commas)"
            if positive
            else "yuan such as 2210.00 (no ¥ or 元)"
        )
        raise CellError(f"{what} {_quote(cell)} is not a plain number of {unit}")
    value = Decimal(body.replace(",", ""))
    if sign and value:
        raise CellError(f"{what} {_quote(cell)} must not be negative")
    if positive and not value:
        raise CellError(f"{what} {_quote(cell)} must be greater than 0")
    if value != value.quantize(Decimal("0.01")):
        raise CellError(f"{what} {_quote(cell)} has more than 2 decimal places")
    return value.quantize(Decimal("0.01"))


_DATE = re.compile(r"(\d{4})([-/])(\d{1,2})\2(\d{1,2})(?: 00:00(?::00)?)?")
_MONTH = re.compile(r"(\d{4})[-/](\d{1,2})")


def read_date(cell: Cell, *, what: str) -> date:
    if isinstance(cell, datetime):
        if cell.time() != time(0):
            raise CellError(f"{what} {_quote(cell)} has a time of day; enter only the date")
        return cell.date()
    if isinstance(cell, date):
        return cell
    match = _DATE.fullmatch(read_text(cell)) if isinstance(cell, str) else None
    if not match:
        raise CellError(f"{what} {_quote(cell)} is not a date written as YYYY-MM-DD")
    try:
        return date(int(match[1]), int(match[3]), int(match[4]))
    except ValueError:
        raise CellError(f"{what} {_quote(cell)} is not a real calendar date") from None


def read_month(cell: Cell, *, what: str) -> date:
    """A month as its first day; a date cell is accepted only on the 1st (Excel's '2023-12')."""
    if isinstance(cell, date):
        day = read_date(cell, what=what)
        if day.day == 1:
            return day
    match = _MONTH.fullmatch(read_text(cell)) if isinstance(cell, str) else None
    if match and 1 <= int(match[2]) <= 12:
        return date(int(match[1]), int(match[2]), 1)
    raise CellError(f"{what} {_quote(cell)} is not a month written as YYYY-MM")


_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0\d{2,3}-?\d{7,8}")


def read_phone(cell: Cell, *, what: str) -> str:
    """Mobiles to 11 digits, landlines to 0xx-xxxxxxxx; the bad value is quoted masked only.

    Without a dash the area code length follows the numbering plan: 010 and 02x have three
    digits, all others four.
    """
    raw = read_text(cell)
    text = re.sub(r"\s", "", raw)
    digits = text.replace("-", "")
    for prefix in ("+86", "0086", "86", ""):
        if digits.startswith(prefix) and _MOBILE.fullmatch(digits[len(prefix) :]):
            return digits[len(prefix) :]
    if digits.isdigit() and 10 <= len(digits) <= 12 and digits.startswith("0"):
        head = text.split("-", 1)[0] if "-" in text else ""
        area = len(head) if 3 <= len(head) <= 4 else (3 if digits[1] in "12" else 4)
        landline = f"{digits[:area]}-{digits[area:]}"
        if _LANDLINE.fullmatch(landline) and 7 <= len(digits) - area <= 8:
            return landline
    raise CellError(
        f"{what} {mask_value(raw)} is neither a mobile number (11 digits starting 13-19) "
        "nor a landline such as 010-12345678"
    )


def read_choice(cell: Cell, words: dict[str, str], *, what: str, personal: bool = False) -> str:
    """One of a fixed set of words; `personal` masks a bad value (a payer cell may hold a name)."""
    text = read_text(cell)
    if text in words:
        return words[text]
    allowed = ", ".join(words)
    shown = repr(mask_value(text)) if personal else _quote(cell)
    raise CellError(f"{what} {shown} is not one of: {allowed}")


_ALIASES: dict[str, tuple[str, ...]] = {  # the first alias is the canonical header
    "building": ("楼栋", "楼号", "栋号", "楼栋号", "楼宇"),
    "entrance": ("单元", "单元号"),
    "room": ("房号", "房间号", "户号", "室号"),
    "unit_type": ("房屋类型", "物业类型", "类型", "房产类型"),
    "floor_area_m2": ("建筑面积", "面积"),
    "status": ("房屋状态", "状态", "入住状态"),
    "handover_date": ("交房日期", "交付日期", "收房日期"),
    "owner_name": ("业主姓名", "业主", "姓名"),
    "owner_phone": ("业主电话", "联系电话", "手机号", "手机号码", "业主手机"),
    "tenant_name": ("租户姓名", "租户"),
    "tenant_phone": ("租户电话", "租户手机"),
    "payer": ("缴费责任人", "缴费人"),
    "parking_space": ("车位号", "车位编号", "车位"),
    "parking_monthly_fen": ("车位月租金", "车位费", "车位月租"),
    "opening_arrears_fen": ("期初欠费金额", "欠费金额", "期初欠费"),
    "arrears_first_month": ("欠费起始月", "欠费开始月份", "欠费起始月份", "欠费开始月"),
    # Late fees the old system already charged and were not paid: imported as a fixed line.
    "opening_late_fee_fen": ("期初违约金", "历史违约金", "欠缴违约金", "期初滞纳金", "历史滞纳金"),
}
REQUIRED_FIELDS = ("building", "room", "unit_type", "floor_area_m2", "status", "payer")
#: Field name -> the Chinese header used when a column is missing from the file.
CANONICAL_HEADERS = {name: aliases[0] for name, aliases in _ALIASES.items()}


def _header_key(text: str) -> str:
    """'* 建筑面积（m²）' and '建筑面积(㎡)' both become '建筑面积(m2)'."""
    return re.sub(r"\s", "", unicodedata.normalize("NFKC", text)).strip("*").lower()


_BY_HEADER = {_header_key(a): name for name, aliases in _ALIASES.items() for a in aliases}


def field_for_header(header: str) -> str | None:
    """Match by name, ignoring a trailing unit in brackets such as (元) or (m²)."""
    key = _header_key(header)
    return _BY_HEADER.get(key) or _BY_HEADER.get(re.sub(r"\(.*\)$", "", key))


@dataclass(frozen=True, slots=True)
class ColumnMap:
    index: dict[str, int]  # field name -> column position
    headers: dict[str, str]  # field name -> header as written
    labelled: frozenset[int]  # positions with any header, known or not
    errors: list[tuple[str, str]]  # (column, reason) for row 1
    warnings: list[str]


def map_columns(header: list[Cell]) -> ColumnMap:
    """Headers by name in any order; a repeated or missing required column stops the import."""
    index: dict[str, int] = {}
    headers: dict[str, str] = {}
    errors: list[tuple[str, str]] = []
    unknown: list[str] = []
    labelled: set[int] = set()
    for position, cell in enumerate(header):
        name = cell.isoformat() if isinstance(cell, date) else str(cell or "").strip()
        if not name:
            continue
        labelled.add(position)
        known = field_for_header(name)
        if known is None:
            unknown.append(name)
        elif known in index:
            first = headers[known]
            errors.append((name, f"column {name!r} repeats column {first!r}; keep only one"))
        else:
            index[known], headers[known] = position, name
    for name in REQUIRED_FIELDS:
        if name not in index:
            canonical = CANONICAL_HEADERS[name]
            reason = f"required column {canonical} is missing; row 1 must hold the headers"
            errors.append((canonical, reason))
    warnings = []
    if unknown and any(n not in index for n in REQUIRED_FIELDS):
        # Row 1 may well be data (names, phones): count the columns, do not quote them.
        warnings.append(f"{len(unknown)} columns in row 1 were not recognised")
    elif unknown:
        names = ", ".join(repr(mask_text(n)) for n in unknown)
        warnings.append(f"unknown columns ignored: {names}")
    return ColumnMap(index, headers, frozenset(labelled), errors, warnings)
