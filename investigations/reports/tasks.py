"""Celery task: a thin shell that renders one queued report export."""

from __future__ import annotations

from celery import shared_task

from investigations.reports.models import RENDER_TIME_LIMIT_SECONDS
from investigations.reports.services import prune_report_files, render_export


# The soft limit ends a render as failed (with the reason); the hard one is the takeover bound.
@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=RENDER_TIME_LIMIT_SECONDS - 60,
    time_limit=RENDER_TIME_LIMIT_SECONDS,
)
def render_report(export_id: int) -> None:
    render_export(export_id)


@shared_task(ignore_result=True)
def prune_reports() -> None:
    prune_report_files()
