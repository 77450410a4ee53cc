"""Scoped loaders: every id a request names is resolved here, through the caller's scope (404
for what the caller may not see, as for what does not exist; see ``entrypoints/security.py``
for the role sets).

The legal role reads the cases on the legal track only (``legal_only``): cases that entered a
legal stage of their policy and stay on it (``arrears_cases.legal_since``), closed ones
included. Lists filter them in SQL (``legal_sql``, ``legal_case_sql``); any other case (and
its pauses, tasks, evidence) answers 404 to the legal role. A token that carries another
reading role as well reads as that role.

A community whose company dunning has not learnt yet (billing.community-updated) is visible to
no company-bound token, only to deployment-wide service tokens (fail closed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dunning.adapters.scope import scope_sql
from propfee.auth import (
    STAFF_READ,
    Principal,
    Role,
    ensure_visible_known,
    mask_personal,
    not_found,
    visible_row,
)
from propfee.masking import mask_data

#: Roles that read cases (the staff, and the service role for automation).
READ = STAFF_READ | {Role.service}

__all__ = ["scope_sql"]

#: A community whose company dunning has not learnt yet: only deployment-wide tokens reach it.
visible = ensure_visible_known


def shown(principal: Principal, record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` for the caller: contact fields (names, phones, ...) masked by
    ``mask_personal`` for roles outside ``CONTACT_ROLES``, and phone or ID numbers written
    into free text (notes, resolutions, delivery details) masked too. Room labels stay."""
    row = mask_personal(principal, record)
    return row if principal.sees_contacts else mask_data(row)


def legal_only(principal: Principal) -> bool:
    """The legal role and no other role that reads cases: legal-track cases only."""
    return Role.legal in principal.roles and not principal.has_any(READ - {Role.legal})


def legal_sql(case_alias: str, param: int) -> str:
    """A SQL condition keeping only legal-track cases when ``$param`` (``legal_only``) is
    true; ``case_alias`` is an ``arrears_cases`` alias."""
    return f"(NOT ${param}::boolean OR {case_alias}.legal_since IS NOT NULL)"


def legal_case_sql(case_id_column: str, param: int) -> str:
    """``legal_sql`` for rows that only name their case (tasks): a row without a case is not
    the legal role's."""
    return (
        f"(NOT ${param}::boolean OR EXISTS (SELECT 1 FROM arrears_cases lc "
        f"WHERE lc.case_id = {case_id_column} AND lc.legal_since IS NOT NULL))"
    )


def _on_legal_track(principal: Principal, row: Any, what: str) -> Any:
    if legal_only(principal) and row["legal_since"] is None:
        raise not_found(what)
    return row


async def company_of(conn: Any, community_id: str) -> str | None:
    company: str | None = await conn.fetchval(
        "SELECT company_id FROM communities WHERE community_id = $1", community_id
    )
    return company


async def community(conn: Any, principal: Principal, community_id: str) -> str | None:
    """The community's company; 404 when the caller may not see the community."""
    company_id = await company_of(conn, community_id)
    visible(principal, community_id, company_id, f"community {community_id}")
    return company_id


async def case(conn: Any, principal: Principal, case_id: str) -> Any:
    """The case (every column, and its community's ``company_id`` and ``backdate_days``); 404
    when it does not exist or the caller may not see it."""
    what = f"case {case_id}"
    row = await visible_row(
        conn,
        principal,
        what,
        "SELECT c.*, co.company_id, co.backdate_days FROM arrears_cases c "
        "LEFT JOIN communities co USING (community_id) WHERE c.case_id = $1",
        case_id,
        check=visible,
    )
    return _on_legal_track(principal, row, what)


async def pause(conn: Any, principal: Principal, pause_id: str) -> Any:
    what = f"pause {pause_id}"
    row = await visible_row(
        conn,
        principal,
        what,
        "SELECT p.*, c.community_id, c.unit_id, c.legal_since, co.company_id, co.backdate_days "
        "FROM pauses p "
        "JOIN arrears_cases c USING (case_id) LEFT JOIN communities co "
        "ON co.community_id = c.community_id WHERE p.pause_id = $1",
        pause_id,
        check=visible,
    )
    return _on_legal_track(principal, row, what)


async def task(conn: Any, principal: Principal, task_id: str) -> Any:
    what = f"task {task_id}"
    row = await visible_row(
        conn,
        principal,
        what,
        "SELECT t.*, co.company_id, lc.legal_since FROM tasks t "
        "LEFT JOIN communities co USING (community_id) "
        "LEFT JOIN arrears_cases lc ON lc.case_id = t.case_id WHERE t.task_id = $1",
        task_id,
        check=visible,
    )
    return _on_legal_track(principal, row, what)


#: The scope of ids named in requests (``entrypoints/scoping.py``): a pause's and a letter's
#: community and company.
PAUSE_SCOPE = (
    "SELECT p.pause_id AS id, a.community_id, c.company_id FROM pauses p "
    "JOIN arrears_cases a USING (case_id) LEFT JOIN communities c USING (community_id) "
    "WHERE p.pause_id = ANY($1::text[])"
)
LETTER_SCOPE = (
    "SELECT l.letter_id AS id, a.community_id, c.company_id FROM letters l "
    "JOIN arrears_cases a USING (case_id) LEFT JOIN communities c USING (community_id) "
    "WHERE l.letter_id = ANY($1::text[])"
)
