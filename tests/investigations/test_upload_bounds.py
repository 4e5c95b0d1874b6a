"""Upload bounds checked before a run exists: Parquet rows and uncompressed size (from the
footer), unreadable Parquet, and each user's quota of stored uploads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile

from investigations.models import QueryRun, UploadedLog
from investigations.uploads import UploadRejected, store_upload
from tests.conftest import client_for
from tests.flowlogs import sample_upload


def _parquet(tmp_path: Path, rows: int) -> SimpleUploadedFile:
    path = tmp_path / "flows.parquet"
    with duckdb.connect(":memory:") as con:
        con.execute(
            f"COPY (SELECT 2 AS version, '123456789012' AS account_id, 'eni-1' AS interface_id, "
            f"'10.0.0.' || (range % 250) AS srcaddr, '10.0.1.5' AS dstaddr, range AS srcport "
            f"FROM range({rows})) TO '{path}' (FORMAT parquet)"
        )
    return SimpleUploadedFile("flows.parquet", path.read_bytes())


def _stored_files() -> set[str]:
    return {p.name for p in Path(django_settings.UPLOAD_DIR).iterdir()}


def test_a_parquet_file_within_bounds_is_kept(tmp_path: Path, settings: Any) -> None:
    settings.FLOWLOG_MAX_PARQUET_ROWS = 1000
    stored = store_upload(_parquet(tmp_path, 1000))
    assert (Path(settings.UPLOAD_DIR) / stored.storage_key).stat().st_size == stored.size


def test_too_many_parquet_rows_are_refused_and_nothing_is_kept(
    tmp_path: Path,
    settings: Any,
) -> None:
    settings.FLOWLOG_MAX_PARQUET_ROWS = 999
    before = _stored_files()
    with pytest.raises(
        UploadRejected, match="1,000 rows; Parquet uploads are limited to 999"
    ) as caught:
        store_upload(_parquet(tmp_path, 1000))
    assert caught.value.too_large
    assert _stored_files() == before


def test_parquet_that_expands_past_the_bound_is_refused(tmp_path: Path, settings: Any) -> None:
    settings.FLOWLOG_MAX_PARQUET_BYTES = 1000
    with pytest.raises(UploadRejected, match="bytes uncompressed; Parquet uploads are limited"):
        store_upload(_parquet(tmp_path, 5000))


def test_a_file_that_only_claims_to_be_parquet_is_refused() -> None:
    before = _stored_files()
    with pytest.raises(UploadRejected, match="not a readable Parquet file"):
        store_upload(SimpleUploadedFile("fake.parquet", b"PAR1" + b"\x00" * 64 + b"PAR1"))
    assert _stored_files() == before


@pytest.mark.django_db
def test_uploads_past_the_users_quota_are_refused_before_anything_is_stored(
    analyst: Any,
    teammate: Any,
    investigation: Any,
    settings: Any,
) -> None:
    upload = sample_upload()
    settings.UPLOAD_QUOTA_BYTES = 10_000
    UploadedLog.objects.create(
        investigation=investigation,
        uploaded_by=analyst,
        original_name="old.log",
        storage_key="old-1.log",
        size=10_000 - int(upload.size or 0) + 1,
        sha256="0" * 64,
    )
    # Removed by retention: no longer counted.
    UploadedLog.objects.create(
        investigation=investigation,
        uploaded_by=analyst,
        original_name="purged.log",
        storage_key="old-2.log",
        size=9_000,
        sha256="0" * 64,
        purged_at="2026-01-01T00:00:00Z",
    )
    before = _stored_files()
    response = client_for(analyst).post(
        "/api/v1/runs/",
        {"investigation": investigation.pk, "analyses": "traffic-summary", "files": upload},
    )
    assert response.status_code == 413
    assert "quota is 10,000 bytes per user" in response.json()["files"][0]
    assert not QueryRun.objects.exists()
    assert _stored_files() == before
    # The quota is per user: a teammate's upload goes through.
    response = client_for(teammate).post(
        "/api/v1/runs/",
        {
            "investigation": investigation.pk,
            "analyses": "traffic-summary",
            "files": sample_upload(),
        },
    )
    assert response.status_code == 202, response.content
