-- Issue 18, rule 3: posted is not delivered. A letter with a tracking number is 'posted'; it
-- becomes 'delivered' on the carrier's delivery status (EMS 妥投/signed) or a recorded signed
-- receipt (its scan or reference), recorded by staff with that proof.
ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
ALTER TABLE notifications
    ADD COLUMN posted_at timestamptz,
    ADD CONSTRAINT notifications_status_check CHECK (status IN (
        'queued', 'awaiting_contacts', 'sent', 'printing', 'posted', 'delivered', 'failed',
        'suppressed', 'skipped', 'cancelled'));

-- Letters and door notices marked delivered on a tracking number alone were only posted.
UPDATE notifications SET status = 'posted', posted_at = delivered_at, delivered_at = NULL
 WHERE channel IN ('letter', 'door_notice') AND status = 'delivered'
   AND tracking_number IS NOT NULL
   AND NOT (proof ? 'carrier_status' OR proof ? 'receipt_reference');
