"""The runner: resolve configs, execute runs and sweeps, and record them in the store."""

from phenomena.runner.context import RunContext as RunContext
from phenomena.runner.execute import execute as execute
from phenomena.runner.execute import load as load
from phenomena.runner.sweep import sweep as sweep
from phenomena.runner.sweep_result import SweepResult as SweepResult
from phenomena.runner.sweep_result import load_sweep as load_sweep
