"""Events notifier consumes (consumer group ``notifier``)."""

from notifier.service_layer import handlers
from propfee.consumer import Handler
from propfee.events import ArrearsEscalated, Event, InvoiceIssued, PaymentReceived

HANDLERS: dict[type[Event], Handler] = {
    InvoiceIssued: handlers.on_invoice_issued,
    PaymentReceived: handlers.on_payment_received,
    ArrearsEscalated: handlers.on_arrears_escalated,
}
