"""Import of a community ledger (台账): parse and validate, never guess. Pure, no I/O.

Real ledgers differ in headers and column order and contain mistakes (duplicate rooms,
areas written with units, phones with spaces). A wrong area or a missing arrears month
silently imported becomes a wrong bill months later, so a questionable value is reported
with its row and column and the row is left out; the clerk fixes the file and uploads again.
Names and phones are personal data (PIPL): they appear in messages only masked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal, TypeVar, cast

from billing.domain.ledger_formats import (
    CANONICAL_HEADERS,
    Cell,
    CellError,
    ColumnMap,
    LedgerFileError,
    is_blank,
    map_columns,
    read_choice,
    read_date,
    read_decimal,
    read_month,
    read_phone,
    read_table,
    read_text,
)
from propfee.masking import mask_text, mask_value
from propfee.money import yuan_to_fen
from propfee.uploads import UploadLimits

UnitType = Literal["residential", "shop", "office", "parking", "storage"]
UnitStatus = Literal["occupied", "vacant", "unsold"]
PayerRole = Literal["owner", "tenant", "developer"]

UNIT_TYPE_WORDS: dict[str, str] = {
    "住宅": "residential",
    "商铺": "shop",
    "办公": "office",
    "写字楼": "office",
    "车位": "parking",
    "储藏室": "storage",
    "储物间": "storage",
}
STATUS_WORDS: dict[str, str] = {"已入住": "occupied", "空置": "vacant", "未售": "unsold"}
PAYER_WORDS: dict[str, str] = {"业主": "owner", "租户": "tenant", "开发商": "developer"}


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One valid household (unit) of the ledger, in domain terms; money in integer fen."""

    row: int
    building: str
    entrance: str | None
    room: str
    unit_type: UnitType
    floor_area_m2: Decimal
    status: UnitStatus
    handover_date: date | None
    owner_name: str | None
    owner_phone: str | None
    tenant_name: str | None
    tenant_phone: str | None
    payer: PayerRole
    parking_space: str | None
    parking_monthly_fen: int | None
    opening_arrears_fen: int
    arrears_first_month: date | None
    #: 期初违约金: late fees the old system charged and were not paid, a fixed amount that is
    #: imported as its own line and never recomputed (0: none).
    opening_late_fee_fen: int = 0

    @property
    def unit_key(self) -> str:
        """The natural key the database import upserts on: building/entrance/room."""
        return unit_key(self.building, self.entrance, self.room)


def unit_key(building: str, entrance: str | None, room: str) -> str:
    return f"{building}/{entrance or '-'}/{room}"


@dataclass(frozen=True, slots=True)
class RowError:
    """A problem the clerk can fix: row 1 for the whole file; column '' for a whole row."""

    row: int
    column: str
    reason: str


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row with errors as the clerk uploaded it, to show beside its errors: each labelled
    cell under its header, as text (names and phones masked, long values cut)."""

    row: int
    cells: dict[str, str]


#: Columns of personal data: shown masked (PIPL), like the reasons that quote them.
PERSONAL = frozenset({"owner_name", "owner_phone", "tenant_name", "tenant_phone"})


@dataclass(frozen=True)
class LedgerParseResult:
    rows: list[LedgerRow]
    errors: list[RowError]
    warnings: list[str]
    columns: dict[str, str]
    total_rows: int
    rejected: list[RejectedRow] = field(default_factory=list)


def shown_cells(cells: list[Cell], cols: ColumnMap) -> dict[str, str]:
    """A row's labelled cells as the clerk sees them in the spreadsheet, by header."""
    out: dict[str, str] = {}
    for name, index in cols.index.items():
        cell = cells[index] if index < len(cells) else None
        if is_blank(cell):
            text = ""
        elif isinstance(cell, date):
            text = cell.isoformat()
        elif isinstance(cell, Decimal):
            text = format(cell, "f")
        else:
            text = str(cell).strip()
        text = mask_value(text) if name in PERSONAL else mask_text(text)
        out[cols.headers[name]] = text if len(text) <= 60 else text[:60] + "…"
    return out


def parse_ledger(
    data: bytes, filename: str, limits: UploadLimits | None = None
) -> LedgerParseResult:
    """Read a ledger CSV or XLSX; good rows are returned, every problem is reported.

    A file-level problem (unreadable file, missing or ambiguous columns) returns no rows,
    because no row of such a file can be trusted.
    """
    try:
        table = read_table(data, filename, limits)
    except LedgerFileError as exc:
        return LedgerParseResult([], [RowError(1, "", str(exc))], [], {}, 0)
    cols = map_columns(table.header)
    warnings = list(cols.warnings)
    if table.encoding == "gb18030":
        warnings.insert(0, "the CSV was read as GBK/GB18030 (Chinese Windows encoding)")
    if cols.errors:
        errors = [RowError(1, c, r) for c, r in cols.errors]
        return LedgerParseResult([], sorted(errors, key=_order), warnings, {}, len(table.rows))
    rows: list[LedgerRow] = []
    errors = []
    rejected: list[RejectedRow] = []
    first_seen: dict[str, int] = {}
    unlabelled = False
    for number, cells in table.rows:
        extra = any(not is_blank(c) for i, c in enumerate(cells) if i not in cols.labelled)
        if extra and table.kind == "csv" and len(cells) > len(table.header):
            reason = (
                f"the row has {len(cells)} values but the header has {len(table.header)} "
                "columns; a value probably contains an unquoted comma (write 2210.00, not "
                "2,210.00, or quote it)"
            )
            errors.append(RowError(number, "", reason))
            rejected.append(RejectedRow(number, shown_cells(cells, cols)))
            continue
        unlabelled = unlabelled or extra
        reader = _RowReader(number, cells, cols)
        row = reader.parse()
        key = reader.key
        if key is not None:
            if key in first_seen:
                reader.error("room", f"duplicate room {key!r}: same as row {first_seen[key]}")
            else:
                first_seen[key] = number
        errors.extend(reader.errors)
        if reader.errors:
            rejected.append(RejectedRow(number, shown_cells(cells, cols)))
        if row is not None and not reader.errors:
            rows.append(row)
    if unlabelled:
        warnings.append("some cells are in columns without a header and were ignored")
    columns = {f: cols.headers[f] for f in cols.index}
    return LedgerParseResult(
        rows, sorted(errors, key=_order), warnings, columns, len(table.rows), rejected
    )


