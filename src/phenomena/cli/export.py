"""The command that hands stored runs to other tools: ``export`` (CSV, Parquet, JSON or TensorBoard logs). It
reads the store and writes only inside its output folder."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("export")
@click.argument("targets", nargs=-1, metavar="[ID]...")
@click.option("--all", "all_runs", is_flag=True, help="Export every stored run.")
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(["csv", "parquet", "json", "tensorboard"]),
    default="csv",
    show_default=True,
    help="csv: runs.csv + metrics.csv; parquet: the same as Parquet (phenomena[export]); json: export.json; "
    "tensorboard: one log folder per run (phenomena[tensorboard]).",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    default="phenomena-export",
    show_default=True,
    help="Folder to write into (created; earlier export files in it are replaced).",
)
@click.pass_context
def export_cmd(ctx, targets: tuple[str, ...], all_runs: bool, fmt: str, out: Path) -> None:
    """Export stored runs (IDs of runs or sweeps, or unique prefixes; a sweep stands for its runs) as a runs
    table (config, summary, verdict: one row per run) and a long metrics table (run, metric, step, value), or
    as TensorBoard logs."""
    from phenomena.export import export, resolve_ids
    from phenomena.store import Store

    store = Store(ctx.obj["home"])
    ids = resolve_ids(store, list(targets), all_runs)
    paths = export(store, ids, fmt, out)
    click.echo(f"exported {len(ids)} run{'s' * (len(ids) != 1)} as {fmt} to {out}")
    for path in paths:
        click.echo(f"  {path}")
    if fmt == "tensorboard":
        click.echo(f"tensorboard --logdir {out}")


COMMANDS = (export_cmd,)
