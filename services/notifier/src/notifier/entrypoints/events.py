"""Events notifier consumes (consumer group ``notifier``)."""

from notifier.service_layer import handlers
from propfee.consumer import Handler
from propfee.events import (
    ArrearsEscalated,
    CommunityUpdated,
    Event,
    InvoiceIssued,
    PartyContactsUpdated,
    PaymentReceived,
)

HANDLERS: dict[type[Event], Handler] = {
    CommunityUpdated: handlers.on_community_updated,
    PartyContactsUpdated: handlers.on_party_contacts_updated,
    InvoiceIssued: handlers.on_invoice_issued,
    PaymentReceived: handlers.on_payment_received,
    ArrearsEscalated: handlers.on_arrears_escalated,
}
