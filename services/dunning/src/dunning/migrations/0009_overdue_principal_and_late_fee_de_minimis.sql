-- Issue 18, rules 4 and 6: tiers, the ladder and demands count overdue money only, and run on
-- overdue principal; an open late fee below a community's de-minimis amount alone keeps no
-- case on the ladder.
--
-- How billing issued each invoice (InvoiceIssued.kind): an 'opening_late_fee' invoice is a
-- late fee imported from the old system and counts as late fee, never as principal.
ALTER TABLE receivables ADD COLUMN kind text
    CHECK (kind IN ('regular', 'manual', 'opening_arrears', 'opening_late_fee'));

-- A community's dunning settings beside its policy; a community without a row has the
-- defaults (late fee de-minimis: 5,000 fen = 50 yuan).
CREATE TABLE community_settings (
    community_id            text        PRIMARY KEY,
    late_fee_de_minimis_fen bigint      NOT NULL DEFAULT 5000 CHECK (late_fee_de_minimis_fen > 0),
    updated_at              timestamptz NOT NULL DEFAULT now()
);

-- The one home of the rule: the amount the ladder chases a household for, from its overdue
-- principal and its overdue open late fee. With overdue principal: both. Without: the late
-- fee alone when it reaches the de-minimis amount, else nothing (the case is 'current').
CREATE FUNCTION dunning_chased_fen(principal_fen bigint, late_fee_fen bigint,
                                   de_minimis_fen bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN coalesce(principal_fen, 0) > 0 THEN principal_fen + coalesce(late_fee_fen, 0)
        WHEN coalesce(late_fee_fen, 0) >= de_minimis_fen THEN late_fee_fen
        ELSE 0
    END
$$;
