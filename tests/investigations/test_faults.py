"""Faults with a real worker: a worker killed in the middle of a run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.core.files import File
from django.urls import reverse

from analysis.demo import generate
from investigations.models import QueryRun
from investigations.services import reap_stale_runs
from tests.conftest import client_for, wait_for_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture(scope="session")
def big_log(tmp_path_factory: Any) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.log"
    generate(str(path), lines=1_000_000, seed=11)
    return path


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
    client = client_for(analyst)
    with big_log.open("rb") as a, big_log.open("rb") as b, big_log.open("rb") as c:
        files = [File(a, name="part-1.log"), File(b, name="part-2.log"), File(c, name="part-3.log")]
        client.post(
            reverse("investigations:run_create", args=[investigation.pk]),
            {"log_files": files, "analyses": ["traffic-summary", "ssh-inbound"], "top_n": 10,
             "rank_by": "flows"},
        )
    run = _wait_running(QueryRun.objects.get())
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
    assert run.records["ok"] == 3 * 999_992
    assert run.results.count() == 2
