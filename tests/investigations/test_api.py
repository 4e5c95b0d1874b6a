"""The API slice: bearer tokens with scopes, create a run from an upload, poll, read results."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from investigations.models import QueryRun
from portal.models import ApiToken, AuditEvent
from tests.conftest import api_token, wait_for_run
from tests.flowlogs import sample_upload


def _token(user: Any, scopes: str) -> str:
    return api_token(user, scopes, f"siem-{scopes}")


@pytest.mark.django_db
def test_tokens_are_stored_hashed_and_shown_once(analyst: Any) -> None:
    key = _token(analyst, "read:investigations")
    token = ApiToken.objects.get()
    assert key.startswith("fp_") and len(key) > 40
    assert key not in token.key_hash and token.key_hash == ApiToken.hash_key(key)
    response = Client().get("/api/v1/investigations/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200


@pytest.mark.django_db
def test_bad_revoked_and_underscoped_tokens_are_refused(analyst: Any, investigation: Any) -> None:
    key = _token(analyst, "read:investigations")
    client = Client()
    assert client.get("/api/v1/runs/", HTTP_AUTHORIZATION="Bearer fp_wrong").status_code == 401
    response = client.post(
        "/api/v1/runs/",
        {
            "investigation": investigation.pk,
            "analyses": "traffic-summary",
            "files": sample_upload(),
        },
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 403
    assert "scope" in response.json()["detail"]
    from django.utils import timezone

    ApiToken.objects.update(revoked_at=timezone.now())
    assert client.get("/api/v1/runs/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401


@pytest.mark.django_db
def test_unknown_scopes_are_refused_by_the_command(analyst: Any) -> None:
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="Unknown scope"):
        _token(analyst, "read:everything")


@pytest.mark.django_db
def test_a_bad_analysis_name_gets_a_400_naming_the_known_ones(
    analyst: Any, investigation: Any
) -> None:
    key = _token(analyst, "read:investigations,write:runs")
    response = Client().post(
        "/api/v1/runs/",
        {"investigation": investigation.pk, "analyses": "nonsense", "files": sample_upload()},
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 400
    assert "Unknown analysis: nonsense" in response.json()["detail"]
    assert "traffic-summary" in response.json()["detail"]
    assert not QueryRun.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_siem_creates_a_run_polls_it_and_reads_the_results(
    celery_worker_process: Any, analyst: Any, investigation: Any
) -> None:
    key = _token(analyst, "read:investigations,write:runs")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = client.post(
        "/api/v1/runs/",
        {
            "investigation": investigation.pk,
            "analyses": ["traffic-summary", "ssh-inbound"],
            "target_ips": "10.0.1.10",
            "files": sample_upload(),
        },
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued"
    run_id = body["id"]
    token = ApiToken.objects.get()
    assert AuditEvent.objects.get(action="run.submitted").api_token_id == token.pk

    run = wait_for_run(QueryRun.objects.get(pk=run_id))
    status = client.get(f"/api/v1/runs/{run_id}/").json()
    assert status["status"] == "succeeded"
    assert status["records"]["ok"] == 7, status["records"]
    assert [r["analysis"] for r in status["results"]] == ["traffic-summary", "ssh-inbound"]

    result = client.get(f"/api/v1/runs/{run.pk}/results/ssh-inbound/", {"page_size": 2})
    assert result.status_code == 200
    data = result.json()
    assert data["total_groups"] == 3
    assert data["pages"] == 2
    assert len(data["rows"]) == 2
    second = client.get(
        f"/api/v1/runs/{run.pk}/results/ssh-inbound/", {"page_size": 2, "page": 2}
    ).json()
    seen = {(r["srcaddr"], r["action"]) for r in data["rows"] + second["rows"]}
    assert seen == {
        ("203.0.113.50", "REJECT"),
        ("203.0.113.50", "ACCEPT"),
        ("198.51.100.7", "ACCEPT"),
    }
    assert client.get(f"/api/v1/runs/{run.pk}/results/nope/").status_code == 404
