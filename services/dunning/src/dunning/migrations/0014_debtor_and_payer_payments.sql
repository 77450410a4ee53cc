-- Issue 18, rules 7 and 14: the evidence names the debtor and the basis of their liability,
-- and a case's payments are its payer's.

-- The parties billing registers (PartyContactsUpdated, topic billing.party-contacts-updated):
-- only what the evidence cover needs (who the debtor is, in what capacity, where to serve
-- them); phone, e-mail and messaging ids stay with notifier. The newest updated_at wins.
CREATE TABLE parties (
    party_id       text        PRIMARY KEY,
    community_id   text        NOT NULL,
    kind           text        NOT NULL,
    name           text,
    postal_address text,
    updated_at     timestamptz NOT NULL
);

-- Who paid (PaymentReceived.payer_party_id): a case's payments are those of its payer (after
-- a sale the buyer's payments are not the seller's). NULL for payments seen before this
-- migration: they stay counted for the unit, as before.
ALTER TABLE payments_seen ADD COLUMN payer_party_id text;
