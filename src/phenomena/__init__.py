"""phenomena: a laboratory for the science of deep learning.

>>> import phenomena as ph
>>> res = ph.run("grokking", preset="smoke")          # trains, stores, returns a Result
>>> res.verdict.passed, res.summary["t_gen"]
>>> ph.probes.hessian_eigenvalues(model, loss_fn, batches, k=5)
>>> ph.kernels.fc(x1, x2, depth=3, activation="relu")

Attributes are imported lazily (PEP 562) so that ``phenomena --help`` does not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "run": "phenomena.api",
    "sweep": "phenomena.api",
    "load_sweep": "phenomena.api",
    "SweepResult": "phenomena.api",
    "load": "phenomena.api",
    "figure": "phenomena.api",
    "runs": "phenomena.api",
    "list_experiments": "phenomena.api",
    "config": "phenomena.api",
    "Entry": "phenomena.experiment",
    "Control": "phenomena.experiment",
    "Reference": "phenomena.experiment",
    "RunContext": "phenomena.experiment",
    "Result": "phenomena.result",
    "Verdict": "phenomena.result",
    "Check": "phenomena.result",
    "UserError": "phenomena.errors",
    "Monitor": "phenomena.monitor",
}
_SUBMODULES = {"analysis", "probes", "kernels", "data", "models", "training", "catalog", "store", "report"}

__all__ = sorted([*_LAZY, *_SUBMODULES, "__version__"])

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from phenomena import analysis, catalog, data, kernels, models, probes, report, store, training  # noqa: F401
    from phenomena.api import (  # noqa: F401
        SweepResult,
        config,
        figure,
        list_experiments,
        load,
        load_sweep,
        run,
        runs,
        sweep,
    )
    from phenomena.errors import UserError  # noqa: F401
    from phenomena.experiment import Control, Entry, Reference, RunContext  # noqa: F401
    from phenomena.monitor import Monitor  # noqa: F401
    from phenomena.result import Check, Result, Verdict  # noqa: F401


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"phenomena.{name}")
    raise AttributeError(f"module 'phenomena' has no attribute {name!r}")


def __dir__():
    return __all__
