"""The reaper: runs whose worker died are requeued, then failed with the reason; lost messages
of queued runs are sent again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from investigations.models import QueryRun
from investigations.runs.reaper import reap_stale_runs
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


def _running(investigation: Any, *, silent_for: int, attempts: int = 1, **extra: Any) -> QueryRun:
    run = QueryRun.objects.create(
        investigation=investigation,
        requested_by=investigation.owner,
        analyses=["traffic-summary"],
        **extra,
    )
    assert QueryRun.claim(run.pk, worker="test@host") is not None
    beat = timezone.now() - timedelta(seconds=silent_for)
    QueryRun.objects.filter(pk=run.pk).update(heartbeat_at=beat, attempts=attempts)
    run.refresh_from_db()
    return run


def test_a_run_with_a_fresh_heartbeat_is_left_alone(investigation: Any, settings: Any) -> None:
    settings.RUN_STALE_SECONDS = 120
    run = _running(investigation, silent_for=30)
    report = reap_stale_runs()
    run.refresh_from_db()
    assert run.status == "running"
    assert report.requeued == [] and report.failed == []


def test_a_silent_run_is_requeued_with_the_reason(
    investigation: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.RUN_STALE_SECONDS = 120
    run = _running(investigation, silent_for=300)
    with django_capture_on_commit_callbacks() as callbacks:
        report = reap_stale_runs()
    run.refresh_from_db()
    assert report.requeued == [run.pk]
    assert run.status == "queued"
    assert "worker stopped responding" in run.stage
    # The task is sent again once the requeue commits.
    assert [c.__qualname__ for c in callbacks].count("execute_on_commit.<locals>.<lambda>") == 1
    event = AuditEvent.objects.get(action="run.requeued")
    assert event.details["attempts"] == 1


def test_a_run_out_of_attempts_fails_saying_why(investigation: Any, settings: Any) -> None:
    settings.RUN_STALE_SECONDS = 120
    settings.RUN_MAX_ATTEMPTS = 3
    run = _running(investigation, silent_for=300, attempts=3)
    report = reap_stale_runs()
    run.refresh_from_db()
    assert report.failed == [run.pk]
    assert run.status == "failed"
    assert "worker stopped responding" in run.error and "3 attempts" in run.error
    assert AuditEvent.objects.filter(action="run.failed", target_id=str(run.pk)).exists()


def test_a_silent_run_that_was_being_cancelled_ends_cancelled(
    investigation: Any, settings: Any
) -> None:
    settings.RUN_STALE_SECONDS = 120
    run = _running(investigation, silent_for=300)
    QueryRun.objects.filter(pk=run.pk).update(cancel_requested=True)
    reap_stale_runs()
    run.refresh_from_db()
    assert run.status == "cancelled"


def test_a_queued_run_nobody_claimed_is_sent_again_once_per_interval(
    investigation: Any, settings: Any
) -> None:
    settings.RUN_RESEND_QUEUED_SECONDS = 300
    run = QueryRun.objects.create(
        investigation=investigation,
        requested_by=investigation.owner,
        analyses=["traffic-summary"],
    )
    QueryRun.objects.filter(pk=run.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    fresh = QueryRun.objects.create(
        investigation=investigation,
        requested_by=investigation.owner,
        analyses=["traffic-summary"],
    )
    assert reap_stale_runs().resent == [run.pk]
    assert reap_stale_runs().resent == []  # touched: not again until the interval passes
    fresh.refresh_from_db()
    assert fresh.status == "queued"
