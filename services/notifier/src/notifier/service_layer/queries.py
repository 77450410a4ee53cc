"""The SQL that reads due notifications with everything needed to decide and compose them."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from notifier.domain.channels import Contact, Preferences
from notifier.domain.plan import Due, Recipient
from propfee.labels import room_label_of_key

ROW = """
SELECT n.notification_id, n.community_id, n.unit_id, n.party_id, n.channel, n.requested_channel,
       n.message_type, n.subject_id, n.stage, n.essential, n.params, n.template, n.requested_at,
       n.attempts, n.tried_channels, n.provider, n.provider_message_id, n.proof,
       n.address AS claimed_address, n.claimed_by, n.claimed_at, n.lease_until, n.decided_at,
       n.sms_segments,
       p.party_id IS NOT NULL AS known, p.name, p.phone, p.email, p.wechat_openid, p.app_user_id,
       p.postal_address, p.locale,
       coalesce(pp.allowed_channels, p.allowed_channels) AS allowed,
       coalesce(pp.preferred_channels, p.preferred_channels) AS preferred,
       coalesce(pp.do_not_contact, p.do_not_contact) AS do_not_contact,
       c.company_id, c.time_zone, c.company_name, c.name AS community_name, c.service_phone,
       c.complaint_line, c.address AS company_address, c.backdate_days,
       r.quiet_start, r.quiet_end, r.reminder_cap, r.cap_window_days
  FROM notifications n
  LEFT JOIN parties p ON p.party_id = n.party_id
  LEFT JOIN party_preferences pp ON pp.party_id = n.party_id
  LEFT JOIN communities c ON c.community_id = n.community_id
  LEFT JOIN community_contact_rules r ON r.community_id = n.community_id
"""

#: One worker's share of what is due: the parties whose hash falls to it (``$3`` workers,
#: this one ``$4``), so two workers never hold messages for the same party at once.
SHARD = "abs(hashtext(n.party_id)::bigint) % $3 = $4"

CLAIM = (
    ROW
    + f""" WHERE n.status = 'queued' AND n.next_attempt_at <= $1 AND {SHARD}
 ORDER BY n.next_attempt_at, n.dedup_key LIMIT $2
   FOR UPDATE OF n SKIP LOCKED"""
)

#: Awaiting contacts past the grace period (their decision is a failure).
EXPIRED = (
    ROW
    + f""" WHERE n.status = 'awaiting_contacts' AND n.requested_at <= $1 AND {SHARD}
 ORDER BY n.requested_at, n.dedup_key LIMIT $2 FOR UPDATE OF n SKIP LOCKED"""
)

#: Claims whose lease ran out (``$1``: seconds more, against clock skew): their dispatcher
#: died (or lost its database) between taking them and recording what the provider answered
#: (service_layer/recovery.py).
EXPIRED_LEASES = (
    ROW
    + f""" WHERE n.status = 'sending' AND n.lease_until < now() - make_interval(secs => $1)
   AND {SHARD}
 ORDER BY n.lease_until, n.dedup_key LIMIT $2 FOR UPDATE OF n SKIP LOCKED"""
)

#: A message decided and composed, claimed for sending by ``$10`` until now() + ``$11`` s:
#: the text is kept as it will go out (staff read it if the outcome becomes unknown).
CLAIM_SENDING = """
UPDATE notifications SET status = 'sending', channel = $2, address = $3, body = $4,
       subject_line = $5, template_id = $6, template_version = $7, provider = $8,
       sms_segments = $9, claimed_by = $10, claimed_at = now(),
       lease_until = now() + make_interval(secs => $11), decided_at = $12
 WHERE notification_id = $1
"""

#: Take back one's own claim before recording its outcome (in the recording's transaction);
#: no row: the claim was lost (its lease expired and recovery took the message over).
RELEASE = """
UPDATE notifications SET status = 'queued', claimed_by = NULL, lease_until = NULL,
       sms_segments = NULL
 WHERE notification_id = $1 AND status = 'sending' AND claimed_by = $2
RETURNING notification_id
"""

#: ``RELEASE`` for many messages at once (the group commits of the dispatcher's outcomes):
#: those whose claim is still ``$2``'s come back.
RELEASE_MANY = """
UPDATE notifications SET status = 'queued', claimed_by = NULL, lease_until = NULL,
       sms_segments = NULL
 WHERE notification_id = ANY($1::text[]) AND status = 'sending' AND claimed_by = $2
