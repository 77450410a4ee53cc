"""What the ids in dunning's requests name, and whose they are (``propfee.auth.scope``).

Every path parameter, query parameter and JSON body field named here is resolved before the
route runs: 404 unless it exists in the caller's scope and in the request's community. A
community whose company dunning has not learnt yet (billing.community-updated) is reached by
deployment-wide tokens only."""

from propfee.auth import Kind, ScopeRegistry, sql_resolver

_COMPANY = "LEFT JOIN communities c USING (community_id)"


def _by(table: str, column: str, alias: str = "t") -> str:
    return (
        f"SELECT DISTINCT ON ({alias}.{column}) {alias}.{column} AS id, {alias}.community_id, "
        f"c.company_id FROM {table} {alias} {_COMPANY} "
        f"WHERE {alias}.{column} = ANY($1::text[]) ORDER BY {alias}.{column}"
    )


COMMUNITY = Kind(
    "community",
    sql_resolver(
        "SELECT community_id AS id, community_id, company_id FROM communities "
        "WHERE community_id = ANY($1::text[])"
    ),
    # /policies/default: the caller's company's default policy (the route scopes it)
    wildcards=frozenset({"default"}),
)
CASE = Kind("case", sql_resolver(_by("arrears_cases", "case_id")))
INVOICE = Kind("invoice", sql_resolver(_by("receivables", "invoice_id")))
UNIT = Kind("unit", sql_resolver(_by("receivables", "unit_id")))
TASK = Kind("task", sql_resolver(_by("tasks", "task_id")))
PAUSE = Kind(
    "pause",
    sql_resolver(
        "SELECT p.pause_id AS id, a.community_id, c.company_id FROM pauses p "
        f"JOIN arrears_cases a USING (case_id) {_COMPANY} WHERE p.pause_id = ANY($1::text[])"
    ),
)

REGISTRY = ScopeRegistry(
    fields={
        "community_id": COMMUNITY,
        "case_id": CASE,
        "invoice_id": INVOICE,
        "unit_id": UNIT,
        "task_id": TASK,
        "pause_id": PAUSE,
    },
    not_references={
        "before_id": "the audit trail's paging cursor (rows are filtered by scope in SQL)",
        "staff_id": "a staff member (the identity provider's subject), not a record here",
    },
)
