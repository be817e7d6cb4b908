"""The ``phenomena`` command line.

torch and the catalog are imported inside the commands, so ``phenomena --help`` is instant. Every error a user
can cause ends in one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import math
import sys
import time

import click

EXIT_USER_ERROR = 2


class _Group(click.Group):
    """Turns user errors (ours and click's usage errors) into one line and exit code 2, without a traceback."""

    def main(self, *args, **kwargs):
        from phenomena.errors import UserError

        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(130)
        except click.UsageError as e:
            hint = f" (see `{e.ctx.command_path} --help`)" if e.ctx else ""
            click.echo(f"error: {e.format_message()}{hint}", err=True)
            sys.exit(EXIT_USER_ERROR)
        except click.ClickException as e:
            click.echo(f"error: {e.format_message()}", err=True)
            sys.exit(EXIT_USER_ERROR)
        except UserError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(EXIT_USER_ERROR)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="phenomena")
@click.option(
    "--home",
    envvar="PHENOMENA_HOME",
    default="phenomena-runs",
    show_default=True,
    help="Store root: SQLite record and run folders (env PHENOMENA_HOME).",
)
@click.pass_context
def main(ctx: click.Context, home: str) -> None:
    """phenomena: reproduce deep-learning phenomena in one command, then probe your own models."""
    ctx.obj = {"home": home}


@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the catalog as JSON.")
def list_cmd(as_json: bool) -> None:
    """The catalog: each phenomenon, its key papers and its presets with their cost."""
    from phenomena.api import list_experiments

    catalog = list_experiments()
    if as_json:
        click.echo(json.dumps(catalog, indent=2))
        return
    for entry in catalog:
        click.secho(entry["name"], bold=True, nl=False)
        click.echo(f" — {entry['summary']}")
        for paper in entry["papers"]:
            click.echo(f"    · {paper}")
        presets = ", ".join(f"{name} ({cost})" for name, cost in entry["presets"].items())
        click.echo(f"    presets: {presets}\n")


@main.command("run")
@click.argument("name")
@click.option("--preset", "-p", default="quick", show_default=True, help="smoke | quick | paper.")
@click.option("--set", "-s", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value, e.g. -s train.weight_decay=0 (repeatable).")  # fmt: skip
@click.option("--seed", type=int, default=None, help="The run's seed (same as -s seed=N).")
@click.option("--force", is_flag=True, help="Recompute even if this exact run has finished before.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (run_id, config, summary, ...).")
@click.pass_context
def run_cmd(ctx, name, preset, overrides, seed, force, quiet, as_json) -> None:
    """Reproduce phenomenon NAME: train, print the verdict table, save the figure and the record.

    Exit code 0 when the run finished, whether or not its verdict passed (the verdict is data).
    """
    from phenomena.errors import DivergedError
    from phenomena.runner.execute import execute
    from phenomena.store import Store

    store = Store(ctx.obj["home"])
    start = time.perf_counter()
    try:
        result = execute(name, preset, overrides, seed=seed, force=force, store=store,
                         progress=not (quiet or as_json))  # fmt: skip
    except DivergedError as e:
        raise click.ClickException(f"{e}; recorded as a diverged run (try a smaller train.lr)") from None
    if as_json:
        click.echo(json.dumps(result.to_dict()))
        return
    reused = result.meta.get("reused")
    took = "reused the finished run (use --force to recompute)" if reused else (
        f"finished in {time.perf_counter() - start:.1f} s")  # fmt: skip
    click.secho(f"{name} [{preset}] run {result.run_id}: {took}", bold=True)
    click.echo(result.verdict.table())
    _echo_artifacts(result, ctx.obj["home"])


@main.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def show_cmd(ctx, run_id: str, as_json: bool) -> None:
    """Summary, verdict, config and artifacts of a stored run (an id prefix is enough)."""
    from phenomena.config import canonical_json
    from phenomena.runner.execute import load
    from phenomena.store import Store

    result = load(run_id, Store(ctx.obj["home"]))
    if as_json:
        click.echo(json.dumps({**result.to_dict(), "error": result.meta.get("error")}))
        return
    click.secho(f"{result.experiment} [{result.meta.get('preset')}] run {result.run_id}: {result.status}", bold=True)
    if result.meta.get("error"):
        click.echo(f"error: {result.meta['error'].strip().splitlines()[-1]}")
    if result.verdict:
        click.echo(result.verdict.table())
    if result.summary:
        click.echo("\nsummary:")
        for key, value in result.summary.items():
            click.echo(f"  {key:<24} {_fmt(value)}")
    click.echo("\nconfig: " + canonical_json(result.config))
    _echo_artifacts(result, ctx.obj["home"])


@main.command("runs")
@click.option("--experiment", "-e", default=None, help="Only runs of this experiment.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def runs_cmd(ctx, experiment: str | None, as_json: bool) -> None:
    """The stored runs, newest first."""
    from phenomena.store import Store

    records = Store(ctx.obj["home"]).runs(experiment)
    if as_json:
        click.echo(json.dumps([
            {"run_id": r.id, "experiment": r.experiment, "preset": r.preset, "status": r.status,
             "passed": (r.verdict or {}).get("passed"), "created": r.created}
            for r in records
        ]))  # fmt: skip
        return
    if not records:
        click.echo(f"no runs stored in {ctx.obj['home']} yet; try `phenomena run grokking`")
        return
    click.echo(f"{'run id':<13} {'experiment':<20} {'preset':<7} {'status':<9} {'verdict':<8} created")
    for r in records:
        passed = (r.verdict or {}).get("passed")
        verdict = "-" if passed is None else ("PASS" if passed else "FAIL")
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created))
        click.echo(f"{r.id:<13} {r.experiment:<20} {r.preset or '-':<7} {r.status:<9} {verdict:<8} {created}")


def _echo_artifacts(result, home: str) -> None:
    figure = result.artifacts.get("figure")
    if figure:
        click.echo(f"figure: {figure}")
    click.echo(f"record: {home}/phenomena.db  (phenomena show {result.run_id})")


def _fmt(value) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.6g}"
    return str(value)


if __name__ == "__main__":  # pragma: no cover
    main()
