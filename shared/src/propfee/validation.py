"""Identifiers checked at the edge, with the libraries that know them (pydantic Annotated types).

- :data:`Phone`: a mainland China mobile or landline (``phonenumbers``, default region CN;
  ``+86``/``0086`` prefixes, spaces, dashes and brackets accepted).
- :data:`MobilePhone`: a mobile only (what an SMS can reach); a landline is refused.
- :data:`SocialCreditCode`: 统一社会信用代码, 18 characters with its check character
  (``stdnum.cn.uscc``).
- :data:`IdNumber`: 居民身份证号码, 18 characters with its check digit and a real birth date
  (``stdnum.cn.ric``).
- :data:`TimeZone`: an IANA time zone name (``zoneinfo.available_timezones``).

**Phone numbers are stored in the national form the ledger importer has always written**
(``billing.domain.ledger_formats.read_phone``): a mobile as its 11 digits (``13812345678``),
a landline as trunk ``0``, area code, dash, subscriber number (``010-12345678``,
``0571-88886666``). Not E.164: every stored number, every test and the notifier's SMS sender
already use the national form, and billing's person key (migration 0009) matches mobiles in
it. :func:`e164` gives the international form where a gateway wants it.

A number from another country is refused: the registry serves mainland communities, and the
SMS channel is a mainland one.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Annotated, Literal
from zoneinfo import available_timezones

import phonenumbers
from phonenumbers import PhoneNumberType
from pydantic import AfterValidator, Field
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError as NumberInvalid

DEFAULT_REGION = "CN"
PhoneKind = Literal["mobile", "landline"]

_MOBILE_TYPES = {PhoneNumberType.MOBILE}
_LANDLINE_TYPES = {PhoneNumberType.FIXED_LINE}


def parse_phone(text: str) -> tuple[str, PhoneKind]:
    """The number in national form and its kind; ``ValueError`` (the value not quoted: it is
    personal data) when it is not a valid mainland mobile or landline."""
    try:
        number = phonenumbers.parse(text, DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("not a phone number") from exc
    if number.country_code != 86 or not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid mainland China phone number")
    kind = phonenumbers.number_type(number)
    national = str(number.national_number)
    if kind in _MOBILE_TYPES:
        return national, "mobile"
    if kind in _LANDLINE_TYPES:
        area = phonenumbers.length_of_geographical_area_code(number)
        if area <= 0:
            raise ValueError("not a landline with an area code")
        return f"0{national[:area]}-{national[area:]}", "landline"
    raise ValueError("neither a mobile nor a landline number (e.g. a 400 service number)")


def normalise_phone(text: str) -> str:
    """A mobile or a landline in national form (see the module docstring)."""
    return parse_phone(text)[0]


def normalise_mobile(text: str) -> str:
    """A mobile's 11 digits; a landline is refused (an SMS cannot reach it)."""
    national, kind = parse_phone(text)
    if kind != "mobile":
        raise ValueError("a landline cannot receive SMS: a mobile number is required")
    return national


def is_mobile(text: str) -> bool:
    try:
        return parse_phone(text)[1] == "mobile"
    except ValueError:
        return False


def e164(text: str) -> str:
    """The international form (``+8613812345678``) of a number :func:`parse_phone` accepts."""
    number = phonenumbers.parse(text, DEFAULT_REGION)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_credit_code(text: str) -> str:
    """A 统一社会信用代码 in its compact upper-case form; ``ValueError`` when it is not one."""
    try:
        code: str = uscc.validate(text)
    except NumberInvalid as exc:
        raise ValueError(f"not a unified social credit code: {exc}") from exc
    return code


def normalise_id_number(text: str) -> str:
    """A 居民身份证号码 (18 characters) in compact form; the value is never quoted."""
    try:
        number: str = ric.validate(text)
    except NumberInvalid as exc:
        raise ValueError(f"not a resident identity card number: {exc}") from exc
    return number


def check_sms_reachable(phone: str | None, channels: Iterable[str]) -> None:
    """SMS reaches mobiles only: a party whose allowed or preferred channels name ``sms``
    needs a mobile number (or none yet: nothing is sent until one is recorded)."""
    if phone and "sms" in channels and not is_mobile(phone):
        raise ValueError(
            "sms is among the channels but this number is a landline: SMS needs a mobile"
        )


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_time_zone(name: str) -> str:
    if name not in _zones():
        raise ValueError("not an IANA time zone name (e.g. Asia/Shanghai)")
    return name


Phone = Annotated[
    str,
    Field(
        min_length=3,
        max_length=32,
        description="A mainland mobile or landline; stored in national form "
        "(13812345678, 010-12345678)",
        examples=["13812345678"],
    ),
    AfterValidator(normalise_phone),
]
MobilePhone = Annotated[
    str,
    Field(
        min_length=3,
        max_length=32,
        description="A mainland mobile number (SMS reaches mobiles only); stored as 11 digits",
        examples=["13812345678"],
    ),
    AfterValidator(normalise_mobile),
]
SocialCreditCode = Annotated[
    str,
    Field(
        min_length=18,
        max_length=24,
        description="统一社会信用代码 (18 characters, check character verified)",
        examples=["91110000600037341L"],
    ),
    AfterValidator(normalise_credit_code),
]
IdNumber = Annotated[
    str,
    Field(
        min_length=18,
        max_length=24,
        description="居民身份证号码 (18 characters, birth date and check digit verified)",
        examples=["11010519491231002X"],
    ),
    AfterValidator(normalise_id_number),
]
TimeZone = Annotated[
    str,
    Field(min_length=1, max_length=64, description="An IANA time zone", examples=["Asia/Shanghai"]),
    AfterValidator(check_time_zone),
]
