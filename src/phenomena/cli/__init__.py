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
    from phenomena.catalog import listing  # read from listing.json: no entry (and no torch) is imported

    catalog = listing()
    if as_json:
        click.echo(json.dumps(catalog, indent=2))
        return
    for entry in catalog:
        click.secho(entry["name"], bold=True, nl=False)
        click.echo(f" — {entry['summary']}")
        for paper in entry["papers"]:
            click.echo(f"    · {paper}")
        presets = ", ".join(
            f"{name} ({cost}{'; the published setting' if name in entry['published'] else ''})"
            for name, cost in entry["presets"].items()
        )
        click.echo(f"    presets: {presets}\n")


@main.command("config")
@click.argument("name")
@click.option("--preset", "-p", default=None, help="Show this preset's values (default: every preset).")
@click.option("--json", "as_json", is_flag=True, help="Print the keys as JSON.")
def config_cmd(name: str, preset: str | None, as_json: bool) -> None:
    """Every config key of NAME: type, default, constraint and help, then the presets side by side (the keys
    where they differ). Set any key with `phenomena run NAME -s KEY=VALUE`."""
    from phenomena.catalog import get_entry
    from phenomena.config import describe_fields, to_dict

    entry = get_entry(name)
    base = entry.resolve(preset or "quick")
    fields = describe_fields(base)
    by_preset = {p: {f.key: f.default for f in describe_fields(cfg)} for p, cfg in entry.presets.items()}
    differ = [f.key for f in fields if len({json.dumps(v[f.key]) for v in by_preset.values()}) > 1]
    if as_json:
        click.echo(
            json.dumps(
                {
                    "experiment": name,
                    "preset": preset or "quick",
                    "keys": [
                        {
                            "key": f.key,
                            "type": f.type,
                            "default": f.default,
                            "constraints": list(f.constraints),
                            "help": f.help,
                        }
                        for f in fields
                    ],
                    "presets": {p: to_dict(cfg) for p, cfg in entry.presets.items()},
                    "differ": differ,
                }
            )
        )
        return
    rows = [("key", "type", f"{preset or 'quick'}", "constraint", "help")]
    rows += [(f.key, f.type, _value(f.default), "; ".join(f.constraints), f.help) for f in fields]
    click.secho(f"{name} — config keys (phenomena run {name} -s KEY=VALUE)", bold=True)
    click.echo(_columns(rows))
    if not preset:
        click.secho("\npresets (keys where they differ)", bold=True)
        table = [("key", *entry.presets)] + [(k, *(_value(by_preset[p][k]) for p in entry.presets)) for k in differ]
        click.echo(_columns(table))


def _value(value) -> str:
    if isinstance(value, tuple):
        return ",".join(map(_value, value))
    return "none" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))


def _columns(rows) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


@main.command("run")
@click.argument("name")
@click.option("--preset", "-p", default="quick", show_default=True, help="smoke | quick | paper.")
@click.option(
    "--set",
    "-s",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config value, e.g. -s train.weight_decay=0 (repeatable).",
)
@click.option("--seed", type=int, default=None, help="The run's seed (same as -s seed=N).")
@click.option("--force", is_flag=True, help="Recompute even if this exact run has finished before.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (run_id, config, summary, ...).")
@click.option(
    "--workers",
    "-w",
    type=int,
    default=1,
    show_default=True,
    help="Processes for a run's independent pieces (double-descent's widths); results are the same.",
)
@click.pass_context
def run_cmd(ctx, name, preset, overrides, seed, force, quiet, as_json, workers) -> None:
    """Reproduce phenomenon NAME: train, print the verdict table, save the figure and the record.

    Exit code 0 when the run finished, whether or not its verdict passed (the verdict is data).
    """
    from phenomena.api import run
    from phenomena.errors import DivergedError

    start = time.perf_counter()
    try:
        result = run(
            name,
            preset,
            overrides,
            seed=seed,
            force=force,
            store=ctx.obj["home"],
            progress=not (quiet or as_json),
            workers=workers,
        )
    except DivergedError as e:
        raise click.ClickException(f"{e}; recorded as a diverged run (try {e.hint})") from None
    if as_json:
        click.echo(json.dumps(result.to_dict()))
        return
    reused = result.meta.get("reused")
    took = (
        "reused the finished run (use --force to recompute)"
        if reused
        else (f"finished in {time.perf_counter() - start:.1f} s")
    )
    click.secho(f"{name} [{preset}] run {result.run_id}: {took}", bold=True)
    click.echo(result.verdict.table())
    if preset == "smoke" and not result.entry.smoke_holds:
        click.echo(
            f"note: {name}'s smoke preset only proves the pipeline; its verdict is not expected to hold "
            f"(the phenomenon needs --preset quick)"
        )
    _echo_artifacts(result, ctx.obj["home"])


