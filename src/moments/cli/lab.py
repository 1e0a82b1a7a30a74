"""`moments eval-hotspots`: the hotspot detector scored on simulated audiences."""

from __future__ import annotations

import click


@click.command("eval-hotspots")
@click.option("--quick", is_flag=True, help="The smaller run CI makes (no power table).")
@click.option("--write", "write_to", type=click.Path(exists=True, dir_okay=False),
              help="Also put the tables in this file (docs/hotspots.md) between its markers.")
def eval_hotspots(quick: bool, write_to: str | None) -> None:
    """Evaluate the hotspot detector on random simulated audiences (docs/hotspots.md)."""
    from pathlib import Path

    from moments.lab.evaluation import report

    evaluation = report.evaluate(report.QUICK if quick else report.FULL)
    click.echo(report.markdown(evaluation))
    if write_to:
        report.write(Path(write_to), evaluation)


# The other commands live beside this module; importing them registers them on `main`
