"""The one place that sends a run's Celery tasks; every message carries only ids.

Tasks are sent by name, so the modules that queue work never import the tasks that do it
(the routing to the "download" and "analyse" queues comes from CELERY_TASK_ROUTES)."""

from __future__ import annotations

from django.db import transaction

from portal.celery import app

EXECUTE = "investigations.tasks.execute_run"
FETCH_PART = "investigations.tasks.fetch_part"
ANALYSE = "investigations.tasks.analyse_run"


def execute(run_id: int) -> None:
    """Send the run to a worker now (the reaper's re-send of a queued run)."""
    app.send_task(EXECUTE, args=[run_id])


def execute_on_commit(run_id: int) -> None:
    """Send the run once the transaction that queued it commits (never for a rolled-back run)."""
    transaction.on_commit(lambda: execute(run_id))


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
