"""Idempotency-Key on run creation: a retried POST never creates a second run."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from investigations.models import QueryRun, UploadedLog
from tests.conftest import client_for
from tests.flowlogs import SAMPLE_TEXT, sample_upload

pytestmark = pytest.mark.django_db


def _post(client: Any, investigation: Any, key: str | None, **extra: Any) -> Any:
    data = {
        "investigation": investigation.pk,
        "analyses": "traffic-summary",
        "files": sample_upload(),
        **extra,
    }
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/api/v1/runs/", data, headers=headers)


def test_a_retry_with_the_same_key_returns_the_same_run(investigation: Any, analyst: Any) -> None:
    client = client_for(analyst)
    first = _post(client, investigation, "siem-req-1")
    again = _post(client, investigation, "siem-req-1")
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert QueryRun.objects.count() == 1
    assert UploadedLog.objects.count() == 1
    stored = {u.storage_key for u in UploadedLog.objects.all()}
    assert stored <= {p.name for p in settings.UPLOAD_DIR.iterdir()}


def test_the_same_key_with_another_request_is_refused(investigation: Any, analyst: Any) -> None:
    client = client_for(analyst)
    assert _post(client, investigation, "k").status_code == 202
    conflict = _post(client, investigation, "k", analyses="ssh-inbound")
    assert conflict.status_code == 422
    assert "different request" in conflict.json()["detail"]
    assert QueryRun.objects.count() == 1


def test_keys_are_per_user_and_optional(investigation: Any, analyst: Any, teammate: Any) -> None:
    assert _post(client_for(analyst), investigation, "shared").status_code == 202
    assert _post(client_for(teammate), investigation, "shared").status_code == 202
    assert _post(client_for(analyst), investigation, None).status_code == 202
    assert QueryRun.objects.count() == 3


def test_the_same_key_with_other_content_of_the_same_name_and_size_is_refused(
    investigation: Any, analyst: Any
) -> None:
    client = client_for(analyst)
    original = SAMPLE_TEXT.encode()
    altered = original.replace(b"ACCEPT", b"REJECT", 1)
    assert altered != original and len(altered) == len(original)
    first = _post(client, investigation, "same-size", files=_upload(original))
    assert first.status_code == 202
    conflict = _post(client, investigation, "same-size", files=_upload(altered))
    assert conflict.status_code == 422
    assert "different request" in conflict.json()["detail"]
    replay = _post(client, investigation, "same-size", files=_upload(original))
    assert replay.status_code == 202
    assert replay.json()["id"] == first.json()["id"]
    assert replay["Idempotent-Replayed"] == "true"
    assert QueryRun.objects.count() == 1


def _upload(data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile("sample.log", data, content_type="application/octet-stream")
