"""The managers' findings summary: counts by type, severity and status over a period, time to
first triage from the audit log, the CSV download, and only what the user may see."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from investigations.models import Finding, QueryRun
from investigations.services import triage_findings
from tests.conftest import client_for
from tests.factories import InvestigationFactory

pytestmark = pytest.mark.django_db

FORMULA = '=HYPERLINK("http://evil.example")'


def _finding(investigation: Any, kind: str, severity: float, *, age: timedelta) -> Finding:
    run = QueryRun.objects.filter(investigation=investigation).first() or QueryRun.objects.create(
        investigation=investigation, requested_by=investigation.owner, status="succeeded"
    )
    finding = Finding.objects.create(
        investigation=investigation, run=run, type=kind, severity=severity, title=kind
    )
    Finding.objects.filter(pk=finding.pk).update(created_at=timezone.now() - age)
    finding.refresh_from_db()
    return finding


@pytest.fixture
def findings(investigation: Any, analyst: Any, outsider: Any) -> dict[str, Any]:
    brute = _finding(
        investigation, "UnauthorizedAccess:EC2/SSHBruteForce", 8, age=timedelta(hours=4)
    )
    _finding(investigation, "UnauthorizedAccess:EC2/SSHBruteForce", 9.5, age=timedelta(hours=1))
    scan = _finding(investigation, "Recon:EC2/Portscan", 5, age=timedelta(hours=2))
    _finding(investigation, FORMULA, 2, age=timedelta(hours=1))
    _finding(investigation, "Recon:EC2/Portscan", 5, age=timedelta(days=90))  # outside the period
    triage_findings(user=analyst, findings=[brute], status="resolved")
    triage_findings(user=analyst, findings=[scan], comment="looking")
    triage_findings(user=analyst, findings=[scan], status="false_positive")
    private = InvestigationFactory(owner=outsider, title="Someone else's")
    _finding(private, "Backdoor:EC2/C&CActivity", 9, age=timedelta(hours=3))
    return {"brute": brute, "scan": scan}


def _row(body: str, kind: str) -> list[str]:
    start = body.index(f"<code>{kind}</code>")
    row = body[start : body.index("</tr>", start)]
    return [cell.split(">", 1)[1] for cell in row.split("<td")[1:]]


def test_the_summary_counts_findings_by_type_severity_status_and_time_to_triage(
    findings: Any, analyst: Any
) -> None:
    response = client_for(analyst).get("/investigations/summary/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "4 findings in 1 investigation" in body
    assert "Backdoor:EC2/C&amp;CActivity" not in body  # an investigation alice may not see
    # type, findings, critical, high, medium, low, open, acknowledged, false positive,
    # resolved, triaged, median hours, mean hours
    brute = [c.removesuffix("</td>") for c in _row(body, "UnauthorizedAccess:EC2/SSHBruteForce")]
    assert brute[:10] == ["2", "1", "1", "0", "0", "1", "0", "0", "1", "1"]
    assert abs(float(brute[10]) - 4.0) < 0.05 and brute[10] == brute[11]
    scan = [c.removesuffix("</td>") for c in _row(body, "Recon:EC2/Portscan")]
    assert scan[:10] == ["1", "0", "0", "1", "0", "0", "0", "1", "0", "1"]
    # The first triage change (the comment), not the later status change, ends the wait.
    assert abs(float(scan[10]) - 2.0) < 0.05 and scan[10] == scan[11]


def test_a_manager_sees_every_investigation_and_an_outsider_only_their_own(
    findings: Any, manager: Any, outsider: Any
) -> None:
    assert (
        "Backdoor:EC2/C&amp;CActivity"
        in client_for(manager).get("/investigations/summary/").content.decode()
    )
    mine = client_for(outsider).get("/investigations/summary/").content.decode()
    assert "1 finding in 1 investigation" in mine
    assert "SSHBruteForce" not in mine


def test_the_csv_holds_the_same_numbers_with_formulas_neutralised(
    findings: Any, analyst: Any
) -> None:
    today = timezone.now().date()
    response = client_for(analyst).get(
        "/investigations/summary/",
        {"since": str(today - timedelta(days=6)), "until": str(today), "format": "csv"},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_type = {row["type"]: row for row in rows}
    assert set(by_type) == {
        "UnauthorizedAccess:EC2/SSHBruteForce",
        "Recon:EC2/Portscan",
        "'" + FORMULA,
        "All types",
    }
    brute = by_type["UnauthorizedAccess:EC2/SSHBruteForce"]
    assert (brute["findings"], brute["critical"], brute["high"], brute["resolved"]) == (
        "2",
        "1",
        "1",
        "1",
    )
    assert brute["triaged"] == "1"
    assert abs(float(brute["median_hours_to_triage"]) - 4.0) < 0.01
    total = by_type["All types"]
    assert (total["findings"], total["triaged"], total["open"]) == ("4", "2", "2")


def test_the_period_bounds_the_findings_and_a_bad_period_is_refused(
    findings: Any, analyst: Any
) -> None:
    today = timezone.now().date()
    old = client_for(analyst).get(
        "/investigations/summary/",
        {"since": str(today - timedelta(days=95)), "until": str(today - timedelta(days=85))},
    )
    assert "1 finding in 1 investigation" in old.content.decode()
    backwards = client_for(analyst).get(
        "/investigations/summary/", {"since": str(today), "until": str(today - timedelta(days=1))}
    )
    assert backwards.status_code == 400
    assert "The period starts after it ends." in backwards.content.decode()
    assert (
        client_for(analyst).get("/investigations/summary/", {"since": "yesterday"}).status_code
        == 400
    )
    assert client_for(analyst).get("/investigations/summary/", {"format": "xls"}).status_code == 400
