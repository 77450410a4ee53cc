"""Who may call what in billing; the scoping lookups (404 for what the caller may not see) are
``billing.service_layer.visibility``'s, re-exported here for the routes that check a path id.

The role sets per kind of endpoint (docs/security.md has the table):

- reads of accounts (units, invoices, statements, receipts): the staff, and the service role
  for automation;
- registry edits: fee clerks, community managers, company admins;
- pricing and billing (schedules, readings, charges, imports, runs, late-fee assessments):
  fee clerks, finance, company admins; runs and assessments also the service role (CronJobs);
- forgiving money (void, waiver, write-off): finance, community managers, company admins,
  always with a reason;
- reports (aggregates): also auditors and the owners' committee;
- company data (its name, its back-dating window, its vacancy rules): company-level roles only
  (``Principal.company_level``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from billing.service_layer.visibility import Conn as Conn
from billing.service_layer.visibility import backdate_days as backdate_days
from billing.service_layer.visibility import community as community
from billing.service_layer.visibility import company as company
from billing.service_layer.visibility import company_level as company_level
from billing.service_layer.visibility import e_invoice_request as e_invoice_request
from billing.service_layer.visibility import invoice as invoice
from billing.service_layer.visibility import party as party
from billing.service_layer.visibility import payment as payment
from billing.service_layer.visibility import time_zone as time_zone
from billing.service_layer.visibility import unit as unit
from propfee.auth import (
    ADJUST,
    BILLING_WRITE,
    REGISTRY_WRITE,
    REPORTS,
    STAFF_READ,
    Principal,
    Role,
    require,
)

READ = STAFF_READ | {Role.service}
#: Installment plans: staff, and the service role (the simulation clock records a plan as of
#: its own day; staff only as of now or within the company's back-dating window).
PLAN_WRITE = ADJUST | {Role.fee_clerk, Role.service}
PARTY_WRITE = REGISTRY_WRITE | {Role.customer_service}
READINGS = BILLING_WRITE | {Role.housekeeper}
RUNS = BILLING_WRITE | {Role.service}
#: Publishing a schedule version: staff record it today; the service role as of the simulation
#: clock's day.
SCHEDULE_WRITE = BILLING_WRITE | {Role.service}
#: Importing the schedules a community had before Propfee: company-level roles only (checked
#: with ``Principal.company_level`` in the route: a company admin for every community).
SCHEDULE_IMPORT = {Role.company_admin, Role.service}
E_INVOICE_REQUEST = {
    Role.fee_clerk,
    Role.housekeeper,
    Role.customer_service,
    Role.finance,
    Role.company_admin,
}
E_INVOICE_OUTCOME = {Role.finance, Role.company_admin}
#: Company data (name, settings, the company's vacancy rules): company-level roles only, i.e.
#: a company admin for every community or the service role (``Principal.company_level``).
COMPANY_WRITE = {Role.company_admin, Role.service}
#: A community's own vacancy rule (overrides its company's for the city).
#: A community's billing schedule (its runs' cycle and day): company admins (and automation).
RUN_SCHEDULE = {Role.company_admin, Role.service}
COMMUNITY_VACANCY_RULE = {Role.finance, Role.community_manager, Role.company_admin}

Reader = Annotated[Principal, Depends(require(*READ))]
RegistryWriter = Annotated[Principal, Depends(require(*REGISTRY_WRITE))]
PartyWriter = Annotated[Principal, Depends(require(*PARTY_WRITE))]
BillingWriter = Annotated[Principal, Depends(require(*BILLING_WRITE))]
ReadingsWriter = Annotated[Principal, Depends(require(*READINGS))]
RunStarter = Annotated[Principal, Depends(require(*RUNS))]
ScheduleWriter = Annotated[Principal, Depends(require(*SCHEDULE_WRITE))]
ScheduleImporter = Annotated[Principal, Depends(require(*SCHEDULE_IMPORT))]
Adjuster = Annotated[Principal, Depends(require(*ADJUST))]
PlanWriter = Annotated[Principal, Depends(require(*PLAN_WRITE))]
ReportReader = Annotated[Principal, Depends(require(*REPORTS))]
EInvoiceRequester = Annotated[Principal, Depends(require(*E_INVOICE_REQUEST))]
EInvoiceRecorder = Annotated[Principal, Depends(require(*E_INVOICE_OUTCOME))]
CompanyWriter = Annotated[Principal, Depends(require(*COMPANY_WRITE))]
RunScheduleWriter = Annotated[Principal, Depends(require(*RUN_SCHEDULE))]
CommunityVacancyRuleWriter = Annotated[Principal, Depends(require(*COMMUNITY_VACANCY_RULE))]
#: Asking for a late-fee waiver (decided by someone else, ``WAIVER_DECIDE``): whoever works
#: with owners.
WAIVER_REQUEST = {
    Role.housekeeper,
    Role.customer_service,
    Role.fee_clerk,
    Role.community_manager,
    Role.finance,
    Role.company_admin,
}
#: Deciding a waiver request: those who forgive money (``ADJUST``), never the person who asked.
WAIVER_DECIDE = ADJUST
WaiverRequester = Annotated[Principal, Depends(require(*WAIVER_REQUEST))]
WaiverDecider = Annotated[Principal, Depends(require(*WAIVER_DECIDE))]
