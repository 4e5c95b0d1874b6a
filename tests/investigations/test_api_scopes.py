"""Detection rows are findings: a token needs `read:findings` to read them through the run
endpoints (results, one result in any format, run detail, compare), not only
`read:investigations`."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.conftest import api_token

pytestmark = pytest.mark.django_db

FINDING_TITLE = "SSH brute force from 185.220.101.7"


def _token(user: Any, name: str, scopes: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token(user, scopes, name)}")


def _run(investigation: Any, analyst: Any) -> Any:
    from investigations.models import QueryRun, ResultRow, RunResult

    run = QueryRun.objects.create(
        investigation=investigation,
        requested_by=analyst,
        analyses=["traffic-summary", "detections"],
        status="succeeded",
    )
    summary = RunResult.objects.create(
        run=run,
        analysis="traffic-summary",
        title="Traffic",
        position=0,
        columns=["protocol", "flows"],
        row_count=1,
    )
    ResultRow.objects.create(result=summary, position=0, data={"protocol": "tcp", "flows": 3})
    detections = RunResult.objects.create(
        run=run,
        analysis="detections",
        title="Detections",
        position=1,
        columns=["type", "severity", "title"],
        row_count=1,
        summary={"findings": 1},
    )
    ResultRow.objects.create(
        result=detections,
        position=0,
        data={"type": "Recon:EC2/SSHBruteForce", "severity": 7, "title": FINDING_TITLE},
    )
    return run


@pytest.fixture
def runs(investigation: Any, analyst: Any) -> tuple[Any, Any]:
    return _run(investigation, analyst), _run(investigation, analyst)


@pytest.mark.parametrize("fmt", ["", "json", "csv", "ndjson", "ocsf"])
def test_a_read_investigations_token_cannot_read_detection_rows(
    fmt: str,
    analyst: Any,
    runs: tuple[Any, Any],
) -> None:
    run = runs[0]
    client = _token(analyst, "siem", "read:investigations")
    query = f"?format={fmt}" if fmt else ""
    response = client.get(f"/api/v1/runs/{run.pk}/results/detections/{query}")
    assert response.status_code == 403
    assert "read:findings" in response.json()["detail"]
    assert FINDING_TITLE not in response.content.decode()
    # Its other results are still its to read.
    assert client.get(f"/api/v1/runs/{run.pk}/results/traffic-summary/{query}").status_code == 200


def test_detection_results_are_left_out_of_listings_for_that_token(
    analyst: Any,
    runs: tuple[Any, Any],
) -> None:
    first, second = runs
    client = _token(analyst, "siem", "read:investigations")
    listed = client.get(f"/api/v1/runs/{first.pk}/results/").json()
    assert [r["analysis"] for r in listed] == ["traffic-summary"]
    detail = client.get(f"/api/v1/runs/{first.pk}/").json()
    assert [r["analysis"] for r in detail["results"]] == ["traffic-summary"]
    runs_page = client.get("/api/v1/runs/").json()["results"]
    assert all(r["analysis"] != "detections" for run in runs_page for r in run["results"])
    compared = client.get(f"/api/v1/runs/{second.pk}/compare/?with={first.pk}")
    assert compared.status_code == 200
    assert "detections" not in compared.content.decode()
    assert FINDING_TITLE not in compared.content.decode()


def test_with_read_findings_as_well_the_token_reads_them(
    analyst: Any,
    runs: tuple[Any, Any],
) -> None:
    run = runs[0]
    client = _token(analyst, "soar", "read:investigations,read:findings")
    rows = client.get(f"/api/v1/runs/{run.pk}/results/detections/").json()["rows"]
    assert rows[0]["title"] == FINDING_TITLE
    csv: Any = client.get(f"/api/v1/runs/{run.pk}/results/detections/?format=csv")
    assert csv.status_code == 200 and FINDING_TITLE in b"".join(csv.streaming_content).decode()
    listed = client.get(f"/api/v1/runs/{run.pk}/results/").json()
    assert [r["analysis"] for r in listed] == ["traffic-summary", "detections"]
    # A read:findings token alone still lacks the endpoint's read:investigations.
    alone = _token(analyst, "findings-only", "read:findings")
    assert alone.get(f"/api/v1/runs/{run.pk}/results/detections/").status_code == 403


def test_a_signed_in_user_reads_detection_rows_through_the_api(
    analyst: Any,
    runs: tuple[Any, Any],
) -> None:
    from tests.conftest import client_for

    response = client_for(analyst).get(f"/api/v1/runs/{runs[0].pk}/results/detections/")
    assert response.status_code == 200
    assert response.json()["rows"][0]["title"] == FINDING_TITLE
