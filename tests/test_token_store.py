"""Listing, rotating and revoking tokens on every store (DuckDB, chdb, clickhouse-connect), and
a revocation seen by another process on a shared ClickHouse database."""

from __future__ import annotations

import pytest

from moments import accounts
from moments.store import clickhouse
from test_store_contract import BACKENDS, open_backend


@pytest.fixture(params=BACKENDS)
def any_store(request, tmp_path):
    store = open_backend(request.param, tmp_path)
    yield store
    store.close()


def test_tokens_are_listed_rotated_and_revoked(any_store) -> None:
    environment, first = accounts.create_environment(any_store, "tokens")
    other, theirs = accounts.create_environment(any_store, "other")
    second = accounts.issue_token(any_store, environment.environment_id, ("read",))

    listed = any_store.tokens(environment.environment_id)
    assert [token for token, _ in listed] == [first.token, second.token]
    assert all(type(created) is int and created > 0 for _, created in listed)
    assert [token for token, _ in any_store.tokens(other.environment_id)] == [theirs.token]

    rotated = accounts.rotate_token(any_store, second.token.token_id)
    stored = any_store.get_token(second.token.token_id)
    assert stored == rotated.token and stored.permissions == ("read",)
    assert accounts.secret_matches(rotated.secret, stored.secret_hash)
    assert not accounts.secret_matches(second.secret, stored.secret_hash)
    assert [created for _, created in any_store.tokens(environment.environment_id)] == [c for _, c in listed]

    assert accounts.revoke_token(any_store, first.token.token_id) == first.token
    assert any_store.get_token(first.token.token_id) is None
    assert [token.token_id for token, _ in any_store.tokens(environment.environment_id)] == [second.token.token_id]
    with pytest.raises(LookupError):
        accounts.revoke_token(any_store, first.token.token_id)
    with pytest.raises(LookupError):
        accounts.rotate_token(any_store, "no-such-token")


def test_a_revocation_reaches_another_process_on_a_shared_database(tmp_path, monkeypatch) -> None:
    serving = open_backend("chdb", tmp_path, owner=False)  # a server's process on a shared database
    admin = open_backend("chdb", tmp_path, owner=False)  # `moments token revoke` elsewhere
    try:
        environment, issued = accounts.create_environment(admin, "shared")
        token_id = issued.token.token_id
        assert serving.get_token(token_id) == issued.token  # now cached by the server
        accounts.revoke_token(admin, token_id)
        # Until the recheck it may still be taken; from then on it is refused.
        monkeypatch.setattr(clickhouse, "TOKEN_RECHECK_S", 3600.0)
        assert serving.get_token(token_id) == issued.token
        monkeypatch.setattr(clickhouse, "TOKEN_RECHECK_S", 0.0)
        assert serving.get_token(token_id) is None
    finally:
        serving.close()
        admin.close()


def test_a_store_secret_is_made_once_and_kept(any_store, tmp_path) -> None:
    made = any_store.store_secret("demo token")
    assert len(made) >= 40 and any_store.store_secret("demo token") == made
    assert any_store.store_secret("another") not in (made, "")


def test_store_secrets_survive_reopening_and_agree_across_processes(tmp_path) -> None:
    first = open_backend("duckdb", tmp_path)
    made = first.store_secret("demo token")
    first.close()
    again = open_backend("duckdb", tmp_path)
    try:
        assert again.store_secret("demo token") == made
    finally:
        again.close()
    # Two processes on one ClickHouse database: whichever asks first, both get the same value.
    one = open_backend("chdb", tmp_path, owner=False)
    two = open_backend("chdb", tmp_path, owner=False)
    try:
        assert one.store_secret("demo token") == two.store_secret("demo token") != made
    finally:
        one.close()
        two.close()
