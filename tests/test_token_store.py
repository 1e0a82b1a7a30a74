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
