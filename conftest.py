"""Shared pytest fixtures for every test tree (see tests/support/fixtures.py)."""

import os

import pytest

# Tests run as development (built-in secrets accepted), and so do the processes they start.
os.environ.setdefault("PROPFEE_ENVIRONMENT", "development")

pytest_plugins = ["tests.support.fixtures", "tests.support.tracing"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``long`` first: under ``pytest -n`` the workers then end together instead
    of one finishing a three-minute test alone (stable otherwise: collection order kept)."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)
