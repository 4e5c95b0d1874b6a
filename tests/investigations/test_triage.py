"""Triage on the pages: one finding in place (htmx) or many at once, with audit events, the
timeline, the change feed and the `finding.triaged` webhook; managers are refused."""

from __future__ import annotations

from typing import Any

import pytest

from investigations.models import Finding, QueryRun
from portal.models import AuditEvent, WebhookDelivery
from portal.sequences import next_change_number
from portal.webhooks import create_webhook
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def _finding(
    investigation: Any,
    run: Any,
    *,
    title: str,
    severity: float = 7,
    type: str = "Recon:EC2/SSHBruteForce",
    **evidence: Any,
) -> Finding:
    return Finding.objects.create(
        investigation=investigation,
        run=run,
        type=type,
        severity=severity,
        title=title,
        evidence=evidence
        or {
            "peer": "203.0.113.50",
            "targets": ["10.0.1.10"],
            "ports": [22],
            "flows": 1200,
            "bytes": 4500,
        },
        change_number=next_change_number(),
    )


@pytest.fixture
def run(investigation: Any) -> QueryRun:
    return QueryRun.objects.create(
        investigation=investigation,
        requested_by=investigation.owner,
        analyses=["detections"],
        status="succeeded",
    )


def test_an_analyst_triages_a_finding_in_place(
    investigation: Any, run: QueryRun, analyst: Any, teammate: Any
) -> None:
    finding = _finding(investigation, run, title="SSH brute force from 203.0.113.50")
    create_webhook(
        user=teammate, name="siem", url="https://siem.example.com/h", events=["finding.triaged"]
    )
    response = client_for(analyst).post(
        f"/investigations/findings/{finding.pk}/triage/",
        {"status": "false_positive", "assignee": teammate.pk, "comment": "Our scanner."},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="finding-{finding.pk}"' in html and "False positive" in html and "Saved." in html
    finding.refresh_from_db()
    assert (finding.status, finding.assignee, finding.triage_comment) == (
        "false_positive",
        teammate,
        "Our scanner.",
    )
    event = AuditEvent.objects.get(action="finding.triaged")
    assert event.details == {
        "from": "open",
        "to": "false_positive",
        "assignee_from": None,
        "assignee_to": "bob",
        "comment": "Our scanner.",
    }
    delivery = WebhookDelivery.objects.get(event="finding.triaged")
    assert delivery.payload["data"]["status"] == "false_positive"
    assert delivery.payload["data"]["assignee"] == "bob"
    page = client_for(analyst).get(f"/investigations/{investigation.pk}/").content.decode()
    assert "marked finding" in page and "Our scanner." in page
    assert "assigned to <strong>bob</strong>" in page
    feed = client_for(analyst).get("/api/v1/findings/changes/").json()
    assert [(item["id"], item["status"], item["assignee"]) for item in feed["results"]] == [
        (finding.pk, "false_positive", "bob")
    ]


def test_bulk_triage_changes_every_selected_finding_and_only_those(
    investigation: Any, run: QueryRun, analyst: Any
) -> None:
    first = _finding(investigation, run, title="one")
    second = _finding(investigation, run, title="two")
    untouched = _finding(investigation, run, title="three")
    response = client_for(analyst).post(
        f"/investigations/{investigation.pk}/findings/triage/",
        {"finding": [first.pk, second.pk], "status": "acknowledged", "assignee": ""},
    )
    assert response.status_code == 302
    assert sorted(Finding.objects.filter(status="acknowledged").values_list("pk", flat=True)) == [
        first.pk,
        second.pk,
    ]
    untouched.refresh_from_db()
    assert untouched.status == "open"
    assert AuditEvent.objects.filter(action="finding.triaged").count() == 2


def test_bulk_triage_refuses_findings_of_another_investigation(
    investigation: Any, run: QueryRun, analyst: Any, outsider: Any
) -> None:
    from tests.factories import InvestigationFactory

    other = InvestigationFactory(owner=outsider)
    other_run = QueryRun.objects.create(investigation=other, requested_by=outsider)
    theirs = _finding(other, other_run, title="not yours")
    mine = _finding(investigation, run, title="mine")
    client_for(analyst).post(
        f"/investigations/{investigation.pk}/findings/triage/",
        {"finding": [mine.pk, theirs.pk], "status": "resolved"},
    )
    assert set(Finding.objects.values_list("status", flat=True)) == {"open"}


def test_an_assignee_must_be_owner_or_member(
    investigation: Any, run: QueryRun, analyst: Any, outsider: Any
) -> None:
    finding = _finding(investigation, run, title="x")
    response = client_for(analyst).post(
        f"/investigations/findings/{finding.pk}/triage/",
        {"assignee": outsider.pk},
        HTTP_HX_REQUEST="true",
    )
    assert "Select a valid choice" in response.content.decode()
    finding.refresh_from_db()
    assert finding.assignee is None


def test_managers_see_no_controls_and_are_refused(
    investigation: Any, run: QueryRun, manager: Any
) -> None:
    finding = _finding(investigation, run, title="SSH brute force")
    client = client_for(manager)
    for url in (f"/investigations/{investigation.pk}/", f"/investigations/runs/{run.pk}/"):
        html = client.get(url).content.decode()
        assert "SSH brute force" in html and "Save triage" not in html
        assert "bulk-triage" not in html
    assert (
        client.post(
            f"/investigations/findings/{finding.pk}/triage/", {"status": "resolved"}
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/investigations/{investigation.pk}/findings/triage/",
            {"finding": [finding.pk], "status": "resolved"},
        ).status_code
        == 403
    )
    finding.refresh_from_db()
    assert finding.status == "open"


def test_evidence_is_a_table_with_address_links_not_a_dict(
    investigation: Any, run: QueryRun, analyst: Any
) -> None:
    _finding(investigation, run, title="Scan from 203.0.113.50")
    html = client_for(analyst).get(f"/investigations/{investigation.pk}/").content.decode()
    assert "evidence-table" in html and "{&#x27;peer" not in html and "{'peer" not in html
    assert '<a class="entity" href="/entities/203.0.113.50/">203.0.113.50</a>' in html
    assert '<th scope="row">Ports</th><td>22</td>' in html
    assert "<td>1,200</td>" in html


def test_findings_filter_by_status_severity_and_type_sorted_by_severity(
    investigation: Any, run: QueryRun, analyst: Any
) -> None:
    low = _finding(investigation, run, title="Low one", severity=2, type="Recon:EC2/Portscan")
    high = _finding(investigation, run, title="High one", severity=8)
    crit = _finding(investigation, run, title="Critical one", severity=9.5)
    Finding.objects.filter(pk=crit.pk).update(status="resolved")
    client = client_for(analyst)
    html = client.get(f"/investigations/{investigation.pk}/").content.decode()
    assert html.index("Critical one") < html.index("High one") < html.index("Low one")
    html = client.get(f"/investigations/{investigation.pk}/?severity=high").content.decode()
    assert "High one" in html and "Low one" not in html and "Critical one" not in html
    html = client.get(f"/investigations/{investigation.pk}/?status=open").content.decode()
    assert "Critical one" not in html and "High one" in html
    html = client.get(
        f"/investigations/{investigation.pk}/?type=Recon:EC2/Portscan"
    ).content.decode()
    assert "Low one" in html and "High one" not in html
    assert low.pk and high.pk


@pytest.mark.parametrize(
    ("text", "linked"),
    [
        ("Port scan from 198.51.100.7: 40 ports", ["198.51.100.7"]),
        ("connections from 203.0.113.77.", ["203.0.113.77"]),
        ("10.0.0.1:22 and 2001:db8::1.", ["10.0.0.1", "2001:db8::1"]),
        ("at 12:30:45, version 1.2.3.4.5, inside 10.0.0.0/16", []),
    ],
)
def test_addresses_in_text_link_to_their_page_and_nothing_else(
    text: str, linked: list[str]
) -> None:
    import re

    from investigations.templatetags.entity_links import ip_links

    assert re.findall(r'href="/entities/([^/"]+)/"', str(ip_links(text))) == linked


def test_result_cells_show_stored_timestamps_in_the_one_site_format() -> None:
    from investigations.templatetags.entity_links import cell

    assert str(cell("2026-12-03T10:37:36+00:00", "first_seen")) == (
        '<time datetime="2026-12-03T10:37:36+00:00">2026-12-03 10:37:36 UTC</time>'
    )
    # Another offset is shown in UTC; a Z suffix and fractions are read too.
    assert "2026-12-03 08:37:36 UTC" in str(cell("2026-12-03T10:37:36+02:00", "time"))
    assert "2026-12-03 10:37:36 UTC" in str(cell("2026-12-03T10:37:36.250Z", "time"))
    # Not a timestamp: left as text (a date alone, a port, an address stays a link).
    assert str(cell("2026-12-03", "day")) == "2026-12-03"
    assert str(cell(3389, "dstport")) == "3389"
    assert 'href="/entities/10.0.0.5/"' in str(cell("10.0.0.5", "srcaddr"))
