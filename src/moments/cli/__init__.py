"""The `moments` command: serve, environments and tokens, imports, assets, queries.

One group; each module beside this one defines its commands without knowing the group,
and they are registered here.
"""

from __future__ import annotations

import click

from moments.cli import admin, backup, compare, copy, exports, imports, lab, queries, serve, views


@click.group()
@click.version_option(package_name="moments")
def main() -> None:
    """Per-moment video engagement analytics with a Mux-compatible Engagement API."""


for command in (serve.serve, serve.door, admin.env, admin.token, imports.import_command, admin.assets,
                queries.heatmap, queries.hotspots, queries.summary_command, queries.chapters_command, lab.eval_hotspots, compare.relative_command,
                compare.compare_command, exports.layers, exports.export, views.views_command, views.view_command,
                backup.backup_command, copy.copy_command):
    main.add_command(command)
