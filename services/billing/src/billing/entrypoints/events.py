"""Events billing consumes (consumer group ``billing``)."""

from billing.service_layer import handlers
from propfee.consumer import Handler
from propfee.events import Event, PaymentReceived, PaymentRefunded

HANDLERS: dict[type[Event], Handler] = {
    PaymentReceived: handlers.record_payment,
    PaymentRefunded: handlers.record_refund,
}
