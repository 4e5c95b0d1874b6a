"""The one place that sends a run's Celery tasks; every message carries only ids.

Tasks are sent by name, so the modules that queue work never import the tasks that do it
(the routing to the "download" and "analyse" queues comes from CELERY_TASK_ROUTES)."""

from __future__ import annotations

import logging

from django.db import transaction

from investigations.choices import RunStatus
from investigations.models import QueryRun
from portal.celery import app

logger = logging.getLogger(__name__)

EXECUTE = "investigations.tasks.execute_run"
FETCH_PART = "investigations.tasks.fetch_part"
ANALYSE = "investigations.tasks.analyse_run"

# The stage of a queued run whose message could not be sent: the reaper's next pass sends it.
UNSENT_STAGE = "Queued (the task queue was unreachable; it will be sent again)"


def execute(run_id: int) -> None:
    """Send the run to a worker now (the reaper's re-send of a queued run)."""
    app.send_task(EXECUTE, args=[run_id])


def send_or_leave_to_reaper(run_id: int) -> bool:
    """Send the run; when the broker cannot take it, the run stays queued, marked for the
    reaper's next re-send, and the caller carries on (the run is committed: nothing is undone).
    """
    try:
        execute(run_id)
    except Exception as exc:  # any broker failure: connection refused, timeout, auth, full
        logger.warning(
            "Run #%s is queued but its task could not be sent (%s: %s); the reaper sends it "
            "again once the broker answers.",
            run_id,
            type(exc).__name__,
            exc,
        )
        QueryRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(stage=UNSENT_STAGE)
        return False
    return True


def execute_on_commit(run_id: int) -> None:
    """Send the run once the transaction that queued it commits (never for a rolled-back run).
    A broker that is down then does not turn a committed run into an error (see above)."""
    transaction.on_commit(lambda: send_or_leave_to_reaper(run_id))


def fetch_parts_on_commit(run_id: int, attempt: int, count: int) -> None:
    """One message per part of the run's window, once the hand-over commits."""
    for index in range(count):
        transaction.on_commit(
            lambda index=index: app.send_task(  # type: ignore[misc]
                FETCH_PART, args=[run_id, attempt, index, count]
            )
        )


def analyse(run_id: int, attempt: int, count: int) -> None:
    """Every part is fetched: analyse them together."""
    app.send_task(ANALYSE, args=[run_id, attempt, count])
