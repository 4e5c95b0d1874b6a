"""What a dead worker leaves is cleaned up when the reaper deals with its run, not hours later:
the run's scratch folders, and its half-built flow cache entry (the writer is a real process
killed with SIGKILL). And the runs list pages as the client asks."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from analysis.cache import cache_key
from investigations.models import QueryRun
from investigations.runs.reaper import prune_old_data, reap_stale_runs
from tests.analysis.test_cache_writers import Writer
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def _running(investigation: Any, *, silent_for: int, attempts: int = 1) -> QueryRun:
    run = QueryRun.objects.create(
        investigation=investigation, requested_by=investigation.owner, analyses=["x"]
    )
    assert QueryRun.claim(run.pk, worker="test@host") is not None
    beat = timezone.now() - timedelta(seconds=silent_for)
    QueryRun.objects.filter(pk=run.pk).update(heartbeat_at=beat, attempts=attempts)
    run.refresh_from_db()
    return run


def _scratch(run: QueryRun) -> list[Path]:
    work = Path(settings.WORK_DIR)
    folders = [work / f"run-{run.pk}", work / f"run-{run.pk}-part-0"]
    for folder in folders:
        (folder / "fetch").mkdir(parents=True, exist_ok=True)
        (folder / "fetch" / "data.log").write_text("x")
    return folders


def test_a_run_the_reaper_fails_has_its_scratch_folders_removed_at_once(
    investigation: Any, settings: Any
) -> None:
    settings.RUN_STALE_SECONDS, settings.RUN_MAX_ATTEMPTS = 120, 3
    dead = _running(investigation, silent_for=600, attempts=3)
    alive = _running(investigation, silent_for=5)
    dead_folders, alive_folders = _scratch(dead), _scratch(alive)
    report = reap_stale_runs()
    assert report.failed == [dead.pk]
    assert not any(folder.exists() for folder in dead_folders)
    assert all(folder.exists() for folder in alive_folders)


def test_the_hourly_prune_keeps_the_part_folders_of_a_running_run(investigation: Any) -> None:
    alive = _running(investigation, silent_for=5)
    folders = _scratch(alive)
    prune_old_data()
    assert all(folder.exists() for folder in folders)


def test_a_dead_workers_half_built_cache_entry_goes_when_the_reaper_requeues_its_run(
    investigation: Any, settings: Any
) -> None:
    settings.RUN_STALE_SECONDS = 120
    run = _running(investigation, silent_for=600)
    root = Path(settings.FLOW_CACHE_DIR)
    writer = Writer(root, cache_key(run=run.pk), 1000)
    try:
        writer.kill()  # the worker loading into it dies
        assert writer.directory.exists()
        report = reap_stale_runs()
    finally:
        if writer.process.poll() is None:
            writer.kill()
    assert report.requeued == [run.pk]
    assert not writer.directory.exists()


def test_the_runs_list_honours_page_size(investigation: Any, analyst: Any) -> None:
    for _ in range(5):
        QueryRun.objects.create(
            investigation=investigation, requested_by=analyst, analyses=["traffic-summary"]
        )
    client = client_for(analyst)
    page = client.get("/api/v1/runs/", {"page_size": 2}).json()
    assert page["count"] == 5 and len(page["results"]) == 2 and page["next"]
    assert "page_size=2" in page["next"]
    last = client.get("/api/v1/runs/", {"page_size": 2, "page": 3}).json()
    assert len(last["results"]) == 1
    capped = client.get("/api/v1/runs/", {"page_size": 10**6}).json()
    assert len(capped["results"]) == 5  # capped at 1000, not refused
    assert len(client.get("/api/v1/runs/").json()["results"]) == 5  # default 100
