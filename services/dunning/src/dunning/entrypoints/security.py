"""Who may call what in dunning, and the scoping lookups (404 for what the caller may not see).

The role sets per kind of endpoint (services/dunning/README.md has the table):

- reads of cases, escalations, pauses, tasks and the evidence bundle as JSON: the staff, and
  the service role for automation (contact data masked for roles outside ``CONTACT_ROLES``);
  the evidence bundle as PDF or ZIP (an export of personal data): contact roles only, audited;
- work on a case (outcomes, promises, notes, pauses and their resolution, tasks done,
  assignment): the people who chase (housekeepers, customer service, fee clerks, legal) and
  the managers;
- the legal track (moving a case by hand, letters): legal, community managers, company admins;
- policies: community managers and company admins; sweeps: also the service role (CronJob);
- reports (aggregates, ``/reports/...``): ``REPORTS`` (the owners' committee included) and the
  service role; the per-invoice and per-staff figures: the same without the owners' committee;
- a work queue: the person it belongs to, and the managers for anyone's.

The legal role reads the cases on the legal track only (``legal_only``): cases that entered a
legal stage of their policy (a demand with a deadline, a lawyer's letter, mediation, a
lawsuit, enforcement: ``Policy.legal_from``) and stay on it (``arrears_cases.legal_since``),
closed ones included. Lists filter them in SQL; any other case (and its pauses, tasks,
evidence) answers 404 to the legal role, as what does not exist. A token that carries another
reading role as well reads as that role.

Scope: dunning learns each community's company from billing.community-updated (the
``communities`` table). A token whose ``communities`` claim is ``"*"`` reaches the communities
*of its company* only, so a community whose company dunning does not know yet is visible to no
company-bound token at all (fail closed), only to deployment-wide service tokens.
"""

from __future__ import annotations

from typing import Annotated, TypeAlias

import asyncpg
from fastapi import Depends

from dunning.adapters.scope import scope_sql
from propfee.auth import (
    CONTACT_ROLES,
    REPORTS,
    STAFF_READ,
    Principal,
    Role,
    ensure_visible_known,
    not_found,
    require,
    visible_row,
)

READ = STAFF_READ | {Role.service}
MANAGERS = frozenset({Role.community_manager, Role.company_admin})
CASE_WORK = frozenset(
    {Role.housekeeper, Role.customer_service, Role.fee_clerk, Role.legal} | MANAGERS
)
LEGAL = frozenset({Role.legal} | MANAGERS)
POLICY_WRITE = MANAGERS
SWEEP = frozenset({Role.service} | MANAGERS)
REPORT = REPORTS | {Role.service}
#: Figures per invoice (limitation clocks) or per staff member: not for the owners' committee.
STAFF_REPORT = (REPORTS - {Role.owners_committee}) | {Role.service}
LIMITATION = STAFF_REPORT | {Role.legal}
#: Work queues: the people cases are assigned to (their own), the managers (anyone's).
QUEUE = CASE_WORK

Reader = Annotated[Principal, Depends(require(*READ))]
ContactReader = Annotated[Principal, Depends(require(*CONTACT_ROLES))]
CaseWorker = Annotated[Principal, Depends(require(*CASE_WORK))]
LegalWorker = Annotated[Principal, Depends(require(*LEGAL))]
PolicyWriter = Annotated[Principal, Depends(require(*POLICY_WRITE))]
Sweeper = Annotated[Principal, Depends(require(*SWEEP))]
ReportReader = Annotated[Principal, Depends(require(*REPORT))]
StaffReportReader = Annotated[Principal, Depends(require(*STAFF_REPORT))]
LimitationReader = Annotated[Principal, Depends(require(*LIMITATION))]
QueueReader = Annotated[Principal, Depends(require(*QUEUE))]

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool
__all__ = ["scope_sql"]  # re-exported: lists filter with ``security.scope_sql(...)``


def legal_only(principal: Principal) -> bool:
    """The legal role and no other role that reads cases: legal-track cases only."""
    return Role.legal in principal.roles and not principal.has_any(READ - {Role.legal})


def legal_sql(case_alias: str, param: int) -> str:
    """A SQL condition keeping only legal-track cases when ``$param`` (``legal_only``) is
    true; ``case_alias`` is an ``arrears_cases`` alias (or a subquery's case id column, see
    ``legal_case_sql``)."""
    return f"(NOT ${param}::boolean OR {case_alias}.legal_since IS NOT NULL)"


def legal_case_sql(case_id_column: str, param: int) -> str:
    """``legal_sql`` for rows that only name their case (tasks): a row without a case is not
    the legal role's."""
    return (
        f"(NOT ${param}::boolean OR EXISTS (SELECT 1 FROM arrears_cases lc "
        f"WHERE lc.case_id = {case_id_column} AND lc.legal_since IS NOT NULL))"
    )


def _on_legal_track(principal: Principal, row: asyncpg.Record, what: str) -> asyncpg.Record:
    if legal_only(principal) and row["legal_since"] is None:
        raise not_found(what)
    return row


async def company_of(conn: Conn, community_id: str) -> str | None:
    company: str | None = await conn.fetchval(
        "SELECT company_id FROM communities WHERE community_id = $1", community_id
    )
    return company


#: A community whose company dunning has not learnt yet: only deployment-wide tokens reach it.
visible = ensure_visible_known


async def community(conn: Conn, principal: Principal, community_id: str) -> str | None:
    """The community's company; 404 when the caller may not see the community."""
    company_id = await company_of(conn, community_id)
    visible(principal, community_id, company_id, f"community {community_id}")
    return company_id


async def case(conn: Conn, principal: Principal, case_id: str) -> asyncpg.Record:
    """The case (every column, and its community's ``company_id``); 404 when it does not exist
    or the caller may not see it."""
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


async def pause(conn: Conn, principal: Principal, pause_id: str) -> asyncpg.Record:
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


async def task(conn: Conn, principal: Principal, task_id: str) -> asyncpg.Record:
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
