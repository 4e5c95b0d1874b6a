"""Celery beat's entry point for watches (a thin shell over `schedule.tick`)."""

from __future__ import annotations

from celery import shared_task

from investigations.watches import schedule


@shared_task(name="watches.tick", ignore_result=True)
def tick() -> list[int]:
    """Start the runs of the due watches; safe to run twice at once (each claim is once)."""
    return schedule.tick()
