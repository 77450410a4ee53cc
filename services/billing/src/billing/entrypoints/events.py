"""Events billing consumes (consumer group ``billing``)."""

from billing.service_layer import limitation_clocks, payments
from propfee.consumer import BatchHandler, Handler
from propfee.events import Event, LimitationClockChanged, PaymentReceived, PaymentRefunded

HANDLERS: dict[type[Event], Handler] = {
    PaymentRefunded: payments.record_refund,
    LimitationClockChanged: limitation_clocks.record_limitation_clock,
}
#: Payments arrive by the thousand at month end: allocated a batch per transaction.
BATCH_HANDLERS: dict[type[Event], BatchHandler] = {
    PaymentReceived: payments.record_payments,
}
