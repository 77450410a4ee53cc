"""The chart check runs once per session: test_kubernetes and test_observability read the
same render (it takes tens of seconds: tools, topics, render, validate, PromQL, promtool)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def check() -> subprocess.CompletedProcess[str]:
    """deploy/kubernetes/tools/check.sh: tools, topics up to date, render, validate (PromQL
    parsed, promtool rules and their tests), hadolint."""
    return subprocess.run(
        ["bash", str(ROOT / "deploy" / "kubernetes" / "tools" / "check.sh")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
