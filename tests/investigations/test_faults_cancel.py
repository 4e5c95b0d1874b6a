"""A cancel during the load stops the load (not after it) and publishes nothing of the
cancelled run into the shared flow cache."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files import File

from analysis.demo import generate
from investigations.models import QueryRun
from investigations.runs.pipeline import execute
from investigations.runs.submit import cancel_run, submit_run
from portal.audit_verify import verify_audit_log
from portal.models import AuditEvent
from tests.conftest import wait_for_run
from tests.flowlogs import sample_upload


def _cache_folders() -> set[str]:
    root = Path(settings.FLOW_CACHE_DIR)
    return {p.name for p in root.iterdir()} if root.exists() else set()


@pytest.mark.django_db
def test_a_run_cancelled_before_its_load_reads_nothing_and_caches_nothing(
    investigation: Any, analyst: Any
) -> None:
    run = submit_run(
        user=analyst,
        investigation=investigation,
        analyses=["traffic-summary"],
        files=[sample_upload()],
    )
    claimed = QueryRun.claim(run.pk, worker="test")
    assert claimed is not None
    cancel_run(user=analyst, run=claimed)  # running: it stops at its next check
    before = _cache_folders()
    execute(claimed)
    claimed.refresh_from_db()
    assert claimed.status == "cancelled"
    assert not claimed.results.exists()
    assert _cache_folders() == before
    assert verify_audit_log().intact


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: Any) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.log"
    generate(str(path), lines=1_000_000, seed=12)
    return path


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_run_cancelled_while_its_files_load_stops_loading_and_caches_nothing(
    celery_worker_process: Any, investigation: Any, analyst: Any, big_log: Path
) -> None:
    before = _cache_folders()
    with big_log.open("rb") as a, big_log.open("rb") as b, big_log.open("rb") as c:
        run = submit_run(
            user=analyst,
            investigation=investigation,
            analyses=["traffic-summary"],
            files=[File(a, name="a.log"), File(b, name="b.log"), File(c, name="c.log")],
        )
    deadline = time.monotonic() + 120
    while not (run.status == "running" and run.stage.startswith(("Parsing", "Reading"))):
        assert time.monotonic() < deadline, f"never started loading: {run.status} {run.stage}"
        assert run.status in ("queued", "running"), run.error
        time.sleep(0.05)
        run.refresh_from_db()
    cancel_run(user=analyst, run=run)
    run = wait_for_run(run)
    assert run.status == "cancelled", run.error
    assert not run.results.exists()
    assert AuditEvent.objects.filter(target_id=str(run.pk), action="run.cancelled").exists()
    assert _cache_folders() == before  # nothing published, no half-built folder left
    assert verify_audit_log().intact
