"""Authentication edges: refused requests cost no rate limit, unknown token ids do the same
work as known ones, and an ambiguous Authorization is refused. A real server on 127.0.0.1."""

from __future__ import annotations

import base64
import hmac
import json
import socket
from urllib.parse import urlsplit

from moments import accounts
from moments.model import Token


def test_refused_writes_of_a_read_token_do_not_spend_the_rate_limit(server):
    tenant = server.tenant(rate_limit_per_s=0.001, rate_limit_burst=3)
    reader = accounts.issue_token(server.store, tenant.environment_id, ("read",))
    with server.client() as c:
        for _ in range(10):
            response = c.put("/v1/assets/a", json={"duration_ms": 1000}, auth=(reader.token.token_id, reader.secret))
            assert response.status_code == 403, response.text
            assert response.json()["error"]["type"] == "forbidden"
        # The environment's whole burst is still there for its writer.
        response = c.put("/v1/assets/a", json={"duration_ms": 1000}, auth=tenant.auth)
        assert response.status_code == 200, response.text
        assert response.headers["X-RateLimit-Remaining"] == "2"


def test_an_unknown_token_id_still_has_its_secret_compared_against_a_hash(server, monkeypatch):
    tenant = server.tenant()
    compared: list[tuple[str, str]] = []
    real_compare = hmac.compare_digest

    def recording_compare(a, b):
        compared.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording_compare)
    with server.client() as c:
        for token_id in (tenant.token_id, "no-such-token-id"):
            compared.clear()
            response = c.get("/v1/assets", auth=(token_id, "wrong-secret"))
            assert response.status_code == 401 and response.json()["error"]["type"] == "unauthorized"
            # One comparison of the secret's hash with a stored-looking hash, either way.
            assert len(compared) == 1, (token_id, compared)
            given, stored = compared[0]
            assert given == accounts.hash_secret("wrong-secret") and len(stored) == len(given)
        assert c.get("/v1/assets", auth=tenant.auth).status_code == 200


def test_a_dummy_hash_never_matches():
    assert not accounts.secret_matches("anything", None)
    assert accounts.secret_matches("s3cret", accounts.hash_secret("s3cret"))


def test_a_token_issued_after_its_id_was_looked_up_works(store):
    environment, _ = accounts.create_environment(store, "later")
    assert store.get_token("chosen-id") is None  # cached as unknown
    token = Token("chosen-id", environment.environment_id, accounts.hash_secret("s"), ("read",))
    store.create_token(token)
    assert store.get_token("chosen-id") == token


def raw_get(base_url: str, path: str, headers: list[tuple[str, str]]) -> tuple[int, dict]:
    """One HTTP/1.1 request with exactly these header lines (clients merge repeated ones)."""
    url = urlsplit(base_url)
    lines = [f"GET {path} HTTP/1.1", f"Host: {url.netloc}", "Connection: close",
             *(f"{name}: {value}" for name, value in headers)]
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body) if body else {}


def test_duplicate_authorization_headers_are_refused(server):
    tenant = server.tenant()
    other = accounts.issue_token(server.store, tenant.environment_id, ("read",))
    basic = "Basic " + base64.b64encode(f"{tenant.token_id}:{tenant.token_secret}".encode()).decode()
    other_basic = "Basic " + base64.b64encode(f"{other.token.token_id}:{other.secret}".encode()).decode()
    assert raw_get(server.base_url, "/v1/assets", [("Authorization", basic)])[0] == 200
    for pair in ([basic, basic], [basic, other_basic], [basic, "Basic bm9wZTpub3Bl"]):
        status, body = raw_get(server.base_url, "/v1/assets", [("Authorization", value) for value in pair])
        assert status == 401 and body["error"] == {"type": "unauthorized", "messages": ["Send one Authorization header"]}