def _order(error: RowError) -> tuple[int, str]:
    return (error.row, error.column)


T = TypeVar("T")


@dataclass
class _RowReader:
    """Reads one row, collecting every problem in it rather than stopping at the first."""

    number: int
    cells: list[Cell]
    cols: ColumnMap
    errors: list[RowError] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)
    key: str | None = None

    def cell(self, name: str) -> Cell:
        index = self.cols.index.get(name)
        return self.cells[index] if index is not None and index < len(self.cells) else None

    def error(self, name: str, reason: str) -> None:
        header = self.cols.headers.get(name, CANONICAL_HEADERS[name])
        self.errors.append(RowError(self.number, header, reason))

    def read(
        self, name: str, parse: Callable[[Cell], T], what: str, need: bool = False
    ) -> T | None:
        cell = self.cell(name)
        if is_blank(cell):
            if need:
                self.error(name, f"{what} is required but empty")
            return None
        try:
            return parse(cell)
        except CellError as exc:
            self.failed.add(name)
            self.error(name, str(exc))
            return None

    def money(self, name: str, what: str) -> int | None:
        def parse(c: Cell) -> int:
            return yuan_to_fen(read_decimal(c, what=what, positive=False, thousands=True))

        return self.read(name, parse, what)

    def parse(self) -> LedgerRow | None:
        text = read_text
        building = self.read("building", text, "building", need=True)
        entrance = self.read("entrance", text, "entrance")
        entrance = None if entrance == "-" else entrance
        room = self.read("room", text, "room", need=True)
        for name, part in (("building", building), ("entrance", entrance), ("room", room)):
            if part and "/" in part:
                self.error(name, f"{name} {part!r} must not contain '/'; one unit per row")
        if building and room:
            self.key = unit_key(building, entrance, room)

        def choice(
            words: dict[str, str], what: str, personal: bool = False
        ) -> Callable[[Cell], str]:
            return lambda c: read_choice(c, words, what=what, personal=personal)

        unit_type = self.read("unit_type", choice(UNIT_TYPE_WORDS, "unit type"), "unit type", True)
        area = self.read(
            "floor_area_m2",
            lambda c: read_decimal(c, what="floor area", positive=True, thousands=False),
            "floor area",
            need=True,
        )
        status = self.read("status", choice(STATUS_WORDS, "status"), "status", need=True)
        handover = self.read(
            "handover_date", lambda c: read_date(c, what="handover date"), "handover date"
        )
        owner_name = self.read("owner_name", text, "owner name")
        owner_phone = self.read("owner_phone", lambda c: read_phone(c, what="owner phone"), "phone")
        tenant_name = self.read("tenant_name", text, "tenant name")
        tenant_phone = self.read(
            "tenant_phone", lambda c: read_phone(c, what="tenant phone"), "phone"
        )
        payer = self.read("payer", choice(PAYER_WORDS, "payer", True), "payer", need=True)
        space = self.read("parking_space", text, "parking space")
        parking_fen = self.money("parking_monthly_fen", "monthly parking fee")
        arrears_fen = self.money("opening_arrears_fen", "opening arrears")
        month = self.read(
            "arrears_first_month", lambda c: read_month(c, what="first unpaid month"), "month"
        )
        late_fee_fen = self.money("opening_late_fee_fen", "opening late fee")
        if payer == "tenant" and not tenant_name:
            self.error("tenant_name", "the payer is 租户 (tenant) but the tenant name is empty")
        if payer == "owner" and not owner_name:
            self.error("owner_name", "the payer is 业主 (owner) but the owner name is empty")
        if payer == "developer" and status not in (None, "unsold"):
            self.error(
                "payer", "the payer 开发商 (developer) is allowed only for 未售 (unsold) units"
            )
        if arrears_fen and month is None and "arrears_first_month" not in self.failed:
            self.error(
                "arrears_first_month", "opening arrears need the first unpaid month (YYYY-MM)"
            )
        if month is not None and not arrears_fen and "opening_arrears_fen" not in self.failed:
            reason = "a first unpaid month is given but there are no opening arrears"
            self.error("arrears_first_month", reason)
        if parking_fen and not space:
            self.error("parking_space", "a monthly parking fee is given but no parking space")
        if self.errors or not (building and room and unit_type and area and status and payer):
            return None
        return LedgerRow(
            row=self.number,
            building=building,
            entrance=entrance,
            room=room,
            unit_type=cast(UnitType, unit_type),
            floor_area_m2=area,
            status=cast(UnitStatus, status),
            handover_date=handover,
            owner_name=owner_name,
            owner_phone=owner_phone,
            tenant_name=tenant_name,
            tenant_phone=tenant_phone,
            payer=cast(PayerRole, payer),
            parking_space=space,
            parking_monthly_fen=parking_fen if space else None,
            opening_arrears_fen=arrears_fen or 0,
            arrears_first_month=month,
            opening_late_fee_fen=late_fee_fen or 0,
        )
