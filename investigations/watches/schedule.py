"""The watches' clock: every beat tick starts the run of each due watch, exactly once.

The schedule lives in the database (`Watch.next_run_at`), so watches survive restarts. A tick
claims a due watch with a conditional UPDATE on the `next_run_at` it read: a second beat, or a
retried tick, finds nothing to claim. Windows are contiguous: each run reads
[last_window_end, now - lag), so no record is read twice or skipped. A watch whose ticks were
missed (beat or workers down) runs once, late, over the whole missed stretch: one run, not one
per missed tick. A watch waits (stays due) while its previous run is still queued or running,
or while its AWS account already has RUN_MAX_PER_ACCOUNT runs going.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from investigations.choices import ACTIVE_RUN_STATUSES
from investigations.models import QueryRun
from investigations.runs.submit import submit_run
from investigations.services import RunRequestInvalid
from investigations.watches.models import Watch, WatchRun
from portal import audit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def next_window(watch: Watch, now: datetime) -> Window | None:
    """[where the last window ended, now - lag); the first one is one interval long. None when
    nothing new has arrived yet (the lag grew, or the clock stepped back)."""
    end = (now - timedelta(seconds=watch.lag_seconds)).replace(microsecond=0)
    start = watch.last_window_end or end - timedelta(minutes=watch.interval_minutes)
    return Window(start, end) if end > start else None


def waits(watch: Watch) -> str:
    """Why a due watch must wait, or "" when it may start now."""
    if QueryRun.objects.filter(watch_run__watch=watch, status__in=ACTIVE_RUN_STATUSES).exists():
        return "its previous run is still going"
    busy = QueryRun.objects.filter(
        status__in=ACTIVE_RUN_STATUSES, source_config__account=watch.account_id
    ).count()
    if busy >= settings.RUN_MAX_PER_ACCOUNT:
        return "its AWS account is at its run cap"
    return ""


def tick(now: datetime | None = None) -> list[int]:
    """Start the run of every due, unpaused watch that may start; the ids of the runs started."""
    now = now or timezone.now()
    started = []
    due = list(Watch.objects.due(now).order_by("next_run_at", "pk").values_list("pk", flat=True))
    for pk in due:
        watch = Watch.objects.filter(pk=pk).select_related("investigation", "account").first()
        if watch is None or watch.paused or watch.next_run_at > now:
            continue
        reason = waits(watch)
        if reason:
            logger.info("Watch #%s is due but waits: %s.", pk, reason)
            continue
        try:
            run = start_run(watch, now)
        except Exception:  # one watch's fault (say, a lost connection) must not stop the others
            logger.exception("Watch #%s: its run could not be started; the next tick retries.", pk)
            continue
        if run is not None:
            started.append(run.pk)
    return started


def claim(watch: Watch, now: datetime) -> bool:
    """Move the watch's next run one interval past now, if nobody else did since we read it."""
    next_run_at = now + timedelta(minutes=watch.interval_minutes)
    won = Watch.objects.filter(pk=watch.pk, paused=False, next_run_at=watch.next_run_at).update(
        next_run_at=next_run_at, updated_at=now
    )
    if won:
        watch.next_run_at = next_run_at
    return bool(won)


def start_run(watch: Watch, now: datetime) -> QueryRun | None:
    """Claim the watch and, in the same transaction, submit its run over the next window.
    A run that cannot start (instance gone, access lost) leaves the window where it was, so
    the next attempt reads it; the reason is kept on the watch."""
    with transaction.atomic():
        # The audit chain's lock before the watch's row, as every writer takes them: a run
        # ending (which may touch this watch) holds the first and may wait for the second.
        audit.lock_ordered_writes()
        if not claim(watch, now):
            return None
        window = next_window(watch, now)
        if window is None:
            return None
        try:
            with transaction.atomic():
                run = submit_run(
                    user=watch.created_by,
                    investigation=watch.investigation,
                    analyses=watch.analyses,
                    parameters=watch.parameters,
                    account=watch.account,
                    instance=watch.instance,
                    source=watch.source,
                    flow_log_id=watch.flow_log_id,
                    interfaces=watch.interfaces,
                    engine=watch.engine,
                    reference_tables=list(watch.reference_tables.all()),
                    window_start=window.start,
                    window_end=window.end,
                )
                WatchRun.objects.create(
                    watch=watch, run=run, window_start=window.start, window_end=window.end
                )
        except (RunRequestInvalid, PermissionDenied) as exc:
            Watch.objects.filter(pk=watch.pk).update(last_error=str(exc)[:2000])
            logger.warning("Watch #%s could not start its run: %s", watch.pk, exc)
            return None
        Watch.objects.filter(pk=watch.pk).update(last_window_end=window.end, last_error="")
        watch.last_window_end = window.end
    return run
