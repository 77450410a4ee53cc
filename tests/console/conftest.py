"""The staff console in a real browser: Debian's Chromium driven by Playwright (Python).

``console_dist`` builds web/console once per session (``make console``: a no-op when dist is
up to date); ``console`` starts ``python -m propfee.console serve`` in front of a test's
services; ``browser`` is one headless Chromium per session. Screenshots go to
.local/screenshots/console/ (ignored by git) for review.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright

from propfee.auth.dev import DevIssuer
from tests.support.console import CHROMIUM, DIST, ROOT, ConsoleProcess


@pytest.fixture(scope="session")
def console_dist() -> Path:
    subprocess.run(["make", "-s", "console"], cwd=ROOT, check=True, timeout=900)
    assert (DIST / "index.html").is_file()
    return DIST


@pytest.fixture
def console(
    console_dist: Path, dev_issuer: DevIssuer, tmp_path: Path
) -> Iterator[Callable[..., ConsoleProcess]]:
    started: list[ConsoleProcess] = []

    def factory(upstreams: dict[str, str], env: dict[str, str] | None = None) -> ConsoleProcess:
        """``env``: more settings of the console server (``CONSOLE_OIDC_*``...)."""
        process = ConsoleProcess(upstreams, dev_issuer, tmp_path / "console.log", env)
        started.append(process)
        return process

    yield factory
    for process in started:
        process.stop()


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: apt-get install -y chromium fonts-noto-cjk (make sync)"
        )
    return CHROMIUM


@pytest_asyncio.fixture(scope="session")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield b
        await b.close()
