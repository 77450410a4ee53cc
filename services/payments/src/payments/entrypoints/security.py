"""Who may call what in payments, and the scoping lookups (404 for what the caller may not see).

The role sets per kind of endpoint (services/payments/README.md has the table):

- reads (payments, receipts, orders, refunds, a unit's QR link): the staff, and the service
  role for automation;
- payment orders (``POST /orders``): the service role (the owner app's backend authenticates
  owners and calls with a service token), fee clerks, finance, company admins;
- the counter (``POST /payments/counter``, ``POST /payments/scan``): fee clerks, finance,
  community managers, company admins; asking the gateway about an order: both of the above;
- refunds: finance, community managers, company admins, always with a reason;
- finance review (exceptions, discrepancies, statement imports, bank files, the daily close):
  finance and company admins; the reads also auditors;
- reports (``GET /reports/totals``, aggregates only): ``REPORTS`` (the owners' committee
  included) and the service role;
- closing expired orders: the service role (a CronJob), finance, company admins;
- revoking a pay link (with a reason): the staff who answer owners and take their money
  (customer service, fee clerks, finance, community managers, company admins); listing a
  unit's pay links: the reads.

Scope (the lookups are in ``service_layer.access``). Payments knows each community's
company from ``billing.community-updated``
(``communities``); a community it has not learnt is outside every company-bound scope (only a
deployment-wide service token, company "*", reaches it). Gateway-level records — statement
imports, discrepancies, exceptions whose community is unknown (money for an order payments
never had) — belong to a merchant account (mchid / app_id / merId) and so to the company
owning it (``service_layer.accounts``), not to one community: only that company's tokens whose
communities claim is "*" reach them (and a deployment-wide service token).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from propfee.auth import (
    ADJUST,
    REPORTS,
    STAFF_READ,
    Principal,
    Role,
    require,
)

READ = STAFF_READ | {Role.service}
ORDERS = frozenset({Role.service, Role.fee_clerk, Role.finance, Role.company_admin})
DESK = frozenset({Role.fee_clerk, Role.finance, Role.community_manager, Role.company_admin})
ORDER_QUERY = ORDERS | DESK
REFUNDS = ADJUST
FINANCE_WRITE = frozenset({Role.finance, Role.company_admin})
FINANCE_READ = FINANCE_WRITE | {Role.auditor}
#: Importing a gateway's daily statement: finance, and the service role (the reconciliation
#: CronJob fetches the statement and posts it every morning).
STATEMENT_IMPORT = FINANCE_WRITE | {Role.service}
REPORT_READ = REPORTS | {Role.service}
EXPIRY = frozenset({Role.service, Role.finance, Role.company_admin})
PAY_LINK_REVOKE = DESK | {Role.customer_service}
#: A cashier's day (日清日结 per cashier): the counter's staff (their own) and who oversees them.
COUNTER_DAY = DESK | FINANCE_READ

Reader = Annotated[Principal, Depends(require(*READ))]
OrderCreator = Annotated[Principal, Depends(require(*ORDERS))]
OrderQuerier = Annotated[Principal, Depends(require(*ORDER_QUERY))]
CounterClerk = Annotated[Principal, Depends(require(*DESK))]
Refunder = Annotated[Principal, Depends(require(*REFUNDS))]
FinanceWriter = Annotated[Principal, Depends(require(*FINANCE_WRITE))]
FinanceReader = Annotated[Principal, Depends(require(*FINANCE_READ))]
StatementImporter = Annotated[Principal, Depends(require(*STATEMENT_IMPORT))]
ReportReader = Annotated[Principal, Depends(require(*REPORT_READ))]
Expirer = Annotated[Principal, Depends(require(*EXPIRY))]
PayLinkRevoker = Annotated[Principal, Depends(require(*PAY_LINK_REVOKE))]
CounterDay = Annotated[Principal, Depends(require(*COUNTER_DAY))]
