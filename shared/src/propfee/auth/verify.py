"""Bearer-token verification: JWT (RS256 / ES256) against a JWKS from a file or a URL.

Checked: the signature (algorithm from an allow-list, never ``none`` or HS*), ``iss``, ``aud``,
``exp`` and ``nbf`` (with a small leeway), ``sub``, and Propfee's claims ``company``,
``communities`` (a list, or "*") and ``roles``. Errors say what is wrong without echoing the
token or any key material.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import structlog

from propfee.auth.principal import ALL, Principal
from propfee.auth.roles import Role, parse_roles
from propfee.auth.settings import AuthSettings

log = structlog.get_logger("propfee.auth")

_KTY_FOR_ALG = {"RS": "RSA", "PS": "RSA", "ES": "EC"}


class InvalidToken(Exception):
    """The token is missing, malformed, expired, not ours or badly signed (HTTP 401)."""


@dataclass(frozen=True)
class VerificationKey:
    kid: str | None
    kty: str
    alg: str | None  # the JWK's own "alg", when it names one
    key: Any  # a cryptography public key


def _parse_jwks(data: Any) -> dict[str, VerificationKey]:
    """kid -> key for the signing keys of a JWKS document (keys without kid get their index)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
        raise ValueError("not a JWKS document (no 'keys' list)")
    keys: dict[str, VerificationKey] = {}
    for n, jwk in enumerate(data["keys"]):
        if not isinstance(jwk, Mapping) or jwk.get("use", "sig") != "sig":
            continue
        kty = jwk.get("kty")
        if kty not in ("RSA", "EC"):
            continue  # symmetric ("oct") keys are never used to verify
        if "d" in jwk:
            log.warning("jwks key with private material skipped", kid=jwk.get("kid"))
            continue
        kid = jwk.get("kid")
        try:
            parsed = jwt.PyJWK(dict(jwk))
        except jwt.PyJWTError:
            log.warning("jwks key skipped", kid=kid)
            continue
        keys[str(kid) if kid is not None else f"#{n}"] = VerificationKey(
            str(kid) if kid is not None else None, kty, jwk.get("alg"), parsed.key
        )
    return keys


class JwksSource:
    """The verification keys, cached; refreshed when a token names an unknown ``kid``."""

    def __init__(self, settings: AuthSettings, client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self._client = client
        self._keys: dict[str, VerificationKey] = {}
        self._loaded_at = float("-inf")
        self._refreshed_at = float("-inf")
        self._file_mtime: float | None = None
        self._lock = asyncio.Lock()

    @property
    def location(self) -> str:
        return self.settings.jwks_url or str(self.settings.jwks_file)

    async def _load(self) -> dict[str, VerificationKey]:
        if self.settings.jwks_url:
            if self._client is not None:
                response = await self._client.get(
                    self.settings.jwks_url, timeout=self.settings.jwks_timeout_s
                )
            else:
                async with httpx.AsyncClient(timeout=self.settings.jwks_timeout_s) as client:
                    response = await client.get(self.settings.jwks_url)
            response.raise_for_status()
            return _parse_jwks(response.json())
        return self._read_file()

    def _read_file(self) -> dict[str, VerificationKey]:
        path = Path(self.settings.jwks_file)
        self._file_mtime = path.stat().st_mtime
        return _parse_jwks(json.loads(path.read_text("utf-8")))

    def _file_changed(self) -> bool:
        if self.settings.jwks_url:
            return False
        try:
            return Path(self.settings.jwks_file).stat().st_mtime != self._file_mtime
        except OSError:
            return False

    async def keys(self, *, refresh: bool = False) -> dict[str, VerificationKey]:
        now = time.monotonic()
        stale = now - self._loaded_at > self.settings.jwks_cache_s or self._file_changed()
        may_refresh = now - self._refreshed_at >= self.settings.jwks_min_refresh_s
        if not self._keys or stale or (refresh and may_refresh):
            async with self._lock:
                now = time.monotonic()
                if self._keys and not self._file_changed():
                    recent = now - self._loaded_at <= self.settings.jwks_cache_s
                    if recent and not (
                        refresh and now - self._refreshed_at >= self.settings.jwks_min_refresh_s
                    ):
                        return self._keys
                try:
                    self._keys = await self._load()
                    self._loaded_at = now
                except (OSError, ValueError, httpx.HTTPError) as exc:
                    # Keep the keys we had (an IdP hiccup must not lock everyone out).
                    log.warning("jwks not loaded", source=self.location, error=type(exc).__name__)
                    if not self._keys:
                        raise InvalidToken("verification keys are unavailable") from exc
                finally:
                    self._refreshed_at = now
        return self._keys


class TokenVerifier:
    def __init__(self, settings: AuthSettings | None = None, jwks: JwksSource | None = None):
        self.settings = settings or AuthSettings()
        self.jwks = jwks or JwksSource(self.settings)

    async def _key_for(self, kid: str | None, alg: str) -> VerificationKey:
        kty = _KTY_FOR_ALG[alg[:2]]
        for refresh in (False, True):
            keys = await self.jwks.keys(refresh=refresh)
            if kid is not None:
                key = keys.get(kid)
            else:  # no kid: only unambiguous when one key of the right type exists
                candidates = [k for k in keys.values() if k.kty == kty]
                key = candidates[0] if len(candidates) == 1 else None
            if key is not None:
                if key.kty != kty or key.alg not in (None, alg):
                    raise InvalidToken("token algorithm does not match its key")
                return key
        raise InvalidToken("token signed by an unknown key")

    async def verify(self, token: str) -> Principal:
        s = self.settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in s.algorithms:
            raise InvalidToken("token algorithm not allowed")
        kid = header.get("kid")
        key = await self._key_for(kid if isinstance(kid, str) else None, alg)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise InvalidToken("token not yet valid") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken("token audience not accepted") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidToken("token issuer not accepted") from exc
        except jwt.InvalidSignatureError as exc:
            raise InvalidToken("token signature invalid") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"token lacks the {exc.claim} claim") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("token invalid") from exc
        return principal_from_claims(claims)


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    subject, company = claims.get("sub"), claims.get("company")
    if not isinstance(subject, str) or not subject:
        raise InvalidToken("token lacks the sub claim")
    if not isinstance(company, str) or not company:
        raise InvalidToken("token lacks the company claim")
    roles = parse_roles(claims.get("roles", []))
    if company == ALL and roles != {Role.service}:
        raise InvalidToken('company "*" is only for service tokens')
    raw = claims.get("communities", [])
    if raw == ALL:
        communities: frozenset[str] = frozenset()
        all_communities = True
    elif isinstance(raw, list) and all(isinstance(c, str) for c in raw):
        communities, all_communities = frozenset(raw), False
    else:
        raise InvalidToken('token communities claim must be a list of ids or "*"')
    return Principal(
        subject=subject,
        company_id=company,
        communities=communities,
        roles=roles,
        all_communities=all_communities,
        claims=claims,
    )
