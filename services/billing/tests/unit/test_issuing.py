"""Rule 10 and rule 9's late-fee part: what every InvoiceIssued says beyond its lines."""

from datetime import UTC, date, datetime

from billing.service_layer.issuing import LateFeeContract, liable_parties


def test_the_owner_stays_liable_when_someone_else_pays() -> None:
    assert liable_parties("tenant", "owner") == ["tenant", "owner"]
    assert liable_parties("owner", "owner") == ["owner"]
    assert liable_parties("developer", None) == ["developer"]


def test_interest_may_start_the_day_after_due_or_issue_whichever_is_later() -> None:
    contract = LateFeeContract(has_rate=True, utilities_late_fee=False)
    assert contract.interest_from(date(2026, 1, 31), date(2026, 1, 1)) == date(2026, 2, 1)
    # Issued after its due date (a back-billed month): not before the invoice existed.
    assert contract.interest_from(date(2026, 1, 31), date(2026, 3, 5)) == date(2026, 3, 6)
    # An instant is read in the community's time zone: 2026-03-04 17:00 UTC is 03-05 there.
    issued = datetime(2026, 3, 4, 17, tzinfo=UTC)
    assert contract.interest_from(date(2026, 1, 31), issued) == date(2026, 3, 6)


def test_utilities_bear_a_late_fee_only_when_the_contract_names_one() -> None:
    due, issued = date(2026, 1, 31), date(2026, 1, 1)
    silent = LateFeeContract(has_rate=True, utilities_late_fee=False)
    assert silent.interest_from(due, issued, "utilities") is None
    named = LateFeeContract(has_rate=True, utilities_late_fee=True)
    assert named.interest_from(due, issued, "utilities") == date(2026, 2, 1)
    no_rate = LateFeeContract(has_rate=False, utilities_late_fee=True)
    assert no_rate.interest_from(due, issued) is None
    assert no_rate.interest_from(due, issued, "utilities") is None
