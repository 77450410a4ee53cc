"""Matching a gateway's statement for a day against what payments recorded (对账).

Each side is keyed by (kind, reference): the gateway transaction id for payments, our
out_refund_no for refunds. Results: matched, missing_here (the gateway has it, we do not),
missing_at_gateway (we have it, the gateway does not), amount_mismatch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from payments.domain.statements import StatementRow


@dataclass(frozen=True, slots=True)
class Recorded:
    kind: str
    reference: str
    amount_fen: int


@dataclass(frozen=True, slots=True)
class Line:
    result: str  # matched | missing_here | missing_at_gateway | amount_mismatch
    kind: str
    reference: str
    gateway_fen: int | None
    recorded_fen: int | None


@dataclass(frozen=True, slots=True)
class Summary:
    lines: tuple[Line, ...]
    fee_fen: int
    gateway_payments_fen: int
    gateway_refunds_fen: int

    def count(self, result: str) -> int:
        return sum(1 for line in self.lines if line.result == result)


def reconcile(statement: Iterable[StatementRow], recorded: Iterable[Recorded]) -> Summary:
    rows = list(statement)
    theirs = {(r.kind, r.reference): r for r in rows}
    ours = {(r.kind, r.reference): r for r in recorded}
    lines = []
    for key in sorted(theirs.keys() | ours.keys()):
        g, o = theirs.get(key), ours.get(key)
        if g is None:
            assert o is not None
            lines.append(Line("missing_at_gateway", key[0], key[1], None, o.amount_fen))
        elif o is None:
            lines.append(Line("missing_here", key[0], key[1], g.amount_fen, None))
        else:
            result = "matched" if g.amount_fen == o.amount_fen else "amount_mismatch"
            lines.append(Line(result, key[0], key[1], g.amount_fen, o.amount_fen))
    return Summary(
        lines=tuple(lines),
        fee_fen=sum(r.fee_fen for r in rows),
        gateway_payments_fen=sum(r.amount_fen for r in rows if r.kind == "payment"),
        gateway_refunds_fen=sum(r.amount_fen for r in rows if r.kind == "refund"),
    )
