"""`moments backup`: a consistent copy of a DuckDB store, by the running server or from the file.

While `moments serve` holds the file, only it can read it: with --url the server writes the
copy into its own backup folder (POST /v1/backup). With the server stopped, the command opens
the store and writes the copy to OUT itself.
"""

from __future__ import annotations

from pathlib import Path

import click

from moments.cli.common import Remote, emit, fail, open_existing, remote_options, store_options
from moments.store.base import NO_ONLINE_BACKUP, OnlineBackup

BACKUP_TIMEOUT_S = 3600.0  # the server answers when the copy is written: a large file takes minutes


@click.command("backup")
@click.argument("out", required=False, type=click.Path(dir_okay=False))
@store_options
@remote_options
@click.option("--json", "as_json", is_flag=True, help="Print the API's response body.")
def backup_command(out: str | None, db: str | None, store_url: str | None, remote: Remote | None,
                   as_json: bool) -> None:
    """Copy the whole store (every environment, token, asset and view) into a new DuckDB file.

    \b
    moments backup --url http://127.0.0.1:8000   the running server writes it into its backup folder
    moments backup OUT.duckdb [--db FILE]        the server stopped: this command writes OUT

    An admin token is needed with --url. Restore: stop the server, put the copy in place of the
    store file (and move FILE.journal aside), start it (docs/deploy.md).
    """
    if remote is not None:
        if out is not None:
            raise click.UsageError("with --url the server names the copy (in its backup folder): leave OUT out")
        body = remote.ask(lambda client: client.backup(), timeout_s=BACKUP_TIMEOUT_S)
        emit(body, as_json, f"the server wrote {body['data']['path']} ({body['data']['bytes']:,} bytes)")
        return
    if out is None:
        raise click.UsageError("give OUT, the new file to write (or --url to ask a running server)")
    if Path(out).exists():
        fail(f"{out} exists: a backup goes to a new file")
    store = open_existing(db, store_url, over_http=True)
    try:
        if not isinstance(store, OnlineBackup) or store.local_path is None:
            fail(NO_ONLINE_BACKUP)
        store.backup(out)
    except OSError as error:
        fail(f"the backup was not written: {error}")
    finally:
        store.close()
    body = {"data": {"path": str(Path(out).resolve()), "bytes": Path(out).stat().st_size}}
    emit(body, as_json, f"wrote {body['data']['path']} ({body['data']['bytes']:,} bytes)")
