"""Celery tasks: thin shells that claim a run row and hand it to the run's pipeline.

Messages are sent by `investigations.runs.queue` (by name); every ending of a run, and the
release of its AWS account slot, is `investigations.runs.lifecycle`'s.
"""

from __future__ import annotations

import logging
from functools import partial

from celery import Task, shared_task
from django.conf import settings
from django.utils import timezone

from investigations.choices import RunStatus
from investigations.models import QueryRun
from investigations.runs import pipeline, queue
from investigations.runs.lifecycle import concurrency_scope, slot_holder
from investigations.runs.reaper import prune_old_data as prune
from investigations.runs.reaper import reap_stale_runs as reap
from portal import concurrency

logger = logging.getLogger(__name__)


# max_retries=None: a run waiting for its account's slot retries until it gets one.
@shared_task(
    bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True, max_retries=None
)
def execute_run(self: Task, run_id: int) -> None:
    queued = QueryRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).first()
    if queued is None:
        logger.info("Run %s is not queued (already taken, cancelled or gone); skipping.", run_id)
        return
    scope = concurrency_scope(queued)
    holder = slot_holder(run_id)
    slot = concurrency.Acquired.NEW
    if scope is not None:
        slot = concurrency.acquire(
            scope,
            limit=settings.RUN_MAX_PER_ACCOUNT,
            holder=holder,
            lease_seconds=settings.RUN_STALE_SECONDS,
        )
        if not slot:
            # Every slot of the account is taken (on any worker): wait without holding a worker.
            # updated_at too: the reaper re-sends only queued runs nobody is looking after.
            QueryRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
                stage=f"Waiting: {settings.RUN_MAX_PER_ACCOUNT} runs over this AWS account are "
                "already running",
                updated_at=timezone.now(),
            )
            raise self.retry(countdown=settings.RUN_CAP_RETRY_SECONDS)
    run = QueryRun.claim(run_id, worker=self.request.hostname or "")
    if run is None:
        # A redelivered copy finds the run taken; only the copy that took the slot frees it.
        if scope is not None and slot is concurrency.Acquired.NEW:
            concurrency.release(scope, holder=holder)
        logger.info("Run %s is not queued (already taken, cancelled or gone); skipping.", run_id)
        return
    # The run's ending frees the slot; a run handed to parts keeps it until its analysis ends.
    pipeline.execute(run, on_heartbeat=_slot_renewal(run))


def _running(run_id: int, attempt: int) -> QueryRun | None:
    """The run if it is still running the given attempt (a requeue starts a new one)."""
    return QueryRun.objects.filter(pk=run_id, status=RunStatus.RUNNING, attempts=attempt).first()


def _slot_renewal(run: QueryRun) -> partial[bool] | None:
    scope = concurrency_scope(run)
    if scope is None:
        return None
    return partial(
        concurrency.renew,
        scope,
        holder=slot_holder(run.pk),
        lease_seconds=settings.RUN_STALE_SECONDS,
    )


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def fetch_part(self: Task, run_id: int, attempt: int, index: int, count: int) -> None:
    """Fetch one part of a large AWS window (queue "download"); the last part done queues the
    analysis of all of them (queue "analyse")."""
    run = _running(run_id, attempt)
    if run is None:
        logger.info(
            "Run %s attempt %s is no longer running; part %s dropped.", run_id, attempt, index
        )
        return
    if pipeline.fetch_part(run, index, count, on_heartbeat=_slot_renewal(run)):
        queue.analyse(run_id, attempt, count)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def analyse_run(self: Task, run_id: int, attempt: int, count: int) -> None:
    """Analyse a run whose parts are all fetched (queue "analyse")."""
    run = _running(run_id, attempt)
    if run is None:
        logger.info("Run %s attempt %s is no longer running; analysis dropped.", run_id, attempt)
        return
    pipeline.analyse_parts(run, count, on_heartbeat=_slot_renewal(run))


@shared_task(ignore_result=True)
def reap_stale_runs() -> dict[str, list[int]]:
    """Periodic (Celery beat): requeue or fail runs whose worker died."""
    report = reap()
    return {
        "requeued": report.requeued,
        "failed": report.failed,
        "cancelled": report.cancelled,
        "resent": report.resent,
    }


@shared_task(ignore_result=True)
def prune_old_data() -> dict[str, int]:
    """Periodic (Celery beat): apply the data retention policy."""
    report = prune()
    return {
        "uploads_purged": report.uploads_purged,
        "bytes_freed": report.bytes_freed,
        "scratch_removed": report.scratch_removed,
    }
