"""Pay-link tokens (issue 19): the few characters after the host in every message's pay link.

A token is a random id and a short signature of it under the deployment's pay-link secret,
in base 62: ``TOKEN_ID_CHARS + TOKEN_TAG_CHARS`` characters (``https://pf.cn/p/aB3xK9q2Z``),
short enough for a one-segment SMS. The notifier makes one per household and occasion and
publishes it (``PayLinkIssued``); payments keeps it with its expiry and revocation and
resolves it to what the household owes on the day it is opened.

Why both: the id is what is stored and looked up (it says nothing about the unit, unlike the
unit id the links used to carry); the signature lets payments refuse a guessed or mistyped
token before any database read, and a copy of the stored tokens (a backup) without the
secret cannot mint a new one. 62**6 ids (5.7e10) for a few tens of millions of links a year
keep collisions rare (the store refuses one; the notifier then draws again); a guess must hit
both a stored id and its 62**3 signature.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
TOKEN_ID_CHARS = 6
TOKEN_TAG_CHARS = 3
TOKEN_CHARS = TOKEN_ID_CHARS + TOKEN_TAG_CHARS


def _base62(data: bytes, chars: int) -> str:
    number = int.from_bytes(data, "big")
    out = []
    for _ in range(chars):
        number, digit = divmod(number, 62)
        out.append(ALPHABET[digit])
    return "".join(out)


def _tag(secret: bytes, token_id: str) -> str:
    digest = hmac.new(secret, f"pay-link:{token_id}".encode(), hashlib.sha256).digest()
    return _base62(digest, TOKEN_TAG_CHARS)


def new_token(secret: bytes) -> str:
    """A fresh token: a random id and its signature."""
    token_id = "".join(secrets.choice(ALPHABET) for _ in range(TOKEN_ID_CHARS))
    return token_id + _tag(secret, token_id)


def token_valid(secret: bytes, token: str) -> bool:
    """Whether ``token`` is well formed and signed with ``secret`` (constant time on the
    signature; any text may come in)."""
    if len(token) != TOKEN_CHARS or any(ch not in ALPHABET for ch in token):
        return False
    token_id, tag = token[:TOKEN_ID_CHARS], token[TOKEN_ID_CHARS:]
    return hmac.compare_digest(_tag(secret, token_id).encode(), tag.encode())


def link(base_url: str, token: str) -> str:
    """The link as printed: ``base_url`` (``https://pf.cn/p/``) followed by the token."""
    return f"{base_url.rstrip('/')}/{token}"


#: The secret of development (``make up``, the demo, the tests): the notifier signs and
#: payments verifies with it when none is configured there; refused outside development.
DEVELOPMENT_SECRET = "dev-pay-link-secret"
