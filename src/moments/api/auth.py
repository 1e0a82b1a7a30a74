"""Who is calling: HTTP Basic (token id + secret) or Bearer, then permission and rate limit."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from fastapi import Request

from moments.accounts import secret_matches
from moments.api.errors import ApiError, RateLimited
from moments.model import Environment, Token

CHALLENGE = {"WWW-Authenticate": 'Basic realm="moments"'}


@dataclass(frozen=True)
class Caller:
    token: Token
    environment: Environment
    headers: dict[str, str]  # rate-limit headers to send back


def _credentials(request: Request) -> tuple[str, str]:
    headers = request.headers.getlist("authorization")
    if len(headers) > 1:  # which one counts would depend on the proxy or server in between
        raise ApiError(401, "Send one Authorization header", headers=CHALLENGE)
    header = headers[0] if headers else ""
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except ValueError:  # not base64 (binascii.Error), not ASCII (header bytes are latin-1), not UTF-8
            raise ApiError(401, "Malformed Basic credentials", headers=CHALLENGE) from None
    elif scheme.lower() == "bearer":
        # Bearer carries "TOKEN_ID:TOKEN_SECRET", raw or base64-encoded.
        decoded = value
        if ":" not in value:
            try:
                decoded = base64.b64decode(value, validate=True).decode("utf-8")
            except ValueError:  # as above: then it is no credential at all
                decoded = ""
    else:
        raise ApiError(401, "Authentication required: use HTTP Basic with your access token id and secret",
                       headers=CHALLENGE)
    token_id, sep, secret = decoded.partition(":")
    if not sep or not token_id or not secret:
        raise ApiError(401, "Credentials must be TOKEN_ID:TOKEN_SECRET", headers=CHALLENGE)
    return token_id, secret


def authorize(request: Request, permission: str) -> Caller:
    """The calling token, checked for `permission`, then charged one request of its rate limit
    (a refused request costs the environment nothing)."""
    token_id, secret = _credentials(request)
    store = request.app.state.store
    token = store.get_token(token_id) if len(token_id) <= 128 else None
    # An unknown id still has its secret compared (with a dummy hash): the time taken does not
    # tell which token ids exist.
    matched = secret_matches(secret, token.secret_hash if token else None)
    if token is None or not matched:
        raise ApiError(401, "Invalid access token id or secret", headers=CHALLENGE)
    environment = store.get_environment(token.environment_id)
    if environment is None:
        raise ApiError(401, "Invalid access token id or secret", headers=CHALLENGE)
    if not token.allows(permission):
        raise ApiError(403, f"This access token lacks the {permission} permission")
    decision = request.app.state.rate_limiter.take(
        environment.environment_id, environment.rate_limit_per_s, environment.rate_limit_burst
    )
    if not decision.allowed:
        raise RateLimited(decision.headers())
    return Caller(token, environment, decision.headers())
