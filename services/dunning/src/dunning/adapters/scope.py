"""The caller's scope in SQL: the communities of the token's company (as dunning learnt them
from billing.community-updated) and, when the token lists them, only those."""

from __future__ import annotations


def scope_sql(column: str, company: int, communities: int) -> str:
    """A SQL condition keeping rows of ``column``'s community within the caller's scope; the
    parameters ``$company`` and ``$communities`` are ``principal.sql_scope()``. A community
    whose company dunning does not know is outside every company-bound scope. ``column`` must
    be qualified by its table: a bare name would resolve inside the subquery to
    ``communities.community_id`` and let every community of the company through."""
    if "." not in column:
        raise ValueError(f"scope_sql needs a table-qualified column, not {column!r}")
    return (
        f"(${company}::text IS NULL OR EXISTS (SELECT 1 FROM communities sc "
        f"WHERE sc.community_id = {column} AND sc.company_id = ${company})) "
        f"AND (${communities}::text[] IS NULL OR {column} = ANY(${communities}))"
    )
