"""Issue 18 rule 6: a community's late-fee de-minimis defaults to 50 yuan and must be > 0."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dunning.adapters.sweep_sql import DEFAULT_LATE_FEE_DE_MINIMIS_FEN
from dunning.entrypoints.http_policies import CommunitySettings


def test_the_default_de_minimis_is_fifty_yuan() -> None:
    assert DEFAULT_LATE_FEE_DE_MINIMIS_FEN == 5_000
    assert CommunitySettings().late_fee_de_minimis_fen == 5_000


@pytest.mark.parametrize("bad", [0, -1, "fifty", 12.5])
def test_a_de_minimis_that_is_not_a_positive_fen_amount_is_refused(bad: object) -> None:
    with pytest.raises(ValidationError):
        CommunitySettings.model_validate({"late_fee_de_minimis_fen": bad})


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(ValidationError):
        CommunitySettings.model_validate({"late_fee_minimum": 100})


def test_the_migration_default_is_the_same_amount() -> None:
    from pathlib import Path

    import dunning

    sql = (
        Path(dunning.__file__).parent
        / "migrations"
        / "0009_overdue_principal_and_late_fee_de_minimis.sql"
    ).read_text()
    assert f"DEFAULT {DEFAULT_LATE_FEE_DE_MINIMIS_FEN} " in sql
