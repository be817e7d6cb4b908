"""The runner: resolve configs, execute runs, and record them in the store."""

from phenomena.runner.context import RunContext as RunContext
from phenomena.runner.execute import execute as execute
from phenomena.runner.execute import load as load
