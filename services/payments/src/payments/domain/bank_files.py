"""Bank withholding (银行代扣) result files: the CSV layout payments reads.

UTF-8 (a BOM is allowed), one header line, then one line per debit instruction::

    batch_no,serial_no,community_id,unit_id,payer_party_id,invoice_ids,amount,currency,result,bank_reference,debited_at,failure_reason

- ``batch_no`` + ``serial_no``: the instruction; unique, the idempotency key of the row.
- ``invoice_ids``: the invoices debited, separated by ``|`` (may be empty: on account).
- ``amount``: yuan with at most two decimals (``275.80``); ``currency``: ``CNY``.
- ``result``: ``SUCCESS`` (money taken) or ``FAILED`` (``failure_reason`` says why).
- ``debited_at``: ``YYYY-MM-DD HH:MM:SS`` in Asia/Shanghai.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from payments.domain.orders import SHANGHAI
from propfee.money import MoneyError, yuan_to_fen

COLUMNS = (
    "batch_no,serial_no,community_id,unit_id,payer_party_id,invoice_ids,amount,currency,"
    "result,bank_reference,debited_at,failure_reason"
).split(",")


@dataclass(frozen=True, slots=True)
class Debit:
    line: int
    batch_no: str
    serial_no: str
    community_id: str
    unit_id: str
    payer_party_id: str
    invoice_ids: tuple[str, ...]
    amount_fen: int
    succeeded: bool
    bank_reference: str
    debited_at: datetime
    failure_reason: str

    @property
    def dedup_key(self) -> str:
        return f"bank_withholding:{self.batch_no}:{self.serial_no}"


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    column: str
    reason: str


def parse_withholding_file(text: str) -> tuple[list[Debit], list[RowError]]:
    """Every row read, or an error naming the line, the column and why."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        return [], [RowError(1, ",".join(missing), "missing column(s) in the header")]
    debits: list[Debit] = []
    errors: list[RowError] = []
    for line, row in enumerate(reader, start=2):
        try:
            debits.append(_debit(line, row))
        except _Bad as bad:
            errors.append(RowError(line, bad.column, bad.reason))
    return debits, errors


class _Bad(Exception):
    def __init__(self, column: str, reason: str) -> None:
        self.column, self.reason = column, reason


def _debit(line: int, row: dict[str, str]) -> Debit:
    values = {k: (row.get(k) or "").strip() for k in COLUMNS}
    for column in ("batch_no", "serial_no", "community_id", "unit_id", "payer_party_id"):
        if not values[column]:
            raise _Bad(column, "required")
    if values["currency"] != "CNY":
        raise _Bad("currency", f"only CNY, got {values['currency']!r}")
    if values["result"] not in ("SUCCESS", "FAILED"):
        raise _Bad("result", "SUCCESS or FAILED")
    try:
        amount = yuan_to_fen(values["amount"])
    except MoneyError:
        raise _Bad("amount", f"not an amount in yuan: {values['amount']!r}") from None
    if amount <= 0:
        raise _Bad("amount", "must be positive")
    if "." in values["amount"] and len(values["amount"].split(".")[1]) > 2:
        raise _Bad("amount", "at most two decimals (fen)")
    try:
        at = datetime.strptime(values["debited_at"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
    except ValueError:
        raise _Bad("debited_at", "expected YYYY-MM-DD HH:MM:SS") from None
    return Debit(
        line=line,
        batch_no=values["batch_no"],
        serial_no=values["serial_no"],
        community_id=values["community_id"],
        unit_id=values["unit_id"],
        payer_party_id=values["payer_party_id"],
        invoice_ids=tuple(i for i in values["invoice_ids"].split("|") if i),
        amount_fen=amount,
        succeeded=values["result"] == "SUCCESS",
        bank_reference=values["bank_reference"],
        debited_at=at,
        failure_reason=values["failure_reason"],
    )
