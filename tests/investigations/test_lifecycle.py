"""Every way a run ends (or goes back to the queue) writes its audit event, sends its
`run.finished` webhook to everyone who may see the run, and frees its AWS account's slot."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from investigations.models import QueryRun
from portal import concurrency
from portal.models import AuditEvent, WebhookDelivery
from portal.webhooks import create_webhook

pytestmark = pytest.mark.django_db

SCOPE = "aws-account:1"


@pytest.fixture
def hooks(analyst: Any, teammate: Any) -> None:
    """The owner and a member of the investigation each listen for finished runs."""
    for user in (analyst, teammate):
        create_webhook(
            user=user, name="siem", url="https://siem.example.com/hook", events=["run.finished"]
        )


def _finished_events(run: QueryRun) -> list[dict[str, Any]]:
    deliveries = WebhookDelivery.objects.filter(event="run.finished").order_by("pk")
    payloads = [d.payload["data"] for d in deliveries]
    return [p for p in payloads if p["run"] == run.pk]


def _queued(investigation: Any) -> QueryRun:
    return QueryRun.objects.create(
        investigation=investigation,
        requested_by=investigation.owner,
        analyses=["traffic-summary"],
        source_config={"account": 1},
    )


def _running(investigation: Any, *, silent_for: int = 0, attempts: int = 1) -> QueryRun:
    run = _queued(investigation)
    claimed = QueryRun.claim(run.pk, worker="test@host")
    assert claimed is not None
    beat = timezone.now() - timedelta(seconds=silent_for)
    QueryRun.objects.filter(pk=run.pk).update(heartbeat_at=beat, attempts=attempts)
    claimed.refresh_from_db()
    concurrency.acquire(SCOPE, limit=2, holder=f"run:{run.pk}", lease_seconds=600)
    return claimed


def test_a_run_failed_by_the_reaper_is_audited_and_announced(
    investigation: Any, hooks: None, settings: Any
) -> None:
    from investigations.runs.reaper import reap_stale_runs

    settings.RUN_STALE_SECONDS = 120
    settings.RUN_MAX_ATTEMPTS = 2
    run = _running(investigation, silent_for=300, attempts=2)
    assert reap_stale_runs().failed == [run.pk]
    run.refresh_from_db()
    assert run.status == "failed" and "worker stopped responding" in run.error
    event = AuditEvent.objects.get(action="run.failed", target_id=str(run.pk))
    assert event.actor is None and "2 attempts" in event.details["error"]
    announced = _finished_events(run)
    assert len(announced) == 2  # one per listener who may see the run
    assert (announced[0]["status"], announced[0]["outcome"]) == ("failed", "failed")
    assert "worker stopped responding" in announced[0]["error"]
    assert concurrency.holders(SCOPE) == []


def test_a_silent_run_being_cancelled_is_cancelled_by_the_reaper_and_announced(
    investigation: Any, hooks: None, settings: Any
) -> None:
    from investigations.runs.reaper import reap_stale_runs

    settings.RUN_STALE_SECONDS = 120
    run = _running(investigation, silent_for=300)
    QueryRun.objects.filter(pk=run.pk).update(cancel_requested=True)
    assert reap_stale_runs().cancelled == [run.pk]
    assert AuditEvent.objects.filter(action="run.cancelled", target_id=str(run.pk)).exists()
    assert [p["status"] for p in _finished_events(run)] == ["cancelled", "cancelled"]
    assert concurrency.holders(SCOPE) == []


def test_a_run_cancelled_while_queued_is_audited_and_announced(
    investigation: Any, teammate: Any, hooks: None
) -> None:
    from investigations.runs.submit import cancel_run

    run = _queued(investigation)
    cancel_run(user=teammate, run=run, client_ip="192.0.2.7")
    run.refresh_from_db()
    assert run.status == "cancelled" and run.finished_at is not None
    requested = AuditEvent.objects.get(action="run.cancel_requested", target_id=str(run.pk))
    assert requested.actor == teammate
    cancelled = AuditEvent.objects.get(action="run.cancelled", target_id=str(run.pk))
    assert cancelled.actor == teammate and cancelled.client_ip == "192.0.2.7"
    assert [p["status"] for p in _finished_events(run)] == ["cancelled", "cancelled"]


def test_cancelling_a_running_run_only_asks_the_worker_to_stop(
    investigation: Any, teammate: Any, hooks: None
) -> None:
    from investigations.runs.submit import cancel_run

    run = _running(investigation)
    cancel_run(user=teammate, run=run)
    run.refresh_from_db()
    assert (run.status, run.cancel_requested) == ("running", True)
    assert not AuditEvent.objects.filter(action="run.cancelled").exists()
    assert _finished_events(run) == []  # the worker announces it when it stops
    assert concurrency.holders(SCOPE) == [f"run:{run.pk}"]


def test_a_requeued_run_is_audited_frees_its_slot_and_is_sent_again(
    investigation: Any, hooks: None, django_capture_on_commit_callbacks: Any
) -> None:
    from investigations.runs import lifecycle

    run = _running(investigation)
    with django_capture_on_commit_callbacks() as callbacks:
        assert lifecycle.requeue(run, reason="database connection lost")
    run.refresh_from_db()
    assert run.status == "queued" and "database connection lost" in run.stage
    event = AuditEvent.objects.get(action="run.requeued", target_id=str(run.pk))
    assert event.details == {"reason": "database connection lost", "attempts": 1}
    assert _finished_events(run) == []  # not finished: it runs again
    assert concurrency.holders(SCOPE) == []
    # The task is sent again once the requeue commits.
    assert [c.__qualname__ for c in callbacks].count("execute_on_commit.<locals>.<lambda>") == 1


def test_a_requeued_run_is_announced_to_requeue_listeners_only(
    investigation: Any, analyst: Any, hooks: None, django_capture_on_commit_callbacks: Any
) -> None:
    from investigations.runs import lifecycle

    create_webhook(
        user=analyst, name="ops", url="https://ops.example.com/hook", events=["run.requeued"]
    )
    run = _running(investigation, attempts=2)
    with django_capture_on_commit_callbacks(execute=False):
        assert lifecycle.requeue(run, reason="worker lost")
    [delivery] = WebhookDelivery.objects.filter(event="run.requeued")
    assert delivery.webhook.name == "ops"  # the run.finished listeners hear nothing
    data = delivery.payload["data"]
    assert (data["run"], data["status"], data["reason"], data["attempts"]) == (
        run.pk,
        "queued",
        "worker lost",
        2,
    )
    assert data["url"] == run.get_absolute_url()


def test_a_run_that_analysed_no_record_is_announced_as_no_data(
    investigation: Any, hooks: None
) -> None:
    from investigations.runs import lifecycle

    run = _running(investigation)
    records = {"total": 40, "ok": 0, "malformed": 40, "nodata": 0, "skipdata": 0}
    assert lifecycle.succeed(run, results=[], records=records, data_read={"source": "file"})
    [announced, _] = _finished_events(run)
    assert (announced["status"], announced["outcome"]) == ("succeeded", "no_data")
    assert "Every line was malformed: 40 of 40 lines" in announced["no_data_reason"]


def test_a_run_failed_by_its_worker_is_audited_and_announced(
    investigation: Any, hooks: None
) -> None:
    from investigations.runs import lifecycle

    run = _running(investigation)
    assert lifecycle.fail(run, error="None of the 1 file(s) could be read.")
    run.refresh_from_db()
    assert (run.status, run.error) == ("failed", "None of the 1 file(s) could be read.")
    assert AuditEvent.objects.filter(action="run.failed", target_id=str(run.pk)).exists()
    assert [p["status"] for p in _finished_events(run)] == ["failed", "failed"]
    assert concurrency.holders(SCOPE) == []


def test_a_finished_run_cannot_end_twice(investigation: Any, hooks: None) -> None:
    from investigations.runs import lifecycle

    run = _running(investigation)
    elsewhere = QueryRun.objects.get(pk=run.pk)  # the worker's copy, still running
    assert lifecycle.cancel(run)
    assert not lifecycle.fail(elsewhere, error="too late")
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert (
        AuditEvent.objects.filter(
            target_id=str(run.pk), action__in=["run.cancelled", "run.failed"]
        ).count()
        == 1
    )
    assert len(_finished_events(run)) == 2


def test_a_succeeded_run_saves_its_results_audits_and_announces_each_finding(
    investigation: Any, hooks: None
) -> None:
    from analysis.analyzers.result import AnalysisResult
    from investigations.runs import lifecycle

    run = _running(investigation)
    result = AnalysisResult(
        name="traffic-summary",
        title="Traffic summary",
        columns=["protocol", "flows"],
        rows=[{"protocol": "tcp", "flows": 3}],
        total_groups=1,
        truncated=False,
        findings=[{"type": "Recon:EC2/PortProbeUnprotectedPort", "severity": 5, "title": "Probe"}],
    )
    assert lifecycle.succeed(
        run, results=[result], records={"total": 3, "ok": 3}, data_read={"source": "file"}
    )
    run.refresh_from_db()
    assert run.status == "succeeded" and run.progress == 100
    assert run.results.get().rows.get().data == {"protocol": "tcp", "flows": 3}
    event = AuditEvent.objects.get(action="run.succeeded", target_id=str(run.pk))
    assert event.details["findings"] == 1 and event.details["results"] == {"traffic-summary": 1}
    announced = _finished_events(run)
    assert [(p["status"], p["findings"]) for p in announced] == [("succeeded", 1)] * 2
    assert (announced[0]["outcome"], announced[0]["no_data_reason"]) == ("analysed", None)
    assert WebhookDelivery.objects.filter(event="finding.created").count() == 0  # not subscribed
    assert concurrency.holders(SCOPE) == []


def test_result_rows_are_saved_in_order_exactly_as_given(investigation: Any, settings: Any) -> None:
    """Rows go to the database as one JSON array it splits: order, positions, types, text and
    the row limit survive exactly, on SQLite and PostgreSQL alike."""
    from analysis.analyzers.result import AnalysisResult
    from investigations.runs import lifecycle

    settings.RESULT_ROW_LIMIT = 4
    rows = [
        {"peer": "2001:db8::1", "flows": 2**62, "share": 0.1, "note": None, "ports": [22, 443]},
        {"peer": "203.0.113.9", "flows": 0, "share": 1e-9, "note": 'Zoë\'s "quoted"\ttab 🙂'},
        {"peer": "10.0.0.1", "flows": -1, "share": 12.5, "note": "", "nested": {"a": {"b": True}}},
        {"peer": "10.0.0.2", "flows": 7, "share": 0.0, "note": "\\backslash"},
        {"peer": "10.0.0.3", "flows": 8, "share": 0.5, "note": "beyond the limit"},
    ]
    empty = AnalysisResult(
        name="rejected", title="Rejected", columns=["peer"], rows=[], total_groups=0,
        truncated=False,
    )  # fmt: skip
    result = AnalysisResult(
        name="top-talkers", title="Top talkers", columns=list(rows[2]), rows=rows,
        total_groups=5, truncated=False,
    )  # fmt: skip
    run = _running(investigation)
    assert lifecycle.succeed(run, results=[empty, result], records={"ok": 5}, data_read={})
    stored = run.results.get(analysis="top-talkers")
    assert (stored.row_count, stored.truncated) == (4, True)
    saved = list(stored.rows.order_by("position").values_list("position", "data"))
    assert saved == list(enumerate(rows[:4]))
    assert not run.results.get(analysis="rejected").rows.exists()
