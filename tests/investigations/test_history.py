"""Run history across investigations: managers see all, analysts their own; filters match the
API's."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from investigations.models import QueryRun
from tests.conftest import client_for
from tests.factories import InvestigationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(investigation: Any, outsider: Any) -> dict[str, QueryRun]:
    private = InvestigationFactory(owner=outsider, title="Mallory's own")
    return {
        "ssh": QueryRun.objects.create(investigation=investigation, requested_by=investigation.owner,
                                       analyses=["ssh-inbound"], status="succeeded"),
        "summary": QueryRun.objects.create(investigation=investigation,
                                           requested_by=investigation.owner,
                                           analyses=["traffic-summary"], status="failed"),
        "private": QueryRun.objects.create(investigation=private, requested_by=outsider,
                                           analyses=["ssh-inbound"]),
    }


def test_a_manager_sees_every_run_and_filters_them(runs: dict[str, QueryRun],
                                                   manager: Any) -> None:
    client = client_for(manager)
    page = client.get(reverse("investigations:run_history"))
    assert b"Mallory&#x27;s own" in page.content and b"Web tier brute force" in page.content
    failed = client.get(reverse("investigations:run_history"), {"status": "failed"})
    assert f"#{runs['summary'].pk}<".encode() in failed.content
    assert f"#{runs['ssh'].pk}<".encode() not in failed.content
    api = client.get("/api/v1/runs/", {"analysis": "ssh-inbound", "analyst": "mallory"}).json()
    assert [r["id"] for r in api["results"]] == [runs["private"].pk]


def test_an_analyst_sees_only_runs_of_their_investigations(runs: dict[str, QueryRun],
                                                           teammate: Any) -> None:
    page = client_for(teammate).get(reverse("investigations:run_history"))
    assert b"Mallory" not in page.content
    ids = {r["id"] for r in client_for(teammate).get("/api/v1/runs/").json()["results"]}
    assert ids == {runs["ssh"].pk, runs["summary"].pk}


def test_bad_filters_are_a_400_in_the_api(runs: dict[str, QueryRun], manager: Any) -> None:
    response = client_for(manager).get("/api/v1/runs/", {"since": "last tuesday"})
    assert response.status_code == 400
    assert "since" in response.json()
