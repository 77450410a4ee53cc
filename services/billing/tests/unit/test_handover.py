"""Who pays around a handover or a sale (billing.domain.handover): one home for the rule the
ledger import, the handover and the sale apply."""

from datetime import date

import pytest

from billing.domain.handover import EARLIEST, Tie, initial_ties, new_payer_from, old_payer_until


@pytest.mark.parametrize(
    ("day", "until", "since"),
    [
        (date(2026, 3, 1), date(2026, 3, 31), date(2026, 4, 1)),
        (date(2026, 3, 31), date(2026, 3, 31), date(2026, 4, 1)),
        (date(2024, 2, 10), date(2024, 2, 29), date(2024, 3, 1)),
        (date(2026, 12, 15), date(2026, 12, 31), date(2027, 1, 1)),
    ],
)
def test_the_old_payer_pays_the_whole_month_the_new_one_from_the_next(
    day: date, until: date, since: date
) -> None:
    assert old_payer_until(day) == until
    assert new_payer_from(day) == since
    assert (new_payer_from(day) - old_payer_until(day)).days == 1  # no gap, no overlap


def test_a_unit_handed_over_is_the_developers_through_that_month_then_the_owners() -> None:
    ties = initial_ties(
        status="occupied",
        payer="owner",
        handover_date=date(2026, 5, 20),
        has_owner=True,
        has_tenant=False,
    )
    assert ties == (
        Tie("developer", True, EARLIEST, date(2026, 5, 31)),
        Tie("owner", True, date(2026, 6, 1)),
    )


def test_a_tenant_who_pays_takes_over_from_the_developer_the_owner_stays_tied() -> None:
    ties = initial_ties(
        status="occupied",
        payer="tenant",
        handover_date=date(2026, 5, 20),
        has_owner=True,
        has_tenant=True,
    )
    assert ties == (
        Tie("developer", True, EARLIEST, date(2026, 5, 31)),
        Tie("owner", False, date(2026, 6, 1)),
        Tie("tenant", True, date(2026, 6, 1)),
    )


def test_without_a_handover_day_the_owner_pays_since_always() -> None:
    ties = initial_ties(
        status="vacant", payer="owner", handover_date=None, has_owner=True, has_tenant=False
    )
    assert ties == (Tie("owner", True, EARLIEST),)


@pytest.mark.parametrize(("status", "payer"), [("unsold", "owner"), ("occupied", "developer")])
def test_the_developer_pays_an_unsold_unit_open_ended_and_its_buyer_waits(
    status: str, payer: str
) -> None:
    ties = initial_ties(
        status=status,
        payer=payer,
        handover_date=date(2026, 5, 20),
        has_owner=True,
        has_tenant=False,
    )
    assert ties == (Tie("developer", True, EARLIEST),)


def test_nobody_named_and_no_developer_leaves_the_unit_without_a_payer() -> None:
    assert (
        initial_ties(
            status="occupied", payer="owner", handover_date=None, has_owner=False, has_tenant=False
        )
        == ()
    )
