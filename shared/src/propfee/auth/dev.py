"""The local development issuer: a key pair on disk, its JWKS, and tokens minted with it.

``make up`` runs ``python -m propfee.auth keygen`` (once; later runs reuse the keys) and the
services verify against ``.local/auth/jwks.json`` by default, so the demo and the tests go
through the real verification path. Never used in production: there the company's identity
provider signs tokens and ``PROPFEE_AUTH_JWKS_URL`` points at its JWKS.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.utils import base64url_encode

from propfee.auth.principal import ALL
from propfee.auth.roles import Role
from propfee.auth.settings import AuthSettings

PRIVATE_KEY_FILE = "private-key.pem"
JWKS_FILE = "jwks.json"
Algorithm = Literal["RS256", "ES256"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _public_jwk(key: PrivateKey, alg: str) -> dict[str, Any]:
    text = (
        RSAAlgorithm.to_jwk(key.public_key())
        if isinstance(key, rsa.RSAPrivateKey)
        else ECAlgorithm.to_jwk(key.public_key())
    )
    jwk: dict[str, Any] = json.loads(text)
    thumb_input = {k: jwk[k] for k in sorted(jwk) if k in ("crv", "e", "kty", "n", "x", "y")}
    canonical = json.dumps(thumb_input, separators=(",", ":")).encode()
    digest = base64url_encode(hashlib.sha256(canonical).digest()).decode()
    return {**jwk, "kid": digest[:16], "use": "sig", "alg": alg}


@dataclass
class DevIssuer:
    directory: Path
    private_key: PrivateKey
    algorithm: str
    kid: str
    issuer: str
    audience: str

    @property
    def jwks_path(self) -> Path:
        return self.directory / JWKS_FILE

    @property
    def jwks(self) -> dict[str, Any]:
        return {"keys": [_public_jwk(self.private_key, self.algorithm)]}

    @classmethod
    def load_or_create(
        cls,
        directory: Path | str,
        *,
        algorithm: Algorithm = "RS256",
        issuer: str | None = None,
        audience: str | None = None,
    ) -> DevIssuer:
        """The issuer kept in ``directory``, created on first use (idempotent; safe when two
        processes race: the private key is created exclusively, mode 0600)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        key_path = directory / PRIVATE_KEY_FILE
        if not key_path.exists():
            key: PrivateKey = (
                rsa.generate_private_key(public_exponent=65537, key_size=2048)
                if algorithm == "RS256"
                else ec.generate_private_key(ec.SECP256R1())
            )
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            try:
                fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process won the race; load its key below
            else:
                with os.fdopen(fd, "wb") as f:
                    f.write(pem)
        os.chmod(key_path, 0o600)
        loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path}: not an RSA or EC private key")
        alg = "RS256" if isinstance(loaded, rsa.RSAPrivateKey) else "ES256"
        settings = AuthSettings()
        jwk = _public_jwk(loaded, alg)
        issuer_ = cls(
            directory=directory,
            private_key=loaded,
            algorithm=alg,
            kid=jwk["kid"],
            issuer=issuer or settings.issuer,
            audience=audience or settings.audience,
        )
        text = json.dumps(issuer_.jwks, indent=2) + "\n"
        jwks_path = issuer_.jwks_path
        if not jwks_path.exists() or jwks_path.read_text("utf-8") != text:
            tmp = directory / f".{JWKS_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
            tmp.write_text(text, "utf-8")
            tmp.replace(jwks_path)
        return issuer_

    def mint(
        self,
        subject: str,
        roles: Iterable[Role | str],
        company_id: str,
        communities: Iterable[str] | str = ALL,
        ttl_seconds: int = 3600,
        *,
        headers: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> str:
        """A signed token. ``overrides`` replace claims (``None`` removes one), e.g.
        ``iss="other"`` or ``exp=0`` in tests; ``headers`` adds JOSE header fields."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": subject,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + ttl_seconds,
            "jti": secrets.token_hex(8),
            "company": company_id,
            "communities": communities if isinstance(communities, str) else list(communities),
            "roles": [str(r) for r in roles],
        }
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return jwt.encode(
            claims,
            self.private_key,
            algorithm=self.algorithm,
            headers={"kid": self.kid, **(headers or {})},
        )