def _many_runs_options(command):
    """The options of commands that run many runs (sweep, verify): where they compute, whether to recompute,
    and the progress bar."""
    options = [
        click.option(
            "--executor",
            "-x",
            type=click.Choice(["serial", "process", "ray"]),
            default="process",
            show_default=True,
            help="serial: this process; process: a local pool; ray: Ray (local or cluster).",
        ),
        click.option(
            "--workers",
            "-j",
            type=click.IntRange(min=1),
            default=None,
            help="Runs at a time (default: one per core); torch threads per run = cores // workers.",
        ),
        click.option(
            "--ray-address",
            default=None,
            metavar="ADDR",
            help="Join a running Ray cluster ('auto', 'ray://host:10001'); default: a local Ray.",
        ),
        click.option("--force", is_flag=True, help="Recompute runs that have finished before."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@main.command("sweep")
@click.argument("name")
@click.option("--preset", "-p", default="quick", show_default=True, help="smoke | quick | paper.")
@click.option(
    "--grid",
    "-g",
    "grid",
    multiple=True,
    required=True,
    metavar="KEY=V1,V2,...",
    help="Sweep a config key over values (repeatable: the cartesian product is run). Tuple values in "
    "brackets: train.betas=(0.9,0.98),(0.8,0.9).",
)
@click.option(
    "--set",
    "-s",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Fix a config value for every point (repeatable).",
)
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Seeds per point: 0..N-1 (the config's seed key).",
)
@_many_runs_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (sweep_id, grid, rows, ...).")
@click.pass_context
def sweep_cmd(ctx, name, preset, grid, overrides, seeds, executor, workers, ray_address, force, quiet, as_json) -> None:
    """Run phenomenon NAME at every point of a grid, with several seeds; print one row per point.

    Every point is checked before anything runs. Finished runs are reused (also from other sweeps); a run that
    diverges or fails is recorded so and the sweep goes on. Rerun the same command to resume an interrupted
    sweep. Exit code 0 when every run finished or diverged, 1 when a run failed with an error.
    """
    from phenomena.api import sweep
    from phenomena.runner.grid import parse_grid
    from phenomena.store import Store

    start = time.perf_counter()

    def announce(plan, to_run, pool):
        if as_json:
            return
        total = len(plan.unique_jobs())
        how = (
            f"{total - to_run} reused, {to_run} to compute on {pool.describe()}"
            if to_run
            else ("all finished before, nothing to compute (--force recomputes)")
        )
        click.secho(
            f"{name} [{preset}] sweep {plan.id}: {len(plan.points)} point{'s' * (len(plan.points) > 1)} "
            f"x {len(plan.seeds)} seed{'s' * (len(plan.seeds) > 1)} = {total} run{'s' * (total > 1)}: "
            f"{how}",
            bold=True,
        )

    result = sweep(
        name,
        parse_grid(grid),
        seeds=seeds,
        executor=executor,
        workers=workers,
        preset=preset,
        overrides=overrides,
        force=force,
        store=Store(ctx.obj["home"]),
        progress=not (quiet or as_json),
        ray_address=ray_address,
        on_start=announce,
    )
    failed = any(r.status == "failed" for p in result.points for r in p.runs)
    if as_json:
        click.echo(json.dumps(result.to_dict()))
    else:
        click.echo(f"done in {time.perf_counter() - start:.1f} s\n")
        _echo_sweep(result, ctx.obj["home"])
    if failed:
        sys.exit(1)


@main.command("verify")
@click.argument("names", nargs=-1)
@click.option("--preset", "-p", default="quick", show_default=True, help="smoke | quick | paper (or full).")
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Held-out seeds 0..N-1 (never an entry's calibration seeds).",
)
@_many_runs_options
@click.option("--json", "as_json", is_flag=True, help="Print the verification as one JSON object.")
@click.pass_context
def verify_cmd(ctx, names, preset, seeds, executor, workers, ray_address, force, quiet, as_json) -> None:
    """Verify NAMES (default: the whole catalog): each preset on held-out seeds, each declared control on the
    same seeds, one table of pass rates, spreads and control fail rates.

    Exit code 0 only when every entry's verdict passes on >= 80% of the seeds and every control fails its
    checks on >= 80%; 1 otherwise. Finished runs are reused; rerun the same command to resume.
    """
    from phenomena.api import verify

    def announce(plan, to_run, pool):
        if not as_json:
            click.secho(
                f"verify [{preset}]: {len(names) or 'all'} entries x {seeds} seeds with their controls: "
                f"{to_run} runs to compute on {pool.describe()}",
                bold=True,
            )

    result = verify(
        list(names) or None,
        preset,
        seeds,
        executor=executor,
        workers=workers,
        force=force,
        store=ctx.obj["home"],
        progress=not (quiet or as_json),
        ray_address=ray_address,
        on_start=announce,
    )
    if as_json:
        click.echo(json.dumps(result.to_dict()))
    else:
        click.echo(result.table())
    if not result.passed:
        sys.exit(1)


@main.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def show_cmd(ctx, run_id: str, as_json: bool) -> None:
    """Summary, verdict, config and artifacts of a stored run, or the table and figure of a sweep (an id
    prefix is enough)."""
    from phenomena.api import load, load_sweep
    from phenomena.config import canonical_json
    from phenomena.errors import UserError
    from phenomena.store import Store

    store = Store(ctx.obj["home"])
    run, sweep = store.get(run_id), store.get_sweep(run_id)
    if run is not None and sweep is not None:
        raise UserError(f"{run_id!r} is the start of both run {run.id} and sweep {sweep.id}; give more characters")
    if sweep is not None:
        result = load_sweep(sweep.id, store)
        result.write_figure(store)
        if as_json:
            click.echo(json.dumps(result.to_dict()))
        else:
            _echo_sweep(result, ctx.obj["home"])
        return
    result = load(run_id, store)
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
@click.option("--sweep", "sweep_id", default=None, metavar="ID", help="Only the runs of this sweep (id or prefix).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def runs_cmd(ctx, experiment: str | None, sweep_id: str | None, as_json: bool) -> None:
    """The stored runs, newest first."""
    from phenomena.errors import UserError
    from phenomena.store import Store

    store = Store(ctx.obj["home"])
    if sweep_id is not None:
        found = store.get_sweep(sweep_id)
        if found is None:
            raise UserError(f"no stored sweep {sweep_id!r} in {ctx.obj['home']} (see `phenomena sweeps`)")
        sweep_id = found.id
    records = store.runs(experiment, sweep=sweep_id)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "run_id": r.id,
                        "experiment": r.experiment,
                        "preset": r.preset,
                        "status": r.status,
                        "passed": (r.verdict or {}).get("passed"),
                        "created": r.created,
                        "sweep": r.sweep,
                    }
                    for r in records
                ]
            )
        )
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


