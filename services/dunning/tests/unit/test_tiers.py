"""Months overdue, the shared helper (propfee.dates): Civil Code art. 202 at month ends.

The tier itself has one home, the SQL function ``dunning_tier`` the sweep calls; its example
table (tests/examples.py ``TIERS``) runs against it in PostgreSQL
(tests/integration/test_rules_in_sql.py), as does this months table against
``dunning_months_overdue``."""

from datetime import date

import pytest

from propfee.dates import is_month_end, months_overdue
from services.dunning.tests.examples import MONTHS


@pytest.mark.parametrize(("due", "as_of", "months"), MONTHS)
def test_months_overdue_follow_article_202_at_month_ends(
    due: date, as_of: date, months: int
) -> None:
    assert months_overdue(due, as_of) == months


def test_month_ends() -> None:
    assert is_month_end(date(2028, 2, 29)) and not is_month_end(date(2028, 2, 28))
    assert is_month_end(date(2026, 2, 28)) and is_month_end(date(2026, 12, 31))
