"""Roles a token may carry, and the role sets endpoints are built from.

Each endpoint declares the roles it allows (``propfee.auth.require``); these sets are the
usual building blocks, so the services stay consistent.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    fee_clerk = "fee_clerk"  # 收费员: registry, readings, charges, imports, runs
    housekeeper = "housekeeper"  # 管家: households' questions, readings, visits
    customer_service = "customer_service"  # 客服: contacts, requests, complaints
    finance = "finance"  # 财务: money: schedules, runs, waivers, write-offs, reports
    legal = "legal"  # 法务: arrears cases at the legal stage
    community_manager = "community_manager"  # 项目经理: everything in their communities
    company_admin = "company_admin"  # 公司管理员: everything in the company
    auditor = "auditor"  # 审计: read-only, contact data masked
    owners_committee = "owners_committee"  # 业委会: reports (aggregates) only, nothing personal
    service = "service"  # service-to-service automation (CronJobs, the demo simulator)


#: Staff who read households' accounts (contact data masked for those not in CONTACT_ROLES).
STAFF_READ: frozenset[Role] = frozenset(
    {
        Role.fee_clerk,
        Role.housekeeper,
        Role.customer_service,
        Role.finance,
        Role.legal,
        Role.community_manager,
        Role.company_admin,
        Role.auditor,
    }
)
#: Roles that see names, phone numbers, ID numbers and addresses unmasked.
CONTACT_ROLES: frozenset[Role] = frozenset(
    {
        Role.fee_clerk,
        Role.housekeeper,
        Role.customer_service,
        Role.legal,
        Role.community_manager,
        Role.company_admin,
        Role.finance,
    }
)
#: Who changes the registry (communities, units, parties, handovers, sales).
REGISTRY_WRITE: frozenset[Role] = frozenset(
    {Role.fee_clerk, Role.community_manager, Role.company_admin}
)
#: Who prices and bills (fee schedules, imports, runs, late-fee assessments, manual charges).
BILLING_WRITE: frozenset[Role] = frozenset({Role.fee_clerk, Role.finance, Role.company_admin})
#: Who forgives money (waivers, write-offs, voids); a reason is always required.
ADJUST: frozenset[Role] = frozenset({Role.finance, Role.community_manager, Role.company_admin})
#: Who reads aggregate reports (no personal data in them).
REPORTS: frozenset[Role] = frozenset(
    {
        Role.fee_clerk,
        Role.finance,
        Role.community_manager,
        Role.company_admin,
        Role.auditor,
        Role.owners_committee,
    }
)
#: Who reads the audit trail.
AUDIT_READ: frozenset[Role] = frozenset(
    {Role.auditor, Role.company_admin, Role.community_manager, Role.finance}
)


def parse_roles(values: object) -> frozenset[Role]:
    """The known roles in a token's ``roles`` claim (unknown names are ignored)."""
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list | tuple | set | frozenset):
        return frozenset()
    known = {r.value for r in Role}
    return frozenset(Role(v) for v in values if isinstance(v, str) and v in known)
