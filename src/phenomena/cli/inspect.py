"""The commands that read the store: ``show``, ``runs`` and ``sweeps``. None of them creates anything: in a
directory without a store they say so and exit 0."""

from __future__ import annotations

import json

import click

from phenomena.cli.output import echo_artifacts, echo_sweep, number, value_text, when


def _store(ctx):
    from phenomena.store import Store

    return Store(ctx.obj["home"])


def _check_experiment(experiment: str | None) -> None:
    """An unknown experiment name is bad input, not an empty result."""
    if experiment is not None:
        from phenomena.catalog import describe

        describe(experiment)  # raises UserError listing the known names


def nothing_stored(store, what: str) -> str:
    """The message for an empty result: where we looked, and what to do when run folders exist but the index
    does not know them (an empty or lost database)."""
    from phenomena.store.doctor import check

    found = check(store)
    if found.recoverable and found.database != "ok":
        return (
            f"{what}: the index {store.path} is {found.database} but {len(found.recoverable)} run folders exist "
            f"under {store.root / 'runs'}; rebuild the index with `phenomena doctor --rebuild`"
        )
    if found.recoverable:
        return (
            f"{what}, but {len(found.recoverable)} run folders under {store.root / 'runs'} are not in the index; "
            "restore them with `phenomena doctor --rebuild`"
        )
    return f"{what} in {store.root}"


def overrides_text(record) -> str:
    """A run's config as ``key=value`` differences from its preset (the grid point and fixed overrides), seed
    left out (it has its own column)."""
    from phenomena.catalog import preset_difference

    diff = preset_difference(record.experiment, record.preset, record.config) or {}
    return " ".join(f"{k}={value_text(v)}" for k, v in diff.items() if k != "seed") or "-"


@click.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--curves", is_flag=True, help="With --json: include every metric curve (steps and values).")
@click.pass_context
def show_cmd(ctx, run_id: str, as_json: bool, curves: bool) -> None:
    """Verdict, summary, config (as a difference from its preset), environment and artifacts of a stored run,
    or the table and figure of a sweep (an id prefix is enough)."""
    from phenomena.api import figure, load, load_sweep
    from phenomena.errors import UserError

    store = _store(ctx)
    runs, sweeps = store.find(run_id), store.find_sweeps(run_id)
    matches = [f"run {r.id} ({r.experiment})" for r in runs] + [f"sweep {s.id} ({s.experiment})" for s in sweeps]
    if not matches:
        raise UserError(nothing_stored(store, f"no stored run or sweep {run_id!r}") + " (see `phenomena runs`)")
    if len(matches) > 1:
        shown = ", ".join(matches[:8]) + (f" and {len(matches) - 8} more" if len(matches) > 8 else "")
        raise UserError(f"ambiguous prefix {run_id!r}: it starts {shown}; give more characters")
    if sweeps:
        result = load_sweep(sweeps[0].id, store)
        result.write_figure(store)
        if as_json:
            click.echo(json.dumps(result.to_dict()))
        else:
            echo_sweep(result, ctx.obj["home"])
        return
    record = runs[0]
    result = load(record.id, store)
    unshown = None
    try:  # a run recorded without its figure (phenomena verify's) has it drawn now
        path = figure(record.id, store)
        if path is not None:
            result.artifacts = {**result.artifacts, "figure": str(path)}
    except Exception as e:  # the stored result no longer draws (e.g. written by another version): said, not fatal
        unshown = f"{type(e).__name__}: {e}".splitlines()[0]
    diff = overrides_text(record)
    env = record.environment or {}
    if as_json:
        out = {
            **result.to_dict(),
            "status": record.shown_status,
            "preset": record.preset,
            "seed": record.config.get("seed"),
            "overrides": diff,
            "reused": False,
            "error": record.error,
            "environment": env,
        }
        if curves:
            out["curves"] = {
                k: {"steps": s.steps, "values": [_json_float(v) for v in s.values]} for k, s in result.series.items()
            }
        click.echo(json.dumps(out))
        return
    status = record.shown_status
    if status == "stale":
        status = f"stale (marked running, but its process {record.pid} on {record.host} is gone)"
    preset = f" [{record.preset}]" if record.preset else ""
    click.secho(f"{result.experiment}{preset} run {result.run_id}: {status}", bold=True)
    if record.error:
        click.echo(f"error: {record.error.strip().splitlines()[-1]}")
    if result.verdict:
        click.echo(result.verdict.table())
    if result.summary:
        click.echo("\nsummary:")
        for key, value in result.summary.items():
            click.echo(f"  {key:<24} {number(value)}")
    if record.preset:
        click.echo(f"\nconfig: preset {record.preset}, seed {record.config.get('seed')}, overrides: {diff}")
        click.echo(f"  (phenomena config {record.experiment} -p {record.preset} lists every key)")
    else:
        click.echo(f"\nconfig: {json.dumps(record.config)}")
    if env:
        click.echo(
            f"environment: phenomena {env.get('phenomena')}, torch {env.get('torch')}, python {env.get('python')}, "
            f"{env.get('threads')} threads on {env.get('host')} ({env.get('platform')})"
        )
    if unshown:
        click.echo(f"figure: not drawn ({unshown})")
    echo_artifacts(result, ctx.obj["home"])


