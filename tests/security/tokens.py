"""Tokens that must be refused (401), made with the real dev issuer and by hand."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from propfee.auth import Role
from propfee.auth.dev import DevIssuer


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(issuer: DevIssuer, company: str, roles: list[str]) -> dict[str, object]:
    now = int(time.time())
    return {
        "sub": "mallory",
        "iss": issuer.issuer,
        "aud": issuer.audience,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "company": company,
        "communities": "*",
        "roles": roles,
    }


def unsigned(issuer: DevIssuer, company: str, roles: list[str]) -> str:
    """alg "none": no signature at all."""
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": issuer.kid}).encode())
    return f"{header}.{_b64(json.dumps(_claims(issuer, company, roles)).encode())}."


def hmac_with_public_key(issuer: DevIssuer, company: str, roles: list[str]) -> str:
    """The classic algorithm confusion: HS256 keyed with the issuer's public key."""
    public = issuer.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": issuer.kid}).encode())
    payload = _b64(json.dumps(_claims(issuer, company, roles)).encode())
    signature = hmac.new(public, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def bad_tokens(issuer: DevIssuer, stranger_dir: Path, company: str) -> dict[str, str]:
    """name -> a token carrying every role, refused for a reason other than its roles."""
    roles = [r.value for r in Role]
    stranger = DevIssuer.load_or_create(stranger_dir)
    now = int(time.time())
    mint: Callable[..., str] = issuer.mint
    return {
        "expired": mint("alice", roles, company, "*", exp=now - 3600, iat=now - 7200,
                        nbf=now - 7200),
        "not yet valid": mint("alice", roles, company, "*", nbf=now + 3600),
        "wrong issuer": mint("alice", roles, company, "*", iss="https://idp.example/evil"),
        "wrong audience": mint("alice", roles, company, "*", aud="another-app"),
        "bad signature": stranger.mint("alice", roles, company, "*",
                                       headers={"kid": issuer.kid}),
        "unknown key": stranger.mint("alice", roles, company, "*"),
        "tampered": _tamper(mint("alice", [Role.auditor], company, "*")),
        "alg none": unsigned(issuer, company, roles),
        "alg HS256 with the public key": hmac_with_public_key(issuer, company, roles),
        "no company": mint("alice", roles, company, "*", company=None),
        "no exp": mint("alice", roles, company, "*", exp=None),
        "garbage": "not-a-jwt",
    }  # fmt: skip


def _tamper(token: str) -> str:
    """Same signature, payload changed to claim every role."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["roles"] = [r.value for r in Role]
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
