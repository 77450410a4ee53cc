-- Issue 18, rule 7: the right person is chased. A case is a unit *and* a liable party (the
-- payer billing named on the invoices): after a sale, a handover or a tenant change each party
-- is chased only for its own invoices (DOMAIN.md, "Cases per liable party").

-- Everyone billing names as liable for an invoice (InvoiceIssued.liable_party_ids: the payer
-- first, then the owner jointly liable when a tenant pays); NULL for invoices issued before
-- billing published it (then the payer alone is liable).
ALTER TABLE receivables ADD COLUMN liable_party_ids text[];

-- At most one open case per household and payer (was: per household).
DROP INDEX arrears_cases_one_open;
CREATE UNIQUE INDEX arrears_cases_one_open ON arrears_cases (unit_id, payer_party_id)
    WHERE status = 'open';

-- Split the open cases that held the invoices of several payers. The case keeps its id, its
-- history (stage, escalations, promises, pauses, letters) and its payer; every other payer
-- with open invoices of the unit gets a new open case of their own at the start of the ladder
-- (nobody ever chased them individually: the escalations so far named the case's payer). A
-- case whose own payer owes nothing any more (the seller paid up, the buyer's bills kept the
-- household's case open) is closed, as reconcile_case would close it.
INSERT INTO arrears_cases (case_id, unit_id, community_id, payer_party_id, opened_at, on_hold,
                           hold_payment_id, hold_since, room_label)
SELECT 'case-' || gen_random_uuid(), o.unit_id, c.community_id, o.payer_party_id, now(),
       c.on_hold, c.hold_payment_id, c.hold_since, c.room_label
FROM (SELECT DISTINCT unit_id, payer_party_id FROM receivables WHERE issued AND NOT settled) o
JOIN arrears_cases c ON c.unit_id = o.unit_id AND c.status = 'open'
WHERE c.payer_party_id <> o.payer_party_id
  AND NOT EXISTS (SELECT 1 FROM arrears_cases x WHERE x.unit_id = o.unit_id
                  AND x.payer_party_id = o.payer_party_id AND x.status = 'open');

WITH closed AS (
    UPDATE arrears_cases c SET status = 'closed', closed_at = now(), on_hold = false,
           close_reason = 'paid'
    WHERE c.status = 'open'
      AND NOT EXISTS (SELECT 1 FROM receivables r WHERE r.unit_id = c.unit_id
                      AND r.payer_party_id = c.payer_party_id AND r.issued AND NOT r.settled)
      AND EXISTS (SELECT 1 FROM receivables r WHERE r.unit_id = c.unit_id
                  AND r.issued AND NOT r.settled)
    RETURNING c.case_id
), kept AS (
    UPDATE promises p SET status = 'kept', closed_at = now()
    FROM closed WHERE p.case_id = closed.case_id AND p.status = 'open'
)
UPDATE tasks t SET status = 'cancelled', completed_at = now()
FROM closed WHERE t.case_id = closed.case_id AND t.status = 'open';

-- An escalation addresses one party: the case's payer, and from the policy's
-- joint_liability_from_stage also the owner jointly liable with a tenant who pays (a second
-- row, same case, stage and cycle, the owner as payer_party_id; it counts toward the owner's
-- reminder cap).
ALTER TABLE escalations DROP CONSTRAINT escalations_case_id_stage_cycle_key;
ALTER TABLE escalations ADD CONSTRAINT escalations_case_stage_cycle_party_key
    UNIQUE (case_id, stage, cycle, payer_party_id);
