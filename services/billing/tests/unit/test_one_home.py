"""What the deleted twins (domain/allocation.py, domain/invoices.py) asserted, now asserted on
the code production runs: the account replay allocates, propfee.money rounds."""

from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from billing.domain.account import AccountError, InvoiceFact, PaymentFact, replay
from propfee.money import round_half_up

A = InvoiceFact("A", date(2026, 1, 31), datetime(2026, 1, 1, 4, tzinfo=UTC), 27580)


def test_a_payment_before_any_invoice_is_all_credit_and_pays_the_invoice_when_issued() -> None:
    before = replay([], [PaymentFact("p", 10000, datetime(2025, 12, 1, tzinfo=UTC))])
    assert before.allocations == [] and before.credit_fen == 10000
    later = replay([A], [PaymentFact("p", 10000, datetime(2025, 12, 1, tzinfo=UTC))])
    assert later.credit_fen == 0
    assert later.invoices["A"].principal_paid_fen == 10000


def test_a_negative_payment_is_refused() -> None:
    with pytest.raises(AccountError):
        replay([A], [PaymentFact("p", -1, datetime(2026, 2, 1, tzinfo=UTC))])


def test_one_rounding_rule_for_decimals_and_fractions() -> None:
    assert round_half_up(Decimal("98.50") * 280) == 27580
    assert round_half_up(Decimal("1.5") * 3) == 5  # 4.5 fen rounds up
    assert round_half_up(Fraction(-9, 2)) == -5  # half away from zero
    assert round_half_up(Fraction(1, 3) * 3) == 1


def test_no_twin_of_a_billing_rule_is_left() -> None:
    """One home per rule: no second rounding function, no second default late-fee cap."""
    root = Path(__file__).resolve().parents[4]
    sources = [
        p
        for d in ("services", "shared")
        for p in (root / d).rglob("*.py")
        if "/tests/" not in str(p) and ".venv" not in p.parts
    ]
    defs = [p for p in sources if "def round_half_up" in p.read_text(encoding="utf-8")]
    assert [p.name for p in defs] == ["money.py"]
    caps = [p for p in sources if '"0.039"' in p.read_text(encoding="utf-8")]
    assert [p.name for p in caps] == ["late_fees.py"]
