"""When a staff member says something happened: the business time a record carries.

Staff may back-date a record (a counter payment taken yesterday, a visit recorded this
morning) within a window the company sets (default 7 days), never forward-date it; only the
service role (the simulation clock, CronJobs) acts "as of" another instant. Every record keeps
both times: the business time this module returns and the real time of the request
(``recorded_at``). DOMAIN.md, "Decisions, December 2026": business times.

A refused time is a 403 (the caller's role may not act as of that instant), with the field
and the limit in the detail.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import HTTPException

from propfee.auth.principal import Principal
from propfee.auth.roles import Role

#: Days a record may be back-dated when the company has not set its own window.
DEFAULT_BACKDATE_DAYS = 7
#: Clock skew tolerated on an instant "now" sent by a client.
CLOCK_SKEW = timedelta(minutes=5)


class BusinessTimeRefused(HTTPException):
    def __init__(self, detail: str) -> None:
        super().__init__(403, detail)


def acts_on_own_clock(principal: Principal) -> bool:
    """The service role may act as of any instant (the demo's simulation clock, jobs)."""
    return Role.service in principal.roles


def window(backdate_days: int | None) -> int:
    return DEFAULT_BACKDATE_DAYS if backdate_days is None else max(0, backdate_days)


def business_instant(
    principal: Principal,
    requested: datetime | None,
    now: datetime,
    *,
    field: str,
    backdate_days: int | None = None,
) -> datetime:
    """``requested`` when the caller may record it, ``now`` when none was sent.

    Staff: never later than now (a few minutes' skew allowed), never earlier than the
    company's back-dating window. The service role: anything."""
    if requested is None:
        return now
    if acts_on_own_clock(principal):
        return requested
    if requested > now + CLOCK_SKEW:
        raise BusinessTimeRefused(f"{field}: may not be in the future")
    days = window(backdate_days)
    if requested < now - timedelta(days=days):
        raise BusinessTimeRefused(f"{field}: may be back-dated at most {days} days")
    return requested


def business_date(
    principal: Principal,
    requested: date | None,
    now: datetime,
    *,
    field: str,
    time_zone: str = "Asia/Shanghai",
    backdate_days: int | None = None,
) -> date:
    """A business date (the community's local calendar): today when none was sent; staff may
    not choose a later day nor one before the back-dating window."""
    today = now.astimezone(ZoneInfo(time_zone)).date()
    if requested is None:
        return today
    if acts_on_own_clock(principal):
        return requested
    if requested > today:
        raise BusinessTimeRefused(f"{field}: may not be in the future")
    days = window(backdate_days)
    if requested < today - timedelta(days=days):
        raise BusinessTimeRefused(f"{field}: may be back-dated at most {days} days")
    return requested


def as_of_now(
    principal: Principal, requested: datetime | None, now: datetime, *, field: str
) -> datetime:
    """For deployment jobs run by staff (a sweep, a dispatch, an assessment): staff run them
    "as of now" only; a chosen instant is the service role's alone."""
    if requested is None:
        return now
    if acts_on_own_clock(principal):
        return requested
    if abs(requested - now) > CLOCK_SKEW:
        raise BusinessTimeRefused(f"{field}: only the service role may choose the instant")
    return now


def as_of_today(
    principal: Principal,
    requested: date | None,
    now: datetime,
    *,
    field: str,
    time_zone: str = "Asia/Shanghai",
) -> date:
    """``as_of_now`` for a business date: staff get today (in the community's time zone)."""
    today = now.astimezone(ZoneInfo(time_zone)).date()
    if requested is None or acts_on_own_clock(principal):
        return today if requested is None else requested
    if requested != today:
        raise BusinessTimeRefused(f"{field}: only the service role may choose the date")
    return today


def utc_now() -> datetime:
    return datetime.now(UTC)
