"""/v1/tokens on a real server: an admin token lists, issues, rotates and revokes its
environment's tokens (what `moments token ... --url` asks while the server holds the store);
nothing else can, and another environment's tokens stay out of reach. `moments env list` and
`env origins` with --url too."""

from __future__ import annotations

import json

from click.testing import CliRunner

from conftest import Server
from moments import accounts
from moments.cli import main
from test_cli_remote import SOURCES


def test_an_admin_token_manages_its_environments_tokens(server: Server) -> None:
    tenant = server.tenant()  # read+write, as `env create` issues
    other = server.tenant("other")
    admin_token = accounts.issue_token(server.store, tenant.environment_id, ("read", "write", "admin"))
    admin_auth = (admin_token.token.token_id, admin_token.secret)
    other_admin = accounts.issue_token(server.store, other.environment_id, ("read", "write", "admin"))
    other_auth = (other_admin.token.token_id, other_admin.secret)

    with server.client() as http:
        def status(auth: tuple[str, str]) -> int:
            return http.get("/v1/environment", auth=auth).status_code

        # Only an admin token: write is not enough; each admin sees its own environment's tokens.
        assert http.get("/v1/tokens", auth=tenant.auth).status_code == 403
        assert http.get("/v1/tokens").status_code == 401
        assert [r["token_id"] for r in http.get("/v1/tokens", auth=other_auth).json()["data"]] == [
            other.token_id, other_admin.token.token_id]
        assert http.delete(f"/v1/tokens/{tenant.token_id}", auth=other_auth).status_code == 404
        listed = http.get("/v1/tokens", auth=admin_auth)
        assert listed.status_code == 200
        rows = listed.json()["data"]
        assert [(r["token_id"], r["permissions"]) for r in rows] == [
            (tenant.token_id, ["read", "write"]), (admin_token.token.token_id, ["read", "write", "admin"])]
        assert all(set(r) == {"token_id", "environment_id", "permissions", "created_at"} for r in rows)
        assert tenant.token_secret not in listed.text and admin_token.token.secret_hash not in listed.text

        issued = http.post("/v1/tokens", auth=admin_auth, json={"permissions": ["read"]})
        assert issued.status_code == 201
        new = issued.json()["data"]
        assert new["environment_id"] == tenant.environment_id and new["permissions"] == ["read"]
        assert status((new["token_id"], new["token_secret"])) == 200

        rotated = http.post(f"/v1/tokens/{new['token_id']}/rotate", auth=admin_auth)
        assert rotated.status_code == 200 and rotated.json()["data"]["token_id"] == new["token_id"]
        assert status((new["token_id"], new["token_secret"])) == 401
        assert status((new["token_id"], rotated.json()["data"]["token_secret"])) == 200

        revoked = http.delete(f"/v1/tokens/{tenant.token_id}", auth=admin_auth)
        assert revoked.json() == {"data": {"token_id": tenant.token_id, "environment_id": tenant.environment_id,
                                           "revoked": True}}
        assert status(tenant.auth) == 401  # at once: the server that revoked it drops it from its cache

        # Another environment's token looks like one that does not exist; bad bodies change nothing.
        before = http.get("/v1/tokens", auth=admin_auth).json()
        for method, path, body in [("DELETE", f"/v1/tokens/{other.token_id}", None),
                                   ("POST", f"/v1/tokens/{other.token_id}/rotate", None),
                                   ("DELETE", "/v1/tokens/no-such-token", None)]:
            answer = http.request(method, path, auth=admin_auth, json=body)
            assert answer.status_code == 404 and answer.json()["error"]["type"] == "not_found", (method, path)
        for body in [{"permissions": ["fly"]}, {"permissions": []}, {"permissions": "read"}, {"other": 1}, []]:
            answer = http.post("/v1/tokens", auth=admin_auth, json=body)
            assert answer.status_code == 400 and answer.json()["error"]["type"] == "invalid_parameters", body
        assert http.get("/v1/tokens", auth=admin_auth).json() == before
        assert status(other.auth) == 200


def test_the_token_commands_go_through_the_api_with_url(server: Server) -> None:
    tenant = server.tenant()
    admin = accounts.issue_token(server.store, tenant.environment_id, ("read", "write", "admin"))
    env = {name: None for name in SOURCES} | {"MOMENTS_URL": server.base_url, "MUX_TOKEN_ID": admin.token.token_id,
                                               "MUX_TOKEN_SECRET": admin.secret}

    def cli(*args: str):
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    created = cli("token", "create", "--permissions", "read", "--json")
    assert created.exit_code == 0, created.stderr
    issued = json.loads(created.stdout)
    listed = cli("token", "list", "--env", tenant.environment_id, "--json")
    assert [t["token_id"] for t in json.loads(listed.stdout)["data"]] == [
        tenant.token_id, admin.token.token_id, issued["token_id"]]
    rotated = json.loads(cli("token", "rotate", issued["token_id"], "--json").stdout)
    assert rotated["token_id"] == issued["token_id"] and rotated["token_secret"] != issued["token_secret"]
    revoked = cli("token", "revoke", tenant.token_id)
    assert revoked.stdout == f"revoked token {tenant.token_id} of environment {tenant.environment_id}\n"
    with server.client() as http:
        assert http.get("/v1/environment", auth=tenant.auth).status_code == 401
        assert http.get("/v1/environment", auth=(issued["token_id"], rotated["token_secret"])).status_code == 200
    missing = cli("token", "revoke", tenant.token_id)
    assert missing.exit_code == 1 and missing.stderr == f"Error: no token {tenant.token_id!r}\n"
    # A token without admin is told so.
    env |= {"MUX_TOKEN_ID": issued["token_id"], "MUX_TOKEN_SECRET": rotated["token_secret"]}
    refused = cli("token", "list")
    assert refused.exit_code == 1 and "the token may not do this (403): This access token lacks the admin permission" \
        in refused.stderr


def test_the_env_commands_go_through_the_api_with_url(server: Server) -> None:
    tenant = server.tenant()
    server.tenant("other")  # not the token's: not listed
    admin = accounts.issue_token(server.store, tenant.environment_id, ("read", "write", "admin"))
    env = {name: None for name in SOURCES} | {"MOMENTS_URL": server.base_url, "MUX_TOKEN_ID": admin.token.token_id,
                                               "MUX_TOKEN_SECRET": admin.secret}

    def cli(*args: str):
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    listed = cli("env", "list", "--json")
    assert [e["environment_id"] for e in json.loads(listed.stdout)["data"]] == [tenant.environment_id]
    changed = cli("env", "origins", tenant.environment_id, "https://shop.example", "*.example.org", "--json")
    assert changed.exit_code == 0, changed.stderr
    assert json.loads(changed.stdout)["allowed_origins"] == ["https://shop.example", "*.example.org"]
    assert server.store.get_environment(tenant.environment_id).allowed_origins == ("https://shop.example",
                                                                                   "*.example.org")
    elsewhere = cli("env", "origins", "another-env", "https://shop.example")
    assert elsewhere.exit_code == 1
    assert f"the token belongs to environment {tenant.environment_id!r}, not 'another-env'" in elsewhere.stderr
