"""The store: the source of truth for runs (SQLite, WAL) and their artifacts."""

from phenomena.store.sqlite import STATUSES as STATUSES
from phenomena.store.sqlite import RunRecord as RunRecord
from phenomena.store.sqlite import Store as Store
from phenomena.store.sqlite import VerificationRecord as VerificationRecord
from phenomena.store.sqlite import default_root as default_root
