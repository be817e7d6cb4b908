"""The commands that tidy and repair the store: ``rm``, ``gc`` and ``doctor``. Each asks before it deletes
(``--yes`` skips the question) and never deletes a damaged database: ``doctor --rebuild`` moves it aside."""

from __future__ import annotations

import sys

import click


def _store(ctx):
    from phenomena.store import Store

    return Store(ctx.obj["home"])


@click.command("rm")
@click.argument("ids", nargs=-1, required=True)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def rm_cmd(ctx, ids: tuple[str, ...], yes: bool) -> None:
    """Remove stored runs or sweeps by id (or unique prefix): a run's record, metrics and folder; a sweep's
    record and figure (its runs stay, as other sweeps may share them)."""
    from phenomena.errors import UserError

    store = _store(ctx)
    targets = []
    for prefix in ids:
        runs, sweeps = store.find(prefix), store.find_sweeps(prefix)
        found = [("run", r.id, r.experiment, r.shown_status) for r in runs]
        found += [("sweep", s.id, s.experiment, s.status) for s in sweeps]
        if not found:
            raise UserError(f"no stored run or sweep {prefix!r} in {store.root} (see `phenomena runs`)")
        if len(found) > 1:
            listed = ", ".join(f"{kind} {i}" for kind, i, *_ in found[:8])
            raise UserError(f"ambiguous prefix {prefix!r}: it starts {listed}; give more characters")
        targets.append(found[0])
    for kind, target, experiment, status in targets:
        click.echo(f"{kind} {target} ({experiment}, {status})")
    if not yes:
        click.confirm(f"remove {'these' if len(targets) > 1 else 'this'}?", abort=True)
    for kind, target, *_ in targets:
        store.delete(target) if kind == "run" else store.delete_sweep(target)
    click.echo(f"removed {len(targets)}")


@click.command("gc")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def gc_cmd(ctx, yes: bool) -> None:
    """Remove failed, interrupted and stale runs, run folders that have no record at all, and the shared folders
    left by sweeps that were killed."""
    import shutil

    from phenomena.store.doctor import garbage, remove_folder

    store = _store(ctx)
    runs, orphans, shared = garbage(store)
    if not runs and not orphans and not shared:
        click.echo(f"nothing to collect in {store.root}")
        return
    for r in runs:
        click.echo(f"run {r.id} ({r.experiment}, {r.shown_status})")
    for folder in orphans:
        click.echo(f"folder {store.run_dir(folder)} (no record)")
    for folder in shared:
        click.echo(f"folder {folder} (left by a killed sweep)")
    if not yes:
        click.confirm(f"remove these {len(runs) + len(orphans) + len(shared)}?", abort=True)
    for r in runs:
        store.delete(r.id)
    for folder in orphans:
        remove_folder(store, folder)
    for folder in shared:
        shutil.rmtree(folder, ignore_errors=True)
    click.echo(f"removed {len(runs)} runs and {len(orphans) + len(shared)} folders")


@click.command("doctor")
@click.option(
    "--rebuild",
    is_flag=True,
    help="Restore the index from the run folders' record.json (a damaged database is moved aside, not deleted).",
)
@click.pass_context
def doctor_cmd(ctx, rebuild: bool) -> None:
    """Check the store: SQLite's integrity check, run folders the index does not know, indexed runs whose
    folder is gone, stale runs. Exit code 0 when there is nothing to repair, 1 otherwise."""
    from phenomena.store.doctor import check
    from phenomena.store.doctor import rebuild as rebuild_index

    store = _store(ctx)
    found = check(store)
    for line in found.lines():
        click.echo(line)
    if rebuild:
        restored = rebuild_index(store)
        click.echo(f"restored {restored} runs into {store.path}")
        found = check(store)
    elif not found.healthy:
        click.echo("repair: phenomena doctor --rebuild")
    if not found.healthy:
        sys.exit(1)


COMMANDS = (rm_cmd, gc_cmd, doctor_cmd)
