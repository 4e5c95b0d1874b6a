"""Faults with a real worker: a worker killed, or its database connection dropped, mid-run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.core.files import File
from django.urls import reverse

from investigations.models import QueryRun
from investigations.runs.reaper import reap_stale_runs
from portal.audit_verify import verify_audit_log
from tests.conftest import client_for, wait_for_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _submit_big_run(client: Any, investigation: Any, big_log: Path) -> QueryRun:
    # One copy of the million lines: its load takes the worker a second or more, time enough
    # to pull the rug (three copies made the re-run after it three times as long).
    with big_log.open("rb") as a:
        files = [File(a, name="part-1.log")]
        client.post(
            reverse("investigations:run_create", args=[investigation.pk]),
            {
                "log_files": files,
                "analyses": ["traffic-summary", "ssh-inbound"],
                "top_n": 10,
                "rank_by": "flows",
            },
        )
    return QueryRun.objects.get()


def _wait_running(run: QueryRun, timeout: float = 60) -> QueryRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status != "queued":
            return run
        time.sleep(0.05)
    raise AssertionError("the run was never picked up")


def test_a_run_whose_worker_is_killed_finishes_on_a_new_worker(
    celery_worker_process: Any, investigation: Any, analyst: Any, big_log: Path, settings: Any
) -> None:
    run = _wait_running(_submit_big_run(client_for(analyst), investigation, big_log))
    assert run.status == "running", "the run finished before the worker could be killed"
    assert run.worker.startswith("test@")
    celery_worker_process.kill()
    run.refresh_from_db()
    assert run.status == "running"  # nobody is left to finish it
    celery_worker_process.start()

    settings.RUN_STALE_SECONDS = 1
    time.sleep(1.5)
    report = reap_stale_runs()
    assert report.requeued == [run.pk]
    run = wait_for_run(run, timeout=180)
    assert run.status == "succeeded", run.error
    assert run.attempts == 2
    assert run.records["ok"] == 999_992
    assert run.results.count() == 2
    assert verify_audit_log().intact


def test_a_run_whose_database_connection_drops_still_finishes(
    celery_worker_process: Any, investigation: Any, analyst: Any, big_log: Path
) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL to cut the worker's connections (CI runs it)")
    run = _wait_running(_submit_big_run(client_for(analyst), investigation, big_log))
    assert run.status == "running", "the run finished before its connection could be cut"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        (cut,) = cursor.fetchone()
    assert cut >= 1
    run = wait_for_run(run, timeout=180)
    # Either outcome is acceptable by the rules: finished on a fresh attempt, or failed saying
    # why. Never left running. With attempts to spare, it must be the former.
    assert run.status == "succeeded", run.error
    assert run.attempts == 2
    assert run.records["ok"] == 999_992
    assert verify_audit_log().intact
