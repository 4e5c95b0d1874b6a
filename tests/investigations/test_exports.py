"""Result downloads (CSV, JSON, NDJSON, OCSF) and findings as OCSF Detection Findings."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from investigations.models import Finding, QueryRun, ResultRow, RunResult
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

ROWS = [
    {"srcaddr": "203.0.113.50", "action": "REJECT", "flows": 2, "packets": 22, "bytes": 1320},
    {"srcaddr": "=cmd|' /C calc'!A0", "action": "ACCEPT", "flows": 1, "packets": 5, "bytes": 300},
]


@pytest.fixture
def result(investigation: Any) -> RunResult:
    run = QueryRun.objects.create(
        investigation=investigation,
        requested_by=investigation.owner,
        analyses=["ssh-inbound"],
        status="succeeded",
        finished_at=timezone.now(),
    )
    stored = RunResult.objects.create(
        run=run,
        analysis="ssh-inbound",
        title="SSH inbound",
        columns=["srcaddr", "action", "flows", "packets", "bytes"],
        row_count=2,
        total_groups=2,
    )
    for i, row in enumerate(ROWS):
        ResultRow.objects.create(result=stored, position=i, data=row)
    return stored


def _body(response: Any) -> str:
    return b"".join(response.streaming_content).decode()


def test_csv_download_from_the_page_is_formula_safe(result: RunResult, teammate: Any) -> None:
    url = reverse("investigations:run_result", args=[result.run_id, "ssh-inbound"])
    response = client_for(teammate).get(url, {"format": "csv"})
    assert response["Content-Disposition"].endswith('ssh-inbound.csv"')
    rows = list(csv.reader(io.StringIO(_body(response))))
    assert rows[0] == ["srcaddr", "action", "flows", "packets", "bytes"]
    assert rows[1] == ["203.0.113.50", "REJECT", "2", "22", "1320"]
    assert rows[2][0] == "'=cmd|' /C calc'!A0"


def test_api_json_and_ndjson_downloads_hold_every_row(result: RunResult, analyst: Any) -> None:
    client = client_for(analyst)
    url = f"/api/v1/runs/{result.run_id}/results/ssh-inbound/"
    whole = json.loads(_body(client.get(url, {"format": "json"})))
    assert whole["total_groups"] == 2 and whole["rows"] == ROWS
    lines = _body(client.get(url, {"format": "ndjson"})).splitlines()
    assert [json.loads(line) for line in lines] == ROWS
    assert client.get(url, {"format": "xml"}).status_code == 404


def test_rows_as_ocsf_network_activity(result: RunResult, analyst: Any) -> None:
    body = _body(
        client_for(analyst).get(
            f"/api/v1/runs/{result.run_id}/results/ssh-inbound/", {"format": "ocsf"}
        )
    )
    first = json.loads(body.splitlines()[0])
    assert (first["class_uid"], first["category_uid"], first["type_uid"]) == (4001, 4, 400106)
    assert first["metadata"]["version"] == "1.1.0"
    assert first["src_endpoint"] == {"ip": "203.0.113.50"}
    assert first["action_id"] == 2 and first["traffic"] == {"packets": 22, "bytes": 1320}


def test_findings_as_ocsf_detection_findings(result: RunResult, analyst: Any) -> None:
    Finding.objects.create(
        investigation=result.run.investigation,
        run=result.run,
        type="UnauthorizedAccess:EC2/SSHBruteForce",
        severity=8,
        title="SSH brute force",
        explanation="400 attempts",
        evidence={
            "peer": "203.0.113.50",
            "target": "10.0.1.10",
            "attack": [{"tactic": "TA0006", "technique": "T1110.001"}],
        },
        first_seen=timezone.now(),
        last_seen=timezone.now(),
    )
    body = client_for(analyst).get("/api/v1/findings/", {"format": "ocsf"}).json()
    event = body["results"][0]
    assert (event["class_uid"], event["category_uid"], event["type_uid"]) == (2004, 2, 200401)
    assert (event["severity_id"], event["severity"]) == (4, "High")
    assert event["finding_info"]["types"] == ["UnauthorizedAccess:EC2/SSHBruteForce"]
    assert event["finding_info"]["attacks"] == [{
        "tactic": {"uid": "TA0006", "name": "Credential Access"},
        "technique": {"uid": "T1110.001", "name": "Brute Force: Password Guessing"},
        "version": "v15"}]  # fmt: skip
    assert event["evidences"] == [
        {"src_endpoint": {"ip": "203.0.113.50"}, "dst_endpoint": {"ip": "10.0.1.10"}}
    ]
    assert event["metadata"]["version"] == "1.1.0"
