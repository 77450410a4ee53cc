"""Resolving a pay link (issue 19), without a database: the production resolver
(``service_layer.pay_links.resolve``) over a fake connection that records every read.

A forged or malformed token is refused before any read; a signed token never issued answers
exactly as a forged one; an expired link is expired from its expiry instant on (the server's
clock); a revoked link says so whatever its expiry; a valid one opens."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.domain.pay_links import PayLink, PayLinkGone, UnknownPayLink, link_state
from payments.service_layer.pay_links import resolve
from payments.settings import DEVELOPMENT_PAY_LINK_SECRET, PaymentsSettings
from propfee.pay_links import TOKEN_CHARS, new_token

SECRET = b"test-pay-link-secret-19"
NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


class FakeConn:
    """Answers ``fetchrow`` from the links it holds and remembers every query."""

    def __init__(self, *links: PayLink) -> None:
        self.links = {link.token: link for link in links}
        self.reads: list[str] = []

    async def fetchrow(self, sql: str, token: str) -> dict[str, Any] | None:
        self.reads.append(token)
        link = self.links.get(token)
        return None if link is None else asdict(link)


def _link(token: str, **kw: Any) -> PayLink:
    data: dict[str, Any] = dict(
        token=token,
        community_id="c-1",
        unit_id="u-1",
        party_id="p-1",
        occasion="inv-1:reminder:friendly",
        issued_at=NOW - timedelta(days=1),
        expires_at=NOW + timedelta(days=6),
    )
    data.update(kw)
    return PayLink(**data)


def _forge(token: str) -> str:
    """The same id with another signature."""
    tag = token[-3:]
    other = "".join("1" if ch != "1" else "2" for ch in tag)
    return token[:-3] + other


async def test_a_valid_link_opens() -> None:
    token = new_token(SECRET)
    conn = FakeConn(_link(token))
    assert (await resolve(conn, SECRET, token, NOW)).unit_id == "u-1"
    assert conn.reads == [token]


async def test_a_forged_token_is_refused_before_any_read() -> None:
    token = new_token(SECRET)
    conn = FakeConn(_link(token), _link(_forge(token)))  # stored, but the signature is wrong
    with pytest.raises(UnknownPayLink):
        await resolve(conn, SECRET, _forge(token), NOW)
    with pytest.raises(UnknownPayLink):  # signed with another deployment's secret
        await resolve(conn, SECRET, new_token(b"another-secret"), NOW)
    assert conn.reads == []


async def test_a_signed_token_never_issued_answers_as_a_forged_one() -> None:
    conn = FakeConn()
    token = new_token(SECRET)
    with pytest.raises(UnknownPayLink) as unknown:
        await resolve(conn, SECRET, token, NOW)
    with pytest.raises(UnknownPayLink) as forged:
        await resolve(conn, SECRET, _forge(token), NOW)
    assert str(unknown.value) == str(forged.value) == "unknown pay link"
    assert conn.reads == [token]


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "a",
        "aB3xK9q2",  # one short
        "aB3xK9q2Zz",  # one long
        "aB3xK9-2Z",
        "aB3xK9q2Z\n",
        "../../etc",
        "9栋2单元502",
        "ａＢ３ｘＫ９ｑ２Ｚ",  # full-width: nine characters, none of the alphabet
        "aB3xK9q2\u0000",
        "\ud800" * 9,  # a lone surrogate
        "🙂" * 9,
        "x" * 10_000,
    ],
)
async def test_malformed_tokens_are_refused_before_any_read(text: str) -> None:
    conn = FakeConn(_link(text))
    with pytest.raises(UnknownPayLink):
        await resolve(conn, SECRET, text, NOW)
    assert conn.reads == []


@settings(max_examples=300)
@given(st.text(max_size=40))
async def test_any_text_is_refused_unless_signed(text: str) -> None:
    conn = FakeConn(_link(text))
    with pytest.raises(UnknownPayLink):
        await resolve(conn, SECRET, text, NOW)
    assert conn.reads == []


@given(st.text(alphabet=st.characters(codec="ascii"), min_size=TOKEN_CHARS, max_size=TOKEN_CHARS))
async def test_nine_ascii_characters_open_only_with_their_signature(text: str) -> None:
    conn = FakeConn(_link(text))
    try:
        await resolve(conn, SECRET, text, NOW)
    except UnknownPayLink:
        assert conn.reads == []
    else:  # a one-in-238,328 hit of the signature: then it is looked up
        assert conn.reads == [text]


async def test_expired_from_the_expiry_instant_on() -> None:
    token = new_token(SECRET)
    expires = NOW + timedelta(days=6)
    conn = FakeConn(_link(token, expires_at=expires))
    assert await resolve(conn, SECRET, token, expires - timedelta(microseconds=1))
    for at in (expires, expires + timedelta(microseconds=1), expires + timedelta(days=400)):
        with pytest.raises(PayLinkGone) as gone:
            await resolve(conn, SECRET, token, at)
        assert gone.value.state == "expired" and gone.value.link.expires_at == expires


async def test_issued_already_expired_is_expired_from_the_start() -> None:
    token = new_token(SECRET)
    link = _link(token, issued_at=NOW, expires_at=NOW - timedelta(hours=1))
    with pytest.raises(PayLinkGone) as gone:
        await resolve(FakeConn(link), SECRET, token, NOW)
    assert gone.value.state == "expired"


async def test_revoked_says_revoked_before_and_after_its_expiry() -> None:
    token = new_token(SECRET)
    link = _link(token, revoked_at=NOW, revoked_by="clerk", revoke_reason="发错户")
    for at in (NOW + timedelta(seconds=1), link.expires_at + timedelta(days=1)):
        with pytest.raises(PayLinkGone) as gone:
            await resolve(FakeConn(link), SECRET, token, at)
        assert gone.value.state == "revoked"


def test_states_for_the_staff_list() -> None:
    link = _link("t")
    assert link_state(link, NOW) == "active"
    assert link_state(link, link.expires_at) == "expired"
    assert link_state(replace(link, revoked_at=NOW, revoked_by="x"), NOW) == "revoked"


def test_the_development_secret_is_the_notifiers() -> None:
    """The notifier signs with ``NOTIFIER_PAY_LINK_SECRET``, default ``dev-pay-link-secret``:
    the same literal here, so links made locally and in the demo open."""
    assert DEVELOPMENT_PAY_LINK_SECRET == "dev-pay-link-secret"
    assert PaymentsSettings().pay_link_key() == b"dev-pay-link-secret"


def test_production_refuses_the_built_in_pay_link_secret() -> None:
    from payments.settings import ConfigurationError

    good = {"qr_secret": "a-production-qr-secret-0123456789", "environment": "production"}
    for pay_link_secret in (DEVELOPMENT_PAY_LINK_SECRET, "short"):
        with pytest.raises(ConfigurationError, match="PAYMENTS_PAY_LINK_SECRET"):
            PaymentsSettings(**good, pay_link_secret=pay_link_secret).check_production()  # type: ignore[arg-type]
    PaymentsSettings(
        **good,  # type: ignore[arg-type]
        pay_link_secret="a-production-pay-link-secret-0123",
    ).check_production()
