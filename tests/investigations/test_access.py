"""Who may see and change investigations and runs, on pages and through the API."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from investigations.models import Investigation, QueryRun
from tests.conftest import client_for
from tests.flowlogs import sample_upload

pytestmark = pytest.mark.django_db


def _run(investigation: Investigation) -> QueryRun:
    return QueryRun.objects.create(
        investigation=investigation,
        requested_by=investigation.owner,
        analyses=["traffic-summary"],
    )


def test_owner_and_member_see_the_investigation(
    investigation: Any, analyst: Any, teammate: Any
) -> None:
    url = reverse("investigations:detail", args=[investigation.pk])
    for user in (analyst, teammate):
        response = client_for(user).get(url)
        assert response.status_code == 200
        assert b"Web tier brute force" in response.content


def test_an_outsider_analyst_gets_404_for_an_unshared_investigation(
    investigation: Any, outsider: Any
) -> None:
    client = client_for(outsider)
    run = _run(investigation)
    assert client.get(reverse("investigations:detail", args=[investigation.pk])).status_code == 404
    assert (
        client.get(reverse("investigations:run_create", args=[investigation.pk])).status_code == 404
    )
    assert client.get(reverse("investigations:run_detail", args=[run.pk])).status_code == 404
    assert client.get(reverse("investigations:run_progress", args=[run.pk])).status_code == 404
    listing = client.get(reverse("investigations:list"))
    assert b"Web tier brute force" not in listing.content


def test_a_manager_reads_everything_but_gets_403_when_starting_a_run(
    investigation: Any, manager: Any
) -> None:
    client = client_for(manager)
    assert client.get(reverse("investigations:detail", args=[investigation.pk])).status_code == 200
    assert b"Web tier brute force" in client.get(reverse("investigations:list")).content
    url = reverse("investigations:run_create", args=[investigation.pk])
    assert client.get(url).status_code == 403
    response = client.post(
        url,
        {
            "log_files": sample_upload(),
            "analyses": ["traffic-summary"],
            "top_n": 100,
            "rank_by": "flows",
        },
    )
    assert response.status_code == 403
    assert not QueryRun.objects.exists()
    assert client.get(reverse("investigations:create")).status_code == 403


def test_a_manager_cannot_cancel_a_run(investigation: Any, manager: Any) -> None:
    run = _run(investigation)
    response = client_for(manager).post(reverse("investigations:run_cancel", args=[run.pk]))
    assert response.status_code == 403
    run.refresh_from_db()
    assert run.status == "queued"


def test_api_applies_the_same_rules(investigation: Any, outsider: Any, manager: Any) -> None:
    run = _run(investigation)
    outsider_client = client_for(outsider)
    assert outsider_client.get(f"/api/v1/investigations/{investigation.pk}/").status_code == 404
    assert outsider_client.get(f"/api/v1/runs/{run.pk}/").status_code == 404
    assert outsider_client.get("/api/v1/investigations/").json()["count"] == 0

    manager_client = client_for(manager)
    assert manager_client.get(f"/api/v1/runs/{run.pk}/").status_code == 200
    response = manager_client.post(
        "/api/v1/runs/",
        {
            "investigation": investigation.pk,
            "analyses": "traffic-summary",
            "files": sample_upload(),
        },
    )
    assert response.status_code == 403
    assert QueryRun.objects.count() == 1


def test_anonymous_api_calls_get_401() -> None:
    from django.test import Client

    response = Client().get("/api/v1/runs/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