def _json_float(value: float):
    from phenomena.result import encode_float

    return encode_float(value)


@click.command("runs")
@click.option("--experiment", "-e", default=None, help="Only runs of this experiment.")
@click.option("--sweep", "sweep_id", default=None, metavar="ID", help="Only the runs of this sweep (id or prefix).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def runs_cmd(ctx, experiment: str | None, sweep_id: str | None, as_json: bool) -> None:
    """The stored runs, newest first: status (a `running` run whose process is gone reads `stale`), verdict,
    seed and the overrides that set it apart from its preset."""
    from phenomena.errors import UserError

    _check_experiment(experiment)
    store = _store(ctx)
    if sweep_id is not None:
        found = store.find_sweeps(sweep_id)
        if len(found) != 1:
            what = "no stored sweep" if not found else "ambiguous sweep prefix"
            raise UserError(f"{what} {sweep_id!r} in {ctx.obj['home']} (see `phenomena sweeps`)")
        sweep_id = found[0].id
    records = store.runs(experiment, sweep=sweep_id)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "run_id": r.id,
                        "experiment": r.experiment,
                        "preset": r.preset,
                        "status": r.shown_status,
                        "passed": (r.verdict or {}).get("passed"),
                        "seed": r.config.get("seed"),
                        "overrides": overrides_text(r),
                        "created": r.created,
                        "sweep": r.sweep,
                    }
                    for r in records
                ]
            )
        )
        return
    if not records:
        message = nothing_stored(store, "no runs stored" + (f" of {experiment}" if experiment else ""))
        fresh = message.endswith(str(store.root)) and not (experiment or sweep_id)
        click.echo(message + (" yet; try `phenomena run grokking`" if fresh else ""))
        return
    click.echo(
        f"{'run id':<13} {'experiment':<20} {'preset':<7} {'status':<11} {'verdict':<8} {'seed':<5} "
        f"{'created':<16} overrides"
    )
    for r in records:
        passed = (r.verdict or {}).get("passed")
        verdict = "-" if passed is None else ("PASS" if passed else "FAIL")
        click.echo(
            f"{r.id:<13} {r.experiment:<20} {r.preset or '-':<7} {r.shown_status:<11} {verdict:<8} "
            f"{r.config.get('seed', '-')!s:<5} {when(r.created):<16} {overrides_text(r)}"
        )


@click.command("sweeps")
@click.option("--experiment", "-e", default=None, help="Only sweeps of this experiment.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def sweeps_cmd(ctx, experiment: str | None, as_json: bool) -> None:
    """The stored sweeps, newest first (`phenomena show ID` for one)."""
    _check_experiment(experiment)
    store = _store(ctx)
    records = store.sweeps(experiment)
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


COMMANDS = (show_cmd, runs_cmd, sweeps_cmd)
