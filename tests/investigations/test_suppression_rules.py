"""Suppression rules: checked when made, managed by who may change the investigation (admins
for global ones), honoured by later runs, which list the findings they match apart and keep
the rules they applied; audited, in the timeline, on the pages and in the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from analysis.detections import get_detection
from investigations.models import Finding, QueryRun, SuppressionRule
from investigations.runs import pipeline
from investigations.runs.submit import submit_run
from investigations.suppressions import (
    SuppressionRuleInvalid,
    create_rule,
    disable_rule,
    prefill_from_finding,
)
from portal.models import AuditEvent
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

SCANNER = "198.51.100.23"  # port-scans 10.0.0.5 in the catalogue's own case
PROBER = "80.82.77.139"  # probes MySQL on 10.0.0.40
LOG = (
    "\n".join(
        [*get_detection("port-scan").cases[0].lines, *get_detection("port-probe").cases[0].lines]
    )
    + "\n"
)


def _rule(user: Any, investigation: Any, **fields: Any) -> SuppressionRule:
    values: dict[str, Any] = {
        "name": "authorised scanner",
        "reason": "Qualys weekly scan, ticket SEC-42",
        "detection": "port-scan",
        "actor": SCANNER,
    }
    values.update(fields)
    return create_rule(user=user, investigation=investigation, **values)


def _executed_run(
    investigation: Any, user: Any, settings: Any, tmp_path: Any, **parameters: Any
) -> QueryRun:
    settings.FLOW_CACHE_DIR = tmp_path / "flowcache"
    settings.WHOIS_ENABLED = False
    run = submit_run(
        user=user,
        investigation=investigation,
        analyses=["detections"],
        files=[SimpleUploadedFile("scan.log", LOG.encode())],
        parameters={"vpc_cidrs": ["10.0.0.0/16"], **parameters},
    )
    claimed = QueryRun.claim(run.pk)
    assert claimed is not None
    pipeline.execute(claimed)
    claimed.refresh_from_db()
    assert claimed.status == "succeeded", claimed.error
    return claimed


def _page(client: Any, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return " ".join(response.content.decode().split())


# ------------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"actor": "10.0.0.300"}, "actor", "'10.0.0.300' is not an address or CIDR"),
        ({"actor": "10.0.4.1/24"}, "actor", "bits after the prefix must be zero"),
        ({"target": "web-1"}, "target", "Target 'web-1' is not an address"),
        ({"detection": "ssh-bruteforce"}, "detection", "Unknown detection 'ssh-bruteforce'"),
        ({"actor": "", "target": ""}, "actor", "Give an actor or a target"),
        ({"reason": "  "}, "reason", "the reason is required"),
        ({"name": ""}, "name", "Give the rule a name"),
    ],
)
def test_it_rejects_a_bad_rule_with_a_clear_error(
    analyst: Any, investigation: Any, fields: dict[str, str], field: str, message: str
) -> None:
    with pytest.raises(SuppressionRuleInvalid) as caught:
        _rule(analyst, investigation, **fields)
    assert message in caught.value.errors[field]
    assert not SuppressionRule.objects.exists()


def test_an_expiry_in_the_past_is_refused(analyst: Any, investigation: Any) -> None:
    with pytest.raises(SuppressionRuleInvalid) as caught:
        _rule(analyst, investigation, expires_at=timezone.now() - timedelta(minutes=1))
    assert "must be in the future" in caught.value.errors["expires_at"]


def test_a_bare_address_is_stored_as_a_host_range_and_audited(
    analyst: Any, investigation: Any
) -> None:
    rule = _rule(analyst, investigation, actor="198.51.100.23", target="2001:db8::5")
    assert (rule.actor, rule.target) == ("198.51.100.23/32", "2001:db8::5/128")
    assert rule.label == f"rule 'authorised scanner' (#{rule.pk})"
    event = AuditEvent.objects.get(action="suppression.created")
    assert event.target_id == str(rule.pk)
    assert event.details["actor"] == "198.51.100.23/32"
    assert event.details["investigation"] == investigation.pk


# ----------------------------------------------------------------------------- permissions


def test_members_manage_their_investigations_rules_and_others_may_not(
    analyst: Any, teammate: Any, manager: Any, admin_user: Any, outsider: Any, investigation: Any
) -> None:
    rule = _rule(teammate, investigation)
    for user in (manager, admin_user, outsider):
        with pytest.raises(PermissionDenied):
            _rule(user, investigation, name="not mine")
        with pytest.raises(PermissionDenied):
            disable_rule(user=user, rule=rule)
    disable_rule(user=analyst, rule=rule)
    rule.refresh_from_db()
    assert rule.disabled_by == analyst and rule.state() == "disabled"
    assert SuppressionRule.objects.count() == 1


def test_only_admins_make_global_rules(analyst: Any, manager: Any, admin_user: Any) -> None:
    for user in (analyst, manager):
        with pytest.raises(PermissionDenied):
            _rule(user, None)
    rule = _rule(admin_user, None)
    assert rule.is_global
    with pytest.raises(PermissionDenied):
        disable_rule(user=analyst, rule=rule)


def test_managers_read_the_rules_page_but_cannot_post(
    manager: Any, investigation: Any, analyst: Any
) -> None:
    _rule(analyst, investigation)
    client = client_for(manager)
    html = _page(client, f"/investigations/{investigation.pk}/suppressions/")
    assert "authorised scanner" in html and "Save rule" not in html and "Disable" not in html
    response = client.post(
        f"/investigations/{investigation.pk}/suppressions/",
        {"name": "x", "reason": "y", "detection": "*", "actor": "10.0.0.1"},
    )
    assert response.status_code == 403
    assert SuppressionRule.objects.count() == 1


def test_an_outsider_does_not_learn_the_rules_exist(outsider: Any, investigation: Any) -> None:
    response = client_for(outsider).get(f"/investigations/{investigation.pk}/suppressions/")
    assert response.status_code == 404


# ----------------------------------------------------------------------------------- runs


def test_a_run_lists_the_finding_a_rule_matches_apart(
    analyst: Any, investigation: Any, settings: Any, tmp_path: Any
) -> None:
    rule = _rule(analyst, investigation)
    run = _executed_run(investigation, analyst, settings, tmp_path)
    # The scan is suppressed, the probe is not.
    assert list(Finding.objects.filter(run=run).values_list("evidence__peer", flat=True)) == [
        PROBER
    ]
    summary = run.results.get(analysis="detections").summary
    assert summary["suppressed"] == [
        {
            "reason": rule.label,
            "count": 1,
            "findings": [f"Port scan from {SCANNER}: 40 ports on 1 address(es)"],
        }
    ]
    (snapshot,) = run.data_read["suppression_rules"]
    assert snapshot["id"] == rule.pk and snapshot["name"] == "authorised scanner"
    assert snapshot["actor"] == f"{SCANNER}/32"
    html = _page(client_for(analyst), run.get_absolute_url())
    assert (
        f'<strong>1</strong> suppressed by <a href="/investigations/{investigation.pk}/'
        f"suppressions/#rule-{rule.pk}\">rule 'authorised scanner'</a>" in html
    )
    assert f"Port scan from {SCANNER}: 40 ports on 1 address(es)" in html

    # Disabled later, the rule still explains the run; a new rule does not rewrite it.
    disable_rule(user=analyst, rule=rule)
    _rule(analyst, investigation, name="probe", detection="*", actor=PROBER)
    run.refresh_from_db()
    assert [item["id"] for item in run.data_read["suppression_rules"]] == [rule.pk]
    html = _page(client_for(analyst), run.get_absolute_url())
    assert "rule 'authorised scanner'</a>" in html and "rule 'probe'" not in html


def test_disabled_expired_and_other_investigations_rules_are_not_applied(
    analyst: Any, investigation: Any, settings: Any, tmp_path: Any
) -> None:
    from tests.factories import InvestigationFactory

    disable_rule(user=analyst, rule=_rule(analyst, investigation, name="disabled"))
    expired = _rule(analyst, investigation, name="expired")
    SuppressionRule.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    _rule(analyst, InvestigationFactory(owner=analyst), name="elsewhere")
    run = _executed_run(investigation, analyst, settings, tmp_path)
    peers = set(Finding.objects.filter(run=run).values_list("evidence__peer", flat=True))
    assert peers == {PROBER, SCANNER}
    assert "suppression_rules" not in run.data_read
    assert "suppressed" not in run.results.get(analysis="detections").summary
    assert "Suppressed findings" not in _page(client_for(analyst), run.get_absolute_url())


def test_a_global_rule_applies_to_every_investigation(
    analyst: Any, admin_user: Any, investigation: Any, settings: Any, tmp_path: Any
) -> None:
    rule = _rule(admin_user, None, detection="*", actor="", target="10.0.0.40")
    run = _executed_run(investigation, analyst, settings, tmp_path)
    assert list(Finding.objects.filter(run=run).values_list("evidence__peer", flat=True)) == [
        SCANNER
    ]
    html = _page(client_for(analyst), run.get_absolute_url())
    assert f"/investigations/suppressions/#rule-{rule.pk}\">rule 'authorised scanner'</a>" in html


def test_a_runs_own_rule_and_a_saved_rule_are_both_listed_apart(
    analyst: Any, investigation: Any, settings: Any, tmp_path: Any
) -> None:
    saved = _rule(analyst, investigation)
    own = {"detection": "port-probe", "actor": PROBER, "reason": "pen test window"}
    run = _executed_run(investigation, analyst, settings, tmp_path, suppressions=[own])
    assert not Finding.objects.filter(run=run).exists()
    html = _page(client_for(analyst), run.get_absolute_url())
    assert f"#rule-{saved.pk}\">rule 'authorised scanner'</a>" in html
    assert "<strong>1</strong> suppressed by the run's own rule “pen test window”" in html
    assert f"Unprotected port 3306 (mysql) of 10.0.0.40 probed by {PROBER}" in html


# ---------------------------------------------------------------------------------- pages


def _finding(investigation: Any, run: Any, **evidence: Any) -> Finding:
    return Finding.objects.create(
        investigation=investigation,
        run=run,
        type="Recon:EC2/Portscan",
        severity=5,
        title=f"Port scan from {SCANNER}",
        evidence=evidence,
    )


def test_suppress_similar_prefills_the_form_from_the_finding(
    analyst: Any, investigation: Any
) -> None:
    run = QueryRun.objects.create(
        investigation=investigation, requested_by=analyst, status="succeeded"
    )
    finding = _finding(
        investigation,
        run,
        peer=SCANNER,
        targets=["10.0.0.5"],
        target_count=1,
        detection_id="port-scan",
    )
    client = client_for(analyst)
    run_page = _page(client, run.get_absolute_url())
    link = f"/investigations/{investigation.pk}/suppressions/?finding={finding.pk}#new-rule"
    assert f'href="{link}">Suppress similar</a>' in run_page
    assert f'href="{link}">Suppress similar</a>' in _page(client, investigation.get_absolute_url())
    html = _page(client, link.split("#")[0])
    assert f'value="{SCANNER}/32"' in html and 'value="10.0.0.5/32"' in html
    assert '<option value="port-scan" selected>' in html
    assert 'name="reason"' in html and "Qualys" not in html  # the reason is the analyst's


def test_prefill_leaves_the_target_open_when_the_finding_hit_many(
    analyst: Any, investigation: Any
) -> None:
    run = QueryRun.objects.create(investigation=investigation, requested_by=analyst)
    many = _finding(investigation, run, peer="2001:db8::7", targets=["10.0.0.5"], target_count=9)
    assert prefill_from_finding(many) == {
        "detection": "*",
        "actor": "2001:db8::7/128",
        "target": "",
        "name": "",
    }


def test_the_form_shows_every_problem_in_an_error_summary(analyst: Any, investigation: Any) -> None:
    response = client_for(analyst).post(
        f"/investigations/{investigation.pk}/suppressions/",
        {"name": "scanner", "reason": "", "detection": "port-scan", "actor": "10.0.0.999"},
    )
    assert response.status_code == 400
    html = " ".join(response.content.decode().split())
    assert "The rule was not saved: 2 problems" in html
    assert '<a href="#id_reason">Reason</a>: This field is required.' in html
    assert "Actor &#x27;10.0.0.999&#x27; is not an address or CIDR block" in html
    assert not SuppressionRule.objects.exists()


def test_saving_and_disabling_on_the_page_shows_in_the_timeline(
    analyst: Any, investigation: Any
) -> None:
    client = client_for(analyst)
    response = client.post(
        f"/investigations/{investigation.pk}/suppressions/",
        {
            "name": "nightly backup",
            "reason": "S3 backup job",
            "detection": "unusual-outbound-volume",
            "actor": "",
            "target": "10.0.9.0/24",
            "expires_at": (timezone.now() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    rule = SuppressionRule.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"#rule-{rule.pk}")
    assert rule.expires_at is not None and rule.target == "10.0.9.0/24"
    response = client.post(f"/investigations/suppressions/{rule.pk}/disable/")
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.state() == "disabled"
    html = _page(client, investigation.get_absolute_url())
    assert "added suppression <a" in html and "disabled suppression <a" in html
    assert f"rule 'nightly backup'</a> (#{rule.pk})" in html
    page = _page(client, f"/investigations/{investigation.pk}/suppressions/")
    assert "Disabled or expired" in page and f'id="rule-{rule.pk}"' in page


def test_the_global_page_lists_global_rules_for_everyone_and_takes_admin_posts(
    analyst: Any, admin_user: Any, investigation: Any
) -> None:
    body = {"name": "corp scanner", "reason": "IT", "detection": "*", "actor": "10.9.0.0/16"}
    assert client_for(analyst).post("/investigations/suppressions/", body).status_code == 403
    response = client_for(admin_user).post("/investigations/suppressions/", body)
    assert response.status_code == 302
    assert SuppressionRule.objects.get().investigation is None
    assert "corp scanner" in _page(client_for(analyst), "/investigations/suppressions/")
    own = _page(client_for(analyst), f"/investigations/{investigation.pk}/suppressions/")
    assert 'href="/investigations/suppressions/">global rules</a> (1 active)' in own


# ------------------------------------------------------------------------------------ API


def test_the_api_creates_lists_and_disables_rules(analyst: Any, investigation: Any) -> None:
    client = client_for(analyst)
    response = client.post(
        "/api/v1/suppression-rules/",
        {
            "investigation": investigation.pk,
            "name": "authorised scanner",
            "reason": "Qualys",
            "detection": "port-scan",
            "actor": SCANNER,
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["actor"] == f"{SCANNER}/32" and created["state"] == "active"
    assert created["created_by"] == analyst.username
    listed = client.get(f"/api/v1/suppression-rules/?investigation={investigation.pk}").json()
    assert [item["id"] for item in listed["results"]] == [created["id"]]
    response = client.post(f"/api/v1/suppression-rules/{created['id']}/disable/")
    assert response.status_code == 200 and response.json()["state"] == "disabled"
    again = client.post(f"/api/v1/suppression-rules/{created['id']}/disable/")
    assert again.status_code == 400 and "already disabled" in again.json()["detail"]
    assert client.get("/api/v1/suppression-rules/?state=active").json()["results"] == []
    # A non-ASCII digit or an id beyond any database integer is a 400, never a server error.
    for bad in ("²", "9" * 40, "abc"):
        refused = client.get(f"/api/v1/suppression-rules/?investigation={bad}")
        assert refused.status_code == 400 and "investigation" in refused.json()


def test_the_api_names_each_bad_field(analyst: Any, investigation: Any) -> None:
    response = client_for(analyst).post(
        "/api/v1/suppression-rules/",
        {
            "investigation": investigation.pk,
            "name": "x",
            "reason": "y",
            "detection": "nope",
            "target": "10.0.0.0/33",
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    errors = response.json()
    assert "Unknown detection 'nope'" in str(errors["detection"])
    assert "not an address or CIDR" in str(errors["target"])


def test_the_api_refuses_an_investigation_the_caller_cannot_see(
    outsider: Any, investigation: Any
) -> None:
    response = client_for(outsider).post(
        "/api/v1/suppression-rules/",
        {"investigation": investigation.pk, "name": "x", "reason": "y", "actor": "10.0.0.1"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "that you can see" in str(response.json()["investigation"])
