"""What the ids in dunning's requests name, and whose they are (``propfee.auth.scope``).

Every path parameter, query parameter and JSON body field named here is resolved before the
route runs: 404 unless it exists in the caller's scope and in the request's community. A
community whose company dunning has not learnt yet (billing.community-updated) is reached by
deployment-wide tokens only."""

from dunning.service_layer import scope
from propfee.auth import Kind, ScopeRegistry, column_resolver, community_resolver, sql_resolver

#: ``/policies/default``: the caller's company's default policy (the route scopes it).
COMMUNITY = Kind("community", community_resolver, wildcards=frozenset({"default"}))
CASE = Kind("case", column_resolver("arrears_cases", "case_id"))
INVOICE = Kind("invoice", column_resolver("receivables", "invoice_id"))
UNIT = Kind("unit", column_resolver("receivables", "unit_id"))
TASK = Kind("task", column_resolver("tasks", "task_id"))
PAUSE = Kind("pause", sql_resolver(scope.PAUSE_SCOPE))
LETTER = Kind("letter", sql_resolver(scope.LETTER_SCOPE))

REGISTRY = ScopeRegistry(
    fields={
        "community_id": COMMUNITY,
        "case_id": CASE,
        "invoice_id": INVOICE,
        "unit_id": UNIT,
        "task_id": TASK,
        "pause_id": PAUSE,
        "letter_id": LETTER,
    },
    not_references={
        "building_id": "billing's building of a unit, a filter of the case list: the list "
        "keeps the caller's communities in SQL, so another company's building matches nothing",
        "staff_id": "a staff member (the identity provider's subject), not a record here",
        "sweep_id": "a sweep, of a company's communities: the service layer scopes it "
        "(sweep_progress: the caller's company, and communities all within the caller's)",
        "job_id": "a bulk job, of a company's communities: the service layer scopes it "
        "(job_progress: the caller's company, and communities all within the caller's)",
        "case_ids": "a bulk job's selection: the service layer resolves every case through "
        "the caller's scope (create_assignment_job: 404 naming the first outside it)",
    },
)
