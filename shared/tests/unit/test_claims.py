"""propfee.claims: the wording of a claim (period, amounts, late fee terms), the one home
dunning's evidence and the notifier's letters share."""

from __future__ import annotations

from datetime import date

import pytest

from propfee.claims import (
    TO_COMPLETE,
    day,
    days_of_late_fee,
    late_fee_terms,
    percent,
    period_of,
    yuan,
)

BASIS = {
    "daily_rate": "0.0005",
    "annual_cap": "0.24",
    "starts_on": "2026-02-01",
    "through": "2026-02-28",
    "fen_days": 0,
    "principal_outstanding_fen": 27580,
}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(2026, 3, 1), "2026年3月1日"),
        ("2026-12-31", "2026年12月31日"),
        ("2026-12-31T23:00:00+08:00", "2026年12月31日"),
        (None, ""),
        ("近日", "近日"),
    ],
)
def test_day(value: object, expected: str) -> None:
    assert day(value) == expected


def test_yuan_groups_thousands_and_keeps_fen() -> None:
    assert yuan(123456789) == "1,234,567.89元"
    assert yuan(5) == "0.05元"
    assert yuan(None) == ""


def test_percent_drops_trailing_zeros() -> None:
    assert percent("0.0005") == "0.05%"
    assert percent("0.24") == "24%"


@pytest.mark.parametrize(
    ("invoice", "expected"),
    [
        ({"period_start": "2026-03-01", "period_end": "2026-03-31"}, "2026年3月"),
        (
            {"period_start": date(2026, 1, 1), "period_end": date(2026, 3, 31)},
            "2026年1月1日至2026年3月31日",
        ),
        ({"due_date": "2026-04-15"}, f"{TO_COMPLETE}（2026年4月15日到期）"),
    ],
)
def test_period_of(invoice: dict[str, object], expected: str) -> None:
    assert period_of(invoice) == expected


def test_late_fee_terms_name_rate_cap_and_days_to_the_day_accrued() -> None:
    assert late_fee_terms(BASIS, 414, "2026-03-01") == (
        "日费率0.05%，年上限24%，自2026年2月1日计至2026年3月1日，共29天"
    )
    assert late_fee_terms(BASIS, 414) == (
        "日费率0.05%，年上限24%，自2026年2月1日计至2026年2月28日，共28天"
    )


def test_late_fee_terms_stop_at_the_limitation_expiry_and_when_principal_is_paid() -> None:
    barred = {**BASIS, "stops_on": "2026-02-10"}
    assert days_of_late_fee(barred, "2026-03-01") == 10
    assert late_fee_terms(barred, 100, "2026-03-01").endswith(
        "共10天（诉讼时效届满，计至2026年2月10日止）"
    )
    assert late_fee_terms({**BASIS, "fixed_fen": 300}, 300).endswith(
        "（本金已缴清，滞纳金不再增加）"
    )


def test_late_fee_terms_without_a_basis() -> None:
    assert late_fee_terms({"daily_rate": None}, 0) == "合同未约定滞纳金"
    assert late_fee_terms(None, 0) == "无"
    assert late_fee_terms(None, 5) == TO_COMPLETE
    assert days_of_late_fee(None) is None
