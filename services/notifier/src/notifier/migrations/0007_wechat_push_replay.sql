-- WeChat message pushes seen within the freshness window (NOTIFIER_WECHAT_PUSH_MAX_AGE_S):
-- a replayed push (same signature over the same timestamp, nonce and body) is acknowledged
-- and changes nothing. Rows older than the window are deleted as new pushes arrive.
CREATE TABLE wechat_push_seen (
    signature   text        PRIMARY KEY,   -- msg_signature (safe mode) or signature
    timestamp   bigint      NOT NULL,      -- the push's own (seconds)
    nonce       text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX wechat_push_seen_by_age ON wechat_push_seen (received_at);
