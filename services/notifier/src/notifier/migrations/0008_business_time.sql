-- Business times staff send (issue 16 item 6): the company's back-dating window, from
-- billing.community-updated (NULL: the default, 7 days); a letter's delivery keeps both the
-- business time staff gave (delivered_at) and when it was recorded.
ALTER TABLE communities ADD COLUMN backdate_days integer;
ALTER TABLE notifications ADD COLUMN delivery_recorded_at timestamptz;
