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

The scoped loaders (the case, pause or task a request names, 404 outside the caller's scope)
and the SQL filters are ``service_layer/scope.py``. Scope: dunning learns each community's
company from billing.community-updated (the
``communities`` table). A token whose ``communities`` claim is ``"*"`` reaches the communities
*of its company* only, so a community whose company dunning does not know yet is visible to no
company-bound token at all (fail closed), only to deployment-wide service tokens.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from dunning.service_layer.kpis import STAFF_REPORT
from dunning.service_layer.scope import READ, legal_only, shown
from propfee.auth import CONTACT_ROLES, REPORTS, Principal, Role, require

MANAGERS = frozenset({Role.community_manager, Role.company_admin})
CASE_WORK = frozenset(
    {Role.housekeeper, Role.customer_service, Role.fee_clerk, Role.legal} | MANAGERS
)
LEGAL = frozenset({Role.legal} | MANAGERS)
POLICY_WRITE = MANAGERS
SWEEP = frozenset({Role.service} | MANAGERS)
REPORT = REPORTS | {Role.service}
#: Figures per invoice (limitation clocks) or per staff member: not for the owners' committee
#: (``STAFF_REPORT``, from the KPI use case).
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

__all__ = ["READ", "STAFF_REPORT", "legal_only", "shown"]
