"""Small helpers the billing routes share: the day and instant a staff record is made."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from billing.entrypoints import security
from propfee.auth import Principal
from propfee.business_time import business_instant, utc_now


async def instant(
    conn: Any, principal: Principal, company_id: str, requested: datetime | None, field: str
) -> datetime:
    """The business instant of a staff record: now, or back-dated within the company's
    window (403 otherwise); the service role chooses any."""
    return business_instant(
        principal,
        requested,
        utc_now(),
        field=field,
        backdate_days=await security.backdate_days(conn, company_id),
    )


async def today(conn: Any, community_id: str) -> date:
    """Today in the community's time zone: the day a record made now is recorded."""
    zone = ZoneInfo(await security.time_zone(conn, community_id))
    return utc_now().astimezone(zone).date()
