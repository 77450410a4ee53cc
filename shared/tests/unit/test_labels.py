"""Rooms, periods and dates as people write them (propfee.labels)."""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from propfee.labels import (
    date_label,
    month_day,
    period_label,
    periods_label,
    room_label,
    room_label_of_key,
)


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("1栋/1单元/101", "1栋1单元101"),
        ("9/2/502", "9栋2单元502"),
        ("A座/-/1203", "A座1203"),
        ("12/3/2801", "12栋3单元2801"),
        ("12栋/3/2801", "12栋3单元2801"),
        ("东区3幢/-/501室", "东区3幢501室"),
        ("B/-/1203", "B1203"),
        ("3/-/1203", "3栋1203"),
        ("A座/1203", "A座1203"),
        ("9栋2单元502", "9栋2单元502"),
        ("A座1203", "A座1203"),
        (" 1栋/1单元/101 ", "1栋1单元101"),
        ("商铺S-12", "商铺S-12"),
    ],
)
def test_room_label_of_key(key: str, label: str) -> None:
    assert room_label_of_key(key) == label


def test_room_label_parts() -> None:
    assert room_label("9", "2", "502") == "9栋2单元502"
    assert room_label("A座", "-", "1203") == "A座1203"
    assert room_label("A座", None, "1203") == "A座1203"
    assert room_label("5", "", "101") == "5栋101"
    # Full-width digits are someone's own writing: kept, no word added twice.
    assert room_label("９栋", "2单元", "502") == "９栋2单元502"


parts = st.one_of(
    st.integers(1, 99).map(str),
    st.sampled_from(["A座", "B座", "东区3幢", "2单元", "1栋", "-"]),
)


@given(parts, parts, st.integers(1, 3999).map(str))
def test_room_label_of_key_is_idempotent_and_never_shows_the_key(
    building: str, entrance: str, room: str
) -> None:
    label = room_label_of_key(f"{building}/{entrance}/{room}")
    assert "/" not in label and "-" not in label
    assert label.endswith(room)
    assert room_label_of_key(label) == label


def test_dates() -> None:
    assert date_label(date(2026, 12, 31)) == "2026年12月31日"
    assert month_day(date(2026, 12, 31)) == "12月31日"
    assert month_day(date(2027, 1, 5)) == "1月5日"


@pytest.mark.parametrize(
    ("start", "end", "label"),
    [
        (date(2026, 11, 1), date(2026, 11, 30), "2026年11月"),
        (date(2026, 2, 1), date(2026, 2, 28), "2026年2月"),
        (date(2026, 10, 1), date(2026, 12, 31), "2026年10月—12月"),
        (date(2026, 11, 1), date(2027, 1, 31), "2026年11月—2027年1月"),
        (date(2026, 11, 15), date(2026, 12, 14), "2026年11月15日—12月14日"),
        (date(2026, 12, 20), date(2027, 1, 19), "2026年12月20日—2027年1月19日"),
        (date(2026, 12, 20), date(2026, 12, 20), "2026年12月20日"),
        (date(2026, 11, 1), date(2026, 11, 29), "2026年11月1日—11月29日"),
    ],
)
def test_period_label(start: date, end: date, label: str) -> None:
    assert period_label(start, end) == label


def test_a_period_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        period_label(date(2026, 12, 1), date(2026, 11, 30))


@given(st.dates(date(2000, 1, 1), date(2100, 1, 1)), st.integers(0, 800))
def test_period_label_never_shows_iso_dates(start: date, days: int) -> None:
    label = period_label(start, start + timedelta(days=days))
    assert "-" not in label and str(start.year) in label and label.count("年") <= 2


def test_periods_merge_adjacent_months() -> None:
    months = [
        (date(2026, 1, 1), date(2026, 1, 31)),
        (date(2026, 3, 1), date(2026, 3, 31)),
        (date(2026, 2, 1), date(2026, 2, 28)),
        (date(2026, 6, 1), date(2026, 6, 30)),
        (date(2026, 6, 1), date(2026, 6, 30)),
    ]
    assert periods_label(months) == "2026年1月—3月、2026年6月"
    assert periods_label([]) == ""
