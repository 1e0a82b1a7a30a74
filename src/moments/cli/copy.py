"""`moments copy`: one store into another, e.g. from the DuckDB file to ClickHouse."""

from __future__ import annotations

import click

from moments.cli.common import fail, open_existing, open_from


@click.command("copy")
@click.option("--from", "source_url", required=True, metavar="STORE",
              help="The store to copy: duckdb:///path (or a plain path), chdb:///dir or clickhouse://...")
@click.option("--to", "target_url", required=True, metavar="STORE",
              help="A new, empty store to copy into (created): chdb:///dir, clickhouse://..., duckdb:///path.")
def copy_command(source_url: str, target_url: str) -> None:
    """Copy every environment, token, asset and view of one store into another.

    Stop the server first (it holds the store and applies its beacon journal as it stops);
    then start it on the copy: the same tokens work and every answer is the same.

    \b
    moments copy --from duckdb:///var/lib/moments/moments.duckdb --to chdb:///var/lib/moments/chdb
    """
    from moments.store.copying import copy_store

    if source_url == target_url:
        raise click.UsageError("--from and --to name the same store")
    source = open_existing(None, source_url)
    try:
        target = open_from(None, target_url)
        try:
            copied = copy_store(source, target, progress=lambda c: click.echo(f"  {c.views:,} views...", err=True))
        except ValueError as error:
            fail(f"{target_url}: {error}")
        finally:
            target.close()
    finally:
        source.close()
    click.echo(f"copied {copied.environments} environments, {copied.tokens} tokens, {copied.assets} assets "
               f"and {copied.views:,} views from {source_url} to {target_url}")
