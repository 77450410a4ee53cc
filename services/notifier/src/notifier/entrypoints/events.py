"""Events notifier consumes (consumer group ``notifier``)."""

from notifier.service_layer import handlers
from propfee.consumer import Handler
from propfee.events import (
    ArrearsCasePaused,
    ArrearsCaseResumed,
    ArrearsEscalated,
    CommunityUpdated,
    Event,
    InstallmentPlanCreated,
    InvoiceIssued,
    PartyContactsUpdated,
    PaymentReceived,
    PromiseRecorded,
)

HANDLERS: dict[type[Event], Handler] = {
    CommunityUpdated: handlers.on_community_updated,
    PartyContactsUpdated: handlers.on_party_contacts_updated,
    InvoiceIssued: handlers.on_invoice_issued,
    PaymentReceived: handlers.on_payment_received,
    ArrearsEscalated: handlers.on_arrears_escalated,
    ArrearsCasePaused: handlers.on_arrears_case_paused,
    ArrearsCaseResumed: handlers.on_arrears_case_resumed,
    PromiseRecorded: handlers.on_promise_recorded,
    InstallmentPlanCreated: handlers.on_installment_plan_created,
}
