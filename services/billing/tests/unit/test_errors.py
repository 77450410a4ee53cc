"""billing.errors: problems with their status that are still the builtins they replaced."""

from billing.errors import Conflict, InvalidInput, InvoiceStateError, NotFound, RegistryError


def test_errors_carry_their_status_and_stay_the_builtins_callers_catch() -> None:
    assert NotFound("unit u-1 not found").status == 404
    assert isinstance(NotFound("x"), LookupError)
    assert Conflict("x").status == InvoiceStateError("x").status == 409
    assert isinstance(InvoiceStateError("invoice i is paid"), ValueError)
    assert RegistryError("x").status == 422 and isinstance(RegistryError("x"), ValueError)


def test_invalid_input_names_the_field_its_message_starts_with() -> None:
    error = InvalidInput("ended_on: before registered_on")
    assert error.errors is not None
    assert [(e.field, e.reason) for e in error.errors] == [("ended_on", "before registered_on")]
    assert error.detail == "ended_on: before registered_on"
    assert InvalidInput("unit u-1 is not unsold; record a sale instead").errors is None
