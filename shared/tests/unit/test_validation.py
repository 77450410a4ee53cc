"""The edge's identifier types: phones (mobile vs landline), credit codes, ID numbers, zones."""

import pytest
from pydantic import BaseModel, ValidationError

from propfee.validation import (
    IdNumber,
    MobilePhone,
    Phone,
    SocialCreditCode,
    TimeZone,
    e164,
    is_mobile,
)


class Contact(BaseModel):
    phone: Phone | None = None
    mobile: MobilePhone | None = None
    credit_code: SocialCreditCode | None = None
    id_number: IdNumber | None = None
    time_zone: TimeZone | None = None


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("13812345678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("0086-138-1234-5678", "13812345678"),
        ("150 3477 3197", "15034773197"),
        ("010-12345678", "010-12345678"),
        ("01012345678", "010-12345678"),
        ("(0571) 8888 6666", "0571-88886666"),
        ("+86 21 1234 5678", "021-12345678"),
    ],
)
def test_phones_are_stored_in_national_form(raw: str, stored: str) -> None:
    assert Contact(phone=raw).phone == stored


@pytest.mark.parametrize("raw", ["12345", "1381234567", "+1 415 555 0100", "4008123456", "abc"])
def test_what_is_no_mainland_mobile_or_landline_is_refused(raw: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Contact(phone=raw)
    assert caught.value.errors()[0]["loc"] == ("phone",)
    assert raw not in str(caught.value.errors()[0]["msg"])  # personal data never echoed


def test_a_landline_is_refused_where_a_mobile_is_required() -> None:
    assert Contact(mobile="+8613812345678").mobile == "13812345678"
    with pytest.raises(ValidationError, match="landline cannot receive SMS"):
        Contact(mobile="010-12345678")
    assert is_mobile("13812345678") and not is_mobile("010-12345678") and not is_mobile("x")
    assert e164("138 1234 5678") == "+8613812345678"


def test_credit_codes_and_id_numbers_are_checked_by_their_check_character() -> None:
    assert Contact(credit_code="91110000600037341l").credit_code == "91110000600037341L"
    assert Contact(id_number="11010519491231002x").id_number == "11010519491231002X"
    with pytest.raises(ValidationError, match="credit_code"):
        Contact(credit_code="91110000600037341X")
    with pytest.raises(ValidationError, match="id_number"):
        Contact(id_number="110105194912310021")
    with pytest.raises(ValidationError, match="id_number"):
        Contact(id_number="110105194913310028")  # no 13th month


def test_time_zones_are_iana_names() -> None:
    assert Contact(time_zone="Asia/Urumqi").time_zone == "Asia/Urumqi"
    for bad in ("Beijing", "UTC+8", "asia/shanghai"):
        with pytest.raises(ValidationError, match="time_zone"):
            Contact(time_zone=bad)
