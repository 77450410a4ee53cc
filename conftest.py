"""Shared pytest fixtures for every test tree (see tests/support/fixtures.py)."""

import os

# Tests run as development (built-in secrets accepted), and so do the processes they start.
os.environ.setdefault("PROPFEE_ENVIRONMENT", "development")

pytest_plugins = ["tests.support.fixtures", "tests.support.tracing"]
