"""Static QR code per unit (一户一码): a link that opens the household's current statement.

The link carries an HMAC of the unit id so that codes cannot be guessed for other units.
"""

from __future__ import annotations

import hashlib
import hmac


def qr_signature(secret: bytes, unit_id: str) -> str:
    return hmac.new(secret, f"unit-qr:{unit_id}".encode(), hashlib.sha256).hexdigest()[:24]


def qr_valid(secret: bytes, unit_id: str, signature: str) -> bool:
    return hmac.compare_digest(qr_signature(secret, unit_id), signature)


def qr_url(base_url: str, secret: bytes, unit_id: str) -> str:
    return f"{base_url.rstrip('/')}/qr/{unit_id}?sig={qr_signature(secret, unit_id)}"
