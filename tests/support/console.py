"""The staff console in tests: its server as a process, axe-core and screenshots.

Fixtures using these live in tests/console/conftest.py.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, BrowserContext, Page, expect

from propfee.auth.dev import DevIssuer
from tests.support.auth import auth_env
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "web" / "console" / "dist"
AXE = ROOT / "web" / "console" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / ".local" / "screenshots" / "console"
CHROMIUM = os.environ.get("PROPFEE_CHROMIUM", "/usr/bin/chromium")
DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 820, "height": 1180}  # a 10.9" tablet held upright


class ConsoleProcess:
    def __init__(
        self,
        upstreams: dict[str, str],
        issuer: DevIssuer,
        log: Path,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.log = log
        env = {
            **os.environ,
            **auth_env(issuer),
            "PROPFEE_ENVIRONMENT": "development",
            "CONSOLE_HTTP_PORT": str(self.port),
            "CONSOLE_DIST": str(DIST),
            **{f"CONSOLE_{name.upper()}_URL": url for name, url in upstreams.items()},
            **(extra_env or {}),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "propfee.console", "serve"],
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"console exited:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("console not ready in 30s")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@functools.cache
def axe_source() -> str:
    return AXE.read_text("utf-8") + "\n;undefined"


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def assert_accessible(page: Page, screen: str) -> None:
    """axe-core (web/console/node_modules, the version in package-lock.json): no serious or
    critical violation of WCAG 2 A/AA on the page as it is, once its transitions are over
    (a menu fading out is not what a user reads)."""
    await settled(page)
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol: the console's Content-Security-Policy
        # (script-src 'self') rightly refuses an injected <script>.
        await page.evaluate(axe_source())
    result: dict[str, Any] = await page.evaluate(
        """() => axe.run(document, {
             runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']},
             resultTypes: ['violations'],
           })"""
    )
    bad = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    detail = [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + "; ".join(str(n["target"]) + " " + n["failureSummary"][:200] for n in v["nodes"][:3])
        for v in bad
    ]
    assert not bad, f"{screen}: accessibility violations:\n" + "\n".join(detail)


async def settled(page: Page) -> None:
    """Wait until no finite CSS transition or animation is running (Element Plus fades its
    poppers in and out); endless ones (a spinner) do not count."""
    await page.wait_for_function(
        """() => document.getAnimations().every(
             a => a.playState !== 'running' || a.effect?.getTiming().iterations === Infinity)"""
    )


async def to_english(page: Page) -> None:
    """Switch the console to English with the header's language menu, and wait for the menu
    to be gone."""
    await page.locator(".locale").click()
    option = page.get_by_role("option", name="English")
    await option.click()
    await expect(option).to_be_hidden()
    await settled(page)


async def dev_sign_in(
    page: Page,
    url: str,
    *,
    role: str,
    subject: str = "",
    communities: str = "",
    path: str = "/sign-in",
) -> None:
    """The development sign-in page (the dev issuer's tokens) as ``role``, its Chinese label
    (管家, 收费员, 财务...). ``path`` is where the browser goes first: a screen's URL leads to
    the sign-in and back to it afterwards. Empty ``subject`` or ``communities`` keep the
    page's defaults."""
    await page.goto(f"{url}{path}")
    await expect(page.locator("[data-test=sign-in]")).to_be_visible()
    if subject:
        await page.locator("[data-test=subject]").fill(subject)
    await page.locator("[data-test=role]").click()
    await page.get_by_role("option", name=role, exact=True).click()
    if communities:
        await page.locator("[data-test=communities]").fill(communities)
    await page.locator("[data-test=sign-in]").click()
    await expect(page.locator("[data-test=who]")).to_contain_text(subject or role)


async def signed_in_page(
    browser: Browser,
    url: str,
    *,
    role: str,
    subject: str = "",
    communities: str = "",
    path: str = "/sign-in",
    viewport: dict[str, int] = DESKTOP,
    locale: str = "zh-CN",
) -> tuple[BrowserContext, Page, list[str]]:
    """A new browser context signed in as ``role``; the list collects the page's uncaught
    errors (a test asserts it stays empty)."""
    context = await browser.new_context(viewport=viewport, locale=locale, accept_downloads=True)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await dev_sign_in(page, url, role=role, subject=subject, communities=communities, path=path)
    return context, page, errors
