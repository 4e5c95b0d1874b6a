"""One finding across runs: a later run of the investigation that sees the same identity
(detection, actor, target) adds a sighting instead of a new row; webhooks, the change feed,
the pages, the API and OCSF say which findings are new and which were seen again."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from analysis.detections import get_detection
from investigations.models import Finding, FindingSighting, QueryRun
from investigations.runs import pipeline
from investigations.runs.submit import submit_run
from investigations.services import triage_findings
from portal.models import AuditEvent, WebhookDelivery
from portal.webhooks import create_webhook
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

SCANNER = "198.51.100.23"  # port-scans 10.0.0.5 (TA0043 and TA0007) in the catalogue's case
PROBER = "80.82.77.139"  # probes MySQL on 10.0.0.40 (TA0043 only)
SCAN = list(get_detection("port-scan").cases[0].lines)
PROBE = list(get_detection("port-probe").cases[0].lines)
SCAN_IDENTITY = f"port-scan|{SCANNER}|10.0.0.5"


def _executed_run(investigation: Any, user: Any, lines: list[str]) -> QueryRun:
    run = submit_run(
        user=user,
        investigation=investigation,
        analyses=["detections"],
        files=[SimpleUploadedFile("flows.log", ("\n".join(lines) + "\n").encode())],
        parameters={"vpc_cidrs": ["10.0.0.0/16"]},
    )
    claimed = QueryRun.claim(run.pk)
    assert claimed is not None
    pipeline.execute(claimed)
    claimed.refresh_from_db()
    assert claimed.status == "succeeded", claimed.error
    return claimed


@pytest.fixture
def quiet(settings: Any, tmp_path: Any) -> None:
    settings.FLOW_CACHE_DIR = tmp_path / "flowcache"
    settings.WHOIS_ENABLED = False


@pytest.fixture
def two_runs(investigation: Any, analyst: Any, quiet: None) -> dict[str, Any]:
    """Run 1 sees the scan; run 2, over the same data and one more attack, sees it again and
    the probe for the first time. The owner listens for finding events."""
    create_webhook(
        user=analyst,
        name="siem",
        url="https://siem.example.com/hook",
        events=["finding.created", "finding.updated"],
    )
    first = _executed_run(investigation, analyst, SCAN)
    second = _executed_run(investigation, analyst, SCAN + PROBE)
    scan = Finding.objects.get(investigation=investigation, identity=SCAN_IDENTITY)
    probe = Finding.objects.get(investigation=investigation, type__contains="PortProbe")
    return {"first": first, "second": second, "scan": scan, "probe": probe}


def test_a_rerun_adds_a_sighting_instead_of_a_new_finding(two_runs: dict[str, Any]) -> None:
    first, second, scan, probe = (two_runs[k] for k in ("first", "second", "scan", "probe"))
    assert Finding.objects.filter(identity=SCAN_IDENTITY).count() == 1
    assert (scan.run_id, scan.last_run_id, scan.sighting_count) == (first.pk, second.pk, 2)
    sightings = list(scan.sightings.order_by("run_id"))
    assert [s.run_id for s in sightings] == [first.pk, second.pk]
    assert sightings[0].previous_severity is None
    assert sightings[1].previous_severity == scan.severity and not sightings[1].severity_rose
    assert sightings[1].flows == scan.evidence["flows"]
    assert (probe.run_id, probe.sighting_count, probe.identity) == (
        second.pk,
        1,
        f"port-probe|{PROBER}|10.0.0.40",
    )
    audited = AuditEvent.objects.get(action="run.succeeded", target_id=str(second.pk))
    assert (audited.details["findings_new"], audited.details["findings_sighted_again"]) == (1, 1)


def test_webhooks_say_created_then_updated(two_runs: dict[str, Any]) -> None:
    scan, probe, second = two_runs["scan"], two_runs["probe"], two_runs["second"]
    events = [
        (d.event, d.payload["data"]["finding"], d.payload["data"]["run"])
        for d in WebhookDelivery.objects.order_by("pk")
    ]
    assert sorted(events) == sorted(
        [
            ("finding.created", scan.pk, two_runs["first"].pk),
            ("finding.created", probe.pk, second.pk),
            ("finding.updated", scan.pk, second.pk),
        ]
    )
    updated = WebhookDelivery.objects.get(event="finding.updated").payload["data"]
    assert updated["identity"] == SCAN_IDENTITY
    assert (updated["sighting_count"], updated["severity_rose"], updated["reopened"]) == (
        2,
        False,
        False,
    )


def test_the_change_feed_says_new_or_updated(two_runs: dict[str, Any], analyst: Any) -> None:
    client = client_for(analyst)
    body = client.get("/api/v1/findings/changes/").json()
    changes = {row["id"]: row["change"] for row in body["results"]}
    assert changes == {two_runs["scan"].pk: "updated", two_runs["probe"].pk: "new"}
    row = next(r for r in body["results"] if r["id"] == two_runs["scan"].pk)
    assert (row["identity"], row["sighting_count"], row["first_run"], row["last_run"]) == (
        SCAN_IDENTITY,
        2,
        two_runs["first"].pk,
        two_runs["second"].pk,
    )
    # Triage is a change too: the probe, once triaged, is "updated".
    triage_findings(user=analyst, findings=[two_runs["probe"]], status="acknowledged")
    again = client.get(f"/api/v1/findings/changes/?cursor={body['next_cursor']}").json()
    assert [(r["id"], r["change"]) for r in again["results"]] == [(two_runs["probe"].pk, "updated")]


def test_both_run_pages_show_the_finding_with_its_sightings(
    two_runs: dict[str, Any], analyst: Any
) -> None:
    client = client_for(analyst)
    scan, probe = two_runs["scan"], two_runs["probe"]
    first = client.get(f"/investigations/runs/{two_runs['first'].pk}/").content.decode()
    second = client.get(f"/investigations/runs/{two_runs['second'].pk}/").content.decode()
    assert f'id="finding-{scan.pk}"' in first and f'id="finding-{probe.pk}"' not in first
    assert f'id="finding-{scan.pk}"' in second and f'id="finding-{probe.pk}"' in second
    assert "seen by 2 runs" in " ".join(second.split())
    assert "Sightings (2)" in second
    # The API's run filter and the run summary agree.
    listed = client.get(f"/api/v1/findings/?run={two_runs['first'].pk}").json()
    assert [r["id"] for r in listed["results"]] == [scan.pk]
    listed = client.get(f"/api/v1/findings/?run={two_runs['second'].pk}").json()
    assert {r["id"] for r in listed["results"]} == {scan.pk, probe.pk}
    sightings = client.get(f"/api/v1/findings/{scan.pk}/sightings/").json()
    assert sightings["count"] == 2
    assert [s["run"] for s in sightings["results"]] == [two_runs["second"].pk, two_runs["first"].pk]
    assert sightings["results"][0]["previous_severity"] == float(scan.severity)


def test_the_investigation_lists_one_row_per_identity_filterable_by_tactic(
    two_runs: dict[str, Any], analyst: Any, investigation: Any
) -> None:
    client = client_for(analyst)
    scan, probe = two_runs["scan"], two_runs["probe"]
    brute = Finding.objects.create(
        investigation=investigation,
        run=two_runs["second"],
        identity="ssh-brute-force|203.0.113.50|10.0.0.5",
        type="UnauthorizedAccess:EC2/SSHBruteForce",
        severity=8,
        title="SSH brute force",
        evidence={"peer": "203.0.113.50", "attack": [{"tactic": "TA0006", "technique": "T1110"}]},
    )
    page = client.get(f"/investigations/{investigation.pk}/").content.decode()
    assert page.count(f'id="finding-{scan.pk}"') == 1
    shown = {pk for pk in (scan.pk, probe.pk, brute.pk) if f'id="finding-{pk}"' in page}
    assert shown == {scan.pk, probe.pk, brute.pk}
    # Most severe first, then most recently seen.
    assert page.index(f'id="finding-{brute.pk}"') < page.index(f'id="finding-{scan.pk}"')

    def listed(query: str) -> set[int]:
        html = client.get(f"/investigations/{investigation.pk}/?{query}").content.decode()
        return {pk for pk in (scan.pk, probe.pk, brute.pk) if f'id="finding-{pk}"' in html}

    assert listed("tactic=TA0043") == {scan.pk, probe.pk}  # Reconnaissance
    assert listed("tactic=TA0006") == {brute.pk}  # Credential Access
    assert listed("tactic=TA0010") == set()
    assert listed("tactic=TA0043&type=Recon:EC2/Portscan") == {scan.pk}
    api = client.get("/api/v1/findings/?tactic=TA0006").json()
    assert [r["id"] for r in api["results"]] == [brute.pk]
    assert client.get("/api/v1/findings/?tactic=TA9999").status_code == 400


def test_ocsf_uses_the_identity_and_counts_sightings(
    two_runs: dict[str, Any], analyst: Any
) -> None:
    body = client_for(analyst).get("/api/v1/findings/?format=ocsf").json()
    event = next(e for e in body["results"] if e["metadata"]["uid"] == str(two_runs["scan"].pk))
    investigation = two_runs["scan"].investigation_id
    assert event["finding_info"]["uid"] == (
        f"flowlog-portal-investigation-{investigation}-finding-{SCAN_IDENTITY}"
    )
    assert event["count"] == 2
    assert event["unmapped"]["last_run"] == two_runs["second"].pk


@pytest.mark.parametrize(
    ("triaged", "after"),
    [("resolved", "open"), ("false_positive", "false_positive"), ("acknowledged", "acknowledged")],
)
def test_a_resolved_finding_seen_again_reopens_other_triage_stays(
    investigation: Any, analyst: Any, quiet: None, triaged: str, after: str
) -> None:
    _executed_run(investigation, analyst, SCAN)
    scan = Finding.objects.get(identity=SCAN_IDENTITY)
    triage_findings(user=analyst, findings=[scan], status=triaged, comment="looked at it")
    second = _executed_run(investigation, analyst, SCAN)
    scan.refresh_from_db()
    assert (scan.status, scan.sighting_count, scan.triage_comment) == (after, 2, "looked at it")
    reopened = AuditEvent.objects.filter(action="finding.reopened", target_id=str(scan.pk))
    if triaged == "resolved":
        assert reopened.get().details == {"from": "resolved", "to": "open", "run": second.pk}
    else:
        assert not reopened.exists()


def test_severity_only_rises_and_the_sighting_remembers(
    investigation: Any, analyst: Any, quiet: None
) -> None:
    from investigations.runs import lifecycle

    def succeed(severity: int) -> QueryRun:
        from analysis.analyzers.result import AnalysisResult

        run = QueryRun.objects.create(
            investigation=investigation, requested_by=analyst, analyses=["detections"]
        )
        claimed = QueryRun.claim(run.pk)
        assert claimed is not None
        finding = {
            "type": "Recon:EC2/Portscan",
            "identity": "port-scan|203.0.113.9|",
            "severity": severity,
            "title": f"scan at {severity}",
            "evidence": {"peer": "203.0.113.9", "flows": severity},
        }
        result = AnalysisResult(
            name="detections",
            title="Detections",
            columns=["n"],
            rows=[],
            total_groups=0,
            truncated=False,
            findings=[finding],
        )
        assert lifecycle.succeed(claimed, results=[result], records={}, data_read={})
        return claimed

    succeed(5)
    succeed(8)
    third = succeed(3)
    finding = Finding.objects.get(identity="port-scan|203.0.113.9|")
    assert (float(finding.severity), finding.title, finding.sighting_count) == (8.0, "scan at 3", 3)
    rose = [s.severity_rose for s in finding.sightings.order_by("run_id")]
    assert rose == [False, True, False]
    latest = FindingSighting.objects.get(finding=finding, run=third)
    assert (float(latest.severity), float(latest.previous_severity or 0)) == (3.0, 8.0)


def test_the_timeline_says_a_resolved_finding_was_seen_again(
    investigation: Any, analyst: Any, quiet: None
) -> None:
    _executed_run(investigation, analyst, SCAN)
    scan = Finding.objects.get(identity=SCAN_IDENTITY)
    triage_findings(user=analyst, findings=[scan], status="resolved")
    second = _executed_run(investigation, analyst, SCAN)
    page = client_for(analyst).get(f"/investigations/{investigation.pk}/").content.decode()
    text = " ".join(re.sub(r"<[^>]+>", "", page).split())
    scan.refresh_from_db()
    assert (
        f"Run #{second.pk} saw finding “{scan.title}” again: it was Resolved, it is Open again"
        in text
    )
    assert f"Run #{second.pk} saw 1 earlier finding again, highest" in text


def test_the_timeline_counts_new_and_again_per_run(
    two_runs: dict[str, Any], analyst: Any, investigation: Any
) -> None:
    page = client_for(analyst).get(f"/investigations/{investigation.pk}/").content.decode()
    text = " ".join(re.sub(r"<[^>]+>", "", page).split())
    first, second = two_runs["first"].pk, two_runs["second"].pk
    assert f"Run #{first} raised 1 finding, highest" in text
    assert f"Run #{second} raised 1 finding and saw 1 earlier one again, highest" in text
