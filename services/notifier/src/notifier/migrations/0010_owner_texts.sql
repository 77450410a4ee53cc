-- Issue 19, "What owners read".
--
-- The periods of the invoices the notifier was told of (InvoiceIssued), so a receipt names
-- the months it paid and a reminder the months it chases; and the room as billing wrote it,
-- for a receipt (PaymentReceived carries no room).
CREATE TABLE invoice_periods (
    invoice_id   text        PRIMARY KEY,
    community_id text        NOT NULL,
    unit_id      text        NOT NULL,
    room_label   text,
    period_start date        NOT NULL,
    period_end   date        NOT NULL,
    due_date     date        NOT NULL,
    CHECK (period_end >= period_start)
);
CREATE INDEX invoice_periods_by_unit ON invoice_periods (unit_id);

-- Pay links: a short signed token (propfee.pay_links) per household and occasion (the
-- subject, message type and stage a message was written for), reused by every channel and
-- retry of that occasion; published as PayLinkIssued for payments to resolve.
CREATE TABLE pay_links (
    token        text        PRIMARY KEY,
    company_id   text,
    community_id text        NOT NULL,
    unit_id      text        NOT NULL,
    party_id     text        NOT NULL,
    occasion     text        NOT NULL,
    issued_at    timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    CONSTRAINT pay_links_one_per_occasion UNIQUE (unit_id, party_id, occasion),
    CHECK (expires_at > issued_at)
);

-- The segments a sent SMS is billed as (GSM-7 160/153, UCS-2 70/67, sign included): what a
-- company pays, summed by the dispatch report and over a year.
ALTER TABLE notifications ADD COLUMN sms_segments smallint CHECK (sms_segments > 0);
