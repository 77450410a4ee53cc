"""Events dunning consumes (consumer group ``dunning``)."""

from dunning.service_layer import handlers
from propfee.consumer import Handler
from propfee.events import (
    Event,
    InvoiceBalanceChanged,
    InvoiceIssued,
    InvoiceSettled,
    NotificationDelivered,
    NotificationFailed,
    PaymentReceived,
    PaymentRefunded,
)

HANDLERS: dict[type[Event], Handler] = {
    InvoiceIssued: handlers.on_invoice_issued,
    InvoiceSettled: handlers.on_invoice_settled,
    InvoiceBalanceChanged: handlers.on_invoice_balance_changed,
    PaymentReceived: handlers.on_payment_received,
    PaymentRefunded: handlers.on_payment_refunded,
    NotificationDelivered: handlers.on_notification_delivered,
    NotificationFailed: handlers.on_notification_failed,
}
