"""Events payments consumes (consumer group ``payments``): billing's invoices, for its read
model of what each household owes."""

from payments.service_layer import invoices
from propfee.consumer import Handler
from propfee.events import Event, InvoiceIssued, InvoiceSettled

HANDLERS: dict[type[Event], Handler] = {
    InvoiceIssued: invoices.invoice_issued,
    InvoiceSettled: invoices.invoice_settled,
}
