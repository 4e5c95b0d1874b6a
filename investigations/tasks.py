"""Celery tasks: thin shells that claim a run row and hand it to `execution.execute`."""

from __future__ import annotations

import logging

from celery import shared_task

from investigations.execution import execute
from investigations.models import QueryRun

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def execute_run(run_id: int) -> None:
    run = QueryRun.claim(run_id)
    if run is None:
        logger.info("Run %s is not queued (already taken, cancelled or gone); skipping.", run_id)
        return
    execute(run)
