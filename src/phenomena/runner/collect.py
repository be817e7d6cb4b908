"""Keep Python's cyclic garbage collector off the objects that existed before a run started.

A worker of a sweep or a verify imports torch, the catalog's entries and their dependencies: a few hundred
thousand objects that live as long as the process. CPython's collector still walks all of them in every full
(oldest-generation) collection, and a run that builds histories, graphs and results triggers such collections
now and then. :func:`collect_only_new` moves the objects alive when a run starts into the permanent generation
(``gc.freeze``) for the run's duration, so its collections walk only what the run itself created; afterwards
they return to the oldest generation (``gc.unfreeze``), where a later collection frees whichever of them became
garbage meanwhile.

Nothing numerical changes: the collector decides when unreachable cycles are freed, not what a run computes.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collect_only_new() -> Iterator[None]:
    """Within the block, cyclic garbage collection skips every object that existed when it was entered.

    Leaves the heap alone if something else (the caller, an enclosing block) has already frozen objects: their
    owner decides when to unfreeze them.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
