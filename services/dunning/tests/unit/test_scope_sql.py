"""The scope condition must name its table: a bare column would bind inside the subquery."""

import pytest

from dunning.adapters.scope import scope_sql


def test_scope_sql_needs_a_qualified_column() -> None:
    with pytest.raises(ValueError, match="table-qualified"):
        scope_sql("community_id", 1, 2)
    condition = scope_sql("tasks.community_id", 1, 2)
    assert "sc.community_id = tasks.community_id" in condition
    assert "tasks.community_id = ANY($2)" in condition
