"""Background jobs: the queue is the store's ``job`` table (:mod:`sabio.store.jobs`, where
what a job is and how it is claimed, retried and forgotten is told); this is its public
name for the worker, the service and the interfaces.
"""

from sabio.store.jobs import (
    HEARTBEAT_S,
    KEEP_FINISHED_S,
    RETRY_DELAYS_S,
    STALE_AFTER_S,
    Job,
    JobQueue,
    this_process,
)

__all__ = [
    "HEARTBEAT_S",
    "KEEP_FINISHED_S",
    "RETRY_DELAYS_S",
    "STALE_AFTER_S",
    "Job",
    "JobQueue",
    "this_process",
]