RETURNING notification_id
"""

#: Each claimed party, locked for the batch's transaction in one global order (no deadlock):
#: a batch of another process that holds messages for the same party waits for this one to
#: commit, then reads what it sent (GONE, HISTORY) before deciding.
LOCK_PARTIES = """
SELECT pg_advisory_xact_lock(k)
  FROM (SELECT DISTINCT hashtextextended('notifier-party:' || p, 0) AS k
          FROM unnest($1::text[]) AS p ORDER BY k) AS keys
"""

BY_IDS = ROW + " WHERE n.notification_id = ANY($1::text[]) FOR UPDATE OF n"

#: Reminders that went out to these parties in the cap window, or may have (being sent by
#: another dispatcher, or their outcome unknown: counted at the instant they were decided).
HISTORY = """
SELECT party_id, subject_id, stage, coalesce(sent_at, decided_at) AS sent_at FROM notifications
 WHERE party_id = ANY($1::text[]) AND message_type = 'reminder'
   AND ((sent_at > $2 AND sent_at <= $3)
        OR (status IN ('sending', 'unknown') AND decided_at > $2 AND decided_at <= $3))
"""

#: What stops reminders of these units (pauses, payments, promises).
STOPS = """
SELECT kind, unit_id, case_id, invoice_id, stops_before, reason FROM reminder_stops
 WHERE unit_id = ANY($1::text[])
"""

#: What already went out for these subjects (exactly once per subject, stage, channel), is
#: going out (claimed by a dispatcher) or may have gone out (unknown: staff review it).
GONE = """
SELECT subject_id, message_type, coalesce(stage, '-') AS stage, channel FROM notifications
 WHERE subject_id = ANY($1::text[])
   AND status IN ('sending', 'unknown', 'sent', 'printing', 'posted', 'delivered')
"""


def scoped(query: str) -> str:
    """``CLAIM``, ``EXPIRED`` or ``EXPIRED_LEASES`` for one caller's communities (``$5``, ``$6`` =
    ``principal.sql_scope()``): a staff dispatch sends its own communities' messages only."""
    where = " WHERE "
    head, tail = query.split(where, 1)
    return f"{head}{where}{scope_sql(5)} AND {tail}"


def zone_of(row: Any, default: str) -> ZoneInfo:
    try:
        return ZoneInfo(row["time_zone"] or default)
    except (KeyError, ValueError):
        return ZoneInfo(default)


def due_of(row: Any) -> Due:
    return Due(
        message_type=row["message_type"],
        subject_id=row["subject_id"],
        stage=row["stage"],
        requested_channel=row["requested_channel"],
        essential=row["essential"],
        requested_at=row["requested_at"],
        tried=tuple(row["tried_channels"] or ()),
    )


def contact_of(row: Any) -> Contact:
    return Contact(
        phone=row["phone"],
        email=row["email"],
        wechat_openid=row["wechat_openid"],
        app_user_id=row["app_user_id"],
        postal_address=row["postal_address"],
        room_label=room_label_of_key(row["params"].get("room") or row["unit_id"]),
    )


def recipient_of(row: Any, default_zone: str) -> Recipient | None:
    if not row["known"]:
        return None
    prefs = Preferences(
        allowed=frozenset(row["allowed"] or ()),
        preferred=tuple(row["preferred"] or ()),
        do_not_contact=bool(row["do_not_contact"]),
    )
    return Recipient(contact_of(row), prefs, zone_of(row, default_zone))


def scope_sql(first: int = 1) -> str:
    """The scope filter for lists over a table aliased ``n`` (``community_id``) joined to
    ``communities c``; ``$first`` and ``$first+1`` are ``principal.sql_scope()``. A community
    whose company is unknown passes only a token that names its communities (see
    notifier.service_layer.access)."""
    company, communities = f"${first}", f"${first + 1}"
    return (
        f"({company}::text IS NULL OR c.company_id = {company} "
        f"OR (c.company_id IS NULL AND {communities}::text[] IS NOT NULL)) "
        f"AND ({communities}::text[] IS NULL OR n.community_id = ANY({communities}))"
    )
