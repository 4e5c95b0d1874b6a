"""Celery task: a thin shell that renders one queued report export."""

from __future__ import annotations

from celery import shared_task

from investigations.reports.services import render_export


@shared_task(acks_late=True, ignore_result=True)
def render_report(export_id: int) -> None:
    render_export(export_id)
