-- Money rules (issue 17), the parts several changes share.

-- Utilities collected on behalf of suppliers (水电暖代收) are invoiced apart from the property
-- fee; allocation keeps the two apart (DOMAIN.md, "Utilities collected on behalf").
ALTER TABLE invoices
    ADD COLUMN collection text NOT NULL DEFAULT 'property'
        CHECK (collection IN ('property', 'utilities'));
-- Utilities bear no late fee unless the service contract names one for them.
ALTER TABLE communities ADD COLUMN utilities_late_fee boolean NOT NULL DEFAULT false;

-- A sale settles the account: the seller's arrears as of the sale date, the seller's credit
-- refunded or transferred by an explicit choice; from sold_at the buyer's money pays only the
-- buyer's invoices (the account replay reads these rows).
CREATE TABLE unit_sales (
    sale_id           text        PRIMARY KEY,
    unit_id           text        NOT NULL REFERENCES units,
    sold_on           date        NOT NULL,
    sold_at           timestamptz NOT NULL,
    seller_party_ids  text[]      NOT NULL,
    buyer_party_id    text        NOT NULL,
    seller_credit     text        NOT NULL CHECK (seller_credit IN ('refund', 'transfer')),
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    recorded_by       text
);
CREATE INDEX unit_sales_by_unit ON unit_sales (unit_id, sold_at);
