"""The caller's scope in SQL: the communities of the token's company (as dunning learnt them
from billing.community-updated) and, when the token lists them, only those."""

from __future__ import annotations


def scope_sql(column: str, company: int, communities: int) -> str:
    """A SQL condition keeping rows of ``column``'s community within the caller's scope; the
    parameters ``$company`` and ``$communities`` are ``principal.sql_scope()``. A community
    whose company dunning does not know is outside every company-bound scope."""
    return (
        f"(${company}::text IS NULL OR EXISTS (SELECT 1 FROM communities sc "
        f"WHERE sc.community_id = {column} AND sc.company_id = ${company})) "
        f"AND (${communities}::text[] IS NULL OR {column} = ANY(${communities}))"
    )
