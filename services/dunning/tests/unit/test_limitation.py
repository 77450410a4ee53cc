"""EXAMPLES.md "Limitation clock"."""

from datetime import date

from dunning.domain.limitation import (
    Clock,
    Restart,
    limitation_clock,
    limitation_expires_on,
)

DUE = date(2023, 3, 31)


def test_three_years_from_the_due_date() -> None:
    assert limitation_expires_on(DUE) == date(2026, 3, 31)


def test_delivered_sms_restarts_the_clock() -> None:
    assert limitation_expires_on(DUE, [Restart("delivered_demand", date(2024, 5, 10))]) == date(
        2027, 5, 10
    )


def test_part_payment_restarts_it_again_and_the_alert_is_six_months_before() -> None:
    restarts = [
        Restart("part_payment", date(2025, 1, 5)),
        Restart("delivered_demand", date(2024, 5, 10)),
    ]
    expires = limitation_expires_on(DUE, restarts)
    assert expires == date(2028, 1, 5)  # its alert (2027-07-05): tests/examples.py LIMITATION


def test_order_of_learning_does_not_matter() -> None:
    a = [Restart("acknowledgement", date(2025, 6, 1)), Restart("payment_plan", date(2028, 1, 1))]
    assert limitation_expires_on(DUE, a) == limitation_expires_on(DUE, list(reversed(a)))
    assert limitation_expires_on(DUE, a) == date(2031, 1, 1)


def test_notice_board_and_group_chat_restart_nothing() -> None:
    posts = [Restart("notice_board", date(2025, 1, 1)), Restart("group_chat", date(2025, 2, 1))]
    assert limitation_expires_on(DUE, posts) == date(2026, 3, 31)


def test_a_restart_after_expiry_cannot_revive_the_claim() -> None:
    late = [Restart("delivered_demand", date(2026, 4, 1))]
    assert limitation_expires_on(DUE, late) == date(2026, 3, 31)


def test_a_demand_on_the_last_day_restarts_the_clock() -> None:
    # The expiry day is the period's last day (Civil Code art. 203): still running (its state
    # on a day: tests/examples.py LIMITATION, run against SQL), and a demand delivered that
    # day restarts the clock; the claim is voluntary from the next day.
    due = date(2023, 3, 31)
    assert limitation_expires_on(due, [Restart("delivered_demand", date(2026, 3, 31))]) == date(
        2029, 3, 31
    )
    assert limitation_expires_on(due, [Restart("delivered_demand", date(2026, 4, 1))]) == date(
        2026, 3, 31
    )


def test_leap_day_due_date() -> None:
    assert limitation_expires_on(date(2024, 2, 29)) == date(2027, 2, 28)


# The clock's state as dunning publishes it (LimitationClockChanged): due date, expiry, and
# the restart that set the expiry.


def test_a_clock_without_restarts_runs_from_the_due_date() -> None:
    assert limitation_clock(DUE) == Clock(DUE, date(2026, 3, 31), None)


def test_the_clock_names_the_last_restart_that_counted() -> None:
    restarts = [
        Restart("part_payment", date(2025, 1, 5)),
        Restart("delivered_demand", date(2024, 5, 10)),
        Restart("notice_board", date(2025, 6, 1)),  # restarts nothing
        Restart("delivered_demand", date(2023, 1, 2)),  # before the due date: nothing
    ]
    assert limitation_clock(DUE, restarts) == Clock(DUE, date(2028, 1, 5), date(2025, 1, 5))


def test_a_restart_after_expiry_is_not_the_last_restart() -> None:
    restarts = [
        Restart("acknowledgement", date(2024, 1, 1)),
        Restart("part_payment", date(2027, 2, 1)),
    ]
    assert limitation_clock(DUE, restarts) == Clock(DUE, date(2027, 1, 1), date(2024, 1, 1))


def test_the_whole_state_does_not_depend_on_the_order_of_learning() -> None:
    restarts = [
        Restart("payment_plan", date(2024, 2, 29)),
        Restart("delivered_demand", date(2024, 2, 28)),
        Restart("acknowledgement", date(2023, 9, 1)),
    ]
    clocks = {
        limitation_clock(DUE, order)
        for order in (restarts, restarts[::-1], restarts[1:] + restarts[:1])
    }
    # 2024-02-28 and 2024-02-29 both expire on 2027-02-28; the later one is the last restart.
    assert clocks == {Clock(DUE, date(2027, 2, 28), date(2024, 2, 29))}
