"""Events billing consumes (consumer group ``billing``)."""

from billing.service_layer import limitation_clocks, payments
from propfee.consumer import BatchHandler, Handler
from propfee.events import Event, LimitationClockChanged, PaymentReceived, PaymentRefunded

HANDLERS: dict[type[Event], Handler] = {}
#: Payments arrive by the thousand at month end: allocated a batch per transaction. Every
#: handler that replays accounts is a batch handler that locks all of its units at once, in
#: one global order: handlers called one event at a time in a run would lock them in arrival
#: order and could deadlock with a late-fee job or a run (both lock in order).
BATCH_HANDLERS: dict[type[Event], BatchHandler] = {
    PaymentReceived: payments.record_payments,
    PaymentRefunded: payments.record_refunds,
    LimitationClockChanged: limitation_clocks.record_limitation_clocks,
}
