"""The check every route makes of its query string (its parameters' values: moments.params)."""

from __future__ import annotations

from fastapi import Request

from moments.api.errors import bad_request


def only_parameters(request: Request, allowed: set[str]) -> None:
    unknown = sorted(set(request.query_params.keys()) - allowed)
    if unknown:
        names = ", ".join(repr(u[:40]) for u in unknown[:5])
        raise bad_request(f"unknown query parameter(s): {names}; accepted: {', '.join(sorted(allowed)) or 'none'}")
