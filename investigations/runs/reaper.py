"""Periodic care of runs: requeue or fail runs whose worker died, re-send queued runs nobody
claimed, and apply the retention policy. Every ending goes through `lifecycle`."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from investigations.choices import RunStatus
from investigations.models import QueryRun, UploadedLog
from investigations.runs import lifecycle, queue
from investigations.runs.context import flow_cache
from portal import audit

logger = logging.getLogger(__name__)


@dataclass
class ReapReport:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    resent: list[int] = field(default_factory=list)


def reap_stale_runs(*, now: datetime | None = None) -> ReapReport:
    """Find runs whose worker died (heartbeat too old) and requeue them, or fail them with the
    reason once they have used up their attempts; re-send queued runs nobody claimed."""
    now = now or timezone.now()
    report = ReapReport()
    cutoff = now - timedelta(seconds=settings.RUN_STALE_SECONDS)
    # A run handed to parts may wait in the download or analyse queue without a beat for longer.
    parts_cutoff = now - timedelta(seconds=settings.RUN_PARTS_STALE_SECONDS)
    stale = (
        QueryRun.objects.filter(status=RunStatus.RUNNING)
        .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff))
        .exclude(parts_total__gt=0, heartbeat_at__gte=parts_cutoff)
    )
    for run in stale:
        last = run.heartbeat_at or run.started_at
        silent = f"its worker stopped responding (last heartbeat {last:%Y-%m-%d %H:%M:%S} UTC)"
        if run.cancel_requested:
            if lifecycle.cancel(run, reason=silent):
                report.cancelled.append(run.pk)
                remove_scratch(run.pk)
        elif run.attempts >= settings.RUN_MAX_ATTEMPTS:
            error = f"The run was stopped: {silent}; gave up after {run.attempts} attempts."
            if lifecycle.fail(run, error=error):
                report.failed.append(run.pk)
                remove_scratch(run.pk)
        elif lifecycle.requeue(run, reason=silent):
            report.requeued.append(run.pk)
    if report.requeued or report.failed or report.cancelled:
        # A dead worker's half-built flow cache entry goes now (its lock died with it).
        _evict_flow_cache()
    resend_before = now - timedelta(seconds=settings.RUN_RESEND_QUEUED_SECONDS)
    # A run whose message could not be sent at all is sent at once, not after the interval.
    for pk in QueryRun.objects.filter(
        Q(updated_at__lt=resend_before) | Q(stage=queue.UNSENT_STAGE), status=RunStatus.QUEUED
    ).values_list("pk", flat=True):
        # Touch it so it is re-sent at most once per interval; the claim makes extras harmless.
        QueryRun.objects.filter(pk=pk, status=RunStatus.QUEUED).update(updated_at=now)
        QueryRun.objects.filter(pk=pk, stage=queue.UNSENT_STAGE).update(stage="Queued")
        if queue.send_or_leave_to_reaper(pk):
            report.resent.append(pk)
    if report.requeued or report.failed or report.cancelled or report.resent:
        logger.warning("Reaper: %s", report)
    return report


def remove_scratch(run_id: int) -> None:
    """The scratch folders (the run's and its parts') of a run that has ended."""
    work = Path(settings.WORK_DIR)
    for folder in [work / f"run-{run_id}", *work.glob(f"run-{run_id}-part-*")]:
        shutil.rmtree(folder, ignore_errors=True)


def _evict_flow_cache() -> None:
    try:
        flow_cache().evict()
    except OSError:
        logger.warning("Could not evict the flow cache", exc_info=True)


@dataclass
class PruneReport:
    uploads_purged: int = 0
    bytes_freed: int = 0
    scratch_removed: int = 0


def prune_old_data(*, now: datetime | None = None) -> PruneReport:
    """Apply the retention policy: uploaded files whose runs all finished long ago, and scratch
    folders no running run owns. Audit events are never pruned."""
    now = now or timezone.now()
    report = PruneReport()
    days = settings.UPLOAD_RETENTION_DAYS
    if days > 0:
        cutoff = now - timedelta(days=days)
        stale = (
            UploadedLog.objects.filter(purged_at__isnull=True, created_at__lt=cutoff)
            .exclude(runs__status__in=[RunStatus.QUEUED, RunStatus.RUNNING])
            .exclude(runs__finished_at__gte=cutoff)
        )
        for upload in stale:
            path = Path(upload.path)
            if path.exists():
                report.bytes_freed += path.stat().st_size
                path.unlink()
            UploadedLog.objects.filter(pk=upload.pk).update(purged_at=now)
            report.uploads_purged += 1
    running = {
        f"run-{pk}"
        for pk in QueryRun.objects.filter(status=RunStatus.RUNNING).values_list("pk", flat=True)
    }
    for folder in Path(settings.WORK_DIR).glob("run-*"):
        if folder.name.split("-part-")[0] not in running:
            shutil.rmtree(folder, ignore_errors=True)
            report.scratch_removed += 1
    _evict_flow_cache()  # expired entries, and what dead writers left
    if report.uploads_purged or report.scratch_removed:
        audit.record(
            actor=None,
            action="data.pruned",
            details={
                "uploads_purged": report.uploads_purged,
                "bytes_freed": report.bytes_freed,
                "scratch_removed": report.scratch_removed,
                "retention_days": days,
            },
        )
    return report
