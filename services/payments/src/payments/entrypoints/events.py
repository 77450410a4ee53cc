"""Events payments consumes (consumer group ``payments``): billing's invoices, for its read
model of what each household owes (issued, settled, balance changed), and billing's
communities, for each one's company (the scope of company-wide tokens) and contract terms;
the notifier's pay links, to resolve them."""

from payments.service_layer import communities, invoices, pay_links
from propfee.consumer import Handler
from propfee.events import (
    CommunityUpdated,
    Event,
    InvoiceBalanceChanged,
    InvoiceIssued,
    InvoiceSettled,
    PayLinkIssued,
)

HANDLERS: dict[type[Event], Handler] = {
    CommunityUpdated: communities.community_updated,
    InvoiceIssued: invoices.invoice_issued,
    InvoiceSettled: invoices.invoice_settled,
    InvoiceBalanceChanged: invoices.invoice_balance_changed,
    PayLinkIssued: pay_links.pay_link_issued,
}
