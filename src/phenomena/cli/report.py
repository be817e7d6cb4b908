"""``phenomena report``: the store as a static HTML site."""

from __future__ import annotations

import sys

import click

MAX_WARNINGS = 5  # figures that could not be drawn, named one per line; the rest are counted


@click.command("report")
@click.option("--out", "-o", default="phenomena-report", show_default=True, help="Folder to write the site into.")
@click.option("--open", "open_browser", is_flag=True, help="Open the index in the default browser.")
@click.pass_context
def report_cmd(ctx, out: str, open_browser: bool) -> None:
    """Write a static, self-contained HTML site of the store: the catalog with each entry's latest verdicts,
    verification pass rates, references and figure; a page per run (verdict, figure, config difference from its
    preset, environment, curves) and per sweep (table, figure). No network, no script: open it anywhere."""
    from tqdm.auto import tqdm  # here, not at the top: importing it costs every command ~0.1 s

    from phenomena.catalog import get_entry
    from phenomena.site import build_site
    from phenomena.store import Store

    store = Store(ctx.obj["home"])
    if not store.exists:
        click.echo(f"no store in {store.root} yet; run something first (phenomena run grokking)", err=True)
    pages = len(store.runs()) + len(store.sweeps())
    unshown: list[str] = []
    with tqdm(total=pages, desc="report", unit="page", file=sys.stderr, disable=not sys.stderr.isatty()) as bar:
        index = build_site(store, out, get_entry, progress=lambda _: bar.update(1), warn=unshown.append)
    for line in unshown[:MAX_WARNINGS]:
        click.echo(f"report: {line}", err=True)
    if len(unshown) > MAX_WARNINGS:
        click.echo(
            f"report: and {len(unshown) - MAX_WARNINGS} more figures not drawn (their run pages say why)", err=True
        )
    click.echo(f"report: {index}")
    if open_browser:
        import webbrowser

        webbrowser.open(index.resolve().as_uri())


COMMANDS = (report_cmd,)
