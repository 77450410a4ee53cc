-- Utilities collected on behalf of suppliers (水电暖代收, issue 17 rule 9): a pass-through fee
-- item carries the supplier's tariff and where it is published; its rate may not exceed the
-- tariff (no surcharge). NOT VALID: versions published before this migration keep their rows
-- (a published version is never edited); every version published from now on is checked.
ALTER TABLE fee_items
    ADD COLUMN supplier_tariff_fen numeric(14, 4) CHECK (supplier_tariff_fen >= 0),
    ADD COLUMN tariff_source       text;
ALTER TABLE fee_items ADD CONSTRAINT fee_items_pass_through_at_supplier_tariff CHECK (
    CASE WHEN pass_through
         THEN supplier_tariff_fen IS NOT NULL AND coalesce(btrim(tariff_source), '') <> ''
              AND rate_fen <= supplier_tariff_fen
         ELSE supplier_tariff_fen IS NULL AND tariff_source IS NULL
    END
) NOT VALID;

-- A sale settles the account (rule 13): the seller's credit at the sale, as recorded with the
-- seller's choice (refund or transfer to the buyer).
ALTER TABLE unit_sales
    ADD COLUMN seller_credit_fen bigint NOT NULL DEFAULT 0 CHECK (seller_credit_fen >= 0);
