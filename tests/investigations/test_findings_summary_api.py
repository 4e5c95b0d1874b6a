"""The findings summary through the API: the summary page's numbers as one JSON object, for
whoever may see the investigations (managers: all), with a token's `read:findings`."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from investigations.services import triage_findings
from tests.conftest import api_token, client_for
from tests.factories import InvestigationFactory
from tests.investigations.test_reports_summary import _finding

pytestmark = pytest.mark.django_db

URL = "/api/v1/findings-summary/"
BRUTE = "UnauthorizedAccess:EC2/SSHBruteForce"
SCAN = "Recon:EC2/Portscan"
BACKDOOR = "Backdoor:EC2/C&CActivity"


@pytest.fixture
def findings(investigation: Any, analyst: Any, outsider: Any) -> None:
    brute = _finding(investigation, BRUTE, 8, age=timedelta(hours=4))
    _finding(investigation, BRUTE, 9.5, age=timedelta(hours=1))
    scan = _finding(investigation, SCAN, 5, age=timedelta(hours=2))
    _finding(investigation, SCAN, 5, age=timedelta(days=90))  # outside the default period
    triage_findings(user=analyst, findings=[brute], status="resolved")
    triage_findings(user=analyst, findings=[scan], status="acknowledged")
    private = InvestigationFactory(owner=outsider, title="Someone else's")
    _finding(private, BACKDOOR, 9, age=timedelta(hours=3))


def _token(user: Any, scopes: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token(user, scopes, scopes)}")


def _by_type(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["type"]: row for row in body["by_type"]}


def test_the_api_gives_the_pages_numbers(findings: None, analyst: Any) -> None:
    today = timezone.now().date()
    period = {"since": str(today - timedelta(days=6)), "until": str(today)}
    response = client_for(analyst).get(URL, period)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["since"], body["until"], body["investigations"]) == (
        period["since"],
        period["until"],
        1,
    )
    assert [row["type"] for row in body["by_type"]] == [BRUTE, SCAN]  # most findings first
    brute = _by_type(body)[BRUTE]
    assert brute["findings"] == 2 and brute["triaged"] == 1
    assert brute["severities"] == {"critical": 1, "high": 1, "medium": 0, "low": 0}
    assert brute["statuses"] == {"open": 1, "acknowledged": 0, "false_positive": 0, "resolved": 1}
    assert abs(brute["median_hours_to_triage"] - 4.0) < 0.05
    assert body["total"]["type"] == "All types" and body["total"]["findings"] == 3
    # The CSV of the page, row for row.
    page = client_for(analyst).get("/investigations/summary/", {**period, "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(page.streaming_content).decode())))
    for row in rows:
        api = body["total"] if row["type"] == "All types" else _by_type(body)[row["type"]]
        assert int(row["findings"]) == api["findings"]
        assert [int(row[s]) for s in api["severities"]] == list(api["severities"].values())
        assert [int(row[s]) for s in api["statuses"]] == list(api["statuses"].values())
        assert int(row["triaged"]) == api["triaged"]
        median = api["median_hours_to_triage"]
        assert row["median_hours_to_triage"] == ("" if median is None else str(median))
    assert len(rows) == len(body["by_type"]) + 1


def test_the_period_defaults_to_thirty_days_and_bounds_the_findings(
    findings: None, analyst: Any
) -> None:
    body = client_for(analyst).get(URL).json()
    today = timezone.now().date()
    assert (body["since"], body["until"]) == (str(today - timedelta(days=29)), str(today))
    assert _by_type(body)[SCAN]["findings"] == 1
    old = client_for(analyst).get(
        URL, {"since": str(today - timedelta(days=95)), "until": str(today - timedelta(days=85))}
    )
    assert _by_type(old.json()).keys() == {SCAN} and old.json()["total"]["findings"] == 1


def test_a_manager_sees_every_investigation_and_an_outsider_only_their_own(
    findings: None, manager: Any, outsider: Any
) -> None:
    everything = client_for(manager).get(URL).json()
    assert set(_by_type(everything)) == {BRUTE, SCAN, BACKDOOR}
    assert everything["investigations"] == 2
    mine = client_for(outsider).get(URL).json()
    assert set(_by_type(mine)) == {BACKDOOR} and mine["total"]["findings"] == 1


def test_a_token_needs_read_findings_and_a_caller_a_login(findings: None, manager: Any) -> None:
    assert _token(manager, "read:investigations").get(URL).status_code == 403
    response = _token(manager, "read:findings").get(URL)
    assert response.status_code == 200 and response.json()["total"]["findings"] == 4
    assert Client().get(URL).status_code == 401


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"since": "2026-02-02", "until": "2026-02-01"}, "non_field_errors", "starts after"),
        ({"since": "2024-01-01", "until": "2026-01-01"}, "non_field_errors", "at most 366"),
        ({"since": "9999-12-31", "until": "9999-12-31"}, "non_field_errors", "end before"),
        ({"since": "yesterday"}, "since", "valid date"),
        ({"until": "2026-13-01"}, "until", "valid date"),
    ],
)
def test_a_bad_period_is_a_400_naming_why(
    analyst: Any, query: dict[str, str], field: str, message: str
) -> None:
    response = client_for(analyst).get(URL, query)
    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    # The page refuses the same period (it once failed on the last day there is).
    assert client_for(analyst).get("/investigations/summary/", query).status_code == 400


def test_the_schema_types_the_summary(analyst: Any) -> None:
    schema = client_for(analyst).get("/api/v1/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/findings-summary/"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"since", "until"}
    returned = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert returned["$ref"].endswith("/FindingsSummary")
    component = schema["components"]["schemas"]["FindingsSummary"]
    assert set(component["required"]) == {"since", "until", "investigations", "total", "by_type"}
