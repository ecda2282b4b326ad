"""SQLite candidate store: runs, evaluated candidates and the cache that keeps a genome from being retrained.

See docs/store.md for the schema, the cache key, the concurrency model and the migration policy.
"""

from harx.store.records import (
    CACHED_STATUSES,
    RUN_STATUSES,
    STAGES,
    STATUSES,
    CandidateRecord,
    RunRecord,
    RunStats,
    config_hash,
    genome_hash,
)
from harx.store.schema import SCHEMA_VERSION
from harx.store.store import Store

__all__ = [
    "CACHED_STATUSES",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "STAGES",
    "STATUSES",
    "CandidateRecord",
    "RunRecord",
    "RunStats",
    "Store",
    "config_hash",
    "genome_hash",
]