@main.command("sweeps")
@click.option("--experiment", "-e", default=None, help="Only sweeps of this experiment.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def sweeps_cmd(ctx, experiment: str | None, as_json: bool) -> None:
    """The stored sweeps, newest first (`phenomena show ID` for one)."""
    from phenomena.store import Store

    records = Store(ctx.obj["home"]).sweeps(experiment)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "sweep_id": r.id,
                        "experiment": r.experiment,
                        "preset": r.preset,
                        "grid": r.grid,
                        "seeds": r.seeds,
                        "overrides": r.overrides,
                        "status": r.status,
                        "created": r.created,
                    }
                    for r in records
                ]
            )
        )
        return
    if not records:
        click.echo(
            f"no sweeps stored in {ctx.obj['home']} yet; try `phenomena sweep grokking -p smoke "
            "--grid train.weight_decay=0,1,2 --seeds 2`"
        )
        return
    click.echo(f"{'sweep id':<13} {'experiment':<20} {'preset':<7} {'status':<11} {'seeds':<5} grid")
    for r in records:
        grid = " ".join(f"{k}={','.join(map(str, v))}" for k, v in r.grid.items())
        click.echo(f"{r.id:<13} {r.experiment:<20} {r.preset or '-':<7} {r.status:<11} {len(r.seeds):<5} {grid}")


def _echo_sweep(result, home: str) -> None:
    click.echo(result.table())
    figure = result.artifacts.get("figure")
    if figure:
        click.echo(f"figure: {figure}")
    click.echo(
        f"record: {home}/phenomena.db  (phenomena show {result.sweep_id}; phenomena runs --sweep {result.sweep_id})"
    )


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
