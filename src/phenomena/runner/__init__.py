"""The runner: execute an Entry with a config, sweeps, and the executors that spread runs; every run is recorded
in the store. It never imports the catalog: the api resolves a name to its Entry and hands it down."""

from phenomena.runner.execute import execute as execute
from phenomena.runner.execute import load as load
from phenomena.runner.sweep import sweep as sweep
from phenomena.runner.sweep_result import SweepResult as SweepResult
from phenomena.runner.sweep_result import load_sweep as load_sweep
