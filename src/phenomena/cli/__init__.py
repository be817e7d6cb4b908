"""The ``phenomena`` command line.

torch and the catalog are imported inside the commands, so ``phenomena --help`` is instant. Every error a user
can cause ends in one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import sys
import time

import click

from phenomena.cli.output import columns, echo_artifacts, echo_sweep, value_text

EXIT_USER_ERROR = 2


class _Group(click.Group):
    """Turns user errors (ours and click's usage errors) into one line and exit code 2, without a traceback."""

    def main(self, *args, **kwargs):
        from phenomena.errors import UserError

        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.exceptions.Abort as e:
            # click turns Ctrl-C into Abort; a "no" to a confirmation is an Abort too
            click.echo("interrupted" if isinstance(e.__cause__, KeyboardInterrupt) else "aborted", err=True)
            sys.exit(130)
        except click.UsageError as e:
            hint = f" (see `{e.ctx.command_path} --help`)" if e.ctx else ""
            click.echo(f"error: {_one_line(e.format_message())}{hint}", err=True)
            sys.exit(EXIT_USER_ERROR)
        except click.ClickException as e:
            click.echo(f"error: {_one_line(e.format_message())}", err=True)
            sys.exit(EXIT_USER_ERROR)
        except UserError as e:
            click.echo(f"error: {_one_line(str(e))}", err=True)
            sys.exit(EXIT_USER_ERROR)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


def _one_line(message: str) -> str:
    """An error message on one line, whatever the user typed into it (a value may hold line breaks)."""
    return " ".join(message.splitlines())


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
    from phenomena.memory import retain_freed_memory

    retain_freed_memory()  # the command's process is phenomena's (see phenomena.memory)
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
    rows += [(f.key, f.type, value_text(f.default), "; ".join(f.constraints), f.help) for f in fields]
    click.secho(f"{name} — config keys (phenomena run {name} -s KEY=VALUE)", bold=True)
    click.echo(columns(rows))
    if not preset:
        click.secho("\npresets (keys where they differ)", bold=True)
        table = [("key", *entry.presets)] + [(k, *(value_text(by_preset[p][k]) for p in entry.presets)) for k in differ]
        click.echo(columns(table))


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
    "-j",
    "-w",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes for a run's independent pieces (double-descent's widths; at most one per core); results are "
    "the same. (-w is the old spelling.)",
)
@click.pass_context
def run_cmd(ctx, name, preset, overrides, seed, force, quiet, as_json, workers) -> None:
    """Reproduce phenomenon NAME: train, print the verdict table, save the figure and the record.

    Exit code 0 when the run finished, whether or not its verdict passed (the verdict is data); 2 on bad input
    or when training diverged (recorded as a diverged run; with --json, its JSON object says so).
    """
    from phenomena.api import run
    from phenomena.catalog import get_entry
    from phenomena.errors import DivergedError
    from phenomena.parallel import available_cores

    if workers > 1:
        from phenomena.runner.execute import resolve

        entry, cores = get_entry(name), available_cores()
        resolve(entry, preset, overrides, seed)  # bad input ends in its one line before any note is printed
        if not entry.pieces:
            click.echo(f"note: {name} has no independent pieces to spread; --workers {workers} has no effect", err=True)
            workers = 1
        elif workers > cores:
            click.echo(f"note: --workers {workers} is more than the {cores} cores here; using {cores}", err=True)
            workers = cores
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
        if as_json:
            click.echo(json.dumps({"run_id": e.run_id, "experiment": name, "status": "diverged", "error": str(e)}))
        raise click.ClickException(f"{e}; recorded as a diverged run (try {e.hint})") from None
    if as_json:
        reused = bool(result.meta.get("reused"))
        env = result.meta.get("environment")
        click.echo(json.dumps({**result.to_dict(), "preset": preset, "reused": reused, "environment": env}))
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
    echo_artifacts(result, ctx.obj["home"])


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
        echo_sweep(result, ctx.obj["home"])
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
@click.option(
    "--calibration",
    is_flag=True,
    help="Maintainers: run each entry on its own calibration seeds instead (--seeds is not read) and compare the "
    "values its Calibration recorded; not a verification, and not stored as one.",
)
@click.pass_context
def verify_cmd(ctx, names, preset, seeds, executor, workers, ray_address, force, quiet, as_json, calibration) -> None:
    """Verify NAMES (default: the whole catalog): each preset on held-out seeds, each declared control on the
    same seeds, one table of pass rates, spreads and control fail rates.

    Exit code 0 only when every entry's verdict passes on >= 80% of the seeds and every control fails its
    checks on >= 80%; 1 otherwise. Finished runs are reused; rerun the same command to resume.

    With --calibration (after a change that re-draws an entry's runs), the same judgement on the seeds the
    thresholds were chosen on, and per entry its recorded Calibration.observed values against today's.
    """
    from phenomena.api import recheck_calibration, verify

    if calibration:
        if as_json:
            raise click.UsageError("--calibration prints tables only; leave out --json")
        rechecks = recheck_calibration(
            list(names) or None,
            preset,
            executor=executor,
            workers=workers,
            force=force,
            store=ctx.obj["home"],
            progress=not quiet,
            ray_address=ray_address,
        )
        click.echo("\n\n".join(r.table() for r in rechecks))
        if not all(r.passed for r in rechecks):
            sys.exit(1)
        return

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


from phenomena.cli import export, inspect, maintenance, report  # noqa: E402  (their commands join the group above)

for command in (*inspect.COMMANDS, *maintenance.COMMANDS, *report.COMMANDS, *export.COMMANDS):
    main.add_command(command)

if __name__ == "__main__":  # pragma: no cover
    main()
