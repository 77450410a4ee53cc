"""Events billing consumes (consumer group ``billing``)."""

from billing.service_layer import payments
from propfee.consumer import Handler
from propfee.events import Event, PaymentReceived, PaymentRefunded

HANDLERS: dict[type[Event], Handler] = {
    PaymentReceived: payments.record_payment,
    PaymentRefunded: payments.record_refund,
}
