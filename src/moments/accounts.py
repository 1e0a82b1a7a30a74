"""Environments and access tokens: creation, and secret hashing.

Secrets are 256-bit random strings, so one round of SHA-256 makes a leaked store useless
to an attacker (there is nothing to brute-force); comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from moments.model import PERMISSIONS, Environment, Token
from moments.store.base import Store


@dataclass(frozen=True)
class IssuedToken:
    token: Token
    secret: str  # shown once, never stored


def environment_fields(environment: Environment) -> dict:
    """What the API (GET /v1/environment) and the CLI show of an environment."""
    return {"environment_id": environment.environment_id, "name": environment.name,
            "env_key": environment.env_key, "retention_days": environment.retention_days,
            "rate_limit_per_s": environment.rate_limit_per_s, "rate_limit_burst": environment.rate_limit_burst,
            "allowed_origins": list(environment.allowed_origins)}


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


# What the secret of an unknown token id is compared with: the same work as for a known id.
_UNKNOWN_TOKEN_HASH = hash_secret(secrets.token_urlsafe(32))


def secret_matches(secret: str, secret_hash: str | None) -> bool:
    """Constant-time; `secret_hash` None (no such token) does the same work and never matches."""
    matches = hmac.compare_digest(hash_secret(secret), _UNKNOWN_TOKEN_HASH if secret_hash is None else secret_hash)
    return matches and secret_hash is not None


def new_env_key() -> str:
    # Lowercase alphanumeric, like Mux env keys (the SDK treats other shapes differently).
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(26))


def parse_permissions(text: str) -> tuple[str, ...]:
    permissions = tuple(p.strip() for p in text.split(",") if p.strip())
    bad = [p for p in permissions if p not in PERMISSIONS]
    if bad or not permissions:
        raise ValueError(f"permissions must be a comma-separated subset of {', '.join(PERMISSIONS)}")
    return permissions


def issue_token(store: Store, environment_id: str, permissions: tuple[str, ...]) -> IssuedToken:
    if store.get_environment(environment_id) is None:
        raise LookupError(f"no environment {environment_id!r}")
    secret = secrets.token_urlsafe(32)
    token = Token(str(uuid.uuid4()), environment_id, hash_secret(secret), permissions)
    store.create_token(token)
    return IssuedToken(token, secret)


def issued_fields(issued: IssuedToken) -> dict:
    """What the API (POST /v1/tokens) and the CLI answer when a token or a new secret is issued:
    the one time its secret is shown."""
    return {"token_id": issued.token.token_id, "token_secret": issued.secret,
            "environment_id": issued.token.environment_id, "permissions": list(issued.token.permissions)}


def token_fields(token: Token, created_at_ms: int) -> dict:
    """What `moments token list` shows of a token: never its secret, nor the secret's hash."""
    return {"token_id": token.token_id, "environment_id": token.environment_id,
            "permissions": list(token.permissions), "created_at": created_at_ms}


def rotate_token(store: Store, token_id: str) -> IssuedToken:
    """A new secret for the token (same id, environment and permissions); the old secret stops working."""
    token = store.get_token(token_id)
    if token is None:
        raise LookupError(f"no token {token_id!r}")
    secret = secrets.token_urlsafe(32)
    secret_hash = hash_secret(secret)
    store.set_token_secret(token_id, secret_hash)
    return IssuedToken(Token(token.token_id, token.environment_id, secret_hash, token.permissions), secret)


def revoke_token(store: Store, token_id: str) -> Token:
    """Delete the token: requests with it get 401 from then on. The token it was."""
    token = store.get_token(token_id)
    if token is None:
        raise LookupError(f"no token {token_id!r}")
    store.delete_token(token_id)
    return token


def create_environment(
    store: Store,
    name: str,
    retention_days: int = 100,
    rate_limit_per_s: float = 5.0,
    rate_limit_burst: int = 20,
    env_key: str | None = None,
    allowed_origins: tuple[str, ...] = (),
) -> tuple[Environment, IssuedToken]:
    """A new environment with a read+write token."""
    environment = Environment(
        environment_id=uuid.uuid4().hex[:12],
        name=name,
        env_key=env_key or new_env_key(),
        retention_days=retention_days,
        rate_limit_per_s=rate_limit_per_s,
        rate_limit_burst=rate_limit_burst,
        allowed_origins=allowed_origins,
    )
    store.create_environment(environment)
    return environment, issue_token(store, environment.environment_id, ("read", "write"))
