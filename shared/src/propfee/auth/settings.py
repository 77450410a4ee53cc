"""Where tokens come from: issuer, audience, keys. Unprefixed ``PROPFEE_AUTH_*`` variables,
shared by every service; the defaults serve ``make up`` (the local development issuer)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The repository's root (shared/src/propfee/auth/settings.py -> 4 levels up).
REPO_ROOT = Path(__file__).resolve().parents[4]
DEFAULT_DEV_DIR = REPO_ROOT / ".local" / "auth"
#: Asymmetric algorithms only: "none" and the HMAC family (HS*) are never accepted, since a
#: shared secret would let every service that verifies also mint tokens.
ALLOWED_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "PS256"})


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROPFEE_AUTH_", extra="ignore", env_file=None)

    issuer: str = Field(default="propfee-local-dev", description="the expected `iss` claim")
    audience: str = Field(default="propfee", description="the expected `aud` claim")
    jwks_file: Path = Field(
        default=DEFAULT_DEV_DIR / "jwks.json",
        description="a JWKS document on disk (the dev issuer's by default); re-read when it "
        "changes",
    )
    jwks_url: str | None = Field(
        default=None,
        description="the identity provider's JWKS endpoint; when set it wins over the file",
    )
    algorithms: list[str] = Field(default=["RS256", "ES256"])
    leeway_s: int = Field(default=30, ge=0, le=300, description="clock skew allowed on exp/nbf")
    jwks_cache_s: int = Field(default=300, ge=0, description="how long a fetched JWKS is kept")
    jwks_min_refresh_s: float = Field(
        default=10.0, ge=0, description="an unknown kid refetches the JWKS at most this often"
    )
    jwks_timeout_s: float = 5.0

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if a not in ALLOWED_ALGORITHMS]
        if bad or not value:
            raise ValueError(
                f"algorithms {bad or value} not allowed; choose from {sorted(ALLOWED_ALGORITHMS)}"
            )
        return value
