"""Shared pytest fixtures for every test tree (see tests/support/fixtures.py)."""

pytest_plugins = ["tests.support.fixtures"]
