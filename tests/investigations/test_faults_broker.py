"""The broker is down when a run is submitted: the run is committed, so it is kept queued with
its files, the client is answered normally, and the reaper sends it once the broker is back."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.urls import reverse

from investigations.models import QueryRun
from investigations.runs import queue
from investigations.runs.reaper import reap_stale_runs
from portal.audit_verify import verify_audit_log
from tests.conftest import client_for, wait_for_run
from tests.flowlogs import sample_upload

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The portal's Celery app cannot reach its broker: sending raises the error kombu raises
    for a refused connection. (Swapping the app's broker URL and pools worked on the embedded
    broker but not with Redis, whose pooled connections outlived the swap.) Restored after."""
    from kombu.exceptions import OperationalError

    from portal.celery import app

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")

    monkeypatch.setattr(app, "send_task", refused)
    yield "redis://127.0.0.1:6399/0"


def _stored_files_exist(run: QueryRun) -> bool:
    uploads = list(run.uploads.all())
    return bool(uploads) and all((settings.UPLOAD_DIR / u.storage_key).is_file() for u in uploads)


def test_an_api_submit_while_the_broker_is_down_keeps_the_run_queued_with_its_files(
    investigation: Any, analyst: Any, broker_down: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(analyst)
    data = {"investigation": investigation.pk, "analyses": "traffic-summary"}
    with caplog.at_level(logging.WARNING, logger="investigations.runs.queue"):
        response = client.post(
            "/api/v1/runs/", {**data, "files": sample_upload()}, headers={"Idempotency-Key": "k1"}
        )
    assert response.status_code == 202, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    run = QueryRun.objects.get(pk=response.json()["id"])
    assert run.status == "queued"
    assert run.stage == queue.UNSENT_STAGE
    assert _stored_files_exist(run)
    assert any(
        f"Run #{run.pk} is queued but its task could not be sent" in r.getMessage()
        and r.levelno == logging.WARNING
        for r in caplog.records
    )
    # A retry with the same key gets the same run, which is still alive and queued.
    again = client.post(
        "/api/v1/runs/", {**data, "files": sample_upload()}, headers={"Idempotency-Key": "k1"}
    )
    assert again.json()["id"] == run.pk
    assert QueryRun.objects.count() == 1
    assert _stored_files_exist(run)


def test_a_page_submit_while_the_broker_is_down_redirects_to_the_queued_run(
    investigation: Any, analyst: Any, broker_down: str
) -> None:
    response = client_for(analyst).post(
        reverse("investigations:run_create", args=[investigation.pk]),
        {
            "log_files": sample_upload(),
            "analyses": ["traffic-summary"],
            "top_n": 10,
            "rank_by": "flows",
        },
    )
    run = QueryRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == run.get_absolute_url()
    assert (run.status, run.stage) == ("queued", queue.UNSENT_STAGE)
    assert _stored_files_exist(run)


def test_the_reaper_leaves_an_unsent_run_marked_while_the_broker_stays_down(
    investigation: Any, analyst: Any, broker_down: str
) -> None:
    client_for(analyst).post(
        "/api/v1/runs/",
        {
            "investigation": investigation.pk,
            "analyses": "traffic-summary",
            "files": sample_upload(),
        },
    )
    report = reap_stale_runs()
    run = QueryRun.objects.get()
    assert report.resent == []
    assert (run.status, run.stage) == ("queued", queue.UNSENT_STAGE)


@pytest.mark.worker
def test_a_run_submitted_while_the_broker_was_down_finishes_once_the_reaper_sends_it(
    investigation: Any, analyst: Any, celery_worker_process: Any
) -> None:
    from kombu.exceptions import OperationalError

    from portal.celery import app

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(app, "send_task", refused)
        response = client_for(analyst).post(
            "/api/v1/runs/",
            {
                "investigation": investigation.pk,
                "analyses": "traffic-summary",
                "files": sample_upload(),
            },
        )
    run = QueryRun.objects.get(pk=response.json()["id"])
    assert (run.status, run.stage) == ("queued", queue.UNSENT_STAGE)
    # The broker is back: the reaper's next pass sends it at once, not after the interval.
    report = reap_stale_runs()
    assert report.resent == [run.pk]
    run = wait_for_run(run)
    assert run.status == "succeeded", run.error
    assert run.results.exists()
    assert verify_audit_log().intact


def test_a_failure_after_the_commit_never_removes_the_committed_runs_files(
    investigation: Any, analyst: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever raises once the run is committed (here: a hook of the commit), the run's
    files stay; only files of a run that was never written are removed."""
    from django.db import transaction

    from investigations.runs.submit import submit_run

    def failing_hook(run_id: int) -> None:
        def fail() -> None:
            raise RuntimeError("after the commit")

        transaction.on_commit(fail)

    monkeypatch.setattr(queue, "execute_on_commit", failing_hook)
    with pytest.raises(RuntimeError, match="after the commit"):
        submit_run(
            user=analyst,
            investigation=investigation,
            analyses=["traffic-summary"],
            files=[sample_upload()],
        )
    run = QueryRun.objects.get()
    assert _stored_files_exist(run)
