"""Sign-in with the company's identity provider: OIDC authorization code with PKCE.

A small OpenID provider (tests/support/oidc.py) runs over real HTTP; the console server names
it in /console/config and billing trusts it alone (its issuer and JWKS URL, not the
development issuer). A fee clerk signs in through it in Chromium and the cashier works with
the IdP's token. The provider checks the PKCE verifier against the challenge: a verifier
changed on the way is refused, and so is a callback whose state the browser never sent.

The IdP's access tokens live 24 s here and billing allows no clock skew: the console renews
the token with the refresh token before it expires (no user action, no iframe: the CSP stays
``script-src 'self'``), and the cashier still works after the first token has expired (billing
refuses that one). Signing out ends the session at the IdP (end-session endpoint, with the ID
token as hint and the sign-in page as post-logout URI; its refresh tokens are then worthless)
and comes back to the sign-in page. The refresh grant itself refuses an unknown token, another
client, and a spent one (a replay revokes the chain).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import httpx
import jwt
import pytest
from playwright.async_api import Browser, Route, expect

from propfee.auth.dev import DevIssuer
from tests.support.auth import BearerAuth, bearer, staff_token
from tests.support.billing_api import setup_community
from tests.support.console import DESKTOP, assert_accessible, screenshot
from tests.support.fixtures import wait_until
from tests.support.oidc import FakeIdP, User, s256

pytestmark = pytest.mark.integration

LEDGER = (
    "楼栋,单元,房号,房屋类型,建筑面积,房屋状态,交房日期,业主姓名,业主电话,缴费责任人,"
    "期初欠费金额,欠费起始月,期初违约金\n"
    "3栋,2单元,1201,住宅,98.50,已入住,2019-06-30,张三,13812345678,业主,1200.00,2024-10,50.00\n"
)


async def test_staff_sign_in_with_the_identity_provider(
    create_database,
    services,
    console,
    dev_issuer: DevIssuer,
    browser: Browser,  # type: ignore[no-untyped-def]
) -> None:
    with FakeIdP(client_id="propfee-console", access_ttl=24) as idp:
        db = await create_database("billing")
        # No clock skew allowed: an expired access token is refused at once.
        strict = {**idp.service_env(), "PROPFEE_AUTH_LEEWAY_S": "0"}
        billing_proc = services("billing", db, auth=strict)
        billing_proc.start(wait=False)
        billing_proc.wait_ready(timeout=120)
        billing = billing_proc.url
        app = console(
            {"billing": billing}, {**idp.console_env(), "CONSOLE_OIDC_RENEW_BEFORE_S": "12"}
        )
        idp.redirect_uris = {f"{app.url}/sign-in/callback"}
        idp.post_logout_redirect_uris = {f"{app.url}/sign-in"}
        community = f"c-{uuid.uuid4().hex[:6]}"

        admin = User("setup", ["company_admin", "finance"], "co-1", "*")
        async with httpx.AsyncClient(timeout=30, auth=BearerAuth(idp.access_token(admin))) as http:
            await setup_community(http, billing, community)
            r = await http.post(
                f"{billing}/communities/{community}/ledger-imports",
                content=LEDGER.encode(),
                params={"filename": "ledger.csv", "opening_as_of": "2025-01-01"},
            )
            assert r.status_code == 200, r.text
            # billing trusts the IdP alone now: the development issuer's tokens are refused.
            r = await http.get(f"{billing}/communities/{community}/units")
            assert r.status_code == 200
        async with httpx.AsyncClient(timeout=30) as anonymous:
            r = await anonymous.get(
                f"{billing}/communities/{community}/units",
                headers=bearer(staff_token(dev_issuer)),
            )
            assert r.status_code == 401, r.text

        async with httpx.AsyncClient(timeout=30) as anonymous:
            r = await anonymous.get(f"{app.url}/console/config")
            csp = (await anonymous.get(f"{app.url}/sign-in")).headers["content-security-policy"]
        assert r.json()["oidc"] == {
            "issuer": idp.issuer,
            "client_id": "propfee-console",
            "authorization_endpoint": f"{idp.issuer}/authorize",
            "token_endpoint": f"{idp.issuer}/token",
            "end_session_endpoint": f"{idp.issuer}/end-session",
            "scope": "openid profile",
            "renew_before_s": 12,
        }
        assert f"connect-src 'self' {idp.issuer};" in csp

        # A fee clerk of this community signs in through the IdP.
        idp.next_user = User("clerk-oidc", ["fee_clerk"], "co-1", [community])
        context = await browser.new_context(viewport=DESKTOP, locale="zh-CN")
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{app.url}/cashier")
        # In development both ways are offered: the IdP and the development sign-in.
        await expect(page.locator("[data-test=sign-in-idp]")).to_be_visible()
        await expect(page.locator("[data-test=sign-in]")).to_be_visible()
        await screenshot(page, "oidc-01-sign-in")
        await assert_accessible(page, "sign-in (IdP)")
        await page.locator("[data-test=sign-in-idp]").click()
        await expect(page).to_have_url(re.compile(rf"^{re.escape(app.url)}/cashier"))
        await expect(page.locator("[data-test=who]")).to_contain_text("clerk-oidc")
        await expect(page.locator("[data-test=menu-cashier]")).to_be_visible()
        # The IdP's first access token (renewed later, without the user).
        first = await page.evaluate("sessionStorage.getItem('propfee.console.token')")

        # The browser asked for a code with an S256 challenge, a state and a nonce, and
        # redeemed it with the verifier behind the challenge.
        (asked,) = idp.authorize_requests
        assert asked["code_challenge_method"] == "S256"
        assert asked["state"] and asked["nonce"] and asked["client_id"] == "propfee-console"
        assert asked["redirect_uri"] == f"{app.url}/sign-in/callback"
        (redeemed,) = [r for r in idp.token_requests if r["grant_type"] == "authorization_code"]
        assert s256(redeemed["code_verifier"]) == asked["code_challenge"]
        assert "client_secret" not in redeemed  # a public client
        assert not idp.refusals

        # The cashier works with the IdP's token: billing verifies it against the IdP's JWKS.
        await expect(page.locator("[data-test=room]")).to_be_focused()
        await page.keyboard.type("1201")
        await page.keyboard.press("Enter")
        await expect(page.locator("[data-test=invoices] tbody tr")).to_have_count(4)
        await screenshot(page, "oidc-02-cashier")

        # Renewal without the user: before the 24 s token expires, the console redeems the
        # refresh token; once the first token has expired (billing refuses it), the cashier
        # still answers, with the renewed token.
        expires = jwt.decode(first, options={"verify_signature": False})["exp"]

        def refreshed() -> list[dict[str, str]]:
            return [r for r in idp.token_requests if r["grant_type"] == "refresh_token"]

        async def renewed_once() -> bool:
            return bool(refreshed())

        await wait_until(renewed_once, timeout=40, interval=0.5)
        (renewal, *_) = refreshed()
        assert renewal["client_id"] == "propfee-console" and "client_secret" not in renewal
        assert time.time() < expires  # before the token expired
        renewed = await page.evaluate("sessionStorage.getItem('propfee.console.token')")
        assert renewed and renewed != first
        await asyncio.sleep(max(0.0, expires + 1 - time.time()))
        async with httpx.AsyncClient(timeout=30) as anonymous:
            r = await anonymous.get(
                f"{billing}/communities/{community}/units", headers=bearer(first)
            )
            assert r.status_code == 401, r.text  # the first token is dead
        await expect(page).to_have_url(re.compile(rf"^{re.escape(app.url)}/cashier"))
        # A search for another room: billing answers the renewed token (no sign-in page).
        async with page.expect_response(lambda r: "/api/billing/" in r.url) as answered:
            await page.locator("[data-test=room]").fill("1202")
            await page.locator("[data-test=room]").press("Enter")
        response = await answered.value
        assert response.status == 200
        sent = (await response.request.all_headers())["authorization"]
        assert sent == f"Bearer {renewed}" or sent != f"Bearer {first}"
        await expect(page).to_have_url(re.compile(rf"^{re.escape(app.url)}/cashier"))
        # A reload keeps the session (the renewed token) and the renewal (resumed).
        await page.reload()
        await expect(page.locator("[data-test=invoices] tbody tr")).to_have_count(4)
        await expect(page.locator("[data-test=who]")).to_contain_text("clerk-oidc")
        assert not idp.refusals

        # Sign-out ends the IdP's session: the ID token as hint, back to the sign-in page.
        await page.locator("[data-test=sign-out]").click()
        await expect(page).to_have_url(re.compile(rf"^{re.escape(app.url)}/sign-in"))
        await expect(page.locator("[data-test=sign-in-idp]")).to_be_visible()
        (ended,) = idp.end_session_requests
        assert ended["post_logout_redirect_uri"] == f"{app.url}/sign-in"
        hint = jwt.decode(ended["id_token_hint"], options={"verify_signature": False})
        assert hint["sub"] == "clerk-oidc" and hint["aud"] == "propfee-console"
        assert idp.sessions_ended == ["clerk-oidc"]

        async def forgotten() -> bool:
            # Neither the token nor the IdP's answer nor the sign-out's state stays behind.
            stored = await page.evaluate("Object.keys(sessionStorage)")
            return not [k for k in stored if k.startswith("oidc.") or k == "propfee.console.token"]

        await wait_until(forgotten, timeout=10)
        # The IdP's refresh tokens for that session are worthless now.
        latest = list(idp.refresh_tokens)[-1]
        async with httpx.AsyncClient(timeout=30) as anonymous:
            r = await anonymous.post(
                f"{idp.issuer}/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": latest,
                    "client_id": "propfee-console",
                },
            )
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
        idp.refusals.clear()
        await screenshot(page, "oidc-04-signed-out")
        assert not errors, errors
        await context.close()

        # A verifier changed on the way to the token endpoint is refused by the IdP: the
        # browser stays signed out and says why.
        context = await browser.new_context(viewport=DESKTOP, locale="en")
        page = await context.new_page()

        async def tamper(route: Route) -> None:
            body = route.request.post_data or ""
            forged = re.sub(r"code_verifier=[^&]*", "code_verifier=" + "x" * 43, body)
            assert forged != body
            await route.continue_(post_data=forged)

        await page.route(f"{idp.issuer}/token", tamper)
        await page.goto(f"{app.url}/cashier")
        await page.locator("[data-test=sign-in-idp]").click()
        await expect(page.locator("[data-test=sign-in-error]")).to_contain_text(
            "PKCE verifier does not match"
        )
        assert idp.refusals == ["invalid_grant: PKCE verifier does not match"]
        assert await page.evaluate("sessionStorage.getItem('propfee.console.token')") is None
        await screenshot(page, "oidc-03-refused")
        await assert_accessible(page, "sign-in refused")
        await page.locator("[data-test=sign-in-again]").click()
        await expect(page.locator("[data-test=sign-in-idp]")).to_be_visible()

        # A callback with a state this browser never sent goes nowhere near the token endpoint.
        redeemed_before = len(idp.token_requests)
        await page.goto(f"{app.url}/sign-in/callback?code=stolen&state=forged")
        await expect(page.locator("[data-test=sign-in-error]")).to_be_visible()
        assert len(idp.token_requests) == redeemed_before
        await context.close()

        # And the token endpoint itself refuses a wrong verifier over plain HTTP.
        idp.redirect_uris.add("http://rp.test/cb")
        verifier = "v" * 50
        async with httpx.AsyncClient(timeout=30) as anonymous:
            r = await anonymous.get(
                f"{idp.issuer}/authorize",
                params={
                    "client_id": "propfee-console",
                    "redirect_uri": "http://rp.test/cb",
                    "response_type": "code",
                    "scope": "openid",
                    "state": "s",
                    "nonce": "n",
                    "code_challenge": s256(verifier),
                    "code_challenge_method": "S256",
                },
            )
            code = httpx.URL(r.headers["location"]).params["code"]
            form = {
                "grant_type": "authorization_code",
                "code": code,
                "client_id": "propfee-console",
                "redirect_uri": "http://rp.test/cb",
                "code_verifier": verifier[:-1] + "w",
            }
            r = await anonymous.post(f"{idp.issuer}/token", data=form)
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"

        # The refresh grant checks the refresh token: unknown, another client's, a spent one
        # (the replay revokes the chain: the token issued in its place is refused too).
        idp.next_user = User("clerk-2", ["fee_clerk"], "co-1", [community])
        async with httpx.AsyncClient(timeout=30) as anonymous:
            r = await anonymous.get(
                f"{idp.issuer}/authorize",
                params={
                    "client_id": "propfee-console",
                    "redirect_uri": "http://rp.test/cb",
                    "response_type": "code",
                    "scope": "openid",
                    "state": "s",
                    "nonce": "n",
                    "code_challenge": s256(verifier),
                    "code_challenge_method": "S256",
                },
            )
            code = httpx.URL(r.headers["location"]).params["code"]
            r = await anonymous.post(
                f"{idp.issuer}/token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "client_id": "propfee-console",
                    "redirect_uri": "http://rp.test/cb",
                    "code_verifier": verifier,
                },
            )
            assert r.status_code == 200, r.text
            refresh = r.json()["refresh_token"]

            async def redeem(token: str, client_id: str = "propfee-console") -> httpx.Response:
                form = {"grant_type": "refresh_token", "refresh_token": token}
                return await anonymous.post(
                    f"{idp.issuer}/token", data={**form, "client_id": client_id}
                )

            assert (await redeem("nonsense")).status_code == 400
            assert (await redeem(refresh, "another-client")).status_code == 400
            r = await redeem(refresh)
            assert r.status_code == 200 and r.json()["expires_in"] == 24
            following = r.json()["refresh_token"]
            assert (await redeem(refresh)).json()["error_description"] == (
                "refresh token already used"
            )
            assert (await redeem(following)).status_code == 400  # the chain is revoked
