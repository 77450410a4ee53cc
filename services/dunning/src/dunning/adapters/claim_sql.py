"""What an escalation claims, per invoice (issue 19): ArrearsEscalated.statement (ClaimLine:
the period, the principal and late fee owed on the day, how the late fee was computed) and
``paid_fen`` (paid so far toward the invoices chased: a part payment). The one home of both,
run by the sweep (a LATERAL join over the escalations it just made: set-based, one index
probe of ``receivables`` per escalation) and by the manual advance (``CASE_CLAIM``).

Lines go with the escalations that print or demand: a stage whose messages include a letter
or a door notice, or one with a deadline (a demand). Other reminders (an SMS names the room,
the amount and the deadline, not the periods) carry ``paid_fen`` only: the sweep over a
million cases keeps its events small.
"""

from dunning.adapters.sweep_sql import LATE_FEE, PRINCIPAL

#: What the invoice is for, as ClaimLine.fee_item names it (dunning chases the property fee;
#: an imported opening balance says so).
FEE_ITEM = (
    "CASE WHEN r.kind IN ('opening_arrears', 'opening_late_fee') THEN r.kind ELSE 'property' END"
)


def wants_lines(actions: str, deadline: str) -> str:
    """The condition under which an escalation with ``actions`` (jsonb) and ``deadline``
    (date) carries its lines: a printed message or a demand."""
    return (
        f"({deadline} IS NOT NULL"
        f' OR {actions} @> \'[{{"kind": "message", "channel": "letter"}}]\'::jsonb'
        f' OR {actions} @> \'[{{"kind": "message", "channel": "door_notice"}}]\'::jsonb)'
    )


def claim(invoice_ids: str, with_lines: str) -> str:
    """A one-row subquery over the receivables ``invoice_ids`` (a text[] expression):
    ``statement`` (a JSON array of ClaimLine in due-date order when ``with_lines`` holds,
    else NULL) and ``paid_fen`` (total less principal outstanding, summed)."""
    return f"""(
    SELECT CASE WHEN {with_lines} THEN coalesce(jsonb_agg(jsonb_build_object(
               'invoice_id', r.invoice_id, 'period_start', r.period_start,
               'period_end', r.period_end, 'due_date', r.due_date, 'fee_item', {FEE_ITEM},
               'principal_fen', {PRINCIPAL}, 'late_fee_fen', {LATE_FEE},
               'late_fee_basis', r.late_fee_basis, 'late_fee_as_of', r.late_fee_as_of)
               ORDER BY r.due_date, r.invoice_id), '[]'::jsonb) END AS statement,
           coalesce(sum(greatest(
               r.total_fen - coalesce(r.principal_outstanding_fen, r.total_fen), 0)), 0
           )::bigint AS paid_fen
    FROM receivables r
    WHERE r.invoice_id = ANY ({invoice_ids})
)"""


#: The sweep's: of an escalation ``i`` it just inserted.
SWEEP_CLAIM = (
    f"LEFT JOIN LATERAL {claim('i.invoice_ids', wants_lines('i.actions', 'i.deadline'))} cl ON true"
)

#: The manual advance's: $1 the invoice ids, $2 the stage's actions (jsonb), $3 its deadline.
CASE_CLAIM = (
    "SELECT statement, paid_fen FROM "
    + claim("$1::text[]", wants_lines("$2::jsonb", "$3::date"))
    + " cl"
)
