"""Static QR code per unit (一户一码): a link that opens the household's current statement.

The link carries an HMAC of the unit id so that codes cannot be guessed for other units.
"""

from __future__ import annotations

import hashlib
import hmac


def qr_signature(secret: bytes, unit_id: str) -> str:
    message = f"unit-qr:{unit_id}".encode("utf-8", "surrogatepass")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:24]


def qr_valid(secret: bytes, unit_id: str, signature: str) -> bool:
    """Constant-time; any text may come in (compared as bytes: non-ASCII is simply wrong)."""
    given = signature.encode("utf-8", "surrogatepass")
    return hmac.compare_digest(qr_signature(secret, unit_id).encode(), given)


def qr_url(base_url: str, secret: bytes, unit_id: str) -> str:
    return f"{base_url.rstrip('/')}/qr/{unit_id}?sig={qr_signature(secret, unit_id)}"
