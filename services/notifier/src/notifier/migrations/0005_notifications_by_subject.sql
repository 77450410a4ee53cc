-- What was already sent for a subject (an invoice, a case) at this stage and channel: the
-- dispatcher asks for every batch, a sequential scan of all notifications without this index.
CREATE INDEX notifications_by_subject ON notifications (subject_id);
