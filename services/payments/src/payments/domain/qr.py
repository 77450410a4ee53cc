"""Static QR code per unit (一户一码): a link that opens the household's current statement.

The link names a random token stored for the unit (``qr_links``), never the unit id, which
can be derived from public data (building and room). The token is unguessable (128 random
bits) and the link also carries an HMAC of it under the deployment's QR secret, so a copy of
the tokens alone (a database backup) prints no valid code either.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_link_token() -> str:
    """128 random bits, URL-safe (22 characters)."""
    return secrets.token_urlsafe(16)


def qr_signature(secret: bytes, token: str) -> str:
    message = f"unit-qr-link:{token}".encode("utf-8", "surrogatepass")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:24]


def qr_valid(secret: bytes, token: str, signature: str) -> bool:
    """Constant-time; any text may come in (compared as bytes: non-ASCII is simply wrong)."""
    given = signature.encode("utf-8", "surrogatepass")
    return hmac.compare_digest(qr_signature(secret, token).encode(), given)


def qr_url(base_url: str, secret: bytes, token: str) -> str:
    return f"{base_url.rstrip('/')}/qr/{token}?sig={qr_signature(secret, token)}"
