"""Aging buckets (账龄): how many days past its due date an amount is, in five buckets.

One home for the rule: billing's aging report and dunning's arrears list both bucket with
this table, in Python (:func:`bucket_of`) and in SQL (:func:`bucket_sql`, generated from the
same table, so the two cannot drift; ``tests/unit/test_aging.py`` runs one example table
against both, the SQL on PostgreSQL). Not yet due (negative days) is no bucket.
"""

from __future__ import annotations

from typing import Literal, get_args

AgingBucket = Literal["0-30", "31-90", "91-180", "181-365", "365+"]

#: (label, first day, last day or None), in age order.
BUCKETS: tuple[tuple[AgingBucket, int, int | None], ...] = (
    ("0-30", 0, 30),
    ("31-90", 31, 90),
    ("91-180", 91, 180),
    ("181-365", 181, 365),
    ("365+", 366, None),
)
#: The labels in age order.
BUCKET_LABELS: tuple[AgingBucket, ...] = tuple(label for label, _, _ in BUCKETS)
assert BUCKET_LABELS == get_args(AgingBucket)


def bucket_of(days: int) -> AgingBucket | None:
    """The bucket of an amount ``days`` past due (None: not yet due)."""
    for label, first, last in BUCKETS:
        if days >= first and (last is None or days <= last):
            return label
    return None


def bucket_sql(days: str) -> str:
    """A SQL expression: the bucket (text) of the integer expression ``days``, NULL when it
    is negative or NULL."""
    arms = " ".join(
        f"WHEN {days} <= {last} THEN '{label}'" for label, _, last in BUCKETS if last is not None
    )
    (last_label, first, _) = BUCKETS[-1]
    return (
        f"(CASE WHEN {days} IS NULL OR {days} < 0 THEN NULL {arms} "
        f"WHEN {days} >= {first} THEN '{last_label}' END)"
    )
