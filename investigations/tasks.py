"""Celery tasks: thin shells that claim a run row and hand it to `execution.execute`."""

from __future__ import annotations

import logging

from celery import Task, shared_task

from investigations.execution import execute
from investigations.models import QueryRun
from investigations.services import reap_stale_runs as reap

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def execute_run(self: Task, run_id: int) -> None:
    run = QueryRun.claim(run_id, worker=self.request.hostname or "")
    if run is None:
        logger.info("Run %s is not queued (already taken, cancelled or gone); skipping.", run_id)
        return
    execute(run)


@shared_task(ignore_result=True)
def reap_stale_runs() -> dict[str, list[int]]:
    """Periodic (Celery beat): requeue or fail runs whose worker died."""
    report = reap()
    return {"requeued": report.requeued, "failed": report.failed,
            "cancelled": report.cancelled, "resent": report.resent}


@shared_task(ignore_result=True)
def prune_old_data() -> dict[str, int]:
    """Periodic (Celery beat): apply the data retention policy."""
    from investigations.services import prune_old_data as prune

    report = prune()
    return {"uploads_purged": report.uploads_purged, "bytes_freed": report.bytes_freed,
            "scratch_removed": report.scratch_removed}
