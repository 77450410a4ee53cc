"""What the ids in notifier's requests name, and whose they are (``propfee.auth.scope``).

Every path parameter, query parameter and JSON body field named here is resolved before the
route runs: 404 unless it exists in the caller's scope and in the request's community.
Notifier knows units and subjects (cases, invoices, payments) only by the messages it has
queued for them."""

from notifier.service_layer import access
from propfee.auth import (
    COMPANY,
    Kind,
    ScopeRegistry,
    column_resolver,
    community_resolver,
)

COMMUNITY = Kind("community", community_resolver)
PARTY = Kind("party", column_resolver("parties", "party_id"))
NOTIFICATION = Kind("notification", column_resolver("notifications", "notification_id"))
UNIT = Kind("unit", column_resolver("notifications", "unit_id"))
SUBJECT = Kind("subject", column_resolver("notifications", "subject_id"))

#: A company's template version (company-level; built-in defaults have no company and are
#: never named by version).
TEMPLATE_VERSION = Kind("template version", access.TEMPLATE_VERSION_RESOLVER)

REGISTRY = ScopeRegistry(
    fields={
        "company_id": COMPANY,
        "template_version_id": TEMPLATE_VERSION,
        "community_id": COMMUNITY,
        "party_id": PARTY,
        "notification_id": NOTIFICATION,
        "unit_id": UNIT,
        "subject_id": SUBJECT,
    },
    not_references={
        "provider_message_id": "the provider's message id of a delivery receipt; matched to "
        "its notification by the receipt's own lookup",
        "batch_id": "a letter batch (its route checks the caller's scope)",
        "job_id": "a letter print job (its routes check the caller's scope as for its batch: "
        "access.print_job)",
        "case_ids": "dunning cases whose letters a print batch gathers: matched as the letters' "
        "subjects within the caller's communities in SQL (a case outside them has none)",
        "template_id": "a template's key (reminder.sms, ...): each company has its own versions "
        "under it, filtered by the caller's company in SQL",
    },
)
