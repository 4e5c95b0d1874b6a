"""Retention: old uploads of finished runs are removed (their hash stays); nothing else is."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from investigations.models import QueryRun, UploadedLog
from investigations.runs.reaper import prune_old_data
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


def _upload(investigation: Any, *, age_days: int, run_status: str, finished_days: int) -> Any:
    key = f"retention-{age_days}-{run_status}-{finished_days}.log"
    path = Path(settings.UPLOAD_DIR) / key
    path.write_bytes(b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK\n")
    upload = UploadedLog.objects.create(
        investigation=investigation,
        uploaded_by=investigation.owner,
        original_name=key,
        storage_key=key,
        size=path.stat().st_size,
        sha256="0" * 64,
    )
    UploadedLog.objects.filter(pk=upload.pk).update(
        created_at=timezone.now() - timedelta(days=age_days)
    )
    run = QueryRun.objects.create(
        investigation=investigation,
        requested_by=investigation.owner,
        analyses=["traffic-summary"],
        status=run_status,
        finished_at=timezone.now() - timedelta(days=finished_days),
    )
    run.uploads.add(upload)
    return upload


def test_only_old_uploads_of_finished_runs_are_purged(investigation: Any, settings: Any) -> None:
    settings.UPLOAD_RETENTION_DAYS = 30
    old = _upload(investigation, age_days=60, run_status="succeeded", finished_days=59)
    recent = _upload(investigation, age_days=5, run_status="succeeded", finished_days=5)
    rerun = _upload(investigation, age_days=60, run_status="succeeded", finished_days=1)
    busy = _upload(investigation, age_days=60, run_status="running", finished_days=60)
    report = prune_old_data()
    assert report.uploads_purged == 1
    old.refresh_from_db()
    assert old.purged_at is not None and old.sha256 == "0" * 64
    assert not Path(old.path).exists()
    for kept in (recent, rerun, busy):
        kept.refresh_from_db()
        assert kept.purged_at is None and Path(kept.path).exists()
    assert AuditEvent.objects.get(action="data.pruned").details["uploads_purged"] == 1


def test_zero_days_keeps_everything(investigation: Any, settings: Any) -> None:
    settings.UPLOAD_RETENTION_DAYS = 0
    old = _upload(investigation, age_days=999, run_status="succeeded", finished_days=999)
    assert prune_old_data().uploads_purged == 0
    assert Path(old.path).exists()
