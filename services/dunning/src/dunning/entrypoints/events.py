"""Events dunning consumes (consumer group ``dunning``)."""

from dunning.service_layer import handlers, notifier_in, plans
from propfee.consumer import BatchHandler, Handler
from propfee.events import (
    CommunityUpdated,
    Event,
    InstallmentPlanCreated,
    InvoiceBalanceChanged,
    InvoiceIssued,
    InvoiceSettled,
    LateFeeAssessed,
    NotificationDelivered,
    NotificationFailed,
    PartyContactsUpdated,
    PaymentReceived,
    PaymentRefunded,
    StaffTaskRequested,
)

HANDLERS: dict[type[Event], Handler] = {
    CommunityUpdated: handlers.on_community_updated,
    InvoiceIssued: handlers.on_invoice_issued,
    InvoiceSettled: handlers.on_invoice_settled,
    InvoiceBalanceChanged: handlers.on_invoice_balance_changed,
    LateFeeAssessed: handlers.on_late_fee_assessed,
    InstallmentPlanCreated: plans.on_installment_plan_created,
    PaymentReceived: handlers.on_payment_received,
    PaymentRefunded: handlers.on_payment_refunded,
    PartyContactsUpdated: handlers.on_party_contacts_updated,
    NotificationDelivered: notifier_in.on_notification_delivered,
    NotificationFailed: notifier_in.on_notification_failed,
    StaffTaskRequested: notifier_in.on_staff_task_requested,
}

#: Handled a run at a time (one transaction per run of one partition, set-based SQL): the
#: payment hold, and billing's invoices and balances (a billing run, a day's payments).
BATCH_HANDLERS: dict[type[Event], BatchHandler] = {
    PaymentReceived: handlers.on_payments_received,
    InvoiceIssued: handlers.on_invoices_issued,
    InvoiceBalanceChanged: handlers.on_invoice_balances_changed,
    InvoiceSettled: handlers.on_invoices_settled,
}
