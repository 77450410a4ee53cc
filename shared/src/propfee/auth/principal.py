"""Who is calling: the verified claims of a bearer token."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from propfee.auth.roles import CONTACT_ROLES, Role

#: The claim value that means "every community of the company" (or, for ``company`` on a
#: service-only token, every company of the deployment).
ALL = "*"


@dataclass(frozen=True)
class Principal:
    subject: str
    company_id: str
    #: The communities the token may see; empty with ``all_communities`` for "*".
    communities: frozenset[str]
    roles: frozenset[Role]
    all_communities: bool = False
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def all_companies(self) -> bool:
        return self.company_id == ALL

    def has_any(self, roles: frozenset[Role] | set[Role]) -> bool:
        return bool(self.roles & roles)

    @property
    def company_level(self) -> bool:
        """May this principal change company data (the company's name and settings, its
        rules, its templates)? A company admin whose token covers every community of the
        company ("*"), or the service role. A company admin scoped to some communities, or any
        other role, acts for those communities only."""
        if Role.service in self.roles:
            return True
        return Role.company_admin in self.roles and self.all_communities

    @property
    def sees_contacts(self) -> bool:
        """True when the principal may see names, phone numbers and ID numbers unmasked."""
        return self.has_any(CONTACT_ROLES)

    def sees(self, community_id: str | None, company_id: str | None = None) -> bool:
        """May this principal see the community? With ``company_id`` (the community's company,
        as stored) the company is checked too, which a token whose communities claim is "*"
        needs: always pass it when the row has it."""
        if community_id is None:
            return False
        if company_id is not None and not self.all_companies and company_id != self.company_id:
            return False
        return self.all_communities or community_id in self.communities

    def sql_scope(self) -> tuple[str | None, list[str] | None]:
        """``(company_id, community_ids)`` for SQL filters; ``None`` means "no restriction".

        Use as ``($1::text IS NULL OR company_id = $1) AND ($2::text[] IS NULL OR
        community_id = ANY($2))``.
        """
        company = None if self.all_companies else self.company_id
        communities = None if self.all_communities else sorted(self.communities)
        return company, communities
